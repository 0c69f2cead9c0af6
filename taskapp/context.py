"""The context a tool receives: status, progress, logging, and questions to the client."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, Literal, ParamSpec, Protocol, TypeVar, cast, get_args, overload

import anyio
from pydantic import BaseModel

from . import _input

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")
P = ParamSpec("P")
LogLevel = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)  # RFC 5424's, lowest first


class ContextBackend(Protocol):
    """What a context forwards to: the task engine for tasks, the session for inline calls."""

    async def update_status(self, message: str) -> None: ...

    async def report_progress(
        self, progress: float, total: float | None, message: str | None
    ) -> None: ...

    async def log(self, level: LogLevel, data: Any, logger: str | None) -> None: ...

    async def request_input(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send `elicitation/create` or `sampling/createMessage`; return the client's result."""
        ...


class StepBackend(Protocol):
    """A backend that keeps steps (the engine's, for a task): runs a step once, or
    returns its stored result. A backend without `run_step` runs every step as it comes."""

    async def run_step(
        self, name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any: ...


async def call_step(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call a step's function: awaited when async, in a worker thread when not (a step is
    usually blocking I/O: a payment API, a deploy), so the event loop never waits on it."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    result = await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
    if inspect.isawaitable(result):  # a plain function that returned a coroutine
        return await result
    return result


@dataclass(frozen=True, slots=True)
class ElicitResult(Generic[ModelT]):
    """The user's answer: `action` is "accept", "decline" or "cancel"; `data` only on accept."""

    action: Literal["accept", "decline", "cancel"]
    data: ModelT | None = None


@dataclass(frozen=True, slots=True)
class UrlElicitResult:
    action: Literal["accept", "decline", "cancel"]


@dataclass(frozen=True, slots=True)
class SampleResult:
    """The client's model reply. `text` is empty when the reply is not text."""

    text: str
    model: str
    stop_reason: str | None
    role: str = "assistant"
    content: Any = None


@dataclass(frozen=True, slots=True)
class Root:
    """A directory or file the client lets the server work on (`roots/list`)."""

    uri: str  # a file:// URI
    name: str | None = None


class TaskContext:
    """Handed to a tool whose signature asks for it (by type, whatever the parameter's name).

    `task_id` is None when an optional tool runs inline (called without a task).
    """

    __slots__ = ("_backend", "task_id", "tool_name")

    def __init__(self, backend: ContextBackend, *, tool_name: str, task_id: str | None) -> None:
        self._backend = backend
        self.tool_name = tool_name
        self.task_id = task_id

    async def update_status(self, message: str) -> None:
        """Set the task's `statusMessage` (clients see it in `tasks/get` and notifications)."""
        await self._backend.update_status(message)

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Send `notifications/progress` to a client that asked for progress; else nothing."""
        await self._backend.report_progress(progress, total, message)

    async def log(self, message: Any, level: LogLevel = "info", logger: str | None = None) -> None:
        """Send a `notifications/message` log entry at or above the client's chosen level."""
        if level not in LOG_LEVELS:
            hint = " (the message comes first: ctx.log(message, level))"
            raise ValueError(
                f"ctx.log: unknown level {level!r}; use one of {', '.join(LOG_LEVELS)}"
                + (hint if message in LOG_LEVELS else "")
            )
        await self._backend.log(level, message, logger)

    @overload
    async def step(
        self, name: str, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    @overload
    async def step(
        self, name: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def step(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` once for this task, and keep its result.

        The result (JSON-serialisable) is stored in the task's store; when the task runs
        again (a retry, or a re-run after its process died with `on_interrupt="rerun"`), a
        finished step returns its stored result (as JSON gives it back: a tuple comes back
        a list) without running. At least once: a crash after `fn` returns but before its
        result is stored runs it again. A step that raises is not stored. `name` is
        unique within a task. A sync `fn` runs in a worker thread. Inline (no task), the
        function simply runs. See docs/reliable.md.
        """
        run_step = getattr(self._backend, "run_step", None)
        if run_step is None:
            return await call_step(fn, args, kwargs)
        return await cast("StepBackend", self._backend).run_step(name, fn, args, kwargs)

    async def continue_as_task(self) -> None:
        """Become a task now, if this call may: the client gets the task's handle and this
        run goes on as that task (`task_id` is set). It does nothing where no task may be
        returned (2025-11-25, a plain inline call) or where the run already is a task.

        Only a 2026-07-28 call of a tool registered with `inline_for` can be promoted; the
        code before this call may run again on each input round (docs/tools.md).
        """
        promote = getattr(self._backend, "continue_as_task", None)
        if promote is None:
            await anyio.lowlevel.checkpoint()
            return
        task_id = await promote()
        if task_id is not None:
            self.task_id = task_id

    async def elicit(self, message: str, schema: type[ModelT]) -> ElicitResult[ModelT]:
        """Ask the user for the fields of `schema`, a flat pydantic model.

        Inside a task the task moves to `input_required` until the answer comes.
        """
        params = {
            "mode": "form",
            "message": message,
            "requestedSchema": _input.elicit_schema(schema),
        }
        reply = await self._backend.request_input("elicitation/create", params)
        action = _input.elicit_action(reply)
        if action != "accept":
            return ElicitResult(action=action)
        return ElicitResult(action=action, data=_input.validate_content(schema, reply))

    async def elicit_url(self, message: str, url: str) -> UrlElicitResult:
        """Ask the user to visit `url` (URL-mode elicitation, for things a form must not carry)."""
        params = {
            "mode": "url",
            "message": message,
            "url": url,
            "elicitationId": _input.new_elicitation_id(),
        }
        reply = await self._backend.request_input("elicitation/create", params)
        return UrlElicitResult(action=_input.elicit_action(reply))

    async def sample(
        self,
        messages: str | Sequence[str | dict[str, Any]],
        *,
        max_tokens: int,
        system_prompt: str | None = None,
        temperature: float | None = None,
        stop_sequences: list[str] | None = None,
        model_preferences: dict[str, Any] | None = None,
    ) -> SampleResult:
        """Ask the client's model for a completion (`sampling/createMessage`)."""
        params = _input.sampling_params(
            messages,
            max_tokens=max_tokens,
            system_prompt=system_prompt,
            temperature=temperature,
            stop_sequences=stop_sequences,
            model_preferences=model_preferences,
        )
        reply = await self._backend.request_input("sampling/createMessage", params)
        return _sample_result(reply)

    async def list_roots(self) -> list[Root]:
        """Ask the client for its roots (`roots/list`): the directories or files it lets
        this server work on. Inside a task, as for `elicit`, the task waits for the answer."""
        reply = await self._backend.request_input("roots/list", {})
        return [Root(uri, name) for uri, name in _input.roots_of(reply)]


def _sample_result(reply: dict[str, Any]) -> SampleResult:
    """The client's `sampling/createMessage` answer, read into a SampleResult."""
    content = reply.get("content")
    blocks = content if isinstance(content, list) else [content]
    text = "".join(
        str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text"
    )
    return SampleResult(
        text=text,
        model=str(reply.get("model", "")),
        stop_reason=reply.get("stopReason"),
        role=str(reply.get("role", "assistant")),
        content=content,
    )


_current: ContextVar[TaskContext | None] = ContextVar("taskapp_context", default=None)


def current_context() -> TaskContext:
    """The context of the tool running in this task; for helpers deep in user code."""
    ctx = _current.get()
    if ctx is None:
        raise LookupError("current_context() was called outside a running taskapp tool")
    return ctx
