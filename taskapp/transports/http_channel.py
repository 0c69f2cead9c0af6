"""One Streamable HTTP session's channel: POSTed messages in, routed streams out.

A response goes on the stream of the POST that carried its request, and so do
the messages sent while that request is handled (progress of an inline call,
the questions `tasks/result` delivers). Everything else (task status
notifications, progress after a task was created) goes on the session's GET
stream, or waits in a bounded backlog until one opens. Each message goes on
exactly one stream, as the transport requires.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._logging import get_logger
from ..sessions.channel import Channel
from ..wire.jsonrpc import RequestId

log = get_logger("taskapp.http")

BACKLOG = 1000  # messages kept for a GET stream that is not open (oldest dropped first)


@dataclass(eq=False, slots=True)
class Outbox:
    """Messages for one HTTP response. `single` outboxes (JSON responses) take only
    the final message; others go elsewhere."""

    single: bool
    send: MemoryObjectSendStream[bytes]
    receive: MemoryObjectReceiveStream[bytes]
    done: bool = False

    @classmethod
    def open(cls, *, single: bool) -> Outbox:
        send, receive = anyio.create_memory_object_stream[bytes](math.inf)
        return cls(single=single, send=send, receive=receive)

    def close(self) -> None:
        """No more messages: a reader still iterating finishes normally."""
        self.done = True
        self.send.close()

    def release(self) -> None:
        """Close both ends; the reader calls this when it is done."""
        self.close()
        self.receive.close()


@dataclass(eq=False, slots=True)
class HttpChannel(Channel):
    """The Channel a session's Peer reads and writes."""

    inbox_send: MemoryObjectSendStream[bytes] = field(init=False)
    inbox: MemoryObjectReceiveStream[bytes] = field(init=False)
    streams: dict[RequestId, Outbox] = field(default_factory=dict)
    standalone: Outbox | None = None
    backlog: deque[bytes] = field(default_factory=lambda: deque(maxlen=BACKLOG))

    def __post_init__(self) -> None:
        self.inbox_send, self.inbox = anyio.create_memory_object_stream[bytes](math.inf)

    def post(self, data: bytes) -> None:
        self.inbox_send.send_nowait(data)

    async def receive(self) -> bytes:
        return await self.inbox.receive()

    async def send(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> None:
        self.send_nowait(data, related=related, final=final)

    def send_nowait(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> bool:
        box = self.streams.get(related) if related is not None else None
        if box is not None and not box.done and (final or not box.single):
            box.send.send_nowait(data)
            if final:
                box.done = True
                box.send.close()
            return True
        self._send_unrelated(data)
        return True

    def _send_unrelated(self, data: bytes) -> None:
        box = self.standalone
        if box is not None and not box.done:
            box.send.send_nowait(data)
        else:
            self.backlog.append(data)

    def open_standalone(self) -> Outbox:
        """The GET stream; what waited in the backlog goes out first."""
        box = self.standalone = Outbox.open(single=False)
        while self.backlog:
            box.send.send_nowait(self.backlog.popleft())
        return box

    def close_standalone(self, box: Outbox) -> None:
        box.release()
        if self.standalone is box:
            self.standalone = None

    async def aclose(self) -> None:
        self.inbox_send.close()
        self.inbox.close()
        for box in list(self.streams.values()):
            box.close()
        if self.standalone is not None:
            self.standalone.close()
