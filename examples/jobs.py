"""A long-running job: progress all the way, and a cancel that cleans up after itself.

Run it:  taskapp call examples/jobs.py:app crunch items=10

Press Ctrl-C while it runs: `taskapp call` cancels the task on the server, the
function stops at its next `await`, and its `finally` block removes the scratch files.
"""

import shutil
import tempfile
from pathlib import Path

import anyio

from taskapp import TaskApp, TaskContext

app = TaskApp("jobs", version="1.0.0")

# The scratch directories of the jobs running in this process right now.
scratch_dirs: set[Path] = set()


@app.task_tool(mode="required")
async def crunch(ctx: TaskContext, items: int = 10, delay: float = 0.3) -> str:
    """Crunch a number of items, one at a time, reporting progress as it goes.

    Args:
        items: How many items to crunch.
        delay: Seconds each item takes.
    """
    scratch = Path(tempfile.mkdtemp(prefix="taskapp-crunch-"))
    scratch_dirs.add(scratch)
    try:
        checksum = 0
        for i in range(1, items + 1):
            await anyio.sleep(delay)  # the work itself; a cancel lands at an await like this
            checksum = (checksum * 31 + i) % 1_000_003
            (scratch / f"{i}.part").write_text(str(checksum))
            await ctx.update_status(f"item {i}/{items}")
            await ctx.report_progress(i, total=items)
        await ctx.log(f"crunched {items} items", level="info")
        return f"crunched {items} items, checksum {checksum}"
    finally:
        # Runs however the job ends: done, failed, or cancelled (tasks/cancel, Ctrl-C in
        # `taskapp call`, a TTL that ran out). Keep it synchronous, or put any await in
        # `with anyio.CancelScope(shield=True):`, since a cancelled job cancels every await.
        shutil.rmtree(scratch, ignore_errors=True)
        scratch_dirs.discard(scratch)


@app.tool()
async def running_jobs() -> list[str]:
    """The scratch directories of the jobs running in this process."""
    return sorted(path.name for path in scratch_dirs)
