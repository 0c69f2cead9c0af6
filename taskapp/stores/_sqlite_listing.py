"""The SQLite store's operator listing: every owner's tasks, newest first, and counts."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..records import TaskRecord, TaskStatus
from ._listing_all import TaskFilter, zero_counts
from ._sqlite_sql import _listed

_UNEXPIRED = "(expires_at IS NULL OR expires_at > ?)"


def page_all(
    conn: sqlite3.Connection, where: TaskFilter, before: int, limit: int, now: float
) -> list[tuple[int, TaskRecord]]:
    """Up to `limit + 1` rows before seq `before` (0: from the newest), newest first.

    Everything but a tool error's outcome comes from an index (tasks_every, or
    tasks_listing with an owner).
    """
    clauses, values = [_UNEXPIRED], list[Any]([now])
    if before:
        clauses.append("seq < ?")
        values.append(before)
    if where.owner is not None:
        clauses.append("owner = ?")
        values.append(where.owner)
    if where.tool is not None:
        clauses.append("tool = ?")
        values.append(where.tool)
    if where.statuses:
        clauses.append(f"status IN ({', '.join('?' * len(where.statuses))})")
        values.extend(sorted(status.value for status in where.statuses))
    # Named, since without statistics SQLite walks the table by rowid instead.
    index = "tasks_every" if where.owner is None else "tasks_listing"
    rows = conn.execute(
        "SELECT seq, task_id, status, created_at, updated_at, ttl_ms, tool, poll_interval_ms,"
        " status_message, version, CASE WHEN tool_error THEN outcome END, owner"
        f" FROM tasks INDEXED BY {index} WHERE {' AND '.join(clauses)} ORDER BY seq DESC LIMIT ?",
        (*values, limit + 1),
    ).fetchall()
    return [(row[0], _listed(row[:-1], row[-1])) for row in rows]


def counts(conn: sqlite3.Connection, now: float) -> dict[TaskStatus, int]:
    found: dict[TaskStatus, int] = zero_counts()
    rows: list[Any] = conn.execute(
        f"SELECT status, count(*) FROM tasks INDEXED BY tasks_every WHERE {_UNEXPIRED}"
        " GROUP BY status",
        (now,),
    ).fetchall()
    for status, n in rows:
        found[TaskStatus(status)] = n
    return found
