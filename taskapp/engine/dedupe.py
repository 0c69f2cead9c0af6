"""Repeated calls (`dedupe_for`): the same call from the same principal returns the task
that the first one started, while that task runs or has completed and not expired.

A task is created first and then claims its call's key in the store (`claim_dedupe`,
atomic across every process sharing the store); a creation that loses the claim deletes
its own task, never started nor shown to anyone, and returns the winner. A winner that
failed, was cancelled, ended in a tool error or is gone is released, and the claim is
made again. Only calls with an owner are deduplicated: without one, every caller shares
one namespace and a task id is the only secret that keeps a task its caller's.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from .._logging import get_logger
from ..records import TaskRecord, TaskStatus, ToolOutcome
from ..stores.base import TaskStore
from ..tools import ToolDef

log = get_logger("taskapp.engine")

_CLAIMS = 5  # attempts at a key whose holders keep failing under us: then start anew


def applies(tool: ToolDef, owner: str | None) -> bool:
    """Whether a call of `tool` by `owner` is deduplicated."""
    return tool.dedupe_for is not None and owner is not None


def call_key(tool: str, arguments: dict[str, Any] | None, owner: str | None) -> str:
    """The key of a call: its owner, tool and arguments as canonical JSON (sorted keys, no
    spaces), hashed, so that the store never holds the arguments twice."""
    canonical = json.dumps(
        [owner, tool, arguments or {}], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def earlier_task(
    store: TaskStore, record: TaskRecord, dedupe_for: float
) -> TaskRecord | None:
    """The live task an earlier identical call started, or None when `record` (stored, not
    started) is the one to run. Deletes `record` when it returns an earlier task."""
    key = call_key(record.tool, record.arguments, record.owner)
    until = record.created_at + dedupe_for
    for _ in range(_CLAIMS):
        holder = await store.claim_dedupe(key, record.task_id, until=until, now=time.time())
        if holder == record.task_id:
            return None
        earlier = await store.get(holder, now=time.time())
        if earlier is not None and earlier.owner == record.owner and _returnable(earlier):
            await store.delete(record.task_id)
            log.info("repeated call: earlier task returned", task_id=holder, owner=record.owner)
            return earlier
        await store.release_dedupe(key, holder)
    return None


def _returnable(record: TaskRecord) -> bool:
    """Running, or completed with a result: a failed, cancelled or tool-error task is not
    worth repeating to the caller, who called again for a better outcome."""
    if record.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        return False
    outcome = record.outcome
    return not (isinstance(outcome, ToolOutcome) and outcome.is_error)
