"""SDK 1.30 low-level server with a slow task tool (probe)."""

from typing import Any

import anyio
import mcp.types as types
from mcp.server.experimental.task_context import ServerTaskContext
from mcp.server.lowlevel import Server

server: Server[Any, Any] = Server("sdk-probe")
server.experimental.enable_tasks()
SLOW = types.Tool(
    name="slow",
    description="sleep",
    inputSchema={"type": "object", "properties": {"s": {"type": "number"}}},
    execution=types.ToolExecution(taskSupport=types.TASK_OPTIONAL),
)


@server.list_tools()
async def list_tools() -> list[types.Tool]:
    return [SLOW]


@server.call_tool()
async def call_tool(name: str, arguments: dict[str, Any]) -> Any:
    ctx = server.request_context

    async def work(task: ServerTaskContext) -> types.CallToolResult:
        await anyio.sleep(arguments.get("s", 2))
        return types.CallToolResult(content=[types.TextContent(type="text", text="ok")])

    return await ctx.experimental.run_task(work)


async def main() -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (r, w):
        await server.run(r, w, server.create_initialization_options())


anyio.run(main)
