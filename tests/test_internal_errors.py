"""Internal errors reach the client as a generic message with an id; the log has the rest."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from taskapp import MemoryStore, TaskApp, TaskContext
from taskapp._logging import configure_logging
from taskapp.records import TaskRecord

from .raw import raw_connection

pytestmark = pytest.mark.anyio

INTERNAL_ERROR = -32603
SECRET = "Error 111 connecting to redis.internal.example:6379. Connection refused."
GENERIC = re.compile(r"Internal error \(id ([0-9a-f]{12})\): see the server log")


class LeakyStore(MemoryStore):
    """A store whose failures carry a secret host and port, as redis-py's do."""

    broken_reads = False
    broken_updates = 0  # how many of the next updates fail

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        if self.broken_reads:
            raise ConnectionError(SECRET)
        return await super().get(task_id, now=now)

    async def update(self, task_id: str, **changes: Any) -> TaskRecord:
        if self.broken_updates:
            self.broken_updates -= 1
            raise ConnectionError(SECRET)
        return await super().update(task_id, **changes)


@pytest.fixture
def server_log(restore_logging: None) -> io.StringIO:
    """Every log line of the test, as JSON."""
    stream = io.StringIO()
    configure_logging("debug", json=True, stream=stream)
    return stream


def logged_with_id(log: io.StringIO, error_id: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    (found,) = [line for line in lines if line.get("error_id") == error_id]
    assert isinstance(found, dict)
    return found


def the_id(message: str) -> str:
    match = GENERIC.fullmatch(message)
    assert match is not None, message
    return match.group(1)


def make_app(store: LeakyStore) -> TaskApp:
    app = TaskApp("leaky", store=store)

    @app.task_tool(mode="optional")
    async def report(ctx: TaskContext) -> str:
        """Report a status, then answer."""
        await ctx.update_status("halfway")
        return "done"

    return app


async def test_a_store_failure_is_a_generic_error_with_the_id_of_a_logged_traceback(
    server_log: io.StringIO,
) -> None:
    store = LeakyStore()
    async with raw_connection(make_app(store)) as conn:
        created = await conn.result("tools/call", {"name": "report", "arguments": {}, "task": {}})
        store.broken_reads = True
        error = await conn.error("tasks/get", {"taskId": created["task"]["taskId"]})
        store.broken_reads = False
    assert error["code"] == INTERNAL_ERROR
    assert "redis" not in json.dumps(error)
    logged = logged_with_id(server_log, the_id(error["message"]))
    assert logged["event"] == "handler failed"
    assert logged["method"] == "tasks/get"
    assert "Traceback" in logged["exception"]
    assert SECRET in logged["exception"]


async def test_a_store_failure_under_a_tool_is_not_shown_as_the_tool_s_error(
    server_log: io.StringIO,
) -> None:
    """The tool's `update_status` meets the outage: the task fails with the generic message."""
    store = LeakyStore()
    async with raw_connection(make_app(store)) as conn:
        store.broken_updates = 1
        created = await conn.result("tools/call", {"name": "report", "arguments": {}, "task": {}})
        task_id = created["task"]["taskId"]
        error = await conn.error("tasks/result", {"taskId": task_id})
        task = await conn.result("tasks/get", {"taskId": task_id})
    assert error["code"] == INTERNAL_ERROR
    assert task["status"] == "failed"
    assert task["statusMessage"] == error["message"]
    logged = logged_with_id(server_log, the_id(error["message"]))
    assert logged["task_id"] == task_id
    assert SECRET in logged["exception"]


async def test_a_tool_s_own_exception_text_is_still_shown() -> None:
    """A tool author's exception is the tool's business: `Type: message`, as documented."""
    app = TaskApp("plain")

    @app.tool()
    async def fails() -> str:
        """Fail."""
        raise ValueError("no such city")

    async with raw_connection(app) as conn:
        result = await conn.result("tools/call", {"name": "fails", "arguments": {}})
    assert result["isError"] is True
    assert result["content"] == [{"type": "text", "text": "ValueError: no such city"}]
