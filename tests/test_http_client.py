"""The client side of Streamable HTTP (`transports/http_client.py`)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from taskapp._param_headers import encode as header_value
from taskapp.transports.http_client import HttpClientChannel, modern_headers, open_http_channel

pytestmark = pytest.mark.anyio

REQUEST = b'{"jsonrpc": "2.0", "id": 7, "method": "tasks/result", "params": {}}'


async def test_a_failed_post_is_answered_with_an_error_while_open() -> None:
    async with anyio.create_task_group() as tg:
        channel = HttpClientChannel("http://127.0.0.1:9/mcp", tg)
        channel._fail(REQUEST, "HTTP request failed: connection reset")
        answer = await channel.receive()
        await channel.aclose()
    assert b'"id":7' in answer
    assert b"connection reset" in answer


async def test_a_post_that_ends_after_close_is_dropped_not_raised() -> None:
    """Ctrl-C while a `tasks/result` POST is in flight: the channel closes, then the POST
    fails (httpx.ReadError). Its error answer has nobody to go to; raising there would fail
    the client's task group, and `taskapp call` would exit 1 with a traceback, not 130."""
    async with anyio.create_task_group() as tg:
        channel = HttpClientChannel("http://127.0.0.1:9/mcp", tg)
        await channel.aclose()
        channel._fail(REQUEST, "HTTP request failed: read error")
        channel._deliver(b'{"jsonrpc": "2.0", "id": 8, "result": {}}')


def test_modern_headers_mirror_the_body() -> None:
    """2026-07-28: MCP-Protocol-Version, Mcp-Method, and Mcp-Name from the field each
    method names (the tool, the task), which the server checks against the body."""
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "greet"}}
    assert modern_headers(call) == {
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "greet",
    }
    get = {"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"taskId": "t-1"}}
    assert modern_headers(get)["mcp-name"] == "t-1"
    listing = {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}}
    assert "mcp-name" not in modern_headers(listing)
    note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {}}
    assert modern_headers(note)["mcp-method"] == "notifications/cancelled"


@pytest.mark.parametrize(
    ("name", "sent"),
    [
        ("greet", "greet"),
        ("héllo", "=?base64?aMOpbGxv?="),
        (" padded", "=?base64?IHBhZGRlZA==?="),
        ("", "=?base64??="),
        ("=?base64?aGk=?=", "=?base64?PT9iYXNlNjQ/YUdrPT89?="),  # looks encoded: encoded
    ],
)
def test_a_name_outside_visible_ascii_is_base64(name: str, sent: str) -> None:
    assert header_value(name) == sent
    if sent.startswith("=?base64?"):
        assert base64.b64decode(sent[9:-2]).decode() == name


async def test_a_modern_error_status_hands_its_json_rpc_error_to_the_caller() -> None:
    """A 400 carrying -32022 is the server's answer (a modern server), not a failed POST:
    the era probe must see its code to decide not to fall back."""
    error = b'{"jsonrpc":"2.0","id":7,"error":{"code":-32022,"message":"Unsupported"}}'

    methods: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        methods.append(request.headers.get("mcp-method"))
        return httpx.Response(400, content=error, headers={"content-type": "application/json"})

    async with anyio.create_task_group() as tg:
        channel = HttpClientChannel("http://mcp.test/mcp", tg)
        channel.modern = True
        channel._http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        channel.send_nowait(REQUEST)
        got = await channel.receive()
        channel.speak_legacy()
        channel.send_nowait(REQUEST)  # 2025: the same status is a failed request
        failed = await channel.receive()
        await channel.aclose()
    assert methods == ["tasks/result", None]
    assert got == error
    assert b'"code":-32603' in failed
    assert b"HTTP 400" in failed


async def test_a_2026_request_is_cancelled_by_closing_its_stream() -> None:
    """2026 over HTTP: the cancel is the response stream closing; no notifications/cancelled
    is POSTed (basic-patterns-cancellation.mdx, "Transport-Specific Cancellation")."""
    posted: list[str | None] = []
    asked, closed = anyio.Event(), anyio.Event()

    class Forever(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b": priming\n\n"
            await anyio.sleep_forever()

        async def aclose(self) -> None:
            closed.set()

    def answer(request: httpx.Request) -> httpx.Response:
        posted.append(request.headers.get("mcp-method"))
        asked.set()
        sse = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=sse, stream=Forever())

    call = b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow"}}'
    cancel = b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}'
    async with anyio.create_task_group() as tg:
        channel = HttpClientChannel("http://mcp.test/mcp", tg)
        channel.modern = True
        channel._http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        channel.send_nowait(call)
        with anyio.fail_after(5):
            await asked.wait()
            channel.send_nowait(cancel)
            await closed.wait()
        await channel.aclose()
    assert posted == ["tools/call"]


async def test_leaving_the_channel_ends_its_posts_before_httpx_closes() -> None:
    """A POST still waiting, and one only queued (the notifications/cancelled of a request
    the close itself cancelled), when the channel closes: the first is cancelled, the
    second never sent. Before, the queued one ran after httpx had closed and raised
    "Cannot send a request, as the client has been closed" into the Client's task group."""
    posted: list[bytes] = []
    waiting = anyio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        posted.append(request.content)
        waiting.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    call = b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow"}}'
    note = b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}'
    with anyio.fail_after(5):
        async with open_http_channel("http://mcp.test/mcp") as channel:
            channel._http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
            channel.send_nowait(call)
            await waiting.wait()
            channel.send_nowait(note)  # queued: its POST has not started yet
        channel.send_nowait(note)  # after the close: dropped
    assert posted == [call]
    with pytest.raises(anyio.ClosedResourceError):
        await channel.receive()
