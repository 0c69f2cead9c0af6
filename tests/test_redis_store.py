"""RedisStore: the store contract on a real Redis, and what only Redis does (TTLs, pub/sub
across store objects, one subscriber connection, the work queue, URLs)."""

from __future__ import annotations

import contextlib
import inspect
import shutil
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from taskapp import TaskApp
from taskapp.records import TaskRecord, TaskStatus, ToolOutcome
from taskapp.stores import TaskStore, open_store
from taskapp.stores.base import WorkQueue
from taskapp.stores.redis import GROUP, RedisStore
from taskapp.testing import NOW, TaskStoreContract, make_record

from . import redis_support
from .raw import raw_connection
from .redis_support import delete_keys, opened, require_redis, unique_prefix
from .shared_stores import exactly_one_adopter_wins
from .test_cli_call import _free_port

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def redis_url() -> str:
    """A reachable Redis server's URL: skips without one, and fails in CI (CI=true)."""
    return require_redis()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url, decode_responses=True) as client:
        yield client


class TestRedisStoreContract(TaskStoreContract):
    @pytest.fixture
    async def store(self, redis_url: str) -> AsyncIterator[RedisStore]:
        async with opened(redis_url) as store:
            yield store


def test_the_redis_store_meets_the_protocol() -> None:
    store: TaskStore = RedisStore("redis://127.0.0.1:6379/0")  # mypy checks the protocol
    queue: WorkQueue = RedisStore("redis://127.0.0.1:6379/0")
    assert isinstance(store, TaskStore)
    assert isinstance(queue, WorkQueue)
    assert store.shared is True


# -- expiry by key TTLs -----------------------------------------------------------------


async def test_keys_get_the_tasks_ttl(redis_url: str, raw: Redis) -> None:
    async with opened(redis_url) as store:
        record = make_record(created_at=time.time(), ttl_ms=60_000)
        forever = make_record(created_at=time.time(), ttl_ms=None)
        await store.create(record)
        await store.create(forever)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        await store.push_input(forever.task_id, "k", {"method": "elicitation/create"})
        for key in (f"task:{record.task_id}", f"inputs:{record.task_id}"):
            assert 59_000 < await raw.pttl(store.prefix + key) <= 60_000
        assert await raw.pttl(f"{store.prefix}task:{forever.task_id}") == -1
        assert await raw.pttl(f"{store.prefix}inputs:{forever.task_id}") == -1


async def test_redis_removes_an_expired_task_by_itself(redis_url: str, raw: Redis) -> None:
    async with opened(redis_url) as store:
        record = make_record(created_at=time.time(), ttl_ms=20)
        await store.create(record)
        await _until(lambda: _gone(raw, f"{store.prefix}task:{record.task_id}"))
        assert await store.get(record.task_id, now=record.created_at) is None


async def test_sweep_removes_the_index_entries_of_expired_tasks(redis_url: str, raw: Redis) -> None:
    async with opened(redis_url) as store:
        p = store.prefix
        old = make_record(owner="alice", ttl_ms=1000)
        kept = make_record(owner="alice", ttl_ms=None)
        for record in (old, kept):
            await store.create(record)
        assert await raw.zrange(f"{p}owner:=alice", 0, -1) == [old.task_id, kept.task_id]
        assert await raw.zrange(f"{p}leases", 0, -1) == sorted([old.task_id, kept.task_id])
        assert await store.sweep(now=NOW + 2) == 1
        assert await raw.zrange(f"{p}owner:=alice", 0, -1) == [kept.task_id]
        assert await raw.zrange(f"{p}leases", 0, -1) == [kept.task_id]
        assert await raw.zcard(f"{p}expiry") == 0
        assert await raw.exists(f"{p}task:{old.task_id}") == 0


