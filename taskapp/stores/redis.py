"""RedisStore: tasks in Redis, shared by every instance and worker that points at it."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any, cast

import anyio
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

from ..records import TaskRecord, TaskStatus
from ._created import until_created
from ._listing_all import TaskFilter
from ._redis_cache import RecordsSeen, Seen
from ._redis_connection import connect, split_prefix
from ._redis_keys import (
    CHANGED,
    CREATED,
    DELETED,
    EXPIRY,
    GROUP,
    IDLE,
    LEASES,
    QUEUE,
    SEQUENCE,
    TERMINAL_JSON,
    Keys,
    expiry_member,
    from_hash,
    lease_score,
    to_hash,
)
from ._redis_lane import Lane
from ._redis_listing import backfill, counts, pages
from ._redis_pubsub import Changes
from ._redis_queue import dequeue, forget_workers
from ._redis_scripts import SCRIPTS
from ._redis_steps import RedisSteps
from .base import TaskNotFoundError

__all__ = ("GROUP", "RedisStore")  # GROUP: the consumer group, for tests and operators


class RedisStore(RedisSteps, RecordsSeen):
    """Tasks in Redis (redis-py's asyncio client), safe to share between processes and hosts.

    Expiry uses Redis key TTLs; listing, sweeping and finding orphans use sorted sets;
    every read-then-write is one Lua script (or a compare-and-set by version); a write
    publishes on the task's channel, and all the waiters of this store share one pub/sub
    connection. See docs/stores.md, "Redis".

    Args:
        url: `redis://[[user]:password@]host[:port][/db]`, `rediss://...` (TLS) or
            `unix:///path/to/socket`; a `prefix=` query option sets the prefix, the
            others are redis-py's (e.g. `socket_timeout`, `max_connections`).
        prefix: What every key and channel starts with, so that several apps share a
            Redis database (default: the URL's `prefix=`, else "taskapp:").
        max_connections: Connections this store opens at most; calls beyond wait.
        claim_idle_s: How long a queue entry read by a worker that died before
            acknowledging it waits before another worker takes it.
        sweep_batch: Expired tasks removed per script run.
        options: More redis-py connection options (e.g. `client_name`, `ssl_ca_certs`).
    """

    shared = True
    #: One Redis server takes the writes and the reads: once a script's reply arrived,
    #: every client sees its write (`base.reads_own_writes`). Replicas are never read.
    reads_own_writes = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        max_connections: int = 64,
        claim_idle_s: float = 60.0,
        sweep_batch: int = 500,
        **options: Any,
    ) -> None:
        self.url, url_prefix = split_prefix(url)
        self.prefix = prefix if prefix is not None else url_prefix or "taskapp:"
        self._keys = Keys(self.prefix)
        self.claim_idle_s = claim_idle_s
        self.sweep_batch = sweep_batch
        # Commands are not retried: a script whose reply was lost may have run, and
        # running it again could apply a change twice. A failure reaches the caller.
        self._options: dict[str, Any] = {
            "decode_responses": True,
            "protocol": 2,  # the reply shapes this module reads, on every Redis version
            "retry": Retry(NoBackoff(), 0),
            "client_name": "taskapp",
            "max_connections": max_connections,
            **options,
        }
        self._client: Redis | None = None
        self._lane: Lane | None = None  # a connection for scripts, while open
        self._scripts: dict[str, AsyncScript] = {}
        self._changes: Changes | None = None
        self._seen = Seen()  # ended records and update hints (_redis_cache.py)
        # Holds the pub/sub listener's task group from `open` to `close`.
        self._stack: AsyncExitStack | None = None
        self._workers: set[str] = set()  # consumer names dequeue used; removed at close

    # -- opening and closing -----------------------------------------------------------

    async def open(self) -> None:
        if self._client is not None:
            return
        client = await connect(self.url, self._options, self._keys.of(QUEUE))
        self._client = client
        self._scripts = {name: client.register_script(src) for name, src in SCRIPTS.items()}
        self._lane = Lane(client.connection_pool)
        at = self._keys
        self._changes = Changes(
            at.of(CHANGED), at.of(IDLE), at.of(DELETED), self._seen.forget, at.of(CREATED)
        )
        async with AsyncExitStack() as stack:
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tg.cancel_scope.cancel)  # runs first: the group then exits at once
            await tg.start(self._changes.listen, client)
            self._stack = stack.pop_all()
        await backfill(client, self._keys)  # the tasks of a taskapp before `list_all`

    async def close(self) -> None:
        client, stack, changes, lane = self._client, self._stack, self._changes, self._lane
        self._client, self._stack, self._lane = None, None, None
        if client is None or stack is None or changes is None or lane is None:
            return
        await lane.close()
        await stack.aclose()
        changes.wake_all()
        workers = sorted(self._workers)
        self._workers.clear()
        await forget_workers(client, self._keys.of(QUEUE), workers)
        await client.aclose()

    @property
    def _redis(self) -> Redis:
        if self._client is None:
            raise RuntimeError("the RedisStore is not open: call `await store.open()` first")
        return self._client

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        lane = self._lane
        if lane is None:
            raise RuntimeError("the RedisStore is not open: call `await store.open()` first")
        if not lane.busy:  # the store's own connection (_redis_lane.py)
            return await lane.run(self._scripts[script], keys, args)
        return await self._scripts[script](keys=keys, args=args)

    # -- records -----------------------------------------------------------------------

    async def create(self, record: TaskRecord) -> None:
        fields = to_hash(record)
        expires_at = record.expires_at
        lease = "" if record.terminal else lease_score(record.lease_until)
        keys = [
            self._keys.task(record.task_id),
            self._keys.of(SEQUENCE),
            self._keys.owner(record.owner),
            self._keys.of(EXPIRY),
            self._keys.of(LEASES),
            *self._keys.listing()[:1],
            self._keys.status(record.status),
        ]
        args = [
            record.task_id,
            "" if record.ttl_ms is None else max(0, record.ttl_ms),  # a TTL from now, in Redis
            "" if expires_at is None else repr(expires_at),
            expiry_member(record.task_id, record.owner),
            lease,
            self._keys.of(CREATED),
            *(item for pair in fields.items() for item in pair),
        ]
        if not await self._run("create", keys, args):
            raise ValueError(f"task id {record.task_id!r} is already taken")
        self._seen.remember(record)

    async def _get_many(self, task_ids: Sequence[str]) -> list[TaskRecord | None]:
        if not task_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hgetall(self._keys.task(task_id))
            return [from_hash(fields) for fields in await pipe.execute()]

    async def list_tasks(
        self, owner: str | None, *, cursor: str | None, limit: int, now: float
    ) -> tuple[list[TaskRecord], str | None]:
        where = TaskFilter(owner=owner)  # per owner: oldest first, and None is no owner
        return await pages(self._redis, self._get_many, self._keys, where, cursor, limit, now)

    async def list_all(
        self, where: TaskFilter, *, cursor: str | None, limit: int, now: float
    ) -> tuple[list[TaskRecord], str | None]:
        args = (self._redis, self._get_many, self._keys, where, cursor, limit, now)
        return await pages(*args, every_owner=True)

    async def count_by_status(self, *, now: float) -> dict[TaskStatus, int]:
        return await counts(self._redis, self._keys)

    async def wait(self, task_id: str, *, after_version: int, now: float) -> TaskRecord | None:
        changes = self._watcher()
        async with changes.watching(task_id):  # subscribed before reading: no lost wake-up
            while True:
                changed = changes.event(task_id)
                record = await self.get(task_id, now=now)
                if record is None or record.version > after_version:
                    return record
                with anyio.move_on_after(_patience(record.expires_at, now)):
                    await changed.wait()
                now = time.time()

    async def wait_created(self, *, after: int | None) -> int:
        """See `AnnouncesCreations`: the generation is the creation counter; the create
        script publishes each creation to the channel the store's pub/sub listens on."""
        changes = self._watcher()
        await changes.hearing_creations(self._generation)  # the first call subscribes
        return await until_created(changes.created_event, self._generation, after)

    async def _generation(self) -> int:
        return int(await self._redis.get(self._keys.of(SEQUENCE)) or 0)

    async def delete(self, task_id: str) -> bool:
        owner = await self._redis.hget(self._keys.task(task_id), "owner")  # type: ignore[misc, unused-ignore]
        if owner is None:
            return False
        owner_id: str | None = json.loads(owner)
        keys = [
            self._keys.task(task_id),
            *self._keys.inputs(task_id),
            self._keys.owner(owner_id),
            self._keys.of(EXPIRY),
            self._keys.of(LEASES),
            self._keys.steps(task_id),
            *self._keys.listing(),
        ]
        self._seen.forget(task_id)
        args = [task_id, expiry_member(task_id, owner_id), self._keys.channel(task_id)]
        return bool(await self._run("delete", keys, [*args, self._keys.of(DELETED)]))

    async def sweep(self, *, now: float) -> int:
        removed = 0
        while True:  # Redis deleted the expired hashes already; this cleans the indexes
            members = cast(
                "list[str]",
                await self._redis.zrangebyscore(
                    self._keys.of(EXPIRY), "-inf", repr(now), start=0, num=self.sweep_batch
                ),
            )
            if not members:
                return removed
            at = self._keys
            keys, args = [at.of(EXPIRY), at.of(LEASES), *at.listing()], [at.of(CHANGED)]
            args.append(str(len(at.listing())))
            for member in members:
                task_id, owner = json.loads(member)
                keys += [at.task(task_id), *at.inputs(task_id), at.owner(owner)]
                args += [member, task_id]
            removed += int(await self._run("sweep", keys, args))

    # -- input requests ------------------------------------------------------------------

    async def push_input(self, task_id: str, key: str, message: dict[str, Any]) -> None:
        keys = [self._keys.task(task_id), *self._keys.inputs(task_id)]
        args = [key, json.dumps(message), self._keys.channel(task_id), task_id]
        pushed = int(await self._run("push_input", keys, args))
        if pushed == -1:
            raise TaskNotFoundError(task_id)
        if pushed == 0:
            raise ValueError(f"input key {key!r} is already used by task {task_id}")

    async def claim_input(self, task_id: str, *, now: float) -> tuple[str, dict[str, Any]] | None:
        keys = [self._keys.task(task_id), *self._keys.inputs(task_id)]
        claimed = await self._run("claim_input", keys, [TERMINAL_JSON, repr(now)])
        if claimed is None:
            return None
        key, message = claimed
        return str(key), json.loads(message)

    async def release_input(self, task_id: str, key: str) -> None:
        args = [key, self._keys.channel(task_id), task_id]
        await self._run("release_input", self._keys.inputs(task_id), args)

    async def answer_input(self, task_id: str, key: str, answer: dict[str, Any]) -> bool:
        args = [key, json.dumps(answer), self._keys.channel(task_id), task_id]
        return bool(await self._run("answer_input", self._keys.inputs(task_id), args))

    async def wait_input_answer(
        self, task_id: str, key: str, *, now: float
    ) -> dict[str, Any] | None:
        changes = self._watcher()
        keys = [self._keys.task(task_id), self._keys.inputs(task_id)[0]]
        async with changes.watching(task_id):
            while True:
                changed = changes.event(task_id)
                taken = await self._run("take_answer", keys, [key, repr(now)])
                if taken[0] == "answer":
                    answer: dict[str, Any] = json.loads(taken[1])
                    return answer
                if taken[0] == "gone":
                    return None
                expires_at = float(taken[1]) if taken[1] else None
                with anyio.move_on_after(_patience(expires_at, now)):
                    await changed.wait()
                now = time.time()

    async def pending_inputs(self, task_id: str, *, now: float) -> dict[str, dict[str, Any]]:
        keys = [self._keys.task(task_id), self._keys.inputs(task_id)[0]]
        flat = await self._run("pending_inputs", keys, [TERMINAL_JSON, repr(now)])
        return {
            str(key): json.loads(message)
            for key, message in zip(flat[::2], flat[1::2], strict=True)
        }

    async def drop_inputs(self, task_id: str) -> None:
        if task_id in self._seen.ended:
            return  # the script that ended it dropped them (_redis_cache.py)
        await self._run(
            "drop_inputs", self._keys.inputs(task_id), [self._keys.channel(task_id), task_id]
        )

    # -- leases ------------------------------------------------------------------------

    async def renew_leases(self, runner: str, task_ids: Sequence[str], *, until: float) -> None:
        # A write even with no tasks: the engine's upkeep learns that writes get through.
        keys = [self._keys.of(LEASES), *(self._keys.task(task_id) for task_id in task_ids)]
        await self._run("renew", keys, [TERMINAL_JSON, json.dumps(runner), repr(until), *task_ids])

    async def orphans(self, *, now: float, limit: int) -> list[TaskRecord]:
        found: list[TaskRecord] = []
        gone: list[str] = []  # entries of tasks Redis expired: removed on the way
        offset = 0
        while len(found) < limit:
            task_ids = cast(
                "list[str]",
                await self._redis.zrangebyscore(
                    self._keys.of(LEASES), "-inf", f"({now!r}", start=offset, num=max(limit, 100)
                ),
            )
            if not task_ids:
                break
            offset += len(task_ids)
            for task_id, record in zip(task_ids, await self._get_many(task_ids), strict=True):
                if record is None:
                    gone.append(task_id)
                elif len(found) < limit and _orphaned(record, now):
                    found.append(record)
        if gone:
            await self._redis.zrem(self._keys.of(LEASES), *gone)
        return found

    async def adopt(
        self, task_id: str, runner: str, *, until: float, now: float
    ) -> TaskRecord | None:
        args = [TERMINAL_JSON, task_id, json.dumps(runner), repr(until), repr(now), json.dumps(now)]
        args.append(self._keys.channel(task_id))
        fields = await self._run("adopt", [self._keys.task(task_id), self._keys.of(LEASES)], args)
        if fields is None:
            return None
        return from_hash(dict(zip(fields[::2], fields[1::2], strict=True)))

    # -- the work queue (for the queue executor; not part of TaskStore) ----------------

    async def enqueue(self, task_id: str) -> None:
        """Hand a task to the workers: one entry in the queue stream."""
        await self._redis.xadd(self._keys.of(QUEUE), {"task": task_id})

    async def dequeue(self, worker: str, *, wait_s: float) -> str | None:
        """The next queued task id for `worker` (a stable name per worker process), or None
        after `wait_s` seconds without one.

        Entries are acknowledged as they are read: from then on the task's lease is what
        makes delivery safe (the worker adopts the task; one that nobody adopted in time
        is recovered). An entry read by a worker that died before acknowledging it is
        taken over after `claim_idle_s`.
        """
        self._workers.add(worker)
        return await dequeue(self._redis, self._keys.of(QUEUE), worker, self.claim_idle_s, wait_s)

    def _watcher(self) -> Changes:
        if self._changes is None or self._client is None:
            raise RuntimeError("the RedisStore is not open: call `await store.open()` first")
        return self._changes


def _orphaned(record: TaskRecord, now: float) -> bool:
    lapsed = record.lease_until is None or record.lease_until < now
    return lapsed and not record.terminal and not record.is_expired(now)


def _patience(expires_at: float | None, now: float) -> float | None:
    return None if expires_at is None else max(0.0, expires_at - now)
