"""MCP 2026-07-28 over Streamable HTTP: every POST is one self-contained exchange.

No session and no `Mcp-Session-Id`: a modern request says who and what it is in its
`_meta`, and mirrors its method and name in headers. The headers are checked against the
body (HeaderMismatch, -32020) and the envelope is checked (-32602, -32022), all before
anything runs; then `ModernMethods` answers the one request directly (no Peer, no
channel), inside the HTTP response: as JSON when the answer comes first, or as an SSE
stream when notifications related to the request (progress, logs, a subscription's)
come before it. Closing that stream cancels the request (basic-patterns-cancellation.mdx).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, cast

import anyio
import pydantic_core
from anyio.abc import TaskGroup
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import _param_headers
from .._logging import get_logger
from ..auth import Principal
from ..engine import TaskEngine
from ..sessions.base import Session
from ..sessions.modern import ModernMethods, Result
from ..sessions.peer import Peer
from ..sessions.spec import ServerSpec
from ..tools import ToolDef
from ..wire import mcp2026
from ..wire.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    JsonRpcError,
    Request,
)
from .http_common import SESSION_HEADER, VERSION_HEADER, error_message, refusal

log = get_logger("taskapp.http")

METHOD_HEADER = "mcp-method"
NAME_HEADER = "mcp-name"
KEEPALIVE_S = 15.0  # an SSE comment this often keeps idle streams past intermediaries

# Where a missing Mcp-Name is accepted unless the transport is strict: sending it is the
# client's MUST, and FastMCP 4's client omits it on tasks/get. The body names the task,
# and the owner check applies as always; a mismatched Mcp-Name is always refused.
_LENIENT = frozenset({"tasks/get", "tasks/update", "tasks/cancel"})
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
    session, its headers say so. An `initialize` without the envelope is 2025-11-25."""
    params = message.get("params")
    if isinstance(params, dict) and mcp2026.has_envelope(params):
        return True
    if message.get("method") == "initialize":
        return False
    return SESSION_HEADER not in headers and (
        METHOD_HEADER in headers or headers.get(VERSION_HEADER) in mcp2026.MODERN_VERSIONS
    )


def check_headers(
    headers: Headers, method: str, params: dict[str, Any], *, strict: bool = False
) -> None:
    """Raise HeaderMismatch (-32020) unless every required header is there and agrees
    with the body (streamable-http "Server Validation"). A missing `Mcp-Name` on
    `tasks/*` passes unless `strict`: see `_LENIENT`."""
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
    source = mcp2026.NAME_SOURCES.get(method)
    if source is None:
        return
    if NAME_HEADER not in headers and not strict and method in _LENIENT:
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
    # Visible ASCII and space are what isprintable() passes among ASCII; a tab is not,
    # hence the slow check after (a per-character generator costs ~10 us per request).
    if not (value.isascii() and value.isprintable()) and not all(
        ch == "\t" or " " <= ch <= "~" for ch in value
    ):
        raise _mismatch(f"the {name} header has characters outside visible ASCII")
    return value


def _decoded(value: str) -> str:
    """A header value, Base64-decoded when it has the `=?base64?…?=` sentinel."""
    try:
        return _param_headers.decode(value)
    except ValueError as exc:
        raise _mismatch(f"Mcp-Name {exc}") from None


def _check_params(headers: Headers, tool: ToolDef | None, arguments: Any) -> None:
    """The tool's `x-mcp-header` parameters against their Mcp-Param-* headers (SEP-2243)."""
    if tool is not None and tool.header_params:
        sent_twice = [p.header for p in tool.header_params if len(headers.getlist(p.header)) > 1]
        why = _param_headers.mismatch(tool.header_params, headers, arguments)
        if sent_twice or why is not None:
            raise _mismatch(why or f"the {sent_twice[0]} header is sent more than once")


def _mismatch(why: str) -> JsonRpcError:
    return JsonRpcError(mcp2026.HEADER_MISMATCH, f"Header mismatch: {why}")


