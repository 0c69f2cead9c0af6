"""SQLiteStore: tasks in a SQLite file that outlives the process and can be shared by processes."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple, Unpack

import anyio

from ..records import (
    KEEP,
    Outcome,
    TaskRecord,
    TaskStatus,
    ToolOutcome,
    apply_update,
    assemble,
    outcome_from_json,
    outcome_to_json,
)
from ._cursors import decode_cursor, encode_cursor
from .base import TaskNotFoundError

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Each entry takes the schema from version i to i + 1 (kept in PRAGMA user_version).
# Released entries are never edited: a change of schema appends an entry.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # `seq` is AUTOINCREMENT so that it is never reused: a cursor ("after seq N")
        # stays valid when the newest task is deleted and another one is created.
        """CREATE TABLE tasks (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id TEXT NOT NULL UNIQUE,
            owner TEXT,
            tool TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            ttl_ms INTEGER,
            expires_at REAL,
            poll_interval_ms INTEGER,
            status_message TEXT,
            version INTEGER NOT NULL,
            runner TEXT,
            lease_until REAL,
            arguments TEXT NOT NULL,
            client_capabilities TEXT NOT NULL,
            outcome TEXT
        )""",
        "CREATE INDEX tasks_by_owner ON tasks (owner, seq)",
        "CREATE INDEX tasks_by_expiry ON tasks (expires_at) WHERE expires_at IS NOT NULL",
        "CREATE INDEX tasks_by_lease ON tasks (lease_until)"
        " WHERE status IN ('working', 'input_required')",
        """CREATE TABLE inputs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id TEXT NOT NULL,
            key TEXT NOT NULL,
            message TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('waiting', 'claimed', 'answered')),
            answer TEXT,
            UNIQUE (task_id, key)
        )""",
    ),
    (
        # A listing reads this index alone (it covers the listed columns), never the rows
        # with their arguments and results, which may be large. `tool_error` marks a
        # result with isError, which a listing must show (2025-11-25 says `failed`).
        "ALTER TABLE tasks ADD COLUMN tool_error INTEGER NOT NULL DEFAULT 0",
        "UPDATE tasks SET tool_error = 1"
        " WHERE json_extract(outcome, '$.kind') = 'tool' AND json_extract(outcome, '$.isError')",
        "CREATE INDEX tasks_listing ON tasks (owner, seq, expires_at, task_id, status,"
        " created_at, updated_at, ttl_ms, tool, poll_interval_ms, status_message, version,"
        " tool_error)",
        "DROP INDEX tasks_by_owner",
    ),
)

_COLUMNS = (
    "task_id, status, created_at, updated_at, ttl_ms, tool, arguments, owner, poll_interval_ms,"
    " status_message, outcome, version, client_capabilities, runner, lease_until"
)
_LIVE = "status IN ('working', 'input_required')"  # the exact text of tasks_by_lease's WHERE
_UNEXPIRED = "(expires_at IS NULL OR expires_at > ?)"
_URL_PREFIX = "sqlite:///"


class SchemaVersionError(RuntimeError):
    """The database was written by a newer taskapp, whose schema this one does not know."""


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
        self._events: dict[str, anyio.Event] = {}  # task id -> woken when its record changes
        self._input_events: dict[str, anyio.Event] = {}  # task id -> woken on its input changes
        self._watching = False  # one waiter at a time looks for other processes' writes
        self._parked: dict[anyio.Event, int] = {}  # the other waiters' events (and how many)
        self._seen: dict[str, int] = {}  # task id -> the oldest version its waiters have read
        self._data_version = 0

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
        self._wake_all()

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
            self._data_version = _data_version(conn)
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
        await self._run(_create, record)

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        record = await self._run(_select, task_id)
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
        new = await self._run(_update, task_id, now, change)
        self._wake(task_id)
        return new

    async def list_tasks(
        self, owner: str | None, *, cursor: str | None, limit: int, now: float
    ) -> tuple[list[TaskRecord], str | None]:
        """A page of listed records: without arguments, client capabilities, runner and
        lease, and without the outcome unless it is a tool error (see TaskStore)."""
        after = decode_cursor("s1", cursor)
        rows = await self._run(_page, owner, after, limit, now)
        page = [record for _, record in rows[:limit]]
        next_cursor = encode_cursor("s1", rows[limit - 1][0]) if len(rows) > limit else None
        return page, next_cursor

    async def wait(self, task_id: str, *, after_version: int, now: float) -> TaskRecord | None:
        while True:
            # The event exists before the read, so a write made meanwhile is not missed.
            event = self._events.setdefault(task_id, anyio.Event())
            record = await self.get(task_id, now=now)
            if record is None or record.version > after_version:
                return record
            seen = self._seen.get(task_id, record.version)
            self._seen[task_id] = min(seen, record.version)
            await self._until_change(event, _timeout(record.expires_at, now))
            now = _wall_clock()

    async def delete(self, task_id: str) -> bool:
        deleted = await self._run(_delete, task_id)
        self._wake(task_id)
        return deleted

    async def sweep(self, *, now: float) -> int:
        removed = 0
        while True:  # one short transaction per batch: requests get their turn in between
            task_ids = await self._run(_sweep_batch, now, self.sweep_batch)
            for task_id in task_ids:
                self._wake(task_id)
            removed += len(task_ids)
            if len(task_ids) < self.sweep_batch:
                return removed

    # -- input requests --------------------------------------------------------------

    async def push_input(self, task_id: str, key: str, message: dict[str, Any]) -> None:
        await self._run(_push_input, task_id, key, json.dumps(message))

    async def claim_input(self, task_id: str, *, now: float) -> tuple[str, dict[str, Any]] | None:
        return await self._run(_claim_input, task_id, now)

    async def release_input(self, task_id: str, key: str) -> None:
        await self._run(
            _execute,
            "UPDATE inputs SET state = 'waiting'"
            " WHERE task_id = ? AND key = ? AND state = 'claimed'",
            (task_id, key),
        )

    async def answer_input(self, task_id: str, key: str, answer: dict[str, Any]) -> bool:
        changed = await self._run(
            _execute,
            "UPDATE inputs SET state = 'answered', answer = ?"
            " WHERE task_id = ? AND key = ? AND state IN ('waiting', 'claimed')",
            (json.dumps(answer), task_id, key),
        )
        self._wake_input(task_id)
        return changed == 1

    async def wait_input_answer(
        self, task_id: str, key: str, *, now: float
    ) -> dict[str, Any] | None:
        while True:
            event = self._input_events.setdefault(task_id, anyio.Event())
            done, answer, expires_at = await self._run(_take_answer, task_id, key, now)
            if done:
                return answer
            await self._until_change(event, _timeout(expires_at, now))
            now = _wall_clock()

    async def pending_inputs(self, task_id: str, *, now: float) -> dict[str, dict[str, Any]]:
        return await self._run(_pending_inputs, task_id, now)

    async def drop_inputs(self, task_id: str) -> None:
        await self._run(_execute, "DELETE FROM inputs WHERE task_id = ?", (task_id,))
        self._wake_input(task_id)

    # -- leases ------------------------------------------------------------------------

    async def renew_leases(self, runner: str, task_ids: Sequence[str], *, until: float) -> None:
        if task_ids:
            await self._run(_renew_leases, runner, list(task_ids), until)

    async def orphans(self, *, now: float, limit: int) -> list[TaskRecord]:
        return await self._run(_orphans, now, limit)

    async def adopt(
        self, task_id: str, runner: str, *, until: float, now: float
    ) -> TaskRecord | None:
        adopted = await self._run(_adopt, task_id, runner, until, now)
        if adopted is not None:
            self._wake(task_id)
        return adopted

    # -- waking waiters ----------------------------------------------------------------

    async def _until_change(self, event: anyio.Event, patience: float | None) -> None:
        """Sleep until `event` is set (by a write through this store, or because another
        connection wrote), or `patience` seconds pass.

        Other processes cannot notify us, so one waiter per store (the watcher) checks
        `PRAGMA data_version` every `watch_interval_s`; the others sleep. A watcher that
        leaves wakes one sleeper, which takes over.
        """
        if event.is_set():
            return
        with anyio.move_on_after(patience):
            if self._watching:
                self._parked[event] = self._parked.get(event, 0) + 1
                try:
                    await event.wait()
                finally:
                    if self._parked[event] == 1:
                        del self._parked[event]
                    else:
                        self._parked[event] -= 1
                return
            self._watching = True
            try:
                while not event.is_set():
                    with anyio.move_on_after(self.watch_interval_s):
                        await event.wait()
                    if not event.is_set():
                        await self._look_for_foreign_writes()
            finally:
                self._watching = False
                self._hand_over()

    async def _look_for_foreign_writes(self) -> None:
        """Wake the waiters of the tasks another connection changed (one query for all),
        and every waiter for an answer."""
        version = await self._run(_data_version)
        if version == self._data_version:
            return
        self._data_version = version
        waited = {task_id: self._seen.get(task_id, -1) for task_id in self._events}
        current = await self._run(_versions, list(waited)) if waited else {}
        for task_id, seen in waited.items():
            if current.get(task_id) != seen:  # changed, deleted, or not read yet
                self._wake(task_id)
        for task_id in list(self._input_events):
            self._wake_input(task_id)

    def _hand_over(self) -> None:
        """Wake one sleeping waiter: it reads again, finds nothing new, and watches."""
        sleeper = next((e for e in self._parked if not e.is_set()), None)
        if sleeper is None:
            return
        for key in [k for k, e in self._events.items() if e is sleeper]:
            self._wake(key)  # removed as it is set: a set event is never handed out again
        for key in [k for k, e in self._input_events.items() if e is sleeper]:
            self._wake_input(key)

    def _wake(self, task_id: str) -> None:
        self._seen.pop(task_id, None)
        event = self._events.pop(task_id, None)
        if event is not None:
            event.set()
        self._wake_input(task_id)

    def _wake_input(self, task_id: str) -> None:
        event = self._input_events.pop(task_id, None)
        if event is not None:
            event.set()

    def _wake_all(self) -> None:
        for events in (self._events, self._input_events):
            for event in events.values():
                event.set()
            events.clear()
        self._seen.clear()


# -- schema -----------------------------------------------------------------------------


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date, one transaction per step; return the version."""
    migrations = MIGRATIONS  # read at each call, so a test can add a step
    while True:
        with _immediate(conn):  # re-read inside the lock: another process may migrate too
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(migrations):
                raise SchemaVersionError(
                    f"the task database has schema version {version}, but this taskapp knows "
                    f"versions up to {len(migrations)}: upgrade taskapp, or use another file"
                )
            if version == len(migrations):
                return version
            for statement in migrations[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the lock first, so read-then-write is atomic."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _data_version(conn: sqlite3.Connection) -> int:
    # Changes whenever another connection commits; never for this connection's writes.
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _execute(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> int:
    return conn.execute(sql, params).rowcount


# -- rows ---------------------------------------------------------------------------------


def _row(record: TaskRecord) -> tuple[Any, ...]:
    return (
        record.task_id,
        record.status.value,
        record.created_at,
        record.updated_at,
        record.ttl_ms,
        record.tool,
        json.dumps(record.arguments),
        record.owner,
        record.poll_interval_ms,
        record.status_message,
        None if record.outcome is None else json.dumps(outcome_to_json(record.outcome)),
        record.version,
        json.dumps(record.client_capabilities),
        record.runner,
        record.lease_until,
    )


_STATUS_OF: dict[str, TaskStatus] = {status.value: status for status in TaskStatus}


def _tool_error(outcome: Outcome | None) -> int:
    return int(isinstance(outcome, ToolOutcome) and outcome.is_error)


def _record(row: Sequence[Any]) -> TaskRecord:
    (task_id, status, created, updated, ttl_ms, tool, arguments, owner, poll, message,
     outcome, version, capabilities, runner, lease_until) = row  # fmt: skip
    return assemble(
        task_id,
        _STATUS_OF[status],
        created,
        updated,
        ttl_ms,
        tool,
        json.loads(arguments),
        owner,
        poll,
        message,
        None if outcome is None else outcome_from_json(json.loads(outcome)),
        version,
        json.loads(capabilities),
        runner,
        lease_until,
    )


def _create(conn: sqlite3.Connection, record: TaskRecord) -> None:
    try:
        conn.execute(
            f"INSERT INTO tasks ({_COLUMNS}, expires_at, tool_error)"
            f" VALUES ({', '.join('?' * 17)})",
            (*_row(record), record.expires_at, _tool_error(record.outcome)),
        )
    except sqlite3.IntegrityError:
        raise ValueError(f"task id {record.task_id!r} is already taken") from None


def _select(conn: sqlite3.Connection, task_id: str) -> TaskRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else _record(row)


def _update(
    conn: sqlite3.Connection, task_id: str, now: float, change: dict[str, Any]
) -> TaskRecord:
    with _immediate(conn):
        record = _select(conn, task_id)
        if record is None or record.is_expired(now):
            raise TaskNotFoundError(task_id)
        new = apply_update(record, now=now, **change)  # InvalidTransitionError rolls back
        values: list[Any] = [new.status.value, new.updated_at, new.version, new.status_message]
        outcome_sql = ""
        if change["outcome"] is not None:  # a result of several MB is written once
            outcome_sql = ", outcome = ?, tool_error = ?"
            values.append(json.dumps(outcome_to_json(change["outcome"])))
            values.append(_tool_error(change["outcome"]))
        conn.execute(
            "UPDATE tasks SET status = ?, updated_at = ?, version = ?, status_message = ?"
            f"{outcome_sql} WHERE task_id = ?",
            (*values, task_id),
        )
    return new


def _page(
    conn: sqlite3.Connection, owner: str | None, after: int, limit: int, now: float
) -> list[tuple[int, TaskRecord]]:
    # One row more than asked: a next cursor only when another task really follows.
    # Everything but a tool error's outcome comes from the index tasks_listing.
    rows = conn.execute(
        "SELECT seq, task_id, status, created_at, updated_at, ttl_ms, tool, poll_interval_ms,"
        " status_message, version, CASE WHEN tool_error THEN outcome END"
        f" FROM tasks WHERE owner IS ? AND seq > ? AND {_UNEXPIRED} ORDER BY seq LIMIT ?",
        (owner, after, now, limit + 1),
    ).fetchall()
    return [(row[0], _listed(row, owner)) for row in rows]


def _listed(row: Sequence[Any], owner: str | None) -> TaskRecord:
    (_, task_id, status, created, updated, ttl_ms, tool, poll, message, version,
     outcome) = row  # fmt: skip
    return assemble(
        task_id,
        _STATUS_OF[status],
        created,
        updated,
        ttl_ms,
        tool,
        {},  # arguments
        owner,
        poll,
        message,
        None if outcome is None else outcome_from_json(json.loads(outcome)),
        version,
        None,  # client capabilities
        None,  # runner
        None,  # lease
    )


def _delete(conn: sqlite3.Connection, task_id: str) -> bool:
    with _immediate(conn):
        conn.execute("DELETE FROM inputs WHERE task_id = ?", (task_id,))
        return conn.execute("DELETE FROM tasks WHERE task_id = ?", (task_id,)).rowcount == 1


def _sweep_batch(conn: sqlite3.Connection, now: float, batch: int) -> list[str]:
    with _immediate(conn):
        task_ids = [
            row[0]
            for row in conn.execute(
                "DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks WHERE expires_at <= ?"
                " LIMIT ?) RETURNING task_id",
                (now, batch),
            ).fetchall()
        ]
        conn.executemany("DELETE FROM inputs WHERE task_id = ?", [(t,) for t in task_ids])
    return task_ids


def _push_input(conn: sqlite3.Connection, task_id: str, key: str, message: str) -> None:
    with _immediate(conn):
        if conn.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone() is None:
            raise TaskNotFoundError(task_id)
        try:
            conn.execute(
                "INSERT INTO inputs (task_id, key, message, state) VALUES (?, ?, ?, 'waiting')",
                (task_id, key, message),
            )
        except sqlite3.IntegrityError:
            raise ValueError(f"input key {key!r} is already used by task {task_id}") from None


def _claim_input(
    conn: sqlite3.Connection, task_id: str, now: float
) -> tuple[str, dict[str, Any]] | None:
    with _immediate(conn):
        live = conn.execute(
            f"SELECT 1 FROM tasks WHERE task_id = ? AND {_LIVE} AND {_UNEXPIRED}", (task_id, now)
        ).fetchone()
        if live is None:
            return None
        row = conn.execute(
            "SELECT seq, key, message FROM inputs WHERE task_id = ? AND state = 'waiting'"
            " ORDER BY seq LIMIT 1",
            (task_id,),
        ).fetchone()
        if row is None:
            return None
        conn.execute("UPDATE inputs SET state = 'claimed' WHERE seq = ?", (row[0],))
    return row[1], json.loads(row[2])


def _pending_inputs(
    conn: sqlite3.Connection, task_id: str, now: float
) -> dict[str, dict[str, Any]]:
    # One statement, so one snapshot: a request answered by another process is either
    # answered here too or not yet, and the task's status is read at the same moment.
    rows = conn.execute(
        "SELECT key, message FROM inputs WHERE task_id = ? AND state IN ('waiting', 'claimed')"
        f" AND EXISTS (SELECT 1 FROM tasks WHERE task_id = ? AND {_LIVE} AND {_UNEXPIRED})"
        " ORDER BY seq",
        (task_id, task_id, now),
    ).fetchall()
    return {key: json.loads(message) for key, message in rows}


def _take_answer(
    conn: sqlite3.Connection, task_id: str, key: str, now: float
) -> tuple[bool, dict[str, Any] | None, float | None]:
    """(True, answer) once answered (then forgotten); (True, None) if the task or the
    request is gone; else (False, None, when the task expires). Only the taking writes."""
    task = conn.execute(
        f"SELECT expires_at FROM tasks WHERE task_id = ? AND {_UNEXPIRED}", (task_id, now)
    ).fetchone()
    row = conn.execute(
        "SELECT seq, state FROM inputs WHERE task_id = ? AND key = ?", (task_id, key)
    ).fetchone()
    if task is None or row is None:
        return True, None, None
    if row[1] != "answered":
        return False, None, task[0]
    with _immediate(conn):
        taken = conn.execute(
            "DELETE FROM inputs WHERE seq = ? AND state = 'answered' RETURNING answer", (row[0],)
        ).fetchall()
    return True, json.loads(taken[0][0]) if taken else None, None


def _versions(conn: sqlite3.Connection, task_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i in range(0, len(task_ids), 500):
        chunk = task_ids[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT task_id, version FROM tasks WHERE task_id IN ({marks})"
        found.update(conn.execute(query, chunk).fetchall())
    return found


def _renew_leases(conn: sqlite3.Connection, runner: str, task_ids: list[str], until: float) -> None:
    with _immediate(conn):
        conn.executemany(
            f"UPDATE tasks SET lease_until = ? WHERE task_id = ? AND runner = ? AND {_LIVE}",
            [(until, task_id, runner) for task_id in task_ids],
        )


def _orphans(conn: sqlite3.Connection, now: float, limit: int) -> list[TaskRecord]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM tasks WHERE {_LIVE} AND (lease_until IS NULL OR lease_until < ?)"
        f" AND {_UNEXPIRED} LIMIT ?",
        (now, now, limit),
    ).fetchall()
    return [_record(row) for row in rows]


def _adopt(
    conn: sqlite3.Connection, task_id: str, runner: str, until: float, now: float
) -> TaskRecord | None:
    with _immediate(conn):
        record = _select(conn, task_id)
        if record is None or record.terminal or record.is_expired(now):
            return None
        if (
            record.runner is not None
            and record.lease_until is not None
            and record.lease_until >= now
        ):
            return None  # still vouched for, or just adopted by another engine
        adopted = dataclasses.replace(
            record, runner=runner, lease_until=until, version=record.version + 1, updated_at=now
        )
        conn.execute(
            "UPDATE tasks SET runner = ?, lease_until = ?, version = ?, updated_at = ?"
            " WHERE task_id = ?",
            (runner, until, adopted.version, now, task_id),
        )
    return adopted


# -- cursors and time ------------------------------------------------------------------


def _timeout(expires_at: float | None, now: float) -> float | None:
    return None if expires_at is None else max(0.0, expires_at - now)


def _wall_clock() -> float:
    return time.time()
