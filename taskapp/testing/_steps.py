"""The store contract for reliable tools: step results, fenced by runner, and dedupe keys."""

from __future__ import annotations

import json
import secrets

from ..records import TaskStatus
from ..stores.base import TaskStore
from ._helpers import NOW, S, _race, make_record


def _key() -> str:
    """A dedupe key no other test uses, for stores whose backend outlives a test."""
    return f"contract-{secrets.token_hex(8)}"


class StepContract:
    """What `ctx.step` and `dedupe_for` keep in the store (docs/reliable.md)."""

    async def test_a_step_is_stored_for_its_runner_and_read_back(self, store: TaskStore) -> None:
        record = make_record(runner="A", lease_until=NOW + 30)
        await store.create(record)
        assert await store.load_steps(record.task_id, now=NOW) == {}
        value = json.dumps({"charged": 10, "text": "é漢🙂"})
        assert await store.save_step(record.task_id, "charge", value, runner="A", now=NOW)
        assert await store.save_step(record.task_id, "ship", "null", runner="A", now=NOW)
        steps = await store.load_steps(record.task_id, now=NOW)
        assert steps == {"charge": value, "ship": "null"}
        assert json.loads(steps["charge"]) == {"charged": 10, "text": "é漢🙂"}
        # A step's record is not a change of the task: its version stays.
        assert await store.get(record.task_id, now=NOW) == record

    async def test_a_stored_step_keeps_its_first_value(self, store: TaskStore) -> None:
        record = make_record(runner="A", lease_until=NOW + 30)
        await store.create(record)
        assert await store.save_step(record.task_id, "charge", "1", runner="A", now=NOW)
        assert await store.save_step(record.task_id, "charge", "2", runner="A", now=NOW)
        assert await store.load_steps(record.task_id, now=NOW) == {"charge": "1"}

    async def test_only_the_tasks_runner_may_store_its_steps(self, store: TaskStore) -> None:
        """An engine whose task another adopted (its lease lapsed) is fenced out."""
        record = make_record(runner="A", lease_until=NOW - 1)
        await store.create(record)
        assert await store.adopt(record.task_id, "B", until=NOW + 30, now=NOW) is not None
        assert not await store.save_step(record.task_id, "charge", "1", runner="A", now=NOW)
        assert await store.save_step(record.task_id, "charge", "2", runner="B", now=NOW)
        assert await store.load_steps(record.task_id, now=NOW) == {"charge": "2"}
        unrun = make_record()  # queued: no runner yet
        await store.create(unrun)
        assert not await store.save_step(unrun.task_id, "x", "1", runner="A", now=NOW)

    async def test_no_step_is_stored_for_an_ended_missing_or_expired_task(
        self, store: TaskStore
    ) -> None:
        ended = make_record(status=S.COMPLETED, runner="A")
        expired = make_record(runner="A", created_at=NOW - 100)  # a TTL of 60 s
        for record in (ended, expired):
            await store.create(record)
            assert not await store.save_step(record.task_id, "s", "1", runner="A", now=NOW)
        assert not await store.save_step("no-such-task", "s", "1", runner="A", now=NOW)
        assert await store.load_steps("no-such-task", now=NOW) == {}

    async def test_steps_end_with_their_task(self, store: TaskStore) -> None:
        kept = make_record(runner="A", ttl_ms=None)
        deleted = make_record(runner="A", ttl_ms=None)
        expiring = make_record(runner="A", ttl_ms=10_000)
        for record in (kept, deleted, expiring):
            await store.create(record)
            assert await store.save_step(record.task_id, "s", "1", runner="A", now=NOW)
        # Finished steps stay readable once the task ended (until it is gone).
        await store.update(kept.task_id, now=NOW, status=TaskStatus.COMPLETED)
        assert await store.load_steps(kept.task_id, now=NOW) == {"s": "1"}
        assert await store.delete(deleted.task_id)
        assert await store.load_steps(deleted.task_id, now=NOW) == {}
        assert await store.load_steps(expiring.task_id, now=NOW + 11) == {}
        await store.sweep(now=NOW + 11)
        assert await store.load_steps(expiring.task_id, now=NOW) == {}

    async def test_a_dedupe_key_holds_the_first_task_until_it_lapses(
        self, store: TaskStore
    ) -> None:
        key = _key()
        assert await store.claim_dedupe(key, "t1", until=NOW + 60, now=NOW) == "t1"
        assert await store.claim_dedupe(key, "t2", until=NOW + 70, now=NOW + 10) == "t1"
        assert await store.claim_dedupe(key, "t3", until=NOW + 120, now=NOW + 60) == "t3"
        assert await store.claim_dedupe(key, "t4", until=NOW + 130, now=NOW + 61) == "t3"
        assert await store.claim_dedupe(_key(), "t5", until=NOW + 60, now=NOW) == "t5"

    async def test_release_forgets_a_key_only_for_its_own_task(self, store: TaskStore) -> None:
        key = _key()
        assert await store.claim_dedupe(key, "t1", until=NOW + 60, now=NOW) == "t1"
        await store.release_dedupe(key, "someone-else")
        assert await store.claim_dedupe(key, "t2", until=NOW + 60, now=NOW) == "t1"
        await store.release_dedupe(key, "t1")
        assert await store.claim_dedupe(key, "t2", until=NOW + 60, now=NOW) == "t2"
        await store.release_dedupe(_key(), "t2")  # a key nobody holds: nothing happens

    async def test_concurrent_claims_of_a_key_agree_on_one_task(self, store: TaskStore) -> None:
        key = _key()
        ids = [f"t{i}" for i in range(8)]
        results = await _race(
            *[
                (lambda task_id=task_id: store.claim_dedupe(key, task_id, until=NOW + 60, now=NOW))
                for task_id in ids
            ]
        )
        assert len(set(results)) == 1
        assert results[0] in ids
