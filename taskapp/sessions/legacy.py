"""The 2025-11-25 dialect (and the older versions it negotiates): a session's methods.

Initialized with `initialize`; tools called inline or as SEP-1686 tasks, whose
`tasks/*` methods live in `tasks2025`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._logging import get_logger
from ..engine.maybe import Maybe, then
from ..records import NewTask, TaskRecord
from ..tools import ToolDef
from ..wire import mcp2025 as w
from ..wire.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    JsonRpcError,
    Reply,
    Request,
)
from .base import Session
from .inline import InlineBackend, call_inline, limited
from .peer import Handled
from .tasks2025 import TaskMethods

log = get_logger("taskapp.session")

Handler = Callable[[Request], Handled]
TASK_METHODS = ("tasks/get", "tasks/result", "tasks/list", "tasks/cancel")


class LegacyMethods:
    """Answers 2025-11-25 requests for one session (its spec, engine, owner and peer)."""

    def __init__(self, session: Session, *, list_tasks: bool) -> None:
        self.session = session
        self.spec = session.spec
        self.engine = session.engine
        self.list_tasks = list_tasks  # S-49: only where the requestor can be identified
        self.tasks = TaskMethods(
            session.engine, owner=session.owner, page_size=session.spec.page_size,
            deliver=session.deliver, closed=session.closed,
        )  # fmt: skip
        self.handlers: dict[str, Handler] = {
            "initialize": self._initialize,
            "ping": self._ping,
            "tools/list": self._tools_list,
            "tools/call": self._tools_call,
            "logging/setLevel": self._set_level,
            **self.tasks.handlers(with_list=list_tasks),
        }

    def handle(self, request: Request) -> Handled:
        session = self.session
        handler = self.handlers.get(request.method)
        if handler is None or (
            request.method in TASK_METHODS
            and session.protocol_version is not None
            and not session.tasks_enabled
        ):
            raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {request.method}")
        if session.protocol_version is None and request.method not in ("initialize", "ping"):
            raise JsonRpcError(
                INVALID_REQUEST, "The session is not initialized: send initialize first"
            )
        return handler(request)

    # -- lifecycle -------------------------------------------------------------

    def _initialize(self, request: Request) -> dict[str, Any]:
        session = self.session
        params = w.parse(w.InitializeParams, request.params)
        if session.protocol_version is not None:
            raise JsonRpcError(INVALID_REQUEST, "The session is already initialized")
        asked = params.protocol_version
        session.protocol_version = asked if asked in w.SUPPORTED_VERSIONS else w.LATEST
        session.client_capabilities = params.capabilities
        session.client_info = params.client_info
        log.info(
            "session initialized",
            version=session.protocol_version,
            client=session.client_info.get("name"),
        )
        capabilities: dict[str, Any] = {"tools": {"listChanged": False}, "logging": {}}
        if session.tasks_enabled:
            tasks: dict[str, Any] = {"cancel": {}, "requests": {"tools": {"call": {}}}}
            if self.list_tasks:
                tasks["list"] = {}
            capabilities["tasks"] = tasks
        result: dict[str, Any] = {
            "protocolVersion": session.protocol_version,
            "capabilities": capabilities,
            "serverInfo": self.spec.server_info,
        }
        if self.spec.instructions:
            result["instructions"] = self.spec.instructions
        return result

    def _ping(self, request: Request) -> dict[str, Any]:
        return {}

    def _set_level(self, request: Request) -> dict[str, Any]:
        self.session.log_level = w.parse(w.SetLevelParams, request.params).level
        return {}

    # -- tools -----------------------------------------------------------------

    def _tools_list(self, request: Request) -> dict[str, Any]:
        cursor = w.parse(w.CursorParams, request.params).cursor
        return self.spec.tools_page(cursor, with_tasks=self.session.tasks_enabled)

    def _tools_call(self, request: Request) -> Handled:
        params = w.parse(w.CallToolParams, request.params)
        tool = self.spec.tools.get(params.name)
        if tool is None:
            raise JsonRpcError(INVALID_PARAMS, f"Unknown tool: {params.name}")
        token = params.meta.progress_token if params.meta else None
        tasks_enabled = self.session.tasks_enabled
        if params.task is not None and tasks_enabled:
            return self._call_as_task(tool, params, token)
        if tasks_enabled and tool.mode == "required":
            raise JsonRpcError(
                METHOD_NOT_FOUND,
                f"Tool '{tool.name}' must be called as a task (execution.taskSupport is "
                "'required'): add a 'task' field to the tools/call params",
            )  # S-9
        return call_inline(
            tool, params.arguments, lambda: InlineBackend(self.session, token),
            hooks=self.engine.hooks, meta=params.meta.model_extra if params.meta else None,
        )  # fmt: skip

    def _call_as_task(
        self, tool: ToolDef, params: w.CallToolParams, token: str | int | None
    ) -> Maybe[Reply]:
        if tool.mode == "forbidden":
            raise JsonRpcError(
                METHOD_NOT_FOUND,
                f"Tool '{tool.name}' cannot be called as a task (execution.taskSupport is "
                "'forbidden'): call it without the 'task' field",
            )  # S-7
        assert params.task is not None
        session = self.session
        with limited:
            created = self.engine.begin(
                tool, params.arguments, owner=session.owner, ttl_ms=params.task.ttl,
                observer=session, client_capabilities=session.client_capabilities,
                meta=params.meta.model_extra if params.meta else None,  # traceparent
            )  # fmt: skip

        def answer(created: tuple[TaskRecord | NewTask, Callable[[], None]]) -> Reply:
            """The CreateTaskResult; the task starts once it is sent (nothing may overtake it)."""
            record, start = created
            if token is not None:
                session.progress_tokens[record.task_id] = token
            return Reply({"task": w.task_json(record)}, after_send=start)

        return then(created, answer)
