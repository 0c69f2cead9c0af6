"""Creation notices (`AnnouncesCreations`) across store objects that share their data:
another process's creation wakes a waiter here, each store by its own means.

The contract (taskapp.testing) covers one store object; these cover the way each shared
store learns of the others' creations: SQLite through its watch of foreign writes, Redis
through the create script's PUBLISH and the store's pub/sub connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from taskapp.stores import AnnouncesCreations, TaskStore, announces_creations
from taskapp.stores.sqlite import SQLiteStore
from taskapp.testing import make_record
from taskapp.testing._created import waiting_for_creation

from .redis_support import delete_keys, opened, require_redis, unique_prefix

pytestmark = pytest.mark.anyio


async def _woken_by_the_other(here: TaskStore, there: TaskStore) -> None:
    announcer = announces_creations(here)
    assert isinstance(announcer, AnnouncesCreations)
    mark = await announcer.wait_created(after=None)
    async with waiting_for_creation(announcer, mark, within=10) as got:
        await anyio.sleep(0.05)
        assert got == []
        await there.create(make_record())
    [newer] = got
    assert newer != mark
    assert await announcer.wait_created(after=None) == newer


@asynccontextmanager
async def two_sqlite_stores(path: Path) -> AsyncIterator[tuple[SQLiteStore, SQLiteStore]]:
    """Two store objects on one database file, as two processes would have."""
    here, there = SQLiteStore(path), SQLiteStore(path)
    await here.open()
    await there.open()
    try:
        yield here, there
    finally:
        await here.close()
        await there.close()


async def test_sqlite_a_creation_through_another_connection_wakes_a_waiter(
    tmp_path: Path,
) -> None:
    async with two_sqlite_stores(tmp_path / "t.db") as (here, there):
        await _woken_by_the_other(here, there)


async def test_sqlite_a_foreign_write_that_creates_nothing_does_not_end_the_wait(
    tmp_path: Path,
) -> None:
    async with two_sqlite_stores(tmp_path / "t.db") as (here, there):
        record = make_record()
        await there.create(record)
        mark = await here.wait_created(after=None)
        async with waiting_for_creation(here, mark, within=10) as got:
            await there.update(record.task_id, now=record.created_at, status_message="x")
            await anyio.sleep(3 * here.watch_interval_s)  # the watcher saw that write
            assert got == []
            await there.create(make_record())
        assert got != [mark]


async def test_redis_a_creation_through_another_store_wakes_a_waiter() -> None:
    url, prefix = require_redis(), unique_prefix()
    try:
        async with opened(url, prefix) as here, opened(url, prefix) as there:
            await _woken_by_the_other(here, there)
    finally:
        await delete_keys(url, prefix)
