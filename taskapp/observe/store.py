"""A store proxy that sees what the engine writes and times what it asks.

Counting at the store is what keeps the numbers right in a fleet: a task's creation
and its end are each written by one process, which counts them as it writes them.
Anything the proxy does not name passes straight through (`__getattr__`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..records import TERMINAL, InvalidTransitionError, TaskRecord, TaskStatus, ToolOutcome
from ..stores.base import InvalidCursorError, TaskNotFoundError, TaskStore, WorkQueue

#: What a store raises as an answer, not as a failure.
_ANSWERS = (TaskNotFoundError, InvalidTransitionError, InvalidCursorError)

#: The operations timed and counted (`wait` and the upkeep's too, but they make spans
#: only inside a trace: see `Tracing.store_op`).
OPERATIONS = (
    "get", "list_tasks", "delete", "sweep", "wait", "push_input", "claim_input",
    "release_input", "answer_input", "wait_input_answer", "pending_inputs", "drop_inputs",
    "renew_leases", "orphans", "adopt", "save_step", "load_steps", "claim_dedupe",
    "release_dedupe",
)  # fmt: skip


class Observer(Protocol):
    """What the proxy tells (`observer.Observer` is one)."""

    def store_op(self, operation: str) -> AbstractContextManager[None]: ...
    def store_failed(self, operation: str) -> None: ...
    def created(self, record: TaskRecord) -> None: ...
    def ended(self, record: TaskRecord, status: str) -> None: ...
    def enqueued(self) -> None: ...
    def dequeued(self) -> None: ...


def ending(record: TaskRecord) -> str:
    """How a task ended, for metrics: its status, or "tool_error" for one `completed`
    with a tool's error (`isError`), which MCP counts as completed and operators not."""
    outcome = record.outcome
    if record.status is TaskStatus.COMPLETED and isinstance(outcome, ToolOutcome):
        return "tool_error" if outcome.is_error else "completed"
    return record.status.value


class ObservedStore:
    """Wraps a `TaskStore` for an `Observer`; the engine uses it in the store's place."""

    def __init__(self, store: TaskStore, observer: Observer) -> None:
        self.inner = store
        self._observer = observer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self.inner  # type: ignore[operator]

    async def _call(self, operation: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        with self._observer.store_op(operation):
            try:
                return await fn(*args, **kw)
            except _ANSWERS:
                raise
            except Exception:
                self._observer.store_failed(operation)
                raise

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def create(self, record: TaskRecord) -> None:
        await self._call("create", self.inner.create, record)
        self._observer.created(record)

    def create_now(self, record: TaskRecord) -> None:
        self.inner.create_now(record)  # type: ignore[attr-defined]
        self._observer.created(record)

    async def update(self, task_id: str, **changes: Any) -> TaskRecord:
        record: TaskRecord = await self._call("update", self.inner.update, task_id, **changes)
        if changes.get("status") in TERMINAL:
            self._observer.ended(record, ending(record))
        return record


class ObservedQueueStore(ObservedStore):
    """The same, for a store with a work queue (`WorkQueue` is checked on the class)."""

    async def enqueue(self, task_id: str) -> None:
        await self._call("enqueue", self.inner.enqueue, task_id)  # type: ignore[attr-defined]
        self._observer.enqueued()

    async def dequeue(self, worker: str, *, wait_s: float) -> str | None:
        inner: WorkQueue = self.inner  # type: ignore[assignment]
        task_id: str | None = await self._call("dequeue", inner.dequeue, worker, wait_s=wait_s)
        if task_id is not None:
            self._observer.dequeued()
        return task_id


def _passing(operation: str) -> Callable[..., Any]:
    async def call(self: ObservedStore, *args: Any, **kw: Any) -> Any:
        return await self._call(operation, getattr(self.inner, operation), *args, **kw)

    call.__name__ = call.__qualname__ = operation
    return call


for _operation in OPERATIONS:
    setattr(ObservedStore, _operation, _passing(_operation))


def observed(store: TaskStore, observer: Observer) -> TaskStore:
    cls = ObservedQueueStore if isinstance(store, WorkQueue) else ObservedStore
    return cls(store, observer)
