"""The channel a `Peer` runs over: one whole JSON-RPC message at a time.

Transports implement it (stdio, Streamable HTTP, memory); sessions only see this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import anyio

from ..wire.jsonrpc import RequestId


class MessageTooLargeError(Exception):
    """A channel's message over its size limit: it was skipped, the channel goes on."""


class Channel(Protocol):
    """One whole JSON-RPC message per call; `receive` raises anyio.EndOfStream at the end.

    A channel that cannot write without waiting need not define `send_nowait`,
    `backlogged` or `flush`: subclass this protocol and take the defaults.
    """

    async def receive(self) -> bytes: ...

    async def send(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> None:
        """Send one message. `related` names the request it belongs to, if any, and
        `final` marks that request's response: transports with one stream per request
        (Streamable HTTP) route by them; the others ignore them."""
        ...

    def send_nowait(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> bool:
        """Send at once if that cannot block, and say so; False: nothing was sent, use
        `send`. A channel may take the message and finish writing it in `flush`."""
        return False

    @property
    def backlogged(self) -> bool:
        """Whether part of a message taken by `send_nowait` still waits for `flush`."""
        return False

    async def flush(self) -> None:
        """Finish writing what `send_nowait` took (see `backlogged`)."""
        return None

    async def aclose(self) -> None: ...


@runtime_checkable
class Delivering(Protocol):
    """A channel that can hand over messages itself, as they arrive (stdio on asyncio).

    `deliver` calls `on_message` for each whole message, or `on_oversized` for one over
    the size limit, until the input ends. The callbacks run synchronously, possibly from
    the event loop's read callback, so they must not block. A `Peer` uses it instead of a
    loop over `receive` when it can: a request is then answered in the event-loop turn
    that read it, without waking a task first.
    """

    async def deliver(
        self,
        on_message: Callable[[bytes], None],
        on_oversized: Callable[[MessageTooLargeError], None],
    ) -> None: ...


async def receive_each(
    channel: Channel,
    on_message: Callable[[bytes], None],
    on_oversized: Callable[[MessageTooLargeError], None],
) -> None:
    """`Delivering.deliver` for any channel: a loop over `receive` until the input ends."""
    while True:
        try:
            data = await channel.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        except MessageTooLargeError as exc:
            on_oversized(exc)
            continue
        on_message(data)
