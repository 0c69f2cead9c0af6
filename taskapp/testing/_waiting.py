"""The store contract for waiting: a change wakes its waiters, without polling."""

from __future__ import annotations

import time

import anyio

from ..records import TaskRecord
from ..stores.base import TaskStore
from ._helpers import make_record


class WaitContract:
    """`wait` returns a newer record, or None when the task is gone."""

    async def test_wait_returns_when_another_task_updates(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        got: list[TaskRecord | None] = []

        async def waiter() -> None:
            got.append(await store.wait(record.task_id, after_version=0, now=time.time()))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await anyio.sleep(0.05)
                assert got == []  # nothing changed: still waiting
                updated = await store.update(record.task_id, now=time.time(), status_message="n")
        assert got == [updated]

    async def test_wait_returns_at_once_for_an_older_version(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        updated = await store.update(record.task_id, now=time.time(), status_message="x")
        with anyio.fail_after(5):
            assert await store.wait(record.task_id, after_version=0, now=time.time()) == updated

    async def test_wait_returns_none_when_the_task_is_deleted(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        got: list[TaskRecord | None] = [record]

        async def waiter() -> None:
            got[0] = await store.wait(record.task_id, after_version=0, now=time.time())

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await anyio.sleep(0.05)
                assert await store.delete(record.task_id)
        assert got == [None]

    async def test_wait_returns_none_when_the_task_expires(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time(), ttl_ms=100)
        await store.create(record)
        with anyio.fail_after(5):
            assert await store.wait(record.task_id, after_version=0, now=time.time()) is None
            assert await store.wait("no-such-task", after_version=0, now=time.time()) is None

    async def test_many_waiters_each_wake_for_their_own_task(self, store: TaskStore) -> None:
        records = [make_record(created_at=time.time()) for _ in range(20)]
        for record in records:
            await store.create(record)
        got: dict[str, list[int]] = {r.task_id: [] for r in records}

        async def waiter(task_id: str) -> None:
            changed = await store.wait(task_id, after_version=0, now=time.time())
            assert changed is not None
            got[task_id].append(changed.version)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for record in records:
                    for _ in range(2):  # two waiters per task
                        tg.start_soon(waiter, record.task_id)
                await anyio.sleep(0.05)
                for i, record in enumerate(records):
                    assert got[record.task_id] == []
                    await store.update(record.task_id, now=time.time(), status_message=str(i))
                    await anyio.sleep(0.005)
        assert got == {r.task_id: [1, 1] for r in records}
