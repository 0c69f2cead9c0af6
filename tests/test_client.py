"""taskapp.client.Client against apps in memory: every verb, and the handlers it calls back."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from examples.hello import app
from taskapp.client import Task
from taskapp.wire.jsonrpc import JsonRpcError
from tests.clients import LegacyClient

from .robust_app import Probe, make_app

pytestmark = pytest.mark.anyio

RELATED = "io.modelcontextprotocol/related-task"


async def test_connects_and_initializes() -> None:
    async with LegacyClient(app) as client:
        assert client.protocol_version == "2025-11-25"
        assert client.server_info == {"name": "hello", "version": "1.0.0"}
        assert client.instructions == "A friendly first taskapp server."
        assert client.server_capabilities["tasks"]["requests"] == {"tools": {"call": {}}}
        await client.ping()


async def test_list_tools_shows_task_support() -> None:
    async with LegacyClient(app) as client:
        tools = await client.list_tools()
    assert {t.name: t.task_support for t in tools} == {
        "echo": "forbidden",
        "greet": "optional",
        "slow_add": "required",
    }
    greet = next(t for t in tools if t.name == "greet")
    assert greet.input_schema["properties"]["name"]["type"] == "string"
    assert greet.description is not None
    assert greet.description.startswith("Greet someone")


async def test_call_tool() -> None:
    async with LegacyClient(app) as client:
        result = await client.call_tool("echo", {"text": "hi there"})
        assert result.text == "hi there"
        assert result.is_error is False
        inline = await client.call_tool("greet", {"name": "inline"})
        assert inline.text == "Hello, inline!"
        bad = await client.call_tool("echo", {})
        assert bad.is_error is True
        assert "text" in bad.text


async def test_call_tool_as_task_with_progress() -> None:
    """S-37: the progress token of the creating request keeps working for the task."""
    seen: list[tuple[float, float | None, str | None]] = []
    done = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))
        if progress == total:
            done.set()

    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task(
            "slow_add",
            {"a": 1, "b": 2, "steps": 4, "delay": 0.01},
            progress_handler=on_progress,
        )
        assert created.task.status == "working"
        result = await client.get_task_result(created.task.task_id)
        assert result.text == "1 + 2 = 3"
        with anyio.fail_after(5):
            await done.wait()
    assert seen == [(1, 4, None), (2, 4, None), (3, 4, None), (4, 4, None)]


async def test_call_tool_as_task_with_ttl() -> None:
    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("greet", {"name": "ttl"}, ttl=60_000)
        assert created.task.ttl == 60_000
        result = await client.get_task_result(created.task.task_id)
        assert result.text == "Hello, ttl!"
        assert result.meta == {RELATED: {"taskId": created.task.task_id}}


async def test_get_task() -> None:
    probe = Probe()
    async with LegacyClient(make_app(probe)) as client:
        created = await client.call_tool_as_task("block", {"value": 2})
        task_id = created.task.task_id
        working = await client.get_task(task_id)
        assert working.task_id == task_id
        assert working.status == "working"
        assert working.terminal is False
        assert working.poll_interval == 500
        assert working.created_at == created.task.created_at
        probe.gate.set()
        assert (await client.get_task_result(task_id)).text == "value=4"
        completed = await client.get_task(task_id)
        assert completed.status == "completed"
        assert completed.terminal is True
        assert completed.last_updated_at >= completed.created_at


async def test_poll_task_yields_until_terminal() -> None:
    probe = Probe()
    async with LegacyClient(make_app(probe, poll_interval_ms=10)) as client:
        created = await client.call_tool_as_task("block", {"value": 1})
        statuses: list[str] = []
        with anyio.fail_after(5):
            async for task in client.poll_task(created.task.task_id):
                statuses.append(task.status)
                if len(statuses) == 2:
                    probe.gate.set()
    assert statuses[:2] == ["working", "working"]
    assert statuses[-1] == "completed"
    assert set(statuses[:-1]) == {"working"}


async def test_list_tasks() -> None:
    async with LegacyClient(app) as client:
        assert (await client.list_tasks()).tasks == []
        first = await client.call_tool_as_task("greet", {"name": "a"})
        second = await client.call_tool_as_task("greet", {"name": "b"})
        for created in (first, second):
            await client.get_task_result(created.task.task_id)
        listed = await client.list_tasks()
        assert [t.task_id for t in listed.tasks] == [first.task.task_id, second.task.task_id]
        assert {t.status for t in listed.tasks} == {"completed"}
        assert listed.next_cursor is None
        with pytest.raises(JsonRpcError) as caught:
            await client.list_tasks("no-such-cursor")
        assert caught.value.code == -32602


async def test_list_tasks_pages() -> None:
    probe = Probe()
    probe.gate.set()
    async with LegacyClient(make_app(probe, page_size=2)) as client:
        created = [(await client.call_tool_as_task("block", {"value": v})).task for v in range(5)]
        ids: list[str] = []
        cursor: str | None = None
        while True:
            page = await client.list_tasks(cursor)
            ids.extend(t.task_id for t in page.tasks)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert ids == [t.task_id for t in created]


async def test_cancel_task() -> None:
    probe = Probe()
    async with LegacyClient(make_app(probe)) as client:
        created = await client.call_tool_as_task("block", {"value": 1})
        with anyio.fail_after(5):
            await probe.started.wait()
        cancelled = await client.cancel_task(created.task.task_id)
        assert cancelled.status == "cancelled"
        assert cancelled.status_message == "The task was cancelled by the requestor."
        result = await client.get_task_result(created.task.task_id)
        assert result.is_error is True
        assert result.text == "The task was cancelled by the requestor."
        with pytest.raises(JsonRpcError) as caught:
            await client.cancel_task(created.task.task_id)
        assert caught.value.code == -32602  # S-40
        assert "cancelled" in caught.value.message


async def test_status_handler_receives_status_notifications() -> None:
    received: list[Task] = []
    ended = anyio.Event()

    async def on_status(task: Task) -> None:
        received.append(task)
        if task.terminal:
            ended.set()

    async with LegacyClient(app, status_handler=on_status) as client:
        created = await client.call_tool_as_task("greet", {"name": "notes"})
        await client.get_task_result(created.task.task_id)
        with anyio.fail_after(5):
            await ended.wait()
    assert {t.task_id for t in received} == {created.task.task_id}
    assert [(t.status, t.status_message) for t in received] == [
        ("working", "thinking about notes"),
        ("completed", None),  # a success clears the last progress message
    ]


async def test_log_handler_receives_tool_logs() -> None:
    received: list[dict[str, Any]] = []
    got_two = anyio.Event()

    async def on_log(params: dict[str, Any]) -> None:
        received.append(params)
        if len(received) == 2:
            got_two.set()

    async with LegacyClient(make_app(Probe()), log_handler=on_log) as client:
        assert (await client.call_tool("talk", {"text": "inline words"})).text == "inline words"
        created = await client.call_tool_as_task("talk_task", {"text": "task words"})
        assert (await client.get_task_result(created.task.task_id)).text == "task words"
        with anyio.fail_after(5):
            await got_two.wait()
        await client.set_logging_level("error")
        await client.call_tool("talk", {"text": "too quiet"})  # a warning, below "error"
        await client.ping()
    assert received == [
        {"level": "warning", "data": "inline words", "logger": "talk"},
        {
            "level": "warning",
            "data": "task words",
            "logger": "talk",
            "_meta": {RELATED: {"taskId": created.task.task_id}},
        },
    ]


async def test_errors_raise_json_rpc_error_with_the_code() -> None:
    async with LegacyClient(app) as client:
        with pytest.raises(JsonRpcError) as unknown:
            await client.request("no/such/method")
        assert unknown.value.code == -32601
        assert "no/such/method" in unknown.value.message
        with pytest.raises(JsonRpcError) as required:
            await client.call_tool("slow_add", {"a": 1, "b": 2})
        assert required.value.code == -32601  # S-9
        with pytest.raises(JsonRpcError) as forbidden:
            await client.call_tool_as_task("echo", {"text": "x"})
        assert forbidden.value.code == -32601  # S-7
        with pytest.raises(JsonRpcError) as missing:
            await client.get_task("nope")
        assert missing.value.code == -32602  # S-45
        await client.ping()  # still connected


async def test_request_outside_the_context_manager_raises() -> None:
    client = LegacyClient(app)
    with pytest.raises(RuntimeError, match="async with"):
        await client.ping()
