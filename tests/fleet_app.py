"""The app of the multi-process tests (tests/test_fleet.py): instances and workers on Redis.

Serve it with `taskapp run tests/fleet_app.py:app --transport http --store redis://...`
(add `--executor queue` to hand tasks to workers) and run workers with
`taskapp worker tests/fleet_app.py:app --store redis://...`. `Authorization: Bearer
tok-a` is alice, `tok-b` is bob. Leases are short (1 s) so that a killed process's
tasks are found quickly. Every result names the process that ran the tool.
"""

from __future__ import annotations

import os

import anyio
from pydantic import BaseModel, Field

from taskapp import TaskApp, TaskContext
from taskapp.auth import StaticTokenVerifier

app = TaskApp(
    "fleet",
    version="1.0.0",
    auth=StaticTokenVerifier({"tok-a": "alice", "tok-b": "bob"}),
    lease_s=1.0,
)


class Answer(BaseModel):
    text: str = Field(description="Your answer")


@app.task_tool(mode="optional")
async def slow(ctx: TaskContext, seconds: float, marker: str = "") -> str:
    """Say in the status which process runs it, then sleep. With a `marker` path, write
    `<marker>.started` on start and `<marker>.cancelled` when the sleep is cancelled."""
    pid = str(os.getpid())
    if marker:
        await anyio.Path(f"{marker}.started").write_text(pid)
    await ctx.update_status(f"sleeping {seconds:g}s in process {pid}")
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        if marker:
            with anyio.CancelScope(shield=True):  # the scope is cancelled: shield the write
                await anyio.Path(f"{marker}.cancelled").write_text(pid)
        raise
    return f"slept {seconds:g}s in process {os.getpid()}"


@app.task_tool(mode="required")
async def ask(ctx: TaskContext, question: str) -> str:
    """Ask the requestor a question (elicitation) and say what came back."""
    answer = await ctx.elicit(question, Answer)
    text = answer.data.text if answer.data is not None else "-"
    return f"{answer.action}: {text} (asked from process {os.getpid()})"


@app.task_tool(mode="required", on_interrupt="rerun")
async def resumable(ctx: TaskContext, marker: str) -> str:
    """Count runs in the `marker` file; the first run sleeps long, a re-run returns at once."""
    path = anyio.Path(marker)
    runs = int(await path.read_text()) + 1 if await path.exists() else 1
    await path.write_text(str(runs))
    await ctx.update_status(f"run {runs} started in process {os.getpid()}")
    if runs == 1:
        await anyio.sleep(60)
    return f"finished on run {runs} in process {os.getpid()}"


@app.task_tool(mode="optional")
async def quick(n: int) -> str:
    """Return at once."""
    return f"{n} in process {os.getpid()}"
