"""Call the hello server from Python with taskapp's own client.

Run it:  python examples/client.py

It starts `taskapp run examples/hello.py:app` as a subprocess and talks to it over
stdio, in the dialect the server speaks (2026-07-28 here; `dialect=` forces one).
`Client` also takes an app (served in memory, for tests) or an http(s) URL.
"""

import anyio

from taskapp import Client
from taskapp.client import Task


async def main() -> None:
    async def status(task: Task) -> None:  # each change of the task's status line
        print(task.status, task.status_message or "")

    server = ["taskapp", "run", "examples/hello.py:app"]
    async with Client(server, status_handler=status) as client:
        started = await client.start_task("slow_add", {"a": 1, "b": 2, "steps": 3, "delay": 0.4})
        assert isinstance(started, Task)  # a task tool: the server made a task
        print("task", started.task_id, started.status)
        result = await client.wait_task(started.task_id)  # follows it to its end
        print(result.text)  # 1 + 2 = 3


if __name__ == "__main__":
    anyio.run(main)
