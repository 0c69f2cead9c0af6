"""A 2026-07-28 call that starts in the request and may become a task (`inline_for`).

The function runs in the engine's task group from the start, not in the request's: a run
that may outlive its request cannot live in the request's cancel scope. The request waits
for one of three things:

- the function's end: its result (an `optional` tool), or a task already ended (a
  `required` one: the client asked for a task and gets one);
- a question (MRTR): the run is stopped and the request answers `InputRequiredResult`; the
  client's retry runs the function again from the top, replaying the answers, exactly as
  an inline call does (replay.py);
- the promotion, at the deadline (`inline_for` seconds) or when the function calls
  `ctx.continue_as_task()`: the task record is stored (as `TaskEngine.create` would), the
  context's backend switches from the request to the task, and the request answers the
  `CreateTaskResult` once a `tasks/get` would find the task (SEP-2663), while the same run
  goes on as that task.

A request that ends before the promotion (the client closed the stream, cancelled, or
went away) cancels the run; once promoted, the run belongs to its task.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .._logging import get_logger
from ..context import ContextBackend, LogLevel, TaskContext, call_step
from ..engine import TaskLimitError, attempts, invoke
from ..engine.backend import TaskBackend
from ..engine.config import INTERNAL_ERROR
from ..records import ErrorOutcome, Outcome, TaskRecord, ToolOutcome
from ..tools import ToolDef
from ..wire import mcp2025
from ..wire import mcp2026 as m
from ..wire.jsonrpc import JsonRpcError
from . import replay as _replay
from .base import Session
from .inline import InlineBackend, limited

log = get_logger("taskapp.session")
_STOPPED = "Internal error: the call was stopped before it ended (the server is closing)"


class _Phase(enum.Enum):
    INLINE = "inline"  # running in the request; questions are MRTR rounds
    PROMOTING = "promoting"  # the task is being stored; context calls wait for it
    PROMOTED = "promoted"  # running as the task


class PromotableCall:
    """One `tools/call` of a tool with `inline_for`, from a client that declared the tasks
    extension. It is also the run's context backend, which it forwards to the request's
    (before) or the task's (after)."""

    def __init__(
        self,
        session: Session,
        tool: ToolDef,
        arguments: dict[str, Any] | None,
        params: dict[str, Any],
        env: m.Envelope,
        until_readable: Callable[[str], Awaitable[None]],
    ) -> None:
        self._session = session
        self._engine = session.engine
        self._tool = tool
        self._arguments = arguments
        self._env = env
        self._meta = params.get("_meta")
        self._until_readable = until_readable
        self._replay = _replay.resume_call(
            session.signer, tool.name, arguments, session.owner, params
        )
        inline = InlineBackend(session, env.progress_token, log_level=env.log_level)
        self._backend: ContextBackend = _replay.ReplayBackend(
            inline, self._replay, env.capabilities
        )
        self._phase = _Phase.INLINE
        self._asking = False  # stopped at an MRTR question: never promoted then
        self._promoted = anyio.Event()  # the current promotion attempt is over
        self._scope = anyio.CancelScope()  # the run's: cancelled by a request gone early
        self._ctx = TaskContext(self, tool_name=tool.name, task_id=None)
        # What the request answers: set once, by whichever comes first.
        self._settled = anyio.Event()
        self._answer: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._inline_outcome: Outcome | None = None
        # The function's end after the promotion, for the task's run (`_as_task`).
        self._ended = anyio.Event()
        self._outcome: Outcome | None = None
        # The first attempt (begun in the request): its arguments, whether running it again
        # may help, and its time limit; after the promotion `retries` run the next ones.
        self._prepared: dict[str, Any] = {}
        self._retryable = False
        self._clock = None if tool.timeout is None else attempts.Clock(tool.timeout)

    # -- the request's side ----------------------------------------------------------

    async def answer(self) -> dict[str, Any]:
        """Start the run and wait for what the request answers."""
        prepared = invoke.prepare(self._tool, self._arguments)
        if isinstance(prepared, ToolOutcome):  # invalid arguments: no run at all
            return await self._ended_inline(prepared)
        self._engine.soon(lambda: self._run(prepared))
        try:
            deadline = self._tool.inline_for
            if deadline is not None and not math.isinf(deadline):
                with anyio.move_on_after(deadline):
                    await self._settled.wait()
                if not self._settled.is_set():
                    await self._promote("deadline")
            await self._settled.wait()
        except BaseException:
            if self._phase is _Phase.INLINE:  # the request ended first: so does the run
                self._scope.cancel()
            raise
        if self._error is not None:
            raise self._error
        if self._inline_outcome is not None:
            return await self._ended_inline(self._inline_outcome)
        assert self._answer is not None
        return self._answer

    def _settle(
        self,
        answer: dict[str, Any] | None = None,
        *,
        error: BaseException | None = None,
        outcome: Outcome | None = None,
    ) -> None:
        if self._settled.is_set():
            return
        self._answer, self._error, self._inline_outcome = answer, error, outcome
        self._settled.set()

    async def _ended_inline(self, outcome: Outcome) -> dict[str, Any]:
        """The function ended before any promotion: its result, or, for a `required`
        tool, a task that has already ended with it."""
        if self._tool.mode != "required":
            if isinstance(outcome, ErrorOutcome):
                raise mcp2025.error_of(outcome)
            assert isinstance(outcome, ToolOutcome)
            return mcp2025.call_tool_result(outcome)

        async def ended(record: TaskRecord) -> Outcome:
            await anyio.lowlevel.checkpoint()
            return outcome

        with anyio.CancelScope(shield=True), limited:
            record = await self._create(ended)
            record = await self._engine.wait_terminal(record.task_id, self._session.owner)
        return m.create_task_result(record, self._session.spec.server_info)

    # -- the run ---------------------------------------------------------------------

    async def _run(self, prepared: dict[str, Any]) -> None:
        outcome: Outcome | None = None
        self._prepared = prepared
        try:
            with self._scope:
                try:
                    outcome = await self._first_attempt(prepared)
                    if isinstance(self._backend, TaskBackend) and not self._retryable:
                        await self._backend.settle()
                except (_replay.InputNeeded, BaseExceptionGroup) as exc:
                    answer = _replay.input_required(self._replay, self._session.signer, exc)
                    if answer is None or self._phase is not _Phase.INLINE:
                        raise
                    self._settle(answer)
        except BaseException as exc:
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise  # the engine is closing
            # Nothing may escape into the engine's task group: a group of the tool's
            # errors beside a question is the tool's error, as invoke makes any other.
            log.warning("tool raised", tool=self._tool.name, exc_info=exc)
            outcome = invoke.text_error(f"{type(exc).__name__}: {exc}")
        finally:
            if outcome is None and self._phase is _Phase.INLINE:
                self._settle(error=JsonRpcError(INTERNAL_ERROR, _STOPPED))
            self._end(outcome)

    async def _first_attempt(self, prepared: dict[str, Any]) -> Outcome:
        """The attempt that begins in the request, within the tool's `timeout` if it has
        one (the time it waits for its client, once a task, does not count)."""
        if self._clock is None:
            outcome, self._retryable = await invoke.attempt(self._tool, prepared, self._ctx)
            return outcome
        with self._clock.scope:
            outcome, self._retryable = await invoke.attempt(self._tool, prepared, self._ctx)
            return outcome
        self._retryable = True  # only the tool's own deadline ends up here
        return attempts.timed_out(self._tool, self._ctx.task_id, 0)

    def _end(self, outcome: Outcome | None) -> None:
        if self._phase is _Phase.INLINE:
            if outcome is not None:
                self._settle(outcome=outcome)
            return
        self._outcome = outcome
        self._ended.set()

    async def _as_task(self, record: TaskRecord) -> Outcome:
        """The task's run, for the engine: the function already runs; wait for its end.
        Cancelling this (tasks/cancel, expiry, shutdown) cancels the function."""
        try:
            await self._ended.wait()
        except BaseException:
            self._scope.cancel()
            raise
        if self._outcome is None:  # stopped some other way: not the tool's doing
            return ErrorOutcome(INTERNAL_ERROR, "the tool's run ended without a result")
        if self._retryable and self._tool.retries and isinstance(self._backend, TaskBackend):
            # The next attempts run here, as the task's: from the top, finished steps skipped.
            first = (self._outcome, True)
            return await attempts.run_attempts(
                self._tool, self._prepared, self._ctx, self._backend, first=first
            )
        return self._outcome

    # -- the promotion ---------------------------------------------------------------

    async def _promote(self, why: str) -> None:
        """Become a task, unless the run is one already or has ended. Over its S-52 task
        limit the requestor gets no task: the call goes on in the request."""
        if self._phase is _Phase.PROMOTING:
            await self._promoted.wait()
            return
        if self._phase is not _Phase.INLINE or self._settled.is_set() or self._asking:
            return
        self._phase = _Phase.PROMOTING
        # Shielded: once the record exists it must run, whatever the request does.
        with anyio.CancelScope(shield=True):
            try:
                record = await self._create(self._as_task, switch=True)
            except BaseException as exc:
                self._phase = _Phase.INLINE
                if isinstance(exc, TaskLimitError):
                    log.info("call stays inline", tool=self._tool.name, reason=str(exc))
                    if self._ended.is_set():  # it ended meanwhile, as an inline call
                        self._end(self._outcome)
                        self._settle(error=JsonRpcError(INTERNAL_ERROR, _STOPPED))
                    return
                log.error("could not make the call a task", tool=self._tool.name, exc_info=exc)
                self._settle(error=JsonRpcError(INTERNAL_ERROR, "Internal error"))
                self._scope.cancel()
                return
            finally:
                self._promoted.set()
                self._promoted = anyio.Event()
            log.info("call became a task", tool=self._tool.name, task_id=record.task_id, why=why)
            try:
                await self._until_readable(record.task_id)
            except JsonRpcError as exc:
                self._settle(error=exc)
                return
        self._settle(m.create_task_result(record, self._session.spec.server_info))

    async def _create(
        self, run: Callable[[TaskRecord], Awaitable[Outcome]], *, switch: bool = False
    ) -> TaskRecord:
        """Store the task (owner, tool, arguments, client capabilities) and start `run`."""
        record, start = await self._engine.create_job(
            self._tool.name, self._arguments, run, owner=self._session.owner, ttl_ms=None,
            on_interrupt=self._tool.on_interrupt, client_capabilities=self._env.capabilities,
            meta=self._meta,  # the call's traceparent: the task continues its trace
        )  # fmt: skip
        if switch:  # from now on the context reaches the task
            self._backend = TaskBackend(self._engine, record)
            self._backend.clock = self._clock  # its waits for the client pause the clock
            self._ctx.task_id = record.task_id
            self._phase = _Phase.PROMOTED
        start()
        return record

    # -- the context's backend -------------------------------------------------------

    async def _current(self) -> ContextBackend:
        if self._phase is _Phase.PROMOTING:
            await self._promoted.wait()
        return self._backend

    async def continue_as_task(self) -> str | None:
        await self._promote("continue_as_task")
        return self._ctx.task_id

    async def update_status(self, message: str) -> None:
        await (await self._current()).update_status(message)

    async def report_progress(
        self, progress: float, total: float | None, message: str | None
    ) -> None:
        await (await self._current()).report_progress(progress, total, message)

    async def log(self, level: LogLevel, data: Any, logger: str | None) -> None:
        await (await self._current()).log(level, data, logger)

    async def run_step(
        self, name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """A step is kept once the call is a task; before, it simply runs (as inline)."""
        backend = await self._current()
        if isinstance(backend, TaskBackend):
            return await backend.run_step(name, fn, args, kwargs)
        return await call_step(fn, args, kwargs)

    async def request_input(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        backend = await self._current()
        try:
            return await backend.request_input(method, params)
        except _replay.InputNeeded:
            # The run stops at a question: this request answers it (MRTR), however long
            # the rest of a task group takes to stop; no deadline makes it a task now.
            self._asking = True
            raise
