"""The store contract for the input-request queue: push, claim, answer, drop."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from ..records import TaskStatus
from ..stores.base import TaskNotFoundError, TaskStore
from ._helpers import FINAL, NOW, S, _race, make_record


class InputContract:
    """A task's questions to its requestor, each claimed and answered once."""

    async def test_requests_are_claimed_oldest_first_and_released_back(
        self, store: TaskStore
    ) -> None:
        record = make_record()
        await store.create(record)
        tid = record.task_id
        assert await store.claim_input(tid, now=NOW) is None
        first = {"method": "elicitation/create", "params": {"message": "name?", "n": [1]}}
        second = {"method": "sampling/createMessage", "params": {"maxTokens": 5}}
        await store.push_input(tid, "k1", first)
        await store.push_input(tid, "k2", second)
        assert await store.claim_input(tid, now=NOW) == ("k1", first)
        assert await store.claim_input(tid, now=NOW) == ("k2", second)
        assert await store.claim_input(tid, now=NOW) is None
        await store.release_input(tid, "k1")
        assert await store.claim_input(tid, now=NOW) == ("k1", first)
        assert await store.claim_input(tid, now=NOW) is None

    async def test_an_answer_is_waited_for_and_returned_once(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        tid = record.task_id
        await store.push_input(tid, "k", {"method": "elicitation/create", "params": {}})
        answer = {"result": {"action": "accept", "content": {"name": "Ada ✓"}}}
        got: list[dict[str, Any] | None] = []

        async def asker() -> None:
            got.append(await store.wait_input_answer(tid, "k", now=time.time()))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(asker)
                assert await store.claim_input(tid, now=time.time()) is not None
                await anyio.sleep(0.05)
                assert got == []
                assert await store.answer_input(tid, "k", answer) is True
        assert got == [answer]
        assert await store.answer_input(tid, "k", {"result": {}}) is False  # not awaited now

    async def test_an_error_answer_given_before_the_wait_is_kept(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "sampling/createMessage"})
        assert await store.claim_input(record.task_id, now=time.time()) is not None
        error = {"error": {"code": -1, "message": "User rejected sampling request"}}
        assert await store.answer_input(record.task_id, "k", error) is True
        with anyio.fail_after(5):
            assert await store.wait_input_answer(record.task_id, "k", now=time.time()) == error

    async def test_an_answer_for_an_unknown_key_or_task_is_false(self, store: TaskStore) -> None:
        record = make_record()
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        assert await store.answer_input(record.task_id, "other", {"result": {}}) is False
        assert await store.answer_input("no-such-task", "k", {"result": {}}) is False

    async def test_pushing_needs_the_task_and_a_new_key(self, store: TaskStore) -> None:
        with pytest.raises(TaskNotFoundError):
            await store.push_input("no-such-task", "k", {"method": "elicitation/create"})
        record = make_record()
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        with pytest.raises(ValueError, match="k"):
            await store.push_input(record.task_id, "k", {"method": "elicitation/create"})

    async def test_a_terminal_task_hands_out_no_request(self, store: TaskStore) -> None:
        record = make_record()
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        await store.update(record.task_id, now=NOW + 1, status=S.CANCELLED)
        assert await store.claim_input(record.task_id, now=NOW + 1) is None

    async def test_drop_inputs_ends_the_wait_with_none(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        tid = record.task_id
        await store.push_input(tid, "k", {"method": "elicitation/create"})
        got: list[dict[str, Any] | None] = [{}]

        async def asker() -> None:
            got[0] = await store.wait_input_answer(tid, "k", now=time.time())

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(asker)
                await anyio.sleep(0.05)
                await store.drop_inputs(tid)
        assert got == [None]
        assert await store.claim_input(tid, now=time.time()) is None
        assert await store.answer_input(tid, "k", {"result": {}}) is False

    async def test_deleting_the_task_ends_the_wait_with_none(self, store: TaskStore) -> None:
        record = make_record(created_at=time.time())
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        got: list[dict[str, Any] | None] = [{}]

        async def asker() -> None:
            got[0] = await store.wait_input_answer(record.task_id, "k", now=time.time())

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(asker)
                await anyio.sleep(0.05)
                assert await store.delete(record.task_id)
        assert got == [None]

    async def test_pending_inputs_are_the_unanswered_requests_in_the_order_pushed(
        self, store: TaskStore
    ) -> None:
        """tasks extension: "The `inputRequests` field **MUST** contain all outstanding
        requests from the server to the client", claimed (delivered) or not."""
        now = time.time()  # wait_input_answer below may look at the clock
        record = make_record(status=S.INPUT_REQUIRED, created_at=now)
        await store.create(record)
        tid = record.task_id
        assert await store.pending_inputs(tid, now=now) == {}
        messages = {
            f"k{i}": {"method": "elicitation/create", "params": {"message": f"{i} · ✓"}}
            for i in range(1, 5)
        }
        for key, message in messages.items():
            await store.push_input(tid, key, message)
        pending = await store.pending_inputs(tid, now=now)
        assert list(pending.items()) == list(messages.items())
        assert await store.claim_input(tid, now=now) == ("k1", messages["k1"])
        assert await store.claim_input(tid, now=now) == ("k2", messages["k2"])
        await store.release_input(tid, "k2")  # back in line, ahead of k3
        pending = await store.pending_inputs(tid, now=now)
        assert list(pending.items()) == list(messages.items())  # claimed or not, pushed order
        assert await store.answer_input(tid, "k3", {"result": {"action": "decline"}}) is True
        assert await store.answer_input(tid, "k1", {"error": {"code": -1, "message": "no"}})
        pending = await store.pending_inputs(tid, now=now)
        assert list(pending.items()) == [("k2", messages["k2"]), ("k4", messages["k4"])]
        with anyio.fail_after(5):  # taking an answer leaves the others as they were
            assert await store.wait_input_answer(tid, "k3", now=now) is not None
        assert list(await store.pending_inputs(tid, now=now)) == ["k2", "k4"]

    async def test_pending_inputs_change_no_claim(self, store: TaskStore) -> None:
        record = make_record()
        await store.create(record)
        tid = record.task_id
        second = {"method": "elicitation/create", "params": {}}
        await store.push_input(tid, "a", {"method": "sampling/createMessage", "params": {}})
        await store.push_input(tid, "b", second)
        assert await store.claim_input(tid, now=NOW) is not None  # "a" is claimed
        for _ in range(2):
            assert list(await store.pending_inputs(tid, now=NOW)) == ["a", "b"]
        assert await store.claim_input(tid, now=NOW) == ("b", second)  # "b" was not claimed
        assert list(await store.pending_inputs(tid, now=NOW)) == ["a", "b"]
        assert await store.claim_input(tid, now=NOW) is None  # reading released nothing

    async def test_an_answered_request_is_never_pending_after_the_answer_returns(
        self, store: TaskStore
    ) -> None:
        """tasks extension: servers may "ignore `inputResponses` for unknown or
        already-satisfied requests", so one answered must leave `inputRequests` at once,
        even while other answers are stored at the same moment."""
        record = make_record(status=S.INPUT_REQUIRED)
        await store.create(record)
        tid = record.task_id
        keys = [f"q{i}" for i in range(20)]
        for key in keys:
            await store.push_input(tid, key, {"method": "elicitation/create", "params": {}})
        for _ in range(len(keys) // 2):  # half of them delivered (claimed) already
            assert await store.claim_input(tid, now=NOW) is not None

        def answer_then_read(key: str) -> Callable[[], Awaitable[tuple[bool, list[str]]]]:
            async def call() -> tuple[bool, list[str]]:
                answered = await store.answer_input(tid, key, {"result": {"key": key}})
                return answered, list(await store.pending_inputs(tid, now=NOW))

            return call

        results = await _race(*(answer_then_read(key) for key in keys))
        for key, (answered, pending) in zip(keys, results, strict=True):
            assert answered is True
            assert key not in pending, (key, pending)
            assert pending == sorted(pending, key=keys.index)
        assert await store.pending_inputs(tid, now=NOW) == {}

    async def test_dropped_requests_are_not_pending(self, store: TaskStore) -> None:
        record = make_record()
        await store.create(record)
        tid = record.task_id
        await store.push_input(tid, "k1", {"method": "elicitation/create"})
        await store.push_input(tid, "k2", {"method": "elicitation/create"})
        assert await store.claim_input(tid, now=NOW) is not None
        await store.drop_inputs(tid)
        assert await store.pending_inputs(tid, now=NOW) == {}

    @pytest.mark.parametrize("final", FINAL, ids=str)
    async def test_an_ended_task_has_no_pending_request(
        self, store: TaskStore, final: TaskStatus
    ) -> None:
        """tasks extension: only an `input_required` task carries `inputRequests`; a
        terminal one carries its result or error instead."""
        record = make_record()
        await store.create(record)
        await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        await store.update(record.task_id, now=NOW + 1, status=final)
        assert await store.pending_inputs(record.task_id, now=NOW + 1) == {}

    async def test_a_gone_task_has_no_pending_request(self, store: TaskStore) -> None:
        assert await store.pending_inputs("no-such-task", now=NOW) == {}
        expiring = make_record(ttl_ms=1000)
        deleted = make_record()
        for record in (expiring, deleted):
            await store.create(record)
            await store.push_input(record.task_id, "k", {"method": "elicitation/create"})
        assert list(await store.pending_inputs(expiring.task_id, now=NOW)) == ["k"]
        assert await store.pending_inputs(expiring.task_id, now=NOW + 1) == {}
        assert await store.delete(deleted.task_id)
        assert await store.pending_inputs(deleted.task_id, now=NOW) == {}
