"""Every file under examples/ runs, as the docs show it.

Most tests drive an example's app in memory with `taskapp.Client(app)`; some run the
command written at the top of the example, as a user would. docs/testing.md includes
the parts of this file between `--8<-- [start:...]` and `[end:...]` markers, so the
code on that page is run here.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import os
import re
import shlex
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from taskapp import Client, TaskApp, TaskContext, cli
from taskapp.stores.redis import RedisStore
from taskapp.testing import TaskStoreContract
from taskapp.wire.jsonrpc import JsonRpcError
from taskapp.wire.models import Task
from tests.clients import LegacyClient

from .redis_support import delete_keys, require_redis, unique_prefix

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (REPO / "examples").glob("*.py") if p.name != "__init__.py")
RUN_IT = re.compile(r"^Run it:\s+(.+)$", re.MULTILINE)
TASKAPP_SCRIPT = Path(sys.executable).with_name("taskapp")  # the console script
TIMEOUT = 20


def documented_command(example: Path) -> list[str]:
    """The command on the example's "Run it:" line; empty if it has none."""
    docstring = ast.get_docstring(ast.parse(example.read_text())) or ""
    match = RUN_IT.search(docstring)
    return [] if match is None else shlex.split(match.group(1))


def runnable(command: list[str]) -> list[str]:
    """A documented command made runnable here: `taskapp` and `python` from this venv."""
    head, *rest = command
    if head == "taskapp" and TASKAPP_SCRIPT.exists():
        return [str(TASKAPP_SCRIPT), *rest]
    if head == "taskapp":
        return [sys.executable, "-m", "taskapp", *rest]
    if head == "python":
        return [sys.executable, *rest]
    return command


