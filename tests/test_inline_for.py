"""`@app.task_tool(inline_for=...)` and `ctx.continue_as_task()`: the server decides when a
2026-07-28 call becomes a task (issue 18).

SEP-2663 (tasks-extension/tasks.md): "the server decides whether to create a task" for a
client that declared the extension, and a tool may gather input through MRTR rounds and
become a task on the final one (the conformance suite's `tasks-mrtr-composition`). Here
over the Peer (the stdio driver, in memory) and over Streamable HTTP; 2025-11-25, where
the client decides up front, is unchanged.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from taskapp import MemoryStore, RegistrationError, TaskApp, TaskContext, task_tool
from taskapp.records import TaskRecord
from taskapp.tools import ToolSpec
from tests.raw import raw_connection
from tests.test_tasks_extension import Modern, capabilities, modern

pytestmark = pytest.mark.anyio


class Name(BaseModel):
    name: str


@dataclass
class Lab:
    app: TaskApp
    release: anyio.Event = field(default_factory=anyio.Event)
    started: anyio.Event = field(default_factory=anyio.Event)
    cancelled: anyio.Event = field(default_factory=anyio.Event)
    runs: list[str] = field(default_factory=list)  # tool name per start of a function
    task_ids: list[str | None] = field(default_factory=list)


def build(**options: Any) -> Lab:
    lab = Lab(TaskApp("inline-for", version="1.0.0", **options))
    app = lab.app

    @app.task_tool(inline_for=0.05)
    async def slow(ctx: TaskContext) -> str:
        """Outlives its deadline: becomes a task, and the same run finishes it."""
        lab.runs.append("slow")
        lab.started.set()
        try:
            await lab.release.wait()
        except anyio.get_cancelled_exc_class():
            lab.cancelled.set()
            raise
        lab.task_ids.append(ctx.task_id)
        return "slow done"

    @app.task_tool(inline_for=math.inf)
    async def escalate(ctx: TaskContext) -> str:
        """Promotes itself, then reports on the task."""
        lab.runs.append("escalate")
        lab.task_ids.append(ctx.task_id)
        await ctx.continue_as_task()
        lab.task_ids.append(ctx.task_id)
        await ctx.continue_as_task()  # already a task: nothing
        await ctx.update_status("on the task now")
        await lab.release.wait()
        return "escalated"

    @app.task_tool(mode="required", inline_for=math.inf)
    async def quick_required() -> str:
        return "quick"

    @app.task_tool(inline_for=10)
    async def quick_optional() -> str:
        return "quick"

    @app.task_tool(mode="required", inline_for=math.inf)
    async def test_tool_with_task(ctx: TaskContext) -> str:
        """The conformance suite's shape: elicit (MRTR), then continue as a task."""
        lab.runs.append("test_tool_with_task")
        answer = await ctx.elicit("Your name?", Name)
        await ctx.continue_as_task()
        lab.task_ids.append(ctx.task_id)
        return f"Hello, {answer.data.name if answer.data else '?'}!"

    @app.task_tool(inline_for=math.inf)
    async def ask_after(ctx: TaskContext) -> str:
        """Promotes itself, then asks: the question goes through the task's inputRequests."""
        await ctx.continue_as_task()
        answer = await ctx.elicit("Your name?", Name)
        return f"Later, {answer.data.name if answer.data else '?'}!"

    @app.tool()
    async def plain(ctx: TaskContext) -> str:
        await ctx.continue_as_task()  # an ordinary tool: nothing
        return f"plain {ctx.task_id}"

    @app.task_tool()
    async def from_start(ctx: TaskContext) -> str:
        before = ctx.task_id
        await ctx.continue_as_task()  # a task from the start: nothing
        return f"{before == ctx.task_id} {ctx.task_id is not None}"

    return lab


@asynccontextmanager
async def served(lab: Lab) -> AsyncIterator[Modern]:
    async with modern(lab.app) as client:
        yield client


def text(result: dict[str, Any]) -> str:
    content = result["content"]
    assert isinstance(content[0]["text"], str)
    return content[0]["text"]


