"""How a Client reaches its server (an app in memory, a stdio subprocess, an HTTP URL),
and what it does with what the server sends it."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import Process, TaskGroup

from ._client_tasks import ClientTasks
from .engine.maybe import settled
from .sessions.channel import Channel
from .transports.lines import StreamChannel
from .transports.memory import memory_pair
from .wire.jsonrpc import METHOD_NOT_FOUND, JsonRpcError, Reply, Request
from .wire.models import Task

if TYPE_CHECKING:
    from .app import TaskApp
    from .transports.http_client import HttpClientChannel

ProgressHandler = Callable[[float, float | None, str | None], Awaitable[None]]
RequestHandlerFn = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
NotificationFn = Callable[[dict[str, Any]], Awaitable[None]]
StatusHandler = Callable[[Task], Awaitable[None]]


class Connection:
    """The channel to the server, and what the Client may need of the transport."""

    def __init__(
        self,
        channel: Channel,
        *,
        process: Process | None = None,
        http: HttpClientChannel | None = None,
    ) -> None:
        self.channel = channel
        self.process = process
        self.http = http


async def open_connection(
    target: TaskApp | Sequence[str] | str,
    stack: AsyncExitStack,
    tg: TaskGroup,
    headers: Mapping[str, str] | None,
    *,
    modern: bool,
) -> Connection:
    """Open the channel; what must be closed at the end goes on `stack`. `modern` is the
    first dialect tried over HTTP (its requests then carry the 2026 headers)."""
    from .app import TaskApp

    if isinstance(target, TaskApp):
        engine = await stack.enter_async_context(target.running())
        ours, theirs = memory_pair()
        tg.start_soon(target.serve_channel, theirs, engine)
        stack.push_async_callback(ours.aclose)
        stack.push_async_callback(theirs.aclose)
        return Connection(ours)
    if isinstance(target, str):
        if not target.startswith(("http://", "https://")):
            raise ValueError(f"{target!r} is not an http(s) URL; pass a command as a list")
        from .transports.http_client import HttpClientChannel

        http = HttpClientChannel(target, tg, headers)
        http.modern = modern
        stack.push_async_callback(http.aclose)
        return Connection(http, http=http)
    # A session of its own: a Ctrl-C at the terminal reaches us, and we cancel our
    # tasks before the server goes; the server is not hit by the same signal.
    process = await anyio.open_process(list(target), stderr=None, start_new_session=True)
    stack.push_async_callback(stop_process, process)
    assert process.stdin is not None
    assert process.stdout is not None
    return Connection(StreamChannel(process.stdout, process.stdin), process=process)


async def stop_process(process: Process) -> None:
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


class Inbox:
    """What the server sends a client: requests for its handlers (and, in 2025-11-25, for
    its own tasks), progress by token, task statuses and logs."""

    def __init__(
        self,
        handlers: dict[str, RequestHandlerFn],
        tasks: ClientTasks | None,
        status_handler: StatusHandler | None,
        log_handler: NotificationFn | None,
    ) -> None:
        self._handlers = handlers
        self._tasks = tasks
        self._status_handler = status_handler
        self._log_handler = log_handler
        self.progress: dict[str | int, ProgressHandler] = {}
        self.task_tokens: dict[str, str | int] = {}
        self._tokens = itertools.count(1)

    def call_params(
        self, name: str, arguments: dict[str, Any] | None, progress: ProgressHandler | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
        if progress is not None:
            token = f"taskapp-{next(self._tokens)}"
            self.progress[token] = progress
            params["_meta"] = {"progressToken": token}
        return params

    def drop_progress(self, params: dict[str, Any]) -> None:
        token = params.get("_meta", {}).get("progressToken")
        if token is not None:
            self.progress.pop(token, None)

    def task_ended(self, task_id: str) -> None:
        token = self.task_tokens.pop(task_id, None)
        if token is not None:
            self.progress.pop(token, None)

    async def on_request(self, request: Request) -> dict[str, Any] | Reply:
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

    async def on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "notifications/progress":
            handler = self.progress.get(params.get("progressToken", ""))
            if handler is not None:
                await handler(params.get("progress", 0), params.get("total"), params.get("message"))
        elif method == "notifications/tasks/status":
            task = Task.model_validate(params)
            if task.terminal:
                self.task_ended(task.task_id)
            if self._status_handler is not None:
                await self._status_handler(task)
        elif method == "notifications/message" and self._log_handler is not None:
            await self._log_handler(params)
