"""Calling a tool function and turning whatever happens into an outcome."""

from __future__ import annotations

from typing import Any

from .._logging import get_logger, internal_error
from ..context import TaskContext, _current
from ..errors import ProtocolError, ToolError
from ..records import ErrorOutcome, Outcome, ToolOutcome
from ..signature import ArgumentsError
from ..tools import ToolDef
from .config import INTERNAL_ERROR

log = get_logger("taskapp")


class StoreFailure(Exception):
    """The task store failed under a tool's context call (status, a question).

    Not the tool's error: the task ends with a JSON-RPC internal error whose message
    names only an error id (`_logging.internal_error`); the store's own text, which may
    carry its host and port, stays in the server log.
    """


class Superseded(Exception):
    """Another engine adopted the task (this one's lease lapsed) or it ended, as a step's
    fenced write found (`engine/steps.py`): this run stops and records nothing."""


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
    outcome, _ = await attempt(tool, kwargs, ctx)
    return outcome


async def attempt(tool: ToolDef, kwargs: dict[str, Any], ctx: TaskContext) -> tuple[Outcome, bool]:
    """Run the function once: its outcome, and whether running it again may help (it
    raised an exception of its own, not a ToolError, ProtocolError or store failure).
    Cancellation and `Superseded` propagate."""
    if tool.signature.context_param is not None:
        kwargs = {**kwargs, tool.signature.context_param: ctx}
    token = _current.set(ctx)
    try:
        value = await tool.fn(**kwargs)
        return tool.signature.to_outcome(value), False
    except Superseded:
        raise
    except ProtocolError as exc:
        return ErrorOutcome(code=exc.code, message=exc.message, data=exc.data), False
    except ToolError as exc:
        return text_error(str(exc)), False
    except StoreFailure as exc:
        message = internal_error(
            exc.__cause__ or exc,
            "task store failed under a tool",
            tool=tool.name,
            task_id=ctx.task_id,
        )
        return ErrorOutcome(code=INTERNAL_ERROR, message=message), False
    except Exception as exc:  # the tool's own: its text is the tool's business (docs/security.md)
        log.warning("tool raised", tool=tool.name, task_id=ctx.task_id, exc_info=exc)
        return text_error(f"{type(exc).__name__}: {exc}"), True
    finally:
        _current.reset(token)
