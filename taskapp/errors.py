"""Exceptions that users of taskapp raise or catch."""

from __future__ import annotations

from typing import Any


class TaskAppError(Exception):
    """Base class of every taskapp exception."""


class RegistrationError(TaskAppError, TypeError):
    """A function cannot become a tool; the message says how to fix it."""


class ToolError(TaskAppError):
    """Raise from a tool to end it with a tool execution error (`isError: true`).

    The message is shown to the client (and usually to its model) as is. Any
    other exception does the same, with its type name in front of its message;
    a failure of the task store under the tool's context calls does not (its text
    stays in the server log: docs/security.md, "Error messages").
    """


class ProtocolError(TaskAppError):
    """Raise from a tool to end the request with a JSON-RPC error instead of a result.

    Inside a task, the task ends `failed` and `tasks/result` returns this same
    error (S-29).
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class StepError(ToolError):
    """A misused `ctx.step`: a name used twice in one run, a result that is not JSON, or
    one over a limit. It ends the tool like a ToolError (never retried: it would recur)."""


class ReliabilityWarning(UserWarning):
    """A tool's reliability options that cannot do what they look like they do (e.g.
    steps in a tool that nothing ever runs again)."""


class ClientCapabilityError(ToolError):
    """The client did not declare a capability that a tool needs (elicitation, sampling)."""
