"""Interop over stdio: the official MCP Python client (and taskapp's own) drive `taskapp run`.

Each test starts `python -m taskapp run tests/fixture_app.py:app` as a subprocess and
talks to it as a real peer would. S-numbers refer to /work/shared/spec/TASKS-CHECKLIST.md.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, McpError, StdioServerParameters, types
from mcp.client.experimental import ExperimentalClientFeatures
from mcp.client.stdio import stdio_client
from mcp.shared.session import RequestResponder

from taskapp.client import Task as TaskappTask
from tests.clients import LegacyClient

from .official_client import RELATED, TERMINAL, TIMEOUT, related_task_id, text_of

pytestmark = [
    pytest.mark.anyio,
    # The SDK marks its task API deprecated (tasks left the core spec after 2025-11-25);
    # taskapp speaks 2025-11-25, so that API is exactly the peer to test against.
    pytest.mark.filterwarnings("ignore:The experimental tasks API:DeprecationWarning"),
]

REPO = Path(__file__).resolve().parent.parent
SERVER_ARGS = ["-m", "taskapp", "run", "tests/fixture_app.py:app", "--log-level", "warning"]
SERVER = StdioServerParameters(command=sys.executable, args=SERVER_ARGS, cwd=REPO)
CANCELLED_TEXT = "The task was cancelled by the requestor."


Event = types.TaskStatusNotificationParams | types.ProgressNotificationParams
ServerMessage = (
    RequestResponder[types.ServerRequest, types.ClientResult] | types.ServerNotification | Exception
)


class Inbox:
    """A `message_handler` that keeps task status and progress notifications, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = anyio.Event()

    async def __call__(self, message: ServerMessage) -> None:
        if isinstance(message, types.ServerNotification):
            root = message.root
            if isinstance(root, types.TaskStatusNotification | types.ProgressNotification):
                self.events.append(root.params)
                self._changed.set()
                self._changed = anyio.Event()
        await anyio.lowlevel.checkpoint()

    def statuses(self, task_id: str) -> list[types.TaskStatusNotificationParams]:
        return [
            e
            for e in self.events
            if isinstance(e, types.TaskStatusNotificationParams) and e.taskId == task_id
        ]

    def progress(self, token: str) -> list[types.ProgressNotificationParams]:
        return [
            e
            for e in self.events
            if isinstance(e, types.ProgressNotificationParams) and e.progressToken == token
        ]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        with anyio.fail_after(TIMEOUT):
            while not predicate():
                await self._changed.wait()

    async def wait_terminal(self, task_id: str) -> types.TaskStatusNotificationParams:
        def ended() -> bool:
            return any(s.status in TERMINAL for s in self.statuses(task_id))

        await self.wait_for(ended)
        return self.statuses(task_id)[-1]


@asynccontextmanager
async def connect(
    inbox: Inbox | None = None,
) -> AsyncIterator[tuple[ClientSession, ExperimentalClientFeatures, types.InitializeResult]]:
    """The official client, initialized against a fresh `taskapp run` subprocess."""
    async with (
        stdio_client(SERVER) as (read, write),
        ClientSession(read, write, message_handler=inbox) as session,
    ):
        with anyio.fail_after(TIMEOUT):
            init = await session.initialize()
        yield session, session.experimental, init


# -- 1. initialize and tools/list ------------------------------------------------


async def test_initialize_advertises_tasks_and_tools_show_task_support() -> None:
    """S-1: tasks.list, tasks.cancel, tasks.requests.tools.call; execution.taskSupport per tool."""
    async with connect() as (session, _, init):
        assert init.protocolVersion == "2025-11-25"
        assert (init.serverInfo.name, init.serverInfo.version) == ("fixture", "1.0.0")
        tasks = init.capabilities.tasks
        assert tasks is not None
        assert tasks.model_dump(exclude_none=True) == {
            "list": {},
            "cancel": {},
            "requests": {"tools": {"call": {}}},
        }
        with anyio.fail_after(TIMEOUT):
            listed = await session.list_tools()
        assert listed.nextCursor is None
        tools = {t.name: t for t in listed.tools}
        support = {
            name: t.execution.taskSupport if t.execution else None for name, t in tools.items()
        }
        assert support == {
            "slow_add": "required",
            "echo": "forbidden",
            "explode": "optional",
            "protocol_fail": "optional",
            "sleeper": "optional",
            "stats": "optional",
        }
        assert tools["slow_add"].description == (
            "Add a and b slowly, reporting status and progress at every step."
        )
        assert tools["slow_add"].inputSchema == {
            "type": "object",
            "properties": {
                "a": {"type": "number"},
                "b": {"type": "number"},
                "steps": {"type": "integer", "default": 5},
                "delay": {"type": "number", "default": 0.4},
            },
            "required": ["a", "b"],
        }
        assert tools["echo"].inputSchema == {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        }
        assert tools["slow_add"].outputSchema is None
        stats_schema = tools["stats"].outputSchema
        assert stats_schema is not None
        assert stats_schema["type"] == "object"
        assert stats_schema["required"] == ["count", "total", "mean"]


