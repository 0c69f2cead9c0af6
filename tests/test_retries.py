"""Retries and timeouts of a task tool (issue 20): `retries`, `retry_backoff`, `timeout`.

A tool that raises (anything but a ToolError) or runs past its timeout runs again, after
an exponential backoff with jitter, while `retries` allow; the status says so; when they
are spent the task ends exactly as a raising tool's task ends (S-46 for its message)."""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from taskapp import TaskApp, TaskContext, ToolError
from taskapp.engine.attempts import MAX_BACKOFF_S, backoff, seconds
from taskapp.errors import RegistrationError
from taskapp.tools import ToolSpec, build_tool
from taskapp.wire.jsonrpc import INVALID_PARAMS, JsonRpcError
from tests.clients import LegacyClient
from tests.test_tasks_extension import modern

pytestmark = pytest.mark.anyio

RETRY_1 = re.compile(r"^retry 1 of 3 in [0-9.e-]+ s: RuntimeError: flaky 1$")
RETRY_2 = re.compile(r"^retry 2 of 3 in [0-9.e-]+ s: RuntimeError: flaky 2$")


class Flaky:
    """An app whose tool fails twice, then succeeds; attempts two and three wait for the
    test to have seen the status that announced them (so a poller cannot miss one)."""

    def __init__(self) -> None:
        self.app = TaskApp("retries")
        self.attempts = 0
        self.seen = {2: anyio.Event(), 3: anyio.Event()}

        @self.app.task_tool(retries=3, retry_backoff=0.001)
        async def flaky(ctx: TaskContext) -> str:
            self.attempts += 1
            if self.attempts in self.seen:
                await self.seen[self.attempts].wait()
            if self.attempts < 3:
                raise RuntimeError(f"flaky {self.attempts}")
            return f"done on attempt {self.attempts}"

    def saw(self, message: str | None) -> None:
        if message and RETRY_1.match(message):
            self.seen[2].set()
        if message and RETRY_2.match(message):
            self.seen[3].set()


async def test_a_tool_that_fails_twice_completes_on_attempt_three_2025() -> None:
    flaky = Flaky()
    messages: list[str | None] = []

    async def on_status(task: Any) -> None:
        messages.append(task.status_message)
        flaky.saw(task.status_message)

    async with LegacyClient(flaky.app, status_handler=on_status) as client:
        created = await client.call_tool_as_task("flaky")
        result = await client.get_task_result(created.task.task_id)
        task = await client.get_task(created.task.task_id)
    assert not result.is_error
    assert result.content[0]["text"] == "done on attempt 3"
    assert flaky.attempts == 3
    assert task.status == "completed"
    shown = [m for m in messages if m and m.startswith("retry")]
    assert len(shown) == 2
    assert RETRY_1.match(shown[0])
    assert RETRY_2.match(shown[1])


async def test_a_tool_that_fails_twice_completes_on_attempt_three_2026() -> None:
    flaky = Flaky()
    async with modern(flaky.app) as client:
        created = await client.create("flaky")
        task_id = created["taskId"]
        first = await client.until(
            task_id, lambda t: bool(RETRY_1.match(t.get("statusMessage", "")))
        )
        flaky.saw(first["statusMessage"])
        assert first["status"] == "working"
        second = await client.until(
            task_id, lambda t: bool(RETRY_2.match(t.get("statusMessage", "")))
        )
        flaky.saw(second["statusMessage"])
        done = await client.until_status(task_id, "completed")
    assert done["result"]["content"] == [{"type": "text", "text": "done on attempt 3"}]
    assert not done["result"].get("isError")
    assert flaky.attempts == 3


def _app_with(**options: Any) -> tuple[TaskApp, list[int]]:
    """An app whose `fails` tool always raises, and whose `plain` tool does the same
    without retries: what a raising tool's task looks like today."""
    calls: list[int] = []
    app = TaskApp("retries")

    @app.task_tool(name="fails", **options)
    async def fails() -> str:
        calls.append(1)
        raise ValueError(f"boom {len(calls)}")

    @app.task_tool(name="plain")
    async def plain() -> str:
        raise ValueError("boom 3")

    return app, calls


async def test_spent_retries_end_the_task_as_a_raising_tool_ends_it_2025() -> None:
    app, calls = _app_with(retries=2, retry_backoff=0)
    async with LegacyClient(app) as client:
        retried = await client.call_tool_as_task("fails")
        plain = await client.call_tool_as_task("plain")
        got = [await client.get_task_result(t.task.task_id) for t in (retried, plain)]
        tasks = [await client.get_task(t.task.task_id) for t in (retried, plain)]
    assert len(calls) == 3
    assert got[0].content == got[1].content == [{"type": "text", "text": "ValueError: boom 3"}]
    assert got[0].is_error
    assert got[1].is_error
    assert (tasks[0].status, tasks[0].status_message) == (tasks[1].status, tasks[1].status_message)


async def test_spent_retries_end_the_task_as_a_raising_tool_ends_it_2026() -> None:
    """2026-07-28: a tool's error is a completed task whose result has isError (TX-7)."""
    app, calls = _app_with(retries=2, retry_backoff=0)
    async with modern(app) as client:
        retried = (await client.create("fails"))["taskId"]
        plain = (await client.create("plain"))["taskId"]
        ends = [await client.until_status(t, "completed") for t in (retried, plain)]
    assert len(calls) == 3
    assert ends[0]["result"] == ends[1]["result"]
    assert ends[0]["result"]["isError"] is True
    assert ends[0]["statusMessage"] == ends[1]["statusMessage"]


