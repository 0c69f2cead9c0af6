"""A complete TaskStore built on plain dicts, and one event that wakes every waiter.

Run it:  python -m pytest tests/test_store_contract.py -k CustomStore

That runs the store contract (taskapp.testing.TaskStoreContract) against it. An app
uses it like any store: TaskApp("name", store=DictStore()).
"""

import dataclasses
import itertools
import time
from collections.abc import Sequence
from typing import Any

import anyio

from taskapp.stores import InvalidCursorError, TaskNotFoundError, TaskRecord, apply_update


class DictStore:
    """Simple, not fast: listing scans every task, and any change wakes every waiter.
    Nothing awaits between a read and its write, so each change is atomic."""

    shared = False  # no other process changes these records

    def __init__(self) -> None:
        self.tasks: dict[str, TaskRecord] = {}
        self.numbers: dict[str, int] = {}  # task id -> creation number; cursors are these
        self.inputs: dict[str, dict[str, list[Any]]] = {}  # id -> key -> [state, message, answer]
        self.counter, self.changed = itertools.count(1), anyio.Event()
        self.steps: dict[str, dict[str, str]] = {}  # task id -> step name -> result (JSON)
        self.dedupe: dict[str, tuple[str, float]] = {}  # dedupe key -> (task id, until)

    async def open(self) -> None: ...  # nothing to connect to
    async def close(self) -> None: ...

    def _changed(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()  # for the next change

    async def create(self, record: TaskRecord) -> None:
        if record.task_id in self.tasks:
            raise ValueError(f"task id {record.task_id!r} is already taken")
        self.tasks[record.task_id], self.numbers[record.task_id] = record, next(self.counter)

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        record = self.tasks.get(task_id)
        return None if record is None or record.is_expired(now) else record

    async def update(self, task_id: str, *, now: float, **change: Any) -> TaskRecord:
        if (record := await self.get(task_id, now=now)) is None:
            raise TaskNotFoundError(task_id)
        new = self.tasks[task_id] = apply_update(record, now=now, **change)  # may refuse
        self._changed()
        return new

    async def list_tasks(
        self, owner: str | None, *, cursor: str | None, limit: int, now: float
    ) -> tuple[list[TaskRecord], str | None]:
        if cursor is not None and not (cursor.isascii() and cursor.isdigit()):
            raise InvalidCursorError(f"invalid cursor {cursor!r}")
        newer = [r for i, r in self.tasks.items() if self.numbers[i] > int(cursor or 0)]
        page = [r for r in newer if r.owner == owner and not r.is_expired(now)][: limit + 1]
        if len(page) <= limit:
            return page, None
        return page[:limit], str(self.numbers[page[limit - 1].task_id])

    async def wait(self, task_id: str, *, after_version: int, now: float) -> TaskRecord | None:
        changed = self.changed
        while (record := await self.get(task_id, now=now)) and record.version <= after_version:
            with anyio.move_on_after(record.expires_at - now if record.expires_at else None):
                await changed.wait()
            changed, now = self.changed, time.time()
        return record

    async def delete(self, task_id: str) -> bool:
        self.inputs.pop(task_id, None)
        self.steps.pop(task_id, None)
        found = self.tasks.pop(task_id, None) is not None
        self._changed()
        return found

    async def sweep(self, *, now: float) -> int:
        expired = [task_id for task_id, r in self.tasks.items() if r.is_expired(now)]
        return sum([await self.delete(task_id) for task_id in expired])

    async def push_input(self, task_id: str, key: str, message: dict[str, Any]) -> None:
        if task_id not in self.tasks:
            raise TaskNotFoundError(task_id)
        if key in (queue := self.inputs.setdefault(task_id, {})):
            raise ValueError(f"input key {key!r} is already used by task {task_id}")
        queue[key] = ["waiting", message, None]

    async def claim_input(self, task_id: str, *, now: float) -> tuple[str, dict[str, Any]] | None:
        if (record := await self.get(task_id, now=now)) is None or record.terminal:
            return None
        for key, entry in self.inputs.get(task_id, {}).items():  # oldest first
            if entry[0] == "waiting":
                entry[0] = "claimed"
                return key, entry[1]
        return None

    async def release_input(self, task_id: str, key: str) -> None:
        if (entry := self.inputs.get(task_id, {}).get(key)) and entry[0] == "claimed":
            entry[0] = "waiting"

    async def answer_input(self, task_id: str, key: str, answer: dict[str, Any]) -> bool:
        if not (entry := self.inputs.get(task_id, {}).get(key)) or entry[0] == "answered":
            return False
        entry[0], entry[2] = "answered", answer
        self._changed()
        return True

    async def wait_input_answer(
        self, task_id: str, key: str, *, now: float
    ) -> dict[str, Any] | None:
        while (entry := self.inputs.get(task_id, {}).get(key)) and task_id in self.tasks:
            if entry[0] == "answered":
                answer: dict[str, Any] = self.inputs[task_id].pop(key)[2]
                return answer
            await self.changed.wait()
        return None  # the request was dropped, or the task deleted

    async def pending_inputs(self, task_id: str, *, now: float) -> dict[str, dict[str, Any]]:
        if (record := await self.get(task_id, now=now)) is None or record.terminal:
            return {}
        entries = self.inputs.get(task_id, {}).items()  # in the order pushed
        return {key: entry[1] for key, entry in entries if entry[0] != "answered"}

    async def drop_inputs(self, task_id: str) -> None:
        self.inputs.pop(task_id, None)
        self._changed()

    async def renew_leases(self, runner: str, task_ids: Sequence[str], *, until: float) -> None:
        for record in [self.tasks[i] for i in task_ids if i in self.tasks]:
            if not record.terminal and record.runner == runner:
                self.tasks[record.task_id] = dataclasses.replace(record, lease_until=until)

    async def orphans(self, *, now: float, limit: int) -> list[TaskRecord]:
        live = [r for r in self.tasks.values() if not r.terminal and not r.is_expired(now)]
        return [r for r in live if r.lease_until is None or r.lease_until < now][:limit]

    async def adopt(
        self, task_id: str, runner: str, *, until: float, now: float
    ) -> TaskRecord | None:
        record = await self.get(task_id, now=now)
        if (
            record is None
            or record.terminal
            or (record.runner and (record.lease_until or 0) >= now)
        ):
            return None  # gone, ended, or vouched for (perhaps by whoever adopted it first)
        new = self.tasks[task_id] = dataclasses.replace(
            record, runner=runner, lease_until=until, updated_at=now, version=record.version + 1
        )
        self._changed()
        return new

    async def save_step(
        self, task_id: str, name: str, value: str, *, runner: str, now: float
    ) -> bool:
        record = await self.get(task_id, now=now)
        if record is None or record.terminal or record.runner != runner:
            return False  # gone, ended, or adopted by another engine: not this runner's
        self.steps.setdefault(task_id, {}).setdefault(name, value)
        return True

    async def load_steps(self, task_id: str, *, now: float) -> dict[str, str]:
        found = await self.get(task_id, now=now) is not None
        return dict(self.steps.get(task_id, {})) if found else {}

    async def claim_dedupe(self, key: str, task_id: str, *, until: float, now: float) -> str:
        held = self.dedupe.get(key)
        if held is not None and held[1] > now:
            return held[0]
        self.dedupe[key] = (task_id, until)
        return task_id

    async def release_dedupe(self, key: str, task_id: str) -> None:
        if self.dedupe.get(key, ("", 0.0))[0] == task_id:
            del self.dedupe[key]