async def test_structured_output_inline_and_as_task() -> None:
    """A pydantic return is structuredContent that the SDK validates against outputSchema."""
    async with connect() as (session, tasks, _):
        with anyio.fail_after(TIMEOUT):
            inline = await session.call_tool("stats", {"numbers": [1, 2, 3]})
            created = await tasks.call_tool_as_task("stats", {"numbers": [1, 2, 3]})
            as_task = await tasks.get_task_result(created.task.taskId, types.CallToolResult)
        expected = {"count": 3, "total": 6.0, "mean": 2.0}
        assert inline.isError is False
        assert inline.structuredContent == expected
        assert as_task.structuredContent == expected
        assert as_task.isError is False
        assert related_task_id(as_task) == created.task.taskId


# -- 2. a full task life -----------------------------------------------------------


async def test_full_task_life() -> None:
    """Create, poll, status and progress notifications (S-37), result (S-30), list (S-39)."""
    inbox = Inbox()
    async with connect(inbox) as (session, tasks, _):
        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task(
                "slow_add",
                {"a": 1, "b": 2, "steps": 3, "delay": 0.1},
                meta={"progressToken": "tok-1"},
            )
            task = created.task
            assert (task.status, task.ttl, task.pollInterval) == ("working", 60000, 500)
            polls = [p async for p in tasks.poll_task(task.taskId)]
            # Paced by pollInterval (500 ms) over a 0.3 s task: a handful of polls, not hundreds.
            assert len(polls) <= 10
            assert [p.status for p in polls[:-1]] == ["working"] * (len(polls) - 1)
            assert polls[-1].status == "completed"
            assert {p.pollInterval for p in polls} == {500}
            assert {p.taskId for p in polls} == {task.taskId}
            assert {p.meta is None for p in polls} == {True}  # S-33: no related-task on tasks/get

            await inbox.wait_terminal(task.taskId)
            result = await tasks.get_task_result(task.taskId, types.CallToolResult)
            assert text_of(result) == "1 + 2 = 3"
            assert result.isError is False
            assert related_task_id(result) == task.taskId  # S-30

            listed = await tasks.list_tasks()  # S-39
            assert [t.status for t in listed.tasks if t.taskId == task.taskId] == ["completed"]

            # A round trip after the end: any late progress would have arrived before it.
            assert text_of(await session.call_tool("echo", {"text": "after"})) == "after"

        statuses = inbox.statuses(task.taskId)
        assert [(s.status, s.statusMessage) for s in statuses] == [
            ("working", "step 1/3"),
            ("working", "step 2/3"),
            ("working", "step 3/3"),
            ("completed", None),
        ]
        assert [s.meta for s in statuses] == [None] * 4  # S-35: no related-task _meta
        progress = inbox.progress("tok-1")
        assert [(p.progress, p.total) for p in progress] == [(1, 3), (2, 3), (3, 3)]
        assert [p.model_dump(by_alias=True)["_meta"][RELATED] for p in progress] == [
            {"taskId": task.taskId}
        ] * 3
        # S-37: progress stops once the task is terminal.
        terminal_at = inbox.events.index(statuses[-1])
        assert all(e not in progress for e in inbox.events[terminal_at:])


# -- 3. tasks/result blocks ----------------------------------------------------------


async def test_result_blocks_until_the_task_ends() -> None:
    """S-28: tasks/result on a working task waits, then returns the final result."""
    async with connect() as (_, tasks, _):
        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task(
                "slow_add", {"a": 1, "b": 2, "steps": 2, "delay": 0.15}
            )
            task_id = created.task.taskId
            before = await tasks.get_task(task_id)
            result = await tasks.get_task_result(task_id, types.CallToolResult)
            after = await tasks.get_task(task_id)
        assert before.status == "working"
        assert text_of(result) == "1 + 2 = 3"
        assert related_task_id(result) == task_id
        assert after.status == "completed"


# -- 4. cancellation -----------------------------------------------------------------


