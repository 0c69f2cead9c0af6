"""A call promoted to a task (`inline_for`) keeps what issue 20 gives every task: its steps
are stored once it is a task, a failure after the promotion is retried from the top as the
task, and the attempt that began in the request counts against `timeout`."""

from __future__ import annotations

import math
import time
from typing import Any

import anyio
import pytest

from taskapp import MemoryStore, TaskApp, TaskContext
from tests.test_tasks_extension import modern

pytestmark = pytest.mark.anyio


def text(result: dict[str, Any]) -> str:
    value = result["content"][0]["text"]
    assert isinstance(value, str)
    return value


async def test_a_step_after_the_promotion_is_stored_for_the_task() -> None:
    store = MemoryStore()
    app = TaskApp("promoted-steps", store=store)
    ran: list[str] = []

    def work(name: str) -> str:
        ran.append(name)
        return f"{name} done"

    @app.task_tool(inline_for=math.inf, on_interrupt="rerun")
    async def stepped(ctx: TaskContext) -> str:
        before = await ctx.step("before", work, "before")  # inline: simply runs
        await ctx.continue_as_task()
        after = await ctx.step("after", work, "after")
        return f"{before}; {after}"

    async with modern(app) as client:
        created = await client.create("stepped")
        done = await client.until_status(created["taskId"], "completed")
        steps = await store.load_steps(created["taskId"], now=time.time())
    assert text(done["result"]) == "before done; after done"
    assert ran == ["before", "after"]
    assert set(steps) == {"after"}  # only what ran as the task is kept


async def test_a_failure_after_the_promotion_is_retried_as_the_task() -> None:
    app = TaskApp("promoted-retries")
    attempts: list[str | None] = []

    @app.task_tool(inline_for=math.inf, retries=2, retry_backoff=0.01)
    async def flaky(ctx: TaskContext) -> str:
        attempts.append(ctx.task_id)
        await ctx.continue_as_task()
        if len(attempts) < 3:
            raise RuntimeError(f"boom {len(attempts)}")
        return f"ok on attempt {len(attempts)}"

    async with modern(app) as client:
        created = await client.create("flaky")
        task_id = created["taskId"]
        done = await client.until_status(task_id, "completed")
    assert text(done["result"]) == "ok on attempt 3"
    assert done["result"].get("isError") is not True
    # The first attempt began in the request (no task yet); the retries ran as the task.
    assert attempts == [None, task_id, task_id]


async def test_spent_retries_after_the_promotion_end_with_the_last_error() -> None:
    app = TaskApp("promoted-spent")

    @app.task_tool(inline_for=math.inf, retries=1, retry_backoff=0.01)
    async def broken(ctx: TaskContext) -> str:
        await ctx.continue_as_task()
        raise ValueError("still broken")

    async with modern(app) as client:
        created = await client.create("broken")
        done = await client.until_status(created["taskId"], "completed")
    assert done["result"]["isError"] is True
    assert text(done["result"]) == "ValueError: still broken"


async def test_the_attempt_begun_in_the_request_counts_against_the_timeout() -> None:
    app = TaskApp("promoted-timeout")

    @app.task_tool(inline_for=0.05, timeout=0.3)
    async def sleepy(ctx: TaskContext) -> str:
        await anyio.sleep(30)
        return "never"

    async with modern(app) as client:
        created = await client.create("sleepy")  # promoted at the deadline
        assert created["status"] == "working"
        done = await client.until_status(created["taskId"], "completed")
    assert done["result"]["isError"] is True
    assert text(done["result"]) == "Timed out: the tool ran longer than its timeout of 0.3 s"