async def test_owners_and_prefixes_do_not_mix(redis_url: str) -> None:
    """No owner and the owner "-" have their own lists; another prefix sees nothing."""
    async with opened(redis_url) as a, opened(redis_url) as b:
        nobody, dash = make_record(owner=None), make_record(owner="-")
        await a.create(nobody)
        await a.create(dash)
        assert await a.list_tasks(None, cursor=None, limit=10, now=NOW) == ([nobody], None)
        assert await a.list_tasks("-", cursor=None, limit=10, now=NOW) == ([dash], None)
        assert await b.list_tasks(None, cursor=None, limit=10, now=NOW) == ([], None)
        assert await b.get(nobody.task_id, now=NOW) is None


async def _gone(raw: Redis, key: str) -> bool:
    # redis < 8 types async replies as `Awaitable[T] | T`: the ignore holds on both sides.
    count: int = await raw.exists(key)  # type: ignore[misc, unused-ignore]
    return count == 0


# -- several store objects on one Redis -------------------------------------------------


class CountingStore(RedisStore):
    """Counts the reads of each task, to show who a write wakes (and that nobody polls)."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.reads: Counter[str] = Counter()

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        self.reads[task_id] += 1
        return await super().get(task_id, now=now)


async def _until(condition: Callable[[], Awaitable[bool] | bool]) -> None:
    """Wait (a little at a time, at most 5 s) until Redis or a store shows `condition`."""
    with anyio.fail_after(5):
        while True:
            met = condition()
            if await met if inspect.isawaitable(met) else met:
                return
            await anyio.sleep(0.01)


async def _subscribers(raw: Redis, name: str) -> list[int]:
    """The channel counts of the subscribed connections named `name`."""
    return [int(c["sub"]) for c in await raw.client_list() if c["name"] == name and c["sub"] != "0"]


async def test_a_write_through_another_store_wakes_only_its_waiters(redis_url: str) -> None:
    prefix = unique_prefix()
    try:
        async with (
            opened(redis_url, prefix, cls=CountingStore) as a,
            opened(redis_url, prefix) as b,
        ):
            assert isinstance(a, CountingStore)
            changed = make_record(created_at=time.time())
            quiet = make_record(created_at=time.time())
            await b.create(changed)
            await b.create(quiet)
            got: list[TaskRecord | None] = []

            async def waiter(record: TaskRecord) -> None:
                got.append(await a.wait(record.task_id, after_version=0, now=time.time()))

            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(waiter, changed)
                    tg.start_soon(waiter, quiet)
                    await _until(lambda: a.reads == {changed.task_id: 1, quiet.task_id: 1})
                    await anyio.sleep(0.1)  # nothing changes: nobody reads again
                    assert a.reads == {changed.task_id: 1, quiet.task_id: 1}
                    updated = await b.update(changed.task_id, now=time.time(), status_message="b")
                    await _until(lambda: got == [updated])
                    assert a.reads == {changed.task_id: 2, quiet.task_id: 1}
                    tg.cancel_scope.cancel()
    finally:
        await delete_keys(redis_url, prefix)


async def test_one_pubsub_connection_serves_every_waiter(redis_url: str, raw: Redis) -> None:
    """200 waiting tasks share one subscriber connection (one channel each); they leave."""
    prefix, name = unique_prefix(), f"waiters-{time.time_ns()}"
    try:
        async with opened(redis_url, prefix, client_name=name) as a, opened(redis_url, prefix) as b:
            records = [make_record(created_at=time.time()) for _ in range(200)]
            for record in records:
                await b.create(record)
            assert await _subscribers(raw, name) == [2]  # the idle and deleted channels
            woken: list[str] = []

            async def waiter(record: TaskRecord) -> None:
                changed = await a.wait(record.task_id, after_version=0, now=time.time())
                assert changed is not None
                woken.append(changed.task_id)

            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    for record in records:
                        tg.start_soon(waiter, record)
                    await _until(lambda: _subscribers_are(raw, name, [202]))
                    for record in records:
                        await b.update(record.task_id, now=time.time(), status_message="go")
            assert sorted(woken) == sorted(r.task_id for r in records)
            await _until(lambda: _subscribers_are(raw, name, [2]))
    finally:
        await delete_keys(redis_url, prefix)


async def _subscribers_are(raw: Redis, name: str, expected: list[int]) -> bool:
    return await _subscribers(raw, name) == expected


async def test_a_waiter_survives_a_lost_pubsub_connection(redis_url: str, raw: Redis) -> None:
    prefix, name = unique_prefix(), f"lost-{time.time_ns()}"
    try:
        async with opened(redis_url, prefix, client_name=name) as a, opened(redis_url, prefix) as b:
            record = make_record(created_at=time.time())
            await b.create(record)
            got: list[TaskRecord | None] = []

            async def waiter() -> None:
                got.append(await a.wait(record.task_id, after_version=0, now=time.time()))

            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(waiter)
                    await _until(lambda: _subscribers_are(raw, name, [3]))
                    [old] = [c["id"] for c in await raw.client_list() if c["name"] == name
                             and c["sub"] != "0"]  # fmt: skip
                    await raw.client_kill_filter(_id=old)
                    await _until(lambda: _resubscribed(raw, name, old))
                    assert got == []
                    updated = await b.update(record.task_id, now=time.time(), status_message="x")
            assert got == [updated]
    finally:
        await delete_keys(redis_url, prefix)


async def test_creations_are_heard_only_once_asked_for_and_after_a_reconnect(
    redis_url: str, raw: Redis
) -> None:
    """A store subscribes to the `created` channel at its first `wait_created` (a
    process that never waits for creations gets no message per creation), keeps it
    when its pub/sub connection is lost, and a waiter then still wakes on a creation."""
    prefix, name = unique_prefix(), f"created-{time.time_ns()}"
    try:
        async with opened(redis_url, prefix, client_name=name) as a, opened(redis_url, prefix) as b:
            await b.create(make_record(created_at=time.time()))
            assert await _subscribers(raw, name) == [2]  # idle, deleted: not created
            mark = await a.wait_created(after=None)
            assert await _subscribers(raw, name) == [3]
            [old] = [c["id"] for c in await raw.client_list() if c["name"] == name
                     and c["sub"] != "0"]  # fmt: skip
            await raw.client_kill_filter(_id=old)
            with anyio.fail_after(10):
                await _until(lambda: _resubscribed(raw, name, old))
                assert await _subscribers(raw, name) == [3]  # created again with the rest
                async with anyio.create_task_group() as tg:
                    woke: list[int] = []

                    async def waiter() -> None:
                        woke.append(await a.wait_created(after=mark))

                    tg.start_soon(waiter)
                    await anyio.sleep(0.05)
                    assert woke == []
                    await b.create(make_record(created_at=time.time()))
            assert woke == [mark + 1]
    finally:
        await delete_keys(redis_url, prefix)


async def test_a_store_remembers_an_ended_task_until_another_one_deletes_it(
    redis_url: str, raw: Redis
) -> None:
    """An ended record is answered without a read, since it never changes; a delete by
    another store reaches this one over pub/sub, and it is gone here too."""
    prefix = unique_prefix()
    try:
        async with opened(redis_url, prefix) as a, opened(redis_url, prefix) as b:
            record = make_record(created_at=time.time())
            await a.create(record)
            done = await a.update(
                record.task_id, now=time.time(), status=TaskStatus.COMPLETED,
                outcome=ToolOutcome(content=[{"type": "text", "text": "ok"}]),
            )  # fmt: skip
            await raw.hset(f"{prefix}task:{record.task_id}", "statusMessage", '"not read"')
            assert await a.get(record.task_id, now=time.time()) == done  # no read of Redis
            assert (await b.get(record.task_id, now=time.time())) != done  # b reads it
            assert await b.delete(record.task_id)
            await _until(lambda: _forgotten(a, record.task_id))
    finally:
        await delete_keys(redis_url, prefix)


async def test_ending_a_task_drops_its_questions_in_the_same_script(
    redis_url: str, raw: Redis
) -> None:
    """The end's compare-and-set drops the task's questions (and wakes their waiters),
    so `drop_inputs` afterwards, here or in another store that saw the end, sends no
    command; one for a task not known to have ended still runs."""
    prefix = unique_prefix()
    try:
        async with opened(redis_url, prefix) as a, opened(redis_url, prefix) as b:
            record = make_record(created_at=time.time())
            await a.create(record)
            await a.push_input(record.task_id, "q1", {"method": "elicitation/create"})
            assert await raw.exists(f"{prefix}inputs:{record.task_id}") == 1
            answered = anyio.Event()

            async def wait_answer() -> None:
                assert await b.wait_input_answer(record.task_id, "q1", now=time.time()) is None
                answered.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait_answer)
                await anyio.sleep(0.05)
                await a.update(record.task_id, now=time.time(), status=TaskStatus.CANCELLED)
                with anyio.fail_after(5):
                    await answered.wait()
            assert await raw.exists(*a._keys.inputs(record.task_id)) == 0
            await b.get(record.task_id, now=time.time())  # b has seen the end too
            sent: list[str] = []
            for store in (a, b):
                run = store._run

                async def counted(script: str, *args: Any, run: Any = run) -> Any:
                    sent.append(script)
                    return await run(script, *args)

                store._run = counted  # type: ignore[method-assign, assignment]
                await store.drop_inputs(record.task_id)
            assert sent == []
            other = make_record(created_at=time.time())
            await a.drop_inputs(other.task_id)
            assert sent == ["drop_inputs"]
    finally:
        await delete_keys(redis_url, prefix)


async def test_the_scripts_connection_survives_a_cancel_a_kill_and_a_flush(
    redis_url: str, raw: Redis
) -> None:
    """The store's own connection for scripts (_redis_lane.py): a script cancelled in
    flight leaves no reply behind for the next one, a connection Redis closed is replaced
    before sending, a flushed script is loaded again, and scripts that overlap take the
    pool's connections."""
    prefix = unique_prefix()
    try:
        async with opened(redis_url, prefix) as store:
            await raw.client_pause(300)  # milliseconds: the next script waits in Redis
            with anyio.move_on_after(0.1):
                await store.create(make_record(created_at=time.time()))
            second = make_record(created_at=time.time())
            await store.create(second)  # its own reply, not the cancelled one's
            with pytest.raises(ValueError, match="already taken"):
                await store.create(second)
            await raw.client_kill_filter(_type="normal", skipme=True)
            await anyio.sleep(0.05)
            await store.create(make_record(created_at=time.time()))
            await raw.script_flush()
            await store.create(make_record(created_at=time.time()))
            records = [make_record(created_at=time.time()) for _ in range(8)]
            async with anyio.create_task_group() as tg:
                for record in records:
                    tg.start_soon(store.create, record)
            for record in records:
                assert await store.get(record.task_id, now=time.time()) == record
    finally:
        await delete_keys(redis_url, prefix)


