"""A small app for robustness tests: tools that block on a gate and report when they stop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio

from taskapp import MemoryStore, TaskApp, TaskContext


@dataclass
class Probe:
    """What the tools of `make_app` report to a test. Make it inside the test's event loop."""

    gate: anyio.Event = field(default_factory=anyio.Event)  # set it to let blocked tools return
    started: anyio.Event = field(default_factory=anyio.Event)
    stopped: anyio.Event = field(default_factory=anyio.Event)  # set in a `finally`
    started_count: int = 0
    stopped_count: int = 0
    all_started: anyio.Event = field(default_factory=anyio.Event)
    expected: int = 1  # `all_started` is set once this many tools have started


def make_app(
    probe: Probe, *, store: MemoryStore | None = None, poll_interval_ms: int = 500, **kwargs: Any
) -> TaskApp:
    """An app whose tools block on `probe.gate` and count their starts and stops."""
    app = TaskApp("robust", store=store, poll_interval_ms=poll_interval_ms, **kwargs)

    async def wait_gate() -> None:
        probe.started_count += 1
        probe.started.set()
        if probe.started_count >= probe.expected:
            probe.all_started.set()
        try:
            await probe.gate.wait()
        finally:
            probe.stopped_count += 1
            probe.stopped.set()

    @app.task_tool(mode="optional")
    async def block(value: int = 0) -> str:
        """Wait for the gate, then return the value doubled."""
        await wait_gate()
        return f"value={value * 2}"

    @app.tool()
    async def block_inline() -> str:
        """Wait for the gate (never a task)."""
        await wait_gate()
        return "released"

    @app.tool()
    async def talk(ctx: TaskContext, text: str) -> str:
        """Log the text at warning level, then return it."""
        await ctx.log(text, level="warning", logger="talk")
        return text

    @app.task_tool(mode="optional")
    async def talk_task(ctx: TaskContext, text: str) -> str:
        """Log the text at warning level as a task, then return it."""
        await ctx.log(text, level="warning", logger="talk")
        return text

    return app
