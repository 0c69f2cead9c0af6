"""MCP 2025-11-25 wire shapes: request params as pydantic models, results as plain JSON.

Results are built straight from internal records, so that nothing internal leaks
onto the wire and nothing of the wire leaks into stores.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ..records import ErrorOutcome, NewTask, TaskRecord, TaskStatus, ToolOutcome
from ..tools import ToolDef
from .jsonrpc import INVALID_PARAMS, JsonRpcError

LATEST = "2025-11-25"
SUPPORTED_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
RELATED_TASK = "io.modelcontextprotocol/related-task"

LoggingLevel = Literal[
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"
]
LOG_LEVELS: tuple[str, ...] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)


ModelT = TypeVar("ModelT", bound=BaseModel)


class _Params(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class InitializeParams(_Params):
    protocol_version: StrictStr = Field(alias="protocolVersion")
    capabilities: dict[str, Any] = Field(default_factory=dict)
    client_info: dict[str, Any] = Field(default_factory=dict, alias="clientInfo")


class TaskMetadata(_Params):
    ttl: StrictInt | None = Field(default=None, ge=0)


class RequestMeta(_Params):
    progress_token: StrictStr | StrictInt | None = Field(default=None, alias="progressToken")


class CallToolParams(_Params):
    name: StrictStr
    arguments: dict[str, Any] | None = None
    task: TaskMetadata | None = None
    meta: RequestMeta | None = Field(default=None, alias="_meta")


class TaskIdParams(_Params):
    task_id: StrictStr = Field(alias="taskId")


class CursorParams(_Params):
    cursor: StrictStr | None = None


class SetLevelParams(_Params):
    level: LoggingLevel


def parse(model: type[ModelT], params: dict[str, Any]) -> ModelT:
    """Validate params, or raise -32602 with a message that names what was wrong."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: {problems}") from None


def task_not_found(task_id: str, *, expired: bool = False) -> JsonRpcError:
    """The error for a task that is missing, expired or another requestor's (S-47), in
    both dialects: they must not tell the three apart."""
    reason = "Task has expired" if expired else "Task not found"
    return JsonRpcError(INVALID_PARAMS, f"Failed to retrieve task: {reason} ({task_id})")


def task_id_of(params: dict[str, Any]) -> str:
    """The `taskId` of tasks/get, tasks/result or tasks/cancel params, as TaskIdParams
    reads it. A string, which is what clients send, is taken as it is (this runs on every
    poll); anything else goes through the model, which words the error."""
    task_id = params.get("taskId")
    if type(task_id) is str:
        return task_id
    return parse(TaskIdParams, params).task_id


@lru_cache(maxsize=8192)  # a task's createdAt is shown again and again
def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. 2026-11-21T10:00:00.123Z (S-20)."""
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def wire_status(record: TaskRecord | NewTask) -> str:
    """2025-11-25 shows a tool error as `failed` (S-14); internally it is a completed call."""
    outcome = record.outcome
    if (
        record.status is TaskStatus.COMPLETED
        and isinstance(outcome, ToolOutcome)
        and outcome.is_error
    ):
        return TaskStatus.FAILED.value
    return record.status.value


def task_json(record: TaskRecord | NewTask) -> dict[str, Any]:
    task: dict[str, Any] = {
        "taskId": record.task_id,
        "status": wire_status(record),
        "createdAt": timestamp(record.created_at),
        "lastUpdatedAt": timestamp(record.updated_at),
        "ttl": record.ttl_ms,
    }
    if record.status_message is not None:
        task["statusMessage"] = record.status_message
    if record.poll_interval_ms is not None:
        task["pollInterval"] = record.poll_interval_ms
    return task


def related(task_id: str) -> dict[str, Any]:
    return {RELATED_TASK: {"taskId": task_id}}


def call_tool_result(outcome: ToolOutcome, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"content": outcome.content}
    if outcome.structured is not None:
        result["structuredContent"] = outcome.structured
    if outcome.is_error:
        result["isError"] = True
    merged = {**(outcome.meta or {}), **(meta or {})}
    if merged:
        result["_meta"] = merged
    return result


def error_of(outcome: ErrorOutcome) -> JsonRpcError:
    return JsonRpcError(outcome.code, outcome.message, outcome.data)


def tool_json(tool: ToolDef, *, with_tasks: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"name": tool.name}
    if tool.title:
        data["title"] = tool.title
    if tool.description:
        data["description"] = tool.description
    data["inputSchema"] = tool.signature.input_schema
    if tool.signature.output_schema is not None:
        data["outputSchema"] = tool.signature.output_schema
    if tool.annotations:
        data["annotations"] = tool.annotations
    if with_tasks:
        data["execution"] = {"taskSupport": tool.mode}
    return data
