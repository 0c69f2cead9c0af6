"""taskapp.Client in MCP 2026-07-28 with the tasks extension, against taskapp in memory,
over stdio and over HTTP, and its era probe against a 2025-only server.

Specs: /work/shared/spec/mcp-2026-07-28/basic-versioning.mdx ("Backward Compatibility":
probe with server/discover, fall back to initialize on a non-modern error or silence),
/work/shared/spec/tasks-extension/tasks.md (polling, inputRequests, tasks/update, cancel),
basic-patterns-mrtr.mdx (InputRequiredResult rounds).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Final

import anyio
import pytest

from examples.approval import app as approval_app
from examples.hello import app as hello_app
from taskapp import TaskApp, TaskContext
from taskapp._client_modern import ModernCalls
from taskapp.client import (
    CallToolResult,
    Client,
    DetailedTask,
    DialectError,
    Task,
    TaskCancelledError,
)
from taskapp.wire.jsonrpc import METHOD_NOT_FOUND, JsonRpcError

from .test_cli_call import _free_port

pytestmark = [
    pytest.mark.anyio,
    # mcp 1.30's FastMCP (the 2025-only server) warns about its own deprecated pieces.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

REPO = Path(__file__).resolve().parent.parent
MODERN: Final = "2026-07-28"
LEGACY: Final = "2025-11-25"
LEGACY_SERVER = [sys.executable, "tests/legacy_server.py"]
Target = TaskApp | list[str] | str


def stdio(app: str) -> list[str]:
    return [sys.executable, "-m", "taskapp", "run", f"examples/{app}.py:app", "--log-level",
            "warning"]  # fmt: skip


@contextmanager
def serving(argv: list[str], port: int) -> Iterator[str]:
    """`argv` (an HTTP server on `port`) until the block ends; yields its /mcp URL."""
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, f"{argv} did not start"
                assert time.monotonic() < deadline, f"{argv} did not listen on {port}"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def taskapp_http(app: str, port: int) -> list[str]:
    # --strict-headers: a tasks/* POST without its Mcp-Name is refused (-32020), so these
    # tests prove the client sends every routing header.
    return [*stdio(app), "--transport", "http", "--port", str(port), "--strict-headers"]


@pytest.fixture(scope="module")
def http_hello() -> Iterator[str]:
    port = _free_port()
    with serving(taskapp_http("hello", port), port) as url:
        yield url


@pytest.fixture(scope="module")
def http_approval() -> Iterator[str]:
    port = _free_port()
    with serving(taskapp_http("approval", port), port) as url:
        yield url


TRANSPORTS = ["memory", "stdio", "http"]


def target(request: pytest.FixtureRequest, transport: str, app: str) -> Target:
    if transport == "memory":
        return {"hello": hello_app, "approval": approval_app}[app]
    if transport == "stdio":
        return stdio(app)
    url: str = request.getfixturevalue(f"http_{app}")
    return url


class Recorder:
    """The handlers: the statuses seen, and the questions answered (with `answer`)."""

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.statuses: list[tuple[str, str | None]] = []
        self.asked: list[dict[str, Any]] = []
        self._answer = answer or {"action": "decline"}

    async def status(self, task: Task) -> None:
        self.statuses.append((task.status, task.status_message))

    async def elicit(self, params: dict[str, Any]) -> dict[str, Any]:
        self.asked.append(params)
        return self._answer

    def client(self, to: Target, **options: Any) -> Client:
        options.setdefault("dialect", "auto")
        return Client(to, status_handler=self.status, elicitation_handler=self.elicit, **options)


# -- against taskapp -----------------------------------------------------------------------


# --8<-- [start:dialect]
async def test_the_client_speaks_2026_when_the_server_does() -> None:
    asked: list[str] = []

    async def approve(params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params["message"])
        return {"action": "accept", "content": {"approve": True}}

    async with Client(approval_app, dialect="auto", elicitation_handler=approve) as client:
        assert client.dialect == "2026-07-28"  # server/discover answered
        # deploy runs as a task (the server's choice): the client polls tasks/get and
        # answers the task's question with the handler, through tasks/update
        result = await client.call_tool("deploy", {"service": "api", "version": "2"})
    assert result.text == "Deployed api 2."
    assert asked == ["Deploy api 2 to production?"]


# --8<-- [end:dialect]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_auto_picks_2026_and_a_plain_call_is_inline(
    transport: str, request: pytest.FixtureRequest
) -> None:
    async with Recorder().client(target(request, transport, "hello")) as client:
        assert (client.dialect, client.protocol_version) == (MODERN, MODERN)
        assert client.server_info == {"name": "hello", "version": "1.0.0"}
        assert client.instructions == "A friendly first taskapp server."
        assert client.server_capabilities["extensions"] == {"io.modelcontextprotocol/tasks": {}}
        assert {t.name for t in await client.list_tools()} == {"echo", "greet", "slow_add"}
        made: list[Task] = []

        async def on_task(task: Task) -> None:
            made.append(task)

        result = await client.call_tool("echo", {"text": "hi"}, on_task=on_task)
        await client.ping()
    assert (result.text, result.is_error, made) == ("hi", False, [])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_task_is_polled_to_its_result_with_its_status_lines(
    transport: str, request: pytest.FixtureRequest
) -> None:
    """Each step lasts longer than the poll interval (500 ms): every progress report is
    seen as the task's statusMessage, in order, then `completed` with the result inlined."""
    recorder = Recorder()
    made: list[Task] = []

    async def on_task(task: Task) -> None:
        made.append(task)

    arguments = {"a": 2, "b": 3, "steps": 3, "delay": 0.7}
    with anyio.fail_after(30):
        async with recorder.client(target(request, transport, "hello")) as client:
            result = await client.call_tool("slow_add", arguments, on_task=on_task)
            assert len(made) == 1
            assert isinstance(made[0], DetailedTask)
            assert made[0].poll_interval == 500
            done = await client.get_task(made[0].task_id)
    assert result.text == "2 + 3 = 5"
    messages = [m for s, m in recorder.statuses if s == "working"]
    # a step sets its status, then reports progress (2026 shows it as the message): a
    # poll sees one or the other of each step
    shown = [
        next(i for i, m in enumerate(messages) if m in (f"step {step}/3", f"{step}/3"))
        for step in (1, 2, 3)
    ]
    assert shown == sorted(shown), messages
    assert recorder.statuses[-1][0] == "completed"
    assert isinstance(done, DetailedTask)
    assert done.status == "completed"
    assert done.result is not None
    assert done.result["content"] == [{"type": "text", "text": "2 + 3 = 5"}]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_input_required_is_answered_through_tasks_update(
    transport: str, request: pytest.FixtureRequest
) -> None:
    recorder = Recorder({"action": "accept", "content": {"approve": True, "note": "go"}})
    with anyio.fail_after(30):
        async with recorder.client(target(request, transport, "approval")) as client:
            started = await client.start_task("deploy", {"service": "api", "version": "1.2"})
            assert isinstance(started, Task)
            result = await client.wait_task(started.task_id)
    assert result.text == "Deployed api 1.2. Note: go"
    assert [q["message"] for q in recorder.asked] == ["Deploy api 1.2 to production?"]
    assert "approve" in recorder.asked[0]["requestedSchema"]["properties"]
    assert ("input_required" in [s for s, _ in recorder.statuses]) is True


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_inline_question_is_an_mrtr_round(
    transport: str, request: pytest.FixtureRequest
) -> None:
    """task=False leaves the extension out: ask_name runs inline, and its question comes
    back as an InputRequiredResult that the client answers and sends again."""
    recorder = Recorder({"action": "accept", "content": {"name": "Zed"}})
    async with recorder.client(target(request, transport, "approval")) as client:
        result = await client.call_tool("ask_name", {"prompt": "Who?"}, task=False)
    assert result.text == "Hello, Zed!"
    assert [q["message"] for q in recorder.asked] == ["Who?"]
    assert recorder.statuses == []  # no task was made


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cancel(transport: str, request: pytest.FixtureRequest) -> None:
    recorder = Recorder()
    async with recorder.client(target(request, transport, "hello")) as client:
        started = await client.start_task("greet", {"name": "Ada", "delay": 30})
        assert isinstance(started, Task)
        assert started.status == "working"
        cancelled = await client.cancel_task(started.task_id)
        assert cancelled.status == "cancelled"
        with pytest.raises(TaskCancelledError) as raised:
            await client.wait_task(started.task_id)
    assert raised.value.task.task_id == started.task_id
    assert "cancelled" in raised.value.message


