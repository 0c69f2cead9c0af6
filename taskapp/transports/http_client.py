"""The client side of Streamable HTTP (httpx): each message a POST, answers as JSON or SSE.

In 2025-11-25 the POSTs share the session the server mints. In 2026-07-28 (`modern`) there
is no session: each POST stands alone and mirrors its body in the MCP-Protocol-Version,
Mcp-Method and Mcp-Name headers, which the server checks against the body.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pydantic_core
from anyio.abc import TaskGroup

from .. import _param_headers
from .._logging import get_logger
from .._param_headers import HeaderParam, header_params, headers_for
from ..sessions.channel import Channel
from ..wire import mcp2026
from ..wire.jsonrpc import INTERNAL_ERROR, RequestId, encode

log = get_logger("taskapp.client")

MODERN_VERSION = "2026-07-28"


@asynccontextmanager
async def open_http_channel(
    url: str, headers: Mapping[str, str] | None = None
) -> AsyncIterator[HttpClientChannel]:
    """An HttpClientChannel whose POSTs run in a task group of its own, so that none
    outlives it: leaving cancels those still in flight and waits for them to end before
    the HTTP client and the inbox close (a POST left running would meet a closed httpx
    client, or an inbox nobody reads, and fail the group of whoever ran it)."""
    async with anyio.create_task_group() as tg:
        channel = HttpClientChannel(url, tg, headers)
        try:
            yield channel
        finally:
            channel.closing = True  # a message sent from now on is dropped, not POSTed
            tg.cancel_scope.cancel()
    with anyio.CancelScope(shield=True):
        await channel.aclose()


class HttpClientChannel(Channel):
    """A Channel to an MCP endpoint. POSTs run concurrently (a `tasks/result` may stay
    open for long); once the session exists, a GET stream takes what is unrelated.

    Open it with `open_http_channel`, which owns the task group the POSTs run in."""

    def __init__(self, url: str, tg: TaskGroup, headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        self._tg = tg
        self._http = httpx.AsyncClient(
            headers=dict(headers or {}), timeout=httpx.Timeout(30, read=None)
        )
        self._inbox_send, self._inbox = anyio.create_memory_object_stream[bytes](math.inf)
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        #: Speak 2026-07-28: no session, the routing headers on every POST.
        self.modern = False
        self._posts: dict[RequestId, anyio.CancelScope] = {}  # 2026 requests in flight
        #: Closing: nothing more is POSTed (`open_http_channel` sets it on the way out).
        self.closing = False
        #: The x-mcp-header parameters of each tool listed (SEP-2243), sent as Mcp-Param-*,
        #: and the tools whose declarations break its rules (left out of tools/list).
        self.tool_headers: dict[str, tuple[HeaderParam, ...]] = {}
        self.invalid_tools: set[str] = set()

    def learn(self, tools: Sequence[Mapping[str, Any]]) -> bool:
        """Note the tools' Mcp-Param-* parameters; True if any was not known before. A
        tool whose declarations break SEP-2243's rules is noted in `invalid_tools`."""
        before = dict(self.tool_headers)
        for tool in tools:
            name, schema = tool.get("name"), tool.get("inputSchema") or {}
            if isinstance(name, str) and isinstance(schema, Mapping):
                try:
                    self.tool_headers[name] = header_params(schema)
                    self.invalid_tools.discard(name)
                except ValueError as exc:
                    log.warning("tool left out: invalid x-mcp-header", tool=name, reason=str(exc))
                    self.tool_headers[name] = ()
                    self.invalid_tools.add(name)
        return self.tool_headers != before

    def declares(self, tool: str) -> bool:
        """Whether `tool` has Mcp-Param-* parameters, as far as the channel knows."""
        return bool(self.tool_headers.get(tool))

    def speak_legacy(self) -> None:
        """From now on 2025-11-25: no 2026 headers, and the session `initialize` opens."""
        self.modern = False
        self.session_id = None

    async def receive(self) -> bytes:
        return await self._inbox.receive()

    async def send(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> None:
        self.send_nowait(data)

    def send_nowait(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> bool:
        if self.closing:
            # e.g. the notifications/cancelled of a request cancelled by the close itself
            log.debug("message after the channel closed", size=len(data))
            return True
        message = pydantic_core.from_json(data) if self.modern else None
        if isinstance(message, dict) and message.get("method") == "notifications/cancelled":
            # 2026 over HTTP: closing the request's stream is the cancel, and no
            # notifications/cancelled is expected (basic-patterns-cancellation.mdx).
            params = message.get("params")
            cancelled = params.get("requestId") if isinstance(params, dict) else None
            if isinstance(cancelled, (str, int)) and cancelled in self._posts:
                self._posts[cancelled].cancel()
            return True
        self._tg.start_soon(self._post, data, message)  # each message its own POST
        return True

    def _headers(self, message: Any = None) -> dict[str, str]:
        headers = {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
        }
        if self.modern and isinstance(message, dict):
            return {**headers, **modern_headers(message, self.tool_headers)}
        if self.session_id is not None:
            headers["mcp-session-id"] = self.session_id
        if self.protocol_version is not None:
            headers["mcp-protocol-version"] = self.protocol_version
        return headers

    async def _post(self, data: bytes, message: Any = None) -> None:
        if self.closing:  # queued before the close, started after it
            return
        request_id = message.get("id") if isinstance(message, dict) else None
        with anyio.CancelScope() as scope:
            if request_id is not None:
                self._posts[request_id] = scope
            try:
                headers = self._headers(message)
                async with self._http.stream(
                    "POST", self.url, content=data, headers=headers
                ) as resp:
                    await self._take(resp, data)
            except httpx.HTTPError as exc:
                self._fail(data, f"HTTP request failed: {exc}")
            finally:
                if request_id is not None:
                    self._posts.pop(request_id, None)

    async def _take(self, resp: httpx.Response, sent: bytes) -> None:
        if resp.status_code == 202:
            return
        if self.session_id is None and resp.status_code < 400 and "mcp-session-id" in resp.headers:
            self.session_id = resp.headers["mcp-session-id"]
            self._tg.start_soon(self._listen)
        kind = resp.headers.get("content-type", "")
        if resp.status_code >= 400:
            body = await resp.aread()
            if self.modern and _answers(body, sent):
                self._to_inbox(body)  # a 2026 error (e.g. -32022 on a 400): the caller reads it
                return
            self._fail(sent, f"HTTP {resp.status_code}: {body[:500].decode(errors='replace')}")
        elif kind.startswith("application/json"):
            self._deliver(await resp.aread())
        elif kind.startswith("text/event-stream"):
            async for data in _events(resp):
                self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        if self.protocol_version is None:
            result = pydantic_core.from_json(data).get("result")
            if isinstance(result, dict) and isinstance(result.get("protocolVersion"), str):
                self.protocol_version = result["protocolVersion"]
        self._to_inbox(data)

    def _to_inbox(self, data: bytes) -> None:
        # A POST still in flight when the channel closes (Ctrl-C, a client leaving with a
        # request pending) ends with an answer or an error nobody reads any more: drop it,
        # rather than fail the task group that runs the POSTs.
        try:
            self._inbox_send.send_nowait(data)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            log.debug("message after the channel closed", size=len(data))

    def _fail(self, sent: bytes, message: str) -> None:
        """A request the server could not answer gets an error answer, so nobody waits."""
        request = pydantic_core.from_json(sent)
        if "id" in request and "method" in request:
            error = {"code": INTERNAL_ERROR, "message": message}
            self._to_inbox(encode({"jsonrpc": "2.0", "id": request["id"], "error": error}))
        else:
            log.warning("message not delivered", reason=message)

    async def _listen(self) -> None:
        headers = {k: v for k, v in self._headers().items() if k != "content-type"}
        headers["accept"] = "text/event-stream"
        try:
            async with self._http.stream("GET", self.url, headers=headers) as resp:
                if resp.status_code != 200:
                    return  # 405: the server offers no GET stream
                async for data in _events(resp):
                    self._deliver(data)
        except httpx.HTTPError as exc:
            log.debug("GET stream ended", reason=str(exc))

    async def aclose(self) -> None:
        if self.session_id is not None:
            with anyio.move_on_after(5, shield=True), contextlib.suppress(httpx.HTTPError):
                await self._http.delete(self.url, headers=self._headers())
        await self._http.aclose()
        self._inbox_send.close()
        self._inbox.close()


async def _events(resp: httpx.Response) -> AsyncIterator[bytes]:
    """The `data` of each SSE event (multi-line data joined by newlines)."""
    lines: list[str] = []
    async for line in resp.aiter_lines():
        if line == "":
            data = "\n".join(lines)
            lines = []
            if data.strip():  # an event without data (a priming event) carries no message
                yield data.encode()
        elif line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))
    if "\n".join(lines).strip():
        yield "\n".join(lines).encode()


