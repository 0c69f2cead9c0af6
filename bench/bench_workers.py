"""Round-trip throughput through worker processes on Redis: one, two and four workers.

    python bench/bench_workers.py                       # about 2 minutes on 2 cores
    python bench/bench_workers.py --seconds 5 --concurrency 1 16 --in-flight 64

Needs a Redis server (`--redis`, default redis://127.0.0.1:6379/0); every measurement
uses a key prefix of its own, removed afterwards.

A round trip is a task-augmented `tools/call` then `tasks/result`, through
`taskapp.Client` talking JSON-RPC in memory to an instance in this process: this
module's `app` with the queue executor on a RedisStore, so the instance only stores
the task and puts its id on the Redis stream. `taskapp worker bench/bench_workers.py:app`
processes (each `--concurrency C` tasks at once) take the ids, run the tool, and store
the result; the instance's `tasks/result` hears of it through pub/sub. `--in-flight`
round trips run back to back; after a warm-up, those that end inside a window of
`--seconds` give the throughput and the latency percentiles; each cell is run
`--repeat` times and the best throughput kept. The CPU that this process (instance
and client), the workers and Redis used in the window shows where the limit is.

Two tools: `nap` sleeps 50 ms (a tool that waits on something: parallelism shows, up
to workers x C tasks at once), `noop` returns at once (what the queue itself costs).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
from anyio.abc import Process

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from taskapp import TaskApp  # noqa: E402 (after the path is set, when run as a script)
from taskapp.client import Client  # noqa: E402

app = TaskApp("bench-workers")


@app.task_tool(mode="optional")
async def nap() -> str:
    """Sleep 50 ms, then say which process ran it."""
    await anyio.sleep(0.05)
    return str(os.getpid())


@app.task_tool(mode="optional")
async def noop() -> str:
    """Say at once which process ran it."""
    return str(os.getpid())


TOOLS = ("nap", "noop")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cell:
    """One measurement: throughput, latency, and CPU used (in cores) during the window."""

    tool: str
    workers: int
    concurrency: int
    per_second: float
    p50_ms: float
    p99_ms: float
    instance_cpu: float  # this process: the instance and the client
    workers_cpu: float  # all the worker processes together
    redis_cpu: float


# -- processes and their CPU -------------------------------------------------------------------


@asynccontextmanager
async def workers(store_url: str, count: int, concurrency: int) -> AsyncIterator[list[Process]]:
    """`count` worker processes on `store_url`; SIGTERM (drain) at the end."""
    command = [sys.executable, "-m", "taskapp", "worker", "bench/bench_workers.py:app"]
    command += ["--store", store_url, "--concurrency", str(concurrency), "--log-level", "warning"]
    processes = [
        await anyio.open_process(
            command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=None
        )
        for _ in range(count)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            with anyio.move_on_after(15):
                await process.wait()
            if process.returncode is None:
                process.kill()
            await process.aclose()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


async def redis_cpu(redis_url: str) -> float:
    from redis.asyncio import Redis

    async with Redis.from_url(redis_url) as client:
        info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def cpu_now(redis_url: str, processes: list[Process]) -> tuple[float, float, float]:
    return (
        time.process_time(),
        sum(process_cpu(process.pid) for process in processes),
        await redis_cpu(redis_url),
    )


async def until_all_run(client: Client, processes: list[Process], in_flight: int) -> None:
    """Round trips of `nap` until every worker has run one (they are all up)."""
    pids = {str(process.pid) for process in processes}
    seen: set[str] = set()

    async def loop() -> None:
        while not pids <= seen:
            created = await client.call_tool_as_task("nap")
            result = await client.get_task_result(created.task.task_id)
            seen.add(result.content[0]["text"])

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for _ in range(in_flight):
                tg.start_soon(loop)


async def delete_prefix(redis_url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    async with Redis.from_url(redis_url) as client:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])


# -- round trips -------------------------------------------------------------------------------


async def measure(
    client: Client,
    tool: str,
    processes: list[Process],
    args: argparse.Namespace,
) -> Cell:
    """`args.in_flight` loops of round trips; what ends inside the window counts."""
    ended: list[tuple[float, float]] = []  # (end, latency)
    stopping = anyio.Event()

    async def loop() -> None:
        while not stopping.is_set():
            start = time.perf_counter()
            created = await client.call_tool_as_task(tool)
            result = await client.get_task_result(created.task.task_id)
            if result.is_error:
                raise RuntimeError(f"{tool} failed: {result.content}")
            end = time.perf_counter()
            ended.append((end, end - start))

    async with anyio.create_task_group() as tg:
        for _ in range(args.in_flight):
            tg.start_soon(loop)
        await anyio.sleep(args.warmup)
        cpu_before = await cpu_now(args.redis, processes)
        opened = time.perf_counter()
        await anyio.sleep(args.seconds)
        closed = time.perf_counter()
        cpu_after = await cpu_now(args.redis, processes)
        stopping.set()  # every loop ends its round trip, then stops
    window = closed - opened
    inside = sorted(latency for end, latency in ended if opened <= end <= closed)
    instance, workers_used, redis_used = (
        (after - before) / window for before, after in zip(cpu_before, cpu_after, strict=True)
    )
    return Cell(
        tool,
        len(processes),
        0,
        len(inside) / window,
        percentile(inside, 50) * 1e3,
        percentile(inside, 99) * 1e3,
        instance,
        workers_used,
        redis_used,
    )


def percentile(values: list[float], pct: int) -> float:
    if not values:
        return math.nan
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


async def run_cell(
    redis_url: str, count: int, concurrency: int, args: argparse.Namespace
) -> list[Cell]:
    """`count` workers of `concurrency`, each tool measured `args.repeat` times: the best."""
    prefix = f"taskapp-bench:{uuid.uuid4().hex}:"
    store_url = f"{redis_url}{'&' if '?' in redis_url else '?'}prefix={prefix}"
    app.store = store_url
    app.config = replace(app.config, executor="queue", recover=False)
    cells: list[Cell] = []
    try:
        async with (
            Client(app, dialect="2025-11-25") as client,
            workers(store_url, count, concurrency) as processes,
        ):
            await until_all_run(client, processes, args.in_flight)
            for tool in TOOLS:
                runs = [await measure(client, tool, processes, args) for _ in range(args.repeat)]
                cell = replace(max(runs, key=lambda c: c.per_second), concurrency=concurrency)
                cells.append(cell)
                print(
                    f"  {tool:5} workers={count} concurrency={concurrency:<3}"
                    f"{cell.per_second:8.1f}/s  p50 {cell.p50_ms:7.1f} ms  "
                    f"p99 {cell.p99_ms:7.1f} ms  CPU: instance {cell.instance_cpu:4.0%}, "
                    f"workers {cell.workers_cpu:4.0%}, redis {cell.redis_cpu:4.0%}",
                    flush=True,
                )
    finally:
        await delete_prefix(redis_url, prefix)
    return cells


def table(cells: list[Cell], counts: list[int], concurrencies: list[int]) -> str:
    heads = " | ".join(f"{n} worker{'s' * (n > 1)}" for n in counts)
    lines = [
        f"| tool | worker concurrency | {heads} |",
        "|---|---|" + "---|" * len(counts),
    ]
    for tool in TOOLS:
        for concurrency in concurrencies:
            row = []
            for count in counts:
                [cell] = [
                    c
                    for c in cells
                    if (c.tool, c.workers, c.concurrency) == (tool, count, concurrency)
                ]
                row.append(
                    f"{cell.per_second:,.0f} ({cell.p50_ms:.0f} / {cell.p99_ms:.0f}); "
                    f"CPU {cell.instance_cpu:.0%} / {cell.workers_cpu:.0%} / {cell.redis_cpu:.0%}"
                )
            lines.append(f"| `{tool}` | {concurrency} | " + " | ".join(row) + " |")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    from taskapp._logging import configure_logging

    configure_logging("warning", json=False)
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f}; Redis at {args.redis}; {args.in_flight} round trips in "
        f"flight; {args.seconds:g} s per cell after {args.warmup:g} s, best of {args.repeat}",
        flush=True,
    )
    cells: list[Cell] = []
    for concurrency in args.concurrency:
        for count in args.workers:
            cells += await run_cell(args.redis, count, concurrency, args)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}\n")
    print(
        f"Round trips per second ({args.in_flight} in flight), latency p50 / p99 in ms; CPU "
        "used in the window (1 core = 100%): instance and client / all workers / Redis.\n"
    )
    print(table(cells, args.workers, args.concurrency))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2)
    anyio.run(main, parser.parse_args())
