"""A raw JSON-RPC peer for tests: send exact messages to an app, see exact answers."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pydantic_core

from taskapp import TaskApp
from taskapp.transports.memory import MemoryChannel, memory_pair

INIT_PARAMS: dict[str, Any] = {
    "protocolVersion": "2025-11-25",
    "capabilities": {},
    "clientInfo": {"name": "raw-test", "version": "0"},
}


class RawConnection:
    """Sends bytes or dicts; sorts what comes back into responses (by id) and notifications."""

    def __init__(self, channel: MemoryChannel) -> None:
        self.channel = channel
        self.responses: dict[Any, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []  # requests the server sent us
        self.received: list[dict[str, Any]] = []  # everything, in order
        self._ids = itertools.count(1000)
        self._changed = anyio.Event()

    async def pump(self) -> None:
        while True:
            try:
                data = await self.channel.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return
            message = pydantic_core.from_json(data)
            self.received.append(message)
            if "method" in message and "id" in message:
                self.requests.append(message)
            elif "method" in message:
                self.notifications.append(message)
            else:
                self.responses[message.get("id")] = message
            self._changed.set()
            self._changed = anyio.Event()

    async def send_raw(self, data: bytes) -> None:
        await self.channel.send(data)

    async def send(self, message: dict[str, Any]) -> None:
        await self.channel.send(pydantic_core.to_json(message))

    async def wait_for(self, predicate: Any, within: float = 5) -> Any:
        with anyio.fail_after(within):
            while True:
                found = predicate()
                if found:
                    return found
                await self._changed.wait()

    async def response(self, request_id: Any, within: float = 5) -> dict[str, Any]:
        result: dict[str, Any] = await self.wait_for(lambda: self.responses.get(request_id), within)
        return result

    async def call(
        self, method: str, params: dict[str, Any] | None = None, within: float = 5
    ) -> dict[str, Any]:
        """Send a request and return the whole response message (result or error)."""
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return await self.response(request_id, within)

    async def result(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.call(method, params)
        assert "result" in response, response
        result: dict[str, Any] = response["result"]
        return result

    async def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.call(method, params)
        assert "error" in response, response
        error: dict[str, Any] = response["error"]
        return error

    def notes(self, method: str) -> list[dict[str, Any]]:
        return [n["params"] for n in self.notifications if n["method"] == method]


@asynccontextmanager
async def raw_connection(
    app: TaskApp, *, initialize: dict[str, Any] | None = INIT_PARAMS
) -> AsyncIterator[RawConnection]:
    """An app served in memory; `initialize=None` skips the handshake."""
    ours, theirs = memory_pair()
    async with app.running() as engine, anyio.create_task_group() as tg:
        tg.start_soon(app.serve_channel, theirs, engine)
        conn = RawConnection(ours)
        tg.start_soon(conn.pump)
        if initialize is not None:
            await conn.result("initialize", initialize)
            await conn.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        try:
            yield conn
        finally:
            tg.cancel_scope.cancel()
            await ours.aclose()
            await theirs.aclose()