async def test_a_tool_error_is_not_retried() -> None:
    calls: list[int] = []
    app = TaskApp("retries")

    @app.task_tool(retries=3, retry_backoff=0)
    async def refuses() -> str:
        calls.append(1)
        raise ToolError("no such city")

    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("refuses")
        result = await client.get_task_result(created.task.task_id)
    assert result.is_error
    assert result.content == [{"type": "text", "text": "no such city"}]
    assert calls == [1]


async def test_cancelling_during_the_backoff_stops_the_retries() -> None:
    """S-41: the task is cancelled at once; the long backoff is cancelled with it."""
    app, calls = _app_with(retries=1, retry_backoff=100)
    statuses: list[str | None] = []
    announced = anyio.Event()

    async def on_status(task: Any) -> None:
        statuses.append(task.status_message)
        if (task.status_message or "").startswith("retry 1 of 1 in"):
            announced.set()

    async with LegacyClient(app, status_handler=on_status) as client, app.running():
        created = await client.call_tool_as_task("fails")
        with anyio.fail_after(5):
            await announced.wait()
        cancelled = await client.cancel_task(created.task.task_id)
        with anyio.fail_after(5):
            result = await client.get_task_result(created.task.task_id)
    assert cancelled.status == "cancelled"
    assert result.is_error
    assert calls == [1]


async def test_a_task_whose_ttl_runs_out_during_the_backoff_is_gone() -> None:
    app, calls = _app_with(retries=1, retry_backoff=100)
    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("fails", ttl=300)
        task_id = created.task.task_id
        # tasks/result follows the task until it ends or is gone: here, gone (S-47).
        with anyio.fail_after(5), pytest.raises(JsonRpcError) as gone:
            await client.get_task_result(task_id)
    assert gone.value.code == INVALID_PARAMS
    assert calls == [1]


async def test_an_attempt_past_its_timeout_ends_as_a_tool_error_that_says_so() -> None:
    app = TaskApp("timeouts")

    @app.task_tool(timeout=0.05)
    async def hangs() -> str:
        await anyio.sleep_forever()
        return "never"

    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("hangs")
        result = await client.get_task_result(created.task.task_id)
    assert result.is_error
    assert result.content == [
        {"type": "text", "text": "Timed out: the tool ran longer than its timeout of 0.05 s"}
    ]


async def test_a_timeout_is_retried_when_retries_allow() -> None:
    attempts: list[int] = []
    messages: list[str | None] = []
    app = TaskApp("timeouts")

    @app.task_tool(timeout=0.05, retries=1, retry_backoff=0)
    async def slow_once() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            await anyio.sleep_forever()
        return "second time lucky"

    async def on_status(task: Any) -> None:
        messages.append(task.status_message)

    async with LegacyClient(app, status_handler=on_status) as client:
        created = await client.call_tool_as_task("slow_once")
        result = await client.get_task_result(created.task.task_id)
    assert result.content == [{"type": "text", "text": "second time lucky"}]
    assert any(
        m and m.startswith("retry 1 of 1 in") and m.endswith("timeout of 0.05 s (attempt 1)")
        for m in messages
    ), messages


class Ok(BaseModel):
    ok: bool


async def test_time_spent_in_input_required_does_not_count_against_the_timeout() -> None:
    """The client takes three timeouts' worth to answer; the tool still completes."""
    app = TaskApp("timeouts")

    @app.task_tool(timeout=0.2)
    async def asks(ctx: TaskContext) -> str:
        answer = await ctx.elicit("Go ahead?", Ok)
        return "went" if answer.data and answer.data.ok else "stopped"

    async def slow_user(params: dict[str, Any]) -> dict[str, Any]:
        await anyio.sleep(0.6)
        return {"action": "accept", "content": {"ok": True}}

    async with LegacyClient(app, elicitation_handler=slow_user) as client:
        created = await client.call_tool_as_task("asks")
        result = await client.get_task_result(created.task.task_id)
    assert not result.is_error, result
    assert result.content == [{"type": "text", "text": "went"}]


def test_the_backoff_doubles_with_jitter_and_is_capped() -> None:
    for retry, middle in ((1, 1.0), (2, 2.0), (3, 4.0)):
        delays = [backoff(1.0, retry) for _ in range(200)]
        assert all(0.75 * middle <= d <= 1.25 * middle for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff(1.0, 40) <= 1.25 * MAX_BACKOFF_S
    assert backoff(0, 3) == 0
    assert (seconds(4.2), seconds(12.4), seconds(0.0123)) == ("4.2", "12", "0.012")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries must be a whole number >= 0"),
        ({"retries": 1.5}, "retries must be a whole number >= 0"),
        ({"retry_backoff": -1}, "retry_backoff must be a number of seconds >= 0"),
        ({"timeout": 0}, "timeout must be a number of seconds > 0"),
        ({"dedupe_for": float("inf")}, "dedupe_for must be a number of seconds > 0"),
        ({"mode": "forbidden", "retries": 1}, "apply to tasks; register the tool with"),
    ],
)
def test_reliability_options_are_checked_at_registration(
    options: dict[str, Any], message: str
) -> None:
    async def tool() -> None: ...

    spec = ToolSpec(**{"mode": "optional", **options})
    with pytest.raises(RegistrationError, match=re.escape(message)):
        build_tool(tool, spec)
