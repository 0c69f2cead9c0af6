"""SQLiteStore beyond the contract: WAL, schema versions, several connections and processes."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskapp import TaskApp
from taskapp.records import TaskRecord, TaskStatus, ToolOutcome, record_to_json
from taskapp.stores import _sqlite_schema, _sqlite_sql, open_store
from taskapp.stores.sqlite import SchemaVersionError, SQLiteStore
from taskapp.testing import NOW, listed, make_record

from .shared_stores import exactly_one_adopter_wins

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def opened(path: Path, **options: Any) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(path, **options)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _pragma(path: Path, name: str) -> Any:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]


# -- the file -------------------------------------------------------------------------


async def test_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    async with opened(tmp_path / "t.db"):
        assert _pragma(tmp_path / "t.db", "journal_mode") == "wal"


async def test_the_schema_version_is_recorded_and_a_reopen_does_not_migrate_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    record = make_record(ttl_ms=None)
    async with opened(path) as store:
        await store.create(record)
    assert _pragma(path, "user_version") == len(_sqlite_schema.MIGRATIONS) >= 4
    # The first step creates tables without IF NOT EXISTS: running it again would fail.
    async with opened(path) as store:
        assert await store.get(record.task_id, now=NOW) == record
    assert _pragma(path, "user_version") == len(_sqlite_schema.MIGRATIONS)


async def test_a_new_migration_is_applied_once_to_an_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.db"
    record = make_record(ttl_ms=None)
    async with opened(path) as store:
        await store.create(record)
    step = ("ALTER TABLE tasks ADD COLUMN note TEXT", "UPDATE tasks SET note = 'migrated'")
    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", (*_sqlite_schema.MIGRATIONS, step))
    for _ in range(2):  # a second ALTER of the same column would fail
        async with opened(path) as store:
            assert await store.get(record.task_id, now=NOW) == record
    assert _pragma(path, "user_version") == len(_sqlite_schema.MIGRATIONS)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT note FROM tasks").fetchall() == [("migrated",)]


async def test_an_empty_version_0_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE unrelated (x)")  # a file someone made, at version 0
    assert _pragma(path, "user_version") == 0
    async with opened(path) as store:
        await store.create(make_record())
    assert _pragma(path, "user_version") == len(_sqlite_schema.MIGRATIONS)


async def test_a_version_1_file_gets_the_listing_index_and_keeps_its_tool_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step 2 marks stored tool errors, and a listing reads the index it adds alone."""
    path = tmp_path / "t.db"
    error = ToolOutcome(content=[{"type": "text", "text": "no such city"}], is_error=True)
    fine = ToolOutcome(content=[{"type": "text", "text": "fine"}])
    records = [make_record(owner="o", ttl_ms=None) for _ in range(3)]
    with monkeypatch.context() as patch:  # a file as taskapp 0.1.0 left it
        patch.setattr(_sqlite_schema, "MIGRATIONS", _sqlite_schema.MIGRATIONS[:1])
        async with opened(path):
            pass
    assert _pragma(path, "user_version") == 1
    with sqlite3.connect(path) as conn:
        for record, outcome in zip(records, (error, fine, None), strict=True):
            if outcome is not None:
                record = dataclasses.replace(
                    record, status=TaskStatus.COMPLETED, outcome=outcome, version=1
                )
            conn.execute(
                f"INSERT INTO tasks ({_sqlite_sql.COLUMNS}, expires_at)"
                f" VALUES ({', '.join('?' * 16)})",
                (*_sqlite_sql.to_row(record), None),
            )
    async with opened(path) as store:
        page, _ = await store.list_tasks("o", cursor=None, limit=10, now=NOW)
        got = [await store.get(r.task_id, now=NOW) for r in records]
    assert _pragma(path, "user_version") == len(_sqlite_schema.MIGRATIONS)
    assert [r.outcome for r in page] == [error, None, None]
    assert page == [listed(r) for r in got if r is not None]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT tool_error FROM tasks ORDER BY seq").fetchall() == [
            (1,), (0,), (0,)
        ]  # fmt: skip
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq, task_id, status, created_at, updated_at, ttl_ms,"
            " tool, poll_interval_ms, status_message, version, tool_error FROM tasks"
            " WHERE owner IS 'o' AND seq > 0 AND (expires_at IS NULL OR expires_at > 0)"
            " ORDER BY seq LIMIT 101"
        ).fetchall()
    assert "COVERING INDEX tasks_listing" in str(plan)


async def test_a_file_from_a_newer_taskapp_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 7")
    store = SQLiteStore(path)
    known = len(_sqlite_schema.MIGRATIONS)
    with pytest.raises(SchemaVersionError, match=rf"version 7.*up to {known}: upgrade taskapp"):
        await store.open()
    assert _pragma(path, "user_version") == 7
    with pytest.raises(RuntimeError, match="not open"):
        await store.get("x", now=NOW)


