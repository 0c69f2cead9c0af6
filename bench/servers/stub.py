"""A do-nothing MCP stdio server that answers tasks instantly: the client-bound limit.

No framework, no event loop: one blocking loop reads whatever stdin has, answers
every whole line in it, and writes all the answers in one go. A task-augmented
`tools/call` gets a CreateTaskResult, `tasks/get` says "completed", and
`tasks/result` returns a fixed CallToolResult; nothing is stored, nothing runs.

With --status it also sends a `notifications/tasks/status` ("completed") after each
CreateTaskResult, as taskapp does when a task ends: the client's cost of that message.

    python bench/servers/stub.py [--status]
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from typing import Any

PROTOCOL = "2025-11-25"
RELATED = "io.modelcontextprotocol/related-task"
NOW = "2026-01-01T00:00:00Z"

TOOLS = {
    "tools": [
        {
            "name": "noop",
            "description": 'Return "ok" at once.',
            "inputSchema": {"type": "object", "properties": {}},
            "execution": {"taskSupport": "optional"},
        }
    ]
}


def task(task_id: str, status: str) -> dict[str, Any]:
    return {
        "taskId": task_id,
        "status": status,
        "createdAt": NOW,
        "lastUpdatedAt": NOW,
        "ttl": 60000,
        "pollInterval": 500,
    }


def answer(method: str, params: dict[str, Any]) -> dict[str, Any]:
    if method == "initialize":
        return {
            "protocolVersion": PROTOCOL,
            "capabilities": {
                "tools": {},
                "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
            },
            "serverInfo": {"name": "stub", "version": "0"},
        }
    if method == "tools/list":
        return TOOLS
    if method == "tools/call":
        if "task" in params:
            return {"task": task(secrets.token_urlsafe(12), "working")}
        return {"content": [{"type": "text", "text": "ok"}], "isError": False}
    if method == "tasks/get":
        return task(params["taskId"], "completed")
    if method == "tasks/result":
        return {
            "content": [{"type": "text", "text": "ok"}],
            "isError": False,
            "_meta": {RELATED: {"taskId": params["taskId"]}},
        }
    if method == "tasks/list":
        return {"tasks": []}
    return {}


def main() -> None:
    status = "--status" in sys.argv[1:]
    pending = b""
    while chunk := os.read(0, 1 << 20):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        out = []
        for line in lines:
            if not line.strip():
                continue
            message = json.loads(line)
            if "id" not in message or "method" not in message:
                continue  # a notification (or a response): nothing to say
            result = answer(message["method"], message.get("params") or {})
            out.append(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}))
            if status and "task" in result:
                done = {**result["task"], "status": "completed"}
                note = {"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": done}
                out.append(json.dumps(note))
        if out:
            data = ("\n".join(out) + "\n").encode()
            while data:
                data = data[os.write(1, data) :]


if __name__ == "__main__":
    main()
