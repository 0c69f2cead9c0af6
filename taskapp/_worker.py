"""`taskapp worker`'s life: take queued tasks until a signal, then drain (TaskApp.work)."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator

import anyio

from ._logging import get_logger
from .engine import TaskEngine

log = get_logger("taskapp")


async def work_until_signalled(engine: TaskEngine, concurrency: int, grace_s: float) -> None:
    """Run queued tasks until SIGINT/SIGTERM; then take no more, let the running ones
    finish for up to `grace_s`, and interrupt the rest. A second signal means "now"."""
    async with anyio.create_task_group() as outer:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as taking:
                taking.start_soon(engine.work, concurrency)
                log.info("worker started", runner=engine.runner_id, concurrency=concurrency)
                async for signum in signals:
                    log.info("worker stopping", signal=signal.Signals(signum).name)
                    break
                taking.cancel_scope.cancel()
            outer.start_soon(_second_signal, signals, outer.cancel_scope)
            if not await engine.drain(grace_s):
                log.warning("grace period over: interrupting the tasks still running")
            outer.cancel_scope.cancel()


async def _second_signal(signals: AsyncIterator[int], scope: anyio.CancelScope) -> None:
    async for signum in signals:
        log.warning("second signal: interrupting now", signal=signal.Signals(signum).name)
        scope.cancel()
        return
