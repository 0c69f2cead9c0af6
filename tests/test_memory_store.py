"""taskapp.records (the state machine as pure functions) and taskapp.stores.memory.MemoryStore."""

from __future__ import annotations

import base64
import dataclasses
import inspect
import itertools
import json
import time
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from taskapp.records import (
    ErrorOutcome,
    InvalidTransitionError,
    TaskRecord,
    TaskStatus,
    ToolOutcome,
    apply_update,
    can_transition,
    is_terminal,
    outcome_from_json,
    outcome_to_json,
    record_from_json,
    record_to_json,
)
from taskapp.stores import InvalidCursorError, MemoryStore, TaskNotFoundError, open_store
from taskapp.testing import NOW, make_record

pytestmark = pytest.mark.anyio

S = TaskStatus

# S-13 (b.4): the paths a task may take. Staying in a non-terminal status is allowed
# too: it is how a status message changes without a change of status.
ALLOWED: dict[TaskStatus, set[TaskStatus]] = {
    S.WORKING: {S.WORKING, S.INPUT_REQUIRED, S.COMPLETED, S.FAILED, S.CANCELLED},
    S.INPUT_REQUIRED: {S.WORKING, S.INPUT_REQUIRED, S.COMPLETED, S.FAILED, S.CANCELLED},
    S.COMPLETED: set(),
    S.FAILED: set(),
    S.CANCELLED: set(),
}
# -- records: pure functions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new"), list(itertools.product(TaskStatus, TaskStatus)), ids=str
)
def test_can_transition_follows_s13(current: TaskStatus, new: TaskStatus) -> None:
    """S-13: every pair of statuses, against the table."""
    assert can_transition(current, new) is (new in ALLOWED[current])


@pytest.mark.parametrize(
    ("current", "new"), list(itertools.product(TaskStatus, TaskStatus)), ids=str
)
def test_apply_update_enforces_s13(current: TaskStatus, new: TaskStatus) -> None:
    record = make_record(status=current)
    if new in ALLOWED[current]:
        assert apply_update(record, now=NOW + 1, status=new).status is new
    else:
        with pytest.raises(InvalidTransitionError) as caught:
            apply_update(record, now=NOW + 1, status=new)
        assert caught.value.record is record
        assert caught.value.new is new
        assert record.task_id in str(caught.value)


def test_terminal_statuses() -> None:
    assert {s for s in TaskStatus if is_terminal(s)} == {S.COMPLETED, S.FAILED, S.CANCELLED}
    assert [s.value for s in TaskStatus] == [
        "working",
        "input_required",
        "completed",
        "failed",
        "cancelled",
    ]
    assert make_record(status=S.FAILED).terminal
    assert not make_record(status=S.INPUT_REQUIRED).terminal


def test_apply_update_changes_version_time_and_what_was_asked() -> None:
    record = dataclasses.replace(make_record(), status_message="before")
    outcome = ToolOutcome(content=[{"type": "text", "text": "3"}])

    kept = apply_update(record, now=NOW + 1)
    assert kept == dataclasses.replace(record, updated_at=NOW + 1, version=1)

    changed = apply_update(kept, now=NOW + 2, status_message="after")
    assert changed.status_message == "after"
    assert changed.version == 2

    cleared = apply_update(changed, now=NOW + 3, status_message=None)
    assert cleared.status_message is None

    done = apply_update(cleared, now=NOW + 4, status=S.COMPLETED, outcome=outcome)
    assert done.status is S.COMPLETED
    assert done.outcome == outcome
    assert done.updated_at == NOW + 4
    assert done.created_at == NOW
    assert done.version == 4
    assert record.version == 0  # the original is untouched
    assert record.status_message == "before"


def test_a_record_is_built_from_every_field_in_order() -> None:
    # TaskRecord writes its slots itself: a field added must be added to __init__ too,
    # at the same place and with the same default.
    fields = dataclasses.fields(TaskRecord)
    parameters = list(inspect.signature(TaskRecord).parameters.values())
    assert [p.name for p in parameters] == [f.name for f in fields]
    for parameter, field in zip(parameters, fields, strict=True):
        if field.default is not dataclasses.MISSING:
            assert parameter.default == field.default, field.name


