"""Creation notices: a store that wakes whoever waits for new tasks, without polling.

An optional capability beside the `TaskStore` contract (as `ListsAllOwners` is):
`TaskStore.wait` follows one task, and this says that tasks were created. The built-in
stores have it; `announces_creations` says whether a store of your own does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import anyio


@runtime_checkable
class AnnouncesCreations(Protocol):
    """A store that wakes its waiters when a task is created, by any process sharing it
    (the dashboard's live feed shows new tasks with it)."""

    async def wait_created(self, *, after: int | None) -> int:
        """The store's creation generation, once it differs from `after`.

        The generation is a number that changes with every task created (through this
        store object or any other that shares its data). `after=None` returns it at
        once: a mark to take *before* reading what you show. Passing that mark back
        blocks until a task was created since it was taken, so no creation between two
        waits is missed; it returns the new mark. Never polls: a creation in another
        process is learned the way that store learns of other writes.
        """


def announces_creations(store: object) -> AnnouncesCreations | None:
    """The store as an `AnnouncesCreations`, or None when it does not have `wait_created`."""
    return store if isinstance(store, AnnouncesCreations) else None


async def until_created(
    event: Callable[[], anyio.Event],
    generation: Callable[[], Awaitable[int]],
    after: int | None,
    sleep: Callable[[anyio.Event], Awaitable[None]] | None = None,
) -> int:
    """`wait_created` for a store that sets an event on every creation it hears of.

    Args:
        event: The event the next creation sets (taken before each read of the
            generation, so a creation made meanwhile is not missed).
        generation: Reads the store's generation.
        after: As in `wait_created`.
        sleep: How to wait on the event (default: `event.wait()`).
    """
    while True:
        woken = event()
        current = await generation()
        if after is None or current != after:
            return current
        await (woken.wait() if sleep is None else sleep(woken))
