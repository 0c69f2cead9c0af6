"""The SQLite store's SQL: one function per store operation, and rows to records and back.

Each function takes the store's connection and runs in the store's worker thread.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from ..records import (
    Outcome,
    TaskRecord,
    TaskStatus,
    ToolOutcome,
    apply_update,
    outcome_from_json,
    outcome_to_json,
)
from ._sqlite_schema import immediate
from .base import TaskNotFoundError

COLUMNS = (
    "task_id, status, created_at, updated_at, ttl_ms, tool, arguments, owner, poll_interval_ms,"
    " status_message, outcome, version, client_capabilities, runner, lease_until"
)
_LIVE = "status IN ('working', 'input_required')"  # the exact text of tasks_by_lease's WHERE
_UNEXPIRED = "(expires_at IS NULL OR expires_at > ?)"


def to_row(record: TaskRecord) -> tuple[Any, ...]:
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
    return TaskRecord(
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


def create(conn: sqlite3.Connection, record: TaskRecord) -> None:
    try:
        conn.execute(
            f"INSERT INTO tasks ({COLUMNS}, expires_at, tool_error) VALUES ({', '.join('?' * 17)})",
            (*to_row(record), record.expires_at, _tool_error(record.outcome)),
        )
    except sqlite3.IntegrityError:
        raise ValueError(f"task id {record.task_id!r} is already taken") from None


def select(conn: sqlite3.Connection, task_id: str) -> TaskRecord | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else _record(row)


def update(
    conn: sqlite3.Connection, task_id: str, now: float, change: dict[str, Any]
) -> TaskRecord:
    with immediate(conn):
        record = select(conn, task_id)
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


def page(
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
    return TaskRecord(
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


def delete(conn: sqlite3.Connection, task_id: str) -> bool:
    with immediate(conn):
        conn.execute("DELETE FROM inputs WHERE task_id = ?", (task_id,))
        return conn.execute("DELETE FROM tasks WHERE task_id = ?", (task_id,)).rowcount == 1


def sweep_batch(conn: sqlite3.Connection, now: float, batch: int) -> list[str]:
    with immediate(conn):
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


def push_input(conn: sqlite3.Connection, task_id: str, key: str, message: str) -> None:
    with immediate(conn):
        if conn.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone() is None:
            raise TaskNotFoundError(task_id)
        try:
            conn.execute(
                "INSERT INTO inputs (task_id, key, message, state) VALUES (?, ?, ?, 'waiting')",
                (task_id, key, message),
            )
        except sqlite3.IntegrityError:
            raise ValueError(f"input key {key!r} is already used by task {task_id}") from None


def claim_input(
    conn: sqlite3.Connection, task_id: str, now: float
) -> tuple[str, dict[str, Any]] | None:
    with immediate(conn):
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


def release_input(conn: sqlite3.Connection, task_id: str, key: str) -> None:
    conn.execute(
        "UPDATE inputs SET state = 'waiting' WHERE task_id = ? AND key = ? AND state = 'claimed'",
        (task_id, key),
    )


def answer_input(conn: sqlite3.Connection, task_id: str, key: str, answer: str) -> bool:
    changed = conn.execute(
        "UPDATE inputs SET state = 'answered', answer = ?"
        " WHERE task_id = ? AND key = ? AND state IN ('waiting', 'claimed')",
        (answer, task_id, key),
    ).rowcount
    return changed == 1


def drop_inputs(conn: sqlite3.Connection, task_id: str) -> None:
    conn.execute("DELETE FROM inputs WHERE task_id = ?", (task_id,))


def pending_inputs(conn: sqlite3.Connection, task_id: str, now: float) -> dict[str, dict[str, Any]]:
    # One statement, so one snapshot: a request answered by another process is either
    # answered here too or not yet, and the task's status is read at the same moment.
    rows = conn.execute(
        "SELECT key, message FROM inputs WHERE task_id = ? AND state IN ('waiting', 'claimed')"
        f" AND EXISTS (SELECT 1 FROM tasks WHERE task_id = ? AND {_LIVE} AND {_UNEXPIRED})"
        " ORDER BY seq",
        (task_id, task_id, now),
    ).fetchall()
    return {key: json.loads(message) for key, message in rows}


def take_answer(
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
    with immediate(conn):
        taken = conn.execute(
            "DELETE FROM inputs WHERE seq = ? AND state = 'answered' RETURNING answer", (row[0],)
        ).fetchall()
    return True, json.loads(taken[0][0]) if taken else None, None


def versions(conn: sqlite3.Connection, task_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i in range(0, len(task_ids), 500):
        chunk = task_ids[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT task_id, version FROM tasks WHERE task_id IN ({marks})"
        found.update(conn.execute(query, chunk).fetchall())
    return found


def generation(conn: sqlite3.Connection) -> int:
    """The highest task `seq` ever handed out: AUTOINCREMENT keeps it, deletions included."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'tasks'").fetchone()
    return 0 if row is None else int(row[0])


def renew_leases(conn: sqlite3.Connection, runner: str, task_ids: list[str], until: float) -> None:
    with immediate(conn):
        conn.executemany(
            f"UPDATE tasks SET lease_until = ? WHERE task_id = ? AND runner = ? AND {_LIVE}",
            [(until, task_id, runner) for task_id in task_ids],
        )


def orphans(conn: sqlite3.Connection, now: float, limit: int) -> list[TaskRecord]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM tasks WHERE {_LIVE} AND (lease_until IS NULL OR lease_until < ?)"
        f" AND {_UNEXPIRED} LIMIT ?",
        (now, now, limit),
    ).fetchall()
    return [_record(row) for row in rows]


def adopt(
    conn: sqlite3.Connection, task_id: str, runner: str, until: float, now: float
) -> TaskRecord | None:
    with immediate(conn):
        record = select(conn, task_id)
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
