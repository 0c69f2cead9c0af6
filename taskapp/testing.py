"""TaskStoreContract: the tests that every TaskStore must pass, taskapp's and yours.

Needs pytest and anyio's pytest plugin (installed with anyio).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest

from .records import (
    ErrorOutcome,
    InvalidTransitionError,
    Outcome,
    ResultOutcome,
    TaskRecord,
    TaskStatus,
    ToolOutcome,
)
from .stores.base import InvalidCursorError, TaskNotFoundError, TaskStore

__all__ = ("NOW", "TaskStoreContract", "make_record")

S = TaskStatus
NOW = 1_800_000_000.0  # a fixed "now": expiry is tested by passing times, never by sleeping
FINAL = (S.COMPLETED, S.FAILED, S.CANCELLED)


def make_record(
    task_id: str | None = None,
    *,
    status: TaskStatus = S.WORKING,
    owner: str | None = None,
    ttl_ms: int | None = 60_000,
    created_at: float = NOW,
    **fields: Any,
) -> TaskRecord:
    """A record with a fresh random id unless one is given; `fields` set any other field."""
    return TaskRecord(
        task_id=task_id or f"contract-{secrets.token_urlsafe(12)}",
        status=status,
        created_at=created_at,
        updated_at=created_at,
        ttl_ms=ttl_ms,
        tool=fields.pop("tool", "add"),
        arguments=fields.pop("arguments", {"a": 1}),
        owner=owner,
        poll_interval_ms=fields.pop("poll_interval_ms", 500),
        **fields,
    )


def _unique(name: str) -> str:
    """An owner name no other test uses, for stores whose backend outlives a test."""
    return f"{name}-{secrets.token_hex(6)}"


def listed(record: TaskRecord) -> TaskRecord:
    """`record` as a listing may show it: what `TaskStore.list_tasks` may leave out, left out."""
    outcome = record.outcome
    shown = outcome if isinstance(outcome, ToolOutcome) and outcome.is_error else None
    return dataclasses.replace(
        record,
        arguments={},
        client_capabilities=None,
        runner=None,
        lease_until=None,
        outcome=shown,
    )


def _in_listing(page: list[TaskRecord], records: list[TaskRecord]) -> bool:
    """Whether `page` shows `records`, whole or as `listed`, one by one."""
    return len(page) == len(records) and all(
        got in (record, listed(record)) for got, record in zip(page, records, strict=True)
    )


def _text(text: str) -> ToolOutcome:
    return ToolOutcome(content=[{"type": "text", "text": text}])


async def _pages(store: TaskStore, owner: str | None, limit: int, between: Any = None) -> list[str]:
    """Every task id of `owner`, page by page; `between(page_number)` runs between pages."""
    seen: list[str] = []
    cursor: str | None = None
    for page_number in range(1, 1000):
        page, cursor = await store.list_tasks(owner, cursor=cursor, limit=limit, now=NOW)
        assert len(page) <= limit
        seen.extend(r.task_id for r in page)
        if cursor is None:
            return seen
        assert isinstance(cursor, str)
        if between is not None:
            await between(page_number)
    raise AssertionError("the cursor never ended")


async def _race(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Start every call at once; return what each returned or raised, in order."""
    results: list[Any] = [None] * len(calls)
    go = anyio.Event()

    async def one(i: int) -> None:
        await go.wait()
        try:
            results[i] = await calls[i]()
        except Exception as exc:
            results[i] = exc

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(len(calls)):
                tg.start_soon(one, i)
            await anyio.wait_all_tasks_blocked()
            go.set()
    return results


