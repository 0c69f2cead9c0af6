"""A summarizer that asks the client's model for help (sampling).

Run it:  taskapp run examples/summarizer.py:app
"""

from taskapp import TaskApp, TaskContext

app = TaskApp("summarizer", version="1.0.0")


@app.task_tool(mode="required")
async def summarize(ctx: TaskContext, text: str) -> str:
    """Summarize a text in one line, using the client's model."""
    reply = await ctx.sample(f"Summarize in one line: {text}", max_tokens=60)
    return f"summary: {reply.text}"
