"""The MCP Streamable HTTP transport, as an ASGI app (Starlette).

One endpoint (`/mcp` by default): origin and bearer-token checks, then each message goes
to its era. 2025-11-25 clients open sessions with `initialize` (`http_legacy`); a
2026-07-28 request is a sessionless POST of its own (`http_modern`). Both eras are
served side by side.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import pydantic_core
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._logging import ensure_stderr_logging, get_logger
from ..auth import Auth, Principal
from ..sessions.spec import ServerSpec
from ..wire.jsonrpc import INVALID_REQUEST, PARSE_ERROR, JsonRpcError
from .http_common import SESSION_HEADER, refusal
from .http_legacy import HttpSession, LegacySessions
from .http_limits import HostCheck, HttpLimits, default_hosts, header_timeout_protocol, read_body
from .http_modern import ModernPosts, is_modern

log = get_logger("taskapp.http")


def _invalid(message: dict[str, Any]) -> str | None:
    """What makes a POSTed message unusable as JSON-RPC, or None."""
    if message.get("jsonrpc") != "2.0":
        return '"jsonrpc" must be "2.0"'
    if "id" in message:
        request_id = message["id"]
        if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
            return "id must be a string or integer"
    if "method" in message and not isinstance(message["method"], str):
        return "method must be a string"
    if "method" not in message and "id" not in message:
        return "neither a request, a notification nor a response"
    return None


class HttpTransport:
    """Serves a server over Streamable HTTP; many independent sessions at once.

    Args:
        spec: The server to serve (`TaskApp.spec()`).
        path: The MCP endpoint.
        allowed_origins: Origins accepted in the `Origin` header besides the server's
            own host and loopback ones (DNS-rebinding protection); "*" accepts any.
        allowed_hosts: `Host` header values accepted (`name` for any port, `name:port`,
            "*" for any); others get HTTP 421. Default: loopback names only.
        max_body_bytes: The largest POST body accepted (HTTP 413 beyond); default: the
            spec's `max_message_bytes`.
        limits: Session expiry and caps, read timeouts (`HttpLimits`).
        metrics: (path, ASGI app) serving Prometheus metrics beside the endpoint, behind
            the same `Host` check (`TaskApp(metrics="/metrics")`); None: not served.
    """

    def __init__(
        self,
        spec: ServerSpec,
        *,
        path: str = "/mcp",
        allowed_origins: Sequence[str] = (),
        allowed_hosts: Sequence[str] | None = None,
        max_body_bytes: int | None = None,
        limits: HttpLimits | None = None,
        strict_headers: bool = False,
        metrics: tuple[str, ASGIApp] | None = None,
    ) -> None:
        self.spec = spec
        self.metrics = metrics
        self.path = path
        self.allowed_origins = frozenset(allowed_origins)
        self.check_host = HostCheck(default_hosts(None) if allowed_hosts is None else allowed_hosts)
        self.max_body_bytes = spec.max_message_bytes if max_body_bytes is None else max_body_bytes
        self.limits = limits or HttpLimits()
        self.auth: Auth | None = spec.auth
        self.legacy = LegacySessions(spec, self.limits)
        self.modern = ModernPosts(spec, strict_headers=strict_headers)

    @property
    def sessions(self) -> dict[str, HttpSession]:
        """The open 2025-11-25 sessions, by id."""
        return self.legacy.by_id

    def asgi(self) -> Starlette:
        # The endpoint's answer is an ASGI app (a Response, or a modern `Exchange` that
        # writes to `send` itself), so the endpoint is one too: an instance, which Route
        # runs as it is. (Not a speed-up: measured against `request_response`, 1.02x.)
        endpoint = _Endpoint(self)
        routes = [Route(self.path, endpoint, methods=["GET", "POST", "DELETE"])]
        if self.auth is not None:
            well_known = "/.well-known/oauth-protected-resource"
            routes += [
                Route(well_known + self.path, self.resource_metadata, methods=["GET"]),
                Route(well_known, self.resource_metadata, methods=["GET"]),
            ]
        if self.metrics is not None:
            path, app = self.metrics
            routes.append(Route(path, _HostChecked(self.check_host, app), methods=["GET"]))
        return _App(endpoint, self.path, routes=routes, lifespan=self.lifespan)

    @asynccontextmanager
    async def lifespan(self, _: object = None) -> AsyncIterator[None]:
        """Run the engine and the sessions; at shutdown end every session, then the tasks."""
        ensure_stderr_logging()  # mounted apps too: never structlog's stdout default
        async with self.spec.running() as engine, anyio.create_task_group() as tg:
            self.legacy.start(engine, tg)
            self.modern.start(engine)
            try:
                yield
            finally:
                self.modern.end()
                await self.legacy.end()
                tg.cancel_scope.cancel()

    # -- the endpoint ----------------------------------------------------------------

    async def endpoint(self, request: Request) -> ASGIApp:
        """The answer to one request to the MCP endpoint, as an ASGI app to run."""
        refused = self.check_host(request) or self._check_origin(request)
        if refused is not None:
            return refused
        principal = await self._authenticate(request)
        if isinstance(principal, Response):
            return principal
        if request.method == "POST":
            return await self._post(request, principal)
        session = self.legacy.find(request, principal)
        if isinstance(session, Response):
            return session
        if request.method == "GET":
            return self.legacy.get(request, session)
        await self.legacy.close(session)
        return Response(status_code=200)

    def _check_origin(self, request: Request) -> Response | None:
        # Browsers send Origin; a DNS-rebinding page has its own (foreign) origin even
        # when its Host header names us, so only loopback and listed origins pass.
        origin = request.headers.get("origin")
        if origin is None or "*" in self.allowed_origins or origin in self.allowed_origins:
            return None
        if (urlsplit(origin).hostname or "") in ("localhost", "127.0.0.1", "::1"):
            return None
        log.warning("origin refused", origin=origin)
        return refusal(403, JsonRpcError(INVALID_REQUEST, f"Origin {origin!r} is not allowed"))

    async def _authenticate(self, request: Request) -> Principal | Response | None:
        if self.auth is None:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        principal = None
        if scheme.lower() == "bearer" and token:
            principal = await self.auth.verifier.verify(token.strip())
        metadata = f'resource_metadata="{self._metadata_url(request)}"'
        if principal is None:
            error = ', error="invalid_token"' if token else ""
            headers = {"WWW-Authenticate": f"Bearer {metadata}{error}"}
            return refusal(
                401,
                JsonRpcError(INVALID_REQUEST, "Unauthorized: a valid bearer token is needed"),
                headers=headers,
            )
        missing = set(self.auth.required_scopes) - principal.scopes
        if missing:
            scope = " ".join(self.auth.required_scopes)
            challenge = f'Bearer error="insufficient_scope", scope="{scope}", {metadata}'
            headers = {"WWW-Authenticate": challenge}
            return refusal(
                403,
                JsonRpcError(INVALID_REQUEST, f"Forbidden: missing scopes {sorted(missing)}"),
                headers=headers,
            )
        return principal

    def _metadata_url(self, request: Request) -> str:
        return (
            str(request.base_url).rstrip("/") + "/.well-known/oauth-protected-resource" + self.path
        )

    async def resource_metadata(self, request: Request) -> Response:
        assert self.auth is not None
        resource = str(request.base_url).rstrip("/") + self.path
        return JSONResponse(self.auth.metadata(resource))

    # -- POST ------------------------------------------------------------------------

    async def _post(self, request: Request, principal: Principal | None) -> ASGIApp:
        if not request.headers.get("content-type", "").startswith("application/json"):
            why = "Unsupported media type: send application/json"
            return refusal(415, JsonRpcError(INVALID_REQUEST, why))
        accept = request.headers.get("accept", "")
        if "*/*" not in accept and not (
            "application/json" in accept and "text/event-stream" in accept
        ):
            why = "Not acceptable: accept application/json and text/event-stream"
            return refusal(406, JsonRpcError(INVALID_REQUEST, why))
        body = await read_body(request, self.max_body_bytes, self.limits.body_timeout_s)
        if isinstance(body, Response):
            return body
        try:
            message = pydantic_core.from_json(body)
        except ValueError as exc:
            return refusal(400, JsonRpcError(PARSE_ERROR, f"Parse error: {exc}"))
        if not isinstance(message, dict):
            why = "Invalid request: send one JSON-RPC message per POST"
            return refusal(400, JsonRpcError(INVALID_REQUEST, why))
        # Checked before a session opens: a refused initialize must leave none behind.
        invalid = _invalid(message)
        if invalid is not None:
            error = JsonRpcError(INVALID_REQUEST, f"Invalid request: {invalid}")
            return refusal(400, error, request_id=message.get("id"))
        session: HttpSession | None = None
        modern = is_modern(message, request.headers)
        if (
            message.get("method") == "initialize"
            and not modern
            and SESSION_HEADER not in request.headers
        ):
            if "id" not in message:
                why = "Invalid request: initialize must be a request, with an id"
                return refusal(400, JsonRpcError(INVALID_REQUEST, why))
            opened = await self.legacy.open(principal, _client_of(request))
            if isinstance(opened, Response):
                return opened
            session = opened
        elif not modern:
            found = self.legacy.find(request, principal)
            if isinstance(found, Response):
                return found
            session = found
        if session is None:
            return self.modern.post(request.headers, message, principal)
        if "method" not in message or "id" not in message:  # a notification or a response
            session.channel.post(body)
            return Response(status_code=202)
        return await self.legacy.answer(session, message, body)

    # -- GET and DELETE --------------------------------------------------------------

    async def close_sessions(self) -> None:
        """End every session (their SSE streams finish) and every 2026-07-28 subscription
        (answered, then closed); tasks go on until the lifespan ends."""
        self.modern.end()
        await self.legacy.close_all()


class _Endpoint:
    """The MCP endpoint as an ASGI app: `HttpTransport.endpoint`'s answer, run."""

    __slots__ = ("transport",)

    def __init__(self, transport: HttpTransport) -> None:
        self.transport = transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self.transport.endpoint(Request(scope, receive))
        await answer(scope, receive, send)


