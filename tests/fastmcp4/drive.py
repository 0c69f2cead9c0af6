"""FastMCP 4's own `Client` (with fastmcp-tasks) driving a taskapp server, step by step.

    drive.py [--steps JSON] [--answer JSON] [--no-tasks] [--mode MODE]
             (--url URL | -- COMMAND...)

Runs under a Python with fastmcp==4.1.4 and fastmcp-tasks==4.1.4 (tests/fastmcp4/
requirements.lock), never under the test virtualenv, and imports nothing from taskapp.
It prints one JSON object per line on stdout (`{"event": ..., ...}`);
tests/test_interop_fastmcp4.py reads and checks them.

Importing `fastmcp_tasks` is what turns on FastMCP's client task support (it registers
the tasks extension on every `Client`); `--no-tasks` leaves it out, as a plain FastMCP
program would. `--mode` is the `Client(mode=...)` (default "auto": `server/discover`).

`--steps` is a JSON list, each step one of:

* `{"do": "list"}`: `client.list_tools()` (event `tools`, the names).
* `{"do": "call", "tool": T, "args": {...}}`: `client.call_tool`, as a user writes it
  (a tool error raises `ToolError`; a task is driven to its end under the hood).
* `{"do": "task", "tool": T, "args": {...}, "wait": STATE, "cancel": BOOL}`:
  fastmcp-tasks' explicit handle, `call_tool_task`; then `ToolTask.wait(state=STATE)`
  when given, `ToolTask.cancel()` when asked, and `ToolTask.result()` (which answers
  questions through the elicitation handler and `tasks/update`).
* `{"do": "watch", "tool": T, "args": {...}}`: `call_tool_task`, then `ToolTask.status()`
  every 50 ms until the task ends (what a progress display would read), then `result()`.

Events: connected, tools, request/response (HTTP only: what went over the wire), elicited,
progress, result | tool_error | call_error, created, reached, cancel_ack, polled, final,
done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import httpx2
import mcp_types
from fastmcp import Client
from fastmcp.client.elicitation import ElicitResult
from fastmcp.client.transports import ClientTransport, StdioTransport, StreamableHttpTransport
from fastmcp.exceptions import ToolError
from mcp.shared.exceptions import MCPError

TIMEOUT = 15.0  # seconds for any one wait on a task
POLL = 0.05  # seconds between two status reads of a watched task


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout, flushed at once: the test may be waiting on it."""
    sys.stdout.write(json.dumps({"event": event, **fields}, default=str) + "\n")
    sys.stdout.flush()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a Streamable HTTP endpoint (else: the command after --)")
    parser.add_argument("--steps", default="[]", help="the steps, a JSON list")
    parser.add_argument("--answer", help="the elicitation answer (JSON object); else decline")
    parser.add_argument("--no-tasks", action="store_true", help="do not import fastmcp_tasks")
    parser.add_argument("--mode", default="auto", help="Client(mode=...): auto, legacy, ...")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.command = argv[cut + 1 :]
    if not args.url and not args.command:
        parser.error("give --url URL, or -- COMMAND ARGS... to run a server over stdio")
    return args


def recording_client(**kwargs: Any) -> httpx2.AsyncClient:
    """The HTTP client FastMCP uses, with hooks that report each POST and its status."""

    async def on_request(request: httpx2.Request) -> None:
        body = json.loads(request.content) if request.content else {}
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("mcp")}
        emit("request", method=body.get("method"), headers=headers)

    async def on_response(response: httpx2.Response) -> None:
        emit("response", status=response.status_code)

    hooks = {"request": [on_request], "response": [on_response]}
    return httpx2.AsyncClient(event_hooks=hooks, **kwargs)


def transport_of(args: argparse.Namespace) -> ClientTransport:
    if args.url:
        return StreamableHttpTransport(args.url, httpx_client_factory=recording_client)
    return StdioTransport(args.command[0], args.command[1:], keep_alive=False)


def text_of(content: list[Any]) -> str:
    return "".join(block.text for block in content if isinstance(block, mcp_types.TextContent))


