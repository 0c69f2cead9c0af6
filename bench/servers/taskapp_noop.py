"""taskapp's side of the benchmark: one `noop` tool that returns "ok" at once.

stdio:  taskapp run bench/servers/taskapp_noop.py:app --log-level warning
HTTP:   taskapp run bench/servers/taskapp_noop.py:app --transport http --port 8765
"""

from taskapp import TaskApp

app = TaskApp("taskapp-noop")


@app.task_tool(mode="optional")
async def noop() -> str:
    """Return "ok" at once."""
    return "ok"
