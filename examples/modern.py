"""Releases, for 2026-07-28 hosts such as Claude Code: a lookup that answers at once, a
build that runs as a task and shows its progress, a log search that becomes a task only
when it runs long, and a deployment that asks first and then continues as a task.

Run it:  taskapp run examples/modern.py:app
"""

import math

import anyio
from pydantic import BaseModel, Field

from taskapp import TaskApp, TaskContext

app = TaskApp("releases", version="1.0.0")

LIVE = {"web": "2.4.1", "api": "7.0.3"}


@app.tool()
async def live_version(service: str) -> str:
    """The version of a service that is live now."""
    return LIVE.get(service, "not deployed")


@app.task_tool(mode="required")
async def build(ctx: TaskContext, service: str, steps: int = 4) -> str:
    """Build a release of a service. Slow, so it always runs as a task."""
    for step in range(1, steps + 1):
        # In 2026 this is the task's statusMessage: what the host shows while it runs.
        await ctx.report_progress(step, total=steps, message=f"{service}: stage {step}/{steps}")
        await anyio.sleep(0.2)
    return f"{service} built in {steps} stages"


# --8<-- [start:search]
@app.task_tool(mode="optional", inline_for=1.0)
async def search_logs(ctx: TaskContext, query: str, days: int = 1) -> str:
    """Search the last days of logs. A day takes 0.3 s: a short search answers in the
    call; a long one becomes a task after a second and goes on as that task."""
    for day in range(days):
        await ctx.report_progress(day + 1, total=days, message=f"day {day + 1} of {days}")
        await anyio.sleep(0.3)
    return f"{days * 3} matches for {query!r} in {days} day(s)"


# --8<-- [end:search]


class Confirm(BaseModel):
    confirm: bool = Field(description="Deploy now?")


# --8<-- [start:deploy]
@app.task_tool(mode="required", inline_for=math.inf)
async def deploy(ctx: TaskContext, service: str, version: str) -> str:
    """Deploy a version of a service once the user confirms it."""
    # Before the promotion this code runs again on every round of questions:
    # read and ask, change nothing.
    answer = await ctx.elicit(f"Deploy {service} {version} to production?", Confirm)
    if answer.action != "accept" or answer.data is None or not answer.data.confirm:
        return f"{service} {version}: not deployed"
    await ctx.continue_as_task()  # the client gets a task now; what follows runs once
    for stage in ("draining", "switching", "warming up"):
        await ctx.update_status(stage)
        await anyio.sleep(0.2)
    LIVE[service] = version
    return f"{service} {version} deployed"


# --8<-- [end:deploy]
