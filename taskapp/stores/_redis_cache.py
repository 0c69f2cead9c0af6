"""What a RedisStore remembers of the records it has seen, to skip reads Redis would
answer the same way (docs/stores.md, "Redis").

- Ended records: a terminal record never changes again (records.apply_update refuses any
  transition out of one, in every process), so `get` answers it from here until it
  expires. It can still be deleted: this store forgets it at once, and another
  process's delete reaches it on the DELETED channel, which the store's pub/sub
  connection always listens to; after that connection was lost, everything is
  forgotten, since a message may have been missed.
- Inputs dropped: the script that ends a task drops its questions in the same step, so
  `drop_inputs` for a task this store knows ended (by any process: each drops them as
  it ends the task) has nothing left to do and sends nothing.
- Hints: the last version of an unfinished record this store wrote or read, which
  `update` tries first. Its write is a compare-and-set on the version, so a stale hint
  (another process wrote since) costs one retry with a fresh read, never a lost write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis

from ..records import KEEP, Outcome, TaskRecord, TaskStatus, apply_update, record_to_json
from ._redis_keys import LEASES, Keys, from_hash
from .base import TaskNotFoundError

#: Records remembered at most, of each kind; the oldest are forgotten first.
SIZE = 1024


class Seen:
    """Ended records and unfinished hints, by task id, each bounded to `SIZE`."""

    __slots__ = ("ended", "hints")

    def __init__(self) -> None:
        self.ended: dict[str, TaskRecord] = {}
        self.hints: dict[str, TaskRecord] = {}

    def remember(self, record: TaskRecord) -> None:
        task_id = record.task_id
        if record.terminal:
            self.hints.pop(task_id, None)
            _put(self.ended, task_id, record)
        else:
            _put(self.hints, task_id, record)

    def forget(self, task_id: str | None) -> None:
        """Forget one task (deleted), or every one (None: a deletion may have been missed)."""
        if task_id is None:
            self.ended.clear()
            self.hints.clear()
        else:
            self.ended.pop(task_id, None)
            self.hints.pop(task_id, None)


def _put(records: dict[str, TaskRecord], task_id: str, record: TaskRecord) -> None:
    records.pop(task_id, None)  # to the end: the newest
    records[task_id] = record
    if len(records) > SIZE:
        del records[next(iter(records))]


class RecordsSeen:
    """`RedisStore.get` and `update`, through what the store has seen (`Seen`)."""

    _keys: Keys
    _seen: Seen

    @property
    def _redis(self) -> Redis:
        raise NotImplementedError  # RedisStore's

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        raise NotImplementedError  # RedisStore's

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        record = self._seen.ended.get(task_id)  # final: no need to ask Redis again
        if record is None:
            fields = await self._redis.hgetall(self._keys.task(task_id))  # type: ignore[misc, unused-ignore]
            if (record := from_hash(cast("dict[str, str]", fields))) is not None:
                self._seen.remember(record)
        return None if record is None or record.is_expired(now) else record

    async def update(
        self,
        task_id: str,
        *,
        now: float,
        status: TaskStatus | None = None,
        status_message: str | None = KEEP,
        outcome: Outcome | None = None,
    ) -> TaskRecord:
        # Optimistic: the state machine runs here (records.apply_update, as in every
        # store), and the script writes only if nobody changed the record meanwhile.
        # The first try starts from the last version this store saw, if any (a hint).
        hint = self._seen.hints.get(task_id)
        while True:
            if hint is not None and hint.is_expired(now):
                hint = None  # gone, as a read would say
            record = hint or await self.get(task_id, now=now)
            if record is None:
                raise TaskNotFoundError(task_id)
            try:
                new = apply_update(
                    record, now=now, status=status, status_message=status_message,
                    outcome=outcome,
                )  # fmt: skip
            except Exception:
                if hint is None:
                    raise
                hint = None  # judged on what Redis holds, not on a hint
                continue
            data = record_to_json(new)
            names = ["status", "updatedAt", "version", "statusMessage"]
            if outcome is not None:  # a result of several MB is written once
                names.append("outcome")
            args = [task_id, record.version, self._keys.channel(task_id), int(new.terminal)]
            args += [item for name in names for item in (name, json.dumps(data[name]))]
            keys = [self._keys.task(task_id), self._keys.of(LEASES)]
            keys += [self._keys.status(record.status), self._keys.status(new.status)]
            keys += self._keys.inputs(task_id)
            if await self._run("update", keys, args):
                self._seen.remember(new)
                return new
            hint = None
