"""What the engine shares with its callers: limits, errors, who hears about a task,
and what a new task looks like."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..context import LogLevel
from ..records import TaskRecord, TaskStatus

CANCELLED_MESSAGE = "The task was cancelled by the requestor."
SHUTDOWN_MESSAGE = "Task interrupted: the server shut down before it finished."
INTERNAL_ERROR = -32603  # JSON-RPC's code, the same in every MCP dialect

DEFAULT_TTL_MS = 3_600_000  # one hour, when the client asks for none
MAX_TTL_MS = 86_400_000  # one day; a larger request is lowered to this
POLL_INTERVAL_MS = 500


class TaskTerminalError(Exception):
    """A change asked of a task that has already ended (e.g. cancelling it)."""

    def __init__(self, record: TaskRecord) -> None:
        super().__init__(f"task {record.task_id} is already {record.status.value}")
        self.record = record


class TaskLimitError(Exception):
    """The requestor already has as many unfinished tasks as the engine allows."""


class TaskObserver(Protocol):
    """Who hears about a task: usually the session that created it. Calls must not block."""

    def on_status(self, record: TaskRecord) -> None: ...

    def on_progress(
        self, task_id: str, progress: float, total: float | None, message: str | None
    ) -> None: ...

    def on_log(self, task_id: str, level: LogLevel, data: Any, logger: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Limits and defaults; the docs list them (S-52 asks that they be documented)."""

    default_ttl_ms: int | None = DEFAULT_TTL_MS
    max_ttl_ms: int | None = MAX_TTL_MS
    poll_interval_ms: int = POLL_INTERVAL_MS
    sweep_interval_s: float = 1.0
    # How long a task stays vouched for without renewal; a dead process's tasks are
    # found this long after it died (renewed every third of it).
    lease_s: float = 30.0
    # How long a task's final write (its result, its terminal status) is retried through
    # a store outage, at most (and never past the task's expiry).
    store_retry_s: float = 300.0
    # Unfinished tasks one requestor may have in this engine at once (S-52); None: no limit.
    max_tasks_per_owner: int | None = None
    # "local": run tasks here. "queue": store them and hand them to workers through the
    # store's work queue (`taskapp worker`). A queued task waits for a worker until it
    # expires, or at most queue_grace_s when set (then it is failed as orphaned).
    executor: Literal["local", "queue"] = "local"
    queue_grace_s: float | None = None
    # Adopt tasks orphaned by dead processes (off for engines that run no tasks).
    recover: bool = True
    # The largest result one `ctx.step` may store (bytes of JSON), and the most steps one
    # task may store (docs/security.md).
    max_step_bytes: int = 1_048_576
    max_steps: int = 1000

    def effective_ttl(self, requested: int | None) -> int | None:
        """The TTL a task gets: the request, capped at max_ttl_ms (S-22, S-52)."""
        ttl = self.default_ttl_ms if requested is None else requested
        cap = self.max_ttl_ms
        if cap is not None and (ttl is None or ttl > cap):
            return cap
        return ttl

    def first_lease(self, now: float, ttl_ms: int | None) -> float:
        """Until when a new task is vouched for before anyone renews its lease."""
        if self.executor == "local":
            return now + self.lease_s
        if self.queue_grace_s is not None:
            return now + self.queue_grace_s
        ttl = self.effective_ttl(ttl_ms)
        # Until the task expires: a backlog is not an orphan. (No TTL: a century.)
        return now + (ttl / 1000 if ttl is not None else 100 * 365 * 86400)


def new_task_id() -> str:
    """192 bits from the OS's CSPRNG (S-48), URL-safe, never starting with "-".

    Operators paste task IDs into shells (`taskapp tasks cancel ID`), where a leading dash
    reads as an option; redrawing the roughly one ID in 64 that would start with one costs
    well under a bit of the 192.
    """
    while (task_id := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return task_id


def new_record(
    config: EngineConfig,
    runner_id: str,
    name: str,
    arguments: dict[str, Any] | None,
    owner: str | None,
    ttl_ms: int | None,
    client_capabilities: dict[str, Any] | None,
    *,
    task_id: str | None = None,
    now: float | None = None,
) -> TaskRecord:
    """A new `working` task's record, as `config` shapes it."""
    if now is None:
        now = time.time()
    queued = config.executor == "queue"
    return TaskRecord(
        new_task_id() if task_id is None else task_id,
        TaskStatus.WORKING,
        now,  # created_at
        now,  # updated_at
        config.effective_ttl(ttl_ms),
        name,
        dict(arguments or {}),
        owner,
        config.poll_interval_ms,
        None,  # status message
        None,  # outcome
        0,  # version
        client_capabilities,
        # Queued tasks have no runner yet; a worker must adopt them before the deadline.
        None if queued else runner_id,
        config.first_lease(now, ttl_ms),
    )
