"""What-if variants of taskapp's `noop` server, patched at import to size a change first.

Not a change to taskapp: the patches below exist only in this process, to measure
what an optimisation suggested in bench/RESULTS.md would buy. Choose them with
TASKAPP_WHATIF (comma-separated):

- `nostatus`: no `notifications/tasks/status` for a task that has ended (the spec's
  MAY, S-34); the client learns the end from `tasks/result` or `tasks/get`.
- `coalesce`: the JSON-RPC writer sends every message already queued in one write
  (one syscall, one wake-up of the client) instead of one write per message.
- `logcache`: structlog caches its bound loggers, so a filtered-out `log.info` costs
  a method call instead of building a logger each time.

    TASKAPP_WHATIF=nostatus,coalesce taskapp run bench/servers/taskapp_whatif.py:app \\
        --log-level warning
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import structlog

from taskapp import TaskApp
from taskapp.records import TaskRecord
from taskapp.sessions.server import ServerSession
from taskapp.wire import jsonrpc

app = TaskApp("taskapp-whatif")


@app.task_tool(mode="optional")
async def noop() -> str:
    """Return "ok" at once."""
    return "ok"


def _nostatus() -> None:
    original = ServerSession.on_status

    def on_status(self: ServerSession, record: TaskRecord) -> None:
        if record.terminal:
            self.progress_tokens.pop(record.task_id, None)
            return
        original(self, record)

    ServerSession.on_status = on_status  # type: ignore[method-assign]


def _coalesce() -> None:
    async def write_forever(self: jsonrpc.Peer) -> None:
        reader: Any = self._out_reader
        channel: Any = self._channel
        async for data, related, final in reader:
            batch = [data]
            if hasattr(channel, "_wfd"):  # stdio only: HTTP routes each message by request
                while True:
                    try:
                        more, _, _ = reader.receive_nowait()
                    except anyio.WouldBlock:
                        break
                    batch.append(more)
            try:
                await channel.send(b"\n".join(batch), related=related, final=final)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                return

    jsonrpc.Peer._write_forever = write_forever  # type: ignore[method-assign]


def _logcache() -> None:
    # `taskapp run` has configured logging before it imports this file: change one setting.
    structlog.configure(cache_logger_on_first_use=True)


PATCHES = {"nostatus": _nostatus, "coalesce": _coalesce, "logcache": _logcache}
for name in filter(None, os.environ.get("TASKAPP_WHATIF", "").split(",")):
    PATCHES[name.strip()]()
