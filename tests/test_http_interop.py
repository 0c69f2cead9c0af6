"""Interop over Streamable HTTP: the official MCP client (and raw httpx) against `taskapp run`.

Each server is `python -m taskapp run <app> --transport http` in a subprocess on a free
loopback port; one per module and app, since sessions are independent (that is tested
too). S-numbers refer to /work/shared/spec/TASKS-CHECKLIST.md.
"""

from __future__ import annotations

import functools
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pydantic_core
import pytest
from mcp import ClientSession, McpError, types
from mcp.client.session import ElicitationFnT, SamplingFnT
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.session import RequestResponder

from .official_client import (
    RELATED,
    TERMINAL,
    TIMEOUT,
    Elicitor,
    Sampler,
    related_task_id,
    text_of,
    wait_status,
)

pytestmark = [
    pytest.mark.anyio,
    # The SDK marks its task API and `streamablehttp_client` deprecated; taskapp speaks
    # 2025-11-25, so that API is exactly the peer to test against.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

REPO = Path(__file__).resolve().parent.parent
CANCELLED_TEXT = "The task was cancelled by the requestor."
POST_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INIT_PARAMS: dict[str, Any] = {
    "protocolVersion": "2025-11-25",
    "capabilities": {"elicitation": {"form": {}}},
    "clientInfo": {"name": "raw-http", "version": "0"},
}

ServerMessage = (
    RequestResponder[types.ServerRequest, types.ClientResult] | types.ServerNotification | Exception
)


# -- the server subprocess ------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"the server did not listen on {port}: {log.read_text()}")


@contextmanager
def run_server(target: str, log: Path) -> Iterator[Server]:
    """`taskapp run target --transport http` until the block ends (then SIGTERM)."""
    port = free_port()
    command = [sys.executable, "-m", "taskapp", "run", target, "--transport", "http"]
    command += ["--port", str(port), "--log-level", "warning"]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for_port(port, process, log)
        yield Server(process, f"http://127.0.0.1:{port}", log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def fixture_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("http") / "fixture.log"
    with run_server("tests/fixture_app.py:app", log) as server:
        yield server


@pytest.fixture(scope="module")
def approval_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("http") / "approval.log"
    with run_server("examples/approval.py:app", log) as server:
        yield server


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("http") / "auth.log"
    with run_server("tests/http_auth_app.py:app", log) as server:
        yield server


# -- the official client ----------------------------------------------------------------


class Inbox:
    """A `message_handler` that keeps task status and progress notifications, in order."""

    def __init__(self) -> None:
        self.statuses: list[types.TaskStatusNotificationParams] = []
        self.progress: list[types.ProgressNotificationParams] = []
        self._changed = anyio.Event()

    async def __call__(self, message: ServerMessage) -> None:
        if isinstance(message, types.ServerNotification):
            root = message.root
            if isinstance(root, types.TaskStatusNotification):
                self.statuses.append(root.params)
            elif isinstance(root, types.ProgressNotification):
                self.progress.append(root.params)
            self._changed.set()
            self._changed = anyio.Event()
        await anyio.lowlevel.checkpoint()

    def of(self, task_id: str) -> list[types.TaskStatusNotificationParams]:
        return [s for s in self.statuses if s.taskId == task_id]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        with anyio.fail_after(TIMEOUT):
            while not predicate():
                await self._changed.wait()

    async def wait_terminal(self, task_id: str) -> types.TaskStatusNotificationParams:
        await self.wait_for(lambda: any(s.status in TERMINAL for s in self.of(task_id)))
        return self.of(task_id)[-1]


@asynccontextmanager
async def connect(
    url: str,
    *,
    inbox: Inbox | None = None,
    headers: dict[str, str] | None = None,
    elicitation: ElicitationFnT | None = None,
    sampling: SamplingFnT | None = None,
    terminate_on_close: bool = True,
) -> AsyncIterator[ClientSession]:
    """The official client over Streamable HTTP, initialized."""
    async with (
        streamablehttp_client(url, headers=headers, terminate_on_close=terminate_on_close) as (
            read,
            write,
            _,
        ),
        ClientSession(
            read,
            write,
            message_handler=inbox,
            elicitation_callback=elicitation,
            sampling_callback=sampling,
        ) as session,
    ):
        with anyio.fail_after(TIMEOUT):
            init = await session.initialize()
        assert init.protocolVersion == "2025-11-25"
        yield session


async def add(session: ClientSession, a: int, b: int = 1, *, delay: float = 0.05) -> str:
    """slow_add as a task, to the end: the text of its result."""
    tasks = session.experimental
    created = await tasks.call_tool_as_task(
        "slow_add", {"a": a, "b": b, "steps": 2, "delay": delay}
    )
    result = await tasks.get_task_result(created.task.taskId, types.CallToolResult)
    assert related_task_id(result) == created.task.taskId
    return text_of(result)


# -- a task's life through the official client -----------------------------------------------


async def test_full_task_life_over_http(fixture_server: Server) -> None:
    """Create, poll, status (S-37) and progress notifications, result (S-30), list (S-39)."""
    inbox = Inbox()
    async with connect(fixture_server.url, inbox=inbox) as session:
        tasks = session.experimental
        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task(
                "slow_add",
                {"a": 1, "b": 2, "steps": 3, "delay": 0.1},
                meta={"progressToken": "tok-1"},
            )
            task_id = created.task.taskId
            assert created.task.status == "working"
            polls = [p async for p in tasks.poll_task(task_id)]
            result = await tasks.get_task_result(task_id, types.CallToolResult)
            listed = await tasks.list_tasks()
            notified = await inbox.wait_terminal(task_id)
            await inbox.wait_for(lambda: len(inbox.progress) == 3)
    assert polls[-1].status == "completed"
    assert {p.status for p in polls[:-1]} <= {"working"}
    assert result.isError is False
    assert text_of(result) == "1 + 2 = 3"
    assert related_task_id(result) == task_id
    assert [t.taskId for t in listed.tasks] == [task_id]
    assert notified.status == "completed"
    assert [(s.status, s.statusMessage) for s in inbox.of(task_id)] == [
        ("working", "step 1/3"),
        ("working", "step 2/3"),
        ("working", "step 3/3"),
        ("completed", None),
    ]
    assert [(p.progressToken, p.progress, p.total) for p in inbox.progress] == [
        ("tok-1", 1, 3),
        ("tok-1", 2, 3),
        ("tok-1", 3, 3),
    ]


async def test_cancel_over_http(fixture_server: Server) -> None:
    """S-41: cancelled at once; tasks/result says so; a second cancel is -32602 (S-40)."""
    inbox = Inbox()
    async with connect(fixture_server.url, inbox=inbox) as session:
        tasks = session.experimental
        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task("sleeper", {"seconds": 30})
            task_id = created.task.taskId
            cancelled = await tasks.cancel_task(task_id)
            result = await tasks.get_task_result(task_id, types.CallToolResult)
            with pytest.raises(McpError) as again:
                await tasks.cancel_task(task_id)
            notified = await inbox.wait_terminal(task_id)
    assert (cancelled.status, cancelled.statusMessage) == ("cancelled", CANCELLED_TEXT)
    assert result.isError is True
    assert text_of(result) == CANCELLED_TEXT
    assert related_task_id(result) == task_id
    assert again.value.error.code == -32602
    assert notified.status == "cancelled"


async def test_failures_over_http(fixture_server: Server) -> None:
    """S-46: a raising tool fails its task; S-29: a ProtocolError comes back as is."""
    inbox = Inbox()
    async with connect(fixture_server.url, inbox=inbox) as session:
        tasks = session.experimental
        with anyio.fail_after(TIMEOUT):
            exploded = await tasks.call_tool_as_task("explode", {"message": "kaboom"})
            result = await tasks.get_task_result(exploded.task.taskId, types.CallToolResult)
            failed = await tasks.get_task(exploded.task.taskId)
            notified = await inbox.wait_terminal(exploded.task.taskId)
            custom = await tasks.call_tool_as_task("protocol_fail", {})
            with pytest.raises(McpError) as excinfo:
                await tasks.get_task_result(custom.task.taskId, types.CallToolResult)
    assert result.isError is True
    assert text_of(result) == "ValueError: kaboom"
    assert failed.status == "failed"
    assert failed.statusMessage is not None
    assert "kaboom" in failed.statusMessage
    assert (notified.status, notified.statusMessage) == ("failed", failed.statusMessage)
    error = excinfo.value.error
    assert (error.code, error.message, error.data) == (
        -32042,
        "custom",
        {"reason": "because", "n": 7},
    )


async def test_a_task_expires_over_http(fixture_server: Server) -> None:
    """S-24: after its TTL the task is gone, for tasks/get and for a blocked tasks/result."""
    async with connect(fixture_server.url) as session:
        tasks = session.experimental
        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task("sleeper", {"seconds": 5}, ttl=300)
            task_id = created.task.taskId
            with pytest.raises(McpError) as blocked:
                await tasks.get_task_result(task_id, types.CallToolResult)
            with pytest.raises(McpError) as gone:
                await tasks.get_task(task_id)
    assert created.task.ttl == 300
    assert blocked.value.error.code == -32602
    assert "expired" in blocked.value.error.message
    assert gone.value.error.code == -32602


# -- questions through the tasks/result stream ------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            types.ElicitResult(action="accept", content={"approve": True, "note": "go"}),
            "Deployed api 2.0. Note: go",
        ),
        (types.ElicitResult(action="decline"), "Deployment of api 2.0 not approved (decline)."),
    ],
    ids=["accept", "decline"],
)
async def test_elicitation_through_tasks_result(
    approval_server: Server, answer: types.ElicitResult, expected: str
) -> None:
    """S-15..S-18: input_required; the question rides the tasks/result SSE stream with its
    related task (S-16, S-31); the answer POSTed back reaches the task."""
    elicitor = Elicitor(answer)
    async with connect(approval_server.url, elicitation=elicitor) as session:
        tasks = session.experimental
        with anyio.fail_after(TIMEOUT):
            created = await tasks.call_tool_as_task("deploy", {"service": "api", "version": "2.0"})
            task_id = created.task.taskId
            waiting = await wait_status(session, task_id, "input_required")
            result = await tasks.get_task_result(task_id, types.CallToolResult)
            final = await tasks.get_task(task_id)
    assert waiting.statusMessage == "checking api 2.0"
    assert result.isError is False
    assert text_of(result) == expected
    assert related_task_id(result) == task_id
    assert final.status == "completed"
    [asked] = elicitor.calls
    assert isinstance(asked, types.ElicitRequestFormParams)
    assert asked.message == "Deploy api 2.0 to production?"
    assert asked.meta is not None
    assert asked.meta.model_dump()[RELATED] == {"taskId": task_id}


