"""What the engine tells an onlooker of its own (metrics, traces): `EngineHooks`.

`taskapp.observe` implements it; the engine never imports that package. With no hooks
(the default) every call site is one `is None` test, and the store is not wrapped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from ..records import TaskRecord
from ..stores.base import TaskStore

#: The key under which a task's trace context travels in its `client_capabilities`,
#: which every store keeps with the record: a worker that adopts it continues the trace.
TRACE_KEY = "taskapp/trace"


class EngineHooks(Protocol):
    """Told of each task's life in this process. Calls must not block or raise."""

    def wrap_store(self, store: TaskStore) -> TaskStore:
        """The store the engine uses: a proxy that sees every write (tasks created, each
        end where it is written: once in a fleet) and times the operations."""
        ...

    def calling(
        self, tool: str, meta: Mapping[str, Any] | None
    ) -> AbstractContextManager[dict[str, str] | None]:
        """Around creating a task from a `tools/call` whose `_meta` is `meta`; gives the
        trace context to keep with the task (under TRACE_KEY), or None."""
        ...

    def inline(
        self, tool: str, meta: Mapping[str, Any] | None
    ) -> AbstractContextManager[Callable[[str], None]]:
        """Around a `tools/call` answered in its request (no task); gives the function
        that records how it ended: "completed", "tool_error" or "failed"."""
        ...

    def running(self, record: TaskRecord) -> AbstractContextManager[None]:
        """Around a run of the task's function here, its final write included."""
        ...

    def expired(self, record: TaskRecord) -> None:
        """The task's TTL ran out while its function ran here (it is deleted)."""
        ...

    def step(self, record: TaskRecord, name: str) -> AbstractContextManager[None]: ...

    def waiting_input(self, record: TaskRecord, method: str) -> AbstractContextManager[None]:
        """Around a task's wait for its client's answer (elicitation, sampling)."""
        ...


def with_trace(
    capabilities: dict[str, Any] | None, trace: dict[str, str] | None
) -> dict[str, Any] | None:
    """The capabilities to store with a task, its trace context added (never in place)."""
    if trace is None:
        return capabilities
    return {**(capabilities or {}), TRACE_KEY: trace}


def calling(
    hooks: EngineHooks | None, tool: str, meta: Mapping[str, Any] | None
) -> AbstractContextManager[dict[str, str] | None]:
    """`hooks.calling`, or nothing to do."""
    return nullcontext() if hooks is None else hooks.calling(tool, meta)


def _unobserved(ending: str) -> None:
    return None


def inline_call(
    hooks: EngineHooks | None, tool: str, meta: Mapping[str, Any] | None
) -> AbstractContextManager[Callable[[str], None]]:
    """`hooks.inline`, or nothing to do."""
    return nullcontext(_unobserved) if hooks is None else hooks.inline(tool, meta)


def traced(
    hooks: EngineHooks | None,
    tool: str,
    meta: Mapping[str, Any] | None,
    capabilities: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """`capabilities` with the trace context of a `tools/call` answered at once."""
    if hooks is None:
        return capabilities
    with hooks.calling(tool, meta) as trace:
        return with_trace(capabilities, trace)
