"""Prometheus metrics (taskapp.observe.metrics): what /metrics shows after tasks of each
outcome, where it is served (a listener of its own, a path beside the MCP endpoint, a
route in another app), and that nothing is collected or served unless asked."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel
from starlette.applications import Starlette

from taskapp import Client, MemoryStore, TaskApp, TaskContext, cli
from taskapp.errors import ProtocolError
from taskapp.observe import Metrics, Observer, metrics_route, parse_listen
from taskapp.observe.exposition import Listen
from taskapp.observe.store import ObservedStore, observed
from taskapp.stores import TaskStore
from taskapp.testing import TaskStoreContract
from taskapp.wire.jsonrpc import JsonRpcError
from tests.clients import LegacyClient

from .test_http import serving

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Name(BaseModel):
    name: str


class StepsFail(MemoryStore):
    """A store whose step writes fail, as a store that lost its connection does."""

    async def save_step(
        self, task_id: str, name: str, value: str, *, runner: str, now: float
    ) -> bool:
        raise ConnectionError("the store hung up")


class TestObservedStoreContract(TaskStoreContract):
    """The proxy that counts is the store the engine sees: it must keep the contract."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[TaskStore]:
        store = observed(MemoryStore(), Observer(Metrics(), None))
        await store.open()
        yield store
        await store.close()


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def make_app(started: anyio.Event, **options: Any) -> TaskApp:
    app = TaskApp("metered", store=StepsFail(), **options)

    @app.task_tool()
    async def ok() -> str:
        return "fine"

    @app.task_tool()
    async def oops() -> str:
        raise ValueError("the tool's own error")

    @app.task_tool()
    async def refuse() -> str:
        raise ProtocolError(-32602, "not like that")

    @app.task_tool()
    async def hang() -> str:
        started.set()
        await anyio.sleep_forever()
        return "never"

    @app.task_tool()
    async def ask(ctx: TaskContext) -> str:
        answer = await ctx.elicit("Your name?", Name)
        return f"hello {answer.data.name if answer.data else '?'}"

    @app.task_tool(retries=1, retry_backoff=0)
    async def durable(ctx: TaskContext) -> str:
        return str(await ctx.step("one", lambda: 1))

    return app