def result_fields(result: Any) -> dict[str, Any]:
    """What a FastMCP `CallToolResult` says: text, structured content, parsed data, error."""
    data = result.data
    if hasattr(data, "__dict__"):  # FastMCP parses structured output into an object
        data = dict(vars(data))
    return {
        "text": text_of(result.content),
        "structured": result.structured_content,
        "data": data,
        "isError": result.is_error,
    }


def task_fields(task: Any) -> dict[str, Any]:
    """A fastmcp-tasks task model (`CreateTaskResult` / `tasks/get`), as on the wire."""
    fields: dict[str, Any] = task.model_dump(by_alias=True, mode="json", exclude_none=True)
    fields.pop("_meta", None)
    return fields


class Answerer:
    """The FastMCP elicitation handler: reports each question, answers `--answer`."""

    def __init__(self, answer: dict[str, Any] | None) -> None:
        self.answer = answer

    async def __call__(
        self, message: str, response_type: Any, params: Any, context: Any
    ) -> ElicitResult[dict[str, Any]]:
        schema = getattr(params, "requested_schema", None) or {}
        emit(
            "elicited",
            message=message,
            requestId=str(context.request_id),
            properties=sorted(schema.get("properties", {})),
        )
        if self.answer is None:
            return ElicitResult(action="decline")
        return ElicitResult(action="accept", content=self.answer)


async def progress(value: float, total: float | None, message: str | None) -> None:
    emit("progress", progress=value, total=total, message=message)


async def call(client: Client[Any], step: dict[str, Any]) -> None:
    tool = step["tool"]
    try:
        result = await client.call_tool(tool, step.get("args", {}), timeout=TIMEOUT)
    except ToolError as exc:
        emit("tool_error", tool=tool, message=str(exc))
    except MCPError as exc:
        emit("call_error", tool=tool, code=exc.code, message=exc.message, data=exc.data)
    else:
        emit("result", tool=tool, **result_fields(result))


async def task(client: Client[Any], step: dict[str, Any]) -> None:
    from fastmcp_tasks import call_tool_task

    tool = step["tool"]
    handle = await call_tool_task(client, tool, step.get("args", {}))
    emit("created", tool=tool, task=task_fields(handle.create_result))
    if step.get("watch"):
        await watch(handle)
    if step.get("wait"):
        reached = await handle.wait(state=step["wait"], timeout=TIMEOUT)
        emit("reached", tool=tool, task=task_fields(reached))
    if step.get("cancel"):
        await handle.cancel()
        emit("cancel_ack", tool=tool)
    try:
        result = await asyncio.wait_for(handle.result(), TIMEOUT)
    except ToolError as exc:
        emit("tool_error", tool=tool, message=str(exc))
    else:
        emit("result", tool=tool, **result_fields(result))
    emit("final", tool=tool, task=task_fields(await handle.status()))


async def watch(handle: Any) -> None:
    """Read the task's status every POLL seconds until it ends: each read is reported."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        current = await handle.status()
        emit("polled", task=task_fields(current))
        if current.status in ("completed", "failed", "cancelled"):
            return
        await asyncio.sleep(POLL)
    raise TimeoutError(f"task {handle.task_id} did not end within {TIMEOUT}s")


async def run(args: argparse.Namespace) -> None:
    if not args.no_tasks:
        import fastmcp_tasks  # noqa: F401  (registers the tasks client extension)
    answer = json.loads(args.answer) if args.answer else None
    client = Client(
        transport_of(args),
        elicitation_handler=Answerer(answer),
        progress_handler=progress,
        mode=args.mode,
    )
    async with client:
        info = client.server_info
        capabilities = client.server_capabilities
        emit(
            "connected",
            protocolVersion=client.protocol_version,
            serverInfo=None if info is None else {"name": info.name, "version": info.version},
            extensions=None if capabilities is None else capabilities.extensions,
        )
        for step in json.loads(args.steps):
            if step["do"] == "list":
                emit("tools", names=[tool.name for tool in await client.list_tools()])
            elif step["do"] == "call":
                await call(client, step)
            else:
                await task(client, {**step, "watch": step["do"] == "watch"})
    emit("done")


if __name__ == "__main__":
    asyncio.run(run(parse_arguments()))
