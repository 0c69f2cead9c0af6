"""Checks that need two handles on one shared store (two SQLite connections, two Redis
clients): what one writes, the other must see, and races between them."""

from __future__ import annotations

import anyio

from taskapp.records import TaskRecord
from taskapp.stores import TaskStore
from taskapp.testing import NOW, make_record


async def exactly_one_adopter_wins(a: TaskStore, b: TaskStore) -> None:
    """20 orphans, each adopted through both handles at once: every one is taken by
    exactly one of them, and the other handle reads what the winner wrote."""
    records = [make_record(runner="dead", lease_until=NOW - 1) for _ in range(20)]
    for record in records:
        await a.create(record)
    adopted: list[TaskRecord | None] = []

    async def adopt(store: TaskStore, runner: str, task_id: str) -> None:
        adopted.append(await store.adopt(task_id, runner, until=NOW + 30, now=NOW))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for record in records:
                tg.start_soon(adopt, a, "a", record.task_id)
                tg.start_soon(adopt, b, "b", record.task_id)
    won = [r for r in adopted if r is not None]
    assert sorted(r.task_id for r in won) == sorted(r.task_id for r in records)
    for record in won:
        assert await b.get(record.task_id, now=NOW) == record