async def test_sampling_through_tasks_result(tmp_path: Path) -> None:
    """`summarize` samples the client's model through the tasks/result stream (S-16)."""
    sample = Sampler(
        types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="cats sleep a lot"),
            model="test-model",
        )
    )

    with run_server("examples/summarizer.py:app", tmp_path / "summarizer.log") as server:
        async with connect(server.url, sampling=sample) as session:
            tasks = session.experimental
            with anyio.fail_after(TIMEOUT):
                created = await tasks.call_tool_as_task(
                    "summarize", {"text": "Cats sleep sixteen hours a day."}
                )
                task_id = created.task.taskId
                await wait_status(session, task_id, "input_required")
                result = await tasks.get_task_result(task_id, types.CallToolResult)
    assert text_of(result) == "summary: cats sleep a lot"
    assert related_task_id(result) == task_id
    [asked] = sample.calls
    assert asked.meta is not None
    assert asked.meta.model_dump()[RELATED] == {"taskId": task_id}


# -- many sessions ------------------------------------------------------------------------


async def test_five_concurrent_sessions(fixture_server: Server) -> None:
    """Five clients at once, each with its own tasks (S-48: each sees only its own)."""
    answers: dict[int, list[str]] = {}
    listed: dict[int, int] = {}

    async def client(i: int) -> None:
        async with connect(fixture_server.url) as session:
            answers[i] = [await add(session, i * 10 + n) for n in range(2)]
            page = await session.experimental.list_tasks()
            listed[i] = len(page.tasks)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(client, i)
    assert answers == {
        i: [f"{i * 10} + 1 = {i * 10 + 1}", f"{i * 10 + 1} + 1 = {i * 10 + 2}"] for i in range(5)
    }
    assert listed == dict.fromkeys(range(5), 2)


