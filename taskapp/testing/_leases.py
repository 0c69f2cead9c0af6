"""The store contract for leases: renewing, finding orphans, adopting once."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from ..records import TaskRecord
from ..stores.base import TaskStore
from ._helpers import NOW, S, _race, make_record


class LeaseContract:
    """The leases that let one engine find and adopt a dead process's tasks."""

    async def test_renew_leases_extends_only_the_runners_live_tasks(self, store: TaskStore) -> None:
        mine = make_record(runner="A", lease_until=NOW + 1)
        foreign = make_record(runner="B", lease_until=NOW + 1)
        ended = make_record(status=S.COMPLETED, runner="A", lease_until=NOW + 1)
        for record in (mine, foreign, ended):
            await store.create(record)
        ids = [mine.task_id, foreign.task_id, ended.task_id, "no-such-task"]
        await store.renew_leases("A", ids, until=NOW + 99)
        assert await store.get(mine.task_id, now=NOW) == dataclasses.replace(
            mine, lease_until=NOW + 99
        )
        assert await store.get(foreign.task_id, now=NOW) == foreign
        assert await store.get(ended.task_id, now=NOW) == ended

    async def test_orphans_are_live_unexpired_tasks_with_a_lapsed_lease(
        self, store: TaskStore
    ) -> None:
        lapsed = make_record(runner="dead", lease_until=NOW - 1)
        waiting = make_record(status=S.INPUT_REQUIRED, runner="dead", lease_until=NOW - 1)
        unleased = make_record()
        fresh = make_record(runner="alive", lease_until=NOW + 10)
        ended = make_record(status=S.FAILED, runner="dead", lease_until=NOW - 1)
        expired = make_record(runner="dead", lease_until=NOW - 1, created_at=NOW - 100)
        for record in (lapsed, waiting, unleased, fresh, ended, expired):
            await store.create(record)
        found = await store.orphans(now=NOW, limit=100)
        ours = {lapsed.task_id, waiting.task_id, unleased.task_id}
        # Tolerate tasks of other tests in a shared backend: only ours are looked at.
        assert {r.task_id for r in found} & {
            r.task_id for r in (lapsed, waiting, unleased, fresh, ended, expired)
        } == ours
        assert lapsed in found
        assert len(await store.orphans(now=NOW, limit=1)) == 1

    async def test_adopt_takes_an_orphan_once(self, store: TaskStore) -> None:
        orphan = make_record(runner="dead", lease_until=NOW - 1, created_at=NOW - 5)
        fresh = make_record(runner="alive", lease_until=NOW + 10)
        ended = make_record(status=S.COMPLETED, runner="dead", lease_until=NOW - 1)
        for record in (orphan, fresh, ended):
            await store.create(record)
        adopted = await store.adopt(orphan.task_id, "heir", until=NOW + 30, now=NOW)
        assert adopted is not None
        assert (adopted.runner, adopted.lease_until, adopted.status) == (
            "heir",
            NOW + 30,
            S.WORKING,
        )
        assert adopted.version > orphan.version
        assert await store.get(orphan.task_id, now=NOW) == adopted
        assert await store.adopt(orphan.task_id, "late", until=NOW + 30, now=NOW + 1) is None
        assert await store.adopt(fresh.task_id, "heir", until=NOW + 30, now=NOW) is None
        assert await store.adopt(ended.task_id, "heir", until=NOW + 30, now=NOW) is None
        assert await store.adopt("no-such-task", "heir", until=NOW + 30, now=NOW) is None
        assert await store.get(fresh.task_id, now=NOW) == fresh

    async def test_a_queued_task_is_adopted_once_and_is_no_orphan(self, store: TaskStore) -> None:
        queued = make_record(runner=None, lease_until=NOW + 10)  # waiting for a worker
        await store.create(queued)
        found = await store.orphans(now=NOW, limit=100)
        assert queued.task_id not in {r.task_id for r in found}
        taken = await store.adopt(queued.task_id, "worker", until=NOW + 30, now=NOW)
        assert taken is not None
        assert (taken.runner, taken.lease_until) == ("worker", NOW + 30)
        assert await store.adopt(queued.task_id, "other", until=NOW + 30, now=NOW) is None

    async def test_of_concurrent_adopters_exactly_one_wins(self, store: TaskStore) -> None:
        orphan = make_record(runner="dead", lease_until=NOW - 1)
        await store.create(orphan)

        def adopt(i: int) -> Callable[[], Awaitable[TaskRecord | None]]:
            return lambda: store.adopt(orphan.task_id, f"heir-{i}", until=NOW + 30, now=NOW)

        results = await _race(*(adopt(i) for i in range(10)))
        winners = [r for r in results if isinstance(r, TaskRecord)]
        assert len(winners) == 1, results
        assert results.count(None) == 9
        assert await store.get(orphan.task_id, now=NOW) == winners[0]
