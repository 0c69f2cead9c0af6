"""Creation notices (`AnnouncesCreations`) across store objects that share their data:
another process's creation wakes a waiter here, each store by its own means.

The contract (taskapp.testing) covers one store object; these cover the way each shared
store learns of the others' creations: SQLite through its watch of foreign writes, Redis
through the create script's PUBLISH and the store's pub/sub connection.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from taskapp.stores import AnnouncesCreations, TaskStore, announces_creations
from taskapp.stores.sqlite import SQLiteStore
from taskapp.testing import make_record

from .redis_support import delete_keys, opened, require_redis, unique_prefix

pytestmark = pytest.mark.anyio


async def _woken_by_the_other(here: TaskStore, there: TaskStore) -> None:
    announcer = announces_creations(here)
    assert isinstance(announcer, AnnouncesCreations)
    mark = await announcer.wait_created(after=None)
    got: list[int] = []

    async def waiter() -> None:
        got.append(await announcer.wait_created(after=mark))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.sleep(0.05)
            assert got == []
            await there.create(make_record())
    [newer] = got
    assert newer != mark
    assert await announcer.wait_created(after=None) == newer


async def test_sqlite_a_creation_through_another_connection_wakes_a_waiter(
    tmp_path: Path,
) -> None:
    here, there = SQLiteStore(tmp_path / "t.db"), SQLiteStore(tmp_path / "t.db")
    await here.open()
    await there.open()
    try:
        await _woken_by_the_other(here, there)
    finally:
        await here.close()
        await there.close()


async def test_sqlite_a_foreign_write_that_creates_nothing_does_not_end_the_wait(
    tmp_path: Path,
) -> None:
    here, there = SQLiteStore(tmp_path / "t.db"), SQLiteStore(tmp_path / "t.db")
    await here.open()
    await there.open()
    try:
        record = make_record()
        await there.create(record)
        mark = await here.wait_created(after=None)
        got: list[int] = []

        async def waiter() -> None:
            got.append(await here.wait_created(after=mark))

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await there.update(record.task_id, now=record.created_at, status_message="x")
                await anyio.sleep(3 * here.watch_interval_s)  # the watcher saw that write
                assert got == []
                await there.create(make_record())
        assert got != [mark]
    finally:
        await here.close()
        await there.close()


async def test_redis_a_creation_through_another_store_wakes_a_waiter() -> None:
    url, prefix = require_redis(), unique_prefix()
    try:
        async with opened(url, prefix) as here, opened(url, prefix) as there:
            await _woken_by_the_other(here, there)
    finally:
        await delete_keys(url, prefix)
