"""The SQLite store's waiters: who waits on which task, and how a change wakes them.

A write through the store wakes its waiters at once. Other processes cannot notify
us, so while someone waits, one waiter (the watcher) checks `PRAGMA data_version`
every interval and asks which of the waited tasks changed; the others sleep.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio


class Changes:
    """The wake-ups of one SQLiteStore.

    Args:
        interval_s: How often the watcher looks for other processes' writes (read at
            each look, so a store's `watch_interval_s` may change).
        data_version: Reads `PRAGMA data_version` on the store's connection.
        versions: Reads the current version of each of these tasks (absent: gone).
    """

    def __init__(
        self,
        interval_s: Callable[[], float],
        data_version: Callable[[], Awaitable[int]],
        versions: Callable[[list[str]], Awaitable[dict[str, int]]],
    ) -> None:
        self._interval_s = interval_s
        self._read_data_version = data_version
        self._read_versions = versions
        self.data_version = 0  # the last value seen; the store sets it when it connects
        self._events: dict[str, anyio.Event] = {}  # task id -> woken when its record changes
        self._input_events: dict[str, anyio.Event] = {}  # task id -> woken on its input changes
        self._watching = False  # one waiter at a time looks for other processes' writes
        self._parked: dict[anyio.Event, int] = {}  # the other waiters' events (and how many)
        self._seen: dict[str, int] = {}  # task id -> the oldest version its waiters have read
        self._created: anyio.Event | None = None  # woken by a creation (or a foreign write)

    def event(self, task_id: str) -> anyio.Event:
        """The event a change of the task's record sets. Take it before reading the
        record, so that a write made meanwhile is not missed."""
        return self._events.setdefault(task_id, anyio.Event())

    def input_event(self, task_id: str) -> anyio.Event:
        """The event a change of the task's input requests sets (take it before reading)."""
        return self._input_events.setdefault(task_id, anyio.Event())

    def created_event(self) -> anyio.Event:
        """The event a creation sets (take it before reading the generation). Another
        process's creation is seen as a foreign write: any one sets it."""
        if self._created is None:
            self._created = anyio.Event()
        return self._created

    def saw(self, task_id: str, version: int) -> None:
        """A waiter read this version: only a foreign write of another one wakes it."""
        self._seen[task_id] = min(self._seen.get(task_id, version), version)

    async def until_change(self, event: anyio.Event, patience: float | None) -> None:
        """Sleep until `event` is set (by a write through this store, or because another
        connection wrote), or `patience` seconds pass.

        A watcher that leaves wakes one sleeper, which takes over.
        """
        if event.is_set():
            return
        with anyio.move_on_after(patience):
            if self._watching:
                self._parked[event] = self._parked.get(event, 0) + 1
                try:
                    await event.wait()
                finally:
                    if self._parked[event] == 1:
                        del self._parked[event]
                    else:
                        self._parked[event] -= 1
                return
            self._watching = True
            try:
                while not event.is_set():
                    with anyio.move_on_after(self._interval_s()):
                        await event.wait()
                    if not event.is_set():
                        await self._look_for_foreign_writes()
            finally:
                self._watching = False
                self._hand_over()

    async def _look_for_foreign_writes(self) -> None:
        """Wake the waiters of the tasks another connection changed (one query for all),
        and every waiter for an answer."""
        version = await self._read_data_version()
        if version == self.data_version:
            return
        self.data_version = version
        waited = {task_id: self._seen.get(task_id, -1) for task_id in self._events}
        current = await self._read_versions(list(waited)) if waited else {}
        for task_id, seen in waited.items():
            if current.get(task_id) != seen:  # changed, deleted, or not read yet
                self.wake(task_id)
        for task_id in list(self._input_events):
            self.wake_input(task_id)
        self.wake_created()  # it reads the generation again: perhaps a task was created

    def _hand_over(self) -> None:
        """Wake one sleeping waiter: it reads again, finds nothing new, and watches."""
        sleeper = next((e for e in self._parked if not e.is_set()), None)
        if sleeper is None:
            return
        for key in [k for k, e in self._events.items() if e is sleeper]:
            self.wake(key)  # removed as it is set: a set event is never handed out again
        for key in [k for k, e in self._input_events.items() if e is sleeper]:
            self.wake_input(key)
        if sleeper is self._created:
            self.wake_created()

    def wake(self, task_id: str) -> None:
        """Wake the waiters of the task's record and of its input requests."""
        self._seen.pop(task_id, None)
        event = self._events.pop(task_id, None)
        if event is not None:
            event.set()
        self.wake_input(task_id)

    def wake_input(self, task_id: str) -> None:
        event = self._input_events.pop(task_id, None)
        if event is not None:
            event.set()

    def wake_created(self) -> None:
        created, self._created = self._created, None
        if created is not None:
            created.set()

    def wake_all(self) -> None:
        for events in (self._events, self._input_events):
            for event in events.values():
                event.set()
            events.clear()
        self._seen.clear()
        self.wake_created()
