"""RedisStore's listings: walking a sorted-set index of task ids, either way, a page at a time.

Per owner, a listing walks the owner's index oldest first. The operator's listing walks,
newest first, the narrowest index that serves its filter: the owner's, one status's
(`status:<status>`, kept by the create, update, delete and sweep scripts), or the index
of every task (`all`); the rest of the filter is applied to the records read. Counts by
status are the sizes of the status indexes (ZCARD, no scan).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from redis.asyncio import Redis

from ..records import TaskRecord, TaskStatus
from ._cursors import decode_cursor, encode_cursor
from ._listing_all import TaskFilter
from ._redis_keys import ALL, OWNER, SEQUENCE, STATUS, Keys

INDEXED = "indexed"  # set once every task is in the operator's indexes (see `backfill`)

# Puts one task made before the operator's indexes into them, as CREATE does now: its
# creation number (its score in its owner's index) as `_seq`, and its id in `all` and in
# its status's index, read in the same atomic step. A task gone meanwhile is skipped.
# KEYS: task, every task's index; ARGV: task id, creation number, status index prefix
BACKFILL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
redis.call('HSET', KEYS[1], '_seq', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', ARGV[3] .. cjson.decode(status), ARGV[2], ARGV[1])
return 1
"""

GetMany = Callable[[Sequence[str]], Awaitable[list[TaskRecord | None]]]


async def walk(
    redis: Redis,
    get_many: GetMany,
    index: str,
    bound: int,
    *,
    limit: int,
    keep: Callable[[TaskRecord], bool],
    newest_first: bool = False,
    batch: int = 0,
) -> tuple[list[TaskRecord], int | None]:
    """A page of the records in `index` past the score `bound` (newest first: below it,
    0 for none), those that `keep` admits, and the score to resume after (None: the end).

    Entries of deleted or expired tasks are skipped, so it reads until the page is full.
    """
    page: list[TaskRecord] = []
    while True:
        want = max(limit - len(page) + 1, batch)  # one more than needed: is there a next page?
        if newest_first:
            top = f"({bound}" if bound else "+inf"
            found = await redis.zrevrangebyscore(
                index, top, "-inf", start=0, num=want, withscores=True
            )
        else:
            found = await redis.zrangebyscore(
                index, f"({bound}", "+inf", start=0, num=want, withscores=True
            )
        rows = cast("list[tuple[str, float]]", found)
        records = await get_many([task_id for task_id, _ in rows])
        for (_, score), record in zip(rows, records, strict=True):
            if len(page) == limit:
                return page, bound
            bound = int(score)
            if record is not None and keep(record):
                page.append(record)
        if len(rows) < want:
            return page, None


async def pages(
    redis: Redis,
    get_many: GetMany,
    keys: Keys,
    where: TaskFilter,
    cursor: str | None,
    limit: int,
    now: float,
    *,
    every_owner: bool = False,
) -> tuple[list[TaskRecord], str | None]:
    """A page of `list_tasks` (one owner's, None being no owner, oldest first) or, with
    `every_owner`, of `list_all` (newest first, `where` whole), and the next cursor."""
    tag = "r2" if every_owner else "r1"
    index = index_for(keys, where) if every_owner else keys.owner(where.owner)

    def keep(record: TaskRecord) -> bool:
        return not record.is_expired(now) and (not every_owner or where.admits(record))

    page, end = await walk(
        redis, get_many, index, decode_cursor(tag, cursor), limit=limit, keep=keep,
        newest_first=every_owner, batch=64 if every_owner else 0,
    )  # fmt: skip
    return page, None if end is None else encode_cursor(tag, end)


def index_for(keys: Keys, where: TaskFilter) -> str:
    """The narrowest index that holds every task `where` admits."""
    if where.owner is not None:
        return keys.owner(where.owner)
    if len(where.statuses) == 1:
        return keys.status(next(iter(where.statuses)))
    return keys.of(ALL)


async def counts(redis: Redis, keys: Keys) -> dict[TaskStatus, int]:
    async with redis.pipeline(transaction=False) as pipe:
        for status in TaskStatus:
            pipe.zcard(keys.status(status))
        sizes = await pipe.execute()
    return {status: int(size) for status, size in zip(TaskStatus, sizes, strict=True)}


async def backfill(redis: Redis, keys: Keys) -> int:
    """Index the tasks that a taskapp without the operator's listing created, once per
    store (the `indexed` key marks it done); how many were indexed.

    Their owners' indexes hold them all, found with one SCAN of the owner keys. A store
    that never had a task has nothing to do. Safe to run from several processes at once.
    """
    if await redis.exists(keys.of(INDEXED)):
        return 0
    indexed = 0
    if await redis.exists(keys.of(SEQUENCE)):
        script = redis.register_script(BACKFILL)
        async for owner_index in redis.scan_iter(match=keys.of(OWNER) + "*", count=1000):
            rows = cast(
                "list[tuple[str, float]]", await redis.zrange(owner_index, 0, -1, withscores=True)
            )
            for task_id, score in rows:
                task_keys = [keys.task(task_id), keys.of(ALL)]
                args: list[str | int] = [task_id, int(score), keys.of(STATUS)]
                indexed += int(await script(keys=task_keys, args=args))
    await redis.set(keys.of(INDEXED), "1")
    return indexed
