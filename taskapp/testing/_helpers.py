"""The contract's records and helpers: `make_record`, `NOW`, `listed`, and racing calls."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..records import TaskRecord, TaskStatus, ToolOutcome
from ..stores.base import TaskStore

S = TaskStatus
NOW = 1_800_000_000.0  # a fixed "now": expiry is tested by passing times, never by sleeping
FINAL = (S.COMPLETED, S.FAILED, S.CANCELLED)


def make_record(
    task_id: str | None = None,
    *,
    status: TaskStatus = S.WORKING,
    owner: str | None = None,
    ttl_ms: int | None = 60_000,
    created_at: float = NOW,
    **fields: Any,
) -> TaskRecord:
    """A record with a fresh random id unless one is given; `fields` set any other field."""
    return TaskRecord(
        task_id=task_id or f"contract-{secrets.token_urlsafe(12)}",
        status=status,
        created_at=created_at,
        updated_at=created_at,
        ttl_ms=ttl_ms,
        tool=fields.pop("tool", "add"),
        arguments=fields.pop("arguments", {"a": 1}),
        owner=owner,
        poll_interval_ms=fields.pop("poll_interval_ms", 500),
        **fields,
    )


def _unique(name: str) -> str:
    """An owner name no other test uses, for stores whose backend outlives a test."""
    return f"{name}-{secrets.token_hex(6)}"


def listed(record: TaskRecord) -> TaskRecord:
    """`record` as a listing may show it: what `TaskStore.list_tasks` may leave out, left out."""
    outcome = record.outcome
    shown = outcome if isinstance(outcome, ToolOutcome) and outcome.is_error else None
    return dataclasses.replace(
        record,
        arguments={},
        client_capabilities=None,
        runner=None,
        lease_until=None,
        outcome=shown,
    )


def _in_listing(page: list[TaskRecord], records: list[TaskRecord]) -> bool:
    """Whether `page` shows `records`, whole or as `listed`, one by one."""
    return len(page) == len(records) and all(
        got in (record, listed(record)) for got, record in zip(page, records, strict=True)
    )


def _text(text: str) -> ToolOutcome:
    return ToolOutcome(content=[{"type": "text", "text": text}])


async def _pages(store: TaskStore, owner: str | None, limit: int, between: Any = None) -> list[str]:
    """Every task id of `owner`, page by page; `between(page_number)` runs between pages."""
    seen: list[str] = []
    cursor: str | None = None
    for page_number in range(1, 1000):
        page, cursor = await store.list_tasks(owner, cursor=cursor, limit=limit, now=NOW)
        assert len(page) <= limit
        seen.extend(r.task_id for r in page)
        if cursor is None:
            return seen
        assert isinstance(cursor, str)
        if between is not None:
            await between(page_number)
    raise AssertionError("the cursor never ended")


async def _race(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Start every call at once; return what each returned or raised, in order."""
    results: list[Any] = [None] * len(calls)
    go = anyio.Event()

    async def one(i: int) -> None:
        await go.wait()
        try:
            results[i] = await calls[i]()
        except Exception as exc:
            results[i] = exc

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(len(calls)):
                tg.start_soon(one, i)
            await anyio.wait_all_tasks_blocked()
            go.set()
    return results
