"""The context backend of a task run by the engine: status, progress, logs and questions;
and the run of a tool as a task (validate, give it a context, call it)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import anyio

from .. import _input
from ..context import LogLevel, TaskContext
from ..errors import TaskAppError
from ..records import KEEP, Outcome, TaskRecord, TaskStatus, ToolOutcome
from ..stores.base import TaskStore
from ..tools import ToolDef
from . import invoke
from .config import TaskObserver
from .progress import ProgressStatus, shows_progress


class Engine(Protocol):
    """What a running task's context needs of the engine (`TaskEngine` is one)."""

    @property
    def store(self) -> TaskStore: ...

    def observer_of(self, task_id: str) -> TaskObserver | None: ...

    def is_running(self, task_id: str) -> bool: ...

    def soon(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None: ...

    async def set_status(
        self, task_id: str, *, status: TaskStatus | None = None, message: str | None = KEEP
    ) -> TaskRecord | None: ...


class TaskBackend:
    """What a running task's context reaches. One per task run."""

    __slots__ = ("_asking", "_engine", "_record", "_shown")

    def __init__(self, engine: Engine, record: TaskRecord) -> None:
        self._engine = engine
        self._record = record
        self._asking = 0
        # A 2026-07-28 task shows its progress as its status message (progress.py).
        self._shown = ProgressStatus(engine, record) if shows_progress(record) else None

    @property
    def _task_id(self) -> str:
        return self._record.task_id

    async def update_status(self, message: str) -> None:
        with _store_failures():
            if self._shown is not None:
                await self._shown.status(message)
            else:
                await self._engine.set_status(self._task_id, message=message)

    async def report_progress(
        self, progress: float, total: float | None, message: str | None
    ) -> None:
        # Progress stops with the task (S-37): only a running task reports it.
        if not self._engine.is_running(self._task_id):
            await anyio.lowlevel.checkpoint()
            return
        observer = self._engine.observer_of(self._task_id)
        if observer is not None:
            observer.on_progress(self._task_id, progress, total, message)
        if self._shown is not None:
            with _store_failures():
                await self._shown.progress(progress, total, message)
        await anyio.lowlevel.checkpoint()

    async def settle(self) -> None:
        """The function has returned: write the progress still waiting to be shown."""
        if self._shown is not None:
            await self._shown.settle()

    async def log(self, level: LogLevel, data: Any, logger: str | None) -> None:
        observer = self._engine.observer_of(self._task_id)
        if observer is not None:
            observer.on_log(self._task_id, level, data, logger)
        await anyio.lowlevel.checkpoint()

    async def request_input(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Queue the question, move to `input_required` (S-15), wait for the answer.

        The question is delivered by whoever serves the requestor's `tasks/result`;
        cancelling the task cancels this wait and drops the question.
        """
        _input.require_capability(self._record.client_capabilities or {}, method, params)
        key = secrets.token_urlsafe(12)
        store = self._engine.store
        self._asking += 1
        try:
            with _store_failures():
                await store.push_input(self._task_id, key, {"method": method, "params": params})
                await self._engine.set_status(self._task_id, status=TaskStatus.INPUT_REQUIRED)
                answer = await store.wait_input_answer(self._task_id, key, now=time.time())
        finally:
            self._asking -= 1
        if answer is None:
            # Usually the task was cancelled or expired: its scope is cancelled, and this
            # checkpoint ends the function quietly. Otherwise the record vanished.
            await anyio.lowlevel.checkpoint()
            raise TaskAppError("the task ended while it waited for the client's answer")
        if self._asking == 0:  # S-18: all input is in, back to work
            with _store_failures():
                await self._engine.set_status(self._task_id, status=TaskStatus.WORKING)
        if "error" in answer:
            raise _input.refused(method, answer["error"])
        result: dict[str, Any] = answer.get("result") or {}
        return result


@contextmanager
def _store_failures() -> Iterator[None]:
    """A store's exception under a context call becomes `invoke.StoreFailure`, so that
    the task does not show it as the tool's error (cancellation passes through)."""
    try:
        yield
    except TaskAppError:
        raise
    except Exception as exc:
        raise invoke.StoreFailure("the task store failed") from exc


def tool_run(engine: Engine, tool: ToolDef) -> Callable[[TaskRecord], Awaitable[Outcome]]:
    """What the engine runs for a task of `tool`: its function, with a context of the task."""

    async def run(record: TaskRecord) -> Outcome:
        prepared = invoke.prepare(tool, record.arguments)
        if isinstance(prepared, ToolOutcome):
            return prepared
        backend = TaskBackend(engine, record)
        ctx = TaskContext(backend, tool_name=tool.name, task_id=record.task_id)
        outcome = await invoke.invoke(tool, prepared, ctx)
        await backend.settle()
        return outcome

    return run
