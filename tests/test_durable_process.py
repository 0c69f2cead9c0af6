"""Crash recovery on a SQLite store, with real `taskapp run` processes and a real SIGKILL."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskapp.engine.fleet import INTERRUPTED_MESSAGE

from .test_stdio_process import StdioServer

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent
APP = "tests/durable_app.py:app"


@asynccontextmanager
async def server(
    tmp_path: Path, name: str, args: list[str], env: dict[str, str]
) -> AsyncIterator[StdioServer]:
    """`taskapp run ARGS` on pipes, its stderr in NAME.log; closed (or killed) at the end."""
    stderr_path = tmp_path / f"{name}.log"
    with stderr_path.open("wb") as stderr:
        process = await anyio.open_process(
            [sys.executable, "-m", "taskapp", "run", *args], cwd=REPO, env=env, stderr=stderr
        )
        try:
            yield StdioServer(process, stderr_path)
        finally:
            with anyio.fail_after(10):
                await process.aclose()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TASKAPP_STORE"}
    return {**env, **extra}


async def _task(conn: StdioServer, name: str, arguments: dict[str, Any]) -> str:
    created = await conn.result("tools/call", {"name": name, "arguments": arguments, "task": {}})
    task_id: str = created["task"]["taskId"]
    return task_id


async def test_a_killed_server_loses_no_result_and_its_tasks_end_as_documented(
    tmp_path: Path,
) -> None:
    """A SIGKILL mid-task: the next server on the same file returns the finished result
    intact, fails the interrupted task once its lease lapses, and re-runs the tool that
    declared on_interrupt="rerun" (which therefore ran twice: at-least-once)."""
    url = f"sqlite:///{tmp_path}/tasks.db"  # an absolute path: four slashes
    marker = tmp_path / "runs.txt"

    async with server(tmp_path, "first", [APP, "--store", url], _env()) as first:
        await first.initialize()
        done_id = await _task(first, "quick", {"size": 3_000_000})
        finished = await first.result("tasks/result", {"taskId": done_id})
        long_id = await _task(first, "long", {"seconds": 60})
        rerun_id = await _task(first, "resumable", {"marker": str(marker)})
        status: dict[str, Any] = {}
        with anyio.fail_after(10):
            while status.get("statusMessage") != "run 1 started":
                await anyio.sleep(0.02)
                status = await first.result("tasks/get", {"taskId": rerun_id})
        assert marker.read_text() == "1"
        assert (await first.result("tasks/get", {"taskId": long_id}))["status"] == "working"
        first.process.send_signal(signal.SIGKILL)
        with anyio.fail_after(10):
            assert await first.process.wait() == -signal.SIGKILL

    # The second server finds the file through TASKAPP_STORE rather than --store.
    async with server(tmp_path, "second", [APP], _env(TASKAPP_STORE=url)) as second:
        await second.initialize()
        assert await second.result("tasks/result", {"taskId": done_id}) == finished
        assert len(finished["structuredContent"]["text"]) == 3_000_000

        # tasks/result blocks until the lapsed lease is noticed, then gives the error.
        interrupted = await second.call("tasks/result", {"taskId": long_id})
        assert interrupted["error"] == {"code": -32603, "message": INTERRUPTED_MESSAGE}
        got = await second.result("tasks/get", {"taskId": long_id})
        assert (got["status"], got["statusMessage"]) == ("failed", INTERRUPTED_MESSAGE)

        rerun = await second.result("tasks/result", {"taskId": rerun_id})
        assert rerun["content"] == [{"type": "text", "text": "finished on run 2"}]
        assert "isError" not in rerun
        assert marker.read_text() == "2"

        listed = await second.result("tasks/list")
        statuses = {t["taskId"]: t["status"] for t in listed["tasks"]}
        assert statuses == {done_id: "completed", long_id: "failed", rerun_id: "completed"}