async def answer_name(params: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": {"name": "Ada"}}


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def run_to_end(client: Client, tool: str) -> None:
    created = await client.call_tool_as_task(tool)
    try:
        await client.get_task_result(created.task.task_id)
    except JsonRpcError:  # a failed task's result is its JSON-RPC error
        assert tool in ("refuse", "durable")


async def test_metrics_on_their_own_port_count_every_outcome_by_tool() -> None:
    started = anyio.Event()
    app = make_app(started, metrics="127.0.0.1:0")
    async with LegacyClient(app, elicitation_handler=answer_name) as client:
        assert app.observing.address is not None
        host, port = app.observing.address
        url = f"http://{host}:{port}/metrics"
        for tool in ("ok", "ok", "oops", "refuse", "ask", "durable"):
            await run_to_end(client, tool)
        hanging = await client.call_tool_as_task("hang")
        await started.wait()
        during = await scrape(url)
        await client.cancel_task(hanging.task.task_id)
        expiring = await client.call_tool_as_task("hang", ttl=1)
        # Its TTL runs out while it runs: deleted, and the wait for its result ends.
        with anyio.fail_after(10), pytest.raises(JsonRpcError, match=r"not found|expired"):
            await client.get_task_result(expiring.task.task_id)
        after = await scrape(url)
    assert expiring.task.task_id != hanging.task.task_id
    assert value(during, "taskapp_tasks_running", tool="hang") == 1
    assert value(after, "taskapp_tasks_running", tool="hang") == 0
    assert value(after, "taskapp_tasks_created_total", tool="ok") == 2
    assert value(after, "taskapp_tasks_created_total", tool="hang") == 2
    ended = {
        (tool, status): value(after, "taskapp_tasks_ended_total", tool=tool, status=status)
        for tool, status in [
            ("ok", "completed"), ("oops", "tool_error"), ("refuse", "failed"),
            ("ask", "completed"), ("durable", "failed"), ("hang", "cancelled"),
            ("hang", "expired"),
        ]
    }  # fmt: skip
    assert ended == {
        ("ok", "completed"): 2, ("oops", "tool_error"): 1, ("refuse", "failed"): 1,
        ("ask", "completed"): 1, ("durable", "failed"): 1, ("hang", "cancelled"): 1,
        ("hang", "expired"): 1,
    }  # fmt: skip
    assert value(after, "taskapp_task_run_seconds_count", tool="ok", status="completed") == 2
    assert (
        value(after, "taskapp_task_run_seconds_bucket", tool="ok", status="completed", le="+Inf")
        == 2
    )
    assert value(after, "taskapp_task_run_seconds_count", tool="hang", status="cancelled") == 1
    assert value(after, "taskapp_input_waits_total", tool="ask") == 1
    assert value(after, "taskapp_input_wait_seconds_count", tool="ask") == 1
    assert value(after, "taskapp_tasks_waiting_input", tool="ask") == 0
    # The step's write failed: a store error, not a tool error (the task failed).
    assert value(after, "taskapp_store_errors_total", operation="save_step") == 1
    assert value(after, "taskapp_store_errors_total", operation="update") == 0


async def test_calls_answered_inline_are_timed_by_tool_and_ending() -> None:
    """Tools called without a task run in the request: no task is created, and
    taskapp_inline_call_seconds counts each call by how it ended."""
    app = make_app(anyio.Event(), metrics="127.0.0.1:0")
    async with LegacyClient(app) as client:
        assert app.observing.address is not None
        host, port = app.observing.address
        assert (await client.call_tool("ok")).content[0]["text"] == "fine"
        await client.call_tool("ok")
        assert (await client.call_tool("oops")).is_error
        with pytest.raises(JsonRpcError, match="not like that"):
            await client.call_tool("refuse")
        after = await scrape(f"http://{host}:{port}/metrics")
    counts = {
        (tool, status): value(after, "taskapp_inline_call_seconds_count", tool=tool, status=status)
        for tool, status in [("ok", "completed"), ("oops", "tool_error"), ("refuse", "failed")]
    }
    assert counts == {("ok", "completed"): 2, ("oops", "tool_error"): 1, ("refuse", "failed"): 1}
    assert value(after, "taskapp_tasks_created_total", tool="ok") == 0


async def test_metrics_on_a_path_beside_the_mcp_endpoint_check_the_host() -> None:
    app = TaskApp("metered", metrics="/metrics")

    @app.task_tool()
    async def ok() -> str:
        return "fine"

    async with serving(app.http_app()) as http:
        response = await http.get("/metrics")
        assert response.status_code == 200
        assert "# TYPE taskapp_tasks_created_total counter" in response.text
        rebound = await http.get("/metrics", headers={"host": "evil.example"})
        assert rebound.status_code == 421


async def test_metrics_are_off_by_default() -> None:
    app = TaskApp("plain")
    async with serving(app.http_app()) as http:
        assert (await http.get("/metrics")).status_code == 404
    async with app.running() as engine:
        assert engine.hooks is None
        assert not isinstance(engine.store, ObservedStore)
    assert app.observing.metrics is None


def test_off_imports_neither_prometheus_nor_opentelemetry() -> None:
    """Nothing turned on, nothing imported: a task runs end to end in a fresh process."""
    code = """
import sys, anyio
from taskapp import Client, TaskApp
app = TaskApp("plain")
@app.task_tool()
async def ok() -> str:
    return "fine"
async def main():
    async with Client(app, dialect="2025-11-25") as client:
        created = await client.call_tool_as_task("ok")
        await client.get_task_result(created.task.task_id)
anyio.run(main)
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry", "prometheus_client")))
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


async def test_the_route_factory_mounts_metrics_in_another_app() -> None:
    """What the dashboard does: one route in its own Starlette app."""
    metrics = Metrics()
    metrics.created.labels("ok").inc()
    outer = Starlette(routes=[metrics_route(metrics)])
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.get("/metrics")
    assert value(parse(response.text), "taskapp_tasks_created_total", tool="ok") == 1


@pytest.mark.parametrize(
    ("option", "listen"),
    [
        (True, Listen()),
        (9464, Listen(port=9464)),
        ("9464", Listen(port=9464)),
        ("0.0.0.0:9100", Listen(host="0.0.0.0", port=9100)),
        ("[::1]:9100", Listen(host="::1", port=9100)),
        ("/metrics", Listen(path="/metrics")),
        (False, None),
    ],
)
def test_where_metrics_go(option: bool | int | str, listen: Listen | None) -> None:
    assert parse_listen(option) == listen


def test_a_bad_metrics_option_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match=r"give a port \(9464\), HOST:PORT"):
        parse_listen("metrics")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "tests.fixture_app:app", "--metrics=/metrics"],
         "a path needs --transport http; give a port"),
        (["worker", "tests.fixture_app:app", "--metrics=nine"], "give a port (9464)"),
    ],
)  # fmt: skip
def test_the_cli_refuses_metrics_it_cannot_serve(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
