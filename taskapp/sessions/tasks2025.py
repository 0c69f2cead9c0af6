"""`tasks/get`, `tasks/result`, `tasks/list` and `tasks/cancel` in the 2025-11-25 dialect.

Whoever receives task-augmented requests serves these: the server for its tools,
and taskapp's Client for the elicitation and sampling tasks a server sends it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup

from .._logging import get_logger
from ..engine import TaskEngine, TaskTerminalError
from ..engine.maybe import Maybe, then
from ..records import ErrorOutcome, ResultOutcome, TaskRecord, TaskStatus
from ..stores.base import InvalidCursorError, TaskNotFoundError
from ..wire import mcp2025 as w
from ..wire.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, JsonRpcError, Reply, Request

log = get_logger("taskapp.tasks")

R = TypeVar("R")
Handler = Callable[[Request], "Maybe[dict[str, Any] | Reply]"]
# Sends one queued question to the requestor and returns its answer
# ({"result": ...} or {"error": ...}); None when it could not be delivered.
Deliver = Callable[[str, dict[str, Any]], Awaitable["dict[str, Any] | None"]]
#: How long a blocking tasks/result waits on once its connection has ended.
CLOSING_WAIT_S = 0.5


class TaskMethods:
    """The task methods for one requestor, whose tasks belong to `owner`."""

    def __init__(
        self,
        engine: TaskEngine,
        *,
        owner: str | None,
        page_size: int,
        deliver: Deliver | None = None,
        closed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.page_size = page_size
        self.deliver = deliver
        self.closed = closed  # returns when the connection (or its input) has ended

    def handlers(self, *, with_list: bool = True) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {
            "tasks/get": self.get,
            "tasks/result": self.result,
            "tasks/cancel": self.cancel,
        }
        if with_list:
            handlers["tasks/list"] = self.list
        return handlers

    def _record(self, request: Request, fn: Callable[[TaskRecord], Maybe[R]]) -> Maybe[R]:
        """`fn` of the requestor's task; ready when the engine's read is (see engine.maybe)."""
        # S-32: the taskId param is the source of truth; related-task _meta is ignored.
        task_id = w.task_id_of(request.params)

        def found(record: TaskRecord | None) -> Maybe[R]:
            if record is None:
                raise w.task_not_found(task_id)
            return fn(record)

        return then(self.engine.read(task_id, self.owner), found)

    def get(self, request: Request) -> Maybe[dict[str, Any]]:
        return self._record(request, w.task_json)

    def result(self, request: Request) -> Maybe[dict[str, Any]]:
        """The task's result: at once if it has ended, else once it does (S-28)."""
        return self._record(request, self._result)

    def _result(self, record: TaskRecord) -> Maybe[dict[str, Any]]:
        if not record.terminal:
            return self._wait_result(record)
        log.info("task result retrieved", task_id=record.task_id, owner=self.owner)  # S-53
        return result_of(record)

    async def _wait_result(self, record: TaskRecord) -> dict[str, Any]:
        """Block until the task ends, delivering its questions meanwhile (S-16), or until
        the connection ends: a stdio client that closed stdin waits for the process to
        exit, and a task left `working` (to run again) would hold the answer forever."""
        closing = anyio.Event()
        async with anyio.create_task_group() as deliveries:
            if self.closed is not None:
                deliveries.start_soon(self._stop_at_close, closing, deliveries.cancel_scope)
            await self._deliver_if_asked(record, deliveries)
            async with aclosing(self.engine.changes(record)) as changes:
                async for record in changes:  # the last one is the answer
                    await self._deliver_if_asked(record, deliveries)
            deliveries.cancel_scope.cancel()  # the task ended: its questions are moot
        if closing.is_set() and not record.terminal:
            raise JsonRpcError(
                INTERNAL_ERROR,
                f"Internal error: the connection is closing before task {record.task_id} "
                "ended; it stays in the store",
            )
        if not record.terminal:
            raise w.task_not_found(record.task_id, expired=True)
        log.info("task result retrieved", task_id=record.task_id, owner=self.owner)  # S-53
        return result_of(record)

    async def _stop_at_close(self, closing: anyio.Event, scope: anyio.CancelScope) -> None:
        """Once the connection ends, give the task `CLOSING_WAIT_S` to end (a closing
        stdio server interrupts its running tasks: their ends are being written), then
        stop waiting."""
        assert self.closed is not None
        await self.closed()
        await anyio.sleep(CLOSING_WAIT_S)
        closing.set()
        scope.cancel()

    async def _deliver_if_asked(self, record: TaskRecord, deliveries: TaskGroup) -> None:
        if record.status is TaskStatus.INPUT_REQUIRED and self.deliver is not None:
            await self._deliver_queued(record.task_id, deliveries)

    async def _deliver_queued(self, task_id: str, deliveries: TaskGroup) -> None:
        while (claimed := await self.engine.claim_input(task_id)) is not None:
            deliveries.start_soon(self._deliver_one, task_id, *claimed)

    async def _deliver_one(self, task_id: str, key: str, message: dict[str, Any]) -> None:
        assert self.deliver is not None
        answer: dict[str, Any] | None = None
        try:
            params = dict(message.get("params") or {})
            params["_meta"] = {**(params.get("_meta") or {}), **w.related(task_id)}  # S-16
            answer = await self.deliver(str(message.get("method")), params)
        finally:
            with anyio.CancelScope(shield=True):
                if answer is None:  # not delivered: another tasks/result may try again
                    await self.engine.release_input(task_id, key)
                elif not await self.engine.answer_input(task_id, key, answer):
                    log.info("late answer dropped: the task no longer waits", task_id=task_id)

    async def list(self, request: Request) -> dict[str, Any]:
        cursor = w.parse(w.CursorParams, request.params).cursor
        try:
            records, next_cursor = await self.engine.list_tasks(self.owner, cursor, self.page_size)
        except InvalidCursorError:
            raise JsonRpcError(INVALID_PARAMS, f"Invalid cursor: {cursor!r}") from None
        result: dict[str, Any] = {"tasks": [w.task_json(r) for r in records]}
        if next_cursor is not None:
            result["nextCursor"] = next_cursor  # S-38
        return result

    def cancel(self, request: Request) -> Maybe[dict[str, Any]]:
        return self._record(request, self._cancel)

    async def _cancel(self, record: TaskRecord) -> dict[str, Any]:
        try:
            record = await self.engine.cancel(record.task_id, self.owner)
        except TaskNotFoundError:
            raise w.task_not_found(record.task_id) from None
        except TaskTerminalError as exc:
            raise JsonRpcError(
                INVALID_PARAMS,
                f"Cannot cancel task: already in terminal status '{w.wire_status(exc.record)}'",
            ) from None  # S-40
        return w.task_json(record)


def result_of(record: TaskRecord) -> dict[str, Any]:
    """Exactly what the request would have returned (S-27, S-29), with related-task (S-30)."""
    outcome = record.outcome
    if isinstance(outcome, ErrorOutcome):
        raise w.error_of(outcome)
    meta = w.related(record.task_id)
    if isinstance(outcome, ResultOutcome):
        return {**outcome.result, "_meta": {**(outcome.result.get("_meta") or {}), **meta}}
    assert outcome is not None, "a terminal task always has an outcome"
    return w.call_tool_result(outcome, meta=meta)