def subprocess_env() -> dict[str, str]:
    """The environment for a documented command: this venv first on PATH, no stray store."""
    env = {k: v for k, v in os.environ.items() if k not in ("TASKAPP_STORE", "FORCE_COLOR")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


# -- every example says how to run it, and that command works ----------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_says_how_to_run_it(example: Path) -> None:
    command = documented_command(example)
    assert command, f"{example.name}: its docstring has no 'Run it:  <command>' line"
    assert command[0] in ("taskapp", "python", "uvicorn"), command
    mentions = (f"examples/{example.name}", f"examples.{example.stem}:")
    assert any(m in arg for arg in command for m in mentions) or "pytest" in command, command


def _serves_stdio(example: Path) -> bool:
    command = documented_command(example)
    return command[:2] == ["taskapp", "run"] and "--transport" not in command


STDIO_EXAMPLES = [p for p in EXAMPLES if _serves_stdio(p)]


@pytest.mark.parametrize("example", STDIO_EXAMPLES, ids=lambda p: p.name)
async def test_the_documented_run_command_serves_the_example(
    example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`taskapp run examples/x.py:app` starts a stdio server with the example's tools."""
    monkeypatch.chdir(REPO)
    module = __import__(f"examples.{example.stem}", fromlist=["app"])
    with anyio.fail_after(TIMEOUT):
        async with LegacyClient(runnable(documented_command(example))) as client:
            tools = {tool.name: tool.task_support for tool in await client.list_tools()}
    assert tools == {name: tool.mode for name, tool in module.app.tools.items()}
    assert client.server_info["name"] == module.app.name


async def test_the_jobs_command_prints_the_result() -> None:
    """examples/jobs.py's own command (with shorter items), as a user runs it."""
    command = runnable(documented_command(REPO / "examples" / "jobs.py"))
    assert command[-3:] == ["examples/jobs.py:app", "crunch", "items=10"]
    with anyio.fail_after(TIMEOUT):
        done = await anyio.run_process(
            [*command, "delay=0.15"], check=False, cwd=REPO, env=subprocess_env()
        )
    assert (done.returncode, done.stdout) == (0, b"crunched 10 items, checksum 301337\n")
    # `taskapp call` speaks 2026-07-28 to taskapp: it polls the task every 500 ms and
    # shows the status each poll sees (an item's status, or its progress `n/10`)
    assert re.search(rb"\nworking: (item )?\d+/10\n", done.stderr), done.stderr
    assert done.stderr.endswith(b"completed\n")


@pytest.mark.parametrize(
    ("script", "first_line"),
    [("client.py", r"task \S+ working"), ("official_client.py", r"working step \d/5")],
)
async def test_the_client_scripts_call_hello(script: str, first_line: str) -> None:
    """`python examples/client.py` and `python examples/official_client.py`."""
    command = runnable(documented_command(REPO / "examples" / script))
    with anyio.fail_after(TIMEOUT):
        done = await anyio.run_process(command, check=False, cwd=REPO, env=subprocess_env())
    lines = done.stdout.decode().splitlines()
    assert done.returncode == 0, done.stderr.decode()
    assert re.fullmatch(first_line, lines[0]), lines
    assert lines[-1] == "1 + 2 = 3"


def test_the_schemas_command_prints_the_tools(capsys: pytest.CaptureFixture[str]) -> None:
    from examples.schemas import app

    command = documented_command(REPO / "examples" / "schemas.py")
    assert command[:2] == ["taskapp", "inspect"]
    assert cli.main(command[1:]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == app.tools_page(None, with_tasks=True)


# -- hello: an ordinary tool, an optional one, a required one ----------------------------


# --8<-- [start:hello]
async def test_slow_add_runs_as_a_task_with_progress() -> None:
    from examples.hello import app

    seen: list[tuple[float, float | None]] = []
    all_seen = anyio.Event()

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total))
        if done == total:
            all_seen.set()

    with anyio.fail_after(10):  # a test must never hang
        # The app, served in memory, in 2025-11-25 for tasks/result (the default "auto"
        # speaks 2026-07-28 with taskapp: see below).
        async with Client(app, dialect="2025-11-25") as client:
            created = await client.call_tool_as_task(
                "slow_add",
                {"a": 1, "b": 2, "steps": 3, "delay": 0.01},
                progress_handler=on_progress,
            )
            assert created.task.status == "working"
            result = await client.get_task_result(created.task.task_id)  # blocks until done
            task = await client.get_task(created.task.task_id)
            await all_seen.wait()  # notifications are handled apart from responses
    assert result.text == "1 + 2 = 3"
    assert not result.is_error
    assert task.status == "completed"
    assert seen == [(1, 3), (2, 3), (3, 3)]


async def test_greet_runs_inline_too_and_echo_is_a_plain_function() -> None:
    from examples.hello import app, echo

    async with LegacyClient(app) as client:
        result = await client.call_tool("greet", {"name": "Ada"})  # no task: inline
        tools = {tool.name: tool.task_support for tool in await client.list_tools()}
    assert result.text == "Hello, Ada!"
    assert tools == {"echo": "forbidden", "greet": "optional", "slow_add": "required"}
    assert await echo("hi") == "hi"  # the decorator returned the function unchanged


# --8<-- [end:hello]


# -- jobs: progress and cancellation ------------------------------------------------------


async def test_a_job_runs_to_the_end() -> None:
    from examples.jobs import app

    with anyio.fail_after(10):
        async with LegacyClient(app) as client:
            created = await client.call_tool_as_task("crunch", {"items": 3, "delay": 0.01})
            result = await client.get_task_result(created.task.task_id)
            task = await client.get_task(created.task.task_id)
            left = await client.call_tool("running_jobs")
    assert result.text == "crunched 3 items, checksum 1026"
    assert (task.status, task.status_message) == ("completed", None)  # a success clears it
    assert left.structured_content == {"result": []}


# --8<-- [start:cancel]
async def test_cancelling_a_job_stops_it_and_cleans_up() -> None:
    from examples.jobs import app, scratch_dirs

    started = anyio.Event()

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        started.set()

    with anyio.fail_after(10):
        async with LegacyClient(app) as client:
            created = await client.call_tool_as_task(
                "crunch", {"items": 1000, "delay": 0.01}, progress_handler=on_progress
            )
            await started.wait()
            [scratch] = scratch_dirs  # the running job's files
            assert scratch.is_dir()

            cancelled = await client.cancel_task(created.task.task_id)
            result = await client.get_task_result(created.task.task_id)
    # Leaving the block stopped the app, after the job's `finally` ran.
    assert cancelled.status == "cancelled"
    assert result.is_error
    assert result.text == "The task was cancelled by the requestor."
    assert scratch_dirs == set()
    assert not scratch.exists()


# --8<-- [end:cancel]


# -- approval: a question to the user (elicitation) ------------------------------------


# --8<-- [start:approval]
async def test_deploy_asks_for_approval() -> None:
    from examples.approval import app

    questions: list[dict[str, Any]] = []
    statuses: list[str] = []
    ended = anyio.Event()

    async def answer(params: dict[str, Any]) -> dict[str, Any]:  # elicitation/create
        questions.append(params)
        return {"action": "accept", "content": {"approve": True, "note": "ship it"}}

    async def on_status(task: Task) -> None:  # notifications/tasks/status
        statuses.append(task.status)
        if task.terminal:
            ended.set()

    with anyio.fail_after(10):
        async with LegacyClient(app, elicitation_handler=answer, status_handler=on_status) as c:
            created = await c.call_tool_as_task("deploy", {"service": "api", "version": "1.2"})
            result = await c.get_task_result(created.task.task_id)  # delivers the question
            await ended.wait()
    assert result.text == "Deployed api 1.2. Note: ship it"
    [question] = questions
    assert question["message"] == "Deploy api 1.2 to production?"
    assert set(question["requestedSchema"]["properties"]) == {"approve", "note"}
    assert statuses[-1] == "completed"
    assert "input_required" in statuses  # while it waited for the answer


async def test_deploy_stops_when_the_user_declines() -> None:
    from examples.approval import app

    async def decline(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "decline"}

    with anyio.fail_after(10):
        async with LegacyClient(app, elicitation_handler=decline) as client:
            created = await client.call_tool_as_task("deploy", {"service": "api", "version": "2"})
            result = await client.get_task_result(created.task.task_id)
    assert result.text == "Deployment of api 2 not approved (decline)."


# --8<-- [end:approval]


async def test_ask_name_inline_and_without_the_capability() -> None:
    from examples.approval import app

    async def answer(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"name": "Ada"}}

    with anyio.fail_after(10):
        async with LegacyClient(app, elicitation_handler=answer) as client:
            inline = await client.call_tool("ask_name")
        async with LegacyClient(app) as client:  # declares no elicitation
            refused = await client.call_tool("ask_name")
    assert inline.text == "Hello, Ada!"
    assert refused.is_error
    assert "elicitation" in refused.text


