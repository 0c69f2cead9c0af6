"""The operator's listing: every owner's tasks, newest first, filtered, and counts by status.

An optional capability beside the `TaskStore` contract (as `WorkQueue` is): the built-in
stores have it; a store of your own may add it, and `all_owners` says so when it has not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..records import TaskRecord, TaskStatus


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks an operator's listing shows; every part left empty admits all.

    Attributes:
        statuses: Only tasks in one of these statuses (empty: any status).
        tool: Only tasks of this tool.
        owner: Only this owner's tasks (None: every owner's, the tasks without one too).
    """

    statuses: frozenset[TaskStatus] = field(default_factory=frozenset)
    tool: str | None = None
    owner: str | None = None

    def admits(self, record: TaskRecord) -> bool:
        """Whether the record passes the filter (expiry is the store's business)."""
        return (
            (not self.statuses or record.status in self.statuses)
            and (self.tool is None or record.tool == self.tool)
            and (self.owner is None or record.owner == self.owner)
        )


EVERY_TASK = TaskFilter()


@runtime_checkable
class ListsAllOwners(Protocol):
    """A store that lists every owner's tasks at once, for operators (the dashboard,
    `taskapp tasks list --all`). Requestors never see this: they list their own tasks
    with `TaskStore.list_tasks`."""

    async def list_all(
        self, where: TaskFilter, *, cursor: str | None, limit: int, now: float
    ) -> tuple[list[TaskRecord], str | None]:
        """One page of the unexpired tasks that `where` admits, newest first (by creation),
        and the cursor of the next page (None on the last).

        Cursors are opaque and stay valid while tasks come and go; a task created after
        the first page is not shown by later pages. Records are as `list_tasks` shows
        them (they may leave out the arguments, the runner and lease, and the outcome
        unless it is a tool error), with their owner. Raises InvalidCursorError for a
        cursor this store did not make.
        """

    async def count_by_status(self, *, now: float) -> dict[TaskStatus, int]:
        """How many unexpired tasks the store holds in each status, every owner's.

        Every status is a key (0 when none). A shared store may still count tasks that
        expired since its last `sweep`.
        """


class CannotListAllOwnersError(TypeError):
    """The store has no `list_all`/`count_by_status` (see `ListsAllOwners`)."""


def all_owners(store: object) -> ListsAllOwners:
    """The store as a `ListsAllOwners`, or an error that says what it lacks."""
    if isinstance(store, ListsAllOwners):
        return store
    raise CannotListAllOwnersError(
        f"this store ({type(store).__name__}) cannot list across owners: an operator's view "
        "needs `list_all` and `count_by_status` (taskapp.stores.ListsAllOwners; see "
        "docs/stores.md, 'Listing every owner's tasks'). Per-owner listing still works."
    )


def zero_counts() -> dict[TaskStatus, int]:
    return dict.fromkeys(TaskStatus, 0)


def count(records: Iterable[TaskRecord], now: float) -> dict[TaskStatus, int]:
    """Counts by status of the unexpired records (for stores that hold them in memory)."""
    counts = zero_counts()
    for record in records:
        if not record.is_expired(now):
            counts[record.status] += 1
    return counts