async def test_cancel_a_running_task() -> None:
    """S-41 cancelled before the answer, S-42 stays cancelled, S-40 second cancel → -32602."""
    inbox = Inbox()
    async with connect(inbox) as (session, tasks, _):
        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task(
                "slow_add",
                {"a": 1, "b": 2, "steps": 4, "delay": 0.15},
                meta={"progressToken": "tok-c"},
            )
            task_id = created.task.taskId
            await inbox.wait_for(lambda: len(inbox.statuses(task_id)) >= 1)
            cancelled = await tasks.cancel_task(task_id)
            assert cancelled.taskId == task_id
            assert cancelled.status == "cancelled"  # S-41
            assert cancelled.statusMessage == CANCELLED_TEXT

            await anyio.sleep(0.7)  # past the moment the function would have returned
            assert (await tasks.get_task(task_id)).status == "cancelled"  # S-42

            with pytest.raises(McpError) as excinfo:
                await tasks.cancel_task(task_id)
            assert excinfo.value.error.code == -32602  # S-40
            assert "already in terminal status 'cancelled'" in excinfo.value.error.message

            result = await tasks.get_task_result(task_id, types.CallToolResult)
            assert result.isError is True
            assert text_of(result) == CANCELLED_TEXT
            assert related_task_id(result) == task_id

            assert text_of(await session.call_tool("echo", {"text": "still here"})) == "still here"

        statuses = inbox.statuses(task_id)
        assert statuses[-1].status == "cancelled"
        assert [s.status for s in statuses[:-1]] == ["working"] * (len(statuses) - 1)
        terminal_at = inbox.events.index(statuses[-1])
        assert not [e for e in inbox.events[terminal_at:] if e in inbox.progress("tok-c")]


# -- 5. failures ---------------------------------------------------------------------


async def test_a_tool_that_raises_fails_the_task() -> None:
    """S-46: failed with the exception in statusMessage; tasks/result is an isError result."""
    inbox = Inbox()
    async with connect(inbox) as (_, tasks, _):
        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task("explode", {"message": "kaboom"})
            task_id = created.task.taskId
            result = await tasks.get_task_result(task_id, types.CallToolResult)
            task = await tasks.get_task(task_id)
            notified = await inbox.wait_terminal(task_id)
        assert result.isError is True
        assert text_of(result) == "ValueError: kaboom"
        assert related_task_id(result) == task_id
        assert task.status == "failed"
        assert task.statusMessage is not None
        assert "kaboom" in task.statusMessage
        assert (notified.status, notified.statusMessage) == ("failed", task.statusMessage)


async def test_a_protocol_error_is_returned_by_tasks_result() -> None:
    """S-29: tasks/result returns the very JSON-RPC error the tool raised."""
    async with connect() as (_, tasks, _):
        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task("protocol_fail", {})
            task_id = created.task.taskId
            with pytest.raises(McpError) as excinfo:
                await tasks.get_task_result(task_id, types.CallToolResult)
            task = await tasks.get_task(task_id)
        error = excinfo.value.error
        assert (error.code, error.message, error.data) == (
            -32042,
            "custom",
            {"reason": "because", "n": 7},
        )
        assert task.status == "failed"
        assert task.statusMessage == "custom"


# -- 6. TTL ----------------------------------------------------------------------------


async def test_a_task_expires_while_running() -> None:
    """S-24: after its TTL a running task is gone (-32602); the server goes on serving."""
    async with connect() as (session, tasks, _):
        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task("sleeper", {"seconds": 5}, ttl=300)
            task_id = created.task.taskId
            assert created.task.ttl == 300  # S-23: the granted TTL
            blocked: list[McpError] = []

            async def wait_result() -> None:
                with pytest.raises(McpError) as excinfo:
                    await tasks.get_task_result(task_id, types.CallToolResult)
                blocked.append(excinfo.value)

            async with anyio.create_task_group() as tg:
                tg.start_soon(wait_result)
                await anyio.sleep(0.6)
                with pytest.raises(McpError) as excinfo:
                    await tasks.get_task(task_id)
            assert excinfo.value.error.code == -32602
            assert [(e.error.code, "expired" in e.error.message) for e in blocked] == [
                (-32602, True)
            ]

            assert text_of(await session.call_tool("echo", {"text": "alive"})) == "alive"
            again = await tasks.call_tool_as_task(
                "slow_add", {"a": 2, "b": 2, "steps": 1, "delay": 0.01}
            )
            result = await tasks.get_task_result(again.task.taskId, types.CallToolResult)
        assert text_of(result) == "2 + 2 = 4"


# -- 7. errors ---------------------------------------------------------------------------


