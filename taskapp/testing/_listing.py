"""The store contract for listings: per owner, oldest first, cursors that hold."""

from __future__ import annotations

import time

import pytest

from ..records import TaskRecord, ToolOutcome
from ..stores.base import InvalidCursorError, TaskStore
from ._helpers import NOW, S, _in_listing, _pages, _text, _unique, make_record


class ListingContract:
    """`list_tasks` pages through an owner's living tasks with opaque cursors."""

    async def test_list_is_per_owner_and_oldest_first(self, store: TaskStore) -> None:
        alice, bob, carol = _unique("alice"), _unique("bob"), _unique("carol")
        made: dict[str, list[str]] = {alice: [], bob: []}
        for _ in range(5):
            for owner in (alice, bob):
                record = make_record(owner=owner)
                await store.create(record)
                made[owner].append(record.task_id)
        assert await _pages(store, alice, 2) == made[alice]
        assert await _pages(store, bob, 100) == made[bob]
        assert await store.list_tasks(carol, cursor=None, limit=10, now=NOW) == ([], None)
        page, cursor = await store.list_tasks(alice, cursor=None, limit=5, now=NOW)
        assert [r.task_id for r in page] == made[alice]
        assert cursor is None  # S-38: a cursor only when more tasks follow
        first = await store.get(made[bob][0], now=NOW)
        page, _ = await store.list_tasks(bob, cursor=None, limit=1, now=NOW)
        assert first is not None
        assert _in_listing(page, [first])

    async def test_a_listing_shows_the_state_and_a_tool_error(self, store: TaskStore) -> None:
        """A listed task shows its whole state, and keeps an outcome with isError (which
        2025-11-25 shows as `failed`); whatever else it leaves out, `get` still has."""
        owner, now = _unique("o"), time.time()
        outcomes = [ToolOutcome(content=[{"type": "text", "text": "no such city"}], is_error=True),
                    _text("fine"), None]  # fmt: skip
        records = [
            make_record(owner=owner, created_at=now, arguments={"city": "Atlantis"}, runner="r:1",
                        lease_until=now + 30, client_capabilities={"elicitation": {}})
            for _ in outcomes
        ]  # fmt: skip
        for record, outcome in zip(records, outcomes, strict=True):
            await store.create(record)
            if outcome is not None:
                await store.update(record.task_id, now=now, status=S.COMPLETED, outcome=outcome)
            else:
                await store.update(record.task_id, now=now, status_message="halfway")
        page, _ = await store.list_tasks(owner, cursor=None, limit=10, now=now)
        got = [await store.get(r.task_id, now=now) for r in records]
        assert all(isinstance(r, TaskRecord) for r in got)
        assert _in_listing(page, got)  # type: ignore[arg-type]
        assert page[0].outcome == outcomes[0]
        assert [r.status for r in page] == [S.COMPLETED, S.COMPLETED, S.WORKING]
        assert page[2].status_message == "halfway"
        assert [r.version for r in page] == [1, 1, 1]

    async def test_tasks_without_owner_are_listed_apart(self, store: TaskStore) -> None:
        anonymous = make_record(owner=None)
        await store.create(anonymous)
        await store.create(make_record(owner=_unique("someone")))
        assert anonymous.task_id in await _pages(store, None, 1000)
        owned = await _pages(store, _unique("nobody"), 10)
        assert owned == []

    async def test_cursors_stay_valid_while_tasks_come_and_go(self, store: TaskStore) -> None:
        """S-38, S-39: none listed twice, none missed, while tasks are added and deleted."""
        alice, bob = _unique("alice"), _unique("bob")
        old = [make_record(owner=alice) for _ in range(7)]
        for record in old:
            await store.create(record)
        added: list[str] = []

        async def churn(page: int) -> None:
            for owner in (alice, bob):
                record = make_record(owner=owner)
                await store.create(record)
                if owner == alice:
                    added.append(record.task_id)
            if page == 1:
                assert await store.delete(old[6].task_id)  # not listed yet: must not appear
                assert await store.delete(old[0].task_id)  # listed already

        seen = await _pages(store, alice, 2, churn)
        assert len(seen) == len(set(seen))
        expected = [r.task_id for r in old[:6]] + added
        assert seen == expected

    async def test_a_cursor_still_works_after_the_newest_task_is_deleted(
        self, store: TaskStore
    ) -> None:
        owner = _unique("alice")
        records = [make_record(owner=owner) for _ in range(3)]
        for record in records:
            await store.create(record)
        page, cursor = await store.list_tasks(owner, cursor=None, limit=2, now=NOW)
        assert [r.task_id for r in page] == [r.task_id for r in records[:2]]
        assert cursor is not None
        assert await store.delete(records[2].task_id)
        assert await store.delete(records[1].task_id)
        late = make_record(owner=owner)
        await store.create(late)
        page, cursor = await store.list_tasks(owner, cursor=cursor, limit=2, now=NOW)
        assert ([r.task_id for r in page], cursor) == ([late.task_id], None)

    async def test_list_leaves_out_expired_tasks(self, store: TaskStore) -> None:
        owner = _unique("o")
        short = make_record(owner=owner, ttl_ms=1000)
        long = make_record(owner=owner, ttl_ms=None)
        await store.create(short)
        await store.create(long)
        page, _ = await store.list_tasks(owner, cursor=None, limit=10, now=NOW + 0.5)
        assert [r.task_id for r in page] == [short.task_id, long.task_id]
        page, _ = await store.list_tasks(owner, cursor=None, limit=10, now=NOW + 1)
        assert [r.task_id for r in page] == [long.task_id]

    @pytest.mark.parametrize(
        "cursor",
        # A tools/list cursor, negative or non-numeric positions, and plain garbage.
        ["dDE6Mg==", "bTE6LTE=", "czE6LTE", "czE6YWJj", "not base64 at all!", "", "_w", "%%%"],
    )
    async def test_a_cursor_the_store_did_not_make_is_invalid(
        self, store: TaskStore, cursor: str
    ) -> None:
        owner = _unique("alice")
        for _ in range(3):
            await store.create(make_record(owner=owner))
        with pytest.raises(InvalidCursorError):
            await store.list_tasks(owner, cursor=cursor, limit=1, now=NOW)