class ModernPosts:
    """Serves sessionless 2026-07-28 POSTs for an `HttpTransport` while it runs."""

    def __init__(self, spec: ServerSpec, *, strict_headers: bool = False) -> None:
        self.spec = spec
        self.strict_headers = strict_headers
        self.engine: TaskEngine | None = None
        self.ending: anyio.Event | None = None
        self.keepalive_s = KEEPALIVE_S

    def start(self, engine: TaskEngine) -> None:
        self.engine, self.ending = engine, anyio.Event()

    def end(self) -> None:
        """The server is stopping: open subscriptions answer their request and close."""
        if self.ending is not None:
            self.ending.set()

    def post(
        self, headers: Headers, message: dict[str, Any], principal: Principal | None
    ) -> ASGIApp:
        """Check a modern POST, then answer it with an `Exchange` (or refuse it)."""
        request_id = message.get("id")
        if SESSION_HEADER in headers:
            return refusal(400, JsonRpcError(
                INVALID_REQUEST,
                "Invalid request: a 2026-07-28 request stands alone; send it without "
                "Mcp-Session-Id (sessions belong to 2025-11-25 clients, opened by initialize)",
            ), request_id=request_id)  # fmt: skip
        if "method" not in message:
            return refusal(400, JsonRpcError(
                INVALID_REQUEST, "Invalid request: a 2026-07-28 client sends no responses"
            ), request_id=request_id)  # fmt: skip
        if "id" not in message:
            return Response(status_code=202)  # 2026-07-28 defines none on HTTP: nothing to do
        params = message.get("params") or {}
        if not isinstance(params, dict):
            error = JsonRpcError(INVALID_PARAMS, "Invalid params: params must be an object")
            return refusal(400, error, request_id=request_id)
        try:
            check_headers(headers, message["method"], params, strict=self.strict_headers)
            if message["method"] == "tools/call" and isinstance(name := params.get("name"), str):
                _check_params(headers, self.spec.tools.get(name), params.get("arguments"))
            env = mcp2026.envelope(params)  # -32602 (a missing field) and -32022: both HTTP 400
        except JsonRpcError as exc:
            return refusal(400, exc, request_id=request_id)
        if self.engine is None or self.ending is None:
            raise RuntimeError("the HTTP transport is not running: serve it with its lifespan")
        exchange = Exchange(message["id"], self.ending, keepalive_s=self.keepalive_s)
        owner = f"principal:{principal.subject}" if principal else None
        # A session for this one request: its owner, and the exchange as where its
        # notifications go ("peer": Session's notify, send_progress and send_log use
        # `peer.notify`, and `closed()` waits on `peer.closed`, the server's ending).
        session = Session(self.spec, self.engine, owner=owner)
        session.peer = cast("Peer", exchange)
        methods = ModernMethods(session, versions=mcp2026.ALL_VERSIONS)
        exchange.begin(methods, Request(message["id"], message["method"], params), env)
        return exchange


