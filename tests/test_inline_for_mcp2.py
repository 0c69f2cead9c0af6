"""A real client sees a promoted call: the official Python SDK 2.x (mcp==2.3.0) with the
tasks client of tests/mcp2/tasks_client.py (the SDK's extension hooks) calls the
conformance app's `test_tool_with_task`: an MRTR round, which the SDK answers through its
elicitation callback and retries, then a CreateTaskResult on the final round, which the
tasks extension's resolver follows to the result (SEP-2322 + SEP-2663)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest

from .test_http_interop import run_server
from .test_interop_mcp2 import TIMEOUT, events_named, logs, mcp2, one, run_script, text_of

__all__ = ("logs", "mcp2")  # fixtures, used by name

pytestmark = pytest.mark.anyio

APP = "tests/conformance/app.py:app"


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_the_sdk_answers_the_mrtr_round_then_follows_the_task(
    mcp2: str, transport: str, logs: Path
) -> None:
    args = ["life", "--tool", "test_tool_with_task", "--answer", json.dumps({"name": "Alice"})]
    with anyio.fail_after(TIMEOUT):
        if transport == "http":
            with run_server(APP, logs / "server.log") as server:
                events = await run_script(
                    mcp2, "tasks_client", *args, "--url", server.url, logs=logs
                )
        else:
            command = [sys.executable, "-m", "taskapp", "run", APP, "--log-level", "warning"]
            events = await run_script(mcp2, "tasks_client", *args, "--", *command, logs=logs)
    # The round before the task: the SDK asked its elicitation callback, then retried.
    asked = one(events, "elicited")
    assert asked["message"] == "What is your name?"
    names = [e["event"] for e in events]
    assert names.index("elicited") < names.index("created")
    created = one(events, "created")["task"]
    assert created["resultType"] == "task"
    assert "requestState" not in created
    assert events_named(events, "polled")[-1]["status"] == "completed"
    result = one(events, "result")
    assert (text_of(result["result"]), result["isError"]) == ("Hello, Alice!", False)
