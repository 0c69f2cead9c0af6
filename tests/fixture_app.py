"""The app that interop tests serve over stdio: the issue's API plus tools that fail or wait.

Serve it with `taskapp run tests/fixture_app.py:app` from the repository root.
"""

import anyio
from pydantic import BaseModel, Field

from taskapp import ProtocolError, TaskApp, TaskContext

app = TaskApp("fixture", version="1.0.0")


# -- the API, exactly as written ---------------------------------------


@app.task_tool(mode="required")
async def slow_add(ctx: TaskContext, a: float, b: float, steps: int = 5, delay: float = 0.4) -> str:
    """Add a and b slowly, reporting status and progress at every step."""
    for i in range(steps):
        await ctx.update_status(f"step {i + 1}/{steps}")
        await ctx.report_progress(i + 1, total=steps)
        await anyio.sleep(delay)
    return f"{a:g} + {b:g} = {a + b:g}"


@app.tool()
async def echo(text: str) -> str:
    """Echo the text back."""
    return text


# -- what the tests need besides ------------------------------------------------


@app.task_tool(mode="optional")
async def explode(ctx: TaskContext, message: str = "boom") -> str:
    """Say something, then fail with ValueError(message)."""
    await ctx.update_status("about to explode")
    raise ValueError(message)


@app.task_tool(mode="optional")
async def protocol_fail(ctx: TaskContext) -> str:
    """Fail with a custom JSON-RPC error (-32042) that carries data."""
    await ctx.update_status("failing on purpose")
    raise ProtocolError(-32042, "custom", data={"reason": "because", "n": 7})


@app.task_tool(mode="optional")
async def sleeper(ctx: TaskContext, seconds: float) -> str:
    """Sleep for `seconds`, saying so in the status first."""
    await ctx.update_status(f"sleeping {seconds:g}s")
    await anyio.sleep(seconds)
    return f"slept {seconds:g}s"


class Stats(BaseModel):
    """Summary statistics of a list of numbers."""

    count: int = Field(description="How many numbers there were.")
    total: float = Field(description="Their sum.")
    mean: float = Field(description="Their arithmetic mean.")


@app.task_tool(mode="optional")
async def stats(numbers: list[float]) -> Stats:
    """Count, sum and average the numbers (structured output)."""
    total = sum(numbers)
    return Stats(count=len(numbers), total=total, mean=total / len(numbers) if numbers else 0.0)
