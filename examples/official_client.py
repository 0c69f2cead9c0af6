"""Call the hello server with the official MCP Python SDK's client (mcp==1.30.0).

Run it:  python examples/official_client.py

The SDK's task calls live under `session.experimental` (and warn that they are
deprecated: tasks are moving to an MCP extension); the wire format is MCP 2025-11-25.
"""

import warnings

import anyio
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

SERVER = StdioServerParameters(command="taskapp", args=["run", "examples/hello.py:app"])


async def main() -> None:
    warnings.filterwarnings("ignore", "The experimental tasks API", DeprecationWarning)
    async with stdio_client(SERVER) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tasks = session.experimental
        created = await tasks.call_tool_as_task("slow_add", {"a": 1, "b": 2, "delay": 0.1})
        async for task in tasks.poll_task(created.task.taskId):  # tasks/get every pollInterval
            print(task.status, task.statusMessage)
        result = await tasks.get_task_result(created.task.taskId, types.CallToolResult)
        text = result.content[0]
        assert isinstance(text, types.TextContent)
        print(text.text)  # 1 + 2 = 3


if __name__ == "__main__":
    anyio.run(main)
