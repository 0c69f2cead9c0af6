"""The run of a tool as a task: validate, give it a context, and call it, attempt by attempt.

An attempt that raises an exception of the tool's own (not a `ToolError`) or runs past
the tool's `timeout` is retried while `retries` allow, after a backoff; a finished
`ctx.step` is not run again. Cancelling the task, or its TTL running out, cancels the
backoff like anything else the task does (it runs in the task's cancel scope).
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable

import anyio

from .._logging import get_logger
from ..context import TaskContext
from ..records import Outcome, TaskRecord, ToolOutcome
from ..tools import ToolDef
from . import invoke
from .backend import Engine, TaskBackend

log = get_logger("taskapp.engine")

#: The longest wait between two attempts, whatever the backoff grows to.
MAX_BACKOFF_S = 600.0
_JITTER = 0.25  # each wait is its exponential value, +-25%, so retries of many tasks spread


class Clock:
    """An attempt's time limit: a cancel scope whose deadline stops while the task waits
    for its client (`input_required` time does not count against `timeout`)."""

    __slots__ = ("_left", "scope")

    def __init__(self, timeout: float) -> None:
        self.scope = anyio.CancelScope(deadline=anyio.current_time() + timeout)
        self._left = timeout

    def pause(self) -> None:
        self._left = max(0.0, self.scope.deadline - anyio.current_time())
        self.scope.deadline = math.inf

    def resume(self) -> None:
        self.scope.deadline = anyio.current_time() + self._left


def backoff(base: float, retry: int) -> float:
    """Seconds to wait before retry number `retry` (1, 2, ...): base x 2^(retry-1), +-25%."""
    delay: float = min(base * 2.0 ** (retry - 1), MAX_BACKOFF_S)
    return delay * random.uniform(1 - _JITTER, 1 + _JITTER)


def seconds(value: float) -> str:
    """A wait as a status shows it: whole seconds from 10 s, else two significant digits."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def tool_run(engine: Engine, tool: ToolDef) -> Callable[[TaskRecord], Awaitable[Outcome]]:
    """What the engine runs for a task of `tool`: its function, with a context of the task,
    as many times as its `retries` allow."""

    async def run(record: TaskRecord) -> Outcome:
        prepared = invoke.prepare(tool, record.arguments)
        if isinstance(prepared, ToolOutcome):
            return prepared
        backend = TaskBackend(engine, record)
        ctx = TaskContext(backend, tool_name=tool.name, task_id=record.task_id)
        return await run_attempts(tool, prepared, ctx, backend)

    return run


async def run_attempts(
    tool: ToolDef,
    prepared: dict[str, object],
    ctx: TaskContext,
    backend: TaskBackend,
    *,
    first: tuple[Outcome, bool] | None = None,
) -> Outcome:
    """Attempts until one needs no retry or `retries` are spent; `first` is the outcome of
    an attempt already made (a call promoted to a task while it ran: `sessions/promote`)."""
    retry = 0
    result = first if first is not None else await _attempt(tool, prepared, ctx, backend, 0)
    while True:
        outcome, retryable = result
        if not retryable or retry >= tool.retries:
            break
        retry += 1
        delay = backoff(tool.retry_backoff, retry)
        error = (invoke.error_text(outcome) or "")[:200]
        log.info("tool attempt failed; retrying", task_id=ctx.task_id, retry=retry)
        await backend.show(f"retry {retry} of {tool.retries} in {seconds(delay)} s: {error}")
        await anyio.sleep(delay)
        result = await _attempt(tool, prepared, ctx, backend, retry)
    await backend.settle()
    return outcome


def timed_out(tool: ToolDef, task_id: str | None, retry: int) -> Outcome:
    """The outcome of an attempt stopped by the tool's `timeout`."""
    assert tool.timeout is not None
    attempt = f" (attempt {retry + 1})" if tool.retries else ""
    message = f"Timed out: the tool ran longer than its timeout of {tool.timeout:g} s{attempt}"
    log.warning("tool timed out", tool=tool.name, task_id=task_id, retry=retry)
    return invoke.text_error(message)


async def _attempt(
    tool: ToolDef, kwargs: dict[str, object], ctx: TaskContext, backend: TaskBackend, retry: int
) -> tuple[Outcome, bool]:
    """One call of the function, within its timeout: its outcome, and whether to retry."""
    backend.steps.begin_attempt()
    if tool.timeout is None:
        return await invoke.attempt(tool, kwargs, ctx)
    clock = backend.clock = Clock(tool.timeout)
    try:
        with clock.scope:
            return await invoke.attempt(tool, kwargs, ctx)
    finally:
        backend.clock = None
    # Only our own deadline ends up here: a cancel of the task propagates past the scope.
    return timed_out(tool, ctx.task_id, retry), True