# -- summarizer: a question to the client's model (sampling) -----------------------------


# --8<-- [start:summarizer]
async def test_summarize_asks_the_clients_model() -> None:
    from examples.summarizer import app

    requests: list[dict[str, Any]] = []

    async def model(params: dict[str, Any]) -> dict[str, Any]:  # sampling/createMessage
        requests.append(params)
        return {
            "role": "assistant",
            "content": {"type": "text", "text": "Tasks let tools run long."},
            "model": "test-model",
            "stopReason": "endTurn",
        }

    with anyio.fail_after(10):
        async with LegacyClient(app, sampling_handler=model) as client:
            created = await client.call_tool_as_task("summarize", {"text": "A long text."})
            result = await client.get_task_result(created.task.task_id)
    assert result.text == "summary: Tasks let tools run long."
    [request] = requests
    assert request["maxTokens"] == 60
    assert request["messages"][0]["content"]["text"] == "Summarize in one line: A long text."


# --8<-- [end:summarizer]


# -- roots: where the client lets a tool work (roots/list) --------------------------------


# --8<-- [start:roots]
async def test_count_files_under_the_clients_roots(tmp_path: Path) -> None:
    from examples.roots import app

    (tmp_path / "notes").mkdir()
    for name in ("a.md", "b.md", "c.txt"):
        (tmp_path / "notes" / name).write_text(name)

    async def roots(params: dict[str, Any]) -> dict[str, Any]:  # roots/list
        return {"roots": [{"uri": (tmp_path / "notes").as_uri(), "name": "notes"},
                          {"uri": "https://example.com/"}]}  # fmt: skip

    with anyio.fail_after(10):
        async with Client(app, roots_handler=roots) as client:
            result = await client.call_tool("count_files", {"pattern": "*.md"})
    assert result.text == "notes: 2 *.md\nhttps://example.com/: not a local directory"


# --8<-- [end:roots]


async def test_the_roots_command_counts_in_the_directories_given() -> None:
    command = runnable(documented_command(REPO / "examples" / "roots.py"))
    with anyio.fail_after(TIMEOUT):
        done = await anyio.run_process(command, check=False, cwd=REPO, env=subprocess_env())
    expected = len(list((REPO / "docs").rglob("*.md")))
    assert (done.returncode, done.stdout) == (0, f"docs: {expected} *.md\n".encode())


# -- schemas: what signatures become, and the two kinds of error -------------------------


