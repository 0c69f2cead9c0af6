"""MemoryStore: tasks in this process's memory, the default store."""

from __future__ import annotations

import dataclasses
import heapq
import time
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any, ClassVar

import anyio

from ..records import KEEP, Outcome, TaskRecord, TaskStatus, apply_update
from ._created import until_created
from ._cursors import decode_cursor, encode_cursor
from ._listing_all import TaskFilter, count
from ._queue import InputQueue
from .base import TaskNotFoundError


class _Owned:
    """The tasks of one owner, in creation order.

    Sequence numbers only grow, so a cursor ("after seq N") stays valid while tasks
    are added or removed. Removed entries are skipped and compacted lazily.
    """

    __slots__ = ("dead", "seqs")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.dead = 0


class MemoryStore:
    """Keeps tasks in dicts. Fast, and lost when the process ends.

    Every method runs without awaiting between reading and writing, so each
    change is atomic with respect to other tasks on the same event loop.
    """

    shared = False
    #: `create` and `get` never wait (see `answers_now`). A subclass that overrides either
    #: may add waits, so it loses the capability unless its own body declares it again.
    answers_without_waiting: ClassVar[bool] = True
    #: A created task is readable at once (`base.reads_own_writes`); lost the same way.
    reads_own_writes: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overrides = "get" in vars(cls) or "create" in vars(cls)
        for capability in ("answers_without_waiting", "reads_own_writes"):
            if overrides and capability not in vars(cls):
                setattr(cls, capability, False)

    def __init__(self) -> None:
        self._records: dict[str, TaskRecord] = {}
        self._seq_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._owners: dict[str | None, _Owned] = {}
        self._every = _Owned()  # every task's seq, for the operator's listing
        self._expiry: list[tuple[float, str]] = []
        self._events: dict[str, anyio.Event] = {}
        self._inputs: dict[str, InputQueue] = {}
        # task id -> its unanswered request keys in the order pushed: InputQueue keeps the
        # unclaimed and the claimed apart, and a released request jumps the queue.
        self._unanswered: dict[str, dict[str, None]] = {}
        self._next_seq = 0  # also the creation generation (`wait_created`)
        self._created: anyio.Event | None = None  # set by the next creation, when waited on
        self._steps: dict[str, dict[str, str]] = {}  # task id -> step name -> result JSON
        self._dedupe: dict[str, tuple[str, float]] = {}  # key -> (task id, until)
        self._dedupe_expiry: list[tuple[float, str]] = []

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create(self, record: TaskRecord) -> None:
        self.create_now(record)

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        return self.get_now(task_id, now=now)

    # `create` and `get` never wait: a server answers tasks/get, tasks/result of an ended
    # task and task creation straight from its read loop with these (stores.base.answers_now).

    def create_now(self, record: TaskRecord) -> None:
        if record.task_id in self._records:
            raise ValueError(f"task id {record.task_id!r} is already taken")
        self._next_seq += 1
        seq = self._next_seq
        self._records[record.task_id] = record
        self._seq_of[record.task_id] = seq
        self._id_of[seq] = record.task_id
        self._owners.setdefault(record.owner, _Owned()).seqs.append(seq)
        self._every.seqs.append(seq)
        if record.expires_at is not None:
            heapq.heappush(self._expiry, (record.expires_at, record.task_id))
        created, self._created = self._created, None
        if created is not None:
            created.set()

    def __contains__(self, task_id: object) -> bool:
        """Whether a task with this id is stored, expired or not (its id is taken)."""
        return task_id in self._records

    def get_now(self, task_id: str, *, now: float) -> TaskRecord | None:
        record = self._records.get(task_id)
        if record is None or record.is_expired(now):
            return None
        return record

    async def update(
        self,
        task_id: str,
        *,
        now: float,
        status: TaskStatus | None = None,
        status_message: str | None = KEEP,
        outcome: Outcome | None = None,
    ) -> TaskRecord:
        record = self._records.get(task_id)
        if record is None or record.is_expired(now):
            raise TaskNotFoundError(task_id)
        new = apply_update(
            record, now=now, status=status, status_message=status_message, outcome=outcome
        )
        self._records[task_id] = new
        self._wake(task_id)
        return new

    async def list_tasks(
        self, owner: str | None, *, cursor: str | None, limit: int, now: float
    ) -> tuple[list[TaskRecord], str | None]:
        after = decode_cursor("m1", cursor)
        owned = self._owners.get(owner)
        if owned is None:
            return [], None
        seqs = owned.seqs
        page: list[TaskRecord] = []
        i = bisect_right(seqs, after)
        while i < len(seqs) and len(page) < limit:
            record = self._records.get(self._id_of.get(seqs[i], ""))
            if record is not None and not record.is_expired(now):
                page.append(record)
            i += 1
        # A full page with entries left behind it gets a cursor; at worst the next page is empty.
        next_cursor = (
            encode_cursor("m1", seqs[i - 1]) if len(page) == limit and i < len(seqs) else None
        )
        return page, next_cursor

    async def list_all(
        self, where: TaskFilter, *, cursor: str | None, limit: int, now: float
    ) -> tuple[list[TaskRecord], str | None]:
        before = decode_cursor("m2", cursor)  # 0: from the newest
        owned = self._every if where.owner is None else self._owners.get(where.owner)
        if owned is None:
            return [], None
        seqs = owned.seqs
        page: list[TaskRecord] = []
        i = bisect_left(seqs, before) if before else len(seqs)
        while i > 0 and len(page) < limit:
            i -= 1
            record = self._records.get(self._id_of.get(seqs[i], ""))
            if record is not None and not record.is_expired(now) and where.admits(record):
                page.append(record)
        return page, encode_cursor("m2", seqs[i]) if len(page) == limit and i > 0 else None

    async def count_by_status(self, *, now: float) -> dict[TaskStatus, int]:
        return count(self._records.values(), now)

    async def wait(self, task_id: str, *, after_version: int, now: float) -> TaskRecord | None:
        while True:
            record = await self.get(task_id, now=now)
            if record is None or record.version > after_version:
                return record
            event = self._events.get(task_id)
            if event is None:
                event = self._events[task_id] = anyio.Event()
            expires_at = record.expires_at
            with anyio.move_on_after(None if expires_at is None else expires_at - now):
                await event.wait()
            now = time.time()

    async def wait_created(self, *, after: int | None) -> int:
        """See `AnnouncesCreations`: the generation is the number of tasks created."""
        return await until_created(self._creation_event, self._generation, after)

    def _creation_event(self) -> anyio.Event:
        if self._created is None:
            self._created = anyio.Event()
        return self._created

    async def _generation(self) -> int:
        return self._next_seq

    async def delete(self, task_id: str) -> bool:
        record = self._records.pop(task_id, None)
        if record is None:
            return False
        seq = self._seq_of.pop(task_id)
        del self._id_of[seq]
        for owned in (self._owners[record.owner], self._every):
            owned.dead += 1
            if owned.dead > 1024 and owned.dead * 2 > len(owned.seqs):
                owned.seqs = [s for s in owned.seqs if s in self._id_of]
                owned.dead = 0
        self._wake(task_id)
        self._steps.pop(task_id, None)
        await self.drop_inputs(task_id)
        return True

    async def sweep(self, *, now: float) -> int:
        removed = 0
        while self._expiry and self._expiry[0][0] <= now:
            _, task_id = heapq.heappop(self._expiry)
            record = self._records.get(task_id)
            if record is not None and record.is_expired(now) and await self.delete(task_id):
                removed += 1
        while self._dedupe_expiry and self._dedupe_expiry[0][0] <= now:
            _, key = heapq.heappop(self._dedupe_expiry)
            held = self._dedupe.get(key)
            if held is not None and held[1] <= now:
                del self._dedupe[key]
        return removed

    # -- input requests ---------------------------------------------------------

    async def push_input(self, task_id: str, key: str, message: dict[str, Any]) -> None:
        if task_id not in self._records:
            raise TaskNotFoundError(task_id)
        queue = self._inputs.setdefault(task_id, InputQueue())
        if key in queue.waiting or key in queue.claimed or key in queue.answers:
            raise ValueError(f"input key {key!r} is already used by task {task_id}")
        queue.waiting[key] = message
        self._unanswered.setdefault(task_id, {})[key] = None

    async def claim_input(self, task_id: str, *, now: float) -> tuple[str, dict[str, Any]] | None:
        record = await self.get(task_id, now=now)
        queue = self._inputs.get(task_id)
        if record is None or record.terminal or queue is None:
            return None
        return queue.claim()

    async def release_input(self, task_id: str, key: str) -> None:
        queue = self._inputs.get(task_id)
        if queue is not None:
            queue.release(key)

    async def answer_input(self, task_id: str, key: str, answer: dict[str, Any]) -> bool:
        queue = self._inputs.get(task_id)
        if queue is None or not queue.answer(key, answer):
            return False
        self._unanswered.get(task_id, {}).pop(key, None)
        return True

    async def wait_input_answer(
        self, task_id: str, key: str, *, now: float
    ) -> dict[str, Any] | None:
        while True:
            queue = self._inputs.get(task_id)
            if queue is None or await self.get(task_id, now=time.time()) is None:
                return None
            if key in queue.answers:
                return queue.answers.pop(key)
            await queue.changed.wait()

    async def pending_inputs(self, task_id: str, *, now: float) -> dict[str, dict[str, Any]]:
        record = await self.get(task_id, now=now)
        queue = self._inputs.get(task_id)
        if record is None or record.terminal or queue is None:
            return {}
        unclaimed, claimed = queue.waiting, queue.claimed
        return {
            key: unclaimed[key] if key in unclaimed else claimed[key]
            for key in self._unanswered.get(task_id, {})
            if key in unclaimed or key in claimed
        }

    async def drop_inputs(self, task_id: str) -> None:
        self._unanswered.pop(task_id, None)
        queue = self._inputs.pop(task_id, None)
        if queue is not None:
            queue.wake()

    # -- leases -----------------------------------------------------------------

    async def renew_leases(self, runner: str, task_ids: Sequence[str], *, until: float) -> None:
        for task_id in task_ids:
            record = self._records.get(task_id)
            if record is not None and not record.terminal and record.runner == runner:
                self._records[task_id] = dataclasses.replace(record, lease_until=until)

    async def orphans(self, *, now: float, limit: int) -> list[TaskRecord]:
        found: list[TaskRecord] = []
        for record in self._records.values():
            if len(found) >= limit:
                break
            if not record.terminal and not record.is_expired(now) and _lapsed(record, now):
                found.append(record)
        return found

    async def adopt(
        self, task_id: str, runner: str, *, until: float, now: float
    ) -> TaskRecord | None:
        record = self._records.get(task_id)
        if record is None or record.terminal or record.is_expired(now):
            return None
        if record.runner is not None and not _lapsed(record, now):
            return None
        adopted = dataclasses.replace(
            record, runner=runner, lease_until=until, version=record.version + 1, updated_at=now
        )
        self._records[task_id] = adopted
        self._wake(task_id)
        return adopted

    # -- step results and dedupe keys -------------------------------------------------

    async def save_step(
        self, task_id: str, name: str, value: str, *, runner: str, now: float
    ) -> bool:
        record = self._records.get(task_id)
        if record is None or record.terminal or record.runner != runner:
            return False
        if record.is_expired(now):
            return False
        self._steps.setdefault(task_id, {}).setdefault(name, value)
        return True

    async def load_steps(self, task_id: str, *, now: float) -> dict[str, str]:
        if self.get_now(task_id, now=now) is None:
            return {}
        return dict(self._steps.get(task_id, {}))

    async def claim_dedupe(self, key: str, task_id: str, *, until: float, now: float) -> str:
        held = self._dedupe.get(key)
        if held is not None and held[1] > now:
            return held[0]
        self._dedupe[key] = (task_id, until)
        heapq.heappush(self._dedupe_expiry, (until, key))
        return task_id

    async def release_dedupe(self, key: str, task_id: str) -> None:
        held = self._dedupe.get(key)
        if held is not None and held[0] == task_id:
            del self._dedupe[key]

    def _wake(self, task_id: str) -> None:
        event = self._events.pop(task_id, None)
        if event is not None:
            event.set()

    def __len__(self) -> int:
        return len(self._records)


def _lapsed(record: TaskRecord, now: float) -> bool:
    return record.lease_until is None or record.lease_until < now