async def test_a_call_cancelled_while_it_makes_a_task_cancels_the_task() -> None:
    """The caller gives up before the CreateTaskResult is read: the task it made is
    cancelled, not left running unseen (and on_task is never called)."""
    stopped = anyio.Event()
    app = TaskApp("waiter")

    @app.task_tool(mode="optional")
    async def wait(ctx: TaskContext) -> str:
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            stopped.set()
            raise
        return "waited"

    made: list[Task] = []

    async def on_task(task: Task) -> None:
        made.append(task)

    async with Client(app, dialect="auto") as client:
        with anyio.move_on_after(0):  # cancelled at its first checkpoint: mid-request
            await client.call_tool("wait", on_task=on_task)
        with anyio.fail_after(10):
            await stopped.wait()
    assert made == []


async def test_2025_only_methods_say_what_to_use_instead() -> None:
    async with Client(hello_app, dialect=MODERN) as client:
        with pytest.raises(DialectError, match=r"tasks/result .* wait_task"):
            await client.get_task_result("x")
        with pytest.raises(DialectError, match=r"tasks/list .* start_task"):
            await client.list_tasks()
        with pytest.raises(DialectError, match="start_task"):
            await client.call_tool_as_task("greet")
    async with Client(hello_app, dialect=LEGACY) as client:
        with pytest.raises(DialectError, match="tasks/update exists only in 2026-07-28"):
            await client.update_task("x", {})


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_forced_2025_still_works(transport: str, request: pytest.FixtureRequest) -> None:
    recorder = Recorder()
    async with recorder.client(target(request, transport, "hello"), dialect=LEGACY) as client:
        assert (client.dialect, client.protocol_version) == (LEGACY, LEGACY)
        result = await client.call_tool("greet", {"name": "Ada"}, task=True)
        started = await client.start_task("greet", {"name": "Bo"})
        assert isinstance(started, Task)
        waited = await client.wait_task(started.task_id)
        listed = await client.list_tasks()
    assert result.text == "Hello, Ada!"
    assert waited.text == "Hello, Bo!"
    assert len(listed.tasks) == 2
    assert recorder.statuses[-1] == ("completed", None)


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="dialect must be 'auto'"):
        Client(hello_app, dialect="2024-11-05")  # type: ignore[arg-type]


