"""The client side of Streamable HTTP (`transports/http_client.py`)."""

from __future__ import annotations

import anyio
import pytest

from taskapp.transports.http_client import HttpClientChannel

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
