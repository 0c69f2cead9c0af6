"""The task functions running in this process, and how each run ends in the store."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Literal

import anyio

from .._logging import get_logger
from ..records import ErrorOutcome, InvalidTransitionError, Outcome, TaskRecord, TaskStatus
from ..stores.base import TaskNotFoundError, TaskStore
from ..tools import OnInterrupt
from . import invoke
from .config import INTERNAL_ERROR, SHUTDOWN_MESSAGE, TaskLimitError
from .fleet import changes
from .hooks import EngineHooks
from .observers import Observers
from .retry import SHUTDOWN_RETRY_S, persist

log = get_logger("taskapp.engine")

#: How long a read waits for the end of a task this engine is writing (`Runs.ended_here`).
END_READ_WAIT_S = 0.5

Reason = Literal["cancel", "shutdown"]
Run = Callable[[TaskRecord], Awaitable[Outcome]]


class Runs:
    """Runs task functions, each in its cancel scope, and records how each one ended."""

    def __init__(
        self,
        store: TaskStore,
        observers: Observers,
        retry_s: float = 300.0,
        hooks: EngineHooks | None = None,
    ) -> None:
        self._store = store
        self._hooks = hooks
        self._observers = observers
        self._retry_s = retry_s  # how long a task's final write rides out a store outage
        self._closing_at = float("inf")
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._ending: dict[str, float] = {}  # task -> until when its final write is retried
        self._end_readers: dict[str, anyio.Event] = {}  # set once that write is done
        self._reasons: dict[str, Reason] = {}
        self._owners: dict[str, str | None] = {}  # unfinished tasks started here -> owner
        self._idle = anyio.Event()  # set whenever no function runs here
        self._idle.set()
        self.closing = False

    def admit(self, owner: str | None, limit: int | None) -> None:
        """TaskLimitError if `owner` already has `limit` unfinished tasks here (S-52)."""
        if limit is None:
            return
        active = sum(1 for o in self._owners.values() if o == owner)
        if active >= limit:
            raise TaskLimitError(
                f"Too many unfinished tasks: this requestor has {active} (the limit is {limit}); "
                "wait for some to end or cancel them"
            )

    def claim(self, record: TaskRecord) -> None:
        """Count the task against its owner's limit from now until its run ends."""
        self._owners[record.task_id] = record.owner

    def is_running(self, task_id: str) -> bool:
        return task_id in self._scopes

    def leased_ids(self) -> list[str]:
        """The tasks whose leases this engine keeps: running, or still writing their end."""
        return [*self._scopes, *self._ending]

    async def ended_here(self, task_id: str) -> None:
        """Return once the end of the task is written, if this engine is writing it now
        (its function returned), waiting `END_READ_WAIT_S` at most; else at once.

        A read made meanwhile could only show the task `working` a moment before it ends,
        and cost the client another poll: with a store that answers over the network, a
        `tasks/get` right after `tools/call` usually comes while the end is in flight.
        """
        if task_id not in self._ending:
            return
        event = self._end_readers.get(task_id)
        if event is None:
            event = self._end_readers[task_id] = anyio.Event()
        with anyio.move_on_after(END_READ_WAIT_S):  # a store outage: read what is there
            await event.wait()

    def stop(self, task_id: str, reason: Reason) -> None:
        """Cancel the task's function, if it runs here; its end is recorded as `reason`."""
        scope = self._scopes.get(task_id)
        if scope is not None:
            self._reasons[task_id] = reason
            scope.cancel()

    def stop_all(self) -> None:
        """The engine is closing: interrupt every function; ones not started yet too."""
        self.closing = True
        self._closing_at = time.time()
        for task_id in list(self._scopes):
            self.stop(task_id, "shutdown")

    async def drain(self, grace_s: float) -> bool:
        """Wait up to `grace_s` for the running functions to end; True if they all did."""
        with anyio.move_on_after(grace_s):
            await self._idle.wait()
        return not self._scopes

    async def run(self, record: TaskRecord, run: Run, on_interrupt: OnInterrupt) -> None:
        if self._hooks is None:
            await self._run(record, run, on_interrupt)
            return
        with self._hooks.running(record):
            await self._run(record, run, on_interrupt)

    async def _run(self, record: TaskRecord, run: Run, on_interrupt: OnInterrupt) -> None:
        task_id = record.task_id
        outcome: Outcome | None = None
        if self.closing:
            await self._interrupt(task_id, on_interrupt)
            return
        with anyio.CancelScope(deadline=_deadline(record)) as scope:
            self._scopes[task_id] = scope
            if self._idle.is_set():
                self._idle = anyio.Event()
            try:
                outcome = await self._call(record, run, scope)
                if outcome is None:
                    # Another engine runs the task now (or it ended): this run writes nothing.
                    log.warning("task taken over elsewhere; stopping here", task_id=task_id)
                    self._reasons.pop(task_id, None)
                    return
            finally:
                del self._scopes[task_id]
                self._owners.pop(task_id, None)
                if not self._scopes:
                    self._idle.set()
        reason = self._reasons.pop(task_id, None)
        # Until the end is written the task stays ours: its lease is renewed, and the
        # write is retried through a store outage (`_write`) as long as its TTL allows.
        self._ending[task_id] = min(time.time() + self._retry_s, record.expires_at or math.inf)
        with anyio.CancelScope(shield=True):
            try:
                if outcome is not None:
                    await self._finish(task_id, outcome)
                elif reason == "shutdown":
                    await self._interrupt(task_id, on_interrupt)
                elif reason is None and scope.cancelled_caught:
                    log.info("task expired while running", task_id=task_id)
                    await self._store.delete(task_id)
                    self._observers.drop(task_id)
                    if self._hooks is not None:
                        self._hooks.expired(record)
                await self._store.drop_inputs(task_id)
            except Exception as exc:  # a failing store must not take the server down
                log.error("could not record the end of a task", task_id=task_id, exc_info=exc)
            finally:
                self._ending.pop(task_id, None)
                if (readers := self._end_readers.pop(task_id, None)) is not None:
                    readers.set()

    async def _call(self, record: TaskRecord, run: Run, scope: anyio.CancelScope) -> Outcome | None:
        """The function's outcome; None when a step found the task taken over."""
        if not getattr(self._store, "shared", False):
            return await _superseded_as_none(run, record)
        async with anyio.create_task_group() as watching:
            watching.start_soon(self._watch, record, scope)
            outcome = await _superseded_as_none(run, record)
            watching.cancel_scope.cancel()
        return outcome

    async def _watch(self, record: TaskRecord, scope: anyio.CancelScope) -> None:
        """Stop the function when its task ends elsewhere (a cancel through another
        process) or disappears (expired or deleted)."""
        async with aclosing(changes(self._store, record, retry=True)) as changed_records:
            async for changed in changed_records:
                if changed.terminal:
                    self._reasons[record.task_id] = "cancel"
                    self._observers.emit(changed)  # its observer is here; the cancel was not
        log.info("task ended elsewhere; stopping it here", task_id=record.task_id)
        scope.cancel()

    async def _finish(self, task_id: str, outcome: Outcome) -> None:
        status = TaskStatus.FAILED if isinstance(outcome, ErrorOutcome) else TaskStatus.COMPLETED
        record = await self._write(task_id, status, invoke.error_text(outcome), outcome)
        if record is None:
            # Cancelled (S-42) or expired meanwhile: the function's result is dropped.
            log.info("result dropped: task already ended", task_id=task_id)
            return
        log.info("task ended", task_id=task_id, status=record.status.value, owner=record.owner)
        self._observers.emit(record)

    async def _write(
        self, task_id: str, status: TaskStatus, message: str | None, outcome: Outcome
    ) -> TaskRecord | None:
        """Write the task's end, retried through a store outage; None if it had ended."""

        def until() -> float:
            deadline = self._ending.get(task_id, 0.0)  # not ours: one attempt
            return min(deadline, self._closing_at + SHUTDOWN_RETRY_S)

        async def write() -> TaskRecord:
            return await self._store.update(
                task_id, now=time.time(), status=status, status_message=message, outcome=outcome
            )

        try:
            return await persist(write, task_id, until)
        except (InvalidTransitionError, TaskNotFoundError):
            # Ended elsewhere, or by an earlier attempt whose reply the outage lost.
            record = await self._store.get(task_id, now=time.time())
            if record is not None and record.status is status and record.outcome == outcome:
                return record
            return None

    async def _interrupt(self, task_id: str, on_interrupt: OnInterrupt) -> None:
        if on_interrupt == "rerun":
            return  # left `working` for the next process to run again
        await self.fail(task_id, SHUTDOWN_MESSAGE)

    async def fail(self, task_id: str, message: str) -> None:
        """End the task `failed` with `message`, unless it has ended already."""
        # The server failed the request, not the tool: a JSON-RPC internal error.
        outcome = ErrorOutcome(INTERNAL_ERROR, message)
        record = await self._write(task_id, TaskStatus.FAILED, message, outcome)
        if record is not None:
            self._observers.emit(record)


async def _superseded_as_none(run: Run, record: TaskRecord) -> Outcome | None:
    try:
        return await run(record)
    except invoke.Superseded:
        return None


def _deadline(record: TaskRecord) -> float:
    """The task's expiry on anyio's monotonic clock, for its cancel scope."""
    expires_at = record.expires_at
    if expires_at is None:
        return float("inf")
    return anyio.current_time() + (expires_at - time.time())
