"""The app of the reliable-tool process tests (tests/test_reliable_process.py).

`three_steps` appends one line per step to a log file, each naming the process that ran
it; the first run of step three waits there (to be killed). Serve it with `taskapp run
tests/reliable_app.py:app --store sqlite:///...`, or over HTTP with `--executor queue`
and `taskapp worker` on Redis (`Authorization: Bearer tok-a` is alice). Leases are short
(1 s) so that a killed process's task is found quickly.
"""

from __future__ import annotations

import os

import anyio

from taskapp import TaskApp, TaskContext
from taskapp.auth import StaticTokenVerifier

app = TaskApp(
    "reliable", version="1.0.0", auth=StaticTokenVerifier({"tok-a": "alice"}), lease_s=1.0
)


def append(path: str, step: str) -> str:
    """Append `step@pid` to the log (a sync step: it runs in a worker thread)."""
    line = f"{step}@{os.getpid()}"
    with open(path, "a") as log:
        log.write(line + "\n")
    return line


async def third(path: str) -> str:
    """Append, and on the first run of this step wait to be killed."""
    line = append(path, "three")
    runs = [seen for seen in (await anyio.Path(path).read_text()).split() if seen[:6] == "three@"]
    if len(runs) == 1:
        await anyio.sleep(60)
    return line


@app.task_tool(mode="required", on_interrupt="rerun")
async def three_steps(ctx: TaskContext, log: str) -> str:
    """Three steps, each appending to `log`; returns what each step returned."""
    one = await ctx.step("one", append, log, "one")
    two = await ctx.step("two", append, log, "two")
    three = await ctx.step("three", third, log)
    return f"{one} {two} {three}"
