"""A task's steps (`ctx.step`): run once, their results kept in the store, skipped on a re-run.

A step's result is written only by the task's current runner (`TaskStore.save_step`):
a process whose task another engine adopted, because its lease lapsed, is fenced out,
and its run stops there (`Superseded`) without writing anything more.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .._logging import get_logger
from ..context import call_step
from ..errors import StepError
from ..records import TaskRecord
from ..stores.base import TaskStore
from .invoke import StoreFailure, Superseded

log = get_logger("taskapp.engine")

#: The largest result a step may store, as JSON (UTF-8), unless the app says otherwise.
MAX_STEP_BYTES = 1_048_576
#: The most steps one task may store, unless the app says otherwise.
MAX_STEPS = 1000


class StepLog:
    """The steps of one task run in this process: loaded once, each stored as it finishes.

    `begin_attempt` starts a run of the function (a retry too): within one, each name
    may be used once; across them, a finished name returns its stored result.
    """

    __slots__ = ("_done", "_limits", "_record", "_runner", "_seen", "_store")

    def __init__(
        self, store: TaskStore, record: TaskRecord, runner: str, limits: tuple[int, int]
    ) -> None:
        self._store = store
        self._record = record
        self._runner = runner
        self._limits = limits  # (max bytes of a result, max steps of a task)
        self._done: dict[str, str] | None = None
        self._seen: set[str] = set()

    def begin_attempt(self) -> None:
        self._seen.clear()

    async def run(
        self,
        name: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        show: Callable[[str], Awaitable[None]],
    ) -> Any:
        """The step's stored result, or `fn`'s, stored first (see `TaskContext.step`)."""
        task_id = self._record.task_id
        if not isinstance(name, str) or not name:
            raise StepError(f"a step's name must be a non-empty string, not {name!r}")
        if name in self._seen:
            raise StepError(
                f"step {name!r} ran twice in one run of the task: a step's name is unique "
                "within a task; give each step its own name (e.g. f'charge-{order_id}')"
            )
        self._seen.add(name)
        done = await self._load()
        if name in done:
            log.info("step skipped: done before", task_id=task_id, step=name)
            return json.loads(done[name])
        max_bytes, max_steps = self._limits
        if len(done) >= max_steps:
            raise StepError(
                f"step {name!r} would be this task's step number {len(done) + 1}, over the "
                f"limit of {max_steps} (TaskApp(max_steps=...)); group work into fewer steps"
            )
        await show(f"step {name}")
        value = await call_step(fn, args, kwargs)
        text = _encode(name, value, max_bytes)
        try:
            saved = await self._store.save_step(
                task_id, name, text, runner=self._runner, now=time.time()
            )
        except Exception as exc:
            raise StoreFailure("the task store failed") from exc
        if not saved:
            log.warning("step not stored: the task is no longer this runner's", task_id=task_id)
            raise Superseded(task_id)
        done[name] = text
        log.info("step done", task_id=task_id, step=name)
        # What a re-run would return: the same value whether the step ran now or before.
        return json.loads(text)

    async def _load(self) -> dict[str, str]:
        if self._done is None:
            try:
                self._done = await self._store.load_steps(self._record.task_id, now=time.time())
            except Exception as exc:
                raise StoreFailure("the task store failed") from exc
        return self._done


def _encode(name: str, value: Any, max_bytes: int) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StepError(
            f"step {name!r} returned a value that JSON cannot hold ({exc}): return plain "
            "data (dict, list, str, int, float, bool or None), e.g. model.model_dump()"
        ) from exc
    size = len(text.encode())
    if size > max_bytes:
        raise StepError(
            f"step {name!r} returned {size} bytes of JSON, over the limit of {max_bytes} "
            "(TaskApp(max_step_bytes=...)): store a reference (a path, a URL, an id) instead"
        )
    return text
