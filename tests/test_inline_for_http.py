"""`inline_for` over Streamable HTTP (2026-07-28, stateless POSTs): each MRTR round is its
own POST, the promotion answers the POST with the task, and closing the POST's stream
before the promotion cancels the run (basic-patterns-cancellation.mdx: "Closing the SSE
response stream MUST be treated by the server as cancellation of that request")."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from taskapp import TaskApp, TaskContext
from taskapp.transports.http import HttpTransport

from .test_http import serving
from .test_http_2026 import TASK_CAPS, Modern, body, events, headers_for, live, meta

pytestmark = pytest.mark.anyio


class Name(BaseModel):
    name: str


@dataclass
class Lab:
    app: TaskApp
    release: anyio.Event = field(default_factory=anyio.Event)
    cancelled: anyio.Event = field(default_factory=anyio.Event)
    runs: int = 0


def build() -> Lab:
    lab = Lab(TaskApp("inline-for-http", version="1.0.0"))

    @lab.app.task_tool(mode="required", inline_for=math.inf)
    async def test_tool_with_task(ctx: TaskContext) -> str:
        lab.runs += 1
        answer = await ctx.elicit("What is your name?", Name)
        await ctx.continue_as_task()
        return f"Hello, {answer.data.name if answer.data else '?'}!"

    @lab.app.task_tool(inline_for=0.1)
    async def slow(ctx: TaskContext) -> str:
        await ctx.report_progress(1, message="started")  # makes the POST a stream
        try:
            await lab.release.wait()
        except anyio.get_cancelled_exc_class():
            lab.cancelled.set()
            raise
        await ctx.report_progress(2, message="after the promotion")
        return "slow done"

    @lab.app.task_tool(inline_for=math.inf)
    async def until_cancelled(ctx: TaskContext) -> str:
        await ctx.report_progress(1)
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            lab.cancelled.set()
            raise
        return "never"

    return lab


def call(name: str, **more: Any) -> dict[str, Any]:
    return {"_meta": meta(TASK_CAPS, **more), "name": name, "arguments": {}}


async def test_mrtr_rounds_then_a_task_over_http() -> None:
    """The conformance suite's tasks-mrtr-composition, one POST per round."""
    lab = build()
    async with serving(lab.app.http_app()) as client:
        modern = Modern(client)
        first = await modern.result("tools/call", call("test_tool_with_task"))
        assert first["resultType"] == "input_required"
        assert "taskId" not in first
        [key] = first["inputRequests"]
        answer = {"action": "accept", "content": {"name": "Alice"}}
        second = await modern.result(
            "tools/call",
            {
                **call("test_tool_with_task"),
                "inputResponses": {key: answer},
                "requestState": first["requestState"],
            },
        )
        assert second["resultType"] == "task"
        assert "requestState" not in second
        with anyio.fail_after(5):
            done = await modern.task(second["taskId"], "completed")
    assert done["result"]["content"] == [{"type": "text", "text": "Hello, Alice!"}]
    assert lab.runs == 2


async def test_the_deadline_answers_the_post_with_the_task_and_the_run_goes_on() -> None:
    lab = build()
    async with live(HttpTransport(lab.app.spec())) as client:
        modern = Modern(client)
        params = call("slow", progressToken="p")
        async with client.stream(
            "POST", "/mcp", content=body(1, "tools/call", params),
            headers=headers_for("tools/call", params),
        ) as stream:  # fmt: skip
            received = [message async for message in events(stream)]
        progress, answer = received[0], received[-1]
        assert progress["method"] == "notifications/progress"  # before: the request's own
        created = answer["result"]
        assert created["resultType"] == "task"
        # The POST has ended; the run has not.
        lab.release.set()
        modern.next_id = 1
        with anyio.fail_after(5):
            done = await modern.task(created["taskId"], "completed")
    assert done["result"]["content"] == [{"type": "text", "text": "slow done"}]
    assert not lab.cancelled.is_set()
    # After the promotion progress is the task's (its statusMessage), not the POST's.
    assert [m.get("method") for m in received] == ["notifications/progress", None]


async def test_closing_the_stream_before_the_promotion_cancels_the_run() -> None:
    lab = build()
    async with live(HttpTransport(lab.app.spec())) as client:
        params = call("until_cancelled", progressToken="p")
        async with client.stream(
            "POST", "/mcp", content=body(1, "tools/call", params),
            headers=headers_for("tools/call", params),
        ) as stream:  # fmt: skip
            first = await anext(events(stream))
            assert first["method"] == "notifications/progress"
        with anyio.fail_after(5):
            await lab.cancelled.wait()
