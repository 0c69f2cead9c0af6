"""taskapp's own client (and `taskapp call`) against a FastMCP 4 server with the tasks
extension (fastmcp-tasks 4.1.4), over stdio and Streamable HTTP.

The server is tests/fastmcp4/server.py, run by the Python of the FastMCP 4 side venv
(tests/side_venv.py builds it from tests/fastmcp4/requirements.lock, once, then cached;
or TASKAPP_FASTMCP4_PYTHON names one). Without that Python the tests are skipped with the
reason; in CI (CI is set) they fail instead.

What FastMCP 4 does that taskapp does not: its questions are guard-pattern returns (a
task re-runs after tasks/update), its progress message is the task's statusMessage, and
it suggests its own pollIntervalMs (200 ms here).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import anyio
import pytest

from taskapp.client import Client, DetailedTask, Task, TaskCancelledError

from .test_cli_call import _free_port
from .test_client_2026 import Recorder, serving
from .test_interop_fastmcp4 import fastmcp4

__all__ = ("fastmcp4",)  # a fixture, used by name
pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "tests" / "fastmcp4" / "requirements.lock"
SERVER = "tests/fastmcp4/server.py"
FASTMCP_VERSION = "4.1.4"
MODERN: Final = "2026-07-28"
LEGACY: Final = "2025-11-25"
TIMEOUT = 60  # a cold FastMCP 4 start takes seconds
#: The probe of dialect="auto" counts the server's start over stdio: give it time.
SLOW_START = {"probe_timeout": TIMEOUT}


@pytest.fixture(scope="module")
def http_url(fastmcp4: str) -> Iterator[str]:
    port = _free_port()
    with serving([fastmcp4, SERVER, "http", str(port)], port) as url:
        yield url


TRANSPORTS = ["stdio", "http"]


def target(request: pytest.FixtureRequest, transport: str) -> list[str] | str:
    if transport == "stdio":
        return [request.getfixturevalue("fastmcp4"), SERVER]
    url: str = request.getfixturevalue("http_url")
    return url


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_auto_speaks_2026_with_the_extension(
    transport: str, request: pytest.FixtureRequest
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with Recorder().client(target(request, transport), **SLOW_START) as client:
            assert client.dialect == MODERN
            assert client.server_info == {"name": "fastmcp4-peer", "version": FASTMCP_VERSION}
            extensions = client.server_capabilities["extensions"]
            assert "io.modelcontextprotocol/tasks" in extensions
            tools = {t.name for t in await client.list_tools()}
            result = await client.call_tool("add", {"a": 2, "b": 40})
    assert tools == {"add", "count", "approve", "ask_name", "sleepy", "boom"}
    assert (result.text, result.structured_content) == ("42", {"result": 42})


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_task_with_progress_is_polled_at_the_servers_interval(
    transport: str, request: pytest.FixtureRequest
) -> None:
    recorder = Recorder()
    made: list[Task] = []

    async def on_task(task: Task) -> None:
        made.append(task)

    with anyio.fail_after(TIMEOUT):
        async with recorder.client(target(request, transport), **SLOW_START) as client:
            result = await client.call_tool("count", {"n": 3, "delay": 0.6}, on_task=on_task)
    assert result.text == "counted to 3"
    assert len(made) == 1
    assert made[0].poll_interval == 200  # the tool's TaskConfig, read from pollIntervalMs
    messages = [m for s, m in recorder.statuses if s == "working" and m]
    assert messages == [f"counted {i} of 3" for i in (1, 2, 3)]
    assert recorder.statuses[-1][0] == "completed"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_task_question_is_answered_through_tasks_update(
    transport: str, request: pytest.FixtureRequest
) -> None:
    recorder = Recorder({"action": "accept", "content": {"approve": True}})
    with anyio.fail_after(TIMEOUT):
        async with recorder.client(target(request, transport), **SLOW_START) as client:
            started = await client.start_task("approve", {"service": "api"})
            assert isinstance(started, DetailedTask)
            result = await client.wait_task(started.task_id)
    assert result.text == "deployed api"
    assert [q["message"] for q in recorder.asked] == ["Deploy api?"]  # asked once
    assert "input_required" in [s for s, _ in recorder.statuses]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_inline_question_is_an_mrtr_round(
    transport: str, request: pytest.FixtureRequest
) -> None:
    recorder = Recorder({"action": "accept", "content": {"name": "Zed"}})
    with anyio.fail_after(TIMEOUT):
        async with recorder.client(target(request, transport), **SLOW_START) as client:
            result = await client.call_tool("ask_name")
    assert result.text == "Hello, Zed!"
    assert [q["message"] for q in recorder.asked] == ["What is your name?"]
    assert recorder.statuses == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cancel(transport: str, request: pytest.FixtureRequest) -> None:
    with anyio.fail_after(TIMEOUT):
        async with Recorder().client(target(request, transport), **SLOW_START) as client:
            started = await client.start_task("sleepy", {"seconds": 30})
            assert isinstance(started, Task)
            cancelled = await client.cancel_task(started.task_id)
            with pytest.raises(TaskCancelledError):
                await client.wait_task(started.task_id)
    assert cancelled.status == "cancelled"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_tool_exception_is_a_completed_task_with_is_error(
    transport: str, request: pytest.FixtureRequest
) -> None:
    """As in taskapp: `failed` is for JSON-RPC errors only (tasks.md, "Task Execution
    Errors"), so the client returns the result rather than raising."""
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with recorder.client(target(request, transport), **SLOW_START) as client:
            result = await client.call_tool("boom", {"message": "kaboom"})
    assert result.is_error is True
    assert "kaboom" in result.text
    assert recorder.statuses[-1][0] == "completed"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_forced_2025_initializes(transport: str, request: pytest.FixtureRequest) -> None:
    """FastMCP 4 is dual-era: `initialize` opens a 2025-11-25 session (no tasks there:
    fastmcp-tasks serves the extension at 2026-07-28 only)."""
    with anyio.fail_after(TIMEOUT):
        async with Client(target(request, transport), dialect=LEGACY) as client:
            assert client.dialect == LEGACY
            result = await client.call_tool("add", {"a": 1, "b": 1})
    assert result.text == "2"


# -- taskapp call -----------------------------------------------------------------------


async def _call(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    with anyio.fail_after(TIMEOUT):
        return await anyio.run_process(
            [sys.executable, "-m", "taskapp", "call", *args], input=stdin, check=False, cwd=REPO
        )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_taskapp_call_shows_the_progress_and_asks_at_the_prompt(
    transport: str, request: pytest.FixtureRequest
) -> None:
    to = target(request, transport)
    shown = to if isinstance(to, str) else " ".join(to)
    # auto over HTTP (the server is up); over stdio the probe would count its slow start
    dialect = "auto" if transport == "http" else MODERN
    counted = await _call("--dialect", dialect, shown, "count", "n=2", "delay=0.6")
    assert (counted.returncode, counted.stdout) == (0, b"counted to 2\n"), counted.stderr
    lines = counted.stderr.decode().splitlines()
    assert "working: counted 1 of 2" in lines
    assert "working: counted 2 of 2" in lines
    assert lines[-1] == "completed"
    approved = await _call("--dialect", dialect, shown, "approve", "service=web", stdin=b"y\n")
    assert (approved.returncode, approved.stdout) == (0, b"deployed web\n"), approved.stderr
    assert "Deploy web?" in approved.stderr.decode()
