"""examples/modern.py driven end to end by a 2026-07-28 client, as docs/claude-code.md
shows it: `taskapp run examples/modern.py:app` over stdio, and taskapp's own client
(which picks 2026-07-28 against taskapp, as Claude Code speaks it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskapp import Client
from taskapp.client import Task

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parent.parent
SERVER = [sys.executable, "-m", "taskapp", "run", "examples/modern.py:app", "--log-level=warning"]


class Host:
    """What a host sees: the status lines of each task, the questions it was asked."""

    def __init__(self, confirm: bool) -> None:
        self.statuses: list[tuple[str, str | None]] = []
        self.asked: list[str] = []
        self.confirm = confirm

    async def status(self, task: Task) -> None:
        self.statuses.append((task.status, task.status_message))

    async def elicit(self, params: dict[str, Any]) -> dict[str, Any]:
        self.asked.append(params["message"])
        return {"action": "accept", "content": {"confirm": self.confirm}}


async def test_the_modern_example_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    host = Host(confirm=True)
    tasks: list[str] = []

    async def on_task(task: Task) -> None:
        tasks.append(task.task_id)

    with anyio.fail_after(60):
        async with Client(SERVER, status_handler=host.status, elicitation_handler=host.elicit) as c:
            assert c.dialect == "2026-07-28"
            live = await c.call_tool("live_version", {"service": "web"}, on_task=on_task)
            assert live.text == "2.4.1"
            assert tasks == []  # a plain tool: answered inline

            built = await c.call_tool("build", {"service": "web"}, on_task=on_task)
            assert built.text == "web built in 4 stages"
            assert len(tasks) == 1  # a required task tool: a task, polled to its end
            # The progress messages reach the host as the task's status line.
            assert any(m and m.startswith("web: stage ") for _, m in host.statuses)

            short = await c.call_tool("search_logs", {"query": "oom"}, on_task=on_task)
            assert short.text == "3 matches for 'oom' in 1 day(s)"
            assert len(tasks) == 1  # under inline_for: answered in the call
            long = await c.call_tool("search_logs", {"query": "oom", "days": 6}, on_task=on_task)
            assert long.text == "18 matches for 'oom' in 6 day(s)"
            assert len(tasks) == 2  # past inline_for: it became a task and went on

            deployed = await c.call_tool("deploy", {"service": "web", "version": "2.5.0"})
            assert deployed.text == "web 2.5.0 deployed"
            assert host.asked == ["Deploy web 2.5.0 to production?"]  # asked once (MRTR)
            assert (await c.call_tool("live_version", {"service": "web"})).text == "2.5.0"


async def test_declining_the_deployment_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    host = Host(confirm=False)
    with anyio.fail_after(60):
        async with Client(SERVER, elicitation_handler=host.elicit) as c:
            result = await c.call_tool("deploy", {"service": "api", "version": "8.0.0"})
            assert result.text == "api 8.0.0: not deployed"
            assert (await c.call_tool("live_version", {"service": "api"})).text == "7.0.3"
