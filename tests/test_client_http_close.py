"""A Client over Streamable HTTP that closes while its requests are still in flight."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import pytest

from taskapp import Client
from taskapp.wire.jsonrpc import JsonRpcError
from tests.test_cli_call import http_server

pytestmark = pytest.mark.anyio

#: Each round races the close against POSTs at a different stage (being sent, waiting
#: for the answer, a notifications/cancelled just queued); the race lost once in a few.
ROUNDS = 25


SLOW = {"a": 1, "b": 2, "steps": 100, "delay": 0.1}


async def _left_waiting(client: Client, name: str, arguments: dict[str, Any]) -> None:
    with contextlib.suppress(JsonRpcError):  # "connection closed before the answer came"
        await client.call_tool(name, arguments)


@pytest.mark.parametrize("dialect", ["2025-11-25", "2026-07-28"])
async def test_closing_with_requests_in_flight_raises_nothing(dialect: Any) -> None:
    """Leaving `async with Client(url)` while requests wait, or just after cancelling
    them, must not fail with httpx's "client has been closed" or a closed inbox: every
    POST ends before the HTTP client and the inbox close (issue 21: Ctrl-C during
    `taskapp call http://…` printed an ExceptionGroup and exited 1)."""
    async with http_server() as url:
        for n in range(ROUNDS):
            async with anyio.create_task_group() as outer, Client(url, dialect=dialect) as client:
                async with anyio.create_task_group() as calls:
                    for _ in range(3):
                        calls.start_soon(client.call_tool, "slow_add", SLOW)
                    calls.start_soon(client.list_tools)
                    for _ in range(n % 5):  # a different stage each round
                        await anyio.lowlevel.checkpoint()
                    calls.cancel_scope.cancel()  # their cancels are queued, not yet sent
                outer.start_soon(_left_waiting, client, "echo", {"text": "x"})
                outer.start_soon(_left_waiting, client, "slow_add", SLOW)
