import sys
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    params = StdioServerParameters(
        command=sys.executable, args=[str(Path(__file__).with_name("sdk_server.py"))]
    )
    async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        t = await s.experimental.call_tool_as_task("slow", {"s": 2}, ttl=500)
        await anyio.sleep(1)
        try:
            print("get after ttl ->", await s.experimental.get_task(t.task.taskId))
        except Exception as e:
            print("get after ttl ->", type(e).__name__, e)
        try:
            print("list after ttl ->", await s.experimental.list_tasks())
        except Exception as e:
            print("list after ttl ->", type(e).__name__, e)
        await anyio.sleep(2)
        try:
            with anyio.fail_after(5):
                await s.send_ping()
                print("ping ok")
        except BaseException as e:
            print("after expiry ->", type(e).__name__, e)


anyio.run(main)
