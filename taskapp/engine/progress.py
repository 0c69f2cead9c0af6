"""A 2026-07-28 task's progress shown as its `statusMessage`, with its writes coalesced.

A client of the tasks extension polls `tasks/get` and receives no progress notification,
so what the tool reports becomes the task's status message: the progress message, or
`n/total` without one, or `n` without a total; until the tool sets a status itself,
which holds until the next progress report. A 2025-11-25 task keeps its notifications
and its message (the backend does not build a `ProgressStatus` for it).

A tool may report thousands of steps a second, and each shown message is a store write:
one is written at once, the next no sooner than `WRITE_INTERVAL_S` after the last write
(the latest report of the interval wins, written when it elapses), a report that would
not change the shown message writes nothing, and the one still waiting is written
before the task ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import anyio

from .._logging import get_logger
from ..records import KEEP, TASKS_EXTENSION, TaskRecord, TaskStatus

log = get_logger("taskapp.engine")

#: At most one progress write per task in this many seconds.
WRITE_INTERVAL_S = 0.25


class Engine(Protocol):
    """What the shown progress needs of the engine (`TaskEngine` is one)."""

    def soon(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None: ...

    async def set_status(
        self, task_id: str, *, status: TaskStatus | None = None, message: str | None = KEEP
    ) -> TaskRecord | None: ...


def shows_progress(record: TaskRecord) -> bool:
    """Whether the task was created for a client of the tasks extension (2026-07-28):
    only such a request creates a task with the extension in its capabilities."""
    extensions = (record.client_capabilities or {}).get("extensions")
    return isinstance(extensions, dict) and isinstance(extensions.get(TASKS_EXTENSION), dict)


def progress_text(progress: float, total: float | None, message: str | None) -> str:
    """What a progress report shows: its message, else `n/total`, else `n`."""
    if message:
        return message
    shown = _number(progress)
    return shown if total is None else f"{shown}/{_number(total)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class ProgressStatus:
    """The status message of one task run: progress reports and `update_status`, in
    order, written through the engine no more often than the interval allows."""

    __slots__ = ("_engine", "_last_write", "_lock", "_pending", "_scheduled", "_shown", "_task_id")

    def __init__(self, engine: Engine, record: TaskRecord) -> None:
        self._engine = engine
        self._task_id = record.task_id
        self._shown = record.status_message  # what the store holds, as far as we know
        self._pending: str | None = None  # a report not written yet
        self._scheduled = False  # a deferred write is on its way
        self._last_write = -float("inf")
        self._lock = anyio.Lock()  # writes in the order their values were taken

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        text = progress_text(progress, total, message)
        self._pending = None if text == self._shown else text
        if self._pending is None:
            return
        wait = self._last_write + WRITE_INTERVAL_S - time.monotonic()
        if wait <= 0:
            await self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._engine.soon(lambda: self._flush_after(wait))

    async def status(self, message: str) -> None:
        """The tool's own status: written at once, and it replaces any waiting report."""
        async with self._lock:
            self._pending = None
            await self._write(message)

    async def flush(self) -> None:
        """Write the waiting report, if any."""
        async with self._lock:
            text, self._pending = self._pending, None
            if text is not None and text != self._shown:
                await self._write(text)

    async def _write(self, message: str) -> None:
        self._last_write = time.monotonic()
        self._shown = message
        await self._engine.set_status(self._task_id, message=message)

    async def settle(self) -> None:
        """Write the waiting report, if any; a store failure is logged, not raised: it
        must neither end the task's run nor the engine's task group."""
        try:
            await self.flush()
        except Exception as exc:
            log.warning("could not show a task's progress", task_id=self._task_id, exc_info=exc)

    async def _flush_after(self, wait: float) -> None:
        await anyio.sleep(wait)
        self._scheduled = False
        await self.settle()
