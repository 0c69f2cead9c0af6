"""What every session has, whatever its dialect: the client, its peer, and what goes to it.

A session is the engine's `TaskObserver` for the tasks it creates, sends the client
notifications, and asks the client questions (elicitation, sampling) over its peer.
"""

from __future__ import annotations

from typing import Any

import anyio

from ..context import LogLevel
from ..engine import TaskEngine
from ..records import TaskRecord
from ..wire import mcp2025 as w
from ..wire.jsonrpc import JsonRpcError
from .peer import Peer
from .spec import ServerSpec


class Session:
    """One client's connection: its peer, what it declared, and what it is sent."""

    def __init__(self, spec: ServerSpec, engine: TaskEngine, *, owner: str | None) -> None:
        self.spec = spec
        self.engine = engine
        self.owner = owner
        self.signer = spec.state_signer
        self.peer: Peer | None = None
        self.protocol_version: str | None = None
        self.client_capabilities: dict[str, Any] = {}
        self.client_info: dict[str, Any] = {}
        self.log_level = "info"
        self.progress_tokens: dict[str, str | int] = {}

    @property
    def tasks_enabled(self) -> bool:
        return self.protocol_version == w.LATEST

    # -- TaskObserver: what the engine tells this session ----------------------

    def on_status(self, record: TaskRecord) -> None:
        if record.terminal:
            self.progress_tokens.pop(record.task_id, None)  # S-37: no progress after the end
        if self.peer is not None:
            self.peer.notify("notifications/tasks/status", w.task_json(record))

    def on_progress(
        self, task_id: str, progress: float, total: float | None, message: str | None
    ) -> None:
        token = self.progress_tokens.get(task_id)
        if token is not None:
            self.send_progress(token, progress, total, message, meta=w.related(task_id))

    def on_log(self, task_id: str, level: LogLevel, data: Any, logger: str | None) -> None:
        self.send_log(level, data, logger, meta=w.related(task_id))

    # -- to the client ---------------------------------------------------------

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

    async def deliver(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Deliver a task's queued question; None if the client went away first."""
        try:
            return {"result": await self.ask_client(method, params)}
        except JsonRpcError as exc:
            if self.peer is None or self.peer.closed.is_set():
                return None
            return {"error": exc.to_json()}
