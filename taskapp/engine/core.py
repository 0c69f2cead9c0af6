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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio
import structlog
from anyio.abc import TaskGroup

from ..context import LogLevel, TaskContext
from ..records import (
    KEEP,
    ErrorOutcome,
    InvalidTransitionError,
    NewTask,
    Outcome,
    TaskRecord,
    TaskStatus,
    ToolOutcome,
    assemble,
)
from ..stores.base import TaskNotFoundError, TaskStore, answers_now
from ..tools import OnInterrupt, ToolDef
from . import fleet as _fleet
from . import invoke as _invoke
from .backend import TaskBackend

log = structlog.get_logger("taskapp.engine")

CANCELLED_MESSAGE = "The task was cancelled by the requestor."
SHUTDOWN_MESSAGE = "Task interrupted: the server shut down before it finished."
_Reason = Literal["cancel", "shutdown"]
INTERNAL_ERROR = -32603  # JSON-RPC's code, the same in every MCP dialect


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


DEFAULT_TTL_MS = 3_600_000  # one hour, when the client asks for none
MAX_TTL_MS = 86_400_000  # one day; a larger request is lowered to this
POLL_INTERVAL_MS = 500


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
    # Unfinished tasks one requestor may have in this engine at once (S-52); None: no limit.
    max_tasks_per_owner: int | None = None
    # "local": run tasks here. "queue": store them and hand them to workers through the
    # store's work queue (`taskapp worker`). A queued task waits for a worker until it
    # expires, or at most queue_grace_s when set (then it is failed as orphaned).
    executor: Literal["local", "queue"] = "local"
    queue_grace_s: float | None = None
    # Adopt tasks orphaned by dead processes (off for engines that run no tasks).
    recover: bool = True