# -- against a 2025-only server -----------------------------------------------------------


@asynccontextmanager
async def legacy(transport: str) -> AsyncIterator[Target]:
    if transport == "stdio":
        yield LEGACY_SERVER
        return
    port = _free_port()
    with serving([*LEGACY_SERVER, "http", str(port)], port) as url:
        yield url


Check = Callable[[Client], Awaitable[None]]


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_auto_falls_back_to_initialize_on_a_2025_only_server(transport: str) -> None:
    """The official SDK 1.30 server answers server/discover with an error that is not a
    modern one (over HTTP, a 4xx without one): the client initializes instead, fast."""
    async with legacy(transport) as to:
        with anyio.fail_after(9):  # well below the probe's 10 s: an answer, not silence
            async with Client(to, dialect="auto") as client:
                assert (client.dialect, client.protocol_version) == (LEGACY, LEGACY)
                assert client.server_info["name"] == "legacy-only"
                result = await client.call_tool("echo", {"text": "old"})
        assert result.text == "old"
        with pytest.raises(DialectError, match="does not speak 2026-07-28"):
            async with Client(to, dialect=MODERN):
                pass


async def test_a_silent_server_is_taken_for_a_legacy_one_after_the_probe_timeout() -> None:
    """No answer to the probe within `probe_timeout`: initialize (stdio's "does not
    respond within a reasonable timeout"). This server drops what it does not know."""
    script = (
        "import sys, json\n"
        "for line in sys.stdin:\n"
        "    m = json.loads(line)\n"
        "    if m.get('method') == 'initialize':\n"
        "        r = {'protocolVersion': '2025-11-25', 'capabilities': {},\n"
        "             'serverInfo': {'name': 'silent', 'version': '0'}}\n"
        "        print(json.dumps({'jsonrpc': '2.0', 'id': m['id'], 'result': r}), flush=True)\n"
    )
    with anyio.fail_after(10):
        async with Client([sys.executable, "-c", script], dialect="auto", probe_timeout=1) as c:
            assert (c.dialect, c.server_info["name"]) == (LEGACY, "silent")


# -- the 2026 side on its own, against a scripted server ------------------------------------