def test_a_record_built_positionally_holds_each_value_in_its_field_and_is_frozen() -> None:
    values: list[Any] = [
        "t1", S.INPUT_REQUIRED, NOW, NOW + 1, 60_000, "add", {"a": 1}, "alice", 500, "m",
        ToolOutcome(content=[]), 3, {"elicitation": {}}, "r1", NOW + 30,
    ]  # fmt: skip
    record = TaskRecord(*values)
    assert [getattr(record, f.name) for f in dataclasses.fields(TaskRecord)] == values
    assert record == TaskRecord(
        **{f.name: v for f, v in zip(dataclasses.fields(TaskRecord), values, strict=True)}
    )
    assert dataclasses.replace(record, version=4).version == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.version = 5  # type: ignore[misc]


def test_each_record_gets_its_own_empty_arguments() -> None:
    first = TaskRecord("t1", S.WORKING, NOW, NOW, None, "add")
    second = TaskRecord("t2", S.WORKING, NOW, NOW, None, "add")
    assert first.arguments == {}
    assert first.arguments is not second.arguments
    assert first.owner is None
    assert first.version == 0
    assert first.lease_until is None


def test_record_expiry() -> None:
    record = make_record(ttl_ms=1500)
    assert record.expires_at == NOW + 1.5
    assert not record.is_expired(NOW + 1.499)
    assert record.is_expired(NOW + 1.5)
    unlimited = make_record(ttl_ms=None)
    assert unlimited.expires_at is None
    assert not unlimited.is_expired(NOW + 10**9)


@pytest.mark.parametrize(
    "outcome",
    [
        ToolOutcome(content=[{"type": "text", "text": "hi"}]),
        ToolOutcome(
            content=[{"type": "text", "text": '{"x": 1}'}],
            structured={"x": 1, "nested": [1, None, "z"]},
            is_error=True,
            meta={"k": "v"},
        ),
        ToolOutcome(content=[]),
        ErrorOutcome(code=-32602, message="bad"),
        ErrorOutcome(code=-32000, message="custom", data={"why": ["a", 1]}),
    ],
)
def test_outcome_json_round_trip(outcome: ToolOutcome | ErrorOutcome) -> None:
    text = json.dumps(outcome_to_json(outcome))  # plain JSON, nothing Python-only
    assert outcome_from_json(json.loads(text)) == outcome


@pytest.mark.parametrize(
    "record",
    [
        make_record(),
        make_record(ttl_ms=None, owner="alice", status=S.INPUT_REQUIRED),
        dataclasses.replace(
            make_record(status=S.COMPLETED),
            status_message="done",
            outcome=ToolOutcome(content=[{"type": "text", "text": "3"}], structured={"r": 3}),
            version=7,
            updated_at=NOW + 12.25,
        ),
        dataclasses.replace(
            make_record(status=S.FAILED), outcome=ErrorOutcome(-32603, "boom", data=[1])
        ),
    ],
)
def test_record_json_round_trip(record: TaskRecord) -> None:
    text = json.dumps(record_to_json(record))
    assert record_from_json(json.loads(text)) == record


# -- MemoryStore ----------------------------------------------------------------------


async def test_create_get_update() -> None:
    store = MemoryStore()
    record = make_record(task_id="t1")
    await store.create(record)
    assert await store.get("t1", now=NOW) == record
    assert await store.get("nope", now=NOW) is None
    updated = await store.update("t1", now=NOW + 1, status_message="half way")
    assert updated.status_message == "half way"
    assert updated.version == 1
    assert await store.get("t1", now=NOW + 1) == updated
    ended = await store.update(
        "t1", now=NOW + 2, status=S.COMPLETED, outcome=ToolOutcome(content=[])
    )
    assert ended.status_message == "half way"  # kept when not given
    assert (await store.get("t1", now=NOW + 2)) == ended
    assert ended.version == 2


async def test_create_with_a_taken_id_raises_value_error() -> None:
    store = MemoryStore()
    await store.create(make_record(task_id="same"))
    with pytest.raises(ValueError, match="same"):
        await store.create(make_record(task_id="same", owner="other"))
    record = await store.get("same", now=NOW)
    assert record is not None
    assert record.owner is None  # the first one stays


async def test_update_of_an_unknown_task_raises_not_found() -> None:
    store = MemoryStore()
    with pytest.raises(TaskNotFoundError):
        await store.update("ghost", now=NOW, status=S.CANCELLED)


