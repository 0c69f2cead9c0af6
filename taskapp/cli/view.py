"""What `taskapp call` shows on stderr while a tool runs: a live bar, or plain lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .common import err, error_console

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from ..wire.models import Task

_STATUS_WORDS = {"input_required": "waiting for your answer"}


class Feedback:
    """A progress bar with the status message on a terminal; one line per change otherwise.

    In 2026-07-28 a task reports its progress as its `statusMessage`, which is what
    the status shows while the task is working.

    Its methods are the Client's `progress_handler` and `status_handler`.
    """

    def __init__(self, tool: str, console: Console | None = None) -> None:
        self._tool = tool
        self._console = console or error_console()
        self._bar: Progress | None = None
        self._row: TaskID | None = None
        self._seen: tuple[str, str | None] | None = None
        self._status = ""

    @property
    def live(self) -> bool:
        return self._console.is_terminal

    def begin(self, task_id: str | None = None) -> None:
        """The call is under way (as task `task_id`, if it is one)."""
        if task_id is not None:
            self.started(task_id)
        if self.live:
            self._bar = _progress_bar(self._console)
            self._row = self._bar.add_task(self._tool, total=None, status="")
            self._bar.start()

    def started(self, task_id: str) -> None:
        """The server made the call task `task_id`."""
        self.note(f"task {task_id} started ({self._tool})")

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def note(self, text: str) -> None:
        if self.live:
            self._console.print(text, style="dim", markup=False, highlight=False, soft_wrap=True)
        else:
            err(text)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hide the bar while the terminal asks the user something."""
        bar = self._bar
        if bar is not None:
            bar.stop()
        try:
            yield
        finally:
            if bar is not None and self._bar is bar:
                bar.start()

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        if message:
            self._status = message
        if self._bar is not None and self._row is not None:
            self._bar.update(self._row, completed=progress, total=total, status=self._status)
        elif not self.live:
            done = f"{progress:g}/{total:g}" if total else f"{progress:g}"
            err(f"progress {done}" + (f": {message}" if message else ""))

    async def on_status(self, task: Task) -> None:
        seen = (task.status, task.status_message)
        if seen == self._seen:
            return
        self._seen = seen
        word = _STATUS_WORDS.get(task.status, task.status)
        self._status = (task.status_message or "") if task.status == "working" else word
        if self._bar is not None and self._row is not None:
            self._bar.update(self._row, status=self._status)
        elif not self.live:
            err(f"{task.status}: {task.status_message}" if task.status_message else task.status)


def _progress_bar(console: Console) -> Progress:
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False, style="bold"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}", markup=False),
        console=console,
        transient=True,
    )
