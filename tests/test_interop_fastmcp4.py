"""Interop with FastMCP 4's own client (fastmcp 4.1.4 + fastmcp-tasks 4.1.4, mcp 2.3.0).

FastMCP 4 pins mcp 2.x, which cannot share the test virtualenv, so its side runs as one
script (tests/fastmcp4/drive.py) under another Python: a venv built from
tests/fastmcp4/requirements.lock by tests/side_venv.py (once, then cached), or the one
the environment variable TASKAPP_FASTMCP4_PYTHON names. The script connects
`fastmcp.Client` to a server given as an HTTP URL or a stdio command, runs the steps it
is given and prints one JSON event per line; the tests here check those events. When
that Python cannot be had (no network on a cold cache) the tests are skipped with the
reason; in CI (CI is set) they fail instead.

The servers run with taskapp's default settings: `python -m taskapp run <app>` over
stdio (the script starts it), and over HTTP one `--transport http` process per module
and app. The client is FastMCP's default one, with `fastmcp_tasks` imported: it probes
`server/discover`, speaks 2026-07-28, declares `io.modelcontextprotocol/tasks` and
drives tasks through `tasks/get`, `tasks/update` and `tasks/cancel`.

Spec references: SEP-2663 (/work/shared/spec/tasks-extension/2663-tasks-extension.md),
MCP 2026-07-28 (/work/shared/spec/mcp-2026-07-28/).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from .side_venv import cache_root, peer_python
from .test_http_interop import run_server

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "fastmcp4"
LOCK = SCRIPTS / "requirements.lock"
VERSIONS = {"fastmcp": "4.1.4", "fastmcp-tasks": "4.1.4"}
MODERN = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"
TIMEOUT = 60  # seconds for one script: its imports alone take 3-10 s on a busy runner
TRANSPORTS = ["http", "stdio"]
Event = dict[str, Any]


# -- the FastMCP 4 Python -----------------------------------------------------------------


@pytest.fixture(scope="module")
def fastmcp4() -> str:
    """The Python of the FastMCP 4 side venv; skip without one, or fail in CI."""
    return peer_python(
        "fastmcp4", LOCK, env_var="TASKAPP_FASTMCP4_PYTHON", versions=VERSIONS,
        what="the FastMCP 4 interop tests",
    )  # fmt: skip


# -- servers ---------------------------------------------------------------------------------


APPS = {"fixture": "tests/fixture_app.py:app", "approval": "examples/approval.py:app"}


@pytest.fixture(scope="module")
def http_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_server(APPS["fixture"], tmp_path_factory.mktemp("http") / "fixture.log") as server:
        yield server.url


@pytest.fixture(scope="module")
def http_approval(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_server(APPS["approval"], tmp_path_factory.mktemp("http") / "approval.log") as server:
        yield server.url


def server_args(request: pytest.FixtureRequest, transport: str, app: str) -> list[str]:
    """How drive.py reaches `app`: `--url` of the module's HTTP server, or `-- command`."""
    if transport == "http":
        return ["--url", str(request.getfixturevalue(f"http_{app}"))]
    return ["--", sys.executable, "-m", "taskapp", "run", APPS[app], "--log-level", "warning"]


# -- running the script ----------------------------------------------------------------------


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Where the script's stderr goes (its stdio server's too): shown when one fails."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


