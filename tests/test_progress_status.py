"""A task's progress as its `statusMessage` for a 2026-07-28 client (engine/progress.py),
and no change over 2025-11-25, where progress stays a notification."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from taskapp import MemoryStore, TaskApp, TaskContext
from taskapp.engine import progress
from taskapp.records import KEEP, Outcome, TaskRecord, TaskStatus
from taskapp.wire import mcp2026
from tests.raw import raw_connection
from tests.test_tasks_extension import Modern, modern

pytestmark = pytest.mark.anyio

Step = tuple[str, tuple[Any, ...]]


class CountingStore(MemoryStore):
    """A MemoryStore that notes the status message of every update."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[TaskStatus | None, str | None]] = []

    async def update(
        self,
        task_id: str,
        *,
        now: float,
        status: TaskStatus | None = None,
        status_message: str | None = KEEP,
        outcome: Outcome | None = None,
    ) -> TaskRecord:
        if status_message is not KEEP:
            self.messages.append((status, status_message))
        return await super().update(
            task_id, now=now, status=status, status_message=status_message, outcome=outcome
        )


@dataclass
class Lab:
    """An app whose `steps` tool does what the test hands it, one step at a time."""

    store: CountingStore = field(default_factory=CountingStore)
    app: TaskApp = field(init=False)
    next_step: Step = ("", ())
    go: anyio.Event = field(default_factory=anyio.Event)  # set when a step is handed over
    done: anyio.Event = field(default_factory=anyio.Event)  # set after each step

    def __post_init__(self) -> None:
        self.app = TaskApp("progress", store=self.store)

        @self.app.task_tool()
        async def steps(ctx: TaskContext) -> str:
            while True:
                await self.go.wait()
                self.go = anyio.Event()
                verb, args = self.next_step
                if verb == "end":
                    self.done.set()
                    return "done"
                if verb == "status":
                    await ctx.update_status(*args)
                elif verb == "many":
                    for i in range(1, args[0] + 1):
                        await ctx.report_progress(i, total=args[0])
                else:
                    await ctx.report_progress(*args)
                self.done.set()

    async def step(self, verb: str, *args: Any) -> None:
        self.done = anyio.Event()
        self.next_step = (verb, args)
        self.go.set()
        with anyio.fail_after(5):
            await self.done.wait()


async def shows(m: Modern, task_id: str, message: str | None) -> None:
    await m.until(task_id, lambda t: t.get("statusMessage") == message)


async def test_2026_progress_shows_on_tasks_get_until_a_status_replaces_it() -> None:
    lab = Lab()
    async with modern(lab.app) as m:
        task_id = (await m.create("steps"))["taskId"]
        await lab.step("progress", 3, 10, "step 3/10")
        await shows(m, task_id, "step 3/10")
        await lab.step("progress", 4, 10)
        await shows(m, task_id, "4/10")
        await lab.step("progress", 5)
        await shows(m, task_id, "5")
        await lab.step("progress", 2.5, None)
        await shows(m, task_id, "2.5")
        await lab.step("status", "copying files")
        await shows(m, task_id, "copying files")
        await lab.step("progress", 6, 10, "step 6/10")
        await shows(m, task_id, "step 6/10")
        await lab.step("end")
        await m.until_status(task_id, "completed")


async def test_2026_a_report_that_changes_nothing_writes_nothing() -> None:
    lab = Lab()
    async with modern(lab.app) as m:
        task_id = (await m.create("steps"))["taskId"]
        await lab.step("progress", 1, 2, "same")
        await shows(m, task_id, "same")
        await anyio.sleep(progress.WRITE_INTERVAL_S)
        await lab.step("progress", 2, 2, "same")
        await anyio.sleep(progress.WRITE_INTERVAL_S * 1.5)  # a deferred write would be done
        assert lab.store.messages == [(None, "same")]
        await lab.step("end")
        await m.until_status(task_id, "completed")


async def test_2026_many_reports_are_coalesced_and_the_last_one_shows() -> None:
    lab = Lab()
    async with modern(lab.app) as m:
        task_id = (await m.create("steps"))["taskId"]
        began = time.monotonic()
        await lab.step("many", 10_000)
        await shows(m, task_id, "10000/10000")  # written once the interval has passed
        intervals = (time.monotonic() - began) / progress.WRITE_INTERVAL_S
        progress_writes = [s for s in lab.store.messages if s[0] is None]
        assert 2 <= len(progress_writes) <= intervals + 2, (intervals, progress_writes)
        await lab.step("end")
        await m.until_status(task_id, "completed")


async def test_2026_the_last_report_is_written_before_the_task_ends() -> None:
    lab = Lab()
    async with modern(lab.app) as m:
        task_id = (await m.create("steps"))["taskId"]
        await lab.step("progress", 1, 3)
        await lab.step("progress", 3, 3)  # within the interval: waits
        await lab.step("end")
        await m.until_status(task_id, "completed")
    statuses = [s for s, _ in lab.store.messages]
    assert lab.store.messages[-2] == (None, "3/3")
    assert statuses[-1] is TaskStatus.COMPLETED


async def test_2025_progress_leaves_the_status_message_and_is_notified() -> None:
    lab = Lab()
    async with raw_connection(lab.app) as conn:
        params = {"name": "steps", "arguments": {}, "task": {}, "_meta": {"progressToken": "t"}}
        task_id = (await conn.result("tools/call", params))["task"]["taskId"]
        await lab.step("progress", 3, 10, "step 3/10")
        await anyio.sleep(progress.WRITE_INTERVAL_S * 1.5)
        task = await conn.result("tasks/get", {"taskId": task_id})
        assert "statusMessage" not in task
        notes = await conn.wait_for(lambda: conn.notes("notifications/progress"))
        assert [(n["progressToken"], n["progress"], n["message"]) for n in notes] == [
            ("t", 3, "step 3/10")
        ]
        await lab.step("status", "copying files")
        task = await conn.result("tasks/get", {"taskId": task_id})
        assert task["statusMessage"] == "copying files"
        await lab.step("end")
    assert lab.store.messages[0] == (None, "copying files")


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((3, 10, "m"), "m"),
        ((3, 10, None), "3/10"),
        ((3, None, None), "3"),
        ((0.5, 1.0, ""), "0.5/1"),
    ],
)
def test_progress_text(args: tuple[float, float | None, str | None], text: str) -> None:
    assert progress.progress_text(*args) == text


def test_the_engine_and_the_wire_name_the_same_extension() -> None:
    caps: dict[str, Any] = {"extensions": {mcp2026.TASKS_EXTENSION: {}}}
    record = TaskRecord("t", TaskStatus.WORKING, 0, 0, None, "x", client_capabilities=caps)
    assert progress.shows_progress(record)
    assert mcp2026.declares_tasks(caps)
    assert not progress.shows_progress(TaskRecord("t", TaskStatus.WORKING, 0, 0, None, "x"))
