"""The cost of one Redis command on this host, outside taskapp: the floor under
"taskapp on Redis against taskapp on memory" (bench/RESULTS.md, "Redis against memory").

    python bench/redis_floor.py [redis://127.0.0.1:6379/15] [N]

Sequential, one connection: redis-py's asyncio client (`PING`, and `EVALSHA` of a script
with two writes, like taskapp's create), then the same two as raw RESP on a bare asyncio
stream. Prints wall and CPU microseconds per command.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlparse

import redis.asyncio as redis

SCRIPT = (
    "redis.call('HSET', KEYS[1], 'a', ARGV[1], 'b', ARGV[2]) "
    "redis.call('ZADD', KEYS[2], 1, ARGV[1]) return 1"
)


def _resp(*parts: object) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def _timed(label: str, n: int, one: Callable[[int], Awaitable[object]]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await one(i)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<22} wall {wall / n * 1e6:6.0f} us   cpu {cpu / n * 1e6:6.0f} us")


async def main(url: str, n: int) -> None:
    client = redis.Redis.from_url(url)
    script = client.register_script(SCRIPT)
    await script(keys=["floor:h", "floor:z"], args=["x", "y"])  # loads it
    await _timed("redis-py PING", n, lambda i: client.ping())
    keys = ["floor:h", "floor:z"]
    await _timed("redis-py EVALSHA", n, lambda i: script(keys=keys, args=[i, "y"]))
    where = urlparse(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port or 6379)
    writer.write(_resp("SELECT", (where.path or "/0").lstrip("/") or "0"))
    await reader.readline()

    async def raw(command: bytes) -> None:
        writer.write(command)
        await reader.readline()

    await _timed("raw RESP PING", n, lambda i: raw(_resp("PING")))
    sha = script.sha
    evalsha = lambda i: raw(_resp("EVALSHA", sha, 2, *keys, i, "y"))  # noqa: E731
    await _timed("raw RESP EVALSHA", n, evalsha)
    await client.delete("floor:h", "floor:z")
    writer.close()
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(
        main(
            sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/15",
            int(sys.argv[2]) if len(sys.argv) > 2 else 3000,
        )
    )