def script_environment() -> dict[str, str]:
    """The environment for drive.py: importing FastMCP loads some 1,400 modules, so
    their bytecode is kept (under the side venvs' cache, never in the repository) even
    where PYTHONDONTWRITEBYTECODE is set; that halves the start of each script."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache_root() / "pycache")
    return env


async def drive(python: str, *args: str, logs: Path) -> list[Event]:
    """Run drive.py with `args` to its end; its events, or the test fails with its stderr."""
    stderr = logs / f"drive-{time.monotonic_ns()}.log"
    command = [python, str(SCRIPTS / "drive.py"), *args]
    with anyio.fail_after(TIMEOUT), stderr.open("wb") as errors:
        done = await anyio.run_process(
            command, cwd=REPO, stderr=errors, env=script_environment(), check=False
        )
    lines = done.stdout.decode().splitlines()
    events: list[Event] = [json.loads(line) for line in lines if line.startswith("{")]
    if done.returncode != 0 or not events or events[-1]["event"] != "done":
        pytest.fail(
            f"drive.py failed: exit {done.returncode}; events {events}; "
            f"stderr:\n{stderr.read_text()[-4000:]}"
        )
    return events


def steps(*items: dict[str, Any]) -> list[str]:
    return ["--steps", json.dumps(list(items))]


def named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e["event"] == name]


def one(events: list[Event], name: str) -> Event:
    found = named(events, name)
    assert len(found) == 1, (name, events)
    return found[0]


def outcomes(events: list[Event]) -> dict[str, Event]:
    """Each tool's outcome (result, tool_error or call_error) by tool name."""
    ends = ("result", "tool_error", "call_error")
    return {e["tool"]: e for e in events if e["event"] in ends}


def wire_by_tool(events: list[Event]) -> dict[str, list[Event]]:
    """Over HTTP: the requests each call made, from its tools/call to its outcome."""
    calls: dict[str, list[Event]] = {}
    pending: list[Event] = []
    for event in events:
        if event["event"] == "request":
            pending.append(event)
        elif event["event"] in ("result", "tool_error", "call_error"):
            calls[event["tool"]] = pending
            pending = []
    return calls


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_connected(events: list[Event], name: str) -> None:
    """FastMCP probed server/discover and stayed on 2026-07-28 with the extension."""
    connected = one(events, "connected")
    assert connected["protocolVersion"] == MODERN
    assert connected["serverInfo"] == {"name": name, "version": "1.0.0"}
    assert connected["extensions"] == {TASKS: {}}


def check_http_wire(events: list[Event]) -> None:
    """Every POST succeeded, and carried the 2026 routing headers.

    FastMCP 4 sends no `Mcp-Name` on tasks/get, tasks/update and tasks/cancel, a MUST of
    the 2026-07-28 transport that falls on the client; taskapp accepts the omission by
    default (docs/protocol.md, "2026-07-28 routing headers"). It is checked here so
    that the day FastMCP sends it, this note is seen to be out of date.
    """
    requests = named(events, "request")
    assert requests[0]["method"] == "server/discover"  # no initialize, no fallback
    assert "initialize" not in {e["method"] for e in requests}
    assert {e["status"] for e in named(events, "response")} == {200}
    for sent in requests:
        headers = sent["headers"]
        assert headers["mcp-protocol-version"] == MODERN
        assert headers["mcp-method"] == sent["method"]
        if sent["method"].startswith("tasks/"):
            assert "mcp-name" not in headers, sent
    calls = [e for e in requests if e["method"] == "tools/call"]
    assert all("mcp-name" in e["headers"] for e in calls)


# -- plain calls -----------------------------------------------------------------------------


