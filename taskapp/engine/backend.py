"""The context backend of a task run by the engine: status, progress, logs, questions
and steps. (The run of a tool as a task, attempts and all, is `attempts.py`.)"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Protocol

import anyio

from .. import _input
from ..context import LogLevel
from ..errors import TaskAppError
from ..records import KEEP, TaskRecord, TaskStatus
from ..stores.base import TaskStore
from . import invoke
from .config import EngineConfig, TaskObserver
from .hooks import EngineHooks
from .progress import ProgressStatus, shows_progress
from .steps import StepLog


class Engine(Protocol):
    """What a running task's context needs of the engine (`TaskEngine` is one)."""

    @property
    def store(self) -> TaskStore: ...

    @property
    def config(self) -> EngineConfig: ...

    @property
    def runner_id(self) -> str: ...

    def observer_of(self, task_id: str) -> TaskObserver | None: ...

    def is_running(self, task_id: str) -> bool: ...

    def soon(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None: ...

    @property
    def hooks(self) -> EngineHooks | None: ...

    async def set_status(
        self, task_id: str, *, status: TaskStatus | None = None, message: str | None = KEEP
    ) -> TaskRecord | None: ...


class Pausable(Protocol):
    """An attempt's time limit, which time spent waiting for the client does not use."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class TaskBackend:
    """What a running task's context reaches. One per task run (its attempts share it)."""

    __slots__ = ("_asking", "_engine", "_own_status", "_record", "_shown", "clock", "steps")

    def __init__(self, engine: Engine, record: TaskRecord) -> None:
        self._engine = engine
        self._record = record
        self._asking = 0
        # A 2026-07-28 task shows its progress as its status message (progress.py).
        self._shown = ProgressStatus(engine, record) if shows_progress(record) else None
        self._own_status = False  # the tool set a status: steps no longer show theirs
        config = engine.config
        limits = (config.max_step_bytes, config.max_steps)
        self.steps = StepLog(engine.store, record, engine.runner_id, limits)
        self.clock: Pausable | None = None  # the current attempt's, when it has a timeout

    @property
    def _task_id(self) -> str:
        return self._record.task_id

    async def update_status(self, message: str) -> None:
        self._own_status = True
        await self.show(message)

    async def show(self, message: str) -> None:
        """Show `message` as the task's status (the engine's own: a step, a retry)."""
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
        if self.clock is not None and self._asking == 1:
            self.clock.pause()  # waiting for the client is not the tool running
        try:
            with _store_failures():
                await store.push_input(self._task_id, key, {"method": method, "params": params})
                await self._engine.set_status(self._task_id, status=TaskStatus.INPUT_REQUIRED)
                hooks = self._engine.hooks
                with nullcontext() if hooks is None else hooks.waiting_input(self._record, method):
                    answer = await store.wait_input_answer(self._task_id, key, now=time.time())
        finally:
            self._asking -= 1
            if self.clock is not None and self._asking == 0:
                self.clock.resume()
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

    async def run_step(
        self, name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        hooks = self._engine.hooks
        if hooks is None:
            return await self.steps.run(name, fn, args, kwargs, self._show_step)
        with hooks.step(self._record, name):
            return await self.steps.run(name, fn, args, kwargs, self._show_step)

    async def _show_step(self, message: str) -> None:
        if not self._own_status:
            await self.show(message)


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
