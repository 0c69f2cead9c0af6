"""The client as a task receiver: elicitation and sampling requests the server sends as tasks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ._logging import get_logger
from .engine import EngineConfig, TaskEngine
from .records import ErrorOutcome, Outcome, ResultOutcome, TaskRecord
from .sessions.tasks2025 import TaskMethods
from .stores.memory import MemoryStore
from .wire import mcp2025 as w
from .wire.jsonrpc import INTERNAL_ERROR, JsonRpcError, Reply, Request

log = get_logger("taskapp.client")

RequestHandlerFn = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ClientTasks:
    """Runs a client's handlers as tasks when the server asks for one (the seeds' flow).

    The server then polls `tasks/get` or blocks on `tasks/result`, served here by
    the same TaskMethods a server uses, on an engine of the client's own.
    """

    def __init__(self, handlers: dict[str, RequestHandlerFn]) -> None:
        self.engine = TaskEngine(MemoryStore(), EngineConfig())
        self.methods = TaskMethods(self.engine, owner=None, page_size=100)
        self._handlers = handlers

    def capabilities(self) -> dict[str, Any]:
        requests: dict[str, Any] = {}
        if "elicitation/create" in self._handlers:
            requests["elicitation"] = {"create": {}}
        if "sampling/createMessage" in self._handlers:
            requests["sampling"] = {"createMessage": {}}
        return {"list": {}, "cancel": {}, "requests": requests}

    async def create(self, request: Request, handler: RequestHandlerFn) -> Reply:
        params = {k: v for k, v in request.params.items() if k != "task"}
        ttl = (request.params.get("task") or {}).get("ttl")

        async def run(record: TaskRecord) -> Outcome:
            try:
                return ResultOutcome(await handler(params))
            except JsonRpcError as exc:
                return ErrorOutcome(exc.code, exc.message, exc.data)
            except Exception as exc:
                log.warning("handler failed", method=request.method, exc_info=exc)
                return ErrorOutcome(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")

        record, start = await self.engine.create_job(
            request.method, params, run, owner=None, ttl_ms=ttl if isinstance(ttl, int) else None
        )
        return Reply({"task": w.task_json(record)}, after_send=start)
