"""What the dashboard shows of tasks, and its live feed from the store's change notifications."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio

from ..records import ErrorOutcome, ResultOutcome, TaskRecord, outcome_to_json
from ..stores import (
    AnnouncesCreations,
    ListsAllOwners,
    TaskFilter,
    TaskStore,
    announces_creations,
)
from ..wire.mcp2025 import timestamp, wire_status

#: A store without creation notices (`AnnouncesCreations`: the built-in stores have them)
#: announces changes task by task only: a task created elsewhere shows within this many
#: seconds, by reading the page again.
NEW_TASKS_S = 2.0
#: No store announces the changes of tasks off the page (the counts, a task that enters
#: a status filter): with creation notices, those show within this many seconds.
OFF_PAGE_S = 10.0
#: The tasks of a page that the feed waits on at once.
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
    creations = announces_creations(store)
    # Taken before the page is read: a task created after the read ends the next wait.
    mark = None if creations is None else await creations.wait_created(after=None)
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
        mark = await until_change(store, page, creations, mark)


async def until_change(
    store: TaskStore,
    page: list[TaskRecord],
    creations: AnnouncesCreations | None = None,
    mark: int | None = None,
) -> int | None:
    """Until a task of the page changes or goes, or a task is created after `mark` (the
    store wakes its waiters: no polling); return the creation mark to wait from next.

    Without `creations` (a store that does not announce them), a task created meanwhile
    has nothing to wait on: `NEW_TASKS_S` pass at most. With them, `OFF_PAGE_S` at most,
    for what nothing announces (changes of tasks off the page).
    """
    shown = page[:WATCHED]
    marks = [mark]
    with anyio.move_on_after(NEW_TASKS_S if creations is None else OFF_PAGE_S):
        async with anyio.create_task_group() as tg:
            for record in shown:
                tg.start_soon(_changed, store, record, tg.cancel_scope)
            if creations is not None and mark is not None:
                tg.start_soon(_created, creations, mark, marks, tg.cancel_scope)
            elif not shown:
                await anyio.sleep_forever()  # until the timer
    return marks[-1]


async def _changed(store: TaskStore, record: TaskRecord, scope: anyio.CancelScope) -> None:
    # A live task's next change; an ended one changes no more, but it may be deleted or
    # expire (then `wait` returns None), and the page must lose it.
    await store.wait(record.task_id, after_version=record.version, now=time.time())
    scope.cancel()


async def _created(
    creations: AnnouncesCreations, mark: int, marks: list[int | None], scope: anyio.CancelScope
) -> None:
    marks.append(await creations.wait_created(after=mark))
    scope.cancel()
