"""taskapp measured inside one process: no client, no pipe, just the engine and its store.

    python bench/inproc.py [--quick] [--json]

Prints one JSON object (with --json) that bench/run.py folds into RESULTS.md:

- anatomy: the server's own time per task round trip with a client that costs nothing,
  and the event-loop iterations, tasks, cancel scopes and writes one round trip takes;
- ctx: microseconds per `ctx.update_status` / `ctx.report_progress` call, with no
  session (engine only) and with a session whose channel discards what it sends
  (the full server cost: store write, notification, JSON encoding);
- memory: bytes retained per finished task in MemoryStore, beyond its result;
- list: `tasks/list` page time at 10^3, 10^5 and 10^6 stored tasks;
- sleepers: 10,000 tasks sleeping at once: memory and event-loop lag.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pydantic_core

from taskapp import TaskApp, TaskContext
from taskapp._logging import configure_logging
from taskapp.engine import TaskEngine
from taskapp.records import TaskRecord, TaskStatus, ToolOutcome
from taskapp.sessions.tasks2025 import TaskMethods
from taskapp.stores import MemoryStore, _sqlite_sql
from taskapp.stores._cursors import encode_cursor
from taskapp.stores.sqlite import SQLiteStore
from taskapp.wire.jsonrpc import Request

PAGE = 100
LOOP_TIMES: list[float] = []


def build_app() -> TaskApp:
    app = TaskApp("inproc")

    @app.task_tool(mode="optional")
    async def noop() -> str:
        return "ok"

    @app.task_tool(mode="optional")
    async def churn(ctx: TaskContext, n: int, kind: str) -> str:
        t0 = time.perf_counter()
        if kind == "update_status":
            for i in range(n):
                await ctx.update_status(f"step {i}")
        elif kind == "report_progress":
            for i in range(n):
                await ctx.report_progress(i, total=n)
        else:  # the floor: one event-loop checkpoint per call, as the context methods do
            for _ in range(n):
                await anyio.lowlevel.checkpoint()
        LOOP_TIMES.append(time.perf_counter() - t0)
        return "ok"

    @app.task_tool(mode="optional")
    async def nap(seconds: float) -> str:
        await anyio.sleep(seconds)
        return "ok"

    return app


class NullObserver:
    """A session that hears everything and does nothing with it."""

    def on_status(self, record: TaskRecord) -> None:
        return None

    def on_progress(
        self, task_id: str, progress: float, total: float | None, message: str | None
    ) -> None:
        return None

    def on_log(self, task_id: str, level: Any, data: Any, logger: str | None) -> None:
        return None


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- ctx.update_status / ctx.report_progress -------------------------------------------


class SinkChannel:
    """A channel to a client that never reads: requests go in, answers are counted and dropped.

    Responses (which carry an id) wake whoever waits for that id; notifications are
    only counted, never parsed, so the measured cost is the server's alone.
    """

    def __init__(self) -> None:
        self._in_send, self._in_recv = anyio.create_memory_object_stream[bytes](math.inf)
        self.waiters: dict[int, anyio.Event] = {}
        self.answers: dict[int, Any] = {}
        self.sent = 0

    def push(self, message: dict[str, Any]) -> None:
        self._in_send.send_nowait(pydantic_core.to_json(message))

    async def call(self, request_id: int, method: str, params: dict[str, Any]) -> Any:
        event = self.waiters[request_id] = anyio.Event()
        self.push({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        await event.wait()
        return self.answers.pop(request_id)

    async def receive(self) -> bytes:
        try:
            return await self._in_recv.receive()
        except anyio.EndOfStream:
            raise anyio.EndOfStream from None

    backlogged = False

    async def flush(self) -> None:
        return None

    async def send(self, data: bytes, *, related: Any = None, final: bool = False) -> None:
        self.send_nowait(data)

    def send_nowait(self, data: bytes, *, related: Any = None, final: bool = False) -> bool:
        self.sent += 1
        if data.startswith(b'{"jsonrpc":"2.0","id"'):
            message = pydantic_core.from_json(data)
            event = self.waiters.pop(message["id"], None)
            if event is not None:
                self.answers[message["id"]] = message.get("result", message.get("error"))
                event.set()
        return True

    async def aclose(self) -> None:
        self._in_send.close()


async def ctx_costs(n: int) -> dict[str, Any]:
    app = build_app()
    out: dict[str, Any] = {"n": n}
    kinds = ("checkpoint", "update_status", "report_progress")
    # Engine only: the null observer stands in for a session.
    async with app.running(MemoryStore()) as engine:
        for kind in kinds:
            best = math.inf
            for _ in range(3):
                record, start = await engine.create(
                    app.tools["churn"],
                    {"n": n, "kind": kind},
                    owner=None,
                    ttl_ms=None,
                    observer=NullObserver(),
                )
                start()
                await engine.wait_terminal(record.task_id, None)
                best = min(best, LOOP_TIMES.pop())
            out[f"engine_{kind}_us"] = round(best / n * 1e6, 3)
    # A real session on a channel whose client drops everything: notifications included.
    async with app.running(MemoryStore()) as engine, anyio.create_task_group() as tg:
        channel = await _session(app, engine, tg)
        next_id = 2
        for kind in kinds:
            best = math.inf
            for _ in range(3):
                sent_before = channel.sent
                created = await channel.call(
                    next_id,
                    "tools/call",
                    {
                        "name": "churn",
                        "arguments": {"n": n, "kind": kind},
                        "task": {},
                        "_meta": {"progressToken": f"p{next_id}"},
                    },
                )
                await channel.call(
                    next_id + 1, "tasks/result", {"taskId": created["task"]["taskId"]}
                )
                next_id += 2
                best = min(best, LOOP_TIMES.pop())
                out[f"session_{kind}_messages"] = channel.sent - sent_before
            out[f"session_{kind}_us"] = round(best / n * 1e6, 3)
        await channel.aclose()
        tg.cancel_scope.cancel()
    return out


# -- one round trip, in-process: its time and what it sets in motion --------------------------


async def _session(app: TaskApp, engine: TaskEngine, tg: Any) -> SinkChannel:
    channel = SinkChannel()
    tg.start_soon(app.serve_channel, channel, engine)
    await channel.call(
        1,
        "initialize",
        {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b"}},
    )
    channel.push({"jsonrpc": "2.0", "method": "notifications/initialized"})
    await anyio.sleep(0.01)
    return channel


async def _roundtrips(channel: SinkChannel, count: int, first_id: int) -> float:
    t0 = time.perf_counter()
    for i in range(count):
        request_id = first_id + 2 * i
        params = {"name": "noop", "arguments": {}, "task": {"ttl": 60_000}}
        created = await channel.call(request_id, "tools/call", params)
        await channel.call(request_id + 1, "tasks/result", {"taskId": created["task"]["taskId"]})
    return time.perf_counter() - t0


async def anatomy(count: int) -> dict[str, Any]:
    """Sequential round trips against a real session whose client costs nothing (no pipe):
    the server's own time per round trip, and how many event-loop iterations, asyncio
    tasks, anyio cancel scopes and task groups, and writes one round trip takes."""
    import asyncio

    from anyio._backends import _asyncio as backend

    app = build_app()
    out: dict[str, Any] = {"round_trips": count}
    async with app.running(MemoryStore()) as engine, anyio.create_task_group() as tg:
        channel = await _session(app, engine, tg)
        best = min([await _roundtrips(channel, count, 10 + k * 10 * count) for k in range(5)])
        out["server_us_per_round_trip"] = round(best / count * 1e6, 1)
        # Now count, by wrapping the machinery (slower, so timed apart above).
        counts = dict.fromkeys(("loop_iterations", "tasks", "cancel_scopes", "task_groups"), 0)
        loop = asyncio.get_running_loop()
        run_once = type(loop)._run_once  # type: ignore[attr-defined]
        scope_init, group_init = backend.CancelScope.__init__, backend.TaskGroup.__init__

        def counting_run_once(self: Any) -> None:
            counts["loop_iterations"] += 1
            run_once(self)

        def counting_scope(self: Any, *args: Any, **kwargs: Any) -> None:
            counts["cancel_scopes"] += 1
            scope_init(self, *args, **kwargs)

        def counting_group(self: Any, *args: Any, **kwargs: Any) -> None:
            counts["task_groups"] += 1
            group_init(self, *args, **kwargs)

        def factory(loop: Any, coro: Any, **kwargs: Any) -> Any:
            counts["tasks"] += 1
            return asyncio.Task(coro, loop=loop, **kwargs)

        sent = channel.sent
        type(loop)._run_once = counting_run_once  # type: ignore[attr-defined]
        backend.CancelScope.__init__ = counting_scope  # type: ignore[method-assign]
        backend.TaskGroup.__init__ = counting_group  # type: ignore[method-assign]
        loop.set_task_factory(factory)
        try:
            await _roundtrips(channel, count, 10 + 6 * 10 * count)
        finally:
            loop.set_task_factory(None)
            type(loop)._run_once = run_once  # type: ignore[attr-defined]
            backend.CancelScope.__init__ = scope_init  # type: ignore[method-assign]
            backend.TaskGroup.__init__ = group_init  # type: ignore[method-assign]
        counts["messages_written"] = channel.sent - sent
        out.update({k: round(v / count, 2) for k, v in counts.items()})
        await channel.aclose()
        tg.cancel_scope.cancel()
    return out


# -- memory per finished task ------------------------------------------------------------


async def run_tasks(engine: TaskEngine, app: TaskApp, count: int, batch: int = 500) -> None:
    tool = app.tools["noop"]
    done = 0
    while done < count:
        size = min(batch, count - done)
        ids = []
        for _ in range(size):
            record, start = await engine.create(tool, {}, owner=None, ttl_ms=None)
            start()
            ids.append(record.task_id)
        for task_id in ids:
            await engine.wait_terminal(task_id, None)
        done += size


async def memory_per_task(count: int) -> dict[str, Any]:
    app = build_app()
    store = MemoryStore()
    async with app.running(store) as engine:
        await run_tasks(engine, app, 1000)  # warm up: caches, free lists
        # RSS first (no tracing overhead), then tracemalloc on a second batch.
        gc.collect()
        rss0 = rss_bytes()
        await run_tasks(engine, app, count)
        gc.collect()
        rss_delta = rss_bytes() - rss0
        tracemalloc.start()
        gc.collect()
        traced0 = tracemalloc.get_traced_memory()[0]
        await run_tasks(engine, app, count)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - traced0
        # The result each task keeps: the ToolOutcome of "ok", built as the engine builds it.
        before = tracemalloc.get_traced_memory()[0]
        outcomes = [app.tools["noop"].signature.to_outcome("ok") for _ in range(count)]
        result_bytes = (tracemalloc.get_traced_memory()[0] - before) / count
        del outcomes
        tracemalloc.stop()
        assert len(store) == 2 * count + 1000
    per_task = traced / count
    return {
        "tasks": count,
        "traced_bytes_per_task": round(per_task),
        "result_bytes_per_task": round(result_bytes),
        "beyond_result_bytes_per_task": round(per_task - result_bytes),
        "rss_bytes_per_task": round(rss_delta / count),
    }


# -- tasks/list page time --------------------------------------------------------------


def finished(i: int, now: float) -> TaskRecord:
    """A finished task as the engine leaves it."""
    return TaskRecord(
        task_id=f"task-{i:08d}-" + "x" * 19,  # as long as a real id (32 chars)
        status=TaskStatus.COMPLETED,
        created_at=now,
        updated_at=now,
        ttl_ms=3_600_000,
        tool="noop",
        poll_interval_ms=500,
        outcome=OUTCOME,
        version=2,
    )


OUTCOME = ToolOutcome(content=[{"type": "text", "text": "ok"}])


def fill(store: MemoryStore, count: int) -> None:
    """`count` finished tasks, created straight in the store."""
    now = time.time()

    async def go() -> None:
        for i in range(count):
            await store.create(finished(i, now))

    anyio.run(go)


def fill_sqlite(store: SQLiteStore, count: int) -> None:
    """The same tasks in a SQLite file, in bulk (one transaction per 50,000, the store's
    own row format): 10^6 one by one through `create` would take minutes."""
    now, conn = time.time(), store._conn
    assert conn is not None
    for first in range(0, count, 50_000):
        batch = [finished(i, now) for i in range(first, min(count, first + 50_000))]
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO tasks ({_sqlite_sql.COLUMNS}, expires_at) VALUES ({', '.join('?' * 16)})",
            [(*_sqlite_sql.to_row(r), r.expires_at) for r in batch],
        )
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def time_call(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """Median seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def measure_pages(
    store: MemoryStore | SQLiteStore, count: int, repeat: int, row: dict[str, Any]
) -> None:
    app = build_app()
    engine = TaskEngine(store, app.config, app.tools)  # not entered: no sweeper, no leases
    methods = TaskMethods(engine, owner=None, page_size=PAGE)
    kind = "m1" if isinstance(store, MemoryStore) else "s1"  # each store's own cursor form
    mid = encode_cursor(kind, count // 2)
    last = encode_cursor(kind, max(0, count - PAGE))
    for name, cursor in (("first", None), ("middle", mid), ("last", last)):

        async def page(cursor: str | None = cursor) -> Any:
            return await engine.list_tasks(None, cursor, PAGE)

        row[f"engine_{name}_us"] = round(await time_call(page, repeat) * 1e6, 1)
    params: dict[str, Any] = {"cursor": mid}

    async def handler() -> Any:
        return await methods.list(Request(1, "tasks/list", params))

    row["handler_middle_us"] = round(await time_call(handler, repeat) * 1e6, 1)

    async def encoded() -> Any:
        return pydantic_core.to_json(await methods.list(Request(1, "tasks/list", params)))

    row["handler_json_middle_us"] = round(await time_call(encoded, repeat) * 1e6, 1)
    # What the lease upkeep does every lease_s/3 seconds, on the event loop.
    t0 = time.perf_counter()
    await store.orphans(now=time.time(), limit=100)
    row["orphans_scan_ms"] = round((time.perf_counter() - t0) * 1000, 2)


def list_pages(sizes: list[int], repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for count in sizes:
        store = MemoryStore()
        t0 = time.perf_counter()
        fill(store, count)
        row: dict[str, Any] = {"fill_s": round(time.perf_counter() - t0, 2)}
        anyio.run(measure_pages, store, count, repeat, row)
        out[str(count)] = row
        del store
        gc.collect()
    return out


def sqlite_list_pages(sizes: list[int], repeat: int) -> dict[str, Any]:
    """The same pages from a SQLiteStore file (WAL, on this machine's disk)."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in sizes:
            path = Path(tmp) / f"list-{count}.db"

            async def measure(count: int = count, path: Path = path) -> dict[str, Any]:
                store = SQLiteStore(path)
                await store.open()
                try:
                    t0 = time.perf_counter()
                    fill_sqlite(store, count)
                    row: dict[str, Any] = {"fill_s": round(time.perf_counter() - t0, 2)}
                    await measure_pages(store, count, repeat, row)
                finally:
                    await store.close()
                return row

            out[str(count)] = anyio.run(measure)
            disk = sum(p.stat().st_size for p in Path(tmp).glob(f"{path.name}*"))
            out[str(count)]["disk_bytes_per_task"] = round(disk / count)
            path.unlink()
    return out


# -- 10,000 sleeping tasks ------------------------------------------------------------


async def sleepers(count: int, nap_s: float) -> dict[str, Any]:
    app = build_app()
    lags: dict[str, list[float]] = {"create": [], "sleep": [], "wake": []}
    phase = "create"
    tick = 0.005
    stop = anyio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            await anyio.sleep(tick)
            if phase in lags:  # not while we collect garbage to read the RSS
                lags[phase].append((time.perf_counter() - t0 - tick) * 1000)

    gc_pauses: list[tuple[int, float]] = []  # (generation, ms) of the collector's own passes
    gc_started = 0.0

    def on_gc(event: str, info: dict[str, Any]) -> None:
        nonlocal gc_started
        if event == "start":
            gc_started = time.perf_counter()
        elif phase in lags:
            gc_pauses.append((info["generation"], (time.perf_counter() - gc_started) * 1000))

    gc.collect()
    rss0 = rss_bytes()
    gc.callbacks.append(on_gc)
    async with app.running(MemoryStore()) as engine, anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0.05)
        tool = app.tools["nap"]
        t0 = time.perf_counter()
        ids = []
        for i in range(count):
            record, start = await engine.create(tool, {"seconds": nap_s}, owner=None, ttl_ms=None)
            start()
            ids.append(record.task_id)
            if i % 100 == 99:
                await anyio.lowlevel.checkpoint()  # as if the calls came from clients
        create_s = time.perf_counter() - t0
        await anyio.sleep(0.2)
        phase = "gc"
        running = sum(engine.is_running(t) for t in ids)
        gc.collect()
        rss_sleeping = rss_bytes() - rss0
        await anyio.sleep(0.02)
        phase = "sleep"
        await anyio.sleep(max(0.0, nap_s - (time.perf_counter() - t0) - 0.1))
        phase = "wake"
        t1 = time.perf_counter()
        for task_id in ids:
            await engine.wait_terminal(task_id, None)
        wake_s = time.perf_counter() - t1
        stop.set()
    gc.callbacks.remove(on_gc)

    def summary(values: list[float]) -> dict[str, float]:
        if not values:
            return {"ticks": 0}
        ordered = sorted(values)
        return {
            "ticks": len(values),
            "p50_ms": round(ordered[len(ordered) // 2], 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
            "max_ms": round(ordered[-1], 2),
        }

    return {
        "tasks": count,
        "sleep_s": nap_s,
        "running_at_once": running,
        "create_s": round(create_s, 3),
        "drain_after_wake_s": round(wake_s, 3),
        "rss_bytes_per_sleeping_task": round(rss_sleeping / count),
        "lag": {name: summary(values) for name, values in lags.items()},
        "gc_passes": len(gc_pauses),
        "gc_max_ms": round(max((ms for _, ms in gc_pauses), default=0.0), 2),
        "gc_gen2_ms": [round(ms, 1) for gen, ms in gc_pauses if gen == 2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tasks and repeats")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", help="anatomy, ctx, memory, list, list_sqlite or sleepers")
    args = parser.parse_args()
    configure_logging("warning")  # as `taskapp run --log-level warning`; stdout stays clean
    results: dict[str, Any] = {}
    steps: dict[str, Callable[[], Any]] = {
        "anatomy": lambda: anyio.run(anatomy, 1_000 if args.quick else 2_000),
        "ctx": lambda: anyio.run(ctx_costs, 2_000 if args.quick else 10_000),
        "memory": lambda: anyio.run(memory_per_task, 20_000 if args.quick else 100_000),
        "list": lambda: list_pages([1_000, 100_000, 1_000_000], 50 if args.quick else 200),
        "list_sqlite": lambda: sqlite_list_pages(
            [1_000, 100_000] if args.quick else [1_000, 100_000, 1_000_000],
            50 if args.quick else 200,
        ),
        "sleepers": lambda: anyio.run(sleepers, 10_000, 3.0),
    }
    for name, step in steps.items():
        if args.only and name != args.only:
            continue
        t0 = time.perf_counter()
        results[name] = step()
        results[name]["wall_s"] = round(time.perf_counter() - t0, 1)
        if not args.json:
            sys.stderr.write(f"{name}: {json.dumps(results[name])}\n")
    if args.json:
        sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
