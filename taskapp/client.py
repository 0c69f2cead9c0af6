"""taskapp.Client: an MCP client for tests, scripts and the command line, in both dialects.

It talks to an app in memory (same process, real JSON-RPC), to a server started as a
subprocess over stdio, or to a Streamable HTTP endpoint; in MCP 2025-11-25 (initialize,
tasks the client asks for) or 2026-07-28 with the tasks extension (the server decides;
`_client_modern.py`), the one the server speaks when `dialect="auto"`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import IO, TYPE_CHECKING, Any, Literal

import anyio
from anyio.abc import Process

from ._client_connect import (
    Inbox,
    NotificationFn,
    ProgressHandler,
    RequestHandlerFn,
    StatusHandler,
    open_connection,
)
from ._client_modern import (
    LEGACY,
    MODERN,
    DetailedTask,
    Dialect,
    DialectError,
    ModernCalls,
    TaskCancelledError,
    TaskHandler,
)
from ._client_tasks import ClientTasks
from ._version import __version__
from .sessions.peer import Peer
from .wire import mcp2026
from .wire.mcp2025 import LATEST
from .wire.models import CallToolResult, CreateTaskResult, ListTasksResult, Task, ToolInfo

if TYPE_CHECKING:
    from .app import TaskApp
    from .transports.http_client import HttpClientChannel

DialectChoice = Literal["auto", "2026-07-28", "2025-11-25"]


class Client:
    """Connect with `async with Client(app) as client:` or `Client(["taskapp", "run", "x:app"])`.

    Args:
        target: A TaskApp (served in memory), a command that starts a stdio server, or
            the URL of a Streamable HTTP endpoint (`http://127.0.0.1:8000/mcp`).
        headers: HTTP headers for every request (e.g. `Authorization`), for URLs.
        elicitation_handler: Answers `elicitation/create`; declares the capability when given.
        sampling_handler: Answers `sampling/createMessage`; declares the capability when given.
        roots_handler: Answers `roots/list` (`{"roots": [{"uri": ...}]}`); declares them.
        status_handler: Called with each task status: each `notifications/tasks/status`
            in 2025-11-25; in 2026-07-28 each change seen while following a task.
        log_handler: Called with the params of each `notifications/message`.
        protocol_version: The version to ask for in `initialize` (2025-11-25 only).
        task_support: Declare that elicitation and sampling may be sent as tasks, and
            run them as tasks of the client's own when the server does so (2025-11-25).
        dialect: "auto" probes with `server/discover` and speaks 2026-07-28 when the server
            does, else `initialize`s; "2026-07-28" or "2025-11-25" forces one (`.dialect`).
        probe_timeout: Seconds the probe of "auto" waits before taking a silent server for
            a 2025-11-25 one (over stdio its startup counts; the official SDK waits 10 s).
        stderr: Where a command's server writes its stderr (a file, `subprocess.DEVNULL`).
    """

    def __init__(
        self,
        target: TaskApp | Sequence[str] | str,
        *,
        headers: Mapping[str, str] | None = None,
        elicitation_handler: RequestHandlerFn | None = None,
        sampling_handler: RequestHandlerFn | None = None,
        roots_handler: RequestHandlerFn | None = None,
        status_handler: StatusHandler | None = None,
        log_handler: NotificationFn | None = None,
        protocol_version: str = LATEST,
        client_name: str = "taskapp-client",
        task_support: bool = False,
        dialect: DialectChoice = "auto",
        probe_timeout: float = 10.0,
        stderr: int | IO[Any] | None = None,
    ) -> None:
        if dialect not in ("auto", MODERN, LEGACY):
            raise ValueError(f"dialect must be 'auto', {MODERN!r} or {LEGACY!r}, not {dialect!r}")
        self._target = target
        self._headers = headers
        asked = {"elicitation/create": elicitation_handler, "roots/list": roots_handler}
        asked["sampling/createMessage"] = sampling_handler
        self._handlers = {method: fn for method, fn in asked.items() if fn is not None}
        self._tasks = ClientTasks(self._handlers) if task_support and self._handlers else None
        self._asked_version = protocol_version
        self._client_name = client_name
        self._inbox = Inbox(self._handlers, self._tasks, status_handler, log_handler)
        self._stack = AsyncExitStack()
        self._peer: Peer | None = None
        self.process: Process | None = None
        self.server_info: dict[str, Any] = {}
        self.server_capabilities: dict[str, Any] = {}
        self.protocol_version: str | None = None
        self.instructions: str | None = None
        self._choice: DialectChoice = dialect
        self._probe_timeout = probe_timeout
        self._stderr = stderr
        self._http: HttpClientChannel | None = None
        #: The dialect spoken, once connected.
        self.dialect: Dialect | None = None
        self._modern = ModernCalls(
            self._raw, self._handlers, client_name=client_name, status_handler=status_handler
        )

    async def __aenter__(self) -> Client:
        try:
            tg = await self._stack.enter_async_context(anyio.create_task_group())
            self._stack.callback(tg.cancel_scope.cancel)
            if self._tasks is not None:
                await self._stack.enter_async_context(self._tasks.engine)
            modern, stderr = self._choice != LEGACY, self._stderr
            connection = await open_connection(
                self._target, self._stack, tg, self._headers, modern=modern, stderr=stderr
            )
            self.process, self._http = connection.process, connection.http
            self._modern.attach(connection.http, self.list_tools)
            channel = connection.channel
            self._peer = Peer(channel, self._inbox.on_request, self._inbox.on_notification)
            tg.start_soon(self._peer.run)
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _open(self) -> None:
        """Settle the dialect: the probe first unless 2025-11-25 is forced (spec:
        basic-versioning.mdx, "Backward Compatibility with Initialization-Based Versions")."""
        if self._choice == LEGACY:
            await self._initialize()
            return
        # Forced 2026 has nothing to fall back to: it waits for the answer, however slow.
        found = await self._modern.probe(self._probe_timeout if self._choice == "auto" else None)
        if found is None:
            if self._choice == MODERN:
                raise DialectError(
                    f"the server does not speak {MODERN} (server/discover failed or had no "
                    f"answer): connect with dialect='auto' or {LEGACY!r}"
                )
            if self._http is not None:
                self._http.speak_legacy()
            await self._initialize()
            return
        self.dialect = MODERN
        self.protocol_version = MODERN
        meta = found.get("_meta") or {}
        self.server_info = meta.get(mcp2026.SERVER_INFO) or {}
        self.server_capabilities = found.get("capabilities") or {}
        self.instructions = found.get("instructions")

    async def _initialize(self) -> None:
        capabilities = self._modern.capabilities(tasks=False)
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
        self.dialect = LEGACY
        self.protocol_version = result.get("protocolVersion")
        self.server_info = result.get("serverInfo", {})
        self.server_capabilities = result.get("capabilities", {})
        self.instructions = result.get("instructions")
        assert self._peer is not None
        self._peer.notify("notifications/initialized")

    # -- requests ----------------------------------------------------------------

    async def _raw(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._peer is None:
            raise RuntimeError("the client is not connected: use `async with Client(...)`")
        return await self._peer.request(method, params)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send any request; JsonRpcError if the server answers with an error.

        In 2026-07-28 the per-request `_meta` envelope (version, client info and
        capabilities, the tasks extension) is added to `params`."""
        if self.dialect == MODERN:
            return await self._modern.request(method, params)
        return await self._raw(method, params)

    def _legacy_only(self, method: str, instead: str) -> None:
        if self.dialect == MODERN:
            raise DialectError(
                f"{method} does not exist in {MODERN} (the tasks extension has no such "
                f"method): {instead}, or connect with dialect={LEGACY!r}"
            )

    async def ping(self) -> None:
        """`ping`; in 2026-07-28, which has none, a `server/discover`."""
        await self.request("server/discover" if self.dialect == MODERN else "ping")

    async def list_tools(self) -> list[ToolInfo]:
        tools: list[ToolInfo] = []
        cursor: str | None = None
        while True:
            page = await self.request("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(ToolInfo.model_validate(t) for t in page.get("tools", []))
            if (cursor := page.get("nextCursor")) is None:
                if self._http is None:
                    return tools
                self._http.learn([t.model_dump(by_alias=True) for t in tools])  # Mcp-Param-*
                return [tool for tool in tools if tool.name not in self._http.invalid_tools]

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        progress_handler: ProgressHandler | None = None,
        task: bool | None = None,
        ttl: int | None = None,
        on_task: TaskHandler | None = None,
    ) -> CallToolResult:
        """Call a tool and return its final result, however the server ran it.

        Args:
            task: 2025-11-25: True runs it as a task (the client asks), else inline.
                2026-07-28: the server decides when the client declares the tasks
                extension, which it does unless `task=False` (then the call is inline,
                or -32021 for a tool that runs only as a task). A task is followed to its
                end (`tasks/result` in 2025; `tasks/get` polls in 2026, with its
                questions answered by the handlers through `tasks/update`), and so are
                2026 InputRequiredResult rounds.
            ttl: How long to keep the task (ms), 2025-11-25 only.
            on_task: Called with the task as soon as the server made one; from then on
                the task is the caller's to cancel. Before (while the call that makes it
                is in flight) a cancelled caller does not lose it: it is cancelled.

        Raises:
            JsonRpcError: an error answer, or the task failed (TaskCancelledError when
                it was cancelled).
        """
        params = self._inbox.call_params(name, arguments, progress_handler)
        try:
            if self.dialect == MODERN:
                tasks = task is not False
                return await self._modern.call_tool(params, tasks=tasks, on_task=on_task)
            if not task:
                return CallToolResult.model_validate(await self.request("tools/call", params))
            created = await self._create_2025(params, ttl)
            if on_task is not None:
                await on_task(created.task)
            return await self.get_task_result(created.task.task_id)
        finally:
            self._inbox.drop_progress(params)

    async def start_task(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        ttl: int | None = None,
        progress_handler: ProgressHandler | None = None,
    ) -> Task | CallToolResult:
        """Start a tool as a task and return it, without waiting for its end.

        In 2026-07-28 the server decides: a tool it runs inline gives its result here
        (after any InputRequiredResult rounds), not a task. Follow a task with
        `wait_task`, `poll_task` or `get_task`, and stop it with `cancel_task`."""
        if self.dialect == MODERN:
            params = self._inbox.call_params(name, arguments, progress_handler)
            try:
                return await self._modern.start(params, tasks=True)
            finally:
                self._inbox.drop_progress(params)
        created = await self.call_tool_as_task(
            name, arguments, ttl=ttl, progress_handler=progress_handler
        )
        return created.task

    async def wait_task(self, task_id: str) -> CallToolResult:
        """Wait for a task's end and return its result; its questions go to the handlers.

        2025-11-25 blocks on `tasks/result`; 2026-07-28 polls `tasks/get` at the task's
        `pollIntervalMs` and answers `inputRequests` with `tasks/update`.

        Raises:
            JsonRpcError: the task failed (TaskCancelledError when it was cancelled).
        """
        if self.dialect == MODERN:
            return await self._modern.wait(task_id)
        return await self.get_task_result(task_id)

    async def call_tool_as_task(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        ttl: int | None = None,
        progress_handler: ProgressHandler | None = None,
    ) -> CreateTaskResult:
        """Start a tool as a task (2025-11-25); progress keeps coming to `progress_handler`
        until it ends. In 2026-07-28 use `start_task` (the server decides)."""
        self._legacy_only("tools/call with `task`", "use start_task(), where the server decides")
        params = self._inbox.call_params(name, arguments, progress_handler)
        try:
            return await self._create_2025(params, ttl)
        except BaseException:
            self._inbox.drop_progress(params)
            raise

    async def _create_2025(self, params: dict[str, Any], ttl: int | None) -> CreateTaskResult:
        params["task"] = {} if ttl is None else {"ttl": ttl}
        # Shielded: a caller cancelled now still learns the id of the task to cancel (a
        # 2025 server answers at once: the task runs after the answer).
        with anyio.CancelScope(shield=True):
            created = CreateTaskResult.model_validate(await self.request("tools/call", params))
        token = params.get("_meta", {}).get("progressToken")
        if token is not None:
            self._inbox.task_tokens[created.task.task_id] = token
        return created

    async def get_task(self, task_id: str) -> Task:
        """The task now; in 2026-07-28 a DetailedTask, with its result, error or questions."""
        if self.dialect == MODERN:
            return await self._modern.get_task(task_id)
        return Task.model_validate(await self.request("tasks/get", {"taskId": task_id}))

    async def update_task(self, task_id: str, input_responses: dict[str, Any]) -> None:
        """Answer a 2026 task's `inputRequests` by key (`tasks/update`); `wait_task` does
        this with the handlers. In 2025-11-25 questions come as requests instead."""
        if self.dialect != MODERN:
            raise DialectError(
                f"tasks/update exists only in {MODERN}: in {LEGACY} the server sends its "
                "questions as requests, answered by elicitation_handler / sampling_handler"
            )
        await self._modern.update_task(task_id, input_responses)

    async def get_task_result(self, task_id: str) -> CallToolResult:
        """Block until the task ends and return its result (`tasks/result`, 2025-11-25)."""
        self._legacy_only("tasks/result", "use wait_task(), which polls tasks/get")
        try:
            result = await self.request("tasks/result", {"taskId": task_id})
        finally:
            self._inbox.task_ended(task_id)
        return CallToolResult.model_validate(result)

    async def list_tasks(self, cursor: str | None = None) -> ListTasksResult:
        """`tasks/list` (2025-11-25 only: 2026 tasks are found by the ids their client kept)."""
        self._legacy_only("tasks/list", "keep the ids that start_task() returns")
        params = {"cursor": cursor} if cursor is not None else {}
        return ListTasksResult.model_validate(await self.request("tasks/list", params))

    async def cancel_task(self, task_id: str) -> Task:
        """Cancel a task and return it as it is then: in 2026-07-28 the cancel is only an
        acknowledgement, so the task may still show `working` for a moment."""
        if self.dialect == MODERN:
            return await self._modern.cancel_task(task_id)
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
        """`logging/setLevel`; in 2026-07-28 the level goes in every later request's `_meta`."""
        if self.dialect == MODERN:
            self._modern.log_level = level
            return
        await self.request("logging/setLevel", {"level": level})


__all__ = (
    "CallToolResult",
    "Client",
    "CreateTaskResult",
    "DetailedTask",
    "DialectError",
    "ListTasksResult",
    "Task",
    "TaskCancelledError",
    "ToolInfo",
)
