"""Streamable HTTP for 2025-11-25 clients: sessions opened by `initialize`.

POST carries a session's client messages (answered as JSON, or as an SSE stream when
related messages may come first), GET opens the session's stream for everything else,
DELETE ends it. Each session is a `ServerSession` over an `HttpChannel`, served for as
long as it lasts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .._logging import get_logger
from ..auth import Principal
from ..engine import TaskEngine
from ..sessions.peer import Peer
from ..sessions.server import ServerSession
from ..sessions.spec import ServerSpec
from ..wire.jsonrpc import INVALID_REQUEST, JsonRpcError
from ..wire.mcp2025 import SUPPORTED_VERSIONS
from .http_channel import HttpChannel, Outbox
from .http_common import SESSION_HEADER, VERSION_HEADER, refusal
from .http_limits import HttpLimits

log = get_logger("taskapp.http")

# Requests whose handling may send related messages first get an SSE stream;
# the rest a plain JSON answer (S-19: no SSE for tasks/get).
_STREAMED = frozenset({"tools/call", "tasks/result"})


@dataclass(eq=False, slots=True)
class HttpSession:
    """One 2025-11-25 session: its id, who opened it, its channel and its MCP session."""

    id: str
    principal: Principal | None
    channel: HttpChannel
    server: ServerSession
    #: Whose sessions it counts among: the principal, or the client address without auth.
    client: str = ""
    #: When it last received a request or ended a stream (`time.monotonic()`).
    last_active: float = field(default_factory=time.monotonic)

    @property
    def idle(self) -> bool:
        """No request in flight and no open stream (GET, a pending tasks/result)."""
        return not self.channel.streams and self.channel.standalone is None


class LegacySessions:
    """The 2025-11-25 sessions of an `HttpTransport`, by id, while it runs."""

    def __init__(self, spec: ServerSpec, limits: HttpLimits | None = None) -> None:
        self.spec = spec
        self.limits = limits or HttpLimits()
        self.by_id: dict[str, HttpSession] = {}
        self._engine: TaskEngine | None = None
        self._tg: TaskGroup | None = None

    def start(self, engine: TaskEngine, tg: TaskGroup) -> None:
        self._engine, self._tg = engine, tg
        tg.start_soon(self._expire)

    async def _expire(self) -> None:
        """Close the sessions idle for longer than the timeout, as DELETE would."""
        timeout = self.limits.session_idle_timeout_s
        while True:
            await anyio.sleep(max(0.05, min(timeout / 4, 30.0)))
            cutoff = time.monotonic() - timeout
            for session in list(self.by_id.values()):
                if session.idle and session.last_active < cutoff:
                    log.info("session expired", session=session.id[:8], idle_s=timeout)
                    await self.close(session)

    async def end(self) -> None:
        """End every session: their streams finish; their tasks go on."""
        for session in list(self.by_id.values()):
            await session.channel.aclose()
        self._engine = self._tg = None

    def find(self, request: Request, principal: Principal | None) -> HttpSession | Response:
        """The session the request's Mcp-Session-Id names, or the error response."""
        session_id = request.headers.get(SESSION_HEADER)
        if session_id is None:
            return refusal(
                400,
                JsonRpcError(INVALID_REQUEST, "Bad request: the Mcp-Session-Id header is missing"),
            )
        session = self.by_id.get(session_id)
        # Another principal's session is "not found" too: nothing leaks about it.
        if session is None or (
            session.principal and principal and session.principal.subject != principal.subject
        ):
            return refusal(
                404,
                JsonRpcError(INVALID_REQUEST, "Session not found: start a new one with initialize"),
            )
        version = request.headers.get(VERSION_HEADER)
        if version is not None and version not in SUPPORTED_VERSIONS:
            return refusal(
                400,
                JsonRpcError(
                    INVALID_REQUEST, f"Bad request: unsupported MCP-Protocol-Version {version!r}"
                ),
            )
        session.last_active = time.monotonic()
        return session

    async def open(self, principal: Principal | None, address: str) -> HttpSession | Response:
        """A new session (for an `initialize`), served until it closes; or the refusal
        when its client has too many, or every session is busy and there are too many."""
        if self._engine is None or self._tg is None:
            raise RuntimeError("the HTTP transport is not running: serve it with its lifespan")
        client = f"principal:{principal.subject}" if principal else f"address:{address}"
        refused = await self._make_room(client)
        if refused is not None:
            return refused
        session_id = secrets.token_urlsafe(32)
        owner = f"principal:{principal.subject}" if principal else f"session:{session_id}"
        server = ServerSession(self.spec, self._engine, owner=owner, era="legacy")
        session = HttpSession(session_id, principal, HttpChannel(), server, client)
        self.by_id[session_id] = session
        self._tg.start_soon(self._serve, session)
        log.info(
            "session opened", session=session_id[:8], principal=principal and principal.subject
        )
        return session

    async def _make_room(self, client: str) -> Response | None:
        cap = self.limits.max_sessions_per_client
        if sum(1 for s in self.by_id.values() if s.client == client) >= cap:
            why = f"Too many sessions: {cap} open for this client; DELETE one or let it expire"
            return refusal(429, JsonRpcError(INVALID_REQUEST, why))
        if len(self.by_id) < self.limits.max_sessions:
            return None
        # One client must not lock everyone out: the least recently active idle one goes.
        idle = [s for s in self.by_id.values() if s.idle]
        if not idle:
            why = "Service unavailable: too many sessions, all busy; try again later"
            return refusal(503, JsonRpcError(INVALID_REQUEST, why))
        oldest = min(idle, key=lambda s: s.last_active)
        log.info("session evicted", session=oldest.id[:8], sessions=len(self.by_id))
        await self.close(oldest)
        return None

    async def _serve(self, session: HttpSession) -> None:
        channel = session.channel
        try:
            await session.server.serve(lambda s: Peer(channel, s.on_request, s.on_notification))
        finally:
            self.by_id.pop(session.id, None)

    async def answer(self, session: HttpSession, message: dict[str, Any], body: bytes) -> Response:
        """A request POSTed to a session: its answer as JSON, or an SSE stream of it."""
        request_id = message["id"]
        if request_id in session.channel.streams:
            return refusal(
                400, JsonRpcError(INVALID_REQUEST, f"Invalid request: id {request_id!r} is in use")
            )
        params = message.get("params")
        streamed = message.get("method") in _STREAMED and not (
            isinstance(params, dict) and params.get("task") is not None
        )
        # Only a session's own failed initialize ends it (the client never learned its
        # id); a second one, refused as "already initialized", leaves it serving.
        opening = session.server.protocol_version is None
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
            return refusal(503, JsonRpcError(INVALID_REQUEST, "The session ended before answering"))
        finally:
            session.channel.streams.pop(request_id, None)
            session.last_active = time.monotonic()
            box.release()
        if opening and message.get("method") == "initialize" and b'"error"' in data[:64]:
            await self.close(session)
            headers = {}
        return Response(data, media_type="application/json", headers=headers)

    async def _events(
        self, session: HttpSession, request_id: str | int, box: Outbox
    ) -> AsyncIterator[bytes]:
        try:
            async for data in box.receive:
                yield b"event: message\ndata: " + data + b"\n\n"
        finally:
            session.channel.streams.pop(request_id, None)
            session.last_active = time.monotonic()
            if not box.done and session.server.peer is not None:
                # The client left. A tasks/result can be asked again at no cost, so stop
                # it and let the questions it held go back to the queue.
                session.server.peer.cancel(request_id)
            box.release()

    def get(self, request: Request, session: HttpSession) -> Response:
        """GET: the session's stream for what belongs to no request."""
        if "text/event-stream" not in request.headers.get("accept", ""):
            return refusal(
                406, JsonRpcError(INVALID_REQUEST, "Not acceptable: accept text/event-stream")
            )
        if session.channel.standalone is not None:
            return refusal(
                409,
                JsonRpcError(INVALID_REQUEST, "Conflict: this session already has a GET stream"),
            )
        box = session.channel.open_standalone()

        async def events() -> AsyncIterator[bytes]:
            try:
                async for data in box.receive:
                    yield b"event: message\ndata: " + data + b"\n\n"
            finally:
                session.channel.close_standalone(box)
                session.last_active = time.monotonic()

        headers = {"Mcp-Session-Id": session.id, "Cache-Control": "no-cache"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def close_all(self) -> None:
        for session in list(self.by_id.values()):
            await self.close(session)

    async def close(self, session: HttpSession) -> None:
        """DELETE (or shutdown): end the session; its tasks go on."""
        self.by_id.pop(session.id, None)
        await session.channel.aclose()
        log.info("session closed", session=session.id[:8])
