"""One client's MCP session in the 2025-11-25 dialect (and the older versions it negotiates)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import anyio
import structlog

from .. import _input
from ..context import LogLevel, TaskContext
from ..engine import TaskEngine, TaskLimitError
from ..engine import invoke as _invoke
from ..records import ErrorOutcome, NewTask, TaskRecord, ToolOutcome
from ..tools import ToolDef
from ..wire import mcp2025 as w
from ..wire import mcp2026
from ..wire.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    SERVER_ERROR,
    JsonRpcError,
    Reply,
    Request,
)
from . import replay as _replay
from .modern import ModernMethods, log_allowed
from .peer import Peer
from .tasks2025 import TaskMethods

if TYPE_CHECKING:
    from ..app import TaskApp

log = structlog.get_logger("taskapp.session")

Handler = Callable[[Request], Awaitable["dict[str, Any] | Reply"]]
Era = Literal["legacy", "modern"]
_TASK_METHODS = ("tasks/get", "tasks/result", "tasks/list", "tasks/cancel")


class ServerSession:
    """Answers one client. Tasks outlive it; its notifications stop when it ends.

    The client's first request decides the dialect, once: `initialize` (or anything
    without the 2026-07-28 `_meta` envelope) makes a 2025-11-25 session, a request with
    the envelope a 2026-07-28 connection. Over HTTP a session is made for one dialect
    (`era`): sessions come from `initialize`, sessionless POSTs are modern.
    """

    def __init__(
        self,
        app: TaskApp,
        engine: TaskEngine,
        *,
        owner: str | None = None,
        list_tasks: bool = True,
        era: Era | None = None,
        modern_versions: tuple[str, ...] = mcp2026.MODERN_VERSIONS,
    ) -> None:
        self.app = app
        self.engine = engine
        self.owner = owner
        self.era = era
        self.signer: _replay.StateSigner = app.state_signer
        self.modern = ModernMethods(self, versions=modern_versions)
        self.list_tasks = list_tasks  # S-49: only where the requestor can be identified
        self.peer: Peer | None = None
        self.protocol_version: str | None = None
        self.client_capabilities: dict[str, Any] = {}
        self.client_info: dict[str, Any] = {}
        self.log_level = "info"
        self._progress_tokens: dict[str, str | int] = {}
        self.tasks = TaskMethods(
            engine, owner=owner, page_size=app.page_size, deliver=self._deliver
        )
        self._handlers: dict[str, Handler] = {
            "initialize": self._initialize,
            "ping": self._ping,
            "tools/list": self._tools_list,
            "tools/call": self._tools_call,
            "logging/setLevel": self._set_level,
            **self.tasks.handlers(with_list=list_tasks),
        }

    async def serve(self, peer_factory: Callable[[ServerSession], Peer]) -> None:
        self.peer = peer_factory(self)
        try:
            await self.peer.run()
        finally:
            self.engine.detach(self)

    @property
    def tasks_enabled(self) -> bool:
        return self.protocol_version == w.LATEST

    # -- dispatch --------------------------------------------------------------

    async def on_request(self, request: Request) -> dict[str, Any] | Reply:
        if self.era is None:
            modern = request.method != "initialize" and mcp2026.has_envelope(request.params)
            if modern:
                # A version we do not speak decides nothing: the client may still fall
                # back to initialize on this connection.
                mcp2026.envelope(request.params)
            self.era = "modern" if modern else "legacy"
        if self.era == "modern":
            if request.method == "initialize":
                asked = request.params.get("protocolVersion")
                raise mcp2026.unsupported_version(
                    asked if isinstance(asked, str) else "", self.modern.versions
                )
            return await self.modern.handle(request)
        if mcp2026.has_envelope(request.params):
            raise JsonRpcError(
                INVALID_REQUEST,
                "Invalid request: this connection speaks MCP 2025-11-25 (it began with "
                "initialize); a 2026-07-28 request needs a connection of its own",
            )
        handler = self._handlers.get(request.method)
        if handler is None or (
            request.method in _TASK_METHODS
            and self.protocol_version is not None
            and not self.tasks_enabled
        ):
            raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {request.method}")
        if self.protocol_version is None and request.method not in ("initialize", "ping"):
            raise JsonRpcError(
                INVALID_REQUEST, "The session is not initialized: send initialize first"
            )
        return await handler(request)

    async def on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method not in ("notifications/initialized", "notifications/cancelled"):
            log.debug("notification ignored", method=method)

    # -- lifecycle -------------------------------------------------------------

    async def _initialize(self, request: Request) -> dict[str, Any]:
        params = w.parse(w.InitializeParams, request.params)
        if self.protocol_version is not None:
            raise JsonRpcError(INVALID_REQUEST, "The session is already initialized")
        asked = params.protocol_version
        self.protocol_version = asked if asked in w.SUPPORTED_VERSIONS else w.LATEST
        self.client_capabilities = params.capabilities
        self.client_info = params.client_info
        log.info(
            "session initialized",
            version=self.protocol_version,
            client=self.client_info.get("name"),
        )
        capabilities: dict[str, Any] = {"tools": {"listChanged": False}, "logging": {}}
        if self.tasks_enabled:
            tasks: dict[str, Any] = {"cancel": {}, "requests": {"tools": {"call": {}}}}
            if self.list_tasks:
                tasks["list"] = {}
            capabilities["tasks"] = tasks
        result: dict[str, Any] = {
            "protocolVersion": self.protocol_version,
            "capabilities": capabilities,
            "serverInfo": {"name": self.app.name, "version": self.app.version},
        }
        if self.app.instructions:
            result["instructions"] = self.app.instructions
        return result

    async def _ping(self, request: Request) -> dict[str, Any]:
        return {}

    async def _set_level(self, request: Request) -> dict[str, Any]:
        self.log_level = w.parse(w.SetLevelParams, request.params).level
        return {}

    # -- tools -----------------------------------------------------------------

    async def _tools_list(self, request: Request) -> dict[str, Any]:
        cursor = w.parse(w.CursorParams, request.params).cursor
        return self.app.tools_page(cursor, with_tasks=self.tasks_enabled)

    async def _tools_call(self, request: Request) -> dict[str, Any] | Reply:
        params = w.parse(w.CallToolParams, request.params)
        tool = self.app.tools.get(params.name)
        if tool is None:
            raise JsonRpcError(INVALID_PARAMS, f"Unknown tool: {params.name}")
        token = params.meta.progress_token if params.meta else None
        if params.task is not None and self.tasks_enabled:
            return await self._call_as_task(tool, params, token)
        if self.tasks_enabled and tool.mode == "required":
            raise JsonRpcError(
                METHOD_NOT_FOUND,
                f"Tool '{tool.name}' must be called as a task (execution.taskSupport is "
                "'required'): add a 'task' field to the tools/call params",
            )  # S-9
        return await self._call_inline(tool, params.arguments, token)

    async def _call_as_task(
        self, tool: ToolDef, params: w.CallToolParams, token: str | int | None
    ) -> Reply:
        if tool.mode == "forbidden":
            raise JsonRpcError(
                METHOD_NOT_FOUND,
                f"Tool '{tool.name}' cannot be called as a task (execution.taskSupport is "
                "'forbidden'): call it without the 'task' field",
            )  # S-7
        assert params.task is not None
        # Shielded: once the record exists it must be started, whatever the client does.
        with anyio.CancelScope(shield=True), limited:
            record, start = await self.engine.create(
                tool, params.arguments, owner=self.owner, ttl_ms=params.task.ttl, observer=self,
                client_capabilities=self.client_capabilities,
            )  # fmt: skip
        return self._created(record, start, token)

    def _created(
        self, record: TaskRecord | NewTask, start: Callable[[], None], token: str | int | None
    ) -> Reply:
        """The CreateTaskResult; the task starts once it is sent (nothing may overtake it)."""
        if token is not None:
            self._progress_tokens[record.task_id] = token
        return Reply({"task": w.task_json(record)}, after_send=start)

    def answer_now(self, request: Request) -> dict[str, Any] | Reply | None:
        """Answer without waiting when the engine's store never waits (MemoryStore):
        `tasks/get`, `tasks/result` of an ended task, a task's creation. None otherwise."""
        if not self.engine.immediate or not self.tasks_enabled or self.era != "legacy":
            return None
        if mcp2026.has_envelope(request.params):
            return None  # refused by on_request
        method = request.method
        if method == "tasks/get":
            return self.tasks.get_now(request)
        if method == "tasks/result":
            return self.tasks.result_now(request)
        if method != "tools/call" or request.params.get("task") is None:
            return None  # an inline call may wait: the ordinary path
        params = w.parse(w.CallToolParams, request.params)
        tool = self.app.tools.get(params.name)
        if params.task is None or tool is None or tool.mode == "forbidden":
            return None  # the ordinary path explains what is wrong
        with limited:
            new, start = self.engine.create_now(
                tool, params.arguments, owner=self.owner, ttl_ms=params.task.ttl, observer=self,
                client_capabilities=self.client_capabilities,
            )  # fmt: skip
        return self._created(new, start, params.meta.progress_token if params.meta else None)

    async def _call_inline(
        self, tool: ToolDef, arguments: dict[str, Any] | None, token: str | int | None
    ) -> dict[str, Any]:
        prepared = _invoke.prepare(tool, arguments)
        if isinstance(prepared, ToolOutcome):
            return w.call_tool_result(prepared)
        ctx = TaskContext(InlineBackend(self, token), tool_name=tool.name, task_id=None)
        outcome = await _invoke.invoke(tool, prepared, ctx)
        if isinstance(outcome, ErrorOutcome):
            raise w.error_of(outcome)
        assert isinstance(outcome, ToolOutcome)
        return w.call_tool_result(outcome)

    # -- TaskObserver: what the engine tells this session ----------------------

    def on_status(self, record: TaskRecord) -> None:
        if record.terminal:
            self._progress_tokens.pop(record.task_id, None)  # S-37: no progress after the end
        if self.peer is not None:
            self.peer.notify("notifications/tasks/status", w.task_json(record))

    def on_progress(
        self, task_id: str, progress: float, total: float | None, message: str | None
    ) -> None:
        token = self._progress_tokens.get(task_id)
        if token is not None:
            self.send_progress(token, progress, total, message, meta=w.related(task_id))

    def on_log(self, task_id: str, level: LogLevel, data: Any, logger: str | None) -> None:
        self.send_log(level, data, logger, meta=w.related(task_id))

    def send_progress(
        self, token: str | int, progress: float, total: float | None, message: str | None,
        meta: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        params: dict[str, Any] = {"progressToken": token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        if meta:
            params["_meta"] = meta
        if self.peer is not None:
            self.peer.notify("notifications/progress", params)

    def notify(self, method: str, params: dict[str, Any]) -> None:
        if self.peer is not None:
            self.peer.notify(method, params)

    async def closed(self) -> None:
        """Wait until the connection has ended."""
        assert self.peer is not None
        await self.peer.closed.wait()

    def send_log(
        self,
        level: LogLevel,
        data: Any,
        logger: str | None,
        meta: dict[str, Any] | None = None,
        threshold: str | None = None,
    ) -> None:
        threshold = self.log_level if threshold is None else threshold
        if w.LOG_LEVELS.index(level) < w.LOG_LEVELS.index(threshold) or self.peer is None:
            return
        params: dict[str, Any] = {"level": level, "data": data}
        if logger is not None:
            params["logger"] = logger
        if meta:
            params["_meta"] = meta
        self.peer.notify("notifications/message", params)

    async def ask_client(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send `elicitation/create` or `sampling/createMessage` and return the answer.

        A client that declared task support for the request type (S-1) gets it as a
        task: we wait on its `tasks/result`, and cancel its task if we stop waiting.
        """
        assert self.peer is not None
        if not self._client_takes_tasks(method):
            return await self.peer.request(method, params)
        created = await self.peer.request(method, {**params, "task": {}})
        task_id = str((created.get("task") or {}).get("taskId", ""))
        try:
            return await self.peer.request("tasks/result", {"taskId": task_id})
        except anyio.get_cancelled_exc_class():
            with anyio.move_on_after(2, shield=True):
                await self.peer.request("tasks/cancel", {"taskId": task_id})
            raise

    def _client_takes_tasks(self, method: str) -> bool:
        requests = (self.client_capabilities.get("tasks") or {}).get("requests") or {}
        kind, _, verb = method.partition("/")
        return isinstance(requests.get(kind), dict) and verb in requests[kind]

    async def _deliver(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Deliver a task's queued question; None if the client went away first."""
        try:
            return {"result": await self.ask_client(method, params)}
        except JsonRpcError as exc:
            if self.peer is None or self.peer.closed.is_set():
                return None
            return {"error": exc.to_json()}


class _Limited:
    """S-52: a requestor over its task limit gets a JSON-RPC error, not a task.

    A class rather than a generator: it is entered on every task creation, on the
    critical path of a round trip, where a generator-based context manager costs ~1 us.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if isinstance(exc, TaskLimitError):
            raise JsonRpcError(SERVER_ERROR, str(exc)) from None


limited = _Limited()


class InlineBackend:
    """The context backend of a tool called without a task: straight to this session.

    `log_level` is a 2026-07-28 request's own opt-in: "" (the default) means the
    session's `logging/setLevel`; None means no log notifications at all.
    """

    __slots__ = ("_level", "_session", "_token")

    def __init__(
        self, session: ServerSession, token: str | int | None, *, log_level: str | None = ""
    ) -> None:
        self._session = session
        self._token = token
        self._level = log_level

    async def update_status(self, message: str) -> None:
        # A status message belongs to a task; inline calls have none to carry it.
        log.debug("status outside a task", message=message)

    async def report_progress(
        self, progress: float, total: float | None, message: str | None
    ) -> None:
        if self._token is not None:
            self._session.send_progress(self._token, progress, total, message)
        await anyio.lowlevel.checkpoint()

    async def log(self, level: LogLevel, data: Any, logger: str | None) -> None:
        if self._level == "":
            self._session.send_log(level, data, logger)
        elif log_allowed(level, self._level):
            self._session.send_log(level, data, logger, threshold=self._level)
        await anyio.lowlevel.checkpoint()

    async def request_input(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        _input.require_capability(self._session.client_capabilities, method, params)
        try:
            return await self._session.ask_client(method, params)
        except JsonRpcError as exc:
            raise _input.refused(method, exc.to_json()) from None