async def _forgotten(store: RedisStore, task_id: str) -> bool:
    return await store.get(task_id, now=time.time()) is None


async def _resubscribed(raw: Redis, name: str, old: str, channels: int = 3) -> bool:
    """A new pub/sub connection has replaced `old`, with `channels` subscriptions."""
    clients = await raw.client_list()
    return [
        (c["id"] != old, c["sub"]) for c in clients if c["name"] == name and c["sub"] != "0"
    ] == [(True, str(channels))]


CHILD = """
import sys, time
import anyio
from taskapp.records import TaskStatus, ToolOutcome
from taskapp.stores.redis import RedisStore

async def main() -> None:
    store = RedisStore(sys.argv[1], prefix=sys.argv[2])
    await store.open()
    try:
        await store.update(
            sys.argv[3], now=time.time(), status=TaskStatus.COMPLETED,
            outcome=ToolOutcome(content=[{"type": "text", "text": "done by the child"}]),
        )
    finally:
        await store.close()

anyio.run(main)
"""


async def test_a_write_by_another_process_wakes_a_waiter_here(redis_url: str) -> None:
    async with opened(redis_url) as store:
        record = make_record(created_at=time.time())
        await store.create(record)
        got: list[TaskRecord | None] = []

        async def waiter() -> None:
            got.append(await store.wait(record.task_id, after_version=0, now=time.time()))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                argv = [sys.executable, "-c", CHILD, redis_url, store.prefix, record.task_id]
                await anyio.run_process(argv, cwd=REPO)
        [done] = got
        assert done is not None
        assert (done.status, done.version) == (TaskStatus.COMPLETED, 1)
        assert done.outcome == ToolOutcome(content=[{"type": "text", "text": "done by the child"}])


