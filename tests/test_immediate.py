"""Requests answered straight from the read loop (`TaskEngine.immediate`, `Peer._answered_now`).

With a MemoryStore, `tasks/get`, `tasks/result` of an ended task and a task's creation need
no waiting, so the server answers them without a task of their own. The answers must be
exactly those of the ordinary path, which a MemoryStore subclass that overrides `get`
takes (the engine cannot know that such a `get` never waits).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from taskapp import MemoryStore
from taskapp.engine import TaskEngine
from taskapp.wire import mcp2025
from taskapp.wire.jsonrpc import JsonRpcError

from .protocol_app import build
from .raw import RawConnection
from .test_tasks_protocol import ended, session

pytestmark = pytest.mark.anyio


class _WaitingStore(MemoryStore):
    """The same store, but its `get` awaits: the engine must take the ordinary path."""

    async def get(self, task_id: str, *, now: float) -> Any:
        await anyio.lowlevel.checkpoint()
        return await super().get(task_id, now=now)


async def test_only_a_plain_memory_store_is_immediate() -> None:
    assert TaskEngine(MemoryStore()).immediate
    assert not TaskEngine(_WaitingStore()).immediate


def _normalised(message: dict[str, Any], task_ids: dict[str, str]) -> Any:
    """The message with its task ids numbered and its times blanked, to compare two runs."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: ("<time>" if k in ("createdAt", "lastUpdatedAt") else walk(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            for real, number in task_ids.items():
                value = value.replace(real, number)
        return value

    return walk(message)


async def _script(conn: RawConnection) -> list[Any]:
    """Every kind of request the immediate path answers, and the ones it must leave alone."""
    task_ids: dict[str, str] = {}
    seen: list[dict[str, Any]] = []

    async def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        response = await conn.call(method, params)
        task = (response.get("result") or {}).get("task") or {}
        if "taskId" in task:
            task_ids.setdefault(task["taskId"], f"<task {len(task_ids)}>")
        seen.append(response)
        return response

    created = await call("tools/call", {"name": "required", "arguments": {"x": 3}, "task": {}})
    task_id = created["result"]["task"]["taskId"]
    await ended(conn, task_id)
    await call("tasks/get", {"taskId": task_id})
    await call("tasks/result", {"taskId": task_id})
    await call("tasks/get", {"taskId": "nope"})
    await call("tasks/result", {"taskId": "nope"})
    await call("tasks/get", {})  # invalid params
    await call("tools/call", {"name": "plain", "arguments": {"x": 1}, "task": {}})  # forbidden
    await call("tools/call", {"name": "missing", "arguments": {}, "task": {}})
    await call("tools/call", {"name": "plain", "arguments": {"x": 2}})  # inline
    await call("tools/call", {"name": "required", "arguments": {"x": "no"}, "task": {}})
    return [_normalised(m, task_ids) for m in seen]


async def test_immediate_answers_are_the_ordinary_answers() -> None:
    transcripts = []
    for store in (MemoryStore(), _WaitingStore()):
        harness = build(store=store)
        async with session(harness) as conn:
            transcripts.append(await _script(conn))
    immediate, ordinary = transcripts
    assert immediate == ordinary
    # And the script did reach both kinds of answer.
    assert any("error" in m for m in immediate)
    assert any("result" in m and "task" in m["result"] for m in immediate)


async def test_a_result_not_ready_yet_still_waits() -> None:
    """tasks/result of a running task is not immediate: it blocks until the end (S-28)."""
    harness = build()
    async with session(harness) as conn:
        created = await conn.result("tools/call", {"name": "gate", "arguments": {}, "task": {}})
        task_id = created["task"]["taskId"]
        await conn.send(
            {"jsonrpc": "2.0", "id": "r", "method": "tasks/result", "params": {"taskId": task_id}}
        )
        await anyio.sleep(0.05)
        assert "r" not in conn.responses
        harness.release.set()
        response = await conn.response("r")
        assert response["result"]["content"] == [{"type": "text", "text": "released"}]


async def test_the_task_limit_holds_on_the_immediate_path() -> None:
    """S-52 through create_now: the request over the limit gets -32000, not a task."""
    harness = build(max_tasks_per_owner=1)
    async with session(harness) as conn:
        await conn.result("tools/call", {"name": "gate", "arguments": {}, "task": {}})
        error = await conn.error("tools/call", {"name": "gate", "arguments": {}, "task": {}})
        assert error["code"] == -32000
        harness.release.set()


async def test_a_task_id_already_stored_is_never_handed_out_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """192 random bits do not repeat, but if they did the answer must not name a task that
    is already there: create_now draws again before it answers."""
    import taskapp.engine.core

    harness = build()
    async with session(harness) as conn:
        created = await conn.result(
            "tools/call", {"name": "required", "arguments": {"x": 1}, "task": {}}
        )
        taken = created["task"]["taskId"]
        draws = iter([taken, taken, "a-fresh-id"])
        monkeypatch.setattr(taskapp.engine.core, "new_task_id", lambda: next(draws))
        again = await conn.result(
            "tools/call", {"name": "required", "arguments": {"x": 2}, "task": {}}
        )
        assert again["task"]["taskId"] == "a-fresh-id"
        old = await conn.result("tasks/result", {"taskId": taken})
        new = await conn.result("tasks/result", {"taskId": "a-fresh-id"})
        assert old["content"] != new["content"]


async def test_create_now_stores_the_task_when_it_is_started_not_later() -> None:
    """The caller answers between create_now and the function it returns; once that
    function has run, the task is stored as the answer showed it, before anything is
    awaited (the next request on the same read is handled right after)."""
    harness = build()
    store = MemoryStore()
    async with harness.app.running(store) as engine:
        new, store_and_start = engine.create_now(
            harness.app.tools["required"], {"x": 3}, owner=None, ttl_ms=5000
        )
        assert new.task_id not in store
        store_and_start()
        record = engine.get_now(new.task_id, None)
        assert mcp2025.task_json(record) == mcp2025.task_json(new)
        assert (record.arguments, record.ttl_ms) == ({"x": 3}, 5000)
        assert (await engine.wait_terminal(new.task_id, None)).status.value == "completed"


@pytest.mark.parametrize(
    "params",
    [
        {"taskId": "abc"},
        {"taskId": "abc", "task_id": "other", "_meta": {"x": 1}},
        {"task_id": "by-name"},
        {"taskId": ""},
        {"taskId": 7},
        {"taskId": None},
        {"taskId": True},
        {"taskId": ["abc"]},
        {},
    ],
)
async def test_task_id_of_reads_params_as_the_model_does(params: dict[str, Any]) -> None:
    """The quick read of a taskId (every poll) agrees with TaskIdParams, errors included."""
    try:
        expected: Any = mcp2025.parse(mcp2025.TaskIdParams, params).task_id
    except JsonRpcError as exc:
        expected = (exc.code, exc.message)
    try:
        got: Any = mcp2025.task_id_of(params)
    except JsonRpcError as exc:
        got = (exc.code, exc.message)
    assert got == expected