async def test_the_schemas_come_from_the_signature() -> None:
    from examples.schemas import app

    async with LegacyClient(app) as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
    order = tools["place_order"]
    schema = order.input_schema
    assert set(schema["properties"]) == {"sku", "quantity", "size", "wrapping", "ship_to", "notes"}
    assert schema["required"] == ["sku"]
    assert schema["properties"]["sku"]["pattern"] == r"^[A-Z]{3}-\d{4}$"
    assert schema["properties"]["quantity"] == {
        "default": 1, "maximum": 100, "minimum": 1, "type": "integer",
        "description": "How many to order.",
    }  # fmt: skip
    assert schema["properties"]["wrapping"]["enum"] == ["none", "paper", "box"]
    assert schema["$defs"]["Size"]["enum"] == ["S", "M", "L"]
    assert schema["$defs"]["Address"]["required"] == ["street", "city"]
    assert order.output_schema is not None
    assert order.output_schema["required"] == ["order_id", "items", "total"]
    assert (order.task_support, order.annotations) == ("optional", {"destructiveHint": False})
    assert order.description == "Place an order for an item of the shop."
    assert tools["stock"].output_schema == {
        "type": "object", "properties": {"result": {"type": "integer"}}, "required": ["result"],
        "x-fastmcp-wrap-result": True,
    }  # fmt: skip


# --8<-- [start:errors]
async def test_results_and_errors_of_place_order() -> None:
    from examples.schemas import app

    with anyio.fail_after(10):
        async with LegacyClient(app) as client:
            ok = await client.call_tool("place_order", {"sku": "ABC-1234", "quantity": 2})
            bad = await client.call_tool("place_order", {"sku": "abc", "quantity": 0})
            out = await client.call_tool("place_order", {"sku": "OUT-0000"})
            boston = {"street": "1 Main St", "city": "Boston", "country": "US"}
            created = await client.call_tool_as_task(
                "place_order", {"sku": "ABC-1234", "ship_to": boston}
            )
            with pytest.raises(JsonRpcError) as error:
                await client.get_task_result(created.task.task_id)
            task = await client.get_task(created.task.task_id)
    assert ok.structured_content == {"order_id": "o-ABC-1234-2", "items": 2, "total": 19.0}
    assert bad.is_error  # invalid arguments: a tool error the model can read and fix
    assert "sku" in bad.text
    assert "quantity" in bad.text
    assert (out.is_error, out.text) == (True, "OUT-0000 is out of stock")  # ToolError
    assert (error.value.code, error.value.data) == (-32602, {"country": "US"})  # ProtocolError
    assert (task.status, task.status_message) == ("failed", "cannot ship there")


# --8<-- [end:errors]


# -- custom_store: a store of your own -------------------------------------------------


async def test_an_app_runs_on_the_custom_store() -> None:
    """The DictStore serves a real app; tests/test_store_contract.py runs the contract on it."""
    from examples.custom_store import DictStore

    from . import test_store_contract

    assert issubclass(test_store_contract.TestCustomStoreContract, TaskStoreContract)
    assert vars(test_store_contract)["DictStore"] is DictStore

    store = DictStore()
    app = TaskApp("dicts", store=store)

    @app.task_tool(mode="required")
    async def double(ctx: TaskContext, x: int) -> int:
        await ctx.update_status("doubling")
        return 2 * x

    with anyio.fail_after(10):
        async with LegacyClient(app) as client:
            created = await client.call_tool_as_task("double", {"x": 21})
            result = await client.get_task_result(created.task.task_id)
            listed = await client.list_tasks()
    assert result.structured_content == {"result": 42}
    assert [t.task_id for t in listed.tasks] == [created.task.task_id]
    assert store.tasks[created.task.task_id].status == "completed"


# -- over HTTP, through the ASGI app ----------------------------------------------------


