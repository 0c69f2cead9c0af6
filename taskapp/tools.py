"""Tool metadata (attached by decorators) and tool definitions (built at registration)."""

from __future__ import annotations

import inspect
import math
import re
import types
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

from . import _param_headers
from ._param_headers import HeaderParam
from .errors import RegistrationError, ReliabilityWarning
from .signature import ToolSignature, parse_signature

TaskMode = Literal["forbidden", "optional", "required"]
OnInterrupt = Literal["fail", "rerun"]
FnT = TypeVar("FnT", bound=Callable[..., Awaitable[Any]])

_ATTR = "__taskapp_tool__"
_NAME_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What a decorator says about a function; nothing is checked until registration."""

    mode: TaskMode = "forbidden"
    name: str | None = None
    title: str | None = None
    description: str | None = None
    on_interrupt: OnInterrupt = "fail"
    annotations: dict[str, Any] | None = None
    retries: int = 0
    retry_backoff: float = 1.0
    timeout: float | None = None
    dedupe_for: float | None = None
    #: Seconds a 2026-07-28 call runs in the request before it becomes a task (None: a task
    #: from the start); see docs/tools.md, "When a call becomes a task".
    inline_for: float | None = None


@dataclass(frozen=True, slots=True)
class ToolDef:
    """A registered tool: the function and everything the hot path needs, resolved once."""

    name: str
    fn: Callable[..., Awaitable[Any]]
    mode: TaskMode
    signature: ToolSignature
    title: str | None = None
    description: str | None = None
    on_interrupt: OnInterrupt = "fail"
    annotations: dict[str, Any] | None = None
    # Reliable tools (docs/reliable.md): runs again after an exception, an attempt's time
    # limit, and how long a repeated call returns the task that the first one started.
    retries: int = 0
    retry_backoff: float = 1.0
    timeout: float | None = None
    dedupe_for: float | None = None
    inline_for: float | None = None
    # Parameters mirrored into Mcp-Param-* headers over 2026-07-28 HTTP (_param_headers).
    header_params: tuple[HeaderParam, ...] = ()


def task_tool(
    *,
    mode: Literal["optional", "required"] = "optional",
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    on_interrupt: OnInterrupt = "fail",
    annotations: dict[str, Any] | None = None,
    retries: int = 0,
    retry_backoff: float = 1.0,
    timeout: float | None = None,
    dedupe_for: float | None = None,
    inline_for: float | None = None,
) -> Callable[[FnT], FnT]:
    """Mark a function as a tool that runs as an MCP task; register it with `app.add_tool`.

    The function is returned unchanged, so it stays directly awaitable in a test.
    `retries`, `retry_backoff`, `timeout` and `dedupe_for`: see `TaskApp.task_tool`.
    """
    spec = ToolSpec(
        mode=mode,
        name=name,
        title=title,
        description=description,
        on_interrupt=on_interrupt,
        annotations=annotations,
        retries=retries,
        retry_backoff=retry_backoff,
        timeout=timeout,
        dedupe_for=dedupe_for,
        inline_for=inline_for,
    )

    def mark(fn: FnT) -> FnT:
        setattr(fn, _ATTR, spec)
        return fn

    return mark


def spec_of(fn: Callable[..., Any]) -> ToolSpec | None:
    spec = getattr(fn, _ATTR, None)
    return spec if isinstance(spec, ToolSpec) else None


def build_tool(fn: Callable[..., Awaitable[Any]], spec: ToolSpec) -> ToolDef:
    """Check a function and its spec, and resolve its signature. Misuse raises RegistrationError."""
    where = getattr(fn, "__qualname__", repr(fn))
    if spec.mode not in get_args(TaskMode):
        raise RegistrationError(
            f"{where}: unknown task mode {spec.mode!r}; use mode='required' (only as a task), "
            "mode='optional' (as a task or inline), or @app.tool() for an ordinary tool"
        )
    if spec.on_interrupt not in get_args(OnInterrupt):
        raise RegistrationError(
            f"{where}: unknown on_interrupt {spec.on_interrupt!r}; use 'fail' or 'rerun'"
        )
    _check_inline_for(where, spec)
    if not inspect.iscoroutinefunction(fn):
        raise RegistrationError(
            f"{where} is not a coroutine function: taskapp tools must be `async def`; "
            "for blocking work, call it with `await anyio.to_thread.run_sync(...)` inside one"
        )
    _check_reliability(where, fn, spec)
    name = spec.name or fn.__name__
    if not _NAME_RE.match(name):
        raise RegistrationError(
            f"{where}: tool name {name!r} is not valid: "
            "use 1 to 128 letters, digits, '_', '-' or '.'"
        )
    signature = parse_signature(fn, tool_name=name)
    try:
        header_params = _param_headers.header_params(signature.input_schema)
    except ValueError as exc:
        raise RegistrationError(f"{where}: {exc} (SEP-2243)") from None
    return ToolDef(
        name=name,
        fn=fn,
        mode=spec.mode,
        signature=signature,
        title=spec.title,
        description=spec.description or signature.description,
        on_interrupt=spec.on_interrupt,
        annotations=spec.annotations,
        retries=spec.retries,
        retry_backoff=spec.retry_backoff,
        timeout=spec.timeout,
        dedupe_for=spec.dedupe_for,
        inline_for=None if spec.inline_for is None else float(spec.inline_for),
        header_params=header_params,
    )


def _check_reliability(where: str, fn: Callable[..., Any], spec: ToolSpec) -> None:
    """Refuse reliability options out of range; warn about steps that buy nothing."""
    reliable = (spec.retries, spec.timeout, spec.dedupe_for) != (0, None, None)
    if spec.mode == "forbidden" and reliable:
        raise RegistrationError(
            f"{where}: retries, timeout and dedupe_for apply to tasks; register the tool "
            "with @app.task_tool(...) to use them"
        )
    if isinstance(spec.retries, bool) or not isinstance(spec.retries, int) or spec.retries < 0:
        raise RegistrationError(
            f"{where}: retries must be a whole number >= 0, not {spec.retries!r}"
        )
    for option in ("retry_backoff", "timeout", "dedupe_for"):
        value = getattr(spec, option)
        least = 0.0 if option == "retry_backoff" else math.ulp(0.0)
        if value is None and option != "retry_backoff":
            continue
        if not isinstance(value, int | float) or not math.isfinite(value) or value < least:
            what = ">= 0" if option == "retry_backoff" else "> 0 (or None: off)"
            raise RegistrationError(
                f"{where}: {option} must be a number of seconds {what}, not {value!r}"
            )
    if spec.on_interrupt == "fail" and spec.retries == 0 and _uses_steps(fn):
        warnings.warn_explicit(
            f"{where} uses ctx.step, but nothing ever runs it again: with on_interrupt='fail' "
            "and no retries a step's stored result is never read. Add on_interrupt='rerun' "
            "(run again after a crash) or retries=N, or drop the steps",
            ReliabilityWarning,
            *_where_defined(fn),
        )


def _where_defined(fn: Callable[..., Any]) -> tuple[str, int]:
    """The file and line of the function, where a warning about it points."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if isinstance(code, types.CodeType):
        return code.co_filename, code.co_firstlineno
    return "<unknown>", 0


def _uses_steps(fn: Callable[..., Any]) -> bool:
    """Whether the function's code (or code nested in it) reads an attribute `step`: a
    registration-time guess, which misses steps taken in helpers it calls."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    pending = [code] if isinstance(code, types.CodeType) else []
    while pending:
        code = pending.pop()
        if "step" in code.co_names:
            return True
        pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return False


def _check_inline_for(where: str, spec: ToolSpec) -> None:
    value = spec.inline_for
    if value is None:
        return
    if spec.mode == "forbidden":
        raise RegistrationError(
            f"{where}: inline_for is for task tools; use @app.task_tool(inline_for=...)"
        )
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise RegistrationError(
            f"{where}: inline_for must be a number of seconds (math.inf: until the tool "
            f"calls ctx.continue_as_task()), not {value!r}"
        )
    if value < 0:
        raise RegistrationError(f"{where}: inline_for must be 0 or more seconds, not {value!r}")