async def test_across_stores_exactly_one_adopter_wins(redis_url: str) -> None:
    prefix = unique_prefix()
    try:
        async with opened(redis_url, prefix) as a, opened(redis_url, prefix) as b:
            await exactly_one_adopter_wins(a, b)
    finally:
        await delete_keys(redis_url, prefix)


# -- the work queue -----------------------------------------------------------------------


async def test_enqueue_dequeue_round_trip(redis_url: str, raw: Redis) -> None:
    prefix = unique_prefix()
    queue = f"{prefix}queue"
    try:
        async with opened(redis_url, prefix) as store:
            await store.enqueue("t1")
            await store.enqueue("t2")
            with anyio.fail_after(5):
                assert await store.dequeue("w1", wait_s=1) == "t1"
                assert await store.dequeue("w1", wait_s=1) == "t2"
                assert await store.dequeue("w1", wait_s=0.05) is None
                assert await store.dequeue("w1", wait_s=0) is None
            assert await raw.xlen(queue) == 0  # acknowledged and deleted as read
            assert (await raw.xpending(queue, GROUP))["pending"] == 0
            assert [c["name"] for c in await raw.xinfo_consumers(queue, GROUP)] == ["w1"]
        assert await raw.xinfo_consumers(queue, GROUP) == []  # closing leaves no consumer
    finally:
        await delete_keys(redis_url, prefix)


