"""An in-memory connection: two channels that talk to each other (tests, `Client(app)`)."""

from __future__ import annotations

import math

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..sessions.channel import Channel
from ..wire.jsonrpc import RequestId


class MemoryChannel(Channel):
    """One end of an in-memory connection; `memory_pair()` makes two that talk to each other."""

    def __init__(
        self, send: MemoryObjectSendStream[bytes], receive: MemoryObjectReceiveStream[bytes]
    ) -> None:
        self._send = send
        self._receive = receive

    async def receive(self) -> bytes:
        return await self._receive.receive()

    def send_nowait(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> bool:
        self._send.send_nowait(data)  # unbounded: never blocks
        return True

    async def send(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> None:
        await self._send.send(data)

    async def aclose(self) -> None:
        self._send.close()
        self._receive.close()


def memory_pair() -> tuple[MemoryChannel, MemoryChannel]:
    a_send, b_receive = anyio.create_memory_object_stream[bytes](math.inf)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](math.inf)
    return MemoryChannel(a_send, a_receive), MemoryChannel(b_send, b_receive)
