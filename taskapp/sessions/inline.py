"""A tool called without a task, in either dialect: the call, and its context backend
straight to the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio

from .. import _input
from .._logging import get_logger
from ..context import ContextBackend, LogLevel, TaskContext
from ..engine import TaskLimitError, invoke
from ..engine.hooks import EngineHooks, inline_call
from ..errors import ToolError
from ..records import ErrorOutcome, ToolOutcome
from ..tools import ToolDef
from ..wire import mcp2025
from ..wire.jsonrpc import SERVER_ERROR, JsonRpcError
from .base import Session
from .peer import NoAnswerError

log = get_logger("taskapp.session")


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


async def call_inline(
    tool: ToolDef,
    arguments: dict[str, Any] | None,
    backend: Callable[[], ContextBackend],
    *,
    stops: tuple[type[BaseException], ...] = (),
    stopped: Callable[[BaseException], dict[str, Any] | None] | None = None,
    hooks: EngineHooks | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run `tool` in this request: its CallToolResult, or the JSON-RPC error it failed with.

    Arguments that do not validate are a tool error result (not a protocol error), before
    anything else: `backend` (the context's, which may itself refuse the request) is made
    only after. An exception of `stops` that the tool raises is handed to `stopped`, whose
    answer is the request's (a 2026-07-28 call that needs input); None re-raises it.
    """
    with inline_call(hooks, tool.name, meta) as ended:  # `meta`: the call's traceparent
        prepared = invoke.prepare(tool, arguments)
        if isinstance(prepared, ToolOutcome):
            ended("tool_error")
            return mcp2025.call_tool_result(prepared)
        ctx = TaskContext(backend(), tool_name=tool.name, task_id=None)
        try:
            outcome = await invoke.invoke(tool, prepared, ctx)
        except stops as exc:
            answer = None if stopped is None else stopped(exc)
            if answer is None:
                raise
            ended("input_required")  # an MRTR round: the client calls again with answers
            return answer
        if isinstance(outcome, ErrorOutcome):
            raise mcp2025.error_of(outcome)
        assert isinstance(outcome, ToolOutcome)
        ended("tool_error" if outcome.is_error else "completed")
        return mcp2025.call_tool_result(outcome)


def log_allowed(level: LogLevel, threshold: str | None) -> bool:
    """In 2026-07-28 a request opts in to log notifications with `_meta` logLevel."""
    if threshold is None:
        return False
    return mcp2025.LOG_LEVELS.index(level) >= mcp2025.LOG_LEVELS.index(threshold)


class InlineBackend:
    """The context backend of a tool called without a task: straight to this session.

    `log_level` is a 2026-07-28 request's own opt-in: "" (the default) means the
    session's `logging/setLevel`; None means no log notifications at all.
    """

    __slots__ = ("_level", "_session", "_token")

    def __init__(
        self, session: Session, token: str | int | None, *, log_level: str | None = ""
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
        except NoAnswerError:
            raise ToolError(f"the client can no longer answer {method}: it has gone") from None
        except JsonRpcError as exc:
            raise _input.refused(method, exc.to_json()) from None
