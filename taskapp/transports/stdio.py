"""The stdio transport: newline-delimited JSON-RPC over two file descriptors (`FdChannel`)."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

import anyio

from ..engine import TaskEngine
from ..sessions.channel import Channel, MessageTooLargeError, receive_each
from ..sessions.peer import Peer
from ..sessions.server import ServerSession
from ..sessions.spec import ServerSpec
from ..wire.jsonrpc import RequestId
from .lines import CHUNK, DEFAULT_MAX_MESSAGE_BYTES, Lines


@contextmanager
def private_stdout() -> Iterator[int]:
    """A private copy of file descriptor 1 for the protocol, with stdout sent to stderr.

    Whatever else writes to stdout (a tool's `print`, a library, a subprocess that
    inherits descriptor 1, C code) lands on stderr instead of corrupting the JSON-RPC
    stream. Yields the protocol's descriptor; on exit descriptor 1, `sys.stdout` and
    the descriptor's blocking mode are as they were, for taskapp run as a library.
    """
    protocol = os.dup(1)
    blocking = os.get_blocking(protocol)
    saved_stdout = sys.stdout
    try:
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        if saved_stdout is not None:
            saved_stdout.flush()  # anything buffered before goes to stderr, not the protocol
        yield protocol
    finally:
        sys.stdout = saved_stdout
        os.set_blocking(protocol, blocking)
        os.dup2(protocol, 1)
        os.close(protocol)


def _nonblocking_ok(fd: int) -> bool:
    """Whether O_NONBLOCK can be set on `fd` without surprising anyone else.

    Only pipes and sockets qualify, and only when no other standard stream shares
    the same open file (as `2>&1` would make stderr do): logging to a
    non-blocking stderr could fail with EAGAIN.
    """
    if sys.platform == "win32":
        return False
    try:
        info = os.fstat(fd)
    except OSError:
        return False
    if not (stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode)):
        return False
    for other in (0, 1, 2):
        if other == fd:
            continue
        try:
            other_info = os.fstat(other)
        except OSError:
            continue
        if (other_info.st_dev, other_info.st_ino) == (info.st_dev, info.st_ino):
            return False
    return True


class _LoopReader(asyncio.Protocol):
    """Reads a pipe from the event loop's own readiness callbacks (asyncio only).

    The pipe is registered with the loop once, instead of once per read as
    `anyio.wait_readable` does (two `epoll_ctl` calls and a future each time: about
    40 us, paid on every request a client sends). What arrives goes straight into the
    channel's line buffer; reading pauses while whole lines wait there and the buffer
    is over `CHUNK`, so a client that sends faster than we answer is held back by the pipe.

    With a `sink` (FdChannel.deliver), what arrives is handed over at once instead: no
    whole line waits in the buffer, and no task is woken.
    """

    def __init__(self, lines: Lines) -> None:
        self._lines = lines
        self._transport: asyncio.ReadTransport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self.ended = False
        self.sink: Callable[[], None] | None = None

    @classmethod
    async def open(cls, fd: int, lines: Lines) -> _LoopReader:
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(fd, "rb", buffering=0, closefd=False)
        _, reader = await loop.connect_read_pipe(lambda: cls(lines), pipe)
        return reader

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A read pipe's transport: asyncio's is a ReadTransport; uvloop's only behaves as one.
        self._transport = cast("asyncio.ReadTransport", transport)

    def data_received(self, data: bytes) -> None:
        self._lines.feed(data)
        if self.sink is not None:
            self.sink()
            return
        if len(self._lines) > CHUNK and self._transport is not None:
            self._transport.pause_reading()
            self._paused = True
        self.wake()

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()  # a read error ends the input as the end of the pipe does

    def _end(self) -> None:
        self.ended = True
        self.wake()

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self) -> None:
        """Until more input (or its end) has arrived; called when no whole line is buffered.
        With a sink, until the input ends or `wake` is called."""
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _is_terminal(fd: int) -> bool:
    return sys.platform != "win32" and os.isatty(fd)


def _asyncio_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False  # another anyio backend (trio): read with anyio.wait_readable
    return True


class FdChannel(Channel):
    """Newline-delimited JSON-RPC over two file descriptors (the stdio transport).

    Pipes are read and written without threads (the event loop waits on the fd);
    anything else (a terminal, a file) falls back to worker threads.
    """

    def __init__(
        self, read_fd: int, write_fd: int, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    ) -> None:
        self._rfd = read_fd
        self._wfd = write_fd
        self._lines = Lines(max_message_bytes)
        self._eof = False
        self._tail = memoryview(b"")
        self._r_async = _nonblocking_ok(read_fd)
        self._w_async = _nonblocking_ok(write_fd)
        self._reader: _LoopReader | None = None
        if self._r_async:
            os.set_blocking(read_fd, False)
        if self._w_async:
            os.set_blocking(write_fd, False)

    async def receive(self) -> bytes:
        while (line := self._lines.pop()) is None:
            if self._eof:
                raise anyio.EndOfStream
            reader = await self._loop_reader()
            if reader is not None:
                if reader.ended:
                    self._eof = True
                    self._lines.end()
                else:
                    await reader.wait()  # it feeds self._lines
                continue
            chunk = await self._read()
            if chunk:
                self._lines.feed(chunk)
            else:
                self._eof = True
                self._lines.end()
        return line

    async def deliver(
        self,
        on_message: Callable[[bytes], None],
        on_oversized: Callable[[MessageTooLargeError], None],
    ) -> None:
        """Hand each message over as it arrives, until the input ends (sessions.channel.Delivering).

        On asyncio with a pipe, from the event loop's read callback: a message is handled
        in the loop turn that read it. Otherwise, a loop over `receive`. An exception from
        a callback stops the delivery and is raised here; what was not handed over stays
        for `receive`.
        """
        reader = await self._loop_reader()
        if reader is None:
            await receive_each(self, on_message, on_oversized)
            return
        failed: list[Exception] = []

        def drain() -> None:
            try:
                while (line := self._pop(on_oversized)) is not None:
                    on_message(line)
            except Exception as exc:  # raised in deliver, as a loop over receive would
                failed.append(exc)
                reader.sink = None
                reader.wake()

        reader.sink = drain
        try:
            drain()  # what arrived before
            while not reader.ended and not failed:
                await reader.wait()
        finally:
            reader.sink = None
        if not failed:
            self._eof = True
            self._lines.end()  # a last message without a newline still counts
            drain()
        if failed:
            raise failed[0]

    async def _loop_reader(self) -> _LoopReader | None:
        """The reader on the event loop's callbacks, opened on first use; None when the
        input cannot be non-blocking (`_nonblocking_ok`) or the backend is not asyncio:
        then reads go through `_read`."""
        if self._reader is None and self._r_async and _asyncio_running():
            self._reader = await _LoopReader.open(self._rfd, self._lines)
        return self._reader

    def _pop(self, on_oversized: Callable[[MessageTooLargeError], None]) -> bytes | None:
        """The next whole line buffered, reporting any oversized one on the way."""
        while True:
            try:
                return self._lines.pop()
            except MessageTooLargeError as exc:
                on_oversized(exc)

    async def _read(self) -> bytes:
        if not self._r_async and _is_terminal(self._rfd):
            # Waited for on the event loop, read once ready (a line, or Ctrl-D): no worker
            # thread stuck in read(), so Ctrl-C stops the server at once, not after Enter.
            await anyio.wait_readable(self._rfd)
            return os.read(self._rfd, CHUNK)
        if not self._r_async:
            return await anyio.to_thread.run_sync(os.read, self._rfd, CHUNK, abandon_on_cancel=True)
        while True:
            try:
                return os.read(self._rfd, CHUNK)
            except BlockingIOError:
                await anyio.wait_readable(self._rfd)

    def send_nowait(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> bool:
        if not self._w_async or self._tail:
            return False
        framed = data + b"\n"
        try:
            written = os.write(self._wfd, framed)
        except BlockingIOError:
            return False
        if written < len(framed):
            self._tail = memoryview(framed)[written:]  # the rest goes out in flush()
        return True

    @property
    def backlogged(self) -> bool:
        return bool(self._tail)

    async def flush(self) -> None:
        tail, self._tail = self._tail, memoryview(b"")
        await self._write(tail)

    async def send(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> None:
        await self.flush()
        await self._write(memoryview(data + b"\n"))

    async def _write(self, view: memoryview) -> None:
        while view:
            if self._w_async:
                try:
                    written = os.write(self._wfd, view)
                except BlockingIOError:
                    await anyio.wait_writable(self._wfd)
                    continue
            else:
                written = await anyio.to_thread.run_sync(os.write, self._wfd, view)
            view = view[written:]

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.close()


async def serve_stdio(
    spec: ServerSpec, engine: TaskEngine, channel: Channel, grace_s: float
) -> None:
    """Serve one client over `channel` (stdio) until its input ends. Then the running
    tasks are interrupted at once, and the requests already read have `grace_s` to be
    answered: a client shuts down by closing stdin and waiting for the process to exit."""
    session = ServerSession(spec, engine)
    await session.serve(
        lambda s: Peer(
            channel, s.on_request, s.on_notification, drain_s=grace_s,
            on_input_end=engine.interrupt_all,
        )
    )  # fmt: skip
