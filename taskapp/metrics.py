"""Prometheus metrics of a running server, read off the writes to its store (opt-in).

`taskapp run --metrics[=PORT]` puts the server's store behind `MeteredStore`, which
counts what the engine writes: every engine writes each task's creation and its end
through the store, so the counts need no hook in the engine and hold for every store.
Needs `pip install 'taskapp[metrics]'` (prometheus-client, the reference client).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .records import KEEP, InvalidTransitionError, Outcome, TaskRecord, TaskStatus
from .stores import ListsAllOwners, TaskStore

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: a tool call of a few milliseconds up to one of hours.
BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400)


class Metrics:
    """The metrics of one server (or one dashboard), in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry: CollectorRegistry = CollectorRegistry()
        r = self.registry
        self.created = Counter("taskapp_tasks_created", "Tasks created.", ["tool"], registry=r)
        self.ended = Counter(
            "taskapp_tasks_ended", "Tasks that ended, by final status (a tool that raised "
            "is 'completed' with an error result here).", ["tool", "status"], registry=r,
        )  # fmt: skip
        self.expired = Counter("taskapp_tasks_expired", "Tasks removed at expiry.", registry=r)
        self.duration = Histogram(
            "taskapp_task_duration_seconds", "From creation to the end, by final status.",
            ["tool", "status"], buckets=BUCKETS, registry=r,
        )  # fmt: skip
        self.input_requests = Counter(
            "taskapp_input_requests", "Questions tasks asked their requestors (elicitation, "
            "sampling): each is a wait for input.", registry=r,
        )  # fmt: skip
        self.store_errors = Counter(
            "taskapp_store_errors", "Store calls that raised, by operation.", ["operation"],
            registry=r,
        )  # fmt: skip
        self.now = Gauge(
            "taskapp_tasks", "Unexpired tasks in the store now, by status (working: running "
            "or queued; input_required: waiting for an answer).", ["status"], registry=r,
        )  # fmt: skip

    def task_created(self, record: TaskRecord) -> None:
        self.created.labels(record.tool).inc()

    def task_changed(self, record: TaskRecord) -> None:
        if record.terminal:
            status = record.status.value
            self.ended.labels(record.tool, status).inc()
            took = max(0.0, record.updated_at - record.created_at)
            self.duration.labels(record.tool, status).observe(took)

    async def exposition(self, store: TaskStore | None) -> bytes:
        """The text format, with the gauges read from `store` now (when it can count)."""
        from prometheus_client import generate_latest

        if isinstance(store, ListsAllOwners):
            try:
                counts = await store.count_by_status(now=time.time())
            except Exception:
                self.store_errors.labels("count_by_status").inc()
            else:
                for status, n in counts.items():
                    self.now.labels(status.value).set(n)
        return generate_latest(self.registry)


class MeteredStore:
    """A store that counts, in `metrics`, the task writes made through it.

    Everything else (reads, waits, leases, queues, steps, the waitless `create_now` and
    `get_now` of a memory store) goes to the store as it is, so the engine behaves as
    it would without metrics.
    """

    def __init__(self, store: TaskStore, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self.store  # type: ignore[operator]

    def __len__(self) -> int:
        return len(self.store)  # type: ignore[arg-type]

    def create_now(self, record: TaskRecord) -> None:
        self.store.create_now(record)  # type: ignore[attr-defined]
        self.metrics.task_created(record)

    async def create(self, record: TaskRecord) -> None:
        await self._counted("create", self.store.create(record))
        self.metrics.task_created(record)

    async def update(
        self,
        task_id: str,
        *,
        now: float,
        status: TaskStatus | None = None,
        status_message: str | None = KEEP,
        outcome: Outcome | None = None,
    ) -> TaskRecord:
        change = self.store.update(
            task_id, now=now, status=status, status_message=status_message, outcome=outcome
        )
        record: TaskRecord = await self._counted("update", change)
        self.metrics.task_changed(record)
        return record

    async def sweep(self, *, now: float) -> int:
        removed: int = await self._counted("sweep", self.store.sweep(now=now))
        self.metrics.expired.inc(removed)
        return removed

    async def push_input(self, task_id: str, key: str, message: dict[str, Any]) -> None:
        await self._counted("push_input", self.store.push_input(task_id, key, message))
        self.metrics.input_requests.inc()

    async def _counted(self, operation: str, call: Any) -> Any:
        try:
            return await call
        except (LookupError, ValueError, InvalidTransitionError):
            raise  # the contract's answers (no such task, a taken id, a final status)
        except Exception:
            self.metrics.store_errors.labels(operation).inc()
            raise
