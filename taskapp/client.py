"""taskapp.Client: an MCP 2025-11-25 client for tests, scripts and the command line.

It talks to an app in memory (same process, real JSON-RPC) or to a server
started as a subprocess over stdio.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import Process

from ._client_tasks import ClientTasks
from ._version import __version__
from .engine.maybe import settled
from .sessions.channel import Channel
from .sessions.peer import Peer
from .transports.lines import StreamChannel
from .transports.memory import memory_pair
from .wire.jsonrpc import METHOD_NOT_FOUND, JsonRpcError, Reply, Request
from .wire.mcp2025 import LATEST
from .wire.models import CallToolResult, CreateTaskResult, ListTasksResult, Task, ToolInfo

if TYPE_CHECKING:
    from .app import TaskApp

ProgressHandler = Callable[[float, float | None, str | None], Awaitable[None]]
RequestHandlerFn = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
NotificationFn = Callable[[dict[str, Any]], Awaitable[None]]
StatusHandler = Callable[[Task], Awaitable[None]]


class Client:
    """Connect with `async with Client(app) as client:` or `Client(["taskapp", "run", "x:app"])`.

    Args:
        target: A TaskApp (served in memory), a command that starts a stdio server, or
            the URL of a Streamable HTTP endpoint (`http://127.0.0.1:8000/mcp`).
        headers: HTTP headers for every request (e.g. `Authorization`), for URLs.
        elicitation_handler: Answers `elicitation/create`; declares the capability when given.
        sampling_handler: Answers `sampling/createMessage`; declares the capability when given.
        status_handler: Called with each `notifications/tasks/status`.
        log_handler: Called with the params of each `notifications/message`.
        protocol_version: The version to ask for in `initialize`.
        task_support: Declare that elicitation and sampling may be sent as tasks, and
            run them as tasks of the client's own when the server does so.
    """

    def __init__(
        self,
        target: TaskApp | Sequence[str] | str,
        *,
        headers: Mapping[str, str] | None = None,
        elicitation_handler: RequestHandlerFn | None = None,
        sampling_handler: RequestHandlerFn | None = None,
        status_handler: StatusHandler | None = None,
        log_handler: NotificationFn | None = None,
        protocol_version: str = LATEST,
        client_name: str = "taskapp-client",
        task_support: bool = False,
    ) -> None:
        self._target = target
        self._headers = headers
        self._handlers: dict[str, RequestHandlerFn] = {}
        if elicitation_handler is not None:
            self._handlers["elicitation/create"] = elicitation_handler
        if sampling_handler is not None:
            self._handlers["sampling/createMessage"] = sampling_handler
        self._tasks = ClientTasks(self._handlers) if task_support and self._handlers else None
        self._status_handler = status_handler
        self._log_handler = log_handler
        self._asked_version = protocol_version
        self._client_name = client_name
        self._progress: dict[str | int, ProgressHandler] = {}
        self._task_tokens: dict[str, str | int] = {}
        self._tokens = itertools.count(1)
        self._stack = AsyncExitStack()
        self._peer: Peer | None = None
        self.process: Process | None = None
        self.server_info: dict[str, Any] = {}
        self.server_capabilities: dict[str, Any] = {}
        self.protocol_version: str | None = None
        self.instructions: str | None = None

    async def __aenter__(self) -> Client:
        try:
            tg = await self._stack.enter_async_context(anyio.create_task_group())
            self._stack.callback(tg.cancel_scope.cancel)
            if self._tasks is not None:
                await self._stack.enter_async_context(self._tasks.engine)
            channel = await self._connect(tg)
            self._peer = Peer(channel, self._on_request, self._on_notification)
            tg.start_soon(self._peer.run)
            await self._initialize()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _connect(self, tg: anyio.abc.TaskGroup) -> Channel:
        from .app import TaskApp

        if isinstance(self._target, TaskApp):
            app = self._target
            engine = await self._stack.enter_async_context(app.running())
            ours, theirs = memory_pair()
            tg.start_soon(app.serve_channel, theirs, engine)
            self._stack.push_async_callback(ours.aclose)
            self._stack.push_async_callback(theirs.aclose)
            return ours
        if isinstance(self._target, str):
            if not self._target.startswith(("http://", "https://")):
                raise ValueError(
                    f"{self._target!r} is not an http(s) URL; pass a command as a list"
                )
            from .transports.http_client import HttpClientChannel

            http = HttpClientChannel(self._target, tg, self._headers)
            self._stack.push_async_callback(http.aclose)
            return http
        # A session of its own: a Ctrl-C at the terminal reaches us, and we cancel our
        # tasks before the server goes; the server is not hit by the same signal.
        process = await anyio.open_process(list(self._target), stderr=None, start_new_session=True)
        self.process = process
        self._stack.push_async_callback(_stop_process, process)
        assert process.stdin is not None
        assert process.stdout is not None
        return StreamChannel(process.stdout, process.stdin)

    async def _initialize(self) -> None:
        capabilities: dict[str, Any] = {}
        if "elicitation/create" in self._handlers:
            capabilities["elicitation"] = {"form": {}, "url": {}}
        if "sampling/createMessage" in self._handlers:
            capabilities["sampling"] = {}
        if self._tasks is not None:
            capabilities["tasks"] = self._tasks.capabilities()
        result = await self.request(
            "initialize",
            {
                "protocolVersion": self._asked_version,
                "capabilities": capabilities,
                "clientInfo": {"name": self._client_name, "version": __version__},
            },
        )
        self.protocol_version = result.get("protocolVersion")
        self.server_info = result.get("serverInfo", {})
        self.server_capabilities = result.get("capabilities", {})
        self.instructions = result.get("instructions")
        assert self._peer is not None
        self._peer.notify("notifications/initialized")

    # -- requests ----------------------------------------------------------------

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send any request; JsonRpcError if the server answers with an error."""
        if self._peer is None:
            raise RuntimeError("the client is not connected: use `async with Client(...)`")
        return await self._peer.request(method, params)

    async def ping(self) -> None:
        await self.request("ping")

    async def list_tools(self) -> list[ToolInfo]:
        tools: list[ToolInfo] = []
        cursor: str | None = None
        while True:
            page = await self.request("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(ToolInfo.model_validate(t) for t in page.get("tools", []))
            cursor = page.get("nextCursor")
            if cursor is None:
                return tools

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        progress_handler: ProgressHandler | None = None,
    ) -> CallToolResult:
        """Call a tool and wait for its result (no task)."""
        params = self._call_params(name, arguments, progress_handler)
        try:
            return CallToolResult.model_validate(await self.request("tools/call", params))
        finally:
            self._drop_progress(params)

    async def call_tool_as_task(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        ttl: int | None = None,
        progress_handler: ProgressHandler | None = None,
    ) -> CreateTaskResult:
        """Start a tool as a task; progress keeps coming to `progress_handler` until it ends."""
        params = self._call_params(name, arguments, progress_handler)
        params["task"] = {} if ttl is None else {"ttl": ttl}
        try:
            created = CreateTaskResult.model_validate(await self.request("tools/call", params))
        except BaseException:
            self._drop_progress(params)
            raise
        token = params.get("_meta", {}).get("progressToken")
        if token is not None:
            self._task_tokens[created.task.task_id] = token
        return created

    async def get_task(self, task_id: str) -> Task:
        return Task.model_validate(await self.request("tasks/get", {"taskId": task_id}))

    async def get_task_result(self, task_id: str) -> CallToolResult:
        """Block until the task ends and return its result (`tasks/result`)."""
        try:
            result = await self.request("tasks/result", {"taskId": task_id})
        finally:
            self._task_ended(task_id)
        return CallToolResult.model_validate(result)

    async def list_tasks(self, cursor: str | None = None) -> ListTasksResult:
        params = {"cursor": cursor} if cursor is not None else {}
        return ListTasksResult.model_validate(await self.request("tasks/list", params))

    async def cancel_task(self, task_id: str) -> Task:
        return Task.model_validate(await self.request("tasks/cancel", {"taskId": task_id}))

    async def poll_task(self, task_id: str) -> AsyncIterator[Task]:
        """Yield the task at each poll until it ends, sleeping `pollInterval` between polls."""
        while True:
            task = await self.get_task(task_id)
            yield task
            if task.terminal:
                return
            await anyio.sleep((task.poll_interval or 500) / 1000)

    async def set_logging_level(self, level: str) -> None:
        await self.request("logging/setLevel", {"level": level})

    def _call_params(
        self, name: str, arguments: dict[str, Any] | None, progress: ProgressHandler | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
        if progress is not None:
            token = f"taskapp-{next(self._tokens)}"
            self._progress[token] = progress
            params["_meta"] = {"progressToken": token}
        return params

    def _drop_progress(self, params: dict[str, Any]) -> None:
        token = params.get("_meta", {}).get("progressToken")
        if token is not None:
            self._progress.pop(token, None)

    def _task_ended(self, task_id: str) -> None:
        token = self._task_tokens.pop(task_id, None)
        if token is not None:
            self._progress.pop(token, None)

    # -- what the server sends us ---------------------------------------------------

    async def _on_request(self, request: Request) -> dict[str, Any] | Reply:
        if request.method == "ping":
            return {}
        if self._tasks is not None:
            task_method = self._tasks.methods.handlers().get(request.method)
            if task_method is not None:
                return await settled(task_method(request))
        handler = self._handlers.get(request.method)
        if handler is None:
            raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {request.method}")
        if self._tasks is not None and "task" in request.params:
            return await self._tasks.create(request, handler)
        return await handler(request.params)

    async def _on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "notifications/progress":
            handler = self._progress.get(params.get("progressToken", ""))
            if handler is not None:
                await handler(params.get("progress", 0), params.get("total"), params.get("message"))
        elif method == "notifications/tasks/status":
            task = Task.model_validate(params)
            if task.terminal:
                self._task_ended(task.task_id)
            if self._status_handler is not None:
                await self._status_handler(task)
        elif method == "notifications/message" and self._log_handler is not None:
            await self._log_handler(params)


async def _stop_process(process: Process) -> None:
    """Close the server's stdin and give it a moment to exit by itself, then make it."""
    with anyio.CancelScope(shield=True):
        if process.stdin is not None:
            await process.stdin.aclose()
        with anyio.move_on_after(5):
            await process.wait()
            return
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(2):
                await process.wait()
                return
            process.kill()
            await process.wait()


__all__ = ("CallToolResult", "Client", "CreateTaskResult", "ListTasksResult", "Task", "ToolInfo")
