"""Calling a tool function and turning whatever happens into an outcome."""

from __future__ import annotations

from typing import Any

import structlog

from ..context import TaskContext, _current
from ..errors import ProtocolError, ToolError
from ..records import ErrorOutcome, Outcome, ToolOutcome
from ..signature import ArgumentsError
from ..tools import ToolDef

log = structlog.get_logger("taskapp")


def text_error(message: str) -> ToolOutcome:
    return ToolOutcome(content=[{"type": "text", "text": message}], is_error=True)


def error_text(outcome: Outcome) -> str | None:
    """The message to show as a failed task's statusMessage (S-46)."""
    if isinstance(outcome, ErrorOutcome):
        return outcome.message
    if not isinstance(outcome, ToolOutcome) or not outcome.is_error:
        return None
    texts = [str(b.get("text", "")) for b in outcome.content if b.get("type") == "text"]
    return ("; ".join(texts) or "the tool reported an error")[:1000]


def prepare(tool: ToolDef, arguments: dict[str, Any] | None) -> dict[str, Any] | ToolOutcome:
    """Validated keyword arguments, or the tool error that invalid ones become.

    Invalid arguments are a tool execution error (`isError: true`), as the
    2025-11-25 tools page asks, so that a model can read the message and retry.
    """
    try:
        return tool.signature.validate_arguments(arguments)
    except ArgumentsError as exc:
        return text_error(str(exc))


async def invoke(tool: ToolDef, kwargs: dict[str, Any], ctx: TaskContext) -> Outcome:
    """Run the function. Exceptions become outcomes; cancellation propagates."""
    if tool.signature.context_param is not None:
        kwargs = {**kwargs, tool.signature.context_param: ctx}
    token = _current.set(ctx)
    try:
        value = await tool.fn(**kwargs)
        return tool.signature.to_outcome(value)
    except ProtocolError as exc:
        return ErrorOutcome(code=exc.code, message=exc.message, data=exc.data)
    except ToolError as exc:
        return text_error(str(exc))
    except Exception as exc:
        log.warning("tool raised", tool=tool.name, task_id=ctx.task_id, exc_info=exc)
        return text_error(f"{type(exc).__name__}: {exc}")
    finally:
        _current.reset(token)
