"""Typed 2025-11-25 results as a client reads them: snake_case here, camelCase on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Task(WireModel):
    """A task as `tasks/get`, `tasks/list`, `tasks/cancel` and status notifications show it."""

    task_id: str
    status: Literal["working", "input_required", "completed", "failed", "cancelled"]
    status_message: str | None = None
    created_at: datetime
    last_updated_at: datetime
    ttl: int | None
    poll_interval: int | None = None

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


class CreateTaskResult(WireModel):
    task: Task
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")


class ListTasksResult(WireModel):
    tasks: list[Task]
    next_cursor: str | None = None


class CallToolResult(WireModel):
    """What `tools/call` (or `tasks/result` for a tool call) returned."""

    content: list[dict[str, Any]] = Field(default_factory=list)
    structured_content: dict[str, Any] | None = None
    is_error: bool = False
    meta: dict[str, Any] | None = Field(default=None, alias="_meta")

    @property
    def text(self) -> str:
        """The text blocks of `content`, joined: handy in tests and scripts."""
        return "".join(str(b.get("text", "")) for b in self.content if b.get("type") == "text")


class ToolInfo(WireModel):
    name: str
    title: str | None = None
    description: str | None = None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    execution: dict[str, Any] | None = None

    @property
    def task_support(self) -> str:
        return str((self.execution or {}).get("taskSupport", "forbidden"))
