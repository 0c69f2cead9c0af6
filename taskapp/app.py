"""TaskApp: the registry of tools, and the entry points that serve them."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from . import observe
from ._logging import ensure_stderr_logging, get_logger
from ._loop import EventLoop, backend_options, loop_name, settle_gc
from ._worker import work_until_signalled
from .auth import Auth, TokenVerifier, as_auth
from .engine import DEFAULT_TTL_MS, MAX_TTL_MS, POLL_INTERVAL_MS, EngineConfig, TaskEngine, fleet
from .errors import RegistrationError
from .sessions.channel import Channel
from .sessions.peer import Peer
from .sessions.replay import StateSigner
from .sessions.server import ServerSession
from .sessions.spec import ServerSpec
from .stores import TaskStore, open_store
from .tools import OnInterrupt, ToolDef, ToolSpec, build_tool, spec_of
from .transports.lines import DEFAULT_MAX_MESSAGE_BYTES
from .transports.stdio import FdChannel, private_stdout, serve_stdio
from .wire.jsonrpc import INVALID_PARAMS, JsonRpcError
from .wire.mcp2025 import tool_json

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider
    from starlette.applications import Starlette

    from .transports.http_limits import HttpLimits

log = get_logger("taskapp")
FnT = TypeVar("FnT", bound=Callable[..., Awaitable[Any]])
_TOOL_CURSOR = "t1:"


class TaskApp:
    """An MCP server made of async functions.

    Args:
        name: The server name shown to clients.
        version: The server version shown to clients.
        instructions: Optional text that tells clients (and their models) how to use the server.
        store: A TaskStore, a store URL (`memory://`), or None for a MemoryStore.
        tools: Functions to register, each marked with `taskapp.task_tool` or plain.
        default_ttl_ms: The TTL of a task whose client asks for none; None for unlimited.
        max_ttl_ms: The largest TTL granted; larger requests are lowered to it.
        poll_interval_ms: The `pollInterval` suggested to clients.
        page_size: Items per page of `tools/list` and `tasks/list`.
        lease_s: How long a running task stays vouched for without renewal; tasks of a
            process that died are recovered this long after it died.
        store_retry_s: How long a task's final write (its result, its terminal status)
            is retried through a store outage, at most (docs/deploy.md, "Store outages").
        max_tasks_per_owner: Unfinished tasks one requestor may have at once (per process);
            a task-augmented call beyond it gets JSON-RPC error -32000.
        executor: "local" runs tasks in this process; "queue" hands them to worker
            processes (`taskapp worker`) through the store's work queue (Redis).
        auth: A TokenVerifier (or `taskapp.auth.Auth`) for the HTTP transport; tasks are
            then bound to the caller's principal.
        state_secret: The key that signs the `requestState` of 2026-07-28 inline calls
            that ask the client something. Default: `$TASKAPP_STATE_SECRET`, else a
            random key per process (then a client's retry must reach the same process).
        max_message_bytes: The largest message accepted: a stdio line, an HTTP POST body
            (HTTP 413 beyond, refused while it streams in).
        eof_grace_s: stdio: once stdin closes, how long the requests already read may
            take to be answered before they are cancelled.
        max_step_bytes: The largest result one `ctx.step` may store, as JSON.
        max_steps: The most steps one task may store (docs/reliable.md).
        metrics: Prometheus metrics: True, a port, "HOST:PORT", "/PATH" (docs/observability.md).
        tracing: OpenTelemetry spans: True, a TracerProvider, False, or None (auto).
    """

    def __init__(
        self,
        name: str,
        *,
        version: str = "0.1.0",
        instructions: str | None = None,
        store: TaskStore | str | None = None,
        tools: Iterable[Callable[..., Awaitable[Any]]] = (),
        default_ttl_ms: int | None = DEFAULT_TTL_MS,
        max_ttl_ms: int | None = MAX_TTL_MS,
        poll_interval_ms: int = POLL_INTERVAL_MS,
        page_size: int = 100,
        lease_s: float = 30.0,
        store_retry_s: float = 300.0,
        max_tasks_per_owner: int | None = None,
        executor: Literal["local", "queue"] = "local",
        auth: Auth | TokenVerifier | None = None,
        state_secret: str | bytes | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        eof_grace_s: float = 5.0,
        max_step_bytes: int = 1_048_576,
        max_steps: int = 1000,
        metrics: bool | int | str = False,
        tracing: bool | TracerProvider | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.instructions = instructions
        self.store = store
        self.page_size = page_size
        self.auth = as_auth(auth)
        self.state_signer = StateSigner(state_secret)
        self.max_message_bytes = max_message_bytes
        #: stdio: how long requests already read may take to be answered once stdin closes.
        self.eof_grace_s = eof_grace_s
        self.observing = observe.Observing(metrics, tracing)
        self.config = EngineConfig(
            default_ttl_ms=default_ttl_ms,
            max_ttl_ms=max_ttl_ms,
            poll_interval_ms=poll_interval_ms,
            lease_s=lease_s,
            store_retry_s=store_retry_s,
            max_tasks_per_owner=max_tasks_per_owner,
            executor=executor,
            recover=executor == "local",
            max_step_bytes=max_step_bytes,
            max_steps=max_steps,
        )
        self.tools: dict[str, ToolDef] = {}
        self._tool_pages: dict[bool, list[dict[str, Any]]] = {}
        for fn in tools:
            self.add_tool(fn)

    # -- registration ----------------------------------------------------------

    def add_tool(self, fn: Callable[..., Awaitable[Any]], spec: ToolSpec | None = None) -> ToolDef:
        """Register a function as a tool, using the metadata its decorator attached (if any)."""
        tool = build_tool(fn, spec or spec_of(fn) or ToolSpec())
        if tool.name in self.tools:
            raise RegistrationError(
                f"a tool named {tool.name!r} is already registered; give one of them "
                "another name with name='...'"
            )
        self.tools[tool.name] = tool
        self._tool_pages.clear()
        return tool

    def tool(
        self,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: dict[str, Any] | None = None,
    ) -> Callable[[FnT], FnT]:
        """Register an ordinary tool (never a task: `taskSupport` is "forbidden")."""
        spec = ToolSpec("forbidden", name, title, description, "fail", annotations)
        return self._registrar(spec)

    def task_tool(
        self,
        *,
        mode: Literal["optional", "required"] = "optional",
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        on_interrupt: OnInterrupt = "fail",
        annotations: dict[str, Any] | None = None,
        retries: int = 0,
        retry_backoff: float = 1.0,
        timeout: float | None = None,
        dedupe_for: float | None = None,
        inline_for: float | None = None,
    ) -> Callable[[FnT], FnT]:
        """Register a tool that runs as an MCP task: "required" (only as a task) or "optional".

        Args:
            inline_for: Seconds (`math.inf` allowed) a 2026-07-28 call runs in the request
                before it becomes a task; it becomes one sooner at `ctx.continue_as_task()`
                (docs/tools.md, "When a call becomes a task"). None: a task from the start.
            on_interrupt: "rerun" runs the task again (skipping its finished `ctx.step`s)
                when its process died; "fail" ends it failed.
            retries: Runs again after an exception other than `ToolError` (or a timeout),
                up to this many times, `retry_backoff` x 2^(n-1) seconds apart (+-25%).
            timeout: Seconds an attempt may run (time in `input_required` not counted).
            dedupe_for: Seconds during which the same call (same principal, tool and
                arguments) returns the task the first one started, unless it failed or
                was cancelled. Only for calls with an owner (an authenticated principal).
        """
        spec = ToolSpec(
            mode, name, title, description, on_interrupt, annotations,
            retries=retries, retry_backoff=retry_backoff, timeout=timeout,
            dedupe_for=dedupe_for, inline_for=inline_for,
        )  # fmt: skip
        return self._registrar(spec)

    def _registrar(self, spec: ToolSpec) -> Callable[[FnT], FnT]:
        def register(fn: FnT) -> FnT:
            self.add_tool(fn, spec)
            return fn

        return register

    def tools_page(self, cursor: str | None, *, with_tasks: bool) -> dict[str, Any]:
        """One page of `tools/list`; the JSON of every tool is built once."""
        tools = self._tool_pages.get(with_tasks)
        if tools is None:
            tools = [tool_json(t, with_tasks=with_tasks) for t in self.tools.values()]
            self._tool_pages[with_tasks] = tools
        start = _decode_offset(cursor)
        end = start + self.page_size
        result: dict[str, Any] = {"tools": tools[start:end]}
        if end < len(tools):
            result["nextCursor"] = base64.urlsafe_b64encode(
                f"{_TOOL_CURSOR}{end}".encode()
            ).decode()
        return result

    # -- serving ---------------------------------------------------------------

    def spec(self) -> ServerSpec:
        """The frozen description of this server that its sessions and transports get
        (they never see the app itself)."""
        return ServerSpec(
            name=self.name,
            version=self.version,
            instructions=self.instructions,
            tools=self.tools,
            tools_page=self.tools_page,
            page_size=self.page_size,
            state_signer=self.state_signer,
            auth=self.auth,
            running=self.running,
            max_message_bytes=self.max_message_bytes,
        )

    @asynccontextmanager
    async def running(self, store: TaskStore | str | None = None) -> AsyncIterator[TaskEngine]:
        """Start the engine (and its store) for as long as the block lasts."""
        store_object = self._resolve_store(store)
        if self.config.executor == "queue":
            fleet.work_queue(store_object)
        engine = TaskEngine(store_object, self.config, self.tools, self.observing.hooks())
        async with engine, self.observing.serving():
            yield engine

    def _resolve_store(self, store: TaskStore | str | None) -> TaskStore:
        # `is not None`, not truth: an empty store is falsy (it has a length).
        chosen = store if store is not None else self.store
        return open_store(chosen if chosen is not None else os.environ.get("TASKAPP_STORE"))

    async def serve_channel(
        self, channel: Channel, engine: TaskEngine, *, owner: str | None = None
    ) -> None:
        """Serve one client over `channel` until it ends. Its tasks belong to `owner`."""
        session = ServerSession(self.spec(), engine, owner=owner)
        await session.serve(lambda s: Peer(channel, s.on_request, s.on_notification))

    async def run_stdio_async(self, store: TaskStore | str | None = None) -> None:
        """Serve one client on stdin/stdout until stdin closes. Then the running tasks
        are interrupted, and the requests already read have `eof_grace_s` to be answered.

        While serving, stdout (descriptor 1 and `sys.stdout`) goes to stderr: only the
        protocol writes to the real stdout (`transports.stdio.private_stdout`).
        """
        ensure_stderr_logging()
        with private_stdout() as protocol_fd:
            channel = FdChannel(0, protocol_fd, max_message_bytes=self.max_message_bytes)
            try:
                async with self.running(store) as engine:
                    settle_gc()
                    log.info("serving on stdio", app=self.name, loop=loop_name())
                    await serve_stdio(self.spec(), engine, channel, self.eof_grace_s)
            finally:
                await channel.aclose()

    def http_app(
        self, *, path: str = "/mcp", allowed_origins: Sequence[str] = (),
        allowed_hosts: Sequence[str] | None = None, limits: HttpLimits | None = None,
        strict_headers: bool = False,
    ) -> Starlette:  # fmt: skip
        """An ASGI app serving Streamable HTTP at `path`, to run or mount.

        Its lifespan starts the engine: when mounting it in another app, enter
        `http_app.router.lifespan_context(http_app)` in the parent's lifespan.
        `allowed_hosts`: the `Host` values served (default: loopback names only; list
        your public names, or "*"). `limits`: session expiry and caps, read timeouts.
        `strict_headers`: refuse a 2026 `tasks/get`, `tasks/update` or `tasks/cancel`
        without `Mcp-Name` too (-32020; accepted by default, docs/protocol.md).
        """
        from .transports.http import HttpTransport

        return HttpTransport(
            self.spec(), path=path, allowed_origins=allowed_origins,
            allowed_hosts=allowed_hosts, limits=limits, strict_headers=strict_headers,
            metrics=self.observing.http_route(),
        ).asgi()  # fmt: skip

    def run(
        self,
        transport: Literal["stdio", "http"] = "stdio",
        *,
        store: TaskStore | str | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
        path: str = "/mcp",
        allowed_origins: Sequence[str] = (),
        executor: Literal["local", "queue"] | None = None,
        loop: EventLoop = "auto",
        allowed_hosts: Sequence[str] | None = None,
        http_limits: HttpLimits | None = None,
        strict_headers: bool = False,
    ) -> None:
        """Serve until the client goes away (stdio) or SIGINT/SIGTERM (http). Blocking.

        `loop`: "auto" runs on uvloop when it is installed (`pip install 'taskapp[uvloop]'`),
        as uvicorn does; "asyncio" or "uvloop" to choose. `allowed_hosts` (default:
        loopback names and `host`), `http_limits` and `strict_headers` as for `http_app`.
        """
        options = backend_options(loop)  # a missing uvloop is refused before anything starts
        if store is not None:
            self.store = store
        if executor is not None:
            self.config = replace(self.config, executor=executor, recover=executor == "local")
        if self.config.executor == "queue":  # refused here, not in the HTTP server's startup
            fleet.work_queue(self._resolve_store(None))
        if transport == "stdio":
            anyio.run(self.run_stdio_async, backend_options=options)
        elif transport == "http":
            from .transports.http import serve_http

            ensure_stderr_logging()
            serve_http(
                self.spec(), host=host, port=port, path=path, allowed_origins=allowed_origins,
                allowed_hosts=allowed_hosts, limits=http_limits,
                loop="uvloop" if options else "asyncio", strict_headers=strict_headers,
                metrics=self.observing.http_route(),
            )  # fmt: skip
        else:
            raise ValueError(f"unknown transport {transport!r}: use 'stdio' or 'http'")

    async def work_async(
        self, store: TaskStore | str | None = None, *, concurrency: int = 16, grace_s: float = 30
    ) -> None:
        """Run queued tasks until SIGINT/SIGTERM; then take no more, let the running ones
        finish for up to `grace_s`, and interrupt the rest (re-runnable ones stay queued
        for other workers through their leases)."""
        ensure_stderr_logging()
        self.config = replace(self.config, executor="local", recover=True)
        store_object = self._resolve_store(store)
        fleet.work_queue(store_object)  # refused before anything starts
        async with self.running(store_object) as engine:
            await work_until_signalled(engine, concurrency, grace_s)

    def work(
        self,
        *,
        store: TaskStore | str | None = None,
        concurrency: int = 16,
        grace_s: float = 30,
        loop: EventLoop = "auto",
    ) -> None:
        """Be a worker: run tasks handed over by instances with executor "queue". Blocking.

        `loop` as for `run`."""
        anyio.run(
            partial(self.work_async, store, concurrency=concurrency, grace_s=grace_s),
            backend_options=backend_options(loop),
        )


def _decode_offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith(_TOOL_CURSOR):
            raise ValueError(text)
        offset = int(text.removeprefix(_TOOL_CURSOR))
        if offset < 0:
            raise ValueError(text)
    except ValueError:
        raise JsonRpcError(INVALID_PARAMS, f"Invalid cursor: {cursor!r}") from None
    return offset