class _App(Starlette):
    """Starlette, but a request to the MCP endpoint goes straight to it, past the error
    middlewares and the router: the endpoint answers its own errors, and those layers
    cost about 5% of a 2026 task round trip's server CPU (bench/modern.py)."""

    def __init__(self, endpoint: _Endpoint, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._endpoint, self._path = endpoint, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _METHODS:
            path, root = scope["path"], scope.get("root_path", "")
            if root and path.startswith(root + "/"):  # mounted: as Starlette's router sees it
                path = path[len(root) :]
            if path == self._path:
                scope["app"] = self
                await self._endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


_METHODS = frozenset({"GET", "POST", "DELETE"})


class _HostChecked:
    """An ASGI app behind the transport's `Host` check (DNS rebinding)."""

    def __init__(self, check: HostCheck, app: ASGIApp) -> None:
        self.check = check
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self.check(Request(scope))
        await (self.app if refused is None else refused)(scope, receive, send)


def _client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def serve_http(
    spec: ServerSpec, *, host: str = "127.0.0.1", port: int = 8000, path: str = "/mcp",
    allowed_origins: Sequence[str] = (), allowed_hosts: Sequence[str] | None = None,
    limits: HttpLimits | None = None, log_level: str = "info",
    loop: Literal["asyncio", "uvloop"] = "asyncio", strict_headers: bool = False,
    metrics: tuple[str, ASGIApp] | None = None,
) -> None:  # fmt: skip
    """Serve over HTTP with uvicorn until SIGINT/SIGTERM; then end sessions and tasks.
    Without `allowed_hosts`, loopback names and the bound host are accepted."""
    import uvicorn

    limits = limits or HttpLimits()
    hosts = default_hosts(host) if allowed_hosts is None else allowed_hosts
    if allowed_hosts is None and host in ("0.0.0.0", "::", ""):
        log.warning("bound to every address, but only loopback Host names are served: "
                    "list the public ones with --allow-host (or allowed_hosts=)")  # fmt: skip
    transport = HttpTransport(
        spec, path=path, allowed_origins=allowed_origins, allowed_hosts=hosts, limits=limits,
        strict_headers=strict_headers, metrics=metrics,
    )  # fmt: skip
    config = uvicorn.Config(
        transport.asgi(), host=host, port=port, lifespan="on", log_config=None,
        access_log=False, log_level=log_level, timeout_graceful_shutdown=3, loop=loop,
        http=header_timeout_protocol(limits.header_timeout_s), ws="none",
    )  # fmt: skip

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # SIGINT/SIGTERM are how this server is meant to stop: shut down and exit 0,
            # without re-raising the signal afterwards as uvicorn does.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await transport.close_sessions()  # open SSE streams end now, not after a timeout
            await super().shutdown(sockets)

    Server(config).run()


_SIGNALS = (signal.SIGINT, signal.SIGTERM)
