"""MCP 2026-07-28 wire shapes, with the `io.modelcontextprotocol/tasks` extension.

The modern dialect is stateless: every request carries its protocol version and the
client's capabilities in `_meta`, every result says what it is with `resultType`, and
tasks are an extension the client declares per request. Like `mcp2025`, results are
built straight from internal records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..records import TASKS_EXTENSION as TASKS_EXTENSION
from ..records import ErrorOutcome, TaskRecord, TaskStatus, ToolOutcome
from . import mcp2025
from .jsonrpc import INVALID_PARAMS, JsonRpcError

VERSION = "2026-07-28"
MODERN_VERSIONS: tuple[str, ...] = (VERSION,)
#: Every version a dual-era taskapp server speaks, newest first.
ALL_VERSIONS: tuple[str, ...] = (*MODERN_VERSIONS, *mcp2025.SUPPORTED_VERSIONS)

PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
#: The body field the `Mcp-Name` header mirrors, per method (streamable-http "Standard
#: Request Headers"; the tasks extension's "Streamable HTTP: Routing Headers").
NAME_SOURCES = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    "tasks/get": "taskId",
    "tasks/update": "taskId",
    "tasks/cancel": "taskId",
}
CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
LOG_LEVEL = "io.modelcontextprotocol/logLevel"
SERVER_INFO = "io.modelcontextprotocol/serverInfo"
SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"

HEADER_MISMATCH = -32020
MISSING_CAPABILITY = -32021
UNSUPPORTED_VERSION = -32022


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a modern request says about itself in `_meta`."""

    version: str
    capabilities: dict[str, Any]
    client_info: dict[str, Any]
    log_level: str | None
    progress_token: str | int | None

    @property
    def takes_tasks(self) -> bool:
        """Whether the client declared the tasks extension on this request."""
        return declares_tasks(self.capabilities)


def has_envelope(params: dict[str, Any] | None) -> bool:
    """A request in the modern dialect: its `_meta` names a protocol version.

    The key's prefix is reserved, so no 2025-11-25 request carries it (theirs carry
    `progressToken` in `_meta`, which proves nothing).
    """
    meta = params.get("_meta") if params else None
    return isinstance(meta, dict) and PROTOCOL_VERSION in meta


def envelope(params: dict[str, Any]) -> Envelope:
    """Read and check the per-request fields; -32602 when one is missing or malformed,
    -32022 when the version is not one this server speaks in the modern dialect."""
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: _meta is required in 2026-07-28")
    version = meta.get(PROTOCOL_VERSION)
    if not isinstance(version, str):
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: _meta.{PROTOCOL_VERSION} is required")
    if version not in MODERN_VERSIONS:
        raise unsupported_version(version, ALL_VERSIONS)
    capabilities = meta.get(CLIENT_CAPABILITIES)
    if not isinstance(capabilities, dict):
        raise JsonRpcError(
            INVALID_PARAMS, f"Invalid params: _meta.{CLIENT_CAPABILITIES} is required (an object)"
        )
    client_info = meta.get(CLIENT_INFO)
    level = meta.get(LOG_LEVEL)
    if level is not None and level not in mcp2025.LOG_LEVELS:
        raise JsonRpcError(
            INVALID_PARAMS,
            f"Invalid params: _meta.{LOG_LEVEL} must be one of {', '.join(mcp2025.LOG_LEVELS)}",
        )
    token = meta.get("progressToken")
    if isinstance(token, bool) or not isinstance(token, (str, int)):
        token = None
    return Envelope(
        version=version,
        capabilities=capabilities,
        client_info=client_info if isinstance(client_info, dict) else {},
        log_level=level,
        progress_token=token,
    )


def declares_tasks(capabilities: dict[str, Any]) -> bool:
    extensions = capabilities.get("extensions")
    return isinstance(extensions, dict) and isinstance(extensions.get(TASKS_EXTENSION), dict)


def unsupported_version(requested: str, supported: tuple[str, ...]) -> JsonRpcError:
    return JsonRpcError(
        UNSUPPORTED_VERSION,
        "Unsupported protocol version",
        {"supported": list(supported), "requested": requested},
    )


def missing_tasks_extension(why: str) -> JsonRpcError:
    """-32021 naming the tasks extension as the capability the client must declare."""
    return JsonRpcError(
        MISSING_CAPABILITY,
        f"Missing required client capability: {why}",
        {"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
    )


def stamped(result: dict[str, Any], server_info: dict[str, Any]) -> dict[str, Any]:
    """A result as sent: `resultType` ("complete" unless it says otherwise: "task",
    "input_required"), and who answered in `_meta`."""
    meta = {**(result.get("_meta") or {}), SERVER_INFO: server_info}
    return {"resultType": "complete", **result, "_meta": meta}


# -- tasks --------------------------------------------------------------------------


def wire_status(record: TaskRecord) -> str:
    """In the extension a tool error is `completed` (with `isError`); `failed` is kept for
    JSON-RPC errors. That is also how taskapp stores them."""
    return record.status.value


def task_json(record: TaskRecord) -> dict[str, Any]:
    task: dict[str, Any] = {
        "taskId": record.task_id,
        "status": wire_status(record),
        "createdAt": mcp2025.timestamp(record.created_at),
        "lastUpdatedAt": mcp2025.timestamp(record.updated_at),
        "ttlMs": record.ttl_ms,
    }
    if record.status_message is not None:
        task["statusMessage"] = record.status_message
    if record.poll_interval_ms is not None:
        task["pollIntervalMs"] = record.poll_interval_ms
    return task


def create_task_result(record: TaskRecord, server_info: dict[str, Any]) -> dict[str, Any]:
    """The flat `CreateTaskResult`: the task itself, with `resultType: "task"`."""
    return {**task_json(record), "resultType": "task", "_meta": {SERVER_INFO: server_info}}


def detailed_task(
    record: TaskRecord, input_requests: dict[str, dict[str, Any]] | None
) -> dict[str, Any]:
    """The `DetailedTask` of `tasks/get` and `notifications/tasks`: the task, plus its open
    questions while `input_required`, its result when `completed`, its error when `failed`."""
    task = task_json(record)
    outcome = record.outcome
    if record.status is TaskStatus.INPUT_REQUIRED:
        task["inputRequests"] = dict(input_requests or {})
    elif record.status is TaskStatus.COMPLETED:
        if isinstance(outcome, ToolOutcome):
            task["result"] = mcp2025.call_tool_result(outcome)
        elif outcome is not None and not isinstance(outcome, ErrorOutcome):
            task["result"] = dict(outcome.result)
    elif record.status is TaskStatus.FAILED:
        if isinstance(outcome, ErrorOutcome):
            task["error"] = mcp2025.error_of(outcome).to_json()
        else:  # a failure stored without its error (an older record): still an error object
            message = record.status_message or "the task failed"
            task["error"] = {"code": -32603, "message": message}
    return task
