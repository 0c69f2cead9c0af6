"""Riding out a store outage: a task's final write, retried with backoff."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from .._logging import get_logger
from ..records import InvalidTransitionError
from ..stores.base import TaskNotFoundError

log = get_logger("taskapp.engine")

T = TypeVar("T")

FIRST_DELAY_S = 0.1
MAX_DELAY_S = 2.0  # between attempts at a task's final write, at most
SHUTDOWN_RETRY_S = 5.0  # once the engine is closing, a final write is retried this long at most


async def persist(write: Callable[[], Awaitable[T]], task_id: str, until: Callable[[], float]) -> T:
    """`write()`, retried with backoff while the store fails and `time.time()` is before
    `until()` (asked again after each failure: shutdown shortens it); then the failure
    is raised. The store's answers about the task (it ended, it is gone) are not
    failures: they are raised at once.

    A write retried after its reply was lost may already have landed: callers write
    through the store's compare-and-set `update`, so the retry finds the task ended.
    """
    delay = FIRST_DELAY_S
    attempt = 1
    while True:
        try:
            return await write()
        except (InvalidTransitionError, TaskNotFoundError):
            raise
        except Exception as exc:
            if time.time() + delay >= until():
                raise
            log.warning(
                "store write failed; retrying", task_id=task_id, attempt=attempt, error=repr(exc)
            )
        await anyio.sleep(delay)
        delay = min(delay * 2, MAX_DELAY_S)
        attempt += 1
