"""Prometheus metrics: counted off the store's writes (`MeteredStore`), served by
`taskapp run --metrics` on a port of their own and on the dashboard."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskapp import Client, TaskApp, TaskContext
from taskapp.metrics import MeteredStore, Metrics
from taskapp.stores import MemoryStore, answers_now

REPO = Path(__file__).resolve().parent.parent


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _app() -> TaskApp:
    app = TaskApp("metered")

    @app.task_tool(mode="required")
    async def work(ctx: TaskContext, fail: bool = False, wait: bool = False) -> str:
        if wait:
            await anyio.sleep_forever()
        if fail:
            raise ValueError("no")
        return "done"

    return app


@pytest.mark.anyio
async def test_tasks_are_counted_from_the_stores_writes() -> None:
    metrics = Metrics()
    store = MeteredStore(MemoryStore(), metrics)
    assert answers_now(store) is store  # the memory store's waitless path is kept
    app = _app()
    app.store = store
    async with Client(app) as client:
        done = await client.call_tool_as_task("work", {})
        failed = await client.call_tool_as_task("work", {"fail": True})
        waiting = await client.call_tool_as_task("work", {"wait": True})
        for created in (done, failed):
            await client.get_task_result(created.task.task_id)
        await client.cancel_task(waiting.task.task_id)
        text = (await metrics.exposition(store)).decode()
    got = samples(text)
    assert got[("taskapp_tasks_created_total", (("tool", "work"),))] == 3
    ended = {
        status: got[("taskapp_tasks_ended_total", (("status", status), ("tool", "work")))]
        for status in ("completed", "cancelled")
    }
    assert ended == {"completed": 2, "cancelled": 1}  # a tool that raised: completed, isError
    count = ("taskapp_task_duration_seconds_count", (("status", "completed"), ("tool", "work")))
    assert got[count] == 2
    assert got[("taskapp_tasks", (("status", "cancelled"),))] == 1
    assert got[("taskapp_tasks", (("status", "working"),))] == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_run_serves_metrics_on_a_port_of_its_own_and_on_the_dashboard() -> None:
    mcp, metrics, dashboard = _free_port(), _free_port(), _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "taskapp", "run", "examples/hello.py:app", "--transport", "http",
         "--port", str(mcp), f"--metrics={metrics}", f"--dashboard={dashboard}"],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        said = ""
        while "metrics at" not in said:
            line = process.stderr.readline().decode()
            assert line, said
            said += line
        assert f"taskapp: metrics at http://127.0.0.1:{metrics}/metrics" in said

        async def call() -> None:
            async with Client(f"http://127.0.0.1:{mcp}/mcp") as client:
                await client.call_tool("greet", {"name": "Ada"})
                created = await client.call_tool_as_task("greet", {"name": "Bo"})
                await client.get_task_result(created.task.task_id)

        anyio.run(call)
        own = httpx.get(f"http://127.0.0.1:{metrics}/metrics")
        beside = httpx.get(f"http://127.0.0.1:{dashboard}/metrics")
        refused = httpx.get(f"http://127.0.0.1:{metrics}/metrics", headers={"Host": "evil.com"})
    finally:
        process.terminate()
        process.communicate(timeout=20)
    assert own.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert samples(own.text)[("taskapp_tasks_created_total", (("tool", "greet"),))] == 1
    assert samples(beside.text)[("taskapp_tasks_created_total", (("tool", "greet"),))] == 1
    assert refused.status_code == 421