class Exchange:
    """One modern request and its HTTP answer: JSON when the answer is ready or comes
    first, else an SSE stream of the request's notifications, then the answer.

    It is also the request's notification sink (`notify`, `closed`): see `ModernPosts`.
    """

    __slots__ = ("_answer", "_notes", "_send", "_tg", "_wake", "answered", "closed",
                 "keepalive_s", "method", "request_id")  # fmt: skip

    def __init__(
        self, request_id: str | int, ending: anyio.Event, *, keepalive_s: float = KEEPALIVE_S
    ) -> None:
        self.request_id = request_id
        self.method = ""
        self.closed = ending  # a subscription ends (answered) when the server stops
        self.keepalive_s = keepalive_s
        self.answered = False
        self._notes: deque[bytes] = deque()
        self._wake: anyio.Event | None = None
        self._tg: TaskGroup | None = None
        self._answer: Result | JsonRpcError | None = None
        self._send: Send | None = None

    def begin(self, methods: ModernMethods, request: Request, env: mcp2026.Envelope) -> None:
        """Run the handler as far as it goes without waiting."""
        self.method = request.method
        try:
            self._answer = methods.dispatch(request, env)
        except JsonRpcError as exc:
            self._answer = exc
        except Exception as exc:
            self._answer = _internal(request.method, exc)

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._push(pydantic_core.to_json(message))

    def _push(self, data: bytes) -> None:
        if self.answered:  # its request is over: nowhere to go (tasks notify no one here)
            log.debug("notification after the answer dropped", id=self.request_id)
            return
        self._notes.append(data)
        if self._wake is not None:
            self._wake.set()
        elif self._tg is not None:  # the first one: the answer becomes an SSE stream
            self._wake = anyio.Event()
            assert self._send is not None
            self._tg.start_soon(self._stream, self._send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._answer
        if isinstance(answer, Awaitable) or self._notes:
            await self._run(receive, send)
        else:  # ready, and nothing came before it: no task, no stream
            await _send_json(send, *self._final(answer))

    def _final(self, answer: dict[str, Any] | JsonRpcError | None) -> tuple[int, bytes]:
        if isinstance(answer, JsonRpcError):
            status = _STATUS.get(answer.code, 200)
            return status, pydantic_core.to_json(error_message(self.request_id, answer))
        message = {"jsonrpc": "2.0", "id": self.request_id, "result": answer}
        return 200, pydantic_core.to_json(message)

    async def _run(self, receive: Receive, send: Send) -> None:
        """Await the answer while watching the client; stream once a notification comes."""
        self._send = send
        async with anyio.create_task_group() as tg:
            self._tg = tg
            watching = bool(self._notes)
            if watching:
                tg.start_soon(self._watch, receive)
                self._wake = anyio.Event()
                tg.start_soon(self._stream, send)
            answer = self._answer
            try:
                if isinstance(answer, Coroutine):  # inside the group: scopes nest as usual
                    answer = _first_step(answer)
                if isinstance(answer, Awaitable):  # it waits: watch the client meanwhile
                    if not watching:
                        watching = True
                        tg.start_soon(self._watch, receive)
                    answer = await answer
            except JsonRpcError as exc:
                answer = exc
            except Exception as exc:
                answer = _internal(self.method, exc)
            status, data = self._final(answer)
            if self._wake is not None:
                self._push(data)  # the stream's last event; it ends the exchange
                self.answered = True
                return
            self.answered = True
            with contextlib.suppress(OSError):  # the client left while we wrote
                await _send_json(send, status, data)
            if watching:
                tg.cancel_scope.cancel()

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self.answered:
            log.info("request cancelled: the client closed its stream", id=self.request_id)
        assert self._tg is not None
        self._tg.cancel_scope.cancel()  # a handler still running is cancelled

    async def _stream(self, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            while True:
                while self._notes:
                    data = self._notes.popleft()
                    await send(
                        {"type": "http.response.body", "body": _event(data), "more_body": True}
                    )
                if self.answered:
                    break
                await self._idle(send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client left while we wrote
            pass
        finally:
            if self._tg is not None:
                self._tg.cancel_scope.cancel()

    async def _idle(self, send: Send) -> None:
        """Wait for the next message; an SSE comment every `keepalive_s` meanwhile."""
        wake = self._wake = anyio.Event()
        while True:
            with anyio.move_on_after(self.keepalive_s):
                await wake.wait()
                return
            await send({"type": "http.response.body", "body": _KEEPALIVE, "more_body": True})


def _first_step(coro: Coroutine[Any, Any, Any]) -> Result:
    """Run a handler up to its first wait: its answer if it needs none (a task created in
    a MemoryStore), else the rest of it to await. No watcher task for the first kind."""
    try:
        waiting = coro.send(None)
    except StopIteration as stop:
        return cast("dict[str, Any]", stop.value)
    return _Resumed(coro, waiting)


class _Resumed:
    """A coroutine run to its first wait, awaited for the rest: exactly what awaiting it
    would have done from there on (what is sent or thrown in is passed on)."""

    __slots__ = ("_coro", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self._coro, self._waiting = coro, waiting

    def __await__(self) -> Generator[Any, Any, dict[str, Any]]:
        coro, waiting = self._coro, self._waiting
        while True:
            try:
                sent = yield waiting
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    waiting = coro.throw(exc)
                except StopIteration as stop:
                    return cast("dict[str, Any]", stop.value)
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as stop:
                    return cast("dict[str, Any]", stop.value)


def _internal(method: str, exc: Exception) -> JsonRpcError:
    from .._logging import internal_error  # local: issue 19 keeps the rest to HTTP work

    return JsonRpcError(INTERNAL_ERROR, internal_error(exc, method=method))


_KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: clients ignore it


def _event(data: bytes) -> bytes:
    return b"event: message\ndata: " + data + b"\n\n"


async def _send_json(send: Send, status: int, data: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