# -- promotion ------------------------------------------------------------------------


async def test_the_deadline_makes_the_call_a_task_and_the_same_run_finishes_it() -> None:
    lab = build()
    async with served(lab) as client:
        created = await client.create("slow")
        assert created["status"] == "working"
        task_id = created["taskId"]
        assert (await client.get(task_id))["status"] == "working"  # readable at once
        lab.release.set()
        done = await client.until_status(task_id, "completed")
    assert text(done["result"]) == "slow done"
    assert lab.runs == ["slow"]  # one run, never restarted
    assert lab.task_ids == [task_id]
    assert not lab.cancelled.is_set()


async def test_continue_as_task_answers_the_task_at_once() -> None:
    lab = build()
    async with served(lab) as client:
        created = await client.create("escalate")
        task_id = created["taskId"]
        shown = await client.until(task_id, lambda t: t.get("statusMessage") == "on the task now")
        assert shown["status"] == "working"
        lab.release.set()
        done = await client.until_status(task_id, "completed")
    assert text(done["result"]) == "escalated"
    assert lab.task_ids == [None, task_id]
    assert lab.runs == ["escalate"]


async def test_a_required_tool_that_ends_inline_still_answers_a_task_already_completed() -> None:
    async with served(build()) as client:
        created = await client.create("quick_required")
        assert created["status"] == "completed"
        task = await client.get(created["taskId"])
    assert text(task["result"]) == "quick"


async def test_an_optional_tool_that_ends_inline_answers_its_result() -> None:
    async with served(build()) as client:
        result = await client.result("tools/call", {"name": "quick_optional", "arguments": {}})
    assert result["resultType"] == "complete"
    assert "taskId" not in result
    assert text(result) == "quick"


async def test_mrtr_rounds_then_the_final_round_continues_as_the_task() -> None:
    """The conformance suite's tasks-mrtr-composition: round 1 is an InputRequiredResult
    with no taskId; round 2 is a CreateTaskResult with neither requestState nor
    inputRequests; the task's result carries the answer from round 1."""
    lab = build()
    async with served(lab) as client:
        call = {"name": "test_tool_with_task", "arguments": {}}
        first = await client.result("tools/call", call)
        assert first["resultType"] == "input_required"
        assert "taskId" not in first
        [key] = first["inputRequests"]
        answer = {"action": "accept", "content": {"name": "Alice"}}
        second = await client.result(
            "tools/call",
            {**call, "inputResponses": {key: answer}, "requestState": first["requestState"]},
        )
        assert second["resultType"] == "task"
        assert "requestState" not in second
        assert "inputRequests" not in second
        done = await client.until_status(second["taskId"], "completed")
    assert text(done["result"]) == "Hello, Alice!"
    # Each round runs the function from the top; the final one goes on as the task.
    assert lab.runs == ["test_tool_with_task", "test_tool_with_task"]
    assert lab.task_ids == [second["taskId"]]


async def test_a_question_after_the_promotion_goes_through_the_tasks_input_requests() -> None:
    async with served(build()) as client:
        created = await client.create("ask_after")
        task_id = created["taskId"]
        waiting = await client.until_status(task_id, "input_required")
        [(key, request)] = waiting["inputRequests"].items()
        assert request["method"] == "elicitation/create"
        await client.update(task_id, {key: {"action": "accept", "content": {"name": "Bo"}}})
        done = await client.until_status(task_id, "completed")
    assert text(done["result"]) == "Later, Bo!"


# -- the request ends: before and after the promotion ---------------------------------


async def test_a_connection_that_ends_before_the_promotion_cancels_the_run() -> None:
    lab = build()
    lab.app.tools["slow"] = lab.app.tools["slow"].__class__(
        **{**_fields(lab.app.tools["slow"]), "inline_for": math.inf}
    )
    async with raw_connection(lab.app, initialize=None) as conn:
        await conn.send({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "slow", "arguments": {}, "_meta": _meta()},
        })  # fmt: skip
        with anyio.fail_after(5):
            await lab.started.wait()
            await conn.channel.aclose()
            await lab.cancelled.wait()