@pytest.mark.parametrize("final", [S.COMPLETED, S.FAILED, S.CANCELLED])
async def test_terminal_status_is_final(final: TaskStatus) -> None:
    """S-13, S-42: nothing leaves a terminal status, not even a message change."""
    store = MemoryStore()
    await store.create(make_record(task_id="t"))
    ended = await store.update("t", now=NOW + 1, status=final, status_message="the end")
    for status in [*TaskStatus, None]:
        with pytest.raises(InvalidTransitionError):
            await store.update("t", now=NOW + 2, status=status, status_message="again")
    assert await store.get("t", now=NOW + 2) == ended


async def test_concurrent_writers_exactly_one_wins() -> None:
    store = MemoryStore()
    await store.create(make_record(task_id="race"))
    outcomes: dict[TaskStatus, TaskRecord | InvalidTransitionError] = {}
    go = anyio.Event()

    async def write(status: TaskStatus) -> None:
        await go.wait()
        try:
            outcomes[status] = await store.update("race", now=NOW + 1, status=status)
        except InvalidTransitionError as exc:
            outcomes[status] = exc

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(write, S.COMPLETED)
            tg.start_soon(write, S.CANCELLED)
            await wait_all_tasks_blocked()
            go.set()
    winners = [s for s, o in outcomes.items() if isinstance(o, TaskRecord)]
    losers = [s for s, o in outcomes.items() if isinstance(o, InvalidTransitionError)]
    assert len(winners) == 1
    assert len(losers) == 1
    final = await store.get("race", now=NOW + 1)
    assert final is not None
    assert final.status is winners[0]
    assert final.version == 1


async def _all_pages(
    store: MemoryStore, owner: str | None, limit: int, between: Any = None
) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page, cursor = await store.list_tasks(owner, cursor=cursor, limit=limit, now=NOW)
        assert len(page) <= limit
        seen.extend(r.task_id for r in page)
        pages += 1
        assert pages < 100, "the cursor never ended"
        if cursor is None:
            return seen
        if between is not None:
            await between(pages)


async def test_list_is_per_owner_oldest_first() -> None:
    store = MemoryStore()
    for i in range(5):
        await store.create(make_record(task_id=f"a{i}", owner="alice"))
        await store.create(make_record(task_id=f"b{i}", owner="bob"))
    await store.create(make_record(task_id="anon"))
    assert await _all_pages(store, "alice", 2) == [f"a{i}" for i in range(5)]
    assert await _all_pages(store, "bob", 100) == [f"b{i}" for i in range(5)]
    assert await _all_pages(store, None, 2) == ["anon"]
    assert await store.list_tasks("carol", cursor=None, limit=10, now=NOW) == ([], None)
    page, cursor = await store.list_tasks("alice", cursor=None, limit=5, now=NOW)
    assert len(page) == 5
    assert cursor is None  # S-38: a cursor only when more tasks are available


async def test_list_cursor_is_stable_while_tasks_come_and_go() -> None:
    """S-38, S-39: no task listed twice, none missed, while tasks are added and deleted."""
    store = MemoryStore()
    for i in range(6):
        await store.create(make_record(task_id=f"old{i}", owner="alice"))

    async def churn(page: int) -> None:
        await store.create(make_record(task_id=f"new{page}", owner="alice"))
        await store.create(make_record(task_id=f"other{page}", owner="bob"))
        if page == 1:
            assert await store.delete("old5")  # not yet listed: it must simply not appear
            assert await store.delete("old0")  # already listed

    seen = await _all_pages(store, "alice", 2, churn)
    assert len(seen) == len(set(seen))
    expected_old = ["old0", "old1", "old2", "old3", "old4"]
    assert seen[: len(expected_old)] == expected_old
    news = seen[len(expected_old) :]
    assert news == [f"new{i}" for i in range(1, len(news) + 1)]
    assert len(news) >= 3