PLAIN = steps(
    {"do": "call", "tool": "echo", "args": {"text": "hi"}},
    {"do": "call", "tool": "stats", "args": {"numbers": [1, 2, 3]}},
    {"do": "call", "tool": "explode", "args": {"message": "boom"}},
    {"do": "call", "tool": "slow_add", "args": {"a": 1, "b": 2, "steps": 2, "delay": 0.05}},
)
STATS = {"count": 3, "total": 6.0, "mean": 2.0}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_plain_calls(
    fastmcp4: str, transport: str, request: pytest.FixtureRequest, logs: Path
) -> None:
    """`client.call_tool` as a FastMCP user writes it: an ordinary tool, a tool with
    structured output, a tool that raises, and a required task tool.

    The client declares the extension, so taskapp runs every tool that can be a task
    as one (SEP-2663: the server decides per call) and fastmcp-tasks drives it to its end
    under the hood: the caller gets the same result either way. A tool error is a
    completed task whose result has `isError: true`; FastMCP raises it as `ToolError`.
    The structured result passes FastMCP's check against the tool's outputSchema.
    """
    events = await drive(fastmcp4, *PLAIN, *server_args(request, transport, "fixture"), logs=logs)
    check_connected(events, "fixture")
    ends = outcomes(events)
    assert ends["echo"] == {"event": "result", "tool": "echo", "text": "hi", "structured": None,
                            "data": None, "isError": False}  # fmt: skip
    assert ends["stats"]["event"] == "result"
    assert ends["stats"]["structured"] == STATS
    assert ends["stats"]["data"] == STATS
    assert json.loads(ends["stats"]["text"]) == STATS
    assert ends["explode"] == {"event": "tool_error", "tool": "explode",
                               "message": "ValueError: boom"}  # fmt: skip
    assert ends["slow_add"]["event"] == "result"
    assert ends["slow_add"]["text"] == "1 + 2 = 3"
    # No notifications/progress for a 2026 task (its progress is its statusMessage).
    assert named(events, "progress") == []
    if transport == "http":
        check_http_wire(events)
        methods = {tool: [e["method"] for e in wire] for tool, wire in wire_by_tool(events).items()}
        assert "tasks/get" not in methods["echo"]  # a plain tool runs inline
        for tool in ("stats", "explode", "slow_add"):  # these ran as tasks
            assert methods[tool][0] == "tools/call"
            assert "tasks/get" in methods[tool], (tool, methods[tool])


async def test_a_wrapped_result_reaches_the_caller_as_its_value(fastmcp4: str, logs: Path) -> None:
    """A tool returning an int answers `structuredContent: {"result": 42}` (MCP wants an
    object); its outputSchema carries FastMCP's `x-fastmcp-wrap-result`, so FastMCP's
    client hands its caller 42, not an object with a `result` field."""
    command = ["--", sys.executable, "-m", "taskapp", "run", "examples/schemas.py:app"]
    call = {"do": "call", "tool": "stock", "args": {"sku": "ABC-1234"}}
    events = await drive(fastmcp4, *steps(call), *command, logs=logs)
    stock = outcomes(events)["stock"]
    assert stock["structured"] == {"result": 42}
    assert stock["data"] == 42


async def test_mcp_param_headers_are_sent_once_the_tools_are_listed(
    fastmcp4: str, logs: Path, tmp_path: Path
) -> None:
    """examples/routed.py (x-mcp-header, SEP-2243) over HTTP. FastMCP 4's client (mcp
    2.3.0's session) mirrors the parameters of the tools it has listed; a call before
    any listing goes without them, taskapp refuses it with -32020, and the client does
    not list and retry (the spec's SHOULD): it reports the error."""
    call = {"do": "call", "tool": "query", "args": {"region": "Zürich", "sql": "q"}}
    with run_server("examples/routed.py:app", tmp_path / "routed.log") as server:
        unlisted = await drive(fastmcp4, *steps(call), "--url", server.url, logs=logs)
        listed = await drive(fastmcp4, *steps({"do": "list"}, call), "--url", server.url,
                             logs=logs)  # fmt: skip
    refused = outcomes(unlisted)["query"]
    assert (refused["event"], refused["code"]) == ("call_error", -32020)
    assert "Mcp-Param-Region" in refused["message"]
    assert named(listed, "tools")[0]["names"] == ["query"]
    assert outcomes(listed)["query"]["text"] == "q in Zürich (shard 0)"