class TaskEngine:
    """Runs tasks in a task group it owns. Use as `async with TaskEngine(...) as engine`."""

    def __init__(
        self,
        store: TaskStore,
        config: EngineConfig | None = None,
        tools: Mapping[str, ToolDef] | None = None,
    ) -> None:
        self.store = store
        self.config = config or EngineConfig()
        self.tools = tools or {}
        self.runner_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._tg: TaskGroup | None = None
        self._running: dict[str, anyio.CancelScope] = {}
        self._reasons: dict[str, _Reason] = {}
        self._observers: dict[str, TaskObserver] = {}
        self._owners: dict[str, str | None] = {}  # unfinished tasks started here -> owner
        self._sweeper = anyio.CancelScope()
        self._closing = False
        self._idle = anyio.Event()  # set whenever no function runs here
        self._idle.set()
        self._leaser = anyio.CancelScope()
        #: The store answers without waiting (`answers_now`) and tasks run here: requests
        #: that only read or create a task can be answered without a task of their own.
        self.immediate = _immediate(store) and not self.queued

    async def __aenter__(self) -> TaskEngine:
        await self.store.open()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._sweep_forever)
        self._tg.start_soon(self._keep_leases)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._tg is not None
        # Running functions are cancelled and their tasks marked interrupted (shielded
        # writes in _run); tasks not started yet are marked the same way when they start.
        self._closing = True
        self._sweeper.cancel()
        self._leaser.cancel()
        for task_id, scope in list(self._running.items()):
            self._reasons[task_id] = "shutdown"
            scope.cancel()
        await self._tg.__aexit__(None, None, None)
        self._tg = None
        await self.store.close()

    # -- creating and running -------------------------------------------------

    def effective_ttl(self, requested: int | None) -> int | None:
        """The TTL a task gets: the request, capped at max_ttl_ms (S-22, S-52)."""
        ttl = self.config.default_ttl_ms if requested is None else requested
        cap = self.config.max_ttl_ms
        if cap is not None and (ttl is None or ttl > cap):
            return cap
        return ttl

    async def create(
        self,
        tool: ToolDef,
        arguments: dict[str, Any] | None,
        *,
        owner: str | None,
        ttl_ms: int | None,
        observer: TaskObserver | None = None,
        client_capabilities: dict[str, Any] | None = None,
    ) -> tuple[TaskRecord, Callable[[], None]]:
        """Store a new `working` task that runs `tool`; return it and the function that starts it.

        The caller starts the task once it has sent the creation result, so that no
        notification about the task can overtake the result that names it.
        """
        return await self.create_job(
            tool.name, arguments, self._tool_runner(tool), owner=owner, ttl_ms=ttl_ms,
            observer=observer, on_interrupt=tool.on_interrupt,
            client_capabilities=client_capabilities,
        )  # fmt: skip

    def _tool_runner(self, tool: ToolDef) -> Callable[[TaskRecord], Awaitable[Outcome]]:
        async def run(record: TaskRecord) -> Outcome:
            prepared = _invoke.prepare(tool, record.arguments)
            if isinstance(prepared, ToolOutcome):
                return prepared
            backend = TaskBackend(self, record)
            ctx = TaskContext(backend, tool_name=tool.name, task_id=record.task_id)
            return await _invoke.invoke(tool, prepared, ctx)

        return run

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
    ) -> tuple[TaskRecord, Callable[[], None]]:
        """Like `create`, for any coroutine (a client runs its elicitation tasks this way)."""
        record = self._new_record(name, arguments, owner, ttl_ms, client_capabilities)
        self._admit(owner)
        await self.store.create(record)
        if self.queued:
            await _fleet.work_queue(self.store).enqueue(record.task_id)
        return record, self._created(record, run, observer, on_interrupt)

    def create_now(
        self,
        tool: ToolDef,
        arguments: dict[str, Any] | None,
        *,
        owner: str | None,
        ttl_ms: int | None,
        observer: TaskObserver | None = None,
        client_capabilities: dict[str, Any] | None = None,
    ) -> tuple[NewTask, Callable[[], None]]:
        """`create`, without waiting; only when `immediate`.

        The task is admitted and given its id here; the function returned builds its
        record, stores it and starts it. The caller answers the client in between, awaiting
        nothing, so no other request can find the task missing, and the answer goes out
        before the bookkeeping: the critical path of a client's round trip (bench/RESULTS.md).
        """
        store = answers_now(self.store)
        assert store is not None
        assert not self.queued
        self._admit(owner)
        task_id = new_task_id()
        while task_id in store:  # 192 random bits: never, but never answer twice
            task_id = new_task_id()
        now = time.time()
        new = NewTask(task_id, now, self.effective_ttl(ttl_ms), self.config.poll_interval_ms)

        def store_and_start() -> None:
            record = self._new_record(
                tool.name, arguments, owner, ttl_ms, client_capabilities, task_id=task_id, now=now
            )
            store.create_now(record)
            self._created(record, self._tool_runner(tool), observer, tool.on_interrupt)()

        return new, store_and_start

    def get_now(self, task_id: str, owner: str | None) -> TaskRecord:
        """`get`, without waiting; only when `immediate`."""
        store = answers_now(self.store)
        assert store is not None
        return _owned(store.get_now(task_id, now=time.time()), task_id, owner)

    def _new_record(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        owner: str | None,
        ttl_ms: int | None,
        client_capabilities: dict[str, Any] | None,
        *,
        task_id: str | None = None,
        now: float | None = None,
    ) -> TaskRecord:
        if now is None:
            now = time.time()
        return assemble(
            new_task_id() if task_id is None else task_id,
            TaskStatus.WORKING,
            now,  # created_at
            now,  # updated_at
            self.effective_ttl(ttl_ms),
            name,
            dict(arguments or {}),
            owner,
            self.config.poll_interval_ms,
            None,  # status message
            None,  # outcome
            0,  # version
            client_capabilities,
            # Queued tasks have no runner yet; a worker must adopt them before the deadline.
            None if self.queued else self.runner_id,
            self._first_lease(now, ttl_ms),
        )

    def _created(
        self,
        record: TaskRecord,
        run: Callable[[TaskRecord], Awaitable[Outcome]],
        observer: TaskObserver | None,
        on_interrupt: OnInterrupt,
    ) -> Callable[[], None]:
        """Note the stored task; return the function that starts it."""
        log.info("task created", task_id=record.task_id, tool=record.tool, owner=record.owner)
        if observer is not None:
            self._observers[record.task_id] = observer

        def start() -> None:
            assert self._tg is not None, "the engine is not running"
            if self.queued:  # a worker runs it; tell its observer what the store sees
                self._tg.start_soon(_fleet.relay, self, record)
                return
            self._owners[record.task_id] = record.owner
            self._tg.start_soon(self._run, record, run, on_interrupt)

        return start

    def _first_lease(self, now: float, ttl_ms: int | None) -> float:
        if not self.queued:
            return now + self.config.lease_s
        if self.config.queue_grace_s is not None:
            return now + self.config.queue_grace_s
        ttl = self.effective_ttl(ttl_ms)
        # Until the task expires: a backlog is not an orphan. (No TTL: a century.)
        return now + (ttl / 1000 if ttl is not None else 100 * 365 * 86400)

    @property
    def queued(self) -> bool:
        return self.config.executor == "queue"

    async def _run(
        self,
        record: TaskRecord,
        run: Callable[[TaskRecord], Awaitable[Outcome]],
        on_interrupt: OnInterrupt,
    ) -> None:
        task_id = record.task_id
        outcome: Outcome | None = None
        if self._closing:
            await self._interrupt(task_id, on_interrupt)
            return
        with anyio.CancelScope(deadline=_deadline(record)) as scope:
            self._running[task_id] = scope
            if self._idle.is_set():
                self._idle = anyio.Event()
            try:
                if getattr(self.store, "shared", False):
                    async with anyio.create_task_group() as watching:
                        watching.start_soon(self._watch, record, scope)
                        outcome = await run(record)
                        watching.cancel_scope.cancel()
                else:
                    outcome = await run(record)
            finally:
                del self._running[task_id]
                self._owners.pop(task_id, None)
                if not self._running:
                    self._idle.set()
        reason = self._reasons.pop(task_id, None)
        with anyio.CancelScope(shield=True):
            try:
                if outcome is not None:
                    await self._finish(task_id, outcome)
                elif reason == "shutdown":
                    await self._interrupt(task_id, on_interrupt)
                elif reason is None and scope.cancelled_caught:
                    log.info("task expired while running", task_id=task_id)
                    await self.store.delete(task_id)
                    self._observers.pop(task_id, None)
                await self.store.drop_inputs(task_id)
            except Exception as exc:  # a failing store must not take the server down
                log.error("could not record the end of a task", task_id=task_id, exc_info=exc)

    async def _watch(self, record: TaskRecord, scope: anyio.CancelScope) -> None:
        """Stop the function when its task ends elsewhere (a cancel through another
        process) or disappears (expired or deleted)."""
        version = record.version
        while True:
            changed = await _fleet.wait_for_change(self.store, record.task_id, version)
            if changed is None or changed.terminal:
                if changed is not None:
                    self._reasons[record.task_id] = "cancel"
                    self.emit(changed)  # its observer is here; the cancel was not
                log.info("task ended elsewhere; stopping it here", task_id=record.task_id)
                scope.cancel()
                return
            version = changed.version

    async def _finish(self, task_id: str, outcome: Outcome) -> None:
        status = TaskStatus.FAILED if isinstance(outcome, ErrorOutcome) else TaskStatus.COMPLETED
        try:
            record = await self.store.update(
                task_id,
                now=time.time(),
                status=status,
                status_message=_invoke.error_text(outcome),
                outcome=outcome,
            )
        except (InvalidTransitionError, TaskNotFoundError):
            # Cancelled (S-42) or expired meanwhile: the function's result is dropped.
            log.info("result dropped: task already ended", task_id=task_id)
            return
        log.info("task ended", task_id=task_id, status=record.status.value, owner=record.owner)
        self.emit(record)

    async def _interrupt(self, task_id: str, on_interrupt: OnInterrupt) -> None:
        if on_interrupt == "rerun":
            return  # left `working` for the next process to run again
        await self.fail(task_id, SHUTDOWN_MESSAGE)

    async def fail(self, task_id: str, message: str) -> None:
        # The server failed the request, not the tool: a JSON-RPC internal error.
        outcome = ErrorOutcome(INTERNAL_ERROR, message)
        try:
            record = await self.store.update(
                task_id, now=time.time(), status=TaskStatus.FAILED, status_message=message,
                outcome=outcome,
            )  # fmt: skip
        except (InvalidTransitionError, TaskNotFoundError):
            return
        self.emit(record)

    async def _keep_leases(self) -> None:
        with self._leaser:
            await _fleet.keep_leases(self)

    async def _sweep_forever(self) -> None:
        with self._sweeper:
            await self._sweep_loop()

    async def _sweep_loop(self) -> None:
        while True:
            await anyio.sleep(self.config.sweep_interval_s)
            try:
                removed = await self.store.sweep(now=time.time())
            except Exception as exc:  # a store hiccup must not stop the server
                log.warning("sweep failed", exc_info=exc)
                continue
            if removed:
                log.debug("expired tasks swept", count=removed)

    def _admit(self, owner: str | None) -> None:
        limit = self.config.max_tasks_per_owner
        if limit is None:
            return
        active = sum(1 for o in self._owners.values() if o == owner)
        if active >= limit:
            raise TaskLimitError(
                f"Too many unfinished tasks: this requestor has {active} (the limit is {limit}); "
                "wait for some to end or cancel them"
            )

    # -- many processes: see _fleet.py ------------------------------------------------

    async def work(self, concurrency: int = 16, *, wait_s: float = 5.0) -> None:
        """Run tasks handed over through the work queue, `concurrency` at a time (a worker)."""
        await _fleet.work(self, concurrency, wait_s=wait_s)

    async def drain(self, grace_s: float) -> bool:
        """Wait up to `grace_s` for the running functions to end; True if they all did."""
        with anyio.move_on_after(grace_s):
            await self._idle.wait()
        return not self._running

    async def recover(self) -> int:
        """Adopt the tasks of dead processes; see `_fleet.recover`."""
        return await _fleet.recover(self)

    # -- reading, waiting, cancelling -----------------------------------------

    async def get(self, task_id: str, owner: str | None) -> TaskRecord:
        """The caller's task; another owner's task is "not found", exactly like a missing one."""
        return _owned(await self.store.get(task_id, now=time.time()), task_id, owner)

    async def wait_terminal(self, task_id: str, owner: str | None) -> TaskRecord:
        """Block until the task ends (S-28); TaskNotFoundError if it expires meanwhile."""
        record = await self.get(task_id, owner)
        while not record.terminal:
            changed = await self.store.wait(task_id, after_version=record.version, now=time.time())
            if changed is None:
                raise TaskNotFoundError(task_id)
            record = changed
        return record

    async def cancel(self, task_id: str, owner: str | None) -> TaskRecord:
        """Move the task to `cancelled` before answering (S-41), then stop its function."""
        record = await self.get(task_id, owner)
        if record.terminal:
            raise TaskTerminalError(record)
        try:
            record = await self.store.update(
                task_id, now=time.time(), status=TaskStatus.CANCELLED,
                status_message=CANCELLED_MESSAGE, outcome=_invoke.text_error(CANCELLED_MESSAGE),
            )  # fmt: skip
        except InvalidTransitionError as exc:
            raise TaskTerminalError(exc.record) from exc
        # No question of this task may be delivered from now on.
        await self.store.drop_inputs(task_id)
        scope = self._running.get(task_id)
        if scope is not None:
            self._reasons[task_id] = "cancel"
            scope.cancel()
        log.info("task cancelled", task_id=task_id, owner=owner)
        self.emit(record)
        return record

    async def list_tasks(
        self, owner: str | None, cursor: str | None, limit: int = 100
    ) -> tuple[list[TaskRecord], str | None]:
        return await self.store.list_tasks(owner, cursor=cursor, limit=limit, now=time.time())

    def detach(self, observer: TaskObserver) -> None:
        """Stop telling `observer` about tasks (its client has gone); the tasks go on."""
        for task_id in [t for t, o in self._observers.items() if o is observer]:
            del self._observers[task_id]

    def is_running(self, task_id: str) -> bool:
        return task_id in self._running

    def observer_of(self, task_id: str) -> TaskObserver | None:
        return self._observers.get(task_id)

    def detach_task(self, task_id: str) -> None:
        self._observers.pop(task_id, None)

    def running_ids(self) -> list[str]:
        return list(self._running)

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
            self._owners[record.task_id] = record.owner
            await self._run(record, self._tool_runner(tool), tool.on_interrupt)
        finally:
            if on_end is not None:
                on_end()

    # -- what a running task's context reaches --------------------------------

    def emit(self, record: TaskRecord) -> None:
        observer = self._observers.get(record.task_id)
        if record.terminal:
            self._observers.pop(record.task_id, None)
        if observer is not None:
            observer.on_status(record)

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


def _owned(record: TaskRecord | None, task_id: str, owner: str | None) -> TaskRecord:
    if record is None or record.owner != owner:
        raise TaskNotFoundError(task_id)
    return record


def _immediate(store: TaskStore) -> bool:
    """The store answers without waiting (a MemoryStore whose `get` and `create` are its own)."""
    return answers_now(store) is not None


def _deadline(record: TaskRecord) -> float:
    """The task's expiry on anyio's monotonic clock, for its cancel scope."""
    expires_at = record.expires_at
    if expires_at is None:
        return float("inf")
    return anyio.current_time() + (expires_at - time.time())


def new_task_id() -> str:
    """192 bits from the OS's CSPRNG (S-48), URL-safe, never starting with "-".

    Operators paste task IDs into shells (`taskapp tasks cancel ID`), where a leading dash
    reads as an option; redrawing the roughly one ID in 64 that would start with one costs
    well under a bit of the 192.
    """
    while (task_id := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return task_id
