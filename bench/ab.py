"""Two checkouts of taskapp, one official client each, sequential round trips in turns.

    git worktree add /tmp/base HEAD~1
    python bench/ab.py . /tmp/base            # 24 blocks of 250 round trips each

Both servers run `bench/servers/taskapp_noop.py` with `--log-level warning`, each with
its checkout first on PYTHONPATH, and stay up for the whole run. The blocks alternate
(A B, B A, ...) so that a quiet or a busy moment of the host falls on both, and the
result is the median of the per-pair ratios: on a shared host that is steadier than a
ratio of two totals (run.py --baseline), and it resolves a few percent, which is what
a change on the critical path of a round trip is worth.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parent.parent
APP = f"{REPO / 'bench' / 'servers' / 'taskapp_noop.py'}:app"


async def _block(session: Any, count: int) -> float:
    import mcp.types as types

    start = time.perf_counter()
    for _ in range(count):
        created = await session.experimental.call_tool_as_task("noop", {})
        await session.experimental.get_task_result(created.task.taskId, types.CallToolResult)
    return count / (time.perf_counter() - start)


async def main(checkouts: list[Path], blocks: int, size: int) -> None:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    taskapp = Path(sys.executable).with_name("taskapp")  # this venv's console script
    async with contextlib.AsyncExitStack() as stack:
        devnull = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115, ASYNC230
        sessions = []
        for checkout in checkouts:
            env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
            params = StdioServerParameters(
                command=str(taskapp),
                args=["run", APP, "--log-level", "warning"],
                env=env,
                cwd=str(REPO),
            )
            read, write = await stack.enter_async_context(stdio_client(params, errlog=devnull))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            await _block(session, size)  # warm up
            sessions.append(session)
        rates: list[list[float]] = [[], []]
        for i in range(blocks):
            for k in (0, 1) if i % 2 == 0 else (1, 0):
                rates[k].append(await _block(sessions[k], size))
    for checkout, rate in zip(checkouts, rates, strict=True):
        median, best = statistics.median(rate), max(rate)
        print(f"{checkout!s:30s} median {median:7.0f}/s  best {best:7.0f}/s")
    ratios = [a / b for a, b in zip(rates[0], rates[1], strict=True)]
    q1, q2, q3 = statistics.quantiles(ratios, n=4)
    print(f"A / B, per pair of blocks: median {q2:.3f}x (quartiles {q1:.3f}x, {q3:.3f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="checkout A (e.g. .)")
    parser.add_argument("b", type=Path, help="checkout B (e.g. /tmp/base)")
    parser.add_argument("--blocks", type=int, default=24, help="blocks per checkout")
    parser.add_argument("--size", type=int, default=250, help="round trips per block")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # mcp's experimental API
    anyio.run(main, [args.a, args.b], args.blocks, args.size)
