"""Interop with the official Python SDK 2.x (mcp==2.3.0), which speaks MCP 2026-07-28.

mcp 2.x cannot share a virtualenv with the mcp 1.30 the other interop tests use, so its
side runs as scripts (tests/mcp2/*.py) under another Python: a venv built from
tests/mcp2/requirements.lock by tests/side_venv.py (once, then cached), or the one the
environment variable TASKAPP_MCP2_PYTHON names. Each script connects to a server given as
a stdio command or an HTTP URL, does its steps, and prints one JSON event per line; the
tests here check those events. When that Python cannot be had (no network on a cold
cache), the tests are skipped with the reason; in CI (CI is set) they fail instead.

Servers are `python -m taskapp run examples/<app>.py:app`: over stdio the script starts
its own; over HTTP one `--transport http` process per module and app serves them all.
Spec references: SEP-2663 (/work/shared/spec/tasks-extension/2663-tasks-extension.md),
MCP 2026-07-28 (/work/shared/spec/mcp-2026-07-28/).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client

from .official_client import Elicitor, wait_status
from .side_venv import peer_python
from .test_http_interop import run_server

pytestmark = [
    pytest.mark.anyio,
    # mcp 1.30 marks its 2025-11-25 task API and `streamablehttp_client` deprecated; that
    # API is exactly the 2025-11-25 peer the era tests need.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "mcp2"
MCP2_VERSION = "2.3.0"
MODERN = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"
SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
TIMEOUT = 20
Event = dict[str, Any]


# -- the mcp 2.x Python -------------------------------------------------------------------


MCP2_LOCK = SCRIPTS / "requirements.lock"


@pytest.fixture(scope="module")
def mcp2() -> str:
    """The Python that runs tests/mcp2/*.py; skip without one, or fail in CI."""
    return peer_python(
        "mcp2", MCP2_LOCK, env_var="TASKAPP_MCP2_PYTHON", versions={"mcp": MCP2_VERSION},
        what="the mcp 2.x interop tests",
    )  # fmt: skip


class Run:
    """One mcp 2.x script, running: its events as they come, its stdin for `--wait-stdin`."""

    def __init__(self, process: anyio.abc.Process, stderr: Path) -> None:
        self.process = process
        self.stderr = stderr
        self.events: list[Event] = []
        assert process.stdout is not None
        self._lines = BufferedByteReceiveStream(process.stdout)

    async def _next(self) -> Event | None:
        try:
            line = await self._lines.receive_until(b"\n", 1 << 22)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.ClosedResourceError):
            return None
        event: Event = json.loads(line)
        self.events.append(event)
        return event

    async def wait_for(self, name: str) -> Event:
        """The next event called `name` (the ones before it are kept in `events`)."""
        while (event := await self._next()) is not None:
            if event["event"] == name:
                return event
        await self.process.wait()
        pytest.fail(f"the script ended without {name!r}: {self.failure()}")

    async def send_line(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(b"go\n")

    async def finish(self) -> list[Event]:
        """Every event, once the script has ended; a failed script fails the test."""
        while await self._next() is not None:
            pass
        if await self.process.wait() != 0:
            pytest.fail(f"the mcp 2.x script failed: {self.failure()}")
        assert self.events, self.failure()
        assert self.events[-1]["event"] == "done", self.failure()
        return self.events

    def failure(self) -> str:
        return (
            f"exit {self.process.returncode}; events {self.events}; "
            f"stderr:\n{self.stderr.read_text()[-4000:]}"
        )


@asynccontextmanager
async def started(python: str, script: str, *args: str, logs: Path) -> AsyncIterator[Run]:
    """`script args` under the mcp 2.x Python; killed at the end if it is still running."""
    stderr = logs / f"{script}-{time.monotonic_ns()}.log"
    with stderr.open("wb") as errors:
        process = await anyio.open_process(
            [python, str(SCRIPTS / f"{script}.py"), *args], cwd=REPO, stderr=errors
        )
    try:
        yield Run(process, stderr)
    finally:
        if process.returncode is None:
            process.kill()  # its stdio server sees EOF and exits too
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()


async def run_script(python: str, script: str, *args: str, logs: Path) -> list[Event]:
    async with started(python, script, *args, logs=logs) as run:
        return await run.finish()


def events_named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e["event"] == name]


def one(events: list[Event], name: str) -> Event:
    found = events_named(events, name)
    assert len(found) == 1, (name, events)
    return found[0]


def text_of(result: dict[str, Any]) -> str:
    return "".join(block["text"] for block in result["content"] if block["type"] == "text")


# -- servers ---------------------------------------------------------------------------------


def stdio_command(app: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "taskapp", "run", f"examples/{app}.py:app", "--log-level",
            "warning", *extra]  # fmt: skip


@contextmanager
def http_server(app: str, log: Path) -> Iterator[str]:
    """`taskapp run examples/<app>.py:app --transport http` until the block ends: its URL."""
    with run_server(f"examples/{app}.py:app", log) as server:
        yield server.url


@pytest.fixture(scope="module")
def http_hello(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with http_server("hello", tmp_path_factory.mktemp("http") / "hello.log") as url:
        yield url


@pytest.fixture(scope="module")
def http_approval(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with http_server("approval", tmp_path_factory.mktemp("http") / "approval.log") as url:
        yield url


TRANSPORTS = ["stdio", "http"]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Where the scripts' stderr goes (their stdio servers' too): shown when one fails."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


def server_args(request: pytest.FixtureRequest, transport: str, app: str) -> list[str]:
    """How a script reaches `app`: `--url` of the module's HTTP server, or `-- command`."""
    if transport == "http":
        return ["--url", str(request.getfixturevalue(f"http_{app}"))]
    return ["--", *stdio_command(app)]


# -- a. the SDK's own client, default mode, no tasks extension -------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_plain_tools_in_the_default_mode(
    mcp2: str, transport: str, request: pytest.FixtureRequest, logs: Path
) -> None:
    """The SDK probes server/discover and stays on 2026-07-28 (no initialize fallback).

    Without the extension an optional task tool runs inline ("A server MUST NOT return
    CreateTaskResult to a client that did not include the extension capability on its
    request"), and a required one is -32021 naming the extension (SEP-2663, Capability
    Negotiation). tools/list carries no execution.taskSupport: the server decides per call.
    """
    calls = [("echo", {"text": "hi"}), ("greet", {"name": "Ada"}), ("slow_add", {"a": 1, "b": 2})]
    args = [arg for name, arguments in calls for arg in ("--call", name, json.dumps(arguments))]
    with anyio.fail_after(TIMEOUT):
        events = await run_script(
            mcp2, "plain_client", *args, *server_args(request, transport, "hello"), logs=logs
        )
    connected = one(events, "connected")
    assert connected["protocolVersion"] == MODERN
    assert connected["discovered"] is True
    assert connected["initialized"] is False
    assert connected["serverInfo"] == {"name": "hello", "version": "1.0.0"}
    assert connected["extensions"] == {TASKS: {}}
    tools = one(events, "tools")
    assert tools["names"] == ["echo", "greet", "slow_add"]
    assert tools["execution"] == {"echo": None, "greet": None, "slow_add": None}
    results = {e["tool"]: e["result"] for e in events_named(events, "result")}
    assert set(results) == {"echo", "greet"}
    assert text_of(results["echo"]) == "hi"
    assert text_of(results["greet"]) == "Hello, Ada!"
    for result in results.values():
        assert result["resultType"] == "complete"
        assert result["isError"] is False
    refused = one(events, "call_error")
    assert refused["tool"] == "slow_add"
    assert refused["code"] == -32021
    assert refused["data"] == {"requiredCapabilities": {"extensions": {TASKS: {}}}}
    assert events_named(events, "elicited") == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_inline_elicitation_is_answered_through_mrtr(
    mcp2: str, transport: str, request: pytest.FixtureRequest, logs: Path
) -> None:
    """An inline tool that elicits answers InputRequiredResult (2026-07-28 has no
    server-to-client requests); the SDK's driver runs its elicitation callback on the
    `inputRequests` entry, retries with `inputResponses` + `requestState`, and the final
    result carries the answer. The callback sees the inputRequests key ("q0"), not a
    JSON-RPC request id: the question came inside a result."""
    args = ["--answer", json.dumps({"name": "Ada"})]
    args += ["--call", "ask_name", json.dumps({"prompt": "Who are you?"})]
    args += ["--call", "ask_name", json.dumps({"prompt": "And now?"})]
    with anyio.fail_after(TIMEOUT):
        events = await run_script(
            mcp2, "plain_client", *args, *server_args(request, transport, "approval"), logs=logs
        )
    assert one(events, "connected")["protocolVersion"] == MODERN
    asked = events_named(events, "elicited")
    assert [(e["key"], e["message"], e["mode"]) for e in asked] == [
        ("q0", "Who are you?", "form"),
        ("q0", "And now?", "form"),
    ]
    results = events_named(events, "result")
    assert [text_of(e["result"]) for e in results] == ["Hello, Ada!", "Hello, Ada!"]
    assert all(e["result"]["resultType"] == "complete" for e in results)
    assert events_named(events, "call_error") == []


# -- b. our tasks-extension client on the SDK's extension hooks ------------------------------


def check_life(events: list[Event], text: str, message: str) -> tuple[str, str]:
    """A task's whole life as the tasks client saw it: CreateTaskResult, polls at the
    asked interval, input_required with its question, tasks/update, completed with the
    result. Returns (task id, inputRequests key)."""
    connected = one(events, "connected")
    assert connected["protocolVersion"] == MODERN
    assert connected["extensions"] == {TASKS: {}}
    created = one(events, "created")["task"]
    # "Servers MUST set resultType to "task" when returning a CreateTaskResult"
    assert created["resultType"] == "task"
    assert created["status"] == "working"
    assert isinstance(created["pollIntervalMs"], int)
    task_id = created["taskId"]
    polls = events_named(events, "polled")
    for poll in polls:
        # "Clients SHOULD respect the pollIntervalMs": ours waits at least that long.
        assert poll["sinceMs"] >= poll["askedIntervalMs"] - 5, poll
        assert poll["task"]["resultType"] == "complete"  # tasks/get: MUST be "complete"
        assert poll["task"]["taskId"] == task_id
    statuses = [p["status"] for p in polls]
    assert "input_required" in statuses, statuses
    assert statuses[-1] == "completed"
    assert set(statuses) <= {"working", "input_required", "completed"}
    waiting = next(p["task"] for p in polls if p["status"] == "input_required")
    # "the server MUST return ... an inputRequests field"
    [(key, question)] = waiting["inputRequests"].items()
    assert question["method"] == "elicitation/create"
    assert question["params"]["message"] == message
    asked = one(events, "elicited")
    assert (asked["key"], asked["message"]) == (key, message)
    updated = one(events, "updated")
    assert (updated["taskId"], updated["keys"]) == (task_id, [key])
    assert updated["ack"]["resultType"] == "complete"  # tasks/update: an empty ack
    assert set(updated["ack"]) <= {"resultType", "_meta"}
    final = polls[-1]["task"]
    assert text_of(final["result"]) == text  # completed: "a result field"
    assert "inputRequests" not in final
    result = one(events, "result")
    assert (result["text"], result["isError"]) == (text, False)
    return task_id, key


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_task_life_with_input(
    mcp2: str, transport: str, request: pytest.FixtureRequest, logs: Path
) -> None:
    """SEP-2663 end to end through `Client.call_tool`: the extension's ResultClaim takes
    the `resultType: "task"` answer and its resolver polls, answers and returns the result."""
    args = ["life", "--tool", "deploy", "--args", json.dumps({"service": "api", "version": "2"})]
    args += ["--answer", json.dumps({"approve": True, "note": "go"})]
    with anyio.fail_after(TIMEOUT):
        events = await run_script(
            mcp2, "tasks_client", *args, *server_args(request, transport, "approval"), logs=logs
        )
    check_life(events, "Deployed api 2. Note: go", "Deploy api 2 to production?")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_task_cancel(
    mcp2: str, transport: str, request: pytest.FixtureRequest, logs: Path
) -> None:
    """tasks/cancel: an empty ack, then the task is cancelled; again after the end, still
    an ack; an unknown taskId is -32602 (SEP-2663, Task Cancellation and Protocol Errors)."""
    args = ["cancel", "--tool", "greet", "--args", json.dumps({"name": "x", "delay": 30})]
    with anyio.fail_after(TIMEOUT):
        events = await run_script(
            mcp2, "tasks_client", *args, *server_args(request, transport, "hello"), logs=logs
        )
    created = one(events, "created")["task"]
    assert created["resultType"] == "task"
    assert one(events, "before_cancel")["task"]["status"] == "working"
    for name in ("cancel_ack", "cancel_again_ack"):
        ack = one(events, name)["ack"]
        assert ack["resultType"] == "complete"
        assert set(ack) <= {"resultType", "_meta"}
    final = one(events, "final")["task"]
    assert (final["taskId"], final["status"]) == (created["taskId"], "cancelled")
    assert not {"result", "error", "inputRequests"} & set(final)
    assert one(events, "cancel_unknown")["code"] == -32602


async def test_task_cancel_while_it_waits_for_input(mcp2: str, logs: Path) -> None:
    """Cancelled in input_required: the question is never answered, the task is cancelled."""
    args = ["cancel", "--tool", "deploy", "--args", json.dumps({"service": "db", "version": "1"})]
    args += ["--cancel-in", "input_required", "--answer", json.dumps({"approve": True})]
    with anyio.fail_after(TIMEOUT):
        events = await run_script(
            mcp2, "tasks_client", *args, "--", *stdio_command("approval"), logs=logs
        )
    before = one(events, "before_cancel")["task"]
    assert before["status"] == "input_required"
    assert len(before["inputRequests"]) == 1
    assert one(events, "final")["task"]["status"] == "cancelled"
    assert events_named(events, "elicited") == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_task_notifications_through_listen(
    mcp2: str, transport: str, request: pytest.FixtureRequest, logs: Path
) -> None:
    """subscriptions/listen with taskIds: the acknowledgement names the tasks agreed to
    (not an unknown one); each notifications/tasks carries a DetailedTask with the
    subscription id; the client answers from the notification's inputRequests and sees
    the completed task with its result (SEP-2663, Task Status Notifications)."""
    args = ["listen", "--tool", "deploy", "--args", json.dumps({"service": "web", "version": "3"})]
    args += ["--answer", json.dumps({"approve": True})]
    with anyio.fail_after(TIMEOUT):
        events = await run_script(
            mcp2, "tasks_client", *args, *server_args(request, transport, "approval"), logs=logs
        )
    task_id = one(events, "created")["task"]["taskId"]
    ack = one(events, "acknowledged")["params"]
    assert ack["notifications"] == {"taskIds": [task_id]}
    subscription = ack["_meta"][SUBSCRIPTION_ID]
    notified = [e["task"] for e in events_named(events, "notified")]
    assert notified, events
    for task in notified:
        assert task["taskId"] == task_id
        assert task["_meta"][SUBSCRIPTION_ID] == subscription
    statuses = [t["status"] for t in notified]
    if one(events, "caught_up")["status"] == "working":  # else it asked before the listen
        assert "input_required" in statuses, statuses
    assert statuses[-1] == "completed"
    assert text_of(notified[-1]["result"]) == "Deployed web 3."
    assert one(events, "elicited")["message"] == "Deploy web 3 to production?"
    assert one(events, "final")["task"]["status"] == "completed"


# -- d. one server, two eras at once ----------------------------------------------------------


LEGACY_ANSWER = types.ElicitResult(action="accept", content={"approve": True, "note": "from 2025"})


def result_text(result: types.CallToolResult) -> str:
    return "".join(b.text for b in result.content if isinstance(b, types.TextContent))


async def legacy_life_beside(session: ClientSession, run: Run, elicitor: Elicitor) -> str:
    """A 2025-11-25 task that waits for input while the 2026 client's task does too.

    Both tasks are created; once the legacy one is input_required and the modern client
    holds its own question (its task is input_required, its answer held back), the
    modern client answers and the legacy client fetches its result (tasks/result brings
    the question). Returns the legacy task id.
    """
    created = await session.experimental.call_tool_as_task(
        "deploy", {"service": "legacy", "version": "2025"}
    )
    task_id = created.task.taskId
    await wait_status(session, task_id, "input_required")
    await run.wait_for("holding")
    # At this instant both eras' tasks wait for input on the same server (or store).
    modern = [e for e in run.events if e["event"] == "polled"][-1]["task"]
    assert modern["status"] == "input_required"
    assert (await session.experimental.get_task(task_id)).status == "input_required"
    await run.send_line()
    result = await session.experimental.get_task_result(task_id, types.CallToolResult)
    assert result_text(result) == "Deployed legacy 2025. Note: from 2025"
    assert [c.message for c in elicitor.calls] == ["Deploy legacy 2025 to production?"]
    assert (await session.experimental.get_task(task_id)).status == "completed"
    return task_id


MODERN_LIFE = [
    "life", "--tool", "deploy", "--args", json.dumps({"service": "modern", "version": "2026"}),
    "--answer", json.dumps({"approve": True, "note": "from 2026"}), "--wait-stdin",
]  # fmt: skip
MODERN_TEXT = "Deployed modern 2026. Note: from 2026"
MODERN_QUESTION = "Deploy modern 2026 to production?"


async def test_two_eras_at_once_over_http(mcp2: str, http_approval: str, logs: Path) -> None:
    """One `taskapp run --transport http` process serves a 2025-11-25 session (mcp 1.30,
    initialize + Mcp-Session-Id) and sessionless 2026-07-28 requests (mcp 2.3) at the same
    time, each with a task that waits for input and completes."""
    elicitor = Elicitor(
        types.ElicitResult(action="accept", content={"approve": True, "note": "from 2025"})
    )
    with anyio.fail_after(TIMEOUT):
        async with started(mcp2, "tasks_client", *MODERN_LIFE, "--url", http_approval,
                           logs=logs) as run:  # fmt: skip
            async with (
                streamablehttp_client(http_approval) as (read, write, _),
                ClientSession(read, write, elicitation_callback=elicitor) as session,
            ):
                init = await session.initialize()
                assert init.protocolVersion == "2025-11-25"
                legacy_id = await legacy_life_beside(session, run, elicitor)
            events = await run.finish()
    modern_id, _ = check_life(events, MODERN_TEXT, MODERN_QUESTION)
    assert modern_id != legacy_id


async def test_two_eras_at_once_over_stdio_on_one_store(
    mcp2: str, tmp_path: Path, logs: Path
) -> None:
    """Two stdio processes of one app on one SQLite store, a 2025-11-25 client and a
    2026-07-28 client at once, each with a full task life including input.

    Then a 2026 client works on tasks the 2025 client made. SEP-2663, Backward
    Compatibility (2026 row, legacy column): servers supporting both "SHOULD continue to
    permit tasks/get and tasks/cancel requests from such clients to operate on tasks
    created under that flow". Over stdio both have owner None, so tasks/get resolves (a
    DetailedTask with the result) and tasks/cancel stops a legacy task that waits for
    input; its 2025 client sees it cancelled.
    """
    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    command = stdio_command("approval", "--store", store)
    elicitor = Elicitor(
        types.ElicitResult(action="accept", content={"approve": True, "note": "from 2025"})
    )
    legacy = StdioServerParameters(command=command[0], args=command[1:], cwd=REPO)
    with anyio.fail_after(TIMEOUT):
        async with (
            started(mcp2, "tasks_client", *MODERN_LIFE, "--", *command, logs=logs) as run,
            stdio_client(legacy) as (read, write),
            ClientSession(read, write, elicitation_callback=elicitor) as session,
        ):
            init = await session.initialize()
            assert init.protocolVersion == "2025-11-25"
            legacy_id = await legacy_life_beside(session, run, elicitor)
            events = await run.finish()
            modern_id, _ = check_life(events, MODERN_TEXT, MODERN_QUESTION)
            assert modern_id != legacy_id
            # A second legacy task, left waiting for input (nobody calls tasks/result).
            waiting = await session.experimental.call_tool_as_task(
                "deploy", {"service": "stuck", "version": "0"}
            )
            waiting_id = waiting.task.taskId
            await wait_status(session, waiting_id, "input_required")
            crossed = await run_script(
                mcp2, "tasks_client", "get", "--task-id", legacy_id, "--cancel-id", waiting_id,
                "--", *command, logs=logs,
            )  # fmt: skip
            stopped = await session.experimental.get_task(waiting_id)
            stopped_result = await session.experimental.get_task_result(
                waiting_id, types.CallToolResult
            )
    task = one(crossed, "task")["task"]
    assert (task["taskId"], task["status"]) == (legacy_id, "completed")
    assert task["resultType"] == "complete"
    assert text_of(task["result"]) == "Deployed legacy 2025. Note: from 2025"
    assert one(crossed, "cancel_ack")["ack"]["resultType"] == "complete"
    assert one(crossed, "final")["task"]["status"] == "cancelled"
    assert stopped.status == "cancelled"
    assert stopped_result.isError is True
    assert [c.message for c in elicitor.calls] == [
        "Deploy legacy 2025 to production?"
    ]  # never "stuck"


async def test_the_sdk_mirrors_x_mcp_header_parameters_and_taskapp_checks_them(
    mcp2: str, tmp_path: Path, logs: Path
) -> None:
    """examples/routed.py over HTTP: the SDK lists the tool (it keeps it: the declaration
    is valid by its rules too), then sends Mcp-Param-Region (Base64 for "Zürich") and
    Mcp-Param-Shard with the call, which taskapp checks against the body (SEP-2243)."""
    calls = ["--call", "query", json.dumps({"region": "Zürich", "sql": "q", "shard": 2})]
    with http_server("routed", tmp_path / "routed.log") as url:
        events = await run_script(mcp2, "plain_client", *calls, "--url", url, logs=logs)
    assert one(events, "tools")["names"] == ["query"]
    assert text_of(one(events, "result")["result"]) == "q in Zürich (shard 2)"