async def test_a_client_leaving_mid_task_never_affects_another(fixture_server: Server) -> None:
    """One client ends its session (DELETE) mid-task, another drops its streams mid
    tasks/result: the staying client's task completes, and it and newcomers can still
    start tasks (the official SDK 1.30 server fails here)."""
    url = fixture_server.url
    inbox = Inbox()
    async with connect(url, inbox=inbox) as stay:
        tasks = stay.experimental
        with anyio.fail_after(TIMEOUT):
            running = await tasks.call_tool_as_task(
                "slow_add", {"a": 5, "b": 5, "steps": 4, "delay": 0.1}
            )

            # 1. leaves politely, its task running
            async with connect(url) as polite:
                await polite.experimental.call_tool_as_task("sleeper", {"seconds": 5})

            # 2. vanishes while blocked in tasks/result, without DELETE
            blocked = anyio.Event()

            async def rude() -> None:
                async with connect(url, terminate_on_close=False) as session:
                    created = await session.experimental.call_tool_as_task(
                        "sleeper", {"seconds": 5}
                    )
                    blocked.set()
                    await session.experimental.get_task_result(
                        created.task.taskId, types.CallToolResult
                    )

            async with anyio.create_task_group() as tg:
                tg.start_soon(rude)
                await blocked.wait()
                await anyio.sleep(0.1)
                tg.cancel_scope.cancel()

            result = await tasks.get_task_result(running.task.taskId, types.CallToolResult)
            again = await add(stay, 7)
            async with connect(url) as newcomer:
                fresh = await add(newcomer, 8)
            notified = await inbox.wait_terminal(running.task.taskId)
    assert text_of(result) == "5 + 5 = 10"
    assert (again, fresh) == ("7 + 1 = 8", "8 + 1 = 9")
    assert notified.status == "completed"
    assert [s.statusMessage for s in inbox.of(running.task.taskId)] == [
        "step 1/4",
        "step 2/4",
        "step 3/4",
        "step 4/4",
        None,
    ]


