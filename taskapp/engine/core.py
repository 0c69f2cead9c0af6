"""The task engine: creates tasks, runs their functions, and keeps their records honest.

The engine knows records and stores, never JSON-RPC: each wire dialect asks it
to create, read, wait on and cancel tasks, and renders records its own way.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import aclosing, asynccontextmanager
from typing import Any, Self, TypeVar

import anyio
from anyio import AsyncContextManagerMixin
from anyio.abc import TaskGroup

from .._logging import get_logger
from ..records import KEEP, InvalidTransitionError, NewTask, Outcome, TaskRecord, TaskStatus
from ..stores.base import TaskNotFoundError, TaskStore, answers_now
from ..tools import OnInterrupt, ToolDef
from . import dedupe, fleet, invoke
from .attempts import tool_run
from .config import (
    CANCELLED_MESSAGE,
    EngineConfig,
    TaskObserver,
    TaskTerminalError,
    new_record,
    new_task_id,
)
from .hooks import EngineHooks, calling, traced, with_trace
from .maybe import Maybe, shielded
from .observers import Observers
from .running import Run, Runs

log = get_logger("taskapp.engine")
T = TypeVar("T")


class TaskEngine(AsyncContextManagerMixin):
    """Runs tasks in a task group it owns. Use as `async with TaskEngine(...) as engine`."""

    def __init__(
        self,
        store: TaskStore,
        config: EngineConfig | None = None,
        tools: Mapping[str, ToolDef] | None = None,
        hooks: EngineHooks | None = None,  # metrics and traces (taskapp.observe)
    ) -> None:
        self.hooks = hooks
        self.store = store if hooks is None else hooks.wrap_store(store)
        self.config = config or EngineConfig()
        self.tools = tools or {}
        self.runner_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._tg: TaskGroup | None = None
        self._observers = Observers()
        self._runs = Runs(self.store, self._observers, self.config.store_retry_s, hooks)
        self._upkeep = anyio.CancelScope()  # the sweep and the leases
        # The store's waitless face (`answers_now`), if it has one: reads and creations
        # through it are ready values (see maybe.py); tasks run elsewhere are created
        # the usual way, since a worker must find them in the queue.
        self._reads_now = answers_now(self.store)
        self._creates_now = None if self.queued else self._reads_now

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[Self]:
        await self.store.open()
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._keep_up)
                try:
                    yield self
                finally:
                    # Running functions are cancelled and their tasks marked interrupted
                    # (shielded writes in Runs.run); tasks not started yet are marked the
                    # same way when they start.
                    self._upkeep.cancel()
                    self._runs.stop_all()
            self._tg = None
        finally:
            await self.store.close()

    async def _keep_up(self) -> None:
        with self._upkeep:
            async with anyio.create_task_group() as tg:
                tg.start_soon(fleet.sweep, self.store, self.config.sweep_interval_s)
                tg.start_soon(fleet.keep_leases, self)

    @property
    def queued(self) -> bool:
        return self.config.executor == "queue"

    # -- creating and running -------------------------------------------------

    async def create(
        self,
        tool: ToolDef,
        arguments: dict[str, Any] | None,
        *,
        owner: str | None,
        ttl_ms: int | None,
        observer: TaskObserver | None = None,
        client_capabilities: dict[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,  # the request's: a trace continues from it
    ) -> tuple[TaskRecord, Callable[[], None]]:
        """Store a new `working` task that runs `tool`; return it and the function that starts it.

        The caller starts the task once it has sent the creation result, so that no
        notification about the task can overtake the result that names it.
        """
        return await self.create_job(
            tool.name, arguments, tool_run(self, tool), owner=owner, ttl_ms=ttl_ms,
            observer=observer, on_interrupt=tool.on_interrupt,
            client_capabilities=client_capabilities, dedupe_for=tool.dedupe_for, meta=meta,
        )  # fmt: skip

    async def create_job(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        run: Callable[[TaskRecord], Awaitable[Outcome]],
        *,
        owner: str | None,
        ttl_ms: int | None,
        observer: TaskObserver | None = None,
        on_interrupt: OnInterrupt = "fail",
        client_capabilities: dict[str, Any] | None = None,
        dedupe_for: float | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> tuple[TaskRecord, Callable[[], None]]:
        """Like `create`, for any coroutine (a client runs its elicitation tasks this way).
        With `dedupe_for` and an owner, a repeated call returns the earlier task (dedupe.py)."""
        self._runs.admit(owner, self.config.max_tasks_per_owner)
        return await self._store_new(
            name, arguments, run, owner, ttl_ms, observer, on_interrupt, client_capabilities,
            dedupe_for, meta,
        )  # fmt: skip

    async def _store_new(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        run: Run,
        owner: str | None,
        ttl_ms: int | None,
        observer: TaskObserver | None,
        on_interrupt: OnInterrupt,
        client_capabilities: dict[str, Any] | None,
        dedupe_for: float | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> tuple[TaskRecord, Callable[[], None]]:
        with calling(self.hooks, name, meta) as trace:
            record = new_record(
                self.config, self.runner_id, name, arguments, owner, ttl_ms,
                with_trace(client_capabilities, trace),
            )  # fmt: skip
            await self.store.create(record)
            if dedupe_for is not None and owner is not None:
                earlier = await dedupe.earlier_task(self.store, record, dedupe_for)
                if earlier is not None:  # ours is deleted; the earlier one runs already
                    return earlier, lambda: None
            if self.queued:
                await fleet.work_queue(self.store).enqueue(record.task_id)
        return record, self._created(record, run, observer, on_interrupt)

    def begin(
        self,
        tool: ToolDef,
        arguments: dict[str, Any] | None,
        *,
        owner: str | None,
        ttl_ms: int | None,
        observer: TaskObserver | None = None,
        client_capabilities: dict[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Maybe[tuple[TaskRecord | NewTask, Callable[[], None]]]:
        """A task of `tool` being created: what the answer to its creation shows, and the
        function that starts it, to be called once that answer is sent.

        The task is admitted at once (TaskLimitError, S-52). With a store that answers
        without waiting the value is ready: the task only has its id, and the function
        builds its record, stores and starts it. The caller answers in between, awaiting
        nothing, so no other request can find the task missing, and the answer goes out
        before the bookkeeping: the critical path of a client's round trip
        (bench/RESULTS.md). With any other store it is an awaitable that stores the task
        first, shielded: once stored, a task must be started whatever the client does.
        """
        self._runs.admit(owner, self.config.max_tasks_per_owner)
        run = tool_run(self, tool)
        store = self._creates_now
        if store is None or dedupe.applies(tool, owner):  # a repeated call's answer waits
            stored = self._store_new(
                tool.name, arguments, run, owner, ttl_ms, observer, tool.on_interrupt,
                client_capabilities, tool.dedupe_for, meta,
            )  # fmt: skip
            return shielded(stored)
        client_capabilities = traced(self.hooks, tool.name, meta, client_capabilities)
        task_id = new_task_id()
        while task_id in store:  # 192 random bits: never, but never answer twice
            task_id = new_task_id()
        now = time.time()
        new = NewTask(task_id, now, self.config.effective_ttl(ttl_ms), self.config.poll_interval_ms)

        def store_and_start() -> None:
            record = new_record(
                self.config, self.runner_id, tool.name, arguments, owner, ttl_ms,
                client_capabilities, task_id=task_id, now=now,
            )  # fmt: skip
            store.create_now(record)
            self._created(record, run, observer, tool.on_interrupt)()

        return new, store_and_start

    def _created(
        self, record: TaskRecord, run: Run, observer: TaskObserver | None, on_interrupt: OnInterrupt
    ) -> Callable[[], None]:
        """Note the stored task; return the function that starts it."""
        log.info("task created", task_id=record.task_id, tool=record.tool, owner=record.owner)
        if observer is not None:
            self._observers.add(record.task_id, observer)

        def start() -> None:
            assert self._tg is not None, "the engine is not running"
            if self.queued:  # a worker runs it; tell its observer what the store sees
                self._tg.start_soon(fleet.relay, self, record)
                return
            self._runs.claim(record)
            self._tg.start_soon(self._runs.run, record, run, on_interrupt)

        return start

    def start_adopted(
        self, record: TaskRecord, tool: ToolDef, on_end: Callable[[], None] | None = None
    ) -> None:
        """Run a task this engine adopted (recovered, or taken from the work queue)."""
        assert self._tg is not None, "the engine is not running"
        self._tg.start_soon(self._run_adopted, record, tool, on_end)

    async def _run_adopted(
        self, record: TaskRecord, tool: ToolDef, on_end: Callable[[], None] | None
    ) -> None:
        try:
            self._runs.claim(record)
            await self._runs.run(record, tool_run(self, tool), tool.on_interrupt)
        finally:
            if on_end is not None:
                on_end()

    async def fail(self, task_id: str, message: str) -> None:
        await self._runs.fail(task_id, message)

    # -- many processes: see fleet.py ------------------------------------------------

    async def work(self, concurrency: int = 16, *, wait_s: float = 5.0) -> None:
        """Run tasks handed over through the work queue, `concurrency` at a time (a worker)."""
        await fleet.work(self, concurrency, wait_s=wait_s)

    async def drain(self, grace_s: float) -> bool:
        """Wait up to `grace_s` for the running functions to end; True if they all did."""
        return await self._runs.drain(grace_s)

    async def recover(self) -> int:
        """Adopt the tasks of dead processes; see `fleet.recover`."""
        return await fleet.recover(self)

    # -- reading, waiting, cancelling -----------------------------------------

    def read(self, task_id: str, owner: str | None) -> Maybe[TaskRecord | None]:
        """The caller's task, or None: missing, expired and another owner's look the same
        (S-47). Ready when the store answers without waiting, else an awaitable."""
        store = self._reads_now
        if store is None:
            return self._read(task_id, owner)
        record = store.get_now(task_id, now=time.time())
        return record if record is not None and record.owner == owner else None

    async def _read(self, task_id: str, owner: str | None) -> TaskRecord | None:
        await self._runs.ended_here(task_id)  # an end being written here: read after it
        record = await self.store.get(task_id, now=time.time())
        return record if record is not None and record.owner == owner else None

    async def get(self, task_id: str, owner: str | None) -> TaskRecord:
        """The caller's task; another owner's task is "not found", exactly like a missing one."""
        record = await self._read(task_id, owner)
        if record is None:
            raise TaskNotFoundError(task_id)
        return record

    def changes(
        self, record: TaskRecord, *, retry: bool = False
    ) -> AsyncGenerator[TaskRecord, None]:
        """The task each time it changes after `record`, until it ends (the last record
        yielded is terminal) or is gone (expired or deleted: the last one is not).
        See `fleet.changes`; close it (`contextlib.aclosing`) when leaving it early."""
        return fleet.changes(self.store, record, retry=retry)

    async def wait_terminal(self, task_id: str, owner: str | None) -> TaskRecord:
        """Block until the task ends (S-28); TaskNotFoundError if it expires meanwhile."""
        record = await self.get(task_id, owner)
        async with aclosing(self.changes(record)) as changes:
            async for changed in changes:
                record = changed
        if not record.terminal:
            raise TaskNotFoundError(task_id)
        return record

    async def cancel(self, task_id: str, owner: str | None) -> TaskRecord:
        """Move the task to `cancelled` before answering (S-41), then stop its function."""
        record = await self.get(task_id, owner)
        if record.terminal:
            raise TaskTerminalError(record)
        try:
            record = await self.store.update(
                task_id, now=time.time(), status=TaskStatus.CANCELLED,
                status_message=CANCELLED_MESSAGE, outcome=invoke.text_error(CANCELLED_MESSAGE),
            )  # fmt: skip
        except InvalidTransitionError as exc:
            raise TaskTerminalError(exc.record) from exc
        # No question of this task may be delivered from now on.
        await self.store.drop_inputs(task_id)
        self._runs.stop(task_id, "cancel")
        log.info("task cancelled", task_id=task_id, owner=owner)
        self.emit(record)
        return record

    async def list_tasks(
        self, owner: str | None, cursor: str | None, limit: int = 100
    ) -> tuple[list[TaskRecord], str | None]:
        return await self.store.list_tasks(owner, cursor=cursor, limit=limit, now=time.time())

    def interrupt_all(self) -> None:
        """Interrupt the running tasks now, as closing does (a stdio client has gone)."""
        self._runs.stop_all()

    # -- observers, and what a running task's context reaches ---------------------

    def detach(self, observer: TaskObserver) -> None:
        """Stop telling `observer` about tasks (its client has gone); the tasks go on."""
        self._observers.detach(observer)

    def observer_of(self, task_id: str) -> TaskObserver | None:
        return self._observers.of(task_id)

    def detach_task(self, task_id: str) -> None:
        self._observers.drop(task_id)

    def emit(self, record: TaskRecord) -> None:
        self._observers.emit(record)

    def is_running(self, task_id: str) -> bool:
        return self._runs.is_running(task_id)

    def soon(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `fn` in the engine's task group (a task's deferred progress write)."""
        assert self._tg is not None, "the engine is not running"
        self._tg.start_soon(fn)

    def leased_ids(self) -> list[str]:
        return self._runs.leased_ids()

    async def set_status(
        self, task_id: str, *, status: TaskStatus | None = None, message: str | None = KEEP
    ) -> TaskRecord | None:
        """Change a running task's status or message; None if it ended meanwhile."""
        try:
            record = await self.store.update(
                task_id, now=time.time(), status=status, status_message=message
            )
        except (InvalidTransitionError, TaskNotFoundError):
            return None  # ended meanwhile; the function is about to be cancelled
        self.emit(record)
        return record

    # -- input requests: delivered by whoever serves the requestor's tasks/result ----

    async def claim_input(self, task_id: str) -> tuple[str, dict[str, Any]] | None:
        return await self.store.claim_input(task_id, now=time.time())

    async def release_input(self, task_id: str, key: str) -> None:
        """Put an undelivered question back, and wake every `tasks/result` of the task."""
        await self.store.release_input(task_id, key)
        with contextlib.suppress(InvalidTransitionError, TaskNotFoundError):
            # An empty update only bumps the version: waiters look at the queue again.
            await self.store.update(task_id, now=time.time())

    async def answer_input(self, task_id: str, key: str, answer: dict[str, Any]) -> bool:
        return await self.store.answer_input(task_id, key, answer)

    async def pending_inputs(self, task_id: str) -> dict[str, dict[str, Any]]:
        """The task's questions not answered yet, claimed or not (key -> message), oldest
        first: a 2026-07-28 task shows them as its `inputRequests`."""
        return await self.store.pending_inputs(task_id, now=time.time())
