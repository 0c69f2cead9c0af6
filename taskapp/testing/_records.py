"""The store contract for records: create, get, update, expiry, deletion, many writers."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from ..records import (
    ErrorOutcome,
    InvalidTransitionError,
    Outcome,
    ResultOutcome,
    TaskRecord,
    TaskStatus,
    ToolOutcome,
)
from ..stores.base import TaskNotFoundError, TaskStore
from ._helpers import FINAL, NOW, S, _in_listing, _pages, _race, _text, _unique, make_record


class RecordContract:
    """A record is stored whole, changes by the state machine alone, and expires."""

    # -- create and get --------------------------------------------------------------

    @pytest.mark.parametrize(
        "outcome",
        [
            None,
            ToolOutcome(
                content=[
                    {"type": "text", "text": "tschüß ✓ 🙂"},
                    {"type": "image", "data": "AA=="},
                ],
                structured={"x": 1.5, "nested": [1, None, "z", {"deep": True}]},
                is_error=True,
                meta={"k": "v", "n": [1, 2]},
            ),
            ToolOutcome(content=[]),
            ErrorOutcome(code=-32000, message="custom", data={"why": ["a", 1]}),
            ErrorOutcome(code=-32603, message="bare"),
            ResultOutcome(result={"action": "accept", "content": {"name": "x"}}),
        ],
        ids=["none", "tool", "empty-tool", "error-data", "error", "result"],
    )
    async def test_every_field_round_trips(self, store: TaskStore, outcome: Outcome | None) -> None:
        record = make_record(
            status=S.WORKING if outcome is None else S.COMPLETED,
            owner=_unique("alice"),
            ttl_ms=None,
            created_at=NOW + 0.123456,
            tool="summarise.v2",
            arguments={"text": "ünï", "n": [1, 2.5, None], "o": {"deep": {"er": True}}},
            poll_interval_ms=750,
            status_message="step 1 of 3 · ok",
            outcome=outcome,
            version=3,
            client_capabilities={"elicitation": {"form": {}, "url": {}}, "sampling": {}},
            runner="host:42:beef",
            lease_until=NOW + 30.25,
        )
        await store.create(record)
        assert await store.get(record.task_id, now=NOW) == record

    async def test_empty_optional_fields_round_trip(self, store: TaskStore) -> None:
        bare = make_record(arguments={}, poll_interval_ms=None, client_capabilities={})
        none = make_record(arguments={}, poll_interval_ms=None, client_capabilities=None)
        for record in (bare, none):
            await store.create(record)
            assert await store.get(record.task_id, now=NOW) == record

    async def test_get_of_an_unknown_task_is_none(self, store: TaskStore) -> None:
        assert await store.get("no-such-task", now=NOW) is None

    async def test_a_taken_id_raises_value_error_and_keeps_the_first(
        self, store: TaskStore
    ) -> None:
        first = make_record(owner="first")
        await store.create(first)
        with pytest.raises(ValueError, match=first.task_id):
            await store.create(dataclasses.replace(first, owner="second"))
        assert await store.get(first.task_id, now=NOW) == first

    # -- update and transitions ---------------------------------------------------------

    async def test_update_changes_only_what_was_asked(self, store: TaskStore) -> None:
        record = make_record(
            status_message="before", client_capabilities={"sampling": {}}, runner="r"
        )
        await store.create(record)
        kept = await store.update(record.task_id, now=NOW + 1)
        assert kept == dataclasses.replace(record, updated_at=NOW + 1, version=1)
        changed = await store.update(record.task_id, now=NOW + 2, status_message="after")
        assert changed == dataclasses.replace(
            kept, status_message="after", updated_at=NOW + 2, version=2
        )
        cleared = await store.update(
            record.task_id, now=NOW + 3, status=S.INPUT_REQUIRED, status_message=None
        )
        assert (cleared.status, cleared.status_message, cleared.version) == (
            S.INPUT_REQUIRED,
            None,
            3,
        )
        done = await store.update(
            record.task_id, now=NOW + 4, status=S.COMPLETED, outcome=_text("3")
        )
        assert done == dataclasses.replace(
            cleared, status=S.COMPLETED, outcome=_text("3"), updated_at=NOW + 4, version=4
        )
        assert await store.get(record.task_id, now=NOW + 4) == done

    async def test_update_of_an_unknown_or_expired_task_raises_not_found(
        self, store: TaskStore
    ) -> None:
        with pytest.raises(TaskNotFoundError):
            await store.update("no-such-task", now=NOW, status=S.CANCELLED)
        record = make_record(ttl_ms=1000)
        await store.create(record)
        with pytest.raises(TaskNotFoundError):
            await store.update(record.task_id, now=NOW + 1, status_message="late")

    @pytest.mark.parametrize("final", FINAL, ids=str)
    async def test_a_terminal_status_is_final(self, store: TaskStore, final: TaskStatus) -> None:
        """S-13, S-42: nothing leaves a terminal status, not even a message change."""
        record = make_record()
        await store.create(record)
        ended = await store.update(
            record.task_id, now=NOW + 1, status=final, status_message="end", outcome=_text("x")
        )
        for status in [*TaskStatus, None]:
            with pytest.raises(InvalidTransitionError):
                await store.update(
                    record.task_id, now=NOW + 2, status=status, status_message="again",
                    outcome=_text("y"),
                )  # fmt: skip
        assert await store.get(record.task_id, now=NOW + 2) == ended

    async def test_of_concurrent_writers_ending_a_task_exactly_one_wins(
        self, store: TaskStore
    ) -> None:
        record = make_record()
        await store.create(record)
        statuses = [FINAL[i % 3] for i in range(12)]

        def end(i: int) -> Callable[[], Awaitable[TaskRecord]]:
            return lambda: store.update(
                record.task_id, now=NOW + 1, status=statuses[i], outcome=_text(f"writer {i}")
            )

        results = await _race(*(end(i) for i in range(len(statuses))))
        winners = [r for r in results if isinstance(r, TaskRecord)]
        assert len(winners) == 1, results
        assert all(isinstance(r, InvalidTransitionError) for r in results if r is not winners[0])
        assert winners[0].version == 1
        assert await store.get(record.task_id, now=NOW + 1) == winners[0]

    async def test_a_5_mb_result_comes_back_intact(self, store: TaskStore) -> None:
        owner = _unique("big")
        record = make_record(owner=owner, created_at=time.time(), ttl_ms=600_000)
        await store.create(record)
        text = secrets.token_urlsafe(3_000_000) + "é漢🙂\n\t\"'\\" + "\x00\x1f"
        items = [{"i": i, "s": secrets.token_hex(16)} for i in range(20_000)]
        outcome = ToolOutcome(content=[{"type": "text", "text": text}], structured={"items": items})
        assert len(text) + len(str(items)) > 5_000_000
        done = await store.update(
            record.task_id, now=time.time(), status=S.COMPLETED, outcome=outcome
        )
        assert done.outcome == outcome
        got = await store.get(record.task_id, now=time.time())
        assert got is not None
        assert got.outcome == outcome
        with anyio.fail_after(10):
            waited = await store.wait(record.task_id, after_version=0, now=time.time())
        assert waited == got
        page, _ = await store.list_tasks(owner, cursor=None, limit=10, now=time.time())
        assert _in_listing(page, [got])

    # -- expiry and deletion ---------------------------------------------------------

    async def test_an_expired_task_is_gone_and_sweep_counts_it(self, store: TaskStore) -> None:
        """S-24: after its ttl a task is not found; sweep removes it and says how many."""
        a, b, c = make_record(ttl_ms=1000), make_record(ttl_ms=2000), make_record(ttl_ms=None)
        for record in (a, b, c):
            await store.create(record)
        assert await store.get(a.task_id, now=NOW + 0.999) == a
        assert await store.get(a.task_id, now=NOW + 1) is None
        assert await store.sweep(now=NOW + 0.5) == 0
        assert await store.sweep(now=NOW + 1.5) == 1
        assert await store.get(a.task_id, now=NOW) is None  # swept: gone even for an early now
        assert await store.get(b.task_id, now=NOW + 1.5) == b
        assert await store.sweep(now=NOW + 10**6) == 1
        assert await store.sweep(now=NOW + 10**6) == 0
        assert await store.get(c.task_id, now=NOW + 10**6) == c

    async def test_sweep_removes_many_and_keeps_the_living(self, store: TaskStore) -> None:
        expired = [make_record(ttl_ms=1000, created_at=NOW - 10**6) for _ in range(1100)]
        living = make_record(ttl_ms=1000, created_at=NOW)
        for record in [*expired, living]:
            await store.create(record)
        assert await store.sweep(now=NOW) == len(expired)
        assert await store.get(expired[0].task_id, now=NOW - 10**6) is None
        assert await store.get(living.task_id, now=NOW) == living

    async def test_delete(self, store: TaskStore) -> None:
        record = make_record()
        await store.create(record)
        assert await store.delete(record.task_id) is True
        assert await store.delete(record.task_id) is False
        assert await store.get(record.task_id, now=NOW) is None

    # -- many writers at once -------------------------------------------------------------

    async def test_many_concurrent_writers(self, store: TaskStore) -> None:
        owner = _unique("crowd")
        records = [make_record(owner=owner) for _ in range(200)]

        def create(record: TaskRecord) -> Callable[[], Awaitable[None]]:
            return lambda: store.create(record)

        def update(task_id: str, **change: Any) -> Callable[[], Awaitable[TaskRecord]]:
            return lambda: store.update(task_id, **change)

        assert await _race(*(create(r) for r in records)) == [None] * len(records)
        messages = await _race(
            *(
                update(r.task_id, now=NOW + 1, status_message=f"m{i}")
                for r in records
                for i in range(3)
            )
        )
        assert all(isinstance(m, TaskRecord) for m in messages), messages[:3]
        enders = await _race(
            *(
                update(r.task_id, now=NOW + 2, status=s, outcome=_text(s))
                for r in records
                for s in (S.COMPLETED, S.CANCELLED)
            )
        )
        for i, record in enumerate(records):
            pair = enders[2 * i : 2 * i + 2]
            winners = [r for r in pair if isinstance(r, TaskRecord)]
            assert len(winners) == 1, pair
            got = await store.get(record.task_id, now=NOW + 2)
            assert got == winners[0]
            assert got.version == 4
            assert got.status_message in {"m0", "m1", "m2"}
        listed = await _pages(store, owner, 1000)
        assert sorted(listed) == sorted(r.task_id for r in records)