async def test_plain_calls_without_fastmcp_tasks(
    fastmcp4: str, http_fixture: str, logs: Path
) -> None:
    """A FastMCP program that never imports fastmcp_tasks declares no extension: taskapp
    runs the optional task tools inline, and refuses the required one with -32021
    naming the extension ("A server MUST NOT return CreateTaskResult to a client that
    did not include the extension capability on its request", SEP-2663)."""
    events = await drive(fastmcp4, "--no-tasks", *PLAIN, "--url", http_fixture, logs=logs)
    check_connected(events, "fixture")  # the server's extensions, whatever the client's
    ends = outcomes(events)
    assert ends["echo"]["text"] == "hi"
    assert ends["stats"]["structured"] == STATS
    assert ends["explode"]["message"] == "ValueError: boom"
    refused = ends["slow_add"]
    assert (refused["event"], refused["code"]) == ("call_error", -32021)
    assert refused["data"] == {"requiredCapabilities": {"extensions": {TASKS: {}}}}
    assert all(e["method"] != "tasks/get" for e in named(events, "request"))
    # HTTP 400 carries the -32021 ("modern servers also use 400 for ...
    # MissingRequiredClientCapabilityError", 2026-07-28 Streamable HTTP); FastMCP reads
    # the JSON-RPC error from its body.
    statuses = [e["status"] for e in named(events, "response")]
    assert [s for s in statuses if s != 200] == [400]


# -- a required task that asks a question ----------------------------------------------------


ANSWER = ["--answer", json.dumps({"approve": True, "note": "go"})]
QUESTIONS = steps(
    {"do": "call", "tool": "deploy", "args": {"service": "api", "version": "1"}},
    {"do": "task", "tool": "deploy", "args": {"service": "web", "version": "2"},
     "wait": "input_required"},
    {"do": "task", "tool": "deploy", "args": {"service": "db", "version": "3"},
     "wait": "input_required", "cancel": True},
)  # fmt: skip


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_required_task_that_elicits(
    fastmcp4: str, transport: str, request: pytest.FixtureRequest, logs: Path
) -> None:
    """`deploy` (mode="required") asks for approval with `ctx.elicit` while it runs.

    1. `call_tool`: fastmcp-tasks polls `tasks/get`, finds the task `input_required`
       with its `inputRequests`, runs the client's elicitation handler and sends the
       answer with `tasks/update`; the tool goes on from where it asked and its result
       comes back inline in `tasks/get` (SEP-2663, Input Requests and Task Results).
    2. `call_tool_task` + `ToolTask.wait(state="input_required")` shows the question
       as FastMCP's handle sees it; `ToolTask.result()` answers it the same way.
    3. The same, cancelled while it waits: the question is never answered.
    """
    args = [*ANSWER, *QUESTIONS, *server_args(request, transport, "approval")]
    events = await drive(fastmcp4, *args, logs=logs)
    check_connected(events, "approval")
    asked = named(events, "elicited")
    assert [e["message"] for e in asked] == [
        "Deploy api 1 to production?",
        "Deploy web 2 to production?",
    ]
    assert all(e["properties"] == ["approve", "note"] for e in asked)
    results = named(events, "result")
    assert [e["text"] for e in results] == ["Deployed api 1. Note: go", "Deployed web 2. Note: go"]
    assert not any(e["isError"] for e in results)

    [web_created, db_created] = [e["task"] for e in named(events, "created")]
    for created in (web_created, db_created):
        # "Servers MUST set resultType to "task" when returning a CreateTaskResult"
        assert (created["resultType"], created["status"]) == ("task", "working")
        assert created["ttlMs"] == 3_600_000  # taskapp's default_ttl_ms
        assert created["pollIntervalMs"] == 500
    [web_waiting, db_waiting] = [e["task"] for e in named(events, "reached")]
    assert web_waiting["status"] == "input_required"
    assert web_waiting["statusMessage"] == "checking web 2"
    [(key, question)] = web_waiting["inputRequests"].items()
    assert question["method"] == "elicitation/create"
    assert question["params"]["message"] == "Deploy web 2 to production?"
    # FastMCP names the handler's request after the task and the inputRequests key.
    assert asked[1]["requestId"] == f"task-{web_created['taskId']}-{key}"

    [web_final, db_final] = [e["task"] for e in named(events, "final")]
    assert web_final["status"] == "completed"
    assert web_final["result"]["content"] == [{"type": "text", "text": "Deployed web 2. Note: go"}]
    assert "inputRequests" not in web_final

    assert db_waiting["status"] == "input_required"
    assert one(events, "cancel_ack")["tool"] == "deploy"
    assert one(events, "tool_error")["message"] == f"Task {db_created['taskId']} was cancelled"
    assert db_final["status"] == "cancelled"
    assert not {"result", "error", "inputRequests"} & set(db_final)

    if transport == "http":
        check_http_wire(events)
        methods = [e["method"] for e in named(events, "request")]
        assert methods.count("tasks/update") == 2
        assert methods.count("tasks/cancel") == 1


