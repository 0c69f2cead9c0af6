"""MCP 2026-07-28 over Streamable HTTP: every POST is one self-contained exchange.

No session and no `Mcp-Session-Id`: a modern request says who and what it is in its
`_meta`, and mirrors its method and name in headers. The headers are checked against the
body (HeaderMismatch, -32020) and the envelope is checked (-32602, -32022), all before
anything runs; then a modern-era `ServerSession` of its own answers the request inside
the HTTP response: as JSON when the answer comes first, or as an SSE stream when
notifications related to the request (progress, logs, a subscription's) come before it.
Closing that stream cancels the request (basic-patterns-cancellation.mdx).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import anyio
import pydantic_core
import structlog
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from ..auth import Principal
from ..engine import TaskEngine
from ..sessions.peer import Peer
from ..sessions.server import ServerSession
from ..sessions.spec import ServerSpec
from ..wire import mcp2026
from ..wire.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, JsonRpcError
from .http_channel import HttpChannel, Outbox
from .http_common import SESSION_HEADER, VERSION_HEADER

log = structlog.get_logger("taskapp.http")

METHOD_HEADER = "mcp-method"
NAME_HEADER = "mcp-name"
KEEPALIVE_S = 15.0  # an SSE comment this often keeps idle streams past intermediaries

# The body field `Mcp-Name` mirrors, per method (streamable-http "Standard Request
# Headers"; the tasks extension's "Streamable HTTP: Routing Headers").
_NAME_SOURCES = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    "tasks/get": "taskId",
    "tasks/update": "taskId",
    "tasks/cancel": "taskId",
}
# Errors answered with an HTTP error status; any other error is a 200 carrying it.
_STATUS = {
    METHOD_NOT_FOUND: 404,
    mcp2026.HEADER_MISMATCH: 400,
    mcp2026.MISSING_CAPABILITY: 400,
    mcp2026.UNSUPPORTED_VERSION: 400,
}
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # proxies must not hold events back
]


def is_modern(message: dict[str, Any], headers: Headers) -> bool:
    """Whether a POST speaks 2026-07-28: its `_meta` carries the envelope or, without a
    session, its headers say so. `initialize` always opens a 2025-11-25 session."""
    if message.get("method") == "initialize":
        return False
    params = message.get("params")
    if isinstance(params, dict) and mcp2026.has_envelope(params):
        return True
    return SESSION_HEADER not in headers and (
        METHOD_HEADER in headers or headers.get(VERSION_HEADER) in mcp2026.MODERN_VERSIONS
    )


def check_headers(headers: Headers, method: str, params: dict[str, Any]) -> None:
    """Raise HeaderMismatch (-32020) unless every required header is there and agrees
    with the body (streamable-http "Server Validation")."""
    version = _header(headers, VERSION_HEADER, "MCP-Protocol-Version")
    meta = params.get("_meta")
    stated = meta.get(mcp2026.PROTOCOL_VERSION) if isinstance(meta, dict) else None
    if isinstance(stated, str) and stated != version:
        raise _mismatch(
            f"MCP-Protocol-Version header value {version!r} does not match body value "
            f"{stated!r} (_meta.{mcp2026.PROTOCOL_VERSION})"
        )
    sent = _header(headers, METHOD_HEADER, "Mcp-Method")
    if sent != method:
        raise _mismatch(f"Mcp-Method header value {sent!r} does not match body value {method!r}")
    source = _NAME_SOURCES.get(method)
    if source is None:
        return
    name = _decoded(_header(headers, NAME_HEADER, "Mcp-Name"))
    if name != params.get(source):
        raise _mismatch(
            f"Mcp-Name header value {name!r} does not match body value {params.get(source)!r}"
            f" (params.{source})"
        )


def _header(headers: Headers, key: str, name: str) -> str:
    value = headers.get(key)
    if value is None:
        raise _mismatch(f"the {name} header is missing")
    if not all(ch == "\t" or " " <= ch <= "~" for ch in value):
        raise _mismatch(f"the {name} header has characters outside visible ASCII")
    return value


def _decoded(value: str) -> str:
    """A header value, Base64-decoded when it has the `=?base64?…?=` sentinel."""
    if not (value.startswith("=?base64?") and value.endswith("?=") and len(value) >= 11):
        return value
    try:
        return base64.b64decode(value[9:-2], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _mismatch("Mcp-Name is not valid =?base64?…?= encoded UTF-8") from None


def _mismatch(why: str) -> JsonRpcError:
    return JsonRpcError(mcp2026.HEADER_MISMATCH, f"Header mismatch: {why}")


def refusal(status: int, request_id: Any, error: JsonRpcError) -> Response:
    valid_id = isinstance(request_id, (str, int)) and not isinstance(request_id, bool)
    body = {"jsonrpc": "2.0", "id": request_id if valid_id else None, "error": error.to_json()}
    return JSONResponse(body, status_code=status)


class ModernPosts:
    """Serves sessionless 2026-07-28 POSTs for an `HttpTransport` while it runs."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.engine: TaskEngine | None = None
        self.ending: anyio.Event | None = None
        self.keepalive_s = KEEPALIVE_S

    def start(self, engine: TaskEngine) -> None:
        self.engine, self.ending = engine, anyio.Event()

    def end(self) -> None:
        """The server is stopping: open subscriptions answer their request and close."""
        if self.ending is not None:
            self.ending.set()

    async def post(
        self, request: Request, message: dict[str, Any], body: bytes, principal: Principal | None
    ) -> Response:
        """Check a modern POST, then answer it with an `Exchange` (or refuse it)."""
        request_id = message.get("id")
        if SESSION_HEADER in request.headers:
            return refusal(400, request_id, JsonRpcError(
                INVALID_REQUEST,
                "Invalid request: a 2026-07-28 request stands alone; send it without "
                "Mcp-Session-Id (sessions belong to 2025-11-25 clients, opened by initialize)",
            ))  # fmt: skip
        if "method" not in message:
            return refusal(400, request_id, JsonRpcError(
                INVALID_REQUEST, "Invalid request: a 2026-07-28 client sends no responses"
            ))  # fmt: skip
        if "id" not in message:
            return Response(status_code=202)  # 2026-07-28 defines none on HTTP: nothing to do
        params = message.get("params") or {}
        if not isinstance(params, dict):
            error = JsonRpcError(INVALID_PARAMS, "Invalid params: params must be an object")
            return refusal(400, request_id, error)
        try:
            check_headers(request.headers, message["method"], params)
            mcp2026.envelope(params)  # -32602 (a missing field) and -32022: both HTTP 400
        except JsonRpcError as exc:
            return refusal(400, request_id, exc)
        if self.engine is None or self.ending is None:
            raise RuntimeError("the HTTP transport is not running: serve it with its lifespan")
        owner = f"principal:{principal.subject}" if principal else None
        server = _ExchangeSession(self.spec, self.engine, owner=owner, ending=self.ending)
        return Exchange(server, message["id"], body, keepalive_s=self.keepalive_s)


