import sys
from pathlib import Path

import anyio
import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(mode: str) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=[str(Path(__file__).with_name("sdk_server.py"))]
    )
    async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        if mode == "cancel":
            t = await s.experimental.call_tool_as_task("slow", {"s": 2})
            await anyio.sleep(0.3)
            print("cancel ->", await s.experimental.cancel_task(t.task.taskId))
        else:
            t = await s.experimental.call_tool_as_task("slow", {"s": 3}, ttl=500)
        await anyio.sleep(3.5)
        try:
            with anyio.fail_after(5):
                await s.send_ping()
                print("ping ok after", mode)
                t2 = await s.experimental.call_tool_as_task("slow", {"s": 0.1})
                print(
                    "new task",
                    (
                        await s.experimental.get_task_result(t2.task.taskId, types.CallToolResult)
                    ).content,
                )
        except BaseException as e:
            print("after", mode, "->", type(e).__name__, e)


anyio.run(main, sys.argv[1])