@pytest.mark.anyio
class TaskStoreContract:
    """Subclass it in a test module and override the `store` fixture; pytest then runs
    every test below against your store. The class name has no `Test` prefix, so pytest
    does not collect it on its own.

    Example::

        import pytest
        from collections.abc import AsyncIterator
        from taskapp.testing import TaskStoreContract
        from mystore import MyStore

        class TestMyStore(TaskStoreContract):
            @pytest.fixture
            async def store(self) -> AsyncIterator[MyStore]:
                store = MyStore("...")
                await store.open()
                yield store
                await store.close()

    The fixture must yield an opened store; ids and owners are unique per test, so a
    store whose data outlives one test (a shared server) still passes.
    """

    @pytest.fixture
    async def store(self) -> AsyncIterator[TaskStore]:
        raise NotImplementedError(
            "override the `store` fixture: an async fixture that yields an opened store"
        )
        yield  # noqa: PT022 (an async generator, like the fixtures that override it)

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

    # -- listing ------------------------------------------------------------------

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

    # -- waiting for changes --------------------------------------------------------

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

    # -- the input-request queue ------------------------------------------------------

    async def test_requests_are_claimed_oldest_first_and_released_back(
        self, store: TaskStore
    ) -> None:
        record = make_record()
        await store.create(record)
        tid = record.task_id
        assert await store.claim_input(tid, now=NOW) is None
        first = {"method": "elicitation/create", "params": {"message": "name?", "n": [1]}}
        second = {"method": "sampling/createMessage", "params": {"maxTokens": 5}}
        await store.push_input(tid, "k1", first)
        await store.push_input(tid, "k2", second)
        assert await store.claim_input(tid, now=NOW) == ("k1", first)
        assert await store.claim_input(tid, now=NOW) == ("k2", second)
        assert await store.claim_input(tid, now=NOW) is None
        await store.release_input(tid, "k1")
        assert await store.claim_input(tid, now=NOW) == ("k1", first)
        assert await store.claim_input(tid, now=NOW) is None

    async def test_an_answer_is_waited_for_and_returned_once(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        tid = record.task_id
        await store.push_input(tid, "k", {"method": "elicitation/create", "params": {}})
        answer = {"result": {"action": "accept", "content": {"name": "Ada ✓"}}}
        got: list[dict[str, Any] | None] = []

        async def asker() -> None:
            got.append(await store.wait_input_answer(tid, "k", now=time.time()))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(asker)
                assert await store.claim_input(tid, now=time.time()) is not None
                await anyio.sleep(0.05)
                assert got == []
                assert await store.answer_input(tid, "k", answer) is True
        assert got == [answer]
        assert await store.answer_input(tid, "k", {"result": {}}) is False  # not awaited now

    async def test_an_error_answer_given_before_the_wait_is_kept(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "sampling/createMessage"})
        assert await store.claim_input(record.task_id, now=time.time()) is not None
        error = {"error": {"code": -1, "message": "User rejected sampling request"}}
        assert await store.answer_input(record.task_id, "k", error) is True
        with anyio.fail_after(5):
            assert await store.wait_input_answer(record.task_id, "k", now=time.time()) == error

    async def test_an_answer_for_an_unknown_key_or_task_is_false(self, store: TaskStore) -> None:
        record = make_record()
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        assert await store.answer_input(record.task_id, "other", {"result": {}}) is False
        assert await store.answer_input("no-such-task", "k", {"result": {}}) is False

    async def test_pushing_needs_the_task_and_a_new_key(self, store: TaskStore) -> None:
        with pytest.raises(TaskNotFoundError):
            await store.push_input("no-such-task", "k", {"method": "elicitation/create"})
        record = make_record()
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        with pytest.raises(ValueError, match="k"):
            await store.push_input(record.task_id, "k", {"method": "elicitation/create"})

    async def test_a_terminal_task_hands_out_no_request(self, store: TaskStore) -> None:
        record = make_record()
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        await store.update(record.task_id, now=NOW + 1, status=S.CANCELLED)
        assert await store.claim_input(record.task_id, now=NOW + 1) is None

    async def test_drop_inputs_ends_the_wait_with_none(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        tid = record.task_id
        await store.push_input(tid, "k", {"method": "elicitation/create"})
        got: list[dict[str, Any] | None] = [{}]

        async def asker() -> None:
            got[0] = await store.wait_input_answer(tid, "k", now=time.time())

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(asker)
                await anyio.sleep(0.05)
                await store.drop_inputs(tid)
        assert got == [None]
        assert await store.claim_input(tid, now=time.time()) is None
        assert await store.answer_input(tid, "k", {"result": {}}) is False

    async def test_deleting_the_task_ends_the_wait_with_none(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        got: list[dict[str, Any] | None] = [{}]

        async def asker() -> None:
            got[0] = await store.wait_input_answer(record.task_id, "k", now=time.time())

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(asker)
                await anyio.sleep(0.05)
                assert await store.delete(record.task_id)
        assert got == [None]

    async def test_pending_inputs_are_the_unanswered_requests_in_the_order_pushed(
        self, store: TaskStore
    ) -> None:
        """tasks extension: "The `inputRequests` field **MUST** contain all outstanding
        requests from the server to the client", claimed (delivered) or not."""
        now = time.time()  # wait_input_answer below may look at the clock
        record = make_record(status=S.INPUT_REQUIRED, created_at=now)
        await store.create(record)
        tid = record.task_id
        assert await store.pending_inputs(tid, now=now) == {}
        messages = {
            f"k{i}": {"method": "elicitation/create", "params": {"message": f"{i} · ✓"}}
            for i in range(1, 5)
        }
        for key, message in messages.items():
            await store.push_input(tid, key, message)
        pending = await store.pending_inputs(tid, now=now)
        assert list(pending.items()) == list(messages.items())
        assert await store.claim_input(tid, now=now) == ("k1", messages["k1"])
        assert await store.claim_input(tid, now=now) == ("k2", messages["k2"])
        await store.release_input(tid, "k2")  # back in line, ahead of k3
        pending = await store.pending_inputs(tid, now=now)
        assert list(pending.items()) == list(messages.items())  # claimed or not, pushed order
        assert await store.answer_input(tid, "k3", {"result": {"action": "decline"}}) is True
        assert await store.answer_input(tid, "k1", {"error": {"code": -1, "message": "no"}})
        pending = await store.pending_inputs(tid, now=now)
        assert list(pending.items()) == [("k2", messages["k2"]), ("k4", messages["k4"])]
        with anyio.fail_after(5):  # taking an answer leaves the others as they were
            assert await store.wait_input_answer(tid, "k3", now=now) is not None
        assert list(await store.pending_inputs(tid, now=now)) == ["k2", "k4"]

    async def test_pending_inputs_change_no_claim(self, store: TaskStore) -> None:
        record = make_record()
        await store.create(record)
        tid = record.task_id
        second = {"method": "elicitation/create", "params": {}}
        await store.push_input(tid, "a", {"method": "sampling/createMessage", "params": {}})
        await store.push_input(tid, "b", second)
        assert await store.claim_input(tid, now=NOW) is not None  # "a" is claimed
        for _ in range(2):
            assert list(await store.pending_inputs(tid, now=NOW)) == ["a", "b"]
        assert await store.claim_input(tid, now=NOW) == ("b", second)  # "b" was not claimed
        assert list(await store.pending_inputs(tid, now=NOW)) == ["a", "b"]
        assert await store.claim_input(tid, now=NOW) is None  # reading released nothing

    async def test_an_answered_request_is_never_pending_after_the_answer_returns(
        self, store: TaskStore
    ) -> None:
        """tasks extension: servers may "ignore `inputResponses` for unknown or
        already-satisfied requests", so one answered must leave `inputRequests` at once,
        even while other answers are stored at the same moment."""
        record = make_record(status=S.INPUT_REQUIRED)
        await store.create(record)
        tid = record.task_id
        keys = [f"q{i}" for i in range(20)]
        for key in keys:
            await store.push_input(tid, key, {"method": "elicitation/create", "params": {}})
        for _ in range(len(keys) // 2):  # half of them delivered (claimed) already
            assert await store.claim_input(tid, now=NOW) is not None

        def answer_then_read(key: str) -> Callable[[], Awaitable[tuple[bool, list[str]]]]:
            async def call() -> tuple[bool, list[str]]:
                answered = await store.answer_input(tid, key, {"result": {"key": key}})
                return answered, list(await store.pending_inputs(tid, now=NOW))

            return call

        results = await _race(*(answer_then_read(key) for key in keys))
        for key, (answered, pending) in zip(keys, results, strict=True):
            assert answered is True
            assert key not in pending, (key, pending)
            assert pending == sorted(pending, key=keys.index)
        assert await store.pending_inputs(tid, now=NOW) == {}

    async def test_dropped_requests_are_not_pending(self, store: TaskStore) -> None:
        record = make_record()
        await store.create(record)
        tid = record.task_id
        await store.push_input(tid, "k1", {"method": "elicitation/create"})
        await store.push_input(tid, "k2", {"method": "elicitation/create"})
        assert await store.claim_input(tid, now=NOW) is not None
        await store.drop_inputs(tid)
        assert await store.pending_inputs(tid, now=NOW) == {}

    @pytest.mark.parametrize("final", FINAL, ids=str)
    async def test_an_ended_task_has_no_pending_request(
        self, store: TaskStore, final: TaskStatus
    ) -> None:
        """tasks extension: only an `input_required` task carries `inputRequests`; a
        terminal one carries its result or error instead."""
        record = make_record()
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        await store.update(record.task_id, now=NOW + 1, status=final)
        assert await store.pending_inputs(record.task_id, now=NOW + 1) == {}

    async def test_a_gone_task_has_no_pending_request(self, store: TaskStore) -> None:
        assert await store.pending_inputs("no-such-task", now=NOW) == {}
        expiring = make_record(ttl_ms=1000)
        deleted = make_record()
        for record in (expiring, deleted):
            await store.create(record)
            await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        assert list(await store.pending_inputs(expiring.task_id, now=NOW)) == ["k"]
        assert await store.pending_inputs(expiring.task_id, now=NOW + 1) == {}
        assert await store.delete(deleted.task_id)
        assert await store.pending_inputs(deleted.task_id, now=NOW) == {}

    # -- leases ------------------------------------------------------------------------

    async def test_renew_leases_extends_only_the_runners_live_tasks(self, store: TaskStore) -> None:
        mine = make_record(runner="A", lease_until=NOW + 1)
        foreign = make_record(runner="B", lease_until=NOW + 1)
        ended = make_record(status=S.COMPLETED, runner="A", lease_until=NOW + 1)
        for record in (mine, foreign, ended):
            await store.create(record)
        ids = [mine.task_id, foreign.task_id, ended.task_id, "no-such-task"]
        await store.renew_leases("A", ids, until=NOW + 99)
        assert await store.get(mine.task_id, now=NOW) == dataclasses.replace(
            mine, lease_until=NOW + 99
        )
        assert await store.get(foreign.task_id, now=NOW) == foreign
        assert await store.get(ended.task_id, now=NOW) == ended

    async def test_orphans_are_live_unexpired_tasks_with_a_lapsed_lease(
        self, store: TaskStore
    ) -> None:
        lapsed = make_record(runner="dead", lease_until=NOW - 1)
        waiting = make_record(status=S.INPUT_REQUIRED, runner="dead", lease_until=NOW - 1)
        unleased = make_record()
        fresh = make_record(runner="alive", lease_until=NOW + 10)
        ended = make_record(status=S.FAILED, runner="dead", lease_until=NOW - 1)
        expired = make_record(runner="dead", lease_until=NOW - 1, created_at=NOW - 100)
        for record in (lapsed, waiting, unleased, fresh, ended, expired):
            await store.create(record)
        found = await store.orphans(now=NOW, limit=100)
        ours = {lapsed.task_id, waiting.task_id, unleased.task_id}
        # Tolerate tasks of other tests in a shared backend: only ours are looked at.
        assert {r.task_id for r in found} & {
            r.task_id for r in (lapsed, waiting, unleased, fresh, ended, expired)
        } == ours
        assert lapsed in found
        assert len(await store.orphans(now=NOW, limit=1)) == 1

    async def test_adopt_takes_an_orphan_once(self, store: TaskStore) -> None:
        orphan = make_record(runner="dead", lease_until=NOW - 1, created_at=NOW - 5)
        fresh = make_record(runner="alive", lease_until=NOW + 10)
        ended = make_record(status=S.COMPLETED, runner="dead", lease_until=NOW - 1)
        for record in (orphan, fresh, ended):
            await store.create(record)
        adopted = await store.adopt(orphan.task_id, "heir", until=NOW + 30, now=NOW)
        assert adopted is not None
        assert (adopted.runner, adopted.lease_until, adopted.status) == (
            "heir",
            NOW + 30,
            S.WORKING,
        )
        assert adopted.version > orphan.version
        assert await store.get(orphan.task_id, now=NOW) == adopted
        assert await store.adopt(orphan.task_id, "late", until=NOW + 30, now=NOW + 1) is None
        assert await store.adopt(fresh.task_id, "heir", until=NOW + 30, now=NOW) is None
        assert await store.adopt(ended.task_id, "heir", until=NOW + 30, now=NOW) is None
        assert await store.adopt("no-such-task", "heir", until=NOW + 30, now=NOW) is None
        assert await store.get(fresh.task_id, now=NOW) == fresh

    async def test_a_queued_task_is_adopted_once_and_is_no_orphan(self, store: TaskStore) -> None:
        queued = make_record(runner=None, lease_until=NOW + 10)  # waiting for a worker
        await store.create(queued)
        found = await store.orphans(now=NOW, limit=100)
        assert queued.task_id not in {r.task_id for r in found}
        taken = await store.adopt(queued.task_id, "worker", until=NOW + 30, now=NOW)
        assert taken is not None
        assert (taken.runner, taken.lease_until) == ("worker", NOW + 30)
        assert await store.adopt(queued.task_id, "other", until=NOW + 30, now=NOW) is None

    async def test_of_concurrent_adopters_exactly_one_wins(self, store: TaskStore) -> None:
        orphan = make_record(runner="dead", lease_until=NOW - 1)
        await store.create(orphan)

        def adopt(i: int) -> Callable[[], Awaitable[TaskRecord | None]]:
            return lambda: store.adopt(orphan.task_id, f"heir-{i}", until=NOW + 30, now=NOW)

        results = await _race(*(adopt(i) for i in range(10)))
        winners = [r for r in results if isinstance(r, TaskRecord)]
        assert len(winners) == 1, results
        assert results.count(None) == 9
        assert await store.get(orphan.task_id, now=NOW) == winners[0]

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
