"""The operator's listing beyond the contract: the indexes it reads, in SQLite and Redis."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from taskapp.records import TaskStatus
from taskapp.stores import TaskFilter
from taskapp.stores._sqlite_listing import page_all
from taskapp.stores.sqlite import SQLiteStore
from taskapp.testing import NOW, make_record
from tests.redis_support import opened, require_redis

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "where",
    [
        TaskFilter(),
        TaskFilter(statuses=frozenset({TaskStatus.WORKING, TaskStatus.FAILED}), tool="add"),
        TaskFilter(owner="alice"),
    ],
)
async def test_sqlite_lists_every_owner_from_an_index_alone(
    tmp_path: Path, where: TaskFilter
) -> None:
    """The listing walks tasks_every (tasks_listing for one owner), which holds every
    listed column: a row is read only for a tool error's outcome, as per owner."""
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    await store.close()
    plans: list[str] = []

    class Explaining(sqlite3.Connection):
        def execute(self, sql: str, params: Any = (), /) -> sqlite3.Cursor:
            if sql.startswith("SELECT"):
                rows = super().execute(f"EXPLAIN QUERY PLAN {sql}", params)
                plans.append(" ".join(str(row[-1]) for row in rows))
            return super().execute(sql, params)

    with sqlite3.connect(tmp_path / "t.db", factory=Explaining) as conn:
        page_all(conn, where, 5, 10, NOW)
    index = "tasks_listing" if where.owner else "tasks_every"
    assert len(plans) == 1
    assert f"USING INDEX {index}" in plans[0] or f"USING COVERING INDEX {index}" in plans[0]


async def test_redis_counts_follow_the_status_indexes_through_delete_and_sweep() -> None:
    async with opened(require_redis()) as store:
        before = await store.count_by_status(now=NOW)
        short = make_record(ttl_ms=1, created_at=NOW)
        kept = make_record(ttl_ms=None)
        await store.create(short)
        await store.create(kept)
        await store.update(kept.task_id, now=NOW, status=TaskStatus.COMPLETED)
        counts = await store.count_by_status(now=NOW)
        assert counts[TaskStatus.WORKING] - before[TaskStatus.WORKING] == 1
        assert counts[TaskStatus.COMPLETED] - before[TaskStatus.COMPLETED] == 1
        await store.sweep(now=NOW + 10)  # the short task's hash expired in Redis already
        await store.delete(kept.task_id)
        assert await store.count_by_status(now=NOW) == before


async def test_redis_indexes_the_tasks_of_an_older_taskapp_when_it_opens() -> None:
    """Tasks made before the operator's indexes (no `_seq`, in no `all` or status index)
    are put in them once, at the next open; counts and listings then see them."""
    from taskapp.stores._redis_keys import ALL
    from taskapp.stores._redis_listing import INDEXED

    async with opened(require_redis()) as store:
        records = [make_record(owner=owner) for owner in ("alice", None, "alice")]
        for record in records:
            await store.create(record)
        await store.update(records[1].task_id, now=NOW, status=TaskStatus.FAILED)
        keys = store._keys
        redis = store._redis
        await redis.delete(keys.of(INDEXED), keys.of(ALL), *keys.listing())
        for record in records:
            await redis.hdel(keys.task(record.task_id), "_seq")
        async with opened(require_redis(), prefix=store.prefix) as again:
            page, _ = await again.list_all(TaskFilter(), cursor=None, limit=10, now=NOW)
            counts = await again.count_by_status(now=NOW)
            assert await redis.exists(keys.of(INDEXED))
            await again.update(records[0].task_id, now=NOW, status=TaskStatus.COMPLETED)
            done = await again.list_all(
                TaskFilter(statuses=frozenset({TaskStatus.COMPLETED})), cursor=None, limit=9,
                now=NOW,
            )  # fmt: skip
    assert [r.task_id for r in page] == [r.task_id for r in reversed(records)]
    assert (counts[TaskStatus.WORKING], counts[TaskStatus.FAILED]) == (2, 1)
    assert [r.task_id for r in done[0]] == [records[0].task_id]  # moved by its `_seq`