async def test_a_connection_that_ends_after_the_promotion_leaves_the_task_running() -> None:
    store = MemoryStore()
    lab = build(store=store)
    async with raw_connection(lab.app, initialize=None) as conn:
        created = await conn.result("tools/call", {"name": "slow", "_meta": _meta()})
        await conn.channel.aclose()
        lab.release.set()
        record = await ended(store, created["taskId"])
    assert record.status.value == "completed"
    assert not lab.cancelled.is_set()


async def ended(store: MemoryStore, task_id: str) -> TaskRecord:
    """The task's record once it has ended, read from the store (no client left to ask)."""
    with anyio.fail_after(5):
        while True:
            record = await store.get(task_id, now=time.time())
            if record is not None and record.terminal:
                return record
            await anyio.sleep(0.01)


def _fields(tool: Any) -> dict[str, Any]:
    return {name: getattr(tool, name) for name in tool.__dataclass_fields__}


def _meta(**caps: Any) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities(**caps),
    }


# -- where continue_as_task does nothing ----------------------------------------------


async def test_continue_as_task_does_nothing_in_an_ordinary_tool() -> None:
    async with served(build()) as client:
        result = await client.result("tools/call", {"name": "plain", "arguments": {}})
    assert text(result) == "plain None"


async def test_continue_as_task_does_nothing_without_the_extension() -> None:
    """TX-1: no CreateTaskResult to a client that did not declare the extension."""
    lab = build()
    lab.release.set()
    async with served(lab) as client:
        result = await client.result(
            "tools/call", {"name": "escalate", "arguments": {}}, caps=capabilities(tasks=False)
        )
    assert result["resultType"] == "complete"
    assert text(result) == "escalated"
    assert lab.task_ids == [None, None]


async def test_continue_as_task_does_nothing_in_a_task_from_the_start() -> None:
    async with served(build()) as client:
        created = await client.create("from_start")
        done = await client.until_status(created["taskId"], "completed")
    assert text(done["result"]) == "True True"


# -- registration ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, float("nan"), "2", True])
def test_a_bad_inline_for_is_refused_at_registration(bad: Any) -> None:
    app = TaskApp("bad")
    with pytest.raises(RegistrationError, match="inline_for"):

        @app.task_tool(inline_for=bad)
        async def tool() -> str:
            return "x"


# -- 2025-11-25: the client decides up front -------------------------------------------


async def test_2025_a_task_from_the_start_and_inline_without_one() -> None:
    """2025-11-25 tasks: the requestor augments the call with `task` or not; `inline_for`
    changes nothing, and continue_as_task does nothing in either case."""
    lab = build()
    lab.release.set()
    async with raw_connection(lab.app) as conn:
        created = await conn.result("tools/call", {"name": "escalate", "task": {}})
        task_id = created["task"]["taskId"]
        done = await conn.result("tasks/result", {"taskId": task_id})
        inline = await conn.result("tools/call", {"name": "escalate", "arguments": {}})
    assert text(done) == text(inline) == "escalated"
    # As a task it had its id from the start; inline it never gets one.
    assert lab.task_ids == [task_id, task_id, None, None]
    assert lab.runs == ["escalate", "escalate"]


# -- S-52 limits, and a promoted task re-run after a crash ------------------------------


async def test_over_the_task_limit_an_optional_call_stays_inline() -> None:
    """S-52: a requestor over its limit gets no task; the promotion does not happen and
    the call ends in the request."""
    lab = build(max_tasks_per_owner=0)
    lab.release.set()
    async with served(lab) as client:
        result = await client.result("tools/call", {"name": "escalate", "arguments": {}})
    assert result["resultType"] == "complete"
    assert text(result) == "escalated"
    assert lab.task_ids == [None, None]


async def test_over_the_task_limit_a_required_call_is_refused() -> None:
    async with served(build(max_tasks_per_owner=0)) as client:
        error = await client.error("tools/call", {"name": "quick_required", "arguments": {}})
    assert error["code"] == -32000
    assert "Too many unfinished tasks" in error["message"]


