"""The store contract for the operator's listing: every owner, newest first, filters, counts."""

from __future__ import annotations

import pytest

from ..records import TaskStatus
from ..stores._listing_all import (
    CannotListAllOwnersError,
    ListsAllOwners,
    TaskFilter,
    all_owners,
)
from ..stores.base import InvalidCursorError, TaskStore
from ._helpers import NOW, S, _unique, make_record


def _lister(store: TaskStore) -> ListsAllOwners:
    if not isinstance(store, ListsAllOwners):
        pytest.skip(
            f"{type(store).__name__} does not list across owners (an optional capability: "
            "taskapp.stores.ListsAllOwners)"
        )
    return store


async def _all_pages(store: ListsAllOwners, where: TaskFilter, limit: int) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        page, cursor = await store.list_all(where, cursor=cursor, limit=limit, now=NOW)
        assert len(page) <= limit
        seen.extend(r.task_id for r in page)
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ended")


class AllOwnersListingContract:
    """`list_all` and `count_by_status`, for stores that have them (`ListsAllOwners`)."""

    async def test_a_store_without_it_says_so(self, store: TaskStore) -> None:
        if isinstance(store, ListsAllOwners):
            assert all_owners(store) is store
            return
        with pytest.raises(CannotListAllOwnersError, match="cannot list across owners"):
            all_owners(store)

    async def test_every_owner_newest_first_in_pages(self, store: TaskStore) -> None:
        lister = _lister(store)
        tool = _unique("tool")  # only this test's tasks, on a store shared with others
        made = []
        for i in range(7):
            owner = (_unique("alice"), _unique("bob"), None)[i % 3]
            record = make_record(owner=owner, tool=tool)
            await store.create(record)
            made.append(record)
        newest_first = [r.task_id for r in reversed(made)]
        assert await _all_pages(lister, TaskFilter(tool=tool), 3) == newest_first
        assert await _all_pages(lister, TaskFilter(tool=tool), 100) == newest_first
        page, cursor = await lister.list_all(TaskFilter(tool=tool), cursor=None, limit=7, now=NOW)
        assert cursor is None  # a cursor only when more tasks follow
        assert [r.owner for r in page] == [r.owner for r in reversed(made)]
        assert [r.tool for r in page] == [tool] * 7
        everything = await _all_pages(lister, TaskFilter(), 50)
        assert everything[: len(made)] == newest_first  # the newest tasks of the whole store

    async def test_filters_by_status_tool_and_owner(self, store: TaskStore) -> None:
        lister = _lister(store)
        alice, bob, tool = _unique("alice"), _unique("bob"), _unique("tool")
        records = [
            make_record(owner=alice, tool=tool),
            make_record(owner=bob, tool=tool),
            make_record(owner=alice, tool=tool + "-other"),
            make_record(owner=alice, tool=tool),
        ]
        for record in records:
            await store.create(record)
        await store.update(records[0].task_id, now=NOW, status=S.INPUT_REQUIRED)
        await store.update(records[1].task_id, now=NOW, status=S.CANCELLED)
        await store.update(records[3].task_id, now=NOW, status=S.COMPLETED)
        ids = [r.task_id for r in records]

        async def shown(**where: object) -> list[str]:
            found = await _all_pages(lister, TaskFilter(**where), 2)  # type: ignore[arg-type]
            return [task_id for task_id in found if task_id in ids]

        assert await shown(owner=alice) == [ids[3], ids[2], ids[0]]
        assert await shown(owner=bob) == [ids[1]]
        assert await shown(tool=tool) == [ids[3], ids[1], ids[0]]
        assert await shown(statuses=frozenset({S.CANCELLED})) == [ids[1]]
        assert await shown(statuses=frozenset({S.WORKING, S.INPUT_REQUIRED})) == [ids[2], ids[0]]
        both = {"owner": alice, "tool": tool, "statuses": frozenset({S.COMPLETED})}
        assert await shown(**both) == [ids[3]]
        assert await shown(owner=_unique("nobody")) == []

    async def test_cursors_hold_while_tasks_come_and_go(self, store: TaskStore) -> None:
        lister = _lister(store)
        tool = _unique("tool")
        old = [make_record(owner=_unique("o"), tool=tool) for _ in range(6)]
        for record in old:
            await store.create(record)
        where = TaskFilter(tool=tool)
        page, cursor = await lister.list_all(where, cursor=None, limit=2, now=NOW)
        assert [r.task_id for r in page] == [old[5].task_id, old[4].task_id]
        assert cursor is not None
        await store.create(make_record(tool=tool))  # newer than the first page: not shown
        assert await store.delete(old[3].task_id)  # not listed yet: never shown
        assert await store.delete(old[5].task_id)  # listed already
        rest: list[str] = []
        while cursor is not None:
            page, cursor = await lister.list_all(where, cursor=cursor, limit=2, now=NOW)
            rest += [r.task_id for r in page]
        assert rest == [old[2].task_id, old[1].task_id, old[0].task_id]

    async def test_expired_tasks_are_left_out(self, store: TaskStore) -> None:
        lister = _lister(store)
        tool = _unique("tool")
        short = make_record(tool=tool, ttl_ms=1000)
        long = make_record(tool=tool, ttl_ms=None)
        for record in (short, long):
            await store.create(record)
        page, _ = await lister.list_all(TaskFilter(tool=tool), cursor=None, limit=9, now=NOW + 1)
        assert [r.task_id for r in page] == [long.task_id]

    async def test_a_cursor_it_did_not_make_is_invalid(self, store: TaskStore) -> None:
        lister = _lister(store)
        owner = _unique("alice")
        for _ in range(3):
            await store.create(make_record(owner=owner))
        _, cursor = await store.list_tasks(owner, cursor=None, limit=1, now=NOW)
        assert cursor is not None  # a per-owner cursor is not an operator's one
        for bad in [cursor, "not base64 at all!", "", "%%%"]:
            with pytest.raises(InvalidCursorError):
                await lister.list_all(TaskFilter(), cursor=bad, limit=1, now=NOW)

    async def test_counts_by_status(self, store: TaskStore) -> None:
        lister = _lister(store)
        before = await lister.count_by_status(now=NOW)
        assert set(before) == set(TaskStatus)
        records = [make_record(owner=_unique(name)) for name in ("a", "b", "c", "d")]
        for record in records:
            await store.create(record)
        await store.update(records[0].task_id, now=NOW, status=S.COMPLETED)
        await store.update(records[1].task_id, now=NOW, status=S.INPUT_REQUIRED)
        await store.update(records[1].task_id, now=NOW, status=S.FAILED)
        await store.update(records[2].task_id, now=NOW, status_message="halfway")
        after = await lister.count_by_status(now=NOW)
        grown = {status: after[status] - before[status] for status in TaskStatus}
        assert grown == {S.WORKING: 2, S.INPUT_REQUIRED: 0, S.COMPLETED: 1, S.FAILED: 1,
                         S.CANCELLED: 0}  # fmt: skip
        assert await store.delete(records[0].task_id)
        assert await store.delete(records[3].task_id)
        gone = await lister.count_by_status(now=NOW)
        assert gone[S.COMPLETED] == after[S.COMPLETED] - 1
        assert gone[S.WORKING] == after[S.WORKING] - 1
