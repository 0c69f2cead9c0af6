"""Prometheus metrics of one process (prometheus_client), in a registry of their own.

Every number is about this process, so that summing over a fleet gives the fleet's:
each task's creation and end are written by exactly one process, and counted there.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

# Tasks run from milliseconds to hours: the buckets span both.
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
WAIT_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)


class Metrics:
    """The metrics of one `TaskApp` in this process; `registry` is what /metrics shows."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry if registry is not None else CollectorRegistry()
        ProcessCollector(registry=r)  # process_cpu_seconds_total, memory, open fds
        self.created = Counter(
            "taskapp_tasks_created", "Tasks this process stored, by tool.", ["tool"], registry=r
        )
        self.ended = Counter(
            "taskapp_tasks_ended",
            "Task ends this process wrote, by tool and status (completed, failed, cancelled; "
            "expired: the TTL ran out while the function ran here).",
            ["tool", "status"],
            registry=r,
        )
        self.started = Counter(
            "taskapp_tasks_started", "Task functions started in this process.", ["tool"], registry=r
        )
        self.running = Gauge(
            "taskapp_tasks_running",
            "Task functions running in this process now (sum over a fleet's processes).",
            ["tool"],
            registry=r,
        )
        self.run_seconds = Histogram(
            "taskapp_task_run_seconds",
            "How long a task's run in this process took, its final write included, by how "
            "it ended (interrupted: shut down, or taken over).",
            ["tool", "status"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.inline_seconds = Histogram(
            "taskapp_inline_call_seconds",
            "Tool calls answered in their request (no task), by tool and how they ended "
            "(completed, tool_error, failed: a JSON-RPC error; cancelled; input_required: "
            "a 2026-07-28 round of questions).",
            ["tool", "status"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.enqueued = Counter(
            "taskapp_queue_enqueued", "Tasks this process put on the work queue.", registry=r
        )
        self.dequeued = Counter(
            "taskapp_queue_dequeued", "Tasks this process took from the work queue.", registry=r
        )
        self.input_waits = Counter(
            "taskapp_input_waits",
            "Questions tasks asked their clients (elicitation, sampling), by tool.",
            ["tool"],
            registry=r,
        )
        self.waiting_input = Gauge(
            "taskapp_tasks_waiting_input",
            "Questions of tasks running here that wait for the client's answer now.",
            ["tool"],
            registry=r,
        )
        self.input_wait_seconds = Histogram(
            "taskapp_input_wait_seconds",
            "How long a task waited for its client's answer, by tool.",
            ["tool"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "taskapp_store_errors",
            "Store operations of this process that failed (not 'not found' or a refused "
            "transition), by operation.",
            ["operation"],
            registry=r,
        )

    def exposition(self) -> bytes:
        """These metrics in Prometheus' text format (what /metrics answers)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
