"""A do-nothing MCP 2026-07-28 server on uvicorn: the limit of the HTTP stack.

A bare ASGI app (no framework), served by uvicorn with the settings the other 2026
servers of bench/modern.py get (h11, the asyncio loop, no access log). It reads each
POST's JSON body and answers at once: a task-augmented `tools/call` gets a flat
CreateTaskResult, `tasks/get` says "completed" with the result inlined; nothing is
stored, nothing runs, no header or envelope is checked.

    python bench/servers/stub2026.py --port 8767
"""

from __future__ import annotations

import argparse
import json
import secrets
from typing import Any

NOW = "2026-01-01T00:00:00Z"
RESULT = {"content": [{"type": "text", "text": "ok"}], "isError": False}
_HEADERS = [(b"content-type", b"application/json")]


def task(task_id: str, status: str) -> dict[str, Any]:
    return {
        "taskId": task_id,
        "status": status,
        "createdAt": NOW,
        "lastUpdatedAt": NOW,
        "ttlMs": 60000,
        "pollIntervalMs": 500,
    }


def answer(method: str, params: dict[str, Any]) -> dict[str, Any]:
    if method == "tools/call":
        return {**task(secrets.token_urlsafe(12), "working"), "resultType": "task"}
    if method == "tasks/get":
        return {**task(params["taskId"], "completed"), "result": RESULT}
    return {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 405, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    request = json.loads(body)
    result = answer(request["method"], request.get("params") or {})
    data = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}).encode()
    headers = [*_HEADERS, (b"content-length", b"%d" % len(data))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, lifespan="on", log_config=None,
        access_log=False, log_level="warning", loop="asyncio", http="h11", ws="none",
    )  # fmt: skip


if __name__ == "__main__":
    main()
