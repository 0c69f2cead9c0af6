"""The Redis store's work queue: task ids handed to worker processes through a stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .._logging import get_logger
from ._redis_keys import GROUP

log = get_logger("taskapp.stores.redis")  # the store's logger: one name to filter


async def dequeue(
    redis: Redis, queue: str, worker: str, claim_idle_s: float, wait_s: float
) -> str | None:
    """The next task id in `queue` for `worker`, waiting up to `wait_s`; None if none came.

    Entries are acknowledged (and deleted) as they are read; one read by a worker that
    died before acknowledging it is taken over after `claim_idle_s`.
    """
    claimed = await redis.xautoclaim(
        queue, GROUP, worker, int(claim_idle_s * 1000), start_id="0-0", count=1
    )
    entries: list[Any] = list(claimed[1])
    deadline = anyio.current_time() + wait_s
    while not entries:
        remaining = deadline - anyio.current_time()
        # BLOCK in slices: each stays under the socket timeout (5 s by default).
        block = None if remaining <= 0 else max(1, int(min(remaining, 1.0) * 1000))
        read: Any = await redis.xreadgroup(GROUP, worker, {queue: ">"}, count=1, block=block)
        entries = [entry for _, stream_entries in read for entry in stream_entries]
        if not entries and (block is None or anyio.current_time() >= deadline):
            return None
    entry_id, fields = entries[0]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xack(queue, GROUP, entry_id)
        pipe.xdel(queue, entry_id)
        await pipe.execute()
    if not fields:  # deleted while pending: nothing to run
        return await dequeue(redis, queue, worker, claim_idle_s, 0)
    return str(fields["task"])


async def forget_workers(redis: Redis, queue: str, workers: Sequence[str]) -> None:
    """Remove these consumers from the group (those with no unacknowledged entry), so
    that worker processes that come and go leave no trace."""
    try:
        for worker in workers:
            if not await redis.xpending_range(queue, GROUP, "-", "+", 1, worker):
                await redis.xgroup_delconsumer(queue, GROUP, worker)
    except RedisError as exc:  # closing anyway: a leftover consumer costs a few bytes
        log.warning("could not remove a queue consumer", error=str(exc))
