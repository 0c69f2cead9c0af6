"""`ctx.step` (issue 20): a step runs once per task, its result kept in the store, and a
task that runs again (a retry, a re-run after a crash) skips the steps that finished.
The process-level proof (SIGKILL, restart) is tests/test_reliable_process.py."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskapp import MemoryStore, TaskApp, TaskContext
from taskapp.engine.invoke import Superseded
from taskapp.errors import ReliabilityWarning
from taskapp.stores.sqlite import SQLiteStore
from taskapp.tools import ToolSpec, build_tool
from tests.clients import LegacyClient

pytestmark = pytest.mark.anyio


def text(result: Any) -> str:
    return str(result.content[0]["text"])


async def test_a_retry_skips_the_steps_that_finished() -> None:
    """Three steps; the tool raises after the second on its first run. The retry returns
    the stored results of steps one and two without running them, then runs step three."""
    runs: list[str] = []
    attempts: list[int] = []
    app = TaskApp("steps")

    def charge(order: str, *, amount: int) -> dict[str, Any]:  # sync: runs in a thread
        runs.append(f"charge {order} {amount}")
        return {"charged": amount, "order": order}

    async def reserve(order: str) -> list[str]:
        runs.append(f"reserve {order}")
        return [order, "shelf-4"]

    def ship() -> str:
        runs.append("ship")
        return "shipped"

    @app.task_tool(retries=1, retry_backoff=0)
    async def checkout(ctx: TaskContext, order: str) -> str:
        paid = await ctx.step("charge", charge, order, amount=10)
        place = await ctx.step("reserve", reserve, order)
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("the warehouse hung up")
        shipped = await ctx.step("ship", ship)
        return f"{paid['charged']} {place[1]} {shipped}"

    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("checkout", {"order": "A1"})
        result = await client.get_task_result(created.task.task_id)
    assert not result.is_error, result
    assert text(result) == "10 shelf-4 shipped"
    assert runs == ["charge A1 10", "reserve A1", "ship"]
    assert len(attempts) == 2


async def test_a_step_that_raises_is_not_stored_and_runs_again() -> None:
    tries: list[int] = []
    app = TaskApp("steps")

    async def flaky() -> int:
        tries.append(1)
        if len(tries) == 1:
            raise TimeoutError("the payment API timed out")
        return len(tries)

    @app.task_tool(retries=2, retry_backoff=0)
    async def pay(ctx: TaskContext) -> int:
        return await ctx.step("pay", flaky)

    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("pay")
        result = await client.get_task_result(created.task.task_id)
    assert result.structured_content == {"result": 2}
    assert len(tries) == 2


async def test_a_step_name_used_twice_in_one_run_is_a_tool_error() -> None:
    app = TaskApp("steps")

    @app.task_tool(retries=3, retry_backoff=0)
    async def twice(ctx: TaskContext) -> str:
        await ctx.step("same", lambda: 1)
        await ctx.step("same", lambda: 2)
        return "unreachable"

    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("twice")
        result = await client.get_task_result(created.task.task_id)
    assert result.is_error
    assert "step 'same' ran twice in one run of the task" in text(result)


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ({1, 2}, 1000, "returned a value that JSON cannot hold"),
        (float("nan"), 1000, "returned a value that JSON cannot hold"),
        ("x" * 2000, 1000, "returned 2002 bytes of JSON, over the limit of 1000"),
    ],
)
async def test_a_step_result_must_be_json_within_the_limit(
    value: object, limit: int, expected: str
) -> None:
    """docs/security.md: max_step_bytes bounds what one step stores."""
    app = TaskApp("steps", max_step_bytes=limit)

    @app.task_tool(on_interrupt="rerun")
    async def bad(ctx: TaskContext) -> str:
        await ctx.step("bad", lambda: value)
        return "unreachable"

    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("bad")
        result = await client.get_task_result(created.task.task_id)
    assert result.is_error
    assert expected in text(result)


async def test_a_task_stores_at_most_max_steps() -> None:
    app = TaskApp("steps", max_steps=3)

    @app.task_tool(on_interrupt="rerun")
    async def many(ctx: TaskContext) -> str:
        for i in range(5):
            await ctx.step(f"s{i}", lambda: None)
        return "unreachable"

    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("many")
        result = await client.get_task_result(created.task.task_id)
    assert result.is_error
    assert "step 's3' would be this task's step number 4, over the limit of 3" in text(result)


async def test_steps_show_in_the_status_unless_the_tool_sets_its_own() -> None:
    seen: list[str | None] = []
    release = anyio.Event()
    app = TaskApp("steps")

    async def wait() -> None:
        await release.wait()

    @app.task_tool(on_interrupt="rerun")
    async def work(ctx: TaskContext) -> str:
        await ctx.step("fetch", wait)
        await ctx.update_status("my own words")
        await ctx.step("upload", lambda: None)
        return "ok"

    async def on_status(task: Any) -> None:
        seen.append(task.status_message)
        if task.status_message == "step fetch":
            release.set()

    async with LegacyClient(app, status_handler=on_status) as client:
        created = await client.call_tool_as_task("work")
        await client.get_task_result(created.task.task_id)
    assert "step fetch" in seen
    assert "my own words" in seen
    assert "step upload" not in seen


async def test_inline_a_step_simply_runs() -> None:
    app = TaskApp("steps")

    @app.task_tool(mode="optional", on_interrupt="rerun")
    async def add(ctx: TaskContext, a: int) -> int:
        return await ctx.step("add", lambda: a + 1)

    async with LegacyClient(app) as client:
        result = await client.call_tool("add", {"a": 1})
    assert result.structured_content == {"result": 2}


async def test_a_fenced_runner_stops_without_writing(tmp_path: Path) -> None:
    """Only the task's current runner may store its steps: once another engine adopted the
    task, this one's step is refused and its run ends quietly (Superseded), writing no
    result over the new runner's task."""
    store = SQLiteStore(tmp_path / "t.db")
    reached = anyio.Event()
    proceed = anyio.Event()
    app = TaskApp("steps", store=store)

    @app.task_tool(on_interrupt="rerun")
    async def slow(ctx: TaskContext) -> str:
        reached.set()
        await proceed.wait()
        await ctx.step("late", lambda: "too late")
        return "should not be written"

    async with app.running() as engine:
        record, start = await engine.create(engine.tools["slow"], {}, owner=None, ttl_ms=None)
        start()
        await reached.wait()
        later = time.time() + 60  # past this engine's 30 s lease, within the task's hour
        assert await store.adopt(record.task_id, "another", until=later + 60, now=later)
        proceed.set()
        with anyio.fail_after(5):
            assert await engine.drain(5)
        after = await store.get(record.task_id, now=time.time())
        steps = await store.load_steps(record.task_id, now=time.time())
    assert after is not None
    assert (after.status.value, after.runner, after.outcome) == ("working", "another", None)
    assert steps == {}
    assert issubclass(Superseded, Exception)


def test_steps_under_on_interrupt_fail_without_retries_warn_at_registration() -> None:
    async def uses(ctx: TaskContext) -> int:
        return await ctx.step("one", lambda: 1)

    async def plain(ctx: TaskContext) -> int:
        return 1

    with pytest.warns(ReliabilityWarning, match="nothing ever runs it again"):
        build_tool(uses, ToolSpec(mode="optional"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_tool(uses, ToolSpec(mode="optional", on_interrupt="rerun"))
        build_tool(uses, ToolSpec(mode="optional", retries=2))  # a retry skips finished steps
        build_tool(plain, ToolSpec(mode="optional"))


async def test_a_step_result_comes_back_as_json_gives_it(tmp_path: Path) -> None:
    """The same value whether the step ran now or before: a tuple is a list both times."""
    app = TaskApp("steps", store=MemoryStore())

    @app.task_tool(on_interrupt="rerun")
    async def pair(ctx: TaskContext) -> list[Any]:
        got = await ctx.step("pair", lambda: (1, "a"))
        assert isinstance(got, list)
        return got

    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("pair")
        result = await client.get_task_result(created.task.task_id)
    assert result.structured_content == {"result": [1, "a"]}