async def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "nowhere" / "t.db")
    with pytest.raises(FileNotFoundError, match="nowhere' does not exist"):
        await store.open()


async def test_the_hot_queries_use_their_indexes(tmp_path: Path) -> None:
    """Listing, sweeping and finding orphans stay fast at 10^6 rows: each uses an index."""
    async with opened(tmp_path / "t.db"):
        pass
    queries = {
        "tasks_listing": "SELECT seq FROM tasks WHERE owner IS ? AND seq > ?"
        " AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq LIMIT 10",
        "tasks_by_expiry": "SELECT seq FROM tasks WHERE expires_at <= ? LIMIT 500",
        "tasks_by_lease": "SELECT * FROM tasks WHERE status IN ('working', 'input_required')"
        " AND (lease_until IS NULL OR lease_until < ?)"
        " AND (expires_at IS NULL OR expires_at > ?) LIMIT 100",
    }
    with sqlite3.connect(tmp_path / "t.db") as conn:
        for index, sql in queries.items():
            params = (None, 0, 0) if index == "tasks_listing" else (0,) * sql.count("?")
            plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan


async def test_sweep_works_in_batches(tmp_path: Path) -> None:
    async with opened(tmp_path / "t.db", sweep_batch=10) as store:
        for _ in range(35):
            await store.create(make_record(ttl_ms=1000))
        kept = make_record(ttl_ms=None)
        await store.create(kept)
        assert await store.sweep(now=NOW + 2) == 35
        assert await store.sweep(now=NOW + 2) == 0
        assert await store.list_tasks(None, cursor=None, limit=100, now=NOW) == (
            [listed(kept)],
            None,
        )


# -- URLs -------------------------------------------------------------------------------


def test_open_store_knows_sqlite_urls() -> None:
    relative = open_store("sqlite:///data/tasks.db")
    assert isinstance(relative, SQLiteStore)
    assert relative.path == "data/tasks.db"
    absolute = open_store("sqlite:////var/lib/app/tasks.db")
    assert isinstance(absolute, SQLiteStore)
    assert absolute.path == "/var/lib/app/tasks.db"


@pytest.mark.parametrize(
    "url", ["sqlite://tasks.db", "sqlite:///", "sqlite:///t.db?mode=ro", "sqlite://"]
)
def test_a_bad_sqlite_url_is_explained(url: str) -> None:
    with pytest.raises(ValueError, match=r"expected sqlite:///relative/path.db or sqlite:////"):
        open_store(url)


async def test_taskapp_store_names_a_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKAPP_STORE", f"sqlite:///{tmp_path}/env.db")
    async with TaskApp("env").running() as engine:
        assert isinstance(engine.store, SQLiteStore)
        assert engine.store.path == f"{tmp_path}/env.db"
    assert _pragma(tmp_path / "env.db", "user_version") == len(_sqlite_schema.MIGRATIONS)


# -- several connections on one file ---------------------------------------------------


async def test_two_stores_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with opened(path) as a, opened(path) as b:
        record = make_record(owner="alice")
        await a.create(record)
        assert await b.get(record.task_id, now=NOW) == record
        updated = await b.update(record.task_id, now=NOW + 1, status_message="from b")
        assert await a.get(record.task_id, now=NOW + 1) == updated
        assert await a.list_tasks("alice", cursor=None, limit=10, now=NOW) == (
            [listed(updated)],
            None,
        )
        with pytest.raises(ValueError, match="already taken"):
            await b.create(record)


async def test_across_connections_exactly_one_writer_ends_a_task(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with opened(path) as a, opened(path) as b:
        await exactly_one_adopter_wins(a, b)


async def test_a_wait_wakes_for_a_write_through_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with opened(path, watch_interval_s=0.02) as a, opened(path) as b:
        first = make_record(created_at=time.time())
        second = make_record(created_at=time.time())
        await a.create(first)
        await a.create(second)
        got: dict[str, TaskRecord | None] = {}

        async def waiter(record: TaskRecord) -> None:
            got[record.task_id] = await a.wait(record.task_id, after_version=0, now=time.time())

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter, first)  # the first waiter watches for foreign writes
                await anyio.sleep(0.05)
                tg.start_soon(waiter, second)
                await anyio.sleep(0.05)
                # The watcher's task changes here: it leaves, and hands watching over.
                one = await a.update(first.task_id, now=time.time(), status_message="a")
                await anyio.sleep(0.05)
                assert got == {first.task_id: one}
                two = await b.update(second.task_id, now=time.time(), status_message="b")
        assert got == {first.task_id: one, second.task_id: two}


