"""SQLiteStore: tasks in a SQLite file that outlives the process and can be shared by processes.

The store's SQL lives in `_sqlite_sql` (its schema in `_sqlite_schema`), and its
wake-ups in `_sqlite_watch`; this module is the store those run behind.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple, Unpack

import anyio

from ..records import KEEP, Outcome, TaskRecord, TaskStatus
from . import _sqlite_listing as listing
from . import _sqlite_sql as sql
from . import _sqlite_steps as steps
from ._created import until_created
from ._cursors import decode_cursor, encode_cursor
from ._listing_all import TaskFilter
from ._sqlite_schema import MIGRATIONS, SchemaVersionError, data_version, migrate
from ._sqlite_watch import Changes

__all__ = ("MIGRATIONS", "SQLiteStore", "SchemaVersionError", "migrate")

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_URL_PREFIX = "sqlite:///"


class SQLiteStore:
    """Tasks in a SQLite database file (WAL mode), safe to open from several processes.

    One connection per store, used from a worker thread one call at a time, so the
    event loop never blocks on the disk. Changes made through this store object wake
    its waiters at once; changes made through another connection (another process)
    are noticed by checking `PRAGMA data_version` every `watch_interval_s`, and only
    while someone waits.

    Args:
        path: The database file (created if missing; its directory must exist), or
            ":memory:" for a private database that vanishes on close.
        watch_interval_s: How often a waiter looks for other processes' writes.
        busy_timeout_s: How long a write waits for another process's write to finish.
        sweep_batch: Expired tasks deleted per transaction, so a sweep never holds the
            database for long.
    """

    shared = True  # other processes may open the same file
    reads_own_writes = True  # one file: a commit is seen by every later read

    def __init__(
        self,
        path: str | Path,
        *,
        watch_interval_s: float = 0.2,
        busy_timeout_s: float = 10.0,
        sweep_batch: int = 500,
    ) -> None:
        self.path = str(path)
        self.watch_interval_s = watch_interval_s
        self.busy_timeout_s = busy_timeout_s
        self.sweep_batch = sweep_batch
        self._conn: sqlite3.Connection | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._changes = Changes(
            lambda: self.watch_interval_s,
            lambda: self._run(data_version),
            lambda task_ids: self._run(sql.versions, task_ids),
        )

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db` (SQLAlchemy's forms)."""
        path = url.removeprefix(_URL_PREFIX)
        if not url.startswith(_URL_PREFIX) or not path or "?" in path:
            raise ValueError(
                f"bad SQLite store URL {url!r}: expected sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db (three slashes, then the path; no options)"
            )
        return cls(path)

    # -- opening and running calls off the event loop ------------------------------

    async def open(self) -> None:
        if self._conn is None:
            self._limiter = anyio.CapacityLimiter(1)
            self._conn = await anyio.to_thread.run_sync(self._connect)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)
        self._changes.wake_all()

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:" and not Path(self.path).parent.is_dir():
            raise FileNotFoundError(
                f"cannot open the SQLite store {self.path!r}: the directory "
                f"{str(Path(self.path).parent)!r} does not exist"
            )
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal" and self.path != ":memory:":
                raise RuntimeError(f"SQLite refused WAL mode for {self.path!r} (got {mode!r})")
            # With WAL, NORMAL survives a crash of the process (SIGKILL included); only
            # a power loss may roll back the last transactions.
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
            self._changes.data_version = data_version(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def _run(self, fn: Callable[[sqlite3.Connection, Unpack[Ts]], T], *args: *Ts) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the SQLiteStore is not open: call `await store.open()` first")
        return await anyio.to_thread.run_sync(fn, conn, *args, limiter=self._limiter)

    # -- records -------------------------------------------------------------------

    async def create(self, record: TaskRecord) -> None:
        await self._run(sql.create, record)
        self._changes.wake_created()

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        record = await self._run(sql.select, task_id)
        return None if record is None or record.is_expired(now) else record

    async def update(
        self,
        task_id: str,
        *,
        now: float,
        status: TaskStatus | None = None,
        status_message: str | None = KEEP,
        outcome: Outcome | None = None,
    ) -> TaskRecord:
        change = {"status": status, "status_message": status_message, "outcome": outcome}
        new = await self._run(sql.update, task_id, now, change)
        self._changes.wake(task_id)
        return new

    async def list_tasks(
        self, owner: str | None, *, cursor: str | None, limit: int, now: float
    ) -> tuple[list[TaskRecord], str | None]:
        """A page of listed records: without arguments, client capabilities, runner and
        lease, and without the outcome unless it is a tool error (see TaskStore)."""
        after = decode_cursor("s1", cursor)
        rows = await self._run(sql.page, owner, after, limit, now)
        page = [record for _, record in rows[:limit]]
        next_cursor = encode_cursor("s1", rows[limit - 1][0]) if len(rows) > limit else None
        return page, next_cursor

    async def list_all(
        self, where: TaskFilter, *, cursor: str | None, limit: int, now: float
    ) -> tuple[list[TaskRecord], str | None]:
        before = decode_cursor("s2", cursor)
        rows = await self._run(listing.page_all, where, before, limit, now)
        page = [record for _, record in rows[:limit]]
        next_cursor = encode_cursor("s2", rows[limit - 1][0]) if len(rows) > limit else None
        return page, next_cursor

    async def count_by_status(self, *, now: float) -> dict[TaskStatus, int]:
        return await self._run(listing.counts, now)

    async def wait(self, task_id: str, *, after_version: int, now: float) -> TaskRecord | None:
        while True:
            # The event exists before the read, so a write made meanwhile is not missed.
            event = self._changes.event(task_id)
            record = await self.get(task_id, now=now)
            if record is None or record.version > after_version:
                return record
            self._changes.saw(task_id, record.version)
            await self._changes.until_change(event, _timeout(record.expires_at, now))
            now = _wall_clock()

    async def wait_created(self, *, after: int | None) -> int:
        """See `AnnouncesCreations`: the generation is the highest task `seq` handed out;
        another process's creation is noticed as its other writes are."""
        changes = self._changes
        return await until_created(
            changes.created_event, lambda: self._run(sql.generation), after,
            lambda event: changes.until_change(event, None),
        )  # fmt: skip

    async def delete(self, task_id: str) -> bool:
        deleted = await self._run(sql.delete, task_id)
        self._changes.wake(task_id)
        return deleted

    async def sweep(self, *, now: float) -> int:
        removed = 0
        while True:  # one short transaction per batch: requests get their turn in between
            task_ids = await self._run(sql.sweep_batch, now, self.sweep_batch)
            for task_id in task_ids:
                self._changes.wake(task_id)
            removed += len(task_ids)
            if len(task_ids) < self.sweep_batch:
                return removed

    # -- input requests --------------------------------------------------------------

    async def push_input(self, task_id: str, key: str, message: dict[str, Any]) -> None:
        await self._run(sql.push_input, task_id, key, json.dumps(message))

    async def claim_input(self, task_id: str, *, now: float) -> tuple[str, dict[str, Any]] | None:
        return await self._run(sql.claim_input, task_id, now)

    async def release_input(self, task_id: str, key: str) -> None:
        await self._run(sql.release_input, task_id, key)

    async def answer_input(self, task_id: str, key: str, answer: dict[str, Any]) -> bool:
        answered = await self._run(sql.answer_input, task_id, key, json.dumps(answer))
        self._changes.wake_input(task_id)
        return answered

    async def wait_input_answer(
        self, task_id: str, key: str, *, now: float
    ) -> dict[str, Any] | None:
        while True:
            event = self._changes.input_event(task_id)
            done, answer, expires_at = await self._run(sql.take_answer, task_id, key, now)
            if done:
                return answer
            await self._changes.until_change(event, _timeout(expires_at, now))
            now = _wall_clock()

    async def pending_inputs(self, task_id: str, *, now: float) -> dict[str, dict[str, Any]]:
        return await self._run(sql.pending_inputs, task_id, now)

    async def drop_inputs(self, task_id: str) -> None:
        await self._run(sql.drop_inputs, task_id)
        self._changes.wake_input(task_id)

    # -- leases ------------------------------------------------------------------------

    async def renew_leases(self, runner: str, task_ids: Sequence[str], *, until: float) -> None:
        if task_ids:
            await self._run(sql.renew_leases, runner, list(task_ids), until)

    async def orphans(self, *, now: float, limit: int) -> list[TaskRecord]:
        return await self._run(sql.orphans, now, limit)

    async def adopt(
        self, task_id: str, runner: str, *, until: float, now: float
    ) -> TaskRecord | None:
        adopted = await self._run(sql.adopt, task_id, runner, until, now)
        if adopted is not None:
            self._changes.wake(task_id)
        return adopted

    # -- step results and dedupe keys (`_sqlite_steps`) ---------------------------------

    async def save_step(
        self, task_id: str, name: str, value: str, *, runner: str, now: float
    ) -> bool:
        return await self._run(steps.save_step, task_id, name, value, runner, now)

    async def load_steps(self, task_id: str, *, now: float) -> dict[str, str]:
        return await self._run(steps.load_steps, task_id, now)

    async def claim_dedupe(self, key: str, task_id: str, *, until: float, now: float) -> str:
        return await self._run(steps.claim_dedupe, key, task_id, until, now)

    async def release_dedupe(self, key: str, task_id: str) -> None:
        await self._run(steps.release_dedupe, key, task_id)


def _timeout(expires_at: float | None, now: float) -> float | None:
    return None if expires_at is None else max(0.0, expires_at - now)


def _wall_clock() -> float:
    return time.time()
