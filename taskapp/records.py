"""Internal task records, statuses and the rules for moving between them.

Stores persist these records, never wire models: the same record is shown to a
2025-11-25 client and (later) to a tasks-extension client, each by its own wire.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple


class TaskStatus(StrEnum):
    """Where a task is in its life. The values are the MCP wire values."""

    WORKING = "working"  # the function is running (every task starts here)
    INPUT_REQUIRED = "input_required"  # the function waits for an answer from the requestor
    COMPLETED = "completed"  # the function returned (a tool error is still "completed" here)
    FAILED = "failed"  # the request ended in a JSON-RPC error, or was interrupted
    CANCELLED = "cancelled"  # the requestor cancelled it; final even if the function finishes


#: The 2026-07-28 tasks extension (SEP-2663), as a client declares it in its capabilities:
#: the engine reads it from a record to know which dialect the task was created for.
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"

TERMINAL: frozenset[TaskStatus] = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
)


def is_terminal(status: TaskStatus) -> bool:
    return status in TERMINAL


def can_transition(current: TaskStatus, new: TaskStatus) -> bool:
    """The MCP task state machine (S-13): terminal states are final.

    Staying in the same non-terminal status is allowed: it is how a status
    message changes without a change of status.
    """
    if current in TERMINAL:
        return False
    return new in TERMINAL or new in (TaskStatus.WORKING, TaskStatus.INPUT_REQUIRED)


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a `tools/call` returned: a CallToolResult, neutral of any dialect."""

    content: list[dict[str, Any]]
    structured: dict[str, Any] | None = None
    is_error: bool = False
    meta: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ErrorOutcome:
    """A request that ended in a JSON-RPC error instead of a result."""

    code: int
    message: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class ResultOutcome:
    """Any other request's result, as JSON (e.g. a client-side elicitation task's answer)."""

    result: dict[str, Any]


Outcome = ToolOutcome | ErrorOutcome | ResultOutcome


def outcome_to_json(outcome: Outcome) -> dict[str, Any]:
    """A plain-JSON form of an outcome, for stores that serialise records."""
    if isinstance(outcome, ErrorOutcome):
        return {
            "kind": "error",
            "code": outcome.code,
            "message": outcome.message,
            "data": outcome.data,
        }
    if isinstance(outcome, ResultOutcome):
        return {"kind": "result", "result": outcome.result}
    return {
        "kind": "tool",
        "content": outcome.content,
        "structured": outcome.structured,
        "isError": outcome.is_error,
        "meta": outcome.meta,
    }


def outcome_from_json(data: dict[str, Any]) -> Outcome:
    if data.get("kind") == "error":
        return ErrorOutcome(
            code=int(data["code"]), message=str(data["message"]), data=data.get("data")
        )
    if data.get("kind") == "result":
        return ResultOutcome(result=dict(data["result"]))
    return ToolOutcome(
        content=list(data.get("content") or []),
        structured=data.get("structured"),
        is_error=bool(data.get("isError")),
        meta=data.get("meta"),
    )


# "Not given": the fresh-dict default of `arguments`, as dataclasses mark a default_factory.
_FRESH: Any = object()


@dataclass(frozen=True, slots=True, init=False)
class TaskRecord:
    """One task as a store keeps it.

    `version` grows by one with every change, so a waiter can ask for "anything
    newer than what I saw" without polling. `tool`, `arguments` and `owner` are
    kept so that a process can decide what to do with a task it finds after a
    crash, and so that listings can be scoped to who asked.
    """

    task_id: str
    status: TaskStatus
    created_at: float  # seconds since the epoch, UTC
    updated_at: float
    ttl_ms: int | None  # None: kept until deleted
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    poll_interval_ms: int | None = None
    status_message: str | None = None
    outcome: Outcome | None = None
    version: int = 0
    # What the requestor declared when it created the task (elicitation, sampling, ...):
    # whoever runs the task must know what it may ask of the client.
    client_capabilities: dict[str, Any] | None = None
    # Which engine runs the task, and until when it vouches for it. A task whose lease
    # has lapsed while it is not terminal was orphaned by a process that died.
    runner: str | None = None
    lease_until: float | None = None

    # The __init__ a frozen dataclass generates sets each field through
    # object.__setattr__, 1.6 us for these 15; stores build a record per row of a page
    # and per change. Writing each slot through its own descriptor, bound once below,
    # is twice as quick and still leaves the record frozen to everyone else.
    def __init__(
        self,
        task_id: str,
        status: TaskStatus,
        created_at: float,
        updated_at: float,
        ttl_ms: int | None,
        tool: str,
        arguments: dict[str, Any] = _FRESH,
        owner: str | None = None,
        poll_interval_ms: int | None = None,
        status_message: str | None = None,
        outcome: Outcome | None = None,
        version: int = 0,
        client_capabilities: dict[str, Any] | None = None,
        runner: str | None = None,
        lease_until: float | None = None,
    ) -> None:
        _set_task_id(self, task_id)
        _set_status(self, status)
        _set_created_at(self, created_at)
        _set_updated_at(self, updated_at)
        _set_ttl_ms(self, ttl_ms)
        _set_tool(self, tool)
        _set_arguments(self, {} if arguments is _FRESH else arguments)
        _set_owner(self, owner)
        _set_poll_interval_ms(self, poll_interval_ms)
        _set_status_message(self, status_message)
        _set_outcome(self, outcome)
        _set_version(self, version)
        _set_client_capabilities(self, client_capabilities)
        _set_runner(self, runner)
        _set_lease_until(self, lease_until)

    @property
    def expires_at(self) -> float | None:
        return None if self.ttl_ms is None else self.created_at + self.ttl_ms / 1000

    def is_expired(self, now: float) -> bool:
        expires_at = self.expires_at
        return expires_at is not None and now >= expires_at

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


