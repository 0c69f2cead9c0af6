"""Who hears about which task: the observers the engine tells of status changes."""

from __future__ import annotations

from ..records import TaskRecord
from .config import TaskObserver


class Observers:
    """One observer per task at most; dropped when the task ends or its client goes."""

    __slots__ = ("_by_task",)

    def __init__(self) -> None:
        self._by_task: dict[str, TaskObserver] = {}

    def add(self, task_id: str, observer: TaskObserver) -> None:
        self._by_task[task_id] = observer

    def of(self, task_id: str) -> TaskObserver | None:
        return self._by_task.get(task_id)

    def drop(self, task_id: str) -> None:
        self._by_task.pop(task_id, None)

    def detach(self, observer: TaskObserver) -> None:
        """Forget `observer` (its client has gone); its tasks go on."""
        for task_id in [t for t, o in self._by_task.items() if o is observer]:
            del self._by_task[task_id]

    def emit(self, record: TaskRecord) -> None:
        """Tell the task's observer of its new state; an ended task has none after this."""
        observer = self._by_task.get(record.task_id)
        if record.terminal:
            self._by_task.pop(record.task_id, None)
        if observer is not None:
            observer.on_status(record)
