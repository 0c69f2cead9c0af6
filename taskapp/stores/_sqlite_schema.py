"""The SQLite store's schema: its migrations, the step that applies them, and its transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

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
    (
        # Reliable tools (docs/reliable.md): the results of a task's finished steps, gone
        # with the task (the trigger serves delete and sweep alike), and the dedupe keys
        # that map a repeated call to the task it started.
        """CREATE TABLE steps (
            task_id TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (task_id, name)
        ) WITHOUT ROWID""",
        """CREATE TRIGGER tasks_drop_steps AFTER DELETE ON tasks
        BEGIN DELETE FROM steps WHERE task_id = OLD.task_id; END""",
        "CREATE TABLE dedupe (key TEXT PRIMARY KEY, task_id TEXT NOT NULL, until REAL NOT NULL)",
        "CREATE INDEX dedupe_by_until ON dedupe (until)",
    ),
    (
        # The operator's listing (every owner, newest first) reads this index alone, as
        # a per-owner listing reads tasks_listing, and so do counts by status. (An index
        # on status would draw the orphans' query away from tasks_by_lease.)
        "CREATE INDEX tasks_every ON tasks (seq, owner, expires_at, task_id, status,"
        " created_at, updated_at, ttl_ms, tool, poll_interval_ms, status_message, version,"
        " tool_error)",
    ),
)


class SchemaVersionError(RuntimeError):
    """The database was written by a newer taskapp, whose schema this one does not know."""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date, one transaction per step; return the version."""
    migrations = MIGRATIONS  # read at each call, so a test can add a step
    while True:
        with immediate(conn):  # re-read inside the lock: another process may migrate too
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
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the lock first, so read-then-write is atomic."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def data_version(conn: sqlite3.Connection) -> int:
    """A number that changes whenever another connection commits (never for this one's)."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])