# The slots' own setters, in field order (tests/test_memory_store.py checks the order).
(
    _set_task_id, _set_status, _set_created_at, _set_updated_at, _set_ttl_ms, _set_tool,
    _set_arguments, _set_owner, _set_poll_interval_ms, _set_status_message, _set_outcome,
    _set_version, _set_client_capabilities, _set_runner, _set_lease_until,
) = (getattr(TaskRecord, f.name).__set__ for f in dataclasses.fields(TaskRecord))  # fmt: skip


class NewTask(NamedTuple):
    """A task being created, before its record is built and stored: what the answer to its
    creation shows (`TaskEngine.begin`). Read like a TaskRecord by the wires."""

    task_id: str
    created_at: float
    ttl_ms: int | None
    poll_interval_ms: int | None
    status: TaskStatus = TaskStatus.WORKING
    status_message: str | None = None
    outcome: Outcome | None = None

    @property
    def updated_at(self) -> float:
        return self.created_at


class InvalidTransitionError(Exception):
    """A change that the task state machine does not allow (e.g. leaving a terminal state)."""

    def __init__(self, record: TaskRecord, new: TaskStatus) -> None:
        super().__init__(f"task {record.task_id} cannot go from {record.status} to {new}")
        self.record = record
        self.new = new


# "Leave this field as it is", for updates where None is a real value.
KEEP: Any = object()


def apply_update(
    record: TaskRecord,
    *,
    now: float,
    status: TaskStatus | None = None,
    status_message: str | None = KEEP,
    outcome: Outcome | None = None,
) -> TaskRecord:
    """The record after one change, or InvalidTransitionError. Pure: every store uses it."""
    new_status = record.status if status is None else status
    if not can_transition(record.status, new_status):
        raise InvalidTransitionError(record, new_status)
    return TaskRecord(
        record.task_id,
        new_status,
        record.created_at,
        now,  # updated_at
        record.ttl_ms,
        record.tool,
        record.arguments,
        record.owner,
        record.poll_interval_ms,
        record.status_message if status_message is KEEP else status_message,
        record.outcome if outcome is None else outcome,
        record.version + 1,
        record.client_capabilities,
        record.runner,
        record.lease_until,
    )


def record_to_json(record: TaskRecord) -> dict[str, Any]:
    return {
        "taskId": record.task_id,
        "status": record.status.value,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "ttlMs": record.ttl_ms,
        "tool": record.tool,
        "arguments": record.arguments,
        "owner": record.owner,
        "pollIntervalMs": record.poll_interval_ms,
        "statusMessage": record.status_message,
        "outcome": None if record.outcome is None else outcome_to_json(record.outcome),
        "version": record.version,
        "clientCapabilities": record.client_capabilities,
        "runner": record.runner,
        "leaseUntil": record.lease_until,
    }


def record_from_json(data: dict[str, Any]) -> TaskRecord:
    outcome = data.get("outcome")
    return TaskRecord(
        data["taskId"],
        TaskStatus(data["status"]),
        float(data["createdAt"]),
        float(data["updatedAt"]),
        data.get("ttlMs"),
        data["tool"],
        data.get("arguments") or {},
        data.get("owner"),
        data.get("pollIntervalMs"),
        data.get("statusMessage"),
        None if outcome is None else outcome_from_json(outcome),
        int(data.get("version", 0)),
        data.get("clientCapabilities"),
        data.get("runner"),
        data.get("leaseUntil"),
    )
