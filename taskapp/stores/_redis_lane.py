"""The Redis store's own connection for its scripts, used when no other call holds it.

Through redis-py's client a command checks a connection out of the pool (a condition,
a lock, a readiness poll of the socket, connection-count bookkeeping), runs in a retry
wrapper and goes back; on this host that is about half of a script's cost in Python.
A sequential task round trip runs two scripts (the create and the end), one at a time,
so they take this connection as it is: send, read, done. A script that finds it busy
(calls in flight at once) takes the pool's way, as every other command does.

Failures are redis-py's own: the connection (`redis.asyncio.Connection`, made with the
pool's options: TLS, auth, database, timeouts) drops itself on any error or
cancellation in the middle of a command, and connects again on the next, and one that
Redis closed while idle is replaced before a command is sent, as the pool would; nothing
is retried. A script Redis does not know (NOSCRIPT, after a restart or SCRIPT FLUSH) is
loaded and run again, as `AsyncScript` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError


class Lane:
    """One connection outside the pool, for one script at a time (`busy` otherwise)."""

    __slots__ = ("_connection", "busy")

    def __init__(self, pool: ConnectionPool) -> None:
        self._connection: AbstractConnection = pool.make_connection()  # type: ignore[no-untyped-call]
        self.busy = False

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The script's reply; the caller checked that the lane is not busy."""
        self.busy = True
        connection = self._connection
        try:
            try:  # as the pool checks a connection it hands out: EOF or stray data?
                stale = connection.is_connected and await connection.can_read()
            except RedisConnectionError:
                stale = True
            if stale:  # e.g. Redis restarted or closed it while idle: a new one
                await connection.disconnect()
            try:
                await connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
                return await connection.read_response()
            except NoScriptError:
                await connection.send_command("SCRIPT", "LOAD", script.script)
                script.sha = await connection.read_response()
                await connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
                return await connection.read_response()
        finally:
            self.busy = False

    async def close(self) -> None:
        await self._connection.disconnect()
