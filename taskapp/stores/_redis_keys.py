"""The Redis store's layout: its keys and channels under a prefix, and a record as a hash."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from ..records import TERMINAL, TaskRecord, TaskStatus, record_from_json, record_to_json

# Under the store's prefix ("taskapp:" unless told otherwise):
TASK = "task:"  # hash per task id: each field of record_to_json as JSON, and `_expires`
OWNER = "owner:"  # sorted set per owner ("owner:=alice"; no owner: "owner:-"): task ids
#                   scored by creation number, for listing; a cursor is such a number
ALL = "all"  # sorted set: every task id scored by creation number, for operators' listings
STATUS = "status:"  # sorted set per status ("status:working"): its task ids, likewise
SEQUENCE = "seq"  # the counter of creation numbers (never reused)
EXPIRY = "expiry"  # sorted set: JSON [task id, owner] scored by expiry time, for sweeps
LEASES = "leases"  # sorted set: unfinished task ids scored by lease end (-inf: no lease)
INPUTS = "inputs:"  # hash per task id: its input requests (see _redis_scripts)
INPUT_ORDER = "inputq:"  # sorted set per task id: its unclaimed requests, oldest first
CHANGED = "changed:"  # pub/sub channel per task id: a message after every write
IDLE = "idle"  # pub/sub channel nobody writes to: the listener's first subscription
STEPS = "steps:"  # hash per task id: its finished steps' results (name -> JSON)
DEDUPE = "dedupe:"  # string per dedupe key: JSON [task id, until]
DELETED = "deleted"  # pub/sub channel: the id of each task deleted (_redis_cache.py)
QUEUE = "queue"  # stream of task ids waiting for a worker
GROUP = "workers"  # the consumer group all workers read the queue through

EXPIRES = "_expires"  # hidden hash field: expiry time (seconds), compared by scripts
# (and `_seq`, the task's creation number, which moves it between the status indexes)
TERMINAL_JSON = json.dumps(sorted(json.dumps(status.value) for status in TERMINAL))


@dataclass(frozen=True, slots=True)
class Keys:
    """The names of one store's keys and channels: everything starts with `prefix`."""

    prefix: str

    def of(self, name: str) -> str:
        """A store-wide key or channel (SEQUENCE, EXPIRY, LEASES, QUEUE, ...)."""
        return self.prefix + name

    def task(self, task_id: str) -> str:
        return f"{self.prefix}{TASK}{task_id}"

    def owner(self, owner: str | None) -> str:
        return f"{self.prefix}{OWNER}{'-' if owner is None else '=' + owner}"

    def status(self, status: TaskStatus) -> str:
        return f"{self.prefix}{STATUS}{status.value}"

    def listing(self) -> list[str]:
        """The operator's indexes: every task's, then each status's (as scripts take them)."""
        return [self.of(ALL), *(self.status(status) for status in TaskStatus)]

    def inputs(self, task_id: str) -> tuple[str, str]:
        """The task's input requests, and the order of its unclaimed ones."""
        return f"{self.prefix}{INPUTS}{task_id}", f"{self.prefix}{INPUT_ORDER}{task_id}"

    def steps(self, task_id: str) -> str:
        return f"{self.prefix}{STEPS}{task_id}"

    def dedupe(self, key: str) -> str:
        return f"{self.prefix}{DEDUPE}{key}"

    def channel(self, task_id: str) -> str:
        return f"{self.prefix}{CHANGED}{task_id}"


def to_hash(record: TaskRecord) -> dict[str, str]:
    """A new task's hash: each field of record_to_json as JSON, and its expiry if any."""
    fields = {name: json.dumps(value) for name, value in record_to_json(record).items()}
    if record.expires_at is not None:
        fields[EXPIRES] = repr(record.expires_at)
    return fields


def from_hash(fields: Mapping[str, str]) -> TaskRecord | None:
    """The record a task hash holds (hidden `_` fields left out); None for no hash."""
    if not fields:
        return None
    data = {name: json.loads(value) for name, value in fields.items() if name[0] != "_"}
    return record_from_json(data)


def lease_score(lease_until: float | None) -> str:
    """A task's score in LEASES: a task with no lease sorts first, as lapsed."""
    return "-inf" if lease_until is None else repr(lease_until)


def expiry_member(task_id: str, owner: str | None) -> str:
    """A task's member of EXPIRY: enough to clean its owner's index once Redis expired it."""
    return json.dumps([task_id, owner])
