"""The 2026-07-28 dialect: stateless requests, and tasks as the `io.modelcontextprotocol/tasks`
extension. The same tools, engine and store as 2025-11-25; only the wire differs.

Each request stands alone: its `_meta` says which version it speaks and what the client can
do. Over stdio one `ServerSession` routes a connection here once its first request carries
that envelope; over HTTP every POST without a session comes here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing
from typing import Any, TypeAlias

import anyio

from .._logging import get_logger
from ..context import ContextBackend
from ..engine import TaskTerminalError
from ..engine.maybe import Maybe, settled, then
from ..records import TaskRecord, TaskStatus
from ..stores.base import TaskNotFoundError, answers_now, reads_own_writes
from ..tools import ToolDef
from ..wire import mcp2025
from ..wire import mcp2026 as m
from ..wire.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError, Request
from . import replay as _replay
from .base import Session
from .inline import InlineBackend, call_inline, limited
from .promote import PromotableCall

log = get_logger("taskapp.session")

#: An answer now, or an awaitable of it when it needs waiting (engine.maybe): the driver
#: awaits only what is not ready.
Result: TypeAlias = Maybe[dict[str, Any]]
_TASK_METHODS = ("tasks/get", "tasks/update", "tasks/cancel")
#: How long a new task may take to become readable in the store before tools/call fails.
CREATE_CONSISTENCY_S = 10.0


class ModernMethods:
    """Answers modern requests for one session (its spec, engine, owner and peer).

    Over stdio the session is the connection's; over HTTP it is one POST's, whose peer
    is only where the request's notifications go (`transports.http_modern`).
    """

    __slots__ = ("engine", "session", "spec", "versions")

    def __init__(self, session: Session, *, versions: tuple[str, ...]) -> None:
        self.session = session
        self.spec = session.spec
        self.engine = session.engine
        #: What `server/discover` offers: on stdio, a connection that opened modern stays so.
        self.versions = versions

    @property
    def server_info(self) -> dict[str, Any]:
        return self.spec.server_info

    def dispatch(self, request: Request, env: m.Envelope | None = None) -> Result:
        """The answer to a request: ready when it needs no waiting, else an awaitable.

        `env` is the request's envelope when the caller has already read it."""
        handler = _HANDLERS.get(request.method)
        if handler is None:  # tasks/result and tasks/list are gone in this dialect
            raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {request.method}")
        if env is None:
            env = m.envelope(request.params)
        if request.method in _TASK_METHODS and not env.takes_tasks:
            raise m.missing_tasks_extension(
                f"{request.method} needs the {m.TASKS_EXTENSION} extension in "
                f"_meta.{m.CLIENT_CAPABILITIES}"
            )
        return then(handler(self, request, env), self._stamped)

    def _stamped(self, result: dict[str, Any]) -> dict[str, Any]:
        return m.stamped(result, self.server_info)

    # -- discovery and tools ---------------------------------------------------------

    def _discover(self, request: Request, env: m.Envelope) -> Result:
        result: dict[str, Any] = {
            "supportedVersions": list(self.versions),
            "capabilities": {
                "tools": {"listChanged": False},
                "logging": {},
                "extensions": {m.TASKS_EXTENSION: {}},
            },
            "ttlMs": 0,  # cheap to ask again; a redeploy may change the tools
            "cacheScope": "public",
        }
        if self.spec.instructions:
            result["instructions"] = self.spec.instructions
        return result

    def _tools_list(self, request: Request, env: m.Envelope) -> Result:
        cursor = mcp2025.parse(mcp2025.CursorParams, request.params).cursor
        # No `execution.taskSupport` here: in the extension the server decides per call.
        page = self.spec.tools_page(cursor, with_tasks=False)
        return {**page, "ttlMs": 0, "cacheScope": "public"}

    async def _tools_call(self, request: Request, env: m.Envelope) -> dict[str, Any]:
        params = mcp2025.parse(mcp2025.CallToolParams, request.params)  # `task` is ignored
        tool = self.spec.tools.get(params.name)
        if tool is None:
            raise JsonRpcError(INVALID_PARAMS, f"Unknown tool: {params.name}")
        if tool.mode != "forbidden" and env.takes_tasks:
            if tool.inline_for is not None and not self.engine.queued:
                # It starts in this request; the server decides when it becomes a task.
                call = PromotableCall(
                    self.session, tool, params.arguments, request.params, env,
                    self._until_readable,
                )  # fmt: skip
                return await call.answer()
            return await self._create_task(tool, params.arguments, env, request.params)
        if tool.mode == "required":
            raise m.missing_tasks_extension(
                f"tool '{tool.name}' runs only as a task; declare {m.TASKS_EXTENSION}"
            )
        return await self._call_inline(tool, params.arguments, request.params, env)

    async def _create_task(
        self,
        tool: ToolDef,
        arguments: dict[str, Any] | None,
        env: m.Envelope,
        params: dict[str, Any] | None,
    ) -> dict[str, Any]:
        # Shielded: once the record exists it must be started, whatever the client does.
        with anyio.CancelScope(shield=True), limited:
            record, start = await self.engine.create(
                tool, arguments, owner=self.session.owner, ttl_ms=None, observer=None,
                client_capabilities=env.capabilities, meta=(params or {}).get("_meta"),
            )  # fmt: skip
            start()
            await self._until_readable(record.task_id)
        return m.create_task_result(record, self.server_info)

    async def _until_readable(self, task_id: str) -> None:
        """Return once a tasks/get for the new task resolves (SEP-2663: no CreateTaskResult
        before that; "in eventually-consistent environments, the server MUST wait"). A
        store that reads its own writes shows it already; a replica may lag."""
        store = self.engine.store
        if reads_own_writes(store):
            if answers_now(store) is None:
                # No read back; two loop turns instead (what that read gave): the task
                # just started runs its function to its first wait, and one that returns
                # at once has its end in flight before the answer leaves, so the first
                # tasks/get waits for that write (`Runs.ended_here`) instead of showing
                # `working` and costing the client another poll.
                await anyio.lowlevel.checkpoint()
                await anyio.lowlevel.checkpoint()
            return
        if await settled(self.engine.read(task_id, self.session.owner)) is not None:
            return  # the usual case, without the timeout's cancel scope
        delay = 0.005
        with anyio.move_on_after(CREATE_CONSISTENCY_S):
            while await settled(self.engine.read(task_id, self.session.owner)) is None:
                await anyio.sleep(delay)
                delay = min(delay * 2, 0.25)
            return
        raise JsonRpcError(
            INTERNAL_ERROR,
            f"Internal error: the task store did not show the new task {task_id} within "
            f"{CREATE_CONSISTENCY_S:g} s of creating it; check the store's replication",
        )

    async def _call_inline(
        self,
        tool: ToolDef,
        arguments: dict[str, Any] | None,
        params: dict[str, Any],
        env: m.Envelope,
    ) -> dict[str, Any]:
        replay: _replay.Replay | None = None

        def backend() -> ContextBackend:
            nonlocal replay
            owner = self.session.owner
            replay = _replay.resume_call(self.session.signer, tool.name, arguments, owner, params)
            inline = InlineBackend(self.session, env.progress_token, log_level=env.log_level)
            return _replay.ReplayBackend(inline, replay, env.capabilities)

        def input_required(stopped: BaseException) -> dict[str, Any] | None:
            if replay is None:
                return None
            return _replay.input_required(replay, self.session.signer, stopped)

        return await call_inline(
            tool, arguments, backend, stops=(_replay.InputNeeded, BaseExceptionGroup),
            stopped=input_required, hooks=self.engine.hooks, meta=params.get("_meta"),
        )  # fmt: skip

    # -- the tasks extension ---------------------------------------------------------

    def _record(self, request: Request) -> Maybe[TaskRecord]:
        """The caller's task: read at once from a store that answers without waiting."""
        task_id = mcp2025.task_id_of(request.params)

        def found(record: TaskRecord | None) -> TaskRecord:
            if record is None:  # missing, expired, or another owner's (S-47)
                raise mcp2025.task_not_found(task_id)
            return record

        return then(self.engine.read(task_id, self.session.owner), found)

    def detailed(self, record: TaskRecord) -> Result:
        """The task as tasks/get shows it; its open questions need a read of the store."""
        if record.status is not TaskStatus.INPUT_REQUIRED:
            return m.detailed_task(record, None)
        return self._with_questions(record)

    async def _with_questions(self, record: TaskRecord) -> dict[str, Any]:
        pending = await self.engine.pending_inputs(record.task_id)
        return m.detailed_task(record, pending)

    def _tasks_get(self, request: Request, env: m.Envelope) -> Result:
        return then(self._record(request), self.detailed)

    async def _tasks_update(self, request: Request, env: m.Envelope) -> dict[str, Any]:
        record = await settled(self._record(request))
        responses = request.params.get("inputResponses")
        if not isinstance(responses, dict):
            raise JsonRpcError(
                INVALID_PARAMS, "Invalid params: inputResponses is required (an object)"
            )
        pending = await self.engine.pending_inputs(record.task_id)
        answered = 0
        for key, response in responses.items():
            # Keys not outstanding (never issued, already answered, or the task has ended)
            # are ignored; a partial set leaves the task waiting for the rest.
            if key in pending and isinstance(response, dict):
                answer = {"result": response}
                answered += await self.engine.answer_input(record.task_id, key, answer)
        log.info("task input received", task_id=record.task_id, answered=answered)
        return {}

    async def _tasks_cancel(self, request: Request, env: m.Envelope) -> dict[str, Any]:
        record = await settled(self._record(request))
        try:
            await self.engine.cancel(record.task_id, self.session.owner)
        except TaskTerminalError:
            pass  # an acknowledgement, not a promise: the task had already ended
        except TaskNotFoundError:
            raise mcp2025.task_not_found(record.task_id) from None
        return {}

    # -- subscriptions ---------------------------------------------------------------

    async def _listen(self, request: Request, env: m.Envelope) -> dict[str, Any]:
        """Hold the request open and send `notifications/tasks` for the tasks asked for,
        until the client cancels it or the connection ends."""
        wanted = request.params.get("notifications")
        if not isinstance(wanted, dict):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: notifications is required")
        task_ids = wanted.get("taskIds")
        if task_ids is not None and (
            not isinstance(task_ids, list) or not all(isinstance(t, str) for t in task_ids)
        ):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: taskIds must be strings")
        if task_ids is not None and not env.takes_tasks:
            raise m.missing_tasks_extension(
                f"task notifications need the {m.TASKS_EXTENSION} extension"
            )
        sub = {m.SUBSCRIPTION_ID: request.id}
        agreed: dict[str, Any] = {}
        records: list[TaskRecord] = []
        if task_ids is not None:
            for task_id in dict.fromkeys(task_ids):
                try:
                    records.append(await self.engine.get(task_id, self.session.owner))
                except TaskNotFoundError:
                    continue  # not agreed: the acknowledgement leaves it out
            agreed["taskIds"] = [r.task_id for r in records]
        self.session.notify(
            "notifications/subscriptions/acknowledged", {"_meta": sub, "notifications": agreed}
        )
        async with anyio.create_task_group() as tg:
            for record in records:
                tg.start_soon(self._follow, record, sub)
            await self.session.closed()
            tg.cancel_scope.cancel()
        return {"_meta": sub}

    async def _follow(self, record: TaskRecord, sub: dict[str, Any]) -> None:
        """Send the task's state now and each time it changes, until it ends or is gone.

        The first one is today's state: a client that subscribes to a task already waiting
        for input must not wait for a change that only its answer can bring."""
        last = await settled(self.detailed(record))
        self.session.notify("notifications/tasks", {**last, "_meta": sub})
        async with aclosing(self.engine.changes(record)) as changes:
            async for changed in changes:
                task = await settled(self.detailed(changed))
                if task != last:  # a bare version bump (a question handed back) is no news
                    self.session.notify("notifications/tasks", {**task, "_meta": sub})
                    last = task


_Handler = Callable[[ModernMethods, Request, m.Envelope], Result]
_HANDLERS: dict[str, _Handler] = {
    "server/discover": ModernMethods._discover,
    "tools/list": ModernMethods._tools_list,
    "tools/call": ModernMethods._tools_call,
    "subscriptions/listen": ModernMethods._listen,
    "tasks/get": ModernMethods._tasks_get,
    "tasks/update": ModernMethods._tasks_update,
    "tasks/cancel": ModernMethods._tasks_cancel,
}