# -- auth end to end ------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_two_principals_cannot_see_each_others_tasks(auth_server: Server) -> None:
    """S-47, S-50: bob gets -32602 exactly as for an unknown id; alice finds her task
    again in a new session."""
    url = auth_server.url
    with anyio.fail_after(TIMEOUT):
        async with connect(url, headers=bearer("tok-a")) as alice:
            created = await alice.experimental.call_tool_as_task("sleeper", {"seconds": 30})
            task_id = created.task.taskId

        errors: dict[str, tuple[int, str]] = {}
        async with connect(url, headers=bearer("tok-b")) as bob:
            tasks = bob.experimental
            calls: dict[str, Callable[[str], Awaitable[object]]] = {
                "get": lambda tid: tasks.get_task(tid),
                "result": lambda tid: tasks.get_task_result(tid, types.CallToolResult),
                "cancel": lambda tid: tasks.cancel_task(tid),
            }
            for name, call in calls.items():
                for tid in (task_id, "unknown-id"):
                    with pytest.raises(McpError) as excinfo:
                        await call(tid)
                    error = excinfo.value.error
                    errors[f"{name}:{tid}"] = (error.code, error.message.replace(tid, "<id>"))
            bobs = await tasks.list_tasks()

        async with connect(url, headers=bearer("tok-a")) as alice_again:
            found = await alice_again.experimental.get_task(task_id)
            listed = await alice_again.experimental.list_tasks()
            cancelled = await alice_again.experimental.cancel_task(task_id)
    for name in calls:
        assert errors[f"{name}:{task_id}"] == errors[f"{name}:unknown-id"]
        assert errors[f"{name}:{task_id}"] == (
            -32602,
            "Failed to retrieve task: Task not found (<id>)",
        )
    assert bobs.tasks == []
    assert found.status == "working"
    assert [t.taskId for t in listed.tasks] == [task_id]
    assert cancelled.status == "cancelled"


async def test_unauthenticated_requests_get_401_and_the_metadata(auth_server: Server) -> None:
    metadata_url = f"{auth_server.base}/.well-known/oauth-protected-resource/mcp"
    with anyio.fail_after(TIMEOUT):
        async with httpx.AsyncClient() as client:
            refused = await client.post(auth_server.url, content=b"{}", headers=POST_HEADERS)
            metadata = await client.get(metadata_url)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata_url}"'
    assert metadata.json() == {
        "resource": auth_server.url,
        "authorization_servers": [],
        "bearer_methods_supported": ["header"],
    }


# -- raw HTTP: streams that stay open -------------------------------------------------------


