"""What the dashboard shows of tasks, and its live feed from the store's change notifications."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio

from ..records import ErrorOutcome, ResultOutcome, TaskRecord, outcome_to_json
from ..stores import ListsAllOwners, TaskFilter, TaskStore
from ..wire.mcp2025 import timestamp, wire_status

#: Stores announce changes task by task (`TaskStore.wait`), not the creation of a task:
#: a task created elsewhere shows within this many seconds, by reading the page again.
NEW_TASKS_S = 2.0
#: The live tasks of a page that the feed waits on at once.
WATCHED = 100


def row(record: TaskRecord) -> dict[str, Any]:
    """A task as a listing row: what every store's listing holds."""
    return {
        "taskId": record.task_id,
        "status": wire_status(record),
        "tool": record.tool,
        "owner": record.owner,
        "createdAt": timestamp(record.created_at),
        "updatedAt": timestamp(record.updated_at),
        "statusMessage": record.status_message,
        "version": record.version,
        "terminal": record.terminal,
    }


def detail(record: TaskRecord, pending: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Everything the store holds of one task, and its questions not answered yet.

    A store keeps a task's current state, not each past status: the history is its
    creation, its last change and the number of changes (`version`).
    """
    outcome = record.outcome
    lease = record.lease_until
    shown: dict[str, Any] = {
        **row(record),
        "storedStatus": record.status.value,
        "arguments": record.arguments,
        "ttlMs": record.ttl_ms,
        "expiresAt": None if record.expires_at is None else timestamp(record.expires_at),
        "runner": record.runner,
        "leaseUntil": None if lease is None else timestamp(lease),
        "history": [
            {"at": timestamp(record.created_at), "status": "working", "what": "created"},
            {
                "at": timestamp(record.updated_at),
                "status": wire_status(record),
                "what": f"last change (change {record.version})",
            },
        ],
        "pendingInputs": [{"key": key, **message} for key, message in pending.items()],
        "result": None,
        "error": None,
    }
    if isinstance(outcome, ErrorOutcome):
        shown["error"] = {"code": outcome.code, "message": outcome.message, "data": outcome.data}
    elif isinstance(outcome, ResultOutcome):
        shown["result"] = outcome.result
    elif outcome is not None:
        shown["result"] = outcome_to_json(outcome)
    return shown


async def snapshots(
    store: TaskStore,
    lister: ListsAllOwners,
    where: TaskFilter,
    *,
    cursor: str | None,
    limit: int,
) -> AsyncIterator[dict[str, Any]]:
    """The page and the counts, again each time they change; forever."""
    last: dict[str, Any] | None = None
    while True:
        now = time.time()
        page, next_cursor = await lister.list_all(where, cursor=cursor, limit=limit, now=now)
        counts = await lister.count_by_status(now=now)
        snapshot = {
            "tasks": [row(record) for record in page],
            "nextCursor": next_cursor,
            "counts": {status.value: n for status, n in counts.items()},
        }
        if snapshot != last:
            yield snapshot
            last = snapshot
        await until_change(store, page)


async def until_change(store: TaskStore, page: list[TaskRecord]) -> None:
    """Until a live task of the page changes (the store wakes its waiters: no polling),
    or `NEW_TASKS_S` pass (a task created meanwhile has no task to wait on)."""
    live = [record for record in page if not record.terminal][:WATCHED]
    if not live:
        await anyio.sleep(NEW_TASKS_S)
        return
    with anyio.move_on_after(NEW_TASKS_S):
        async with anyio.create_task_group() as tg:
            for record in live:
                tg.start_soon(_changed, store, record, tg.cancel_scope)


async def _changed(store: TaskStore, record: TaskRecord, scope: anyio.CancelScope) -> None:
    await store.wait(record.task_id, after_version=record.version, now=time.time())
    scope.cancel()
