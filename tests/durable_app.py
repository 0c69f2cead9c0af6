"""An app for the crash-recovery test: a quick task, a long one, and a long one that may re-run.

Its store comes from `taskapp run --store URL` or `TASKAPP_STORE`; leases are short
(1 s) so that a killed server's tasks are found quickly.
"""

from __future__ import annotations

import hashlib
from typing import Any

import anyio

from taskapp import TaskApp, TaskContext

app = TaskApp("durable", lease_s=1.0)


@app.task_tool(mode="optional")
async def quick(size: int) -> dict[str, Any]:
    """Return about `size` characters of varied text at once, and their digest."""
    chunks = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(size // 64 + 1)]
    text = "é漢🙂\n\"'\\".join(chunks)[:size]
    return {"text": text, "sha256": hashlib.sha256(text.encode()).hexdigest()}


@app.task_tool(mode="required")
async def long(seconds: float) -> str:
    """Sleep, then say so. Not safe to run twice: an interrupted run ends failed."""
    await anyio.sleep(seconds)
    return "slept"


@app.task_tool(mode="required", on_interrupt="rerun")
async def resumable(ctx: TaskContext, marker: str) -> str:
    """Count runs in the `marker` file; the first run sleeps long, a re-run returns at once."""
    path = anyio.Path(marker)
    runs = int(await path.read_text()) + 1 if await path.exists() else 1
    await path.write_text(str(runs))
    await ctx.update_status(f"run {runs} started")
    if runs == 1:
        await anyio.sleep(60)
    return f"finished on run {runs}"