class RawSession:
    """One MCP session driven by hand with httpx, for what the official client hides."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url
        self.headers: dict[str, str] = dict(POST_HEADERS)

    async def open(self) -> None:
        response = await self.post(1, "initialize", INIT_PARAMS)
        assert response.status_code == 200
        self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = "2025-11-25"
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def send(self, message: dict[str, Any]) -> httpx.Response:
        return await self.client.post(
            self.url, content=pydantic_core.to_json(message), headers=self.headers
        )

    async def post(
        self, request_id: int, method: str, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        return await self.send(message)

    @asynccontextmanager
    async def stream(
        self, method: str, message: dict[str, Any] | None = None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """An SSE response (a GET, or a POSTed request), as an iterator of messages."""
        headers = dict(self.headers)
        if method == "GET":
            headers["accept"] = "text/event-stream"
        content = pydantic_core.to_json(message) if message is not None else None
        async with self.client.stream(method, self.url, headers=headers, content=content) as r:
            assert r.status_code == 200, await r.aread()
            assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
            yield sse_messages(r)


async def sse_messages(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            yield pydantic_core.from_json(line.removeprefix("data: "))
        else:
            assert line in ("", "event: message"), line


async def next_message(messages: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    with anyio.fail_after(TIMEOUT):
        return await anext(messages)


@asynccontextmanager
async def raw_session(url: str) -> AsyncIterator[RawSession]:
    with anyio.fail_after(TIMEOUT):
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            session = RawSession(client, url)
            await session.open()
            yield session


async def test_the_get_stream_carries_task_status_and_is_one_per_session(
    fixture_server: Server,
) -> None:
    """Status notifications go on the GET stream; a second GET is 409; DELETE ends it."""
    async with raw_session(fixture_server.url) as raw, raw.stream("GET") as events:
        second = await raw.client.get(
            raw.url, headers={**raw.headers, "accept": "text/event-stream"}
        )
        created = await raw.post(
            2, "tools/call", {"name": "sleeper", "arguments": {"seconds": 0.05}, "task": {}}
        )
        task_id = created.json()["result"]["task"]["taskId"]
        seen = [await next_message(events), await next_message(events)]
        ended = await raw.client.delete(raw.url, headers=raw.headers)
        with anyio.fail_after(TIMEOUT):
            rest = [m async for m in events]
    assert second.status_code == 409
    assert second.json()["error"]["code"] == -32600
    assert [(m["method"], m["params"]["taskId"], m["params"]["status"]) for m in seen] == [
        ("notifications/tasks/status", task_id, "working"),
        ("notifications/tasks/status", task_id, "completed"),
    ]
    assert seen[0]["params"]["statusMessage"] == "sleeping 0.05s"
    assert ended.status_code == 200
    assert rest == []


async def test_a_dropped_tasks_result_stream_gives_its_question_back(
    approval_server: Server,
) -> None:
    """The client of a streamed tasks/result leaves: that request is cancelled and the
    question it carried is asked again on the next tasks/result, whose answer counts."""
    async with raw_session(approval_server.url) as raw:
        arguments = {"service": "db", "version": "3"}
        created = await raw.post(
            2, "tools/call", {"name": "deploy", "arguments": arguments, "task": {}}
        )
        task_id = created.json()["result"]["task"]["taskId"]
        result_request = {"jsonrpc": "2.0", "method": "tasks/result", "params": {"taskId": task_id}}

        async with raw.stream("POST", {**result_request, "id": 3}) as events:
            first = await next_message(events)
        async with raw.stream("POST", {**result_request, "id": 4}) as events:
            second = await next_message(events)
            answer = {"action": "accept", "content": {"approve": True, "note": "ok"}}
            posted = await raw.send({"jsonrpc": "2.0", "id": second["id"], "result": answer})
            final = await next_message(events)
        task = await raw.post(5, "tasks/get", {"taskId": task_id})
    for asked in (first, second):
        assert asked["method"] == "elicitation/create"
        assert asked["params"]["message"] == "Deploy db 3 to production?"
        assert asked["params"]["_meta"][RELATED] == {"taskId": task_id}
    assert posted.status_code == 202
    assert final == {
        "jsonrpc": "2.0",
        "id": 4,
        "result": {
            "content": [{"type": "text", "text": "Deployed db 3. Note: ok"}],
            "_meta": {RELATED: {"taskId": task_id}},
        },
    }
    assert task.json()["result"]["status"] == "completed"


# -- shutdown ---------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_ends_the_server_gracefully(tmp_path: Path, signum: signal.Signals) -> None:
    """With a task running and a GET stream open: exit 0 within 10 s, streams ended, and
    nothing logged as a crash."""
    log = tmp_path / "server.log"
    with run_server("tests/fixture_app.py:app", log) as server:
        process = server.process
        async with raw_session(server.url) as raw, raw.stream("GET") as events:
            await raw.post(
                2, "tools/call", {"name": "sleeper", "arguments": {"seconds": 30}, "task": {}}
            )
            status = await next_message(events)
            process.send_signal(signum)
            # raises subprocess.TimeoutExpired if the server is still there after 10 s
            await anyio.to_thread.run_sync(functools.partial(process.wait, 10))
            rest: list[dict[str, Any]] = []
            with anyio.fail_after(TIMEOUT):
                try:  # the stream ends with the server (cleanly or not); it never hangs
                    async for message in events:
                        rest.append(message)
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    pass
    assert status["params"]["status"] == "working"
    assert {m["method"] for m in rest} <= {"notifications/tasks/status"}
    # Both at once, so that one failing does not hide the other.
    assert (process.returncode, "Traceback" in log.read_text()) == (0, False), log.read_text()