async def test_each_mrtr_round_sends_the_answers_and_the_state_back() -> None:
    """Every round carries the envelope; a retry carries this round's answers and the
    state as it came, and nothing of the round before (basic-patterns-mrtr.mdx)."""
    sent: list[dict[str, Any]] = []
    rounds: list[dict[str, Any]] = [
        {"resultType": "input_required", "requestState": "s1",
         "inputRequests": {"a": {"method": "elicitation/create", "params": {"message": "1?"}}}},
        {"resultType": "input_required", "requestState": "s2"},  # state only: no question
        {"resultType": "complete", "content": [{"type": "text", "text": "done"}]},
    ]  # fmt: skip

    async def send(method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert method == "tools/call"
        sent.append(params)
        return rounds[len(sent) - 1]

    async def elicit(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"said": params["message"]}}

    calls = ModernCalls(send, {"elicitation/create": elicit}, client_name="t", status_handler=None)
    result = await calls.start({"name": "x", "arguments": {}}, tasks=False)
    assert isinstance(result, CallToolResult)
    assert result.text == "done"
    assert [p.get("requestState") for p in sent] == [None, "s1", "s2"]
    assert [p.get("inputResponses") for p in sent] == [
        None,
        {"a": {"action": "accept", "content": {"said": "1?"}}},
        None,
    ]
    for params in sent:
        meta = params["_meta"]
        assert meta["io.modelcontextprotocol/protocolVersion"] == MODERN
        assert meta["io.modelcontextprotocol/clientCapabilities"] == {
            "elicitation": {"form": {}, "url": {}}
        }  # tasks=False: no extension


async def test_a_question_the_client_has_no_handler_for_is_method_not_found() -> None:
    async def send(method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("nothing is sent")

    calls = ModernCalls(send, {}, client_name="t", status_handler=None)
    with pytest.raises(JsonRpcError) as raised:
        await calls.answer({"r": {"method": "roots/list", "params": {}}})
    assert raised.value.code == METHOD_NOT_FOUND
    assert "'roots/list'" in raised.value.message


async def test_a_failed_task_raises_its_json_rpc_error() -> None:
    failed = {"taskId": "t", "status": "failed", "createdAt": "2026-01-01T00:00:00Z",
              "lastUpdatedAt": "2026-01-01T00:00:00Z", "ttlMs": None,
              "error": {"code": -32042, "message": "custom", "data": {"n": 7}}}  # fmt: skip

    async def send(method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert (method, params["taskId"]) == ("tasks/get", "t")
        return failed

    calls = ModernCalls(send, {}, client_name="t", status_handler=None)
    with pytest.raises(JsonRpcError) as raised:
        await calls.wait("t")
    assert (raised.value.code, raised.value.message, raised.value.data) == (
        -32042,
        "custom",
        {"n": 7},
    )


async def test_a_task_sampling_request_goes_to_the_sampling_handler() -> None:
    """A 2026 task's `sampling/createMessage` input request is answered by the same
    sampling_handler as a 2025 request, through tasks/update."""
    from examples.summarizer import app

    requests: list[dict[str, Any]] = []

    async def model(params: dict[str, Any]) -> dict[str, Any]:
        requests.append(params)
        return {
            "role": "assistant",
            "content": {"type": "text", "text": "Tasks let tools run long."},
            "model": "test-model",
            "stopReason": "endTurn",
        }

    with anyio.fail_after(10):
        async with Client(app, dialect=MODERN, sampling_handler=model) as client:
            result = await client.call_tool("summarize", {"text": "A long text."})
    assert result.text == "summary: Tasks let tools run long."
    [request] = requests
    assert request["maxTokens"] == 60
    assert request["messages"][0]["content"]["text"] == "Summarize in one line: A long text."


async def test_a_call_the_server_turns_into_a_task_midway_is_followed_to_its_end() -> None:
    """examples/promote.py: `lookup` answers inline when quick and becomes a task past
    `inline_for`; `research` asks in an MRTR round first, then goes on as a task."""
    from examples.promote import app

    made: list[str] = []

    async def on_task(task: Task) -> None:
        made.append(task.task_id)

    recorder = Recorder({"action": "accept", "content": {"levels": 2}})
    with anyio.fail_after(20):
        async with recorder.client(app) as client:
            quick = await client.call_tool("lookup", {"query": "q"}, on_task=on_task)
            assert made == []
            slow = await client.call_tool("lookup", {"query": "s", "delay": 2.5}, on_task=on_task)
            assert len(made) == 1
            deep = await client.call_tool("research", {"topic": "owls"}, on_task=on_task)
    assert (quick.text, slow.text, deep.text) == ("found q", "found s", "owls: 2 levels researched")
    assert len(made) == 2
    assert [q["message"] for q in recorder.asked] == [
        "How many levels deep should I research owls?"
    ]
