"""Memory per stored task and `tasks/list` page time, for MemoryStore and SQLiteStore.

    python bench/bench_stores.py                 # 10^3 and 10^5 tasks, both stores
    python bench/bench_stores.py --sizes 1000000 # add 10^6 (about a minute per store)

Every stored task is finished (`completed`, a short text result), owned by one of ten
owners, like a server's history. A page is 100 tasks of one owner (taskapp's default
page size), read from a random position with an opaque cursor, as `tasks/list` does.

Memory: for MemoryStore, the Python heap the records take (tracemalloc); for
SQLiteStore, the bytes on disk (database plus WAL) and the growth of the process's RSS.
SQLite files are filled in bulk (one transaction, the store's own row format) to keep
the run short; `create` throughput through the API is measured on 10^4 tasks apart.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from taskapp.records import TaskRecord, TaskStatus, ToolOutcome
from taskapp.stores import _sqlite_sql
from taskapp.stores._cursors import encode_cursor
from taskapp.stores.memory import MemoryStore
from taskapp.stores.sqlite import SQLiteStore

OWNERS = [f"owner-{i}" for i in range(10)]
PAGE = 100
SAMPLES = 300
NOW = time.time()


def finished(i: int) -> TaskRecord:
    """A realistic finished task: 32-char id, a few arguments, a short text result."""
    return TaskRecord(
        task_id=f"{i:032d}",
        status=TaskStatus.COMPLETED,
        created_at=NOW + i * 1e-3,
        updated_at=NOW + i * 1e-3 + 0.5,
        ttl_ms=86_400_000,
        tool="summarise",
        arguments={"url": f"https://example.com/doc/{i}", "words": 100},
        owner=OWNERS[i % len(OWNERS)],
        poll_interval_ms=500,
        status_message=None,
        outcome=ToolOutcome(content=[{"type": "text", "text": f"summary of document {i}"}]),
        version=2,
        client_capabilities={},
        runner="host:1234:abcd",
        lease_until=NOW + 30,
    )


def disk_bytes(directory: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in directory.glob(pattern))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def page_times(store: MemoryStore | SQLiteStore, cursors: list[str | None]) -> list[float]:
    times = []
    for cursor in cursors:
        start = time.perf_counter()
        page, _ = await store.list_tasks(OWNERS[3], cursor=cursor, limit=PAGE, now=NOW)
        times.append(time.perf_counter() - start)
        assert len(page) == PAGE or cursor is not None
    return times


def summary(times: list[float]) -> str:
    times = sorted(times)
    p50, p95 = statistics.median(times), times[int(len(times) * 0.95)]
    return f"{p50 * 1e3:7.3f} / {p95 * 1e3:7.3f}"


async def bench_memory(n: int) -> dict[str, str]:
    gc.collect()
    tracemalloc.start()
    store = MemoryStore()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        await store.create(finished(i))
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    # Cursors at random positions of the owner's tasks (the store's own format).
    cursors: list[str | None] = [None] + [
        encode_cursor("m1", random.randrange(1, n)) for _ in range(SAMPLES - 1)
    ]
    times = await page_times(store, cursors)
    return {"bytes/task": f"{used / n:,.0f} (heap)", "page ms p50 / p95": summary(times)}


async def bench_sqlite(n: int, directory: Path) -> dict[str, str]:
    path = directory / f"bench-{n}.db"
    store = SQLiteStore(path)
    await store.open()
    rss_before = rss_bytes()
    try:
        conn = store._conn
        assert conn is not None
        start = time.perf_counter()
        batch = 50_000
        for first in range(0, n, batch):
            rows = [
                (*_sqlite_sql.to_row(r), r.expires_at)
                for r in map(finished, range(first, min(n, first + batch)))
            ]
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT INTO tasks ({_sqlite_sql.COLUMNS}, expires_at)"
                f" VALUES ({', '.join('?' * 16)})",
                rows,
            )
            conn.execute("COMMIT")
        fill_s = time.perf_counter() - start
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursors: list[str | None] = [None] + [
            encode_cursor("s1", random.randrange(1, n)) for _ in range(SAMPLES - 1)
        ]
        times = await page_times(store, cursors)
        disk = disk_bytes(directory, f"bench-{n}.db*")
        rss_growth = rss_bytes() - rss_before
    finally:
        await store.close()
    return {
        "bytes/task": f"{disk / n:,.0f} (disk), RSS +{rss_growth / 2**20:.0f} MiB",
        "page ms p50 / p95": summary(times),
        "fill": f"{fill_s:.1f} s bulk",
    }


async def create_rate(directory: Path) -> str:
    out = []
    for name, store in (("memory", MemoryStore()), ("sqlite", SQLiteStore(directory / "c.db"))):
        await store.open()
        start = time.perf_counter()
        for i in range(10_000):
            await store.create(finished(i))
        out.append(f"{name}: {10_000 / (time.perf_counter() - start):,.0f} creates/s")
        await store.close()
    return ", ".join(out)


async def main(sizes: list[int]) -> None:
    random.seed(1)
    print(f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    print(f"{'store':<8} {'tasks':>9}  {'page ms p50 / p95':>19}  bytes/task")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            for name in ("memory", "sqlite"):
                start = time.perf_counter()
                if name == "memory":
                    row = await bench_memory(n)
                else:
                    row = await bench_sqlite(n, Path(tmp))
                took = time.perf_counter() - start
                extra = f"  [{row['fill']}]" if "fill" in row else ""
                print(
                    f"{name:<8} {n:>9,}  {row['page ms p50 / p95']:>19}  {row['bytes/task']}"
                    f"{extra}  ({took:.0f} s)",
                    flush=True,
                )
                gc.collect()
        print("create through the API, one at a time:", await create_rate(Path(tmp)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"peak RSS of the run: {peak:,.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    anyio.run(main, parser.parse_args().sizes)