async def test_an_answer_through_another_connection_reaches_the_asker(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with opened(path, watch_interval_s=0.02) as a, opened(path) as b:
        record = make_record(created_at=time.time())
        await a.create(record)
        await a.push_input(record.task_id, "k", {"method": "elicitation/create"})
        got: list[dict[str, Any] | None] = []

        async def asker() -> None:
            got.append(await a.wait_input_answer(record.task_id, "k", now=time.time()))

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(asker)
                claimed = await b.claim_input(record.task_id, now=time.time())
                assert claimed == ("k", {"method": "elicitation/create"})
                await anyio.sleep(0.05)
                assert got == []
                assert await b.answer_input(record.task_id, "k", {"result": {"ok": 1}})
        assert got == [{"result": {"ok": 1}}]


async def test_a_write_through_this_store_wakes_without_polling(tmp_path: Path) -> None:
    """Within one store object the wake is an event: no look at the file is needed."""
    async with opened(tmp_path / "t.db", watch_interval_s=3600) as store:
        record = make_record(created_at=time.time())
        await store.create(record)
        got: list[TaskRecord | None] = []

        async def waiter() -> None:
            got.append(await store.wait(record.task_id, after_version=0, now=time.time()))

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await anyio.sleep(0.05)
                updated = await store.update(record.task_id, now=time.time(), status_message="x")
        assert got == [updated]


CHILD = """
import json, sys, time
import anyio
from taskapp.records import TaskStatus, ToolOutcome, record_to_json
from taskapp.stores.sqlite import SQLiteStore

async def main() -> None:
    store = SQLiteStore(sys.argv[1])
    await store.open()
    try:
        record = await store.get(sys.argv[2], now=time.time())
        print(json.dumps(record_to_json(record)), flush=True)
        await store.update(
            sys.argv[2], now=time.time(), status=TaskStatus.COMPLETED,
            outcome=ToolOutcome(content=[{"type": "text", "text": "done by the child"}]),
        )
    finally:
        await store.close()

anyio.run(main)
"""


async def test_another_process_reads_a_task_and_its_write_wakes_a_waiter_here(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    async with opened(path, watch_interval_s=0.05) as store:
        record = make_record(
            owner="alice", created_at=time.time(), client_capabilities={"sampling": {}}
        )
        await store.create(record)
        got: list[TaskRecord | None] = []

        async def waiter() -> None:
            got.append(await store.wait(record.task_id, after_version=0, now=time.time()))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                child = await anyio.run_process(
                    [sys.executable, "-c", CHILD, str(path), record.task_id], cwd=REPO
                )
        assert json.loads(child.stdout) == json.loads(json.dumps(record_to_json(record)))
        assert len(got) == 1
        assert got[0] is not None
        assert got[0].status is TaskStatus.COMPLETED
        assert got[0].outcome == ToolOutcome(
            content=[{"type": "text", "text": "done by the child"}]
        )


class CountingStore(SQLiteStore):
    """Counts the reads of each task, to see who a foreign write wakes."""

    def __init__(self, path: Path, **options: Any) -> None:
        super().__init__(path, **options)
        self.reads: Counter[str] = Counter()

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        self.reads[task_id] += 1
        return await super().get(task_id, now=now)


async def test_a_foreign_write_wakes_only_the_waiters_of_its_task(tmp_path: Path) -> None:
    """One query finds what changed; waiters of unchanged tasks do not read again, and
    waiting on a quiet file reads nothing at all."""
    path = tmp_path / "t.db"
    store = CountingStore(path, watch_interval_s=0.01)
    await store.open()
    try:
        async with opened(path) as other:
            records = [make_record(created_at=time.time()) for _ in range(10)]
            for record in records:
                await store.create(record)
            woken: list[str] = []
            any_woken = anyio.Event()

            async def waiter(task_id: str) -> None:
                await store.wait(task_id, after_version=0, now=time.time())
                woken.append(task_id)
                any_woken.set()

            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    for record in records:  # the first one becomes the watcher
                        tg.start_soon(waiter, record.task_id)
                        await anyio.sleep(0.01)
                    await anyio.sleep(0.1)  # quiet: ten watch rounds, no reads
                    assert store.reads == Counter({r.task_id: 1 for r in records})
                    await other.create(make_record())  # a foreign write nobody waits on
                    await anyio.sleep(0.1)
                    assert store.reads == Counter({r.task_id: 1 for r in records})
                    target = records[5].task_id
                    await other.update(target, now=time.time(), status_message="x")
                    await any_woken.wait()
                    await anyio.sleep(0.1)
                    assert woken == [target]
                    assert store.reads == Counter({r.task_id: 1 for r in records}) + Counter(
                        {target: 1}
                    )
                    tg.cancel_scope.cancel()
    finally:
        await store.close()