async def test_list_leaves_out_expired_tasks() -> None:
    store = MemoryStore()
    await store.create(make_record(task_id="short", owner="o", ttl_ms=1000))
    await store.create(make_record(task_id="long", owner="o", ttl_ms=None))
    page, _ = await store.list_tasks("o", cursor=None, limit=10, now=NOW + 0.5)
    assert [r.task_id for r in page] == ["short", "long"]
    page, _ = await store.list_tasks("o", cursor=None, limit=10, now=NOW + 1)
    assert [r.task_id for r in page] == ["long"]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        _b64("t1:2"),  # a tools/list cursor
        _b64("m1:-1"),
        _b64("m1:abc"),
        "not base64 at all!",
        "",
        _b64("\xff"),
    ],
)
async def test_a_cursor_the_store_did_not_make_is_invalid(cursor: str) -> None:
    store = MemoryStore()
    await store.create(make_record(owner="alice"))
    with pytest.raises(InvalidCursorError):
        await store.list_tasks("alice", cursor=cursor, limit=10, now=NOW)


async def test_expired_task_is_gone_and_sweep_removes_it() -> None:
    """S-24: after its ttl a task is not found; sweep frees it and says how many."""
    store = MemoryStore()
    await store.create(make_record(task_id="a", ttl_ms=1000))
    await store.create(make_record(task_id="b", ttl_ms=2000))
    await store.create(make_record(task_id="c", ttl_ms=None))
    assert await store.get("a", now=NOW + 0.999) is not None
    assert await store.get("a", now=NOW + 1) is None
    with pytest.raises(TaskNotFoundError):
        await store.update("a", now=NOW + 1, status=S.CANCELLED)
    assert len(store) == 3
    assert await store.sweep(now=NOW + 0.5) == 0
    assert await store.sweep(now=NOW + 1.5) == 1
    assert len(store) == 2
    assert await store.sweep(now=NOW + 10**6) == 1
    assert await store.sweep(now=NOW + 10**6) == 0
    assert len(store) == 1
    assert await store.get("c", now=NOW + 10**6) is not None
    assert await store.get("b", now=NOW + 1) is None  # swept, even for an earlier `now`


async def test_delete() -> None:
    store = MemoryStore()
    await store.create(make_record(task_id="d"))
    assert await store.delete("d") is True
    assert await store.delete("d") is False
    assert await store.get("d", now=NOW) is None


class _CountingStore(MemoryStore):
    """Counts reads, to show that `wait` reads once per change rather than polling."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        self.gets += 1
        return await super().get(task_id, now=now)


async def test_wait_returns_on_change_without_polling() -> None:
    store = _CountingStore()
    now = time.time()
    await store.create(make_record(task_id="w", created_at=now))
    got: list[TaskRecord | None] = []

    async def waiter() -> None:
        got.append(await store.wait("w", after_version=0, now=time.time()))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await wait_all_tasks_blocked()
            await anyio.sleep(0.05)
            assert got == []
            reads = store.gets
            assert reads == 1  # one look, then it sleeps until woken
            updated = await store.update("w", now=time.time(), status_message="news")
    assert got == [updated]
    assert store.gets == reads + 1


async def test_wait_returns_at_once_for_an_older_version() -> None:
    store = MemoryStore()
    await store.create(make_record(task_id="w", created_at=time.time()))
    updated = await store.update("w", now=time.time(), status_message="x")
    with anyio.fail_after(5):
        assert await store.wait("w", after_version=0, now=time.time()) == updated


async def test_wait_returns_none_when_deleted() -> None:
    store = MemoryStore()
    await store.create(make_record(task_id="w", created_at=time.time()))
    got: list[TaskRecord | None] = [make_record()]

    async def waiter() -> None:
        got[0] = await store.wait("w", after_version=0, now=time.time())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await wait_all_tasks_blocked()
            assert await store.delete("w")
    assert got == [None]


async def test_wait_returns_none_when_expired() -> None:
    store = MemoryStore()
    await store.create(make_record(task_id="w", created_at=time.time(), ttl_ms=100))
    with anyio.fail_after(5):
        assert await store.wait("w", after_version=0, now=time.time()) is None
    with anyio.fail_after(5):
        assert await store.wait("missing", after_version=0, now=time.time()) is None


# -- open_store ----------------------------------------------------------------------


def test_open_store_mapping() -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    assert isinstance(open_store(None), MemoryStore)
    assert open_store("memory://") is not open_store("memory://")
    mine = MemoryStore()
    assert open_store(mine) is mine


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("bogus://x", "unknown store scheme 'bogus'"),
        ("memory", "no scheme"),
        ("", "no scheme"),
    ],
)
def test_open_store_rejects_bad_urls(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        open_store(url)
