import sys
import warnings
from pathlib import Path

import anyio

warnings.simplefilter("ignore")
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    params = StdioServerParameters(
        command=sys.executable, args=[str(Path(__file__).with_name("sdk_server.py"))]
    )
    async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        t = await s.experimental.call_tool_as_task("slow", {"s": 0.2})
        print(
            "list ->",
            [x.taskId == t.task.taskId for x in (await s.experimental.list_tasks()).tasks],
        )
        await anyio.sleep(0.5)


anyio.run(main)