async def test_protocol_errors() -> None:
    """S-9 required without task, S-7 forbidden with task → -32601; unknown task → -32602."""
    async with connect() as (session, tasks, _):
        with anyio.fail_after(TIMEOUT):
            with pytest.raises(McpError) as required:
                await session.call_tool("slow_add", {"a": 1, "b": 2})
            with pytest.raises(McpError) as forbidden:
                await tasks.call_tool_as_task("echo", {"text": "x"})
            with pytest.raises(McpError) as unknown_get:
                await tasks.get_task("no-such-task")
            with pytest.raises(McpError) as unknown_result:
                await tasks.get_task_result("no-such-task", types.CallToolResult)
            with pytest.raises(McpError) as unknown_cancel:
                await tasks.cancel_task("no-such-task")
            with pytest.raises(McpError) as unknown_tool:
                await tasks.call_tool_as_task("no_such_tool", {})
            assert text_of(await session.call_tool("echo", {"text": "ok"})) == "ok"
        assert required.value.error.code == -32601  # S-9
        assert forbidden.value.error.code == -32601  # S-7
        assert [
            e.value.error.code for e in (unknown_get, unknown_result, unknown_cancel, unknown_tool)
        ] == [-32602] * 4  # S-45
        assert "no-such-task" in unknown_get.value.error.message


# -- 8, 9. concurrency ----------------------------------------------------------------------


async def test_two_waiters_on_one_task_both_get_the_result() -> None:
    """S-28: every blocked tasks/result gets the answer."""
    async with connect() as (_, tasks, _):
        results: list[str] = []

        async def wait(task_id: str) -> None:
            results.append(text_of(await tasks.get_task_result(task_id, types.CallToolResult)))

        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task(
                "slow_add", {"a": 1, "b": 2, "steps": 2, "delay": 0.1}
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait, created.task.taskId)
                tg.start_soon(wait, created.task.taskId)
        assert results == ["1 + 2 = 3", "1 + 2 = 3"]


async def test_two_hundred_tasks_in_flight() -> None:
    """200 tasks created at once through the official client all complete, each correctly."""
    count = 200
    async with connect() as (_, tasks, _):
        ids: dict[int, str] = {}
        answers: dict[int, str] = {}

        async def create(i: int) -> None:
            created = await tasks.call_tool_as_task(
                "slow_add", {"a": i, "b": 1, "steps": 1, "delay": 0.05}
            )
            ids[i] = created.task.taskId

        async def collect(i: int) -> None:
            answers[i] = text_of(await tasks.get_task_result(ids[i], types.CallToolResult))

        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                for i in range(count):
                    tg.start_soon(create, i)
            async with anyio.create_task_group() as tg:
                for i in range(count):
                    tg.start_soon(collect, i)
            listed: list[types.Task] = []
            pages = 0
            cursor: str | None = None
            while pages == 0 or cursor is not None:
                page = await tasks.list_tasks(cursor)
                listed.extend(page.tasks)
                cursor = page.nextCursor
                pages += 1
    assert len(set(ids.values())) == count
    assert answers == {i: f"{i} + 1 = {i + 1}" for i in range(count)}
    assert pages == 2  # S-38: 100 tasks a page, then a nextCursor
    assert sorted(t.taskId for t in listed) == sorted(ids.values())
    assert {t.status for t in listed} == {"completed"}


# -- 10. taskapp's own client over stdio ---------------------------------------------------


async def test_taskapp_client_over_stdio() -> None:
    """taskapp.client.Client against a subprocess: create, progress, result, list, cancel."""
    command = [
        sys.executable,
        "-m",
        "taskapp",
        "run",
        f"{REPO / 'tests' / 'fixture_app.py'}:app",
        "--log-level",
        "warning",
    ]
    progress: list[tuple[float, float | None]] = []
    statuses: list[TaskappTask] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total))

    async def on_status(task: TaskappTask) -> None:
        statuses.append(task)

    with anyio.fail_after(TIMEOUT):
        async with LegacyClient(command, status_handler=on_status) as client:
            assert client.server_info == {"name": "fixture", "version": "1.0.0"}
            created = await client.call_tool_as_task(
                "slow_add",
                {"a": 1, "b": 2, "steps": 2, "delay": 0.05},
                progress_handler=on_progress,
            )
            task_id = created.task.task_id
            result = await client.get_task_result(task_id)
            listed = await client.list_tasks()

            sleeping = await client.call_tool_as_task("sleeper", {"seconds": 5})
            cancelled = await client.cancel_task(sleeping.task.task_id)
            after_cancel = await client.get_task_result(sleeping.task.task_id)

    assert [b.get("text") for b in result.content] == ["1 + 2 = 3"]
    assert result.is_error is False
    assert progress == [(1, 2), (2, 2)]
    assert [t.task_id for t in listed.tasks] == [task_id]
    assert [(t.status, t.status_message) for t in statuses if t.task_id == task_id] == [
        ("working", "step 1/2"),
        ("working", "step 2/2"),
        ("completed", None),
    ]
    assert cancelled.status == "cancelled"
    assert after_cancel.is_error is True
    assert [b.get("text") for b in after_cancel.content] == [CANCELLED_TEXT]
