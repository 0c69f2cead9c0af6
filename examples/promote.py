"""Calls that start in the request and become tasks when the server decides (2026-07-28).

Run it:  taskapp run examples/promote.py:app
"""

import math

import anyio
from pydantic import BaseModel

from taskapp import TaskApp, TaskContext

app = TaskApp("promote", version="1.0.0")


class Depth(BaseModel):
    levels: int


@app.task_tool(inline_for=2.0)
async def lookup(query: str, delay: float = 0.0) -> str:
    """Answer in the request when quick; past 2 seconds the client gets a task instead."""
    await anyio.sleep(delay)
    return f"found {query}"


@app.task_tool(mode="required", inline_for=math.inf)
async def research(ctx: TaskContext, topic: str) -> str:
    """Ask how deep to go, then go on as a task."""
    # Before the promotion: each answer comes back in a retried request, which runs
    # this function again from the top, so nothing up to here may do anything twice.
    depth = await ctx.elicit(f"How many levels deep should I research {topic}?", Depth)
    levels = depth.data.levels if depth.data else 1
    await ctx.continue_as_task()
    # From here on: one run, as a task; questions go through the task's inputRequests.
    for level in range(levels):
        await ctx.report_progress(level + 1, total=levels)
        await anyio.sleep(0.1)
    return f"{topic}: {levels} levels researched"
