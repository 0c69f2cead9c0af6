"""Never crash on the client's behaviour: cancels, expiries, floods, and disconnects."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from taskapp import MemoryStore, TaskApp, TaskStatus
from taskapp.transports.memory import memory_pair

from .raw import INIT_PARAMS, RawConnection, raw_connection
from .robust_app import Probe, make_app

pytestmark = pytest.mark.anyio

INVALID_PARAMS = -32602
CANCELLED_TEXT = "The task was cancelled by the requestor."
SHUTDOWN_TEXT = "Task interrupted: the server shut down before it finished."


async def _start(conn: RawConnection, value: int = 0, **task: Any) -> str:
    created = await conn.result(
        "tools/call", {"name": "block", "arguments": {"value": value}, "task": task}
    )
    assert created["task"]["status"] == "working"
    task_id: str = created["task"]["taskId"]
    return task_id


def _text(result: dict[str, Any]) -> str:
    return "".join(block["text"] for block in result["content"])


async def test_cancel_a_running_task_then_serve_more() -> None:
    """S-41, S-42: cancelled before the answer; the function stops; the session goes on."""
    probe = Probe()
    async with raw_connection(make_app(probe)) as conn:
        task_id = await _start(conn, 1)
        with anyio.fail_after(5):
            await probe.started.wait()
        cancelled = await conn.result("tasks/cancel", {"taskId": task_id})
        assert cancelled["status"] == "cancelled"
        with anyio.fail_after(5):
            await probe.stopped.wait()
        result = await conn.result("tasks/result", {"taskId": task_id})
        assert result["isError"] is True
        assert _text(result) == CANCELLED_TEXT
        assert (await conn.result("tasks/get", {"taskId": task_id}))["status"] == "cancelled"

        probe.gate.set()
        again = await _start(conn, 21)
        result = await conn.result("tasks/result", {"taskId": again})
        assert _text(result) == "value=42"
        assert "isError" not in result


async def test_ttl_expiring_while_running_answers_the_blocked_result_call() -> None:
    """S-24: an expired task is gone; a tasks/result blocked on it gets -32602."""
    probe = Probe()
    async with raw_connection(make_app(probe)) as conn:
        task_id = await _start(conn, ttl=150)
        with anyio.fail_after(5):
            await probe.started.wait()
        response = await conn.call("tasks/result", {"taskId": task_id})
        assert response["error"]["code"] == INVALID_PARAMS
        assert "expired" in response["error"]["message"]
        assert task_id in response["error"]["message"]
        with anyio.fail_after(5):
            await probe.stopped.wait()  # the function was cancelled
        gone = await conn.error("tasks/get", {"taskId": task_id})
        assert gone["code"] == INVALID_PARAMS

        probe.gate.set()
        again = await _start(conn, 5)
        assert _text(await conn.result("tasks/result", {"taskId": again})) == "value=10"


async def test_two_concurrent_result_calls_both_get_the_answer() -> None:
    probe = Probe()
    async with raw_connection(make_app(probe)) as conn:
        task_id = await _start(conn, 7)
        for request_id in ("r1", "r2"):
            await conn.send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": "tasks/result",
                    "params": {"taskId": task_id},
                }
            )
        await conn.result("ping")
        assert "r1" not in conn.responses  # S-28: blocked while working
        assert "r2" not in conn.responses
        probe.gate.set()
        first = await conn.response("r1")
        second = await conn.response("r2")
        assert first["result"] == second["result"]
        assert _text(first["result"]) == "value=14"
        assert first["result"]["_meta"] == {
            "io.modelcontextprotocol/related-task": {"taskId": task_id}
        }


async def test_a_thousand_tasks_in_flight_at_once() -> None:
    count = 1000
    probe = Probe(expected=count)
    async with raw_connection(make_app(probe)) as conn:
        # Sent without waiting in between, then awaited all at once: one waiter, not 1000.
        for value in range(count):
            await conn.send(
                {
                    "jsonrpc": "2.0",
                    "id": f"call-{value}",
                    "method": "tools/call",
                    "params": {"name": "block", "arguments": {"value": value}, "task": {}},
                }
            )
        with anyio.fail_after(30):
            await probe.all_started.wait()
        await conn.wait_for(lambda: len(conn.responses) >= count + 1, within=30)
        ids = {v: conn.responses[f"call-{v}"]["result"]["task"]["taskId"] for v in range(count)}
        assert probe.started_count == count
        assert len(set(ids.values())) == count
        assert probe.stopped_count == 0  # all of them running at the same time

        for value in range(count):
            await conn.send(
                {
                    "jsonrpc": "2.0",
                    "id": f"result-{value}",
                    "method": "tasks/result",
                    "params": {"taskId": ids[value]},
                }
            )
        probe.gate.set()
        await conn.wait_for(lambda: len(conn.responses) >= 2 * count + 1, within=30)
        results = {v: _text(conn.responses[f"result-{v}"]["result"]) for v in range(count)}
        assert results == {value: f"value={value * 2}" for value in range(count)}
        assert probe.stopped_count == count


async def test_notifications_cancelled_stops_an_inline_call_without_an_answer() -> None:
    probe = Probe()
    async with raw_connection(make_app(probe)) as conn:
        await conn.send(
            {
                "jsonrpc": "2.0",
                "id": 42,
                "method": "tools/call",
                "params": {"name": "block_inline", "arguments": {}},
            }
        )
        with anyio.fail_after(5):
            await probe.started.wait()
        await conn.send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": 42, "reason": "changed my mind"},
            }
        )
        with anyio.fail_after(5):
            await probe.stopped.wait()
        assert await conn.result("ping") == {}
        assert await conn.result("ping") == {}
        assert 42 not in conn.responses
        # The id is free again, and the tool works when not cancelled.
        probe.gate.set()
        await conn.send(
            {
                "jsonrpc": "2.0",
                "id": 42,
                "method": "tools/call",
                "params": {"name": "block_inline", "arguments": {}},
            }
        )
        answer = await conn.response(42)
        assert _text(answer["result"]) == "released"


async def test_notifications_cancelled_for_unknown_ids_is_ignored() -> None:
    probe = Probe()
    async with raw_connection(make_app(probe)) as conn:
        before = len(conn.received)
        for request_id in (12345, "nope", None, {"x": 1}):
            await conn.send(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": request_id},
                }
            )
        response = await conn.call("ping")
        assert conn.received[before:] == [response]


async def test_notifications_cancelled_does_not_cancel_a_task() -> None:
    """S-44: a task is cancelled with tasks/cancel only; cancelling its creating request
    (already answered) changes nothing."""
    probe = Probe()
    async with raw_connection(make_app(probe)) as conn:
        response = await conn.call("tools/call", {"name": "block", "arguments": {}, "task": {}})
        task_id = response["result"]["task"]["taskId"]
        await conn.send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": response["id"]},
            }
        )
        await conn.result("ping")
        assert (await conn.result("tasks/get", {"taskId": task_id}))["status"] == "working"
        assert not probe.stopped.is_set()
        probe.gate.set()
        assert _text(await conn.result("tasks/result", {"taskId": task_id})) == "value=0"


async def test_client_disconnect_while_tasks_run_interrupts_them() -> None:
    probe = Probe(expected=3)
    store = MemoryStore()
    app = make_app(probe, store=store)
    ours, theirs = memory_pair()
    task_ids: list[str] = []
    with anyio.fail_after(10):
        async with app.running() as engine:
            async with anyio.create_task_group() as tg:
                tg.start_soon(app.serve_channel, theirs, engine)
                conn = RawConnection(ours)
                tg.start_soon(conn.pump)
                await conn.result("initialize", INIT_PARAMS)
                for value in range(3):
                    task_ids.append(await _start(conn, value))
                await probe.all_started.wait()
                await ours.aclose()  # the client goes away; the server's session ends
            assert probe.stopped_count == 0  # tasks outlive their session...
        assert probe.stopped_count == 3  # ...until the app stops
    await theirs.aclose()
    for task_id in task_ids:
        record = await store.get(task_id, now=time.time())
        assert record is not None
        assert record.status is TaskStatus.FAILED
        assert record.status_message == SHUTDOWN_TEXT
        assert record.outcome is not None


async def test_a_tool_error_does_not_end_the_session() -> None:
    async with raw_connection(make_app(Probe())) as conn:
        bad = await conn.result("tools/call", {"name": "block", "arguments": {"value": "x"}})
        assert bad["isError"] is True
        assert "value" in _text(bad)
        missing = await conn.error("tools/call", {"name": "no_such_tool", "arguments": {}})
        assert missing["code"] == INVALID_PARAMS
        assert await conn.result("ping") == {}


async def test_a_requestor_over_its_task_limit_gets_an_error_not_a_task() -> None:
    """S-52: `max_tasks_per_owner` caps unfinished tasks; ended tasks free their place."""
    limited = TaskApp("limited", max_tasks_per_owner=2)
    gate = anyio.Event()

    @limited.task_tool(mode="required")
    async def wait_for_gate() -> str:
        await gate.wait()
        return "done"

    async with raw_connection(limited) as conn:
        call = {"name": "wait_for_gate", "arguments": {}, "task": {}}
        first = (await conn.result("tools/call", call))["task"]["taskId"]
        await conn.result("tools/call", call)
        error = await conn.error("tools/call", call)
        assert error["code"] == -32000
        assert "limit is 2" in error["message"]
        await conn.result("tasks/cancel", {"taskId": first})
        await anyio.sleep(0.05)  # the cancelled function lets go of its place once it stops
        assert "task" in await conn.result("tools/call", call)
        gate.set()
