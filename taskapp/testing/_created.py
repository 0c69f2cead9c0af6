"""The store contract for creation notices: a new task wakes whoever waits for one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from ..stores._created import AnnouncesCreations, announces_creations
from ..stores.base import TaskStore
from ._helpers import NOW, make_record


def _announcer(store: TaskStore) -> AnnouncesCreations:
    announcer = announces_creations(store)
    if announcer is None:
        pytest.skip(
            f"{type(store).__name__} does not announce creations (an optional capability: "
            "taskapp.stores.AnnouncesCreations)"
        )
    return announcer


@asynccontextmanager
async def waiting_for_creation(
    announcer: AnnouncesCreations, mark: int, *, within: float = 5
) -> AsyncIterator[list[int]]:
    """A waiter for a creation after `mark` runs while the block does (which must end
    with one, within `within` seconds); the list it yields holds what the waiter got."""
    got: list[int] = []

    async def waiter() -> None:
        got.append(await announcer.wait_created(after=mark))

    with anyio.fail_after(within):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            yield got


class CreationNoticeContract:
    """`wait_created`, for stores that have it (`AnnouncesCreations`)."""

    async def test_a_store_without_it_says_so(self, store: TaskStore) -> None:
        found = announces_creations(store)
        assert (found is None) == (not hasattr(store, "wait_created"))

    async def test_a_creation_wakes_a_waiter(self, store: TaskStore) -> None:
        announcer = _announcer(store)
        mark = await announcer.wait_created(after=None)
        async with waiting_for_creation(announcer, mark) as got:
            await anyio.sleep(0.05)
            assert got == []  # nothing created: still waiting
            await store.create(make_record())
        assert got != [mark]
        assert len(got) == 1

    async def test_a_creation_between_two_waits_is_not_missed(self, store: TaskStore) -> None:
        announcer = _announcer(store)
        mark = await announcer.wait_created(after=None)
        await store.create(make_record())
        with anyio.fail_after(5):
            newer = await announcer.wait_created(after=mark)
            assert newer != mark
            assert await announcer.wait_created(after=None) == newer  # a mark, at once

    async def test_changes_and_deletions_are_no_creations(self, store: TaskStore) -> None:
        announcer = _announcer(store)
        record = make_record()
        await store.create(record)
        mark = await announcer.wait_created(after=None)
        async with waiting_for_creation(announcer, mark) as got:
            await store.update(record.task_id, now=NOW, status_message="halfway")
            assert await store.delete(record.task_id)
            await anyio.sleep(0.05)
            assert got == []  # woken, maybe, but nothing was created: waits on
            await store.create(make_record())
        assert got != [mark]