async def test_a_promoted_task_rerun_after_a_crash_starts_from_the_top_as_a_task() -> None:
    """on_interrupt="rerun": the next process runs the task again as a task, with no
    inline phase (ctx.task_id from the start; continue_as_task does nothing)."""
    store = MemoryStore()
    seen: list[str | None] = []
    release = anyio.Event()

    def make() -> TaskApp:
        app = TaskApp("rerun", store=store, lease_s=0.1)

        @app.task_tool(inline_for=math.inf, on_interrupt="rerun")
        async def durable(ctx: TaskContext) -> str:
            seen.append(ctx.task_id)
            await ctx.continue_as_task()
            seen.append(ctx.task_id)
            await release.wait()
            return "durable done"

        return app

    async with raw_connection(make(), initialize=None) as conn:
        created = await conn.result("tools/call", {"name": "durable", "_meta": _meta()})
    task_id = created["taskId"]
    assert seen == [None, task_id]
    record = await store.get(task_id, now=time.time())
    assert record is not None
    assert record.status.value == "working"  # left for the next process
    await anyio.sleep(0.2)  # its lease runs out
    release.set()
    async with make().running(store) as engine:
        assert await engine.recover() == 1
        record = await ended(store, task_id)
    assert record.status.value == "completed"
    assert seen == [None, task_id, task_id, task_id]


async def test_a_run_stopping_at_a_question_is_not_promoted_while_it_stops() -> None:
    """A question stops the run (MRTR) even if the rest of its task group takes past the
    deadline to stop: the request answers the question, not a task."""
    app = TaskApp("stopping")

    @app.task_tool(inline_for=0.05)
    async def slow_to_stop(ctx: TaskContext) -> str:
        async def lingers() -> None:
            try:
                await anyio.sleep_forever()
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.sleep(0.3)  # well past the deadline

        async with anyio.create_task_group() as tg:
            tg.start_soon(lingers)
            await anyio.lowlevel.checkpoint()
            answer = await ctx.elicit("Your name?", Name)
            tg.cancel_scope.cancel()
        return f"Hi {answer.data.name if answer.data else '?'}"

    async with modern(app) as client:
        first = await client.result("tools/call", {"name": "slow_to_stop", "arguments": {}})
    assert first["resultType"] == "input_required"
    assert "taskId" not in first


# -- the documented example -----------------------------------------------------------


async def test_the_promote_example() -> None:
    """examples/promote.py, as docs/tools.md shows it: `lookup` answers in the request
    when quick; `research` asks (an MRTR round), then goes on as a task."""
    from examples.promote import app

    async with modern(app) as client:
        quick = await client.result("tools/call", {"name": "lookup", "arguments": {"query": "x"}})
        assert quick["resultType"] == "complete"
        assert text(quick) == "found x"
        call = {"name": "research", "arguments": {"topic": "tides"}}
        first = await client.result("tools/call", call)
        [key] = first["inputRequests"]
        answer = {"action": "accept", "content": {"levels": 2}}
        created = await client.result(
            "tools/call",
            {**call, "inputResponses": {key: answer}, "requestState": first["requestState"]},
        )
        assert created["resultType"] == "task"
        done = await client.until_status(created["taskId"], "completed")
    assert text(done["result"]) == "tides: 2 levels researched"


def test_inline_for_is_only_for_task_tools_and_is_kept_as_seconds() -> None:
    app = TaskApp("kinds")

    async def plain() -> str:
        return "x"

    with pytest.raises(RegistrationError, match="inline_for is for task tools"):
        app.add_tool(plain, ToolSpec(inline_for=1.0))

    @task_tool(inline_for=2)
    async def marked() -> str:
        return "x"

    app.add_tool(marked)
    assert app.tools["marked"].inline_for == 2.0
    assert build().app.tools["test_tool_with_task"].inline_for == math.inf
    assert build().app.tools["from_start"].inline_for is None