async def test_a_waiting_worker_gets_a_task_queued_by_another_store(redis_url: str) -> None:
    prefix = unique_prefix()
    try:
        async with opened(redis_url, prefix) as instance, opened(redis_url, prefix) as worker:
            got: list[str | None] = []

            async def work() -> None:
                got.append(await worker.dequeue("w", wait_s=30))

            with anyio.fail_after(5):  # long before wait_s: woken by the entry, not by time
                async with anyio.create_task_group() as tg:
                    tg.start_soon(work)
                    await anyio.sleep(0.05)
                    await instance.enqueue("queued")
            assert got == ["queued"]
    finally:
        await delete_keys(redis_url, prefix)


async def test_two_workers_share_the_queue_without_duplicates(redis_url: str) -> None:
    prefix = unique_prefix()
    try:
        async with opened(redis_url, prefix) as one, opened(redis_url, prefix) as two:
            ids = [f"task-{i}" for i in range(60)]
            taken: dict[str, list[str]] = {"one": [], "two": []}

            async def work(store: RedisStore, name: str) -> None:
                while (task_id := await store.dequeue(name, wait_s=0.2)) is not None:
                    taken[name].append(task_id)

            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(work, one, "one")
                    tg.start_soon(work, two, "two")
                    for task_id in ids:
                        await one.enqueue(task_id)
            everything = taken["one"] + taken["two"]
            assert sorted(everything) == sorted(ids)  # each exactly once
            assert taken["one"] == sorted(taken["one"], key=ids.index)  # in queue order
    finally:
        await delete_keys(redis_url, prefix)


async def test_an_entry_read_by_a_dead_worker_is_claimed_after_idle(
    redis_url: str, raw: Redis
) -> None:
    prefix = unique_prefix()
    try:
        async with (
            opened(redis_url, prefix, claim_idle_s=60) as patient,
            opened(redis_url, prefix, claim_idle_s=0.05) as eager,
        ):
            await patient.enqueue("orphaned")
            # A worker reads the entry and dies before acknowledging it.
            read: Any = await raw.xreadgroup(GROUP, "dead", {f"{prefix}queue": ">"}, count=1)
            assert read[0][1][0][1] == {"task": "orphaned"}
            assert await patient.dequeue("alive", wait_s=0) is None  # not idle for 60 s
            await anyio.sleep(0.1)
            assert await eager.dequeue("alive", wait_s=0) == "orphaned"
            assert await eager.dequeue("alive", wait_s=0) is None
    finally:
        await delete_keys(redis_url, prefix)


