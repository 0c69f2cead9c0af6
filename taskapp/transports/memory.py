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
        self._closed = False
        self._receiving: set[anyio.CancelScope] = set()

    async def receive(self) -> bytes:
        # Closing a memory stream wakes the tasks waiting on it only from anyio 4.16:
        # `aclose` cancels a pending receive itself, so it ends the same on every version.
        if self._closed:
            raise anyio.ClosedResourceError
        with anyio.CancelScope() as scope:
            self._receiving.add(scope)
            try:
                return await self._receive.receive()
            finally:
                self._receiving.discard(scope)
        raise anyio.ClosedResourceError  # the scope was cancelled by `aclose`

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
        self._closed = True
        for scope in self._receiving:
            scope.cancel()


def memory_pair() -> tuple[MemoryChannel, MemoryChannel]:
    a_send, b_receive = anyio.create_memory_object_stream[bytes](math.inf)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](math.inf)
    return MemoryChannel(a_send, a_receive), MemoryChannel(b_send, b_receive)