class McpOverHttp:
    """Just enough of a Streamable HTTP client for these tests: one session, one token."""

    def __init__(self, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.http = http
        self.headers = {"content-type": "application/json"}
        self.headers["accept"] = "application/json, text/event-stream"
        if token is not None:
            self.headers["authorization"] = f"Bearer {token}"
        self.ids = iter(range(1, 1000))

    async def post(self, method: str, params: dict[str, Any] | None = None) -> httpx.Response:
        message = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params}
        return await self.http.post("/mcp", headers=self.headers, content=json.dumps(message))

    async def initialize(self) -> None:
        info = {"name": "test", "version": "0"}
        params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": info}
        response = await self.post("initialize", params)
        assert response.status_code == 200, response.text
        self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = "2025-11-25"
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await self.http.post("/mcp", headers=self.headers, content=json.dumps(note))

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response to one request, from a JSON body or the last event of an SSE stream."""
        response = await self.post(method, params)
        assert response.status_code == 200, response.text
        if response.headers["content-type"].startswith("application/json"):
            answer: dict[str, Any] = response.json()
            return answer
        data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        last: dict[str, Any] = json.loads(data[-1])
        return last


@asynccontextmanager
async def asgi_client(asgi: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """httpx in memory against an ASGI app, its lifespan entered (ASGITransport does not)."""
    transport = httpx.ASGITransport(app=asgi)
    async with (
        asgi.router.lifespan_context(asgi),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http,
    ):
        yield http


async def test_http_auth_tasks_belong_to_the_token() -> None:
    from examples.http_auth import app

    with anyio.fail_after(TIMEOUT):
        async with asgi_client(app.http_app()) as http:
            alice, bob = McpOverHttp(http, "alice-token"), McpOverHttp(http, "bob-token")
            await alice.initialize()
            await bob.initialize()
            call = {"name": "report", "arguments": {"region": "north"}, "task": {}}
            task_id = (await alice.call("tools/call", call))["result"]["task"]["taskId"]
            bobs_list = await bob.call("tasks/list")
            bobs_try = await bob.call("tasks/result", {"taskId": task_id})
            result = await alice.call("tasks/result", {"taskId": task_id})
            nobody = await McpOverHttp(http).post("initialize", {})
            metadata = await http.get("/.well-known/oauth-protected-resource/mcp")
    assert result["result"]["content"] == [
        {"type": "text", "text": "Report for north, 2026: all good."}
    ]
    assert bobs_list["result"]["tasks"] == []
    assert bobs_try["error"]["code"] == -32602  # exactly as for an unknown task
    assert nobody.status_code == 401
    assert nobody.headers["www-authenticate"].startswith('Bearer resource_metadata="')
    assert metadata.json()["authorization_servers"] == ["https://auth.example.com"]


async def test_the_mounted_app_serves_its_routes_and_mcp() -> None:
    from examples.mounted import api

    with anyio.fail_after(TIMEOUT):
        async with asgi_client(api) as http:
            health = await http.get("/health")
            mcp = McpOverHttp(http)
            await mcp.initialize()
            call = {"name": "weekly_report", "arguments": {"team": "infra"}, "task": {}}
            task_id = (await mcp.call("tools/call", call))["result"]["task"]["taskId"]
            result = await mcp.call("tasks/result", {"taskId": task_id})
    assert health.json() == {"status": "ok"}
    assert result["result"]["content"] == [
        {"type": "text", "text": "infra: 12 tickets closed, 3 opened"}
    ]


# -- fleet: an instance queues the task, a worker runs it (needs Redis) -------------------


async def test_fleet_an_instance_queues_and_a_worker_runs() -> None:
    """What `taskapp run ... --executor queue` and `taskapp worker` do, in one process."""
    from examples.fleet import app

    url = require_redis()
    prefix = unique_prefix()
    instance = copy.copy(app)  # what `taskapp run --executor queue` makes of the app
    instance.store = RedisStore(url, prefix=prefix)
    instance.config = dataclasses.replace(app.config, executor="queue", recover=False)
    statuses: list[str | None] = []
    ended = anyio.Event()

    async def on_status(task: Task) -> None:
        statuses.append(task.status_message)
        if task.terminal:
            ended.set()

    try:
        with anyio.fail_after(TIMEOUT):
            async with (
                app.running(RedisStore(url, prefix=prefix)) as worker,
                anyio.create_task_group() as tg,
            ):
                tg.start_soon(worker.work, 2)  # what `taskapp worker` runs
                async with LegacyClient(instance, status_handler=on_status) as client:
                    # Frame 12's status stands for 12 more frames: the instance relays what it
                    # reads after each change, so a status the task replaces within one
                    # Redis round trip (say, by finishing) may never be seen, by design.
                    arguments = {"scene": "intro", "frames": 24, "delay": 0.01}
                    created = await client.call_tool_as_task("render", arguments)
                    result = await client.get_task_result(created.task.task_id)
                    await ended.wait()
                record = await worker.store.get(created.task.task_id, now=time.time())
                tg.cancel_scope.cancel()
    finally:
        await delete_keys(url, prefix)
    assert result.text == "rendered intro: 24 frames"
    assert record is not None
    assert record.runner == worker.runner_id  # the worker ran it, not the instance
    assert "intro: frame 12/24" in statuses  # status messages reach the instance's client
    assert app.tools["render"].on_interrupt == "rerun"