class _ExchangeSession(ServerSession):
    """A modern `ServerSession` for one POST. Its connection "ends" with the server, so
    a subscription then answers its request (a graceful close); a client leaving cancels
    the request instead."""

    def __init__(
        self, spec: ServerSpec, engine: TaskEngine, *, owner: str | None, ending: anyio.Event
    ) -> None:
        super().__init__(
            spec, engine, owner=owner, era="modern", modern_versions=mcp2026.ALL_VERSIONS
        )
        self._ending = ending

    async def closed(self) -> None:
        await self._ending.wait()


class Exchange(Response):
    """The HTTP answer to one modern request; its session runs while it is written."""

    def __init__(
        self, server: ServerSession, request_id: str | int, body: bytes,
        *, keepalive_s: float = KEEPALIVE_S,
    ) -> None:  # fmt: skip
        super().__init__()
        self.server = server
        self.request_id = request_id
        self.request_body = body
        self.keepalive_s = keepalive_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        channel = HttpChannel()
        box = channel.streams[self.request_id] = Outbox.open(single=False)
        server = self.server

        async def serve() -> None:
            try:
                await server.serve(lambda s: Peer(channel, s.on_request, s.on_notification))
            finally:
                box.close()  # no answer is coming any more

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not box.done:
                log.info("request cancelled: the client closed its stream", id=self.request_id)
            tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            tg.start_soon(watch)
            channel.post(self.request_body)
            try:
                await self._write(send, box)
            except OSError:  # the client left while we wrote
                pass
            finally:
                tg.cancel_scope.cancel()  # a handler still running is cancelled
                box.release()
                await channel.aclose()

    async def _write(self, send: Send, box: Outbox) -> None:
        try:
            first = await box.receive.receive()
        except anyio.EndOfStream:
            error = {"code": INVALID_REQUEST, "message": "The server stopped before answering"}
            await _send_json(send, 503, {"jsonrpc": "2.0", "id": self.request_id, "error": error})
            return
        answer = pydantic_core.from_json(first)
        if "method" not in answer:  # the answer itself: no stream needed
            code = answer["error"].get("code") if "error" in answer else None
            status = _STATUS.get(code, 200) if isinstance(code, int) else 200
            await _send_json(send, status, first)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
        data: bytes | None = first
        while data is not None:
            await send({"type": "http.response.body", "body": _event(data), "more_body": True})
            data = await self._next(send, box)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _next(self, send: Send, box: Outbox) -> bytes | None:
        """The next message for the stream, or None at its end; SSE comments meanwhile."""
        while True:
            with anyio.move_on_after(self.keepalive_s):
                try:
                    return await box.receive.receive()
                except anyio.EndOfStream:
                    return None
            await send({"type": "http.response.body", "body": _KEEPALIVE, "more_body": True})


_KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: clients ignore it


def _event(data: bytes) -> bytes:
    return b"event: message\ndata: " + data + b"\n\n"


async def _send_json(send: Send, status: int, body: bytes | dict[str, Any]) -> None:
    data = body if isinstance(body, bytes) else pydantic_core.to_json(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
