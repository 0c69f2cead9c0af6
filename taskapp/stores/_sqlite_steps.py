"""The SQLite store's SQL for reliable tools: step results and dedupe keys."""

from __future__ import annotations

import sqlite3

from ._sqlite_schema import immediate

_LIVE = "status IN ('working', 'input_required')"
_UNEXPIRED = "(expires_at IS NULL OR expires_at > ?)"
# Expired dedupe keys removed per claim: the table stays small without a sweep of its own.
_CLEANUP_BATCH = 100


def save_step(
    conn: sqlite3.Connection, task_id: str, name: str, value: str, runner: str, now: float
) -> bool:
    with immediate(conn):
        row = conn.execute(
            f"SELECT 1 FROM tasks WHERE task_id = ? AND runner = ? AND {_LIVE} AND {_UNEXPIRED}",
            (task_id, runner, now),
        ).fetchone()
        if row is None:
            return False
        conn.execute(
            "INSERT OR IGNORE INTO steps (task_id, name, value) VALUES (?, ?, ?)",
            (task_id, name, value),
        )
    return True


def load_steps(conn: sqlite3.Connection, task_id: str, now: float) -> dict[str, str]:
    rows = conn.execute(
        "SELECT s.name, s.value FROM steps s JOIN tasks t ON t.task_id = s.task_id"
        f" WHERE s.task_id = ? AND {_UNEXPIRED.replace('expires_at', 't.expires_at')}",
        (task_id, now),
    ).fetchall()
    return {str(name): str(value) for name, value in rows}


def claim_dedupe(conn: sqlite3.Connection, key: str, task_id: str, until: float, now: float) -> str:
    with immediate(conn):
        row = conn.execute(
            "SELECT task_id FROM dedupe WHERE key = ? AND until > ?", (key, now)
        ).fetchone()
        if row is not None:
            return str(row[0])
        conn.execute(
            "DELETE FROM dedupe WHERE key IN (SELECT key FROM dedupe WHERE until <= ? LIMIT ?)",
            (now, _CLEANUP_BATCH),
        )
        conn.execute(
            "INSERT OR REPLACE INTO dedupe (key, task_id, until) VALUES (?, ?, ?)",
            (key, task_id, until),
        )
    return task_id


def release_dedupe(conn: sqlite3.Connection, key: str, task_id: str) -> None:
    conn.execute("DELETE FROM dedupe WHERE key = ? AND task_id = ?", (key, task_id))
