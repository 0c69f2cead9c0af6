"""The app the protocol tests drive, and checks of the 2025-11-25 wire shapes they share."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import anyio
import jsonschema  # no stubs in the venv

from taskapp import ProtocolError, TaskApp, TaskContext, ToolError

# The published 2025-11-25 JSON Schema, kept in the repo so the tests need nothing beside it.
SCHEMA_PATH = Path(__file__).parent / "spec" / "mcp-2025-11-25.schema.json"
RELATED_TASK = "io.modelcontextprotocol/related-task"
TASK_KEYS = {"taskId", "status", "createdAt", "lastUpdatedAt", "ttl", "pollInterval"}
# RFC 3339, UTC, with the "Z" suffix (S-20).
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
TERMINAL = {"completed", "failed", "cancelled"}
# b.4: the valid paths (a non-terminal status may repeat: only the statusMessage changed).
NEXT_STATUSES = {
    "working": {"working", "input_required", *TERMINAL},
    "input_required": {"working", "input_required", *TERMINAL},
}
ERROR_CODE = -32042


@dataclass
class Harness:
    """A fresh app per test, with the events its tools wait on (events belong to one loop)."""

    app: TaskApp
    release: anyio.Event = field(default_factory=anyio.Event)
    started: anyio.Event = field(default_factory=anyio.Event)
    returned: anyio.Event = field(default_factory=anyio.Event)
    cancelled: anyio.Event = field(default_factory=anyio.Event)
    calls: list[str] = field(default_factory=list)


def build(**config: Any) -> Harness:
    """An app with one tool per behaviour the checklist asks about; `config` goes to TaskApp."""
    app = TaskApp("protocol", version="9.9.9", **config)
    harness = Harness(app)

    @app.tool()
    async def plain(x: int) -> int:
        """An ordinary tool: taskSupport "forbidden"."""
        harness.calls.append("plain")
        return x * 2

    @app.task_tool(mode="required")
    async def required(x: int = 1) -> str:
        """Only as a task."""
        harness.calls.append("required")
        return f"required {x}"

    @app.task_tool(mode="optional")
    async def work(ctx: TaskContext, steps: int = 1, delay: float = 0.0) -> str:
        """Status and progress at every step."""
        harness.calls.append("work")
        for i in range(steps):
            await ctx.update_status(f"step {i + 1}/{steps}")
            await ctx.report_progress(i + 1, total=steps, message=f"step {i + 1}")
            await anyio.sleep(delay)
        return f"worked {steps}"

    @app.task_tool(mode="optional")
    async def gate(ctx: TaskContext) -> str:
        """Blocks until the test sets `release`; notes if it was cancelled."""
        harness.started.set()
        try:
            await harness.release.wait()
        except anyio.get_cancelled_exc_class():
            harness.cancelled.set()
            raise
        await ctx.update_status("released")
        return "released"

    @app.task_tool(mode="optional")
    async def stubborn(ctx: TaskContext) -> str:
        """Ignores cancellation, then reports progress and returns (S-42, S-37)."""
        harness.started.set()
        with anyio.CancelScope(shield=True):
            await harness.release.wait()
            await ctx.update_status("finished anyway")
            await ctx.report_progress(99, total=100)
            harness.returned.set()
        return "finished anyway"

    @app.task_tool(mode="optional")
    async def raises() -> str:
        """An unexpected exception."""
        raise ValueError("boom")

    @app.task_tool(mode="optional")
    async def tool_error() -> str:
        """A tool execution error (isError: true)."""
        raise ToolError("the tool says no")

    @app.task_tool(mode="optional")
    async def protocol_error() -> str:
        """A JSON-RPC error instead of a result (S-29)."""
        raise ProtocolError(ERROR_CODE, "custom failure", {"why": "testing"})

    return harness


# -- wire checks ---------------------------------------------------------------


def check_task(task: dict[str, Any]) -> None:
    """A flat Task as 2025-11-25 shows it: every required key, RFC 3339 UTC times (S-20, S-23)."""
    assert set(task) - {"statusMessage"} == TASK_KEYS, task
    assert isinstance(task["taskId"], str)
    assert task["status"] in {"working", "input_required", *TERMINAL}
    for key in ("createdAt", "lastUpdatedAt"):
        assert RFC3339_UTC.match(task[key]), task[key]
    assert parse_time(task["lastUpdatedAt"]) >= parse_time(task["createdAt"])
    assert task["ttl"] is None or isinstance(task["ttl"], int)
    assert isinstance(task["pollInterval"], int)
    schema_errors("Task", task, expect_none=True)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@cache
def _defs() -> dict[str, Any]:
    defs: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())["$defs"]
    jsonschema.Draft202012Validator.check_schema({"$defs": defs})  # once: it is slow
    return defs


@cache
def validator(def_name: str) -> jsonschema.Draft202012Validator:
    """A validator for one definition of the 2025-11-25 schema (refs resolve within $defs)."""
    defs = _defs()
    assert def_name in defs, f"no {def_name} in schema.json"
    return jsonschema.Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{def_name}"})


def schema_errors(def_name: str, instance: Any, *, expect_none: bool = False) -> list[str]:
    errors = [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator(def_name).iter_errors(instance)
    ]
    if expect_none:
        assert errors == [], f"{def_name}: {errors}"
    return errors


def _warm() -> None:
    """Build the validators at import: the first use is slow (hundreds of ms), and a test
    with a short TTL must not spend its task's lifetime waiting on it."""
    for name in ("Task", "CreateTaskResult", "GetTaskResult", "ListTasksResult",
                 "CancelTaskResult", "TaskStatusNotification", "CallToolResult",
                 "ProgressNotification", "InitializeResult", "ListToolsResult"):  # fmt: skip
        if name in _defs():
            validator(name).is_valid({})


_warm()
