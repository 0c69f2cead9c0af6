"""A FastMCP 4 server with the tasks extension (fastmcp-tasks): the peer taskapp's own
client is tested against (tests/test_client_fastmcp4.py).

It runs under the FastMCP 4 side venv (tests/fastmcp4/requirements.lock), not the test
venv: `python tests/fastmcp4/server.py` serves stdio, `... http PORT` Streamable HTTP.

Tools:
- `add` (inline only): a plain tool.
- `count` (task=True, mode required): counts to `n`, reporting progress with a message
  at each step (FastMCP shows it as the task's statusMessage), `delay` seconds apart.
- `approve` (task=True, optional): asks for approval with the guard pattern (it returns an
  InputRequiredResult; run as a task that is `input_required` until tasks/update).
- `ask_name` (no task): the same guard pattern inline, i.e. an MRTR round.
- `sleepy` (task=True, required): sleeps, for cancel.
- `boom` (task=True, required): raises, to see how a tool's exception ends a task.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import anyio
import mcp_types
from fastmcp import Context, FastMCP
from fastmcp.utilities.tasks import TaskConfig
from fastmcp_tasks import TasksExtension

mcp = FastMCP("fastmcp4-peer", instructions="A FastMCP 4 server with background tasks.")
mcp.add_extension(TasksExtension(url="memory://"))

FAST_POLL = TaskConfig(mode="required", poll_interval=timedelta(milliseconds=200))


def _ask(key: str, message: str, properties: dict[str, Any]) -> mcp_types.InputRequiredResult:
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    request = mcp_types.ElicitRequest(
        params=mcp_types.ElicitRequestFormParams(message=message, requested_schema=schema)
    )
    return mcp_types.InputRequiredResult(input_requests={key: request})


def _answer(ctx: Context, key: str) -> dict[str, Any] | None:
    """The accepted content of the answer to `key`, {} for a refusal, None if unasked."""
    responses = ctx.input_responses or {}
    if key not in responses:
        return None
    answer = responses[key]
    if isinstance(answer, mcp_types.ElicitResult) and answer.action == "accept":
        return dict(answer.content or {})
    return {}


@mcp.tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@mcp.tool(task=FAST_POLL)
async def count(ctx: Context, n: int = 3, delay: float = 0.6) -> str:
    """Count to n, one step every `delay` seconds, with progress."""
    for i in range(1, n + 1):
        await ctx.report_progress(i, n, f"counted {i} of {n}")
        await anyio.sleep(delay)
    return f"counted to {n}"


@mcp.tool(task=TaskConfig(mode="optional", poll_interval=timedelta(milliseconds=200)))
async def approve(ctx: Context, service: str) -> Any:
    """Ask whether to deploy `service` (guard pattern: a question, then the answer)."""
    answer = _answer(ctx, "approval")
    if answer is None:
        props = {"approve": {"type": "boolean", "description": "Deploy?"}}
        return _ask("approval", f"Deploy {service}?", props)
    return f"deployed {service}" if answer.get("approve") else f"{service} not deployed"


@mcp.tool
async def ask_name(ctx: Context) -> Any:
    """Ask the user's name inline (an InputRequiredResult round) and greet them."""
    answer = _answer(ctx, "name")
    if answer is None:
        return _ask("name", "What is your name?", {"name": {"type": "string"}})
    return f"Hello, {answer.get('name', 'nobody')}!"


@mcp.tool(task=FAST_POLL)
async def sleepy(seconds: float = 30) -> str:
    """Sleep for `seconds` (to be cancelled)."""
    await anyio.sleep(seconds)
    return "slept"


@mcp.tool(task=FAST_POLL)
async def boom(message: str = "kaboom") -> str:
    """Raise ValueError(message)."""
    raise ValueError(message)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "http":
        mcp.run("http", host="127.0.0.1", port=int(sys.argv[2]), show_banner=False)
    else:
        mcp.run("stdio", show_banner=False)
