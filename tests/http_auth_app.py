"""The app that HTTP auth interop tests serve: two principals with static tokens.

Serve it with `taskapp run tests/http_auth_app.py:app --transport http` from the
repository root; `Authorization: Bearer tok-a` is alice, `tok-b` is bob.
"""

import anyio

from taskapp import TaskApp, TaskContext
from taskapp.auth import StaticTokenVerifier

app = TaskApp(
    "fixture-auth",
    version="1.0.0",
    auth=StaticTokenVerifier({"tok-a": "alice", "tok-b": "bob"}),
)


@app.task_tool(mode="optional")
async def sleeper(ctx: TaskContext, seconds: float) -> str:
    """Sleep for `seconds`, saying so in the status first."""
    await ctx.update_status(f"sleeping {seconds:g}s")
    await anyio.sleep(seconds)
    return f"slept {seconds:g}s"
