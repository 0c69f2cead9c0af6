"""The MCP Streamable HTTP transport, as an ASGI app (Starlette).

One endpoint (`/mcp` by default). In 2025-11-25, POST carries client messages (answered
as JSON, or as an SSE stream when related messages may come first), GET opens the
session's stream for everything else, DELETE ends a session. A 2026-07-28 request is a
sessionless POST of its own (`_http_modern`); both eras are served side by side.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import socket
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import anyio
import pydantic_core
import structlog
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .._logging import ensure_stderr_logging
from ..auth import Auth, Principal
from ..engine import TaskEngine
from ..sessions.peer import Peer
from ..sessions.server import ServerSession
from ..wire.jsonrpc import INVALID_REQUEST, PARSE_ERROR
from ..wire.mcp2025 import SUPPORTED_VERSIONS
from .http_channel import HttpChannel, Outbox
from .http_modern import ModernPosts, is_modern

if TYPE_CHECKING:
    from ..app import TaskApp

log = structlog.get_logger("taskapp.http")

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
# Requests whose handling may send related messages first get an SSE stream;
# the rest a plain JSON answer (S-19: no SSE for tasks/get).
_STREAMED = frozenset({"tools/call", "tasks/result"})


@dataclass(eq=False, slots=True)
class _Session:
    id: str
    principal: Principal | None
    channel: HttpChannel
    server: ServerSession


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


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None,
    request_id: str | int | None = None,
) -> Response:  # fmt: skip
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


class HttpTransport:
    """Serves a TaskApp over Streamable HTTP; many independent sessions at once.

    Args:
        app: The app to serve.
        path: The MCP endpoint.
        allowed_origins: Origins accepted in the `Origin` header besides the server's
            own host and loopback ones (DNS-rebinding protection); "*" accepts any.
        max_body_bytes: The largest POST body accepted (HTTP 413 beyond).
    """

    def __init__(
        self,
        app: TaskApp,
        *,
        path: str = "/mcp",
        allowed_origins: Sequence[str] = (),
        max_body_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.path = path
        self.allowed_origins = frozenset(allowed_origins)
        self.max_body_bytes = max_body_bytes
        self.auth: Auth | None = app.auth
        self.sessions: dict[str, _Session] = {}
        self.modern = ModernPosts(app)
        self._engine: TaskEngine | None = None
        self._tg: TaskGroup | None = None

    def asgi(self) -> Starlette:
        routes = [Route(self.path, self.endpoint, methods=["GET", "POST", "DELETE"])]
        if self.auth is not None:
            well_known = "/.well-known/oauth-protected-resource"
            routes += [
                Route(well_known + self.path, self.resource_metadata, methods=["GET"]),
                Route(well_known, self.resource_metadata, methods=["GET"]),
            ]
        return Starlette(routes=routes, lifespan=self.lifespan)

    @asynccontextmanager
    async def lifespan(self, _: object = None) -> AsyncIterator[None]:
        """Run the engine and the sessions; at shutdown end every session, then the tasks."""
        ensure_stderr_logging()  # mounted apps too: never structlog's stdout default
        async with self.app.running() as engine, anyio.create_task_group() as tg:
            self._engine, self._tg = engine, tg
            self.modern.start(engine)
            try:
                yield
            finally:
                self.modern.end()
                for session in list(self.sessions.values()):
                    await session.channel.aclose()
                tg.cancel_scope.cancel()
                self._engine = self._tg = None

    # -- the endpoint ----------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        refused = self._check_origin(request)
        if refused is not None:
            return refused
        principal = await self._authenticate(request)
        if isinstance(principal, Response):
            return principal
        if request.method == "POST":
            return await self._post(request, principal)
        session = self._session_of(request, principal)
        if isinstance(session, Response):
            return session
        if request.method == "GET":
            return self._get(request, session)
        await self._close(session)
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
        return _error(403, INVALID_REQUEST, f"Origin {origin!r} is not allowed")

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
            return _error(
                401, INVALID_REQUEST, "Unauthorized: a valid bearer token is needed", headers
            )
        missing = set(self.auth.required_scopes) - principal.scopes
        if missing:
            scope = " ".join(self.auth.required_scopes)
            challenge = f'Bearer error="insufficient_scope", scope="{scope}", {metadata}'
            headers = {"WWW-Authenticate": challenge}
            return _error(
                403, INVALID_REQUEST, f"Forbidden: missing scopes {sorted(missing)}", headers
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

    def _session_of(self, request: Request, principal: Principal | None) -> _Session | Response:
        session_id = request.headers.get(SESSION_HEADER)
        if session_id is None:
            return _error(400, INVALID_REQUEST, "Bad request: the Mcp-Session-Id header is missing")
        session = self.sessions.get(session_id)
        # Another principal's session is "not found" too: nothing leaks about it.
        if session is None or (
            session.principal and principal and session.principal.subject != principal.subject
        ):
            return _error(
                404, INVALID_REQUEST, "Session not found: start a new one with initialize"
            )
        version = request.headers.get(VERSION_HEADER)
        if version is not None and version not in SUPPORTED_VERSIONS:
            return _error(
                400, INVALID_REQUEST, f"Bad request: unsupported MCP-Protocol-Version {version!r}"
            )
        return session

    # -- POST ------------------------------------------------------------------------

    async def _post(self, request: Request, principal: Principal | None) -> Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _error(415, INVALID_REQUEST, "Unsupported media type: send application/json")
        accept = request.headers.get("accept", "")
        if "*/*" not in accept and not (
            "application/json" in accept and "text/event-stream" in accept
        ):
            return _error(
                406,
                INVALID_REQUEST,
                "Not acceptable: accept application/json and text/event-stream",
            )
        body = await self._read_body(request)
        if isinstance(body, Response):
            return body
        try:
            message = pydantic_core.from_json(body)
        except ValueError as exc:
            return _error(400, PARSE_ERROR, f"Parse error: {exc}")
        if not isinstance(message, dict):
            return _error(
                400, INVALID_REQUEST, "Invalid request: send one JSON-RPC message per POST"
            )
        modern = is_modern(message, request.headers)
        session: _Session | None = None
        if message.get("method") == "initialize" and SESSION_HEADER not in request.headers:
            session = self._new_session(principal)
        elif not modern:
            found = self._session_of(request, principal)
            if isinstance(found, Response):
                return found
            session = found
        invalid = _invalid(message)
        if invalid is not None:
            request_id = message.get("id")
            valid_id = isinstance(request_id, (str, int)) and not isinstance(request_id, bool)
            return _error(
                400,
                INVALID_REQUEST,
                f"Invalid request: {invalid}",
                request_id=request_id if valid_id else None,
            )
        if session is None:
            return await self.modern.post(request, message, body, principal)
        if "method" not in message or "id" not in message:  # a notification or a response
            session.channel.post(body)
            return Response(status_code=202)
        return await self._answer(session, message, body)

    async def _read_body(self, request: Request) -> bytes | Response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                return _error(
                    413, INVALID_REQUEST, f"Payload too large: over {self.max_body_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _new_session(self, principal: Principal | None) -> _Session:
        if self._engine is None or self._tg is None:
            raise RuntimeError("the HTTP transport is not running: serve it with its lifespan")
        session_id = secrets.token_urlsafe(32)
        owner = f"principal:{principal.subject}" if principal else f"session:{session_id}"
        server = ServerSession(self.app, self._engine, owner=owner, era="legacy")
        session = _Session(session_id, principal, HttpChannel(), server)
        self.sessions[session_id] = session
        self._tg.start_soon(self._serve, session)
        log.info(
            "session opened", session=session_id[:8], principal=principal and principal.subject
        )
        return session

    async def _serve(self, session: _Session) -> None:
        channel = session.channel
        try:
            await session.server.serve(lambda s: Peer(channel, s.on_request, s.on_notification))
        finally:
            self.sessions.pop(session.id, None)

    async def _answer(self, session: _Session, message: dict[str, Any], body: bytes) -> Response:
        request_id = message["id"]
        if request_id in session.channel.streams:
            return _error(400, INVALID_REQUEST, f"Invalid request: id {request_id!r} is in use")
        params = message.get("params")
        streamed = message.get("method") in _STREAMED and not (
            isinstance(params, dict) and params.get("task") is not None
        )
        box = session.channel.streams[request_id] = Outbox.open(single=not streamed)
        session.channel.post(body)
        headers = {"Mcp-Session-Id": session.id}
        if streamed:
            return StreamingResponse(
                self._events(session, request_id, box),
                media_type="text/event-stream",
                headers={**headers, "Cache-Control": "no-cache"},
            )
        try:
            data = await box.receive.receive()
        except anyio.EndOfStream:
            return _error(503, INVALID_REQUEST, "The session ended before answering")
        finally:
            session.channel.streams.pop(request_id, None)
            box.release()
        if message.get("method") == "initialize" and b'"error"' in data[:64]:
            await self._close(session)
            headers = {}
        return Response(data, media_type="application/json", headers=headers)

    async def _events(
        self, session: _Session, request_id: str | int, box: Outbox
    ) -> AsyncIterator[bytes]:
        try:
            async for data in box.receive:
                yield b"event: message\ndata: " + data + b"\n\n"
        finally:
            session.channel.streams.pop(request_id, None)
            if not box.done and session.server.peer is not None:
                # The client left. A tasks/result can be asked again at no cost, so stop
                # it and let the questions it held go back to the queue.
                session.server.peer.cancel(request_id)
            box.release()

    # -- GET and DELETE --------------------------------------------------------------

    def _get(self, request: Request, session: _Session) -> Response:
        if "text/event-stream" not in request.headers.get("accept", ""):
            return _error(406, INVALID_REQUEST, "Not acceptable: accept text/event-stream")
        if session.channel.standalone is not None:
            return _error(409, INVALID_REQUEST, "Conflict: this session already has a GET stream")
        box = session.channel.open_standalone()

        async def events() -> AsyncIterator[bytes]:
            try:
                async for data in box.receive:
                    yield b"event: message\ndata: " + data + b"\n\n"
            finally:
                session.channel.close_standalone(box)

        headers = {"Mcp-Session-Id": session.id, "Cache-Control": "no-cache"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def close_sessions(self) -> None:
        """End every session (their SSE streams finish) and every 2026-07-28 subscription
        (answered, then closed); tasks go on until the lifespan ends."""
        self.modern.end()
        for session in list(self.sessions.values()):
            await self._close(session)

    async def _close(self, session: _Session) -> None:
        self.sessions.pop(session.id, None)
        await session.channel.aclose()
        log.info("session closed", session=session.id[:8])


def serve_http(
    app: TaskApp, *, host: str = "127.0.0.1", port: int = 8000, path: str = "/mcp",
    allowed_origins: Sequence[str] = (), log_level: str = "info",
    loop: Literal["asyncio", "uvloop"] = "asyncio",
) -> None:  # fmt: skip
    """Serve over HTTP with uvicorn until SIGINT/SIGTERM; then end sessions and tasks."""
    import uvicorn

    transport = HttpTransport(app, path=path, allowed_origins=allowed_origins)
    config = uvicorn.Config(
        transport.asgi(), host=host, port=port, lifespan="on", log_config=None,
        access_log=False, log_level=log_level, timeout_graceful_shutdown=3, loop=loop,
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