# -- cancel and progress ---------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cancel_a_running_task(
    fastmcp4: str, transport: str, request: pytest.FixtureRequest, logs: Path
) -> None:
    """`ToolTask.cancel()` on a task that sleeps 60 s: taskapp acknowledges, stops the
    function and shows the task `cancelled` (SEP-2663, Task Cancellation); FastMCP's
    `result()` raises "was cancelled". The script ends well before the sleep would."""
    cancel = steps({"do": "task", "tool": "sleeper", "args": {"seconds": 60}, "wait": "working",
                    "cancel": True})  # fmt: skip
    events = await drive(fastmcp4, *cancel, *server_args(request, transport, "fixture"), logs=logs)
    created = one(events, "created")["task"]
    assert one(events, "reached")["task"]["status"] == "working"
    assert one(events, "tool_error")["message"] == f"Task {created['taskId']} was cancelled"
    final = one(events, "final")["task"]
    assert (final["taskId"], final["status"]) == (created["taskId"], "cancelled")
    assert final["statusMessage"] == "The task was cancelled by the requestor."
    ran = stamp(final["lastUpdatedAt"]) - stamp(created["createdAt"])
    assert ran < timedelta(seconds=20), ran  # stopped, not left to sleep its 60 s
    if transport == "http":
        check_http_wire(events)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_progress_shows_as_the_status_message(
    fastmcp4: str, transport: str, request: pytest.FixtureRequest, logs: Path
) -> None:
    """`slow_add` calls `ctx.update_status("step i/3")` then `ctx.report_progress(i, 3)`
    at each step. A 2026 task has no notifications/progress, so FastMCP's progress
    handler hears nothing; what its client can see is `ToolTask.status()`, whose
    `statusMessage` taskapp sets from the progress ("i/3") after each status, and clears
    once the task has completed (docs/dialects.md)."""
    watch = steps(
        {"do": "watch", "tool": "slow_add", "args": {"a": 1, "b": 2, "steps": 3, "delay": 0.6}}
    )
    events = await drive(fastmcp4, *watch, *server_args(request, transport, "fixture"), logs=logs)
    polled = [e["task"] for e in named(events, "polled")]
    assert polled[-1]["status"] == "completed"
    assert "statusMessage" not in polled[-1]
    working = [task.get("statusMessage") for task in polled[:-1]]
    assert all(task["status"] == "working" for task in polled[:-1])
    allowed = {f"step {i}/3" for i in (1, 2, 3)} | {f"{i}/3" for i in (1, 2, 3)} | {None}
    assert set(working) <= allowed, working
    from_progress = [m for m in working if m is not None and not m.startswith("step")]
    assert from_progress, working
    # In order, each step's status then its progress: a late progress write never
    # hides a newer status.
    order = ["step 1/3", "1/3", "step 2/3", "2/3", "step 3/3", "3/3"]
    seen = [order.index(m) for m in working if m is not None]
    assert seen == sorted(seen), working
    assert one(events, "result")["text"] == "1 + 2 = 3"
    assert named(events, "progress") == []
    if transport == "http":
        check_http_wire(events)
