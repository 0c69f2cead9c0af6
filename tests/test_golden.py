"""Golden JSON-RPC transcripts of examples/hello.py's app, checked against the 2025-11-25 schema.

Each transcript is every message in order: `{"client": ...}` sent, `{"server": ...}` received.
Task ids become "<task-id>" and timestamps "<timestamp>" (after checking they are RFC 3339 UTC).
Regenerate with `UPDATE_GOLDEN=1 pytest tests/test_golden.py`, then read the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from examples.hello import app

from .protocol_app import RFC3339_UTC, TERMINAL, schema_errors
from .raw import RawConnection, raw_connection

pytestmark = pytest.mark.anyio

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
CLIENT_INFO = {"name": "golden-client", "version": "1.0"}

# What each message must be, by the schema's definitions.
CLIENT_DEFS = {
    "initialize": "InitializeRequest",
    "notifications/initialized": "InitializedNotification",
    "ping": "PingRequest",
    "tools/list": "ListToolsRequest",
    "tools/call": "CallToolRequest",
    "tasks/get": "GetTaskRequest",
    "tasks/result": "GetTaskPayloadRequest",
}
NOTIFICATION_DEFS = {
    "notifications/tasks/status": "TaskStatusNotification",
    "notifications/progress": "ProgressNotification",
}
RESULT_DEFS = {
    "initialize": ("InitializeResult",),
    "ping": ("EmptyResult",),
    "tools/list": ("ListToolsResult",),
    "tools/call": ("CallToolResult",),
    "tools/call+task": ("CreateTaskResult",),
    "tasks/get": ("GetTaskResult",),
    "tasks/result": ("GetTaskPayloadResult", "CallToolResult"),  # a tools/call task
}


class Recorder:
    """Sends requests one at a time and keeps the transcript in the order things happened."""

    def __init__(self, conn: RawConnection) -> None:
        self.conn = conn
        self.transcript: list[dict[str, Any]] = []
        self._seen = 0
        self._next_id = 1
        self._kinds: dict[Any, str] = {}

    def _collect(self) -> None:
        for message in self.conn.received[self._seen :]:
            self.transcript.append({"server": message})
        self._seen = len(self.conn.received)

    async def _send(self, message: dict[str, Any]) -> None:
        self._collect()  # whatever arrived so far came before this message
        self.transcript.append({"client": message})
        await self.conn.send(message)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = self._next_id
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._kinds[request_id] = method + ("+task" if params and "task" in params else "")
        await self._send(message)
        response = await self.conn.response(request_id)
        self._collect()
        return response

    async def notify(self, method: str) -> None:
        await self._send({"jsonrpc": "2.0", "method": method})

    async def wait_for_terminal_status(self) -> None:
        def ended() -> bool:
            return any(
                n["status"] in TERMINAL for n in self.conn.notes("notifications/tasks/status")
            )

        await self.conn.wait_for(ended)
        self._collect()

    def check_schema(self) -> None:
        """Every message, client's and server's, against its 2025-11-25 schema definition."""
        problems: list[str] = []
        for entry in self.transcript:
            (side, message), *_ = entry.items()
            for def_name, instance in self._checks(side, message):
                problems += [f"{def_name}: {e}" for e in schema_errors(def_name, instance)]
        assert problems == [], problems

    def _checks(self, side: str, message: dict[str, Any]) -> list[tuple[str, Any]]:
        method = message.get("method")
        if side == "client":
            return [(CLIENT_DEFS[str(method)], message), ("JSONRPCMessage", message)]
        if method is not None:
            return [
                (NOTIFICATION_DEFS[str(method)], message),
                ("ServerNotification", message),
                ("JSONRPCNotification", message),
            ]
        assert "result" in message, message
        # The envelope's `result` is only `Result`: the result is checked on its own too.
        kind = self._kinds[message["id"]]
        return [("JSONRPCResultResponse", message)] + [
            (def_name, message["result"]) for def_name in RESULT_DEFS[kind]
        ]


def normalise(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    task_ids: set[str] = set()

    def find_ids(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("taskId"), str):
                task_ids.add(value["taskId"])
            for item in value.values():
                find_ids(item)
        elif isinstance(value, list):
            for item in value:
                find_ids(item)

    def replace(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: replace(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [replace(v) for v in value]
        if key in ("createdAt", "lastUpdatedAt"):
            assert isinstance(value, str)
            assert RFC3339_UTC.match(value), value
            return "<timestamp>"
        if isinstance(value, str) and value in task_ids:
            return "<task-id>"
        return value

    find_ids(transcript)
    result: list[dict[str, Any]] = replace(transcript)
    return result


def compare(name: str, recorder: Recorder) -> None:
    recorder.check_schema()
    actual = normalise(recorder.transcript)
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    expected = json.loads(path.read_text())
    assert actual == expected, f"{path} differs; regenerate with UPDATE_GOLDEN=1 and review"


async def _handshake(recorder: Recorder) -> None:
    await recorder.request(
        "initialize",
        {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT_INFO},
    )
    await recorder.notify("notifications/initialized")


async def test_golden_initialize() -> None:
    with anyio.fail_after(10):
        async with raw_connection(app, initialize=None) as conn:
            recorder = Recorder(conn)
            await _handshake(recorder)
            await recorder.request("ping")  # a barrier: nothing unasked-for came before it
    compare("initialize", recorder)


async def test_golden_tools_list() -> None:
    with anyio.fail_after(10):
        async with raw_connection(app, initialize=None) as conn:
            recorder = Recorder(conn)
            await _handshake(recorder)
            await recorder.request("tools/list")
            await recorder.request("ping")
    compare("tools_list", recorder)


async def test_golden_task_round_trip() -> None:
    """tools/call with a task and a progressToken, then tasks/get and tasks/result.

    The order is deterministic: the CreateTaskResult is queued before the task starts,
    every notification of the task goes through the same queue in the order it happened,
    and the next request is sent only after the terminal status notification.
    """
    with anyio.fail_after(10):
        async with raw_connection(app, initialize=None) as conn:
            recorder = Recorder(conn)
            await _handshake(recorder)
            created = await recorder.request(
                "tools/call",
                {
                    "name": "slow_add",
                    "arguments": {"a": 1, "b": 2, "steps": 1, "delay": 0},
                    "task": {"ttl": 60000},
                    "_meta": {"progressToken": "progress-1"},
                },
            )
            task_id = created["result"]["task"]["taskId"]
            await recorder.wait_for_terminal_status()
            await recorder.request("tasks/get", {"taskId": task_id})
            await recorder.request("tasks/result", {"taskId": task_id})
            await recorder.request("ping")  # a barrier: no progress or status after the end
    compare("task_round_trip", recorder)