# -- URLs, and a Redis that is not there --------------------------------------------------


def test_open_store_knows_redis_urls() -> None:
    plain = open_store("redis://127.0.0.1:6379/0")
    assert isinstance(plain, RedisStore)
    assert (plain.url, plain.prefix) == ("redis://127.0.0.1:6379/0", "taskapp:")
    tls = open_store("rediss://user:secret@redis.example:6380/2?prefix=app1:&socket_timeout=3")
    assert isinstance(tls, RedisStore)
    assert (tls.url, tls.prefix) == ("rediss://user:secret@redis.example:6380/2?socket_timeout=3",
                                     "app1:")  # fmt: skip
    socket = RedisStore("unix:///run/redis.sock?db=1", prefix="own:")
    assert (socket.url, socket.prefix) == ("unix:///run/redis.sock?db=1", "own:")


@pytest.mark.parametrize(
    "url",
    [
        "redis://",
        "redis:///0",
        "redis://host:port/0",
        "redis://host/abc",
        "redis://host:99999/0",
        "redis://host/0?socket_timeout=soon",
    ],
)
def test_a_bad_redis_url_is_explained(url: str) -> None:
    with pytest.raises(ValueError, match=r"bad Redis store URL .*expected redis://"):
        open_store(url)


async def test_an_unreachable_redis_is_named_on_open() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")
    with pytest.raises(ConnectionError, match=r"cannot use the Redis store at 127\.0\.0\.1:1"):
        await store.open()
    with pytest.raises(RuntimeError, match="not open"):
        await store.get("x", now=NOW)


async def test_taskapp_store_names_a_redis_store_and_a_task_runs_on_it(
    redis_url: str, raw: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = unique_prefix()
    monkeypatch.setenv("TASKAPP_STORE", f"{redis_url}?prefix={prefix}")
    app = TaskApp("env")

    @app.task_tool()
    async def shout(text: str) -> str:
        return text.upper()

    try:
        async with raw_connection(app) as conn:
            params = {"name": "shout", "arguments": {"text": "hi"}, "task": {}}
            created = await conn.result("tools/call", params)
            task_id = created["task"]["taskId"]
            result = await conn.result("tasks/result", {"taskId": task_id})
            assert result["content"] == [{"type": "text", "text": "HI"}]
            fields = await raw.hgetall(f"{prefix}task:{task_id}")  # type: ignore[misc, unused-ignore]
            assert (fields["tool"], fields["status"]) == ('"shout"', '"completed"')
    finally:
        await delete_keys(redis_url, prefix)


def test_without_redis_tests_skip_locally_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    nowhere = "redis://127.0.0.1:1/0"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no Redis server at redis://127\.0\.0\.1:1/0"):
        redis_support.require_redis(nowhere)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the Redis tests"):
        redis_support.require_redis(nowhere)


async def test_the_first_wait_for_creations_says_when_redis_is_down(redis_url: str) -> None:
    """The creation channel is subscribed at the first `wait_created`: with Redis gone,
    that call raises Redis's error (it reads first) instead of waiting in silence for a
    subscription that cannot come. A private redis-server, stopped under the store."""
    binary = shutil.which("redis-server")
    assert binary is not None  # redis_url's fixture found a Redis: its server is here
    url = f"redis://127.0.0.1:{_free_port()}/0"
    argv = [binary, "--port", url.split(":")[2].split("/")[0], "--save", "", "--appendonly", "no"]
    async with await anyio.open_process(argv) as server:
        for _ in range(200):  # until it answers
            with contextlib.suppress(RedisError, OSError):
                async with Redis.from_url(url) as probe:
                    await probe.ping()
                break
            await anyio.sleep(0.05)
        store = RedisStore(url, prefix=unique_prefix())
        await store.open()
        try:
            server.terminate()
            await server.wait()
            with anyio.fail_after(20):  # outside: its TimeoutError is an OSError too
                with pytest.raises((RedisError, OSError)):
                    await store.wait_created(after=None)
        finally:
            await store.close()