def modern_headers(
    message: dict[str, Any], tool_headers: Mapping[str, tuple[HeaderParam, ...]] | None = None
) -> dict[str, str]:
    """The 2026-07-28 headers of a message: its version, method, the name it acts on, and
    for a `tools/call` the Mcp-Param-* headers of the tool's x-mcp-header parameters."""
    headers = {"mcp-protocol-version": MODERN_VERSION}
    method = message.get("method")
    if not isinstance(method, str):
        return headers
    headers["mcp-method"] = method
    params = message.get("params")
    source = mcp2026.NAME_SOURCES.get(method)
    name = params.get(source) if source is not None and isinstance(params, dict) else None
    if isinstance(name, str):
        headers["mcp-name"] = _param_headers.encode(name)
        if method == "tools/call" and tool_headers and (params_of := tool_headers.get(name)):
            assert isinstance(params, dict)
            headers.update(headers_for(params_of, params.get("arguments")))
    return headers


def _answers(body: bytes, sent: bytes) -> bool:
    """Whether an error status came with a JSON-RPC answer to the request that was sent."""
    try:
        answer, request = pydantic_core.from_json(body), pydantic_core.from_json(sent)
    except ValueError:
        return False
    return (
        isinstance(answer, dict)
        and isinstance(answer.get("error"), dict)
        and isinstance(request, dict)
        and "id" in request
        and answer.get("id") == request["id"]
    )
