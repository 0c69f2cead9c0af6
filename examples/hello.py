"""Hello, tasks: one ordinary tool and two that run as MCP tasks.

Run it:  taskapp run examples/hello.py:app
"""

import anyio

from taskapp import TaskApp, TaskContext

app = TaskApp("hello", version="1.0.0", instructions="A friendly first taskapp server.")


@app.tool()
async def echo(text: str) -> str:
    """Echo the text back."""
    return text


@app.task_tool(mode="optional")
async def greet(ctx: TaskContext, name: str = "world", delay: float = 0.0) -> str:
    """Greet someone, taking `delay` seconds about it.

    Args:
        name: Who to greet.
        delay: Seconds to wait before answering.
    """
    await ctx.update_status(f"thinking about {name}")
    await anyio.sleep(delay)
    return f"Hello, {name}!"


@app.task_tool(mode="required")
async def slow_add(ctx: TaskContext, a: float, b: float, steps: int = 5, delay: float = 0.4) -> str:
    """Add a and b slowly, reporting status and progress at every step."""
    for i in range(steps):
        await ctx.update_status(f"step {i + 1}/{steps}")
        await ctx.report_progress(i + 1, total=steps)
        await anyio.sleep(delay)
    return f"{a:g} + {b:g} = {a + b:g}"
