"""Call the hello server from Python with taskapp's own client.

Run it:  python examples/client.py

It starts `taskapp run examples/hello.py:app` as a subprocess and talks to it over
stdio. `Client` also takes an app (served in memory, for tests) or an http(s) URL.
"""

import anyio

from taskapp import Client


async def main() -> None:
    async with Client(["taskapp", "run", "examples/hello.py:app"]) as client:

        async def progress(done: float, total: float | None, message: str | None) -> None:
            print(f"progress {done:g}/{total:g}")

        created = await client.call_tool_as_task(
            "slow_add", {"a": 1, "b": 2, "steps": 3, "delay": 0.1}, progress_handler=progress
        )
        print("task", created.task.task_id, created.task.status)
        result = await client.get_task_result(created.task.task_id)  # blocks until it ends
        print(result.text)  # 1 + 2 = 3


if __name__ == "__main__":
    anyio.run(main)
