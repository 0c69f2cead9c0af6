"""Newline-delimited JSON-RPC: the framing stdio uses, and a channel over byte streams."""

from __future__ import annotations

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

from ..sessions.channel import Channel, MessageTooLargeError
from ..wire.jsonrpc import RequestId

DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # as the official SDK's HTTP body limit
CHUNK = 256 * 1024


class Lines:
    """Splits a byte stream into newline-delimited messages, skipping blank lines.

    A message over the limit is dropped as it streams in (memory stays bounded)
    and reported once its end arrives, so the reader can answer it and go on.
    """

    __slots__ = ("_buf", "_discarding", "_max", "_scan")

    def __init__(self, max_bytes: int) -> None:
        self._buf = bytearray()
        self._scan = 0
        self._max = max_bytes
        self._discarding = False

    def pop(self) -> bytes | None:
        while (newline := self._buf.find(b"\n", self._scan)) >= 0:
            too_long = self._discarding or newline > self._max
            line = b"" if too_long else bytes(self._buf[:newline]).rstrip(b"\r")
            del self._buf[: newline + 1]  # O(1): bytearray trims its front in place
            self._scan = 0
            if too_long:
                self._discarding = False
                raise MessageTooLargeError(f"message longer than {self._max} bytes")
            if line.strip():
                return line
        self._scan = len(self._buf)
        if len(self._buf) > self._max:
            self._discarding = True
            self._buf.clear()
            self._scan = 0
        return None

    def feed(self, chunk: bytes) -> None:
        self._buf.extend(chunk)

    def __len__(self) -> int:
        return len(self._buf)

    def end(self) -> None:
        """At end of input, a last message without a newline still counts."""
        if self._buf.strip() and not self._discarding:
            self._buf.extend(b"\n")


class StreamChannel(Channel):
    """Newline-delimited JSON-RPC over anyio byte streams (a subprocess's pipes, a socket)."""

    def __init__(
        self,
        receive: ByteReceiveStream,
        send: ByteSendStream,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._receive = receive
        self._send = send
        self._lines = Lines(max_message_bytes)
        self._eof = False

    async def receive(self) -> bytes:
        while (line := self._lines.pop()) is None:
            if self._eof:
                raise anyio.EndOfStream
            try:
                self._lines.feed(await self._receive.receive(CHUNK))
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._eof = True
                self._lines.end()
        return line

    async def send(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> None:
        await self._send.send(data + b"\n")

    async def aclose(self) -> None:
        await self._send.aclose()
