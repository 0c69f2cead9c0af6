"""The official MCP Python SDK (mcp==1.30.0) low-level server, tasks enabled, one `noop` tool.

It is written the way the SDK's own task docs and examples do it:
`server.experimental.enable_tasks()` (in-memory task store and message queue,
default tasks/get, tasks/result, tasks/list and tasks/cancel handlers) and a
tools/call handler that hands a task-augmented call to
`ctx.experimental.run_task(work)`.

stdio:  python bench/servers/sdk_lowlevel.py
HTTP:   python bench/servers/sdk_lowlevel.py --http --port 8766   (Streamable HTTP at /mcp)
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import mcp.types as types
from mcp.server.experimental.task_context import ServerTaskContext
from mcp.server.lowlevel import Server

server: Server[Any, Any] = Server("sdk-noop")
server.experimental.enable_tasks()

NOOP = types.Tool(
    name="noop",
    description='Return "ok" at once.',
    inputSchema={"type": "object", "properties": {}},
    execution=types.ToolExecution(taskSupport=types.TASK_OPTIONAL),
)


@server.list_tools()
async def list_tools() -> list[types.Tool]:
    return [NOOP]


@server.call_tool()
async def call_tool(name: str, arguments: dict[str, Any]) -> Any:
    if name != "noop":
        raise ValueError(f"Unknown tool: {name}")
    result = types.CallToolResult(content=[types.TextContent(type="text", text="ok")])
    ctx = server.request_context
    if ctx.experimental.is_task:

        async def work(task: ServerTaskContext) -> types.CallToolResult:
            return result

        return await ctx.experimental.run_task(work)
    return result


async def serve_stdio() -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def serve_http(host: str, port: int) -> None:
    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send

    manager = StreamableHTTPSessionManager(app=server)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    class Endpoint:  # an ASGI app (a plain function would be taken for a request handler)
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await manager.handle_request(scope, receive, send)

    asgi = Starlette(routes=[Route("/mcp", endpoint=Endpoint())], lifespan=lifespan)
    uvicorn.run(asgi, host=host, port=port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", action="store_true", help="Streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    if args.http:
        serve_http(args.host, args.port)
    else:
        anyio.run(serve_stdio)


if __name__ == "__main__":
    main()
