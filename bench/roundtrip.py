"""Task round trips against real server processes, driven by one client per measurement.

A round trip is a task-augmented `tools/call` of `noop` followed by `tasks/result`
on the task it created. `inflight` workers loop round trips back to back for a
fixed time after a warm-up; every round trip that ends inside the measured window
counts for throughput, and its latency (start of tools/call to end of
tasks/result) goes into p50/p99.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SERVERS = BENCH / "servers"
FASTMCP_VENV = BENCH / ".venvs" / "fastmcp"
TASKAPP_BIN = Path(sys.executable).with_name("taskapp")


@dataclass(frozen=True)
class Target:
    """One server as a process: how to start it, and how to reach it."""

    server: str  # "taskapp", "sdk", "stub", "fastmcp", "taskapp-loginfo", "taskapp-asyncio"
    transport: str  # "stdio" | "http"
    command: tuple[str, ...]
    url: str | None = None  # http only
    env: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.server}/{self.transport}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


WHATIFS = {
    "whatif-nostatus": "nostatus",
    "whatif-coalesce": "coalesce",
    "whatif-logcache": "logcache",
    "whatif-all": "nostatus,coalesce,logcache",
}


def whatif_targets() -> list[Target]:
    """taskapp with the patches of servers/taskapp_whatif.py (sizing suggested changes)."""
    app = f"{SERVERS / 'taskapp_whatif.py'}:app"
    command = (str(TASKAPP_BIN), "run", app, "--log-level", "warning")
    return [
        Target(name, "stdio", command, env=(("TASKAPP_WHATIF", patches),))
        for name, patches in WHATIFS.items()
    ]


def baseline_target(checkout: Path) -> Target:
    """taskapp as another checkout has it (`git worktree add DIR REV`), run with the same
    server script and options as taskapp: two versions side by side in one run."""
    app = f"{SERVERS / 'taskapp_noop.py'}:app"
    command = (str(TASKAPP_BIN), "run", app, "--log-level", "warning")
    return Target("taskapp@base", "stdio", command, env=(("PYTHONPATH", str(checkout)),))


def targets(fastmcp_python: Path | None) -> list[Target]:
    """Every server and transport this machine can run."""
    py = sys.executable
    taskapp_app = f"{SERVERS / 'taskapp_noop.py'}:app"
    found = [
        Target("stub", "stdio", (py, str(SERVERS / "stub.py"))),
        Target("stub+status", "stdio", (py, str(SERVERS / "stub.py"), "--status")),
        Target("sdk", "stdio", (py, str(SERVERS / "sdk_lowlevel.py"))),
        Target(
            "taskapp", "stdio", (str(TASKAPP_BIN), "run", taskapp_app, "--log-level", "warning")
        ),
        Target(
            "taskapp-loginfo",
            "stdio",
            (str(TASKAPP_BIN), "run", taskapp_app, "--log-level", "info"),
        ),
        Target(
            "taskapp-asyncio",
            "stdio",
            (str(TASKAPP_BIN), "run", taskapp_app, "--log-level", "warning", "--loop", "asyncio"),
        ),
    ]
    if fastmcp_python is not None:
        found.append(
            Target("fastmcp", "stdio", (str(fastmcp_python), str(SERVERS / "fastmcp_noop.py")))
        )
    port = free_port()
    found.append(
        Target(
            "sdk",
            "http",
            (py, str(SERVERS / "sdk_lowlevel.py"), "--http", "--port", str(port)),
            url=f"http://127.0.0.1:{port}/mcp",
        )
    )
    port = free_port()
    found.append(
        Target(
            "taskapp",
            "http",
            (
                str(TASKAPP_BIN),
                "run",
                taskapp_app,
                "--transport",
                "http",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ),
            url=f"http://127.0.0.1:{port}/mcp",
        )
    )
    if fastmcp_python is not None:
        port = free_port()
        found.append(
            Target(
                "fastmcp",
                "http",
                (
                    str(fastmcp_python),
                    str(SERVERS / "fastmcp_noop.py"),
                    "--http",
                    "--port",
                    str(port),
                ),
                url=f"http://127.0.0.1:{port}/mcp",
            )
        )
    return found


def _env(target: Target) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.update(target.env)
    return env


# -- measurement ---------------------------------------------------------------------


@dataclass
class Stats:
    """The numbers of one measurement; latencies in milliseconds."""

    count: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def as_dict(self) -> dict[str, float]:
        return {
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
            "p50_ms": round(self.pct(50), 3),
            "p99_ms": round(self.pct(99), 3),
        }


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def measure(
    one: Callable[[], Awaitable[None]], *, inflight: int, seconds: float, warmup: float
) -> Stats:
    """Run `one` back to back in `inflight` workers; count those that end in the window.

    The window opens after `warmup`, and not before every worker has finished one
    call (so a slow server is measured in its steady state, not while filling up).
    """
    start = time.perf_counter()
    window: list[float] = []  # [start, end] once open
    ready = 0
    ends: list[tuple[float, float]] = []

    async def worker() -> None:
        nonlocal ready
        first = True
        while not window or time.perf_counter() < window[1]:
            t0 = time.perf_counter()
            await one()
            t1 = time.perf_counter()
            ends.append((t0, t1))
            if first:
                first = False
                ready += 1
            if not window and ready == inflight and t1 - start >= warmup:
                # At least twice the fill time: a slow server answers in bursts.
                window.extend((t1, t1 + max(seconds, min(2 * (t1 - start), 10.0))))

    with anyio.fail_after(warmup + seconds + 180):
        async with anyio.create_task_group() as tg:
            for _ in range(inflight):
                tg.start_soon(worker)
    lo, hi = window
    latencies = [(t1 - t0) * 1000 for t0, t1 in ends if lo < t1 <= hi]
    return Stats(len(latencies), hi - lo, latencies)


# -- clients -------------------------------------------------------------------------


class Driver:
    """What a measurement needs of a client: one round trip, and one tasks/get."""

    def __init__(
        self,
        roundtrip: Callable[[], Awaitable[str]],
        get: Callable[[str], Awaitable[None]],
        pid: int | None,
    ) -> None:
        self.roundtrip = roundtrip
        self.get = get
        self.pid = pid
        self.polls = 0  # tasks/get polls a server that does not block on tasks/result needed


@contextlib.asynccontextmanager
async def mcp_driver(target: Target) -> AsyncIterator[Driver]:
    """The official client (mcp==1.30.0 ClientSession) connected to `target`."""
    import mcp.types as types
    from mcp import ClientSession
    from mcp.shared.exceptions import McpError

    async with contextlib.AsyncExitStack() as stack:
        pid: int | None
        if target.transport == "stdio":
            from mcp.client.stdio import StdioServerParameters, stdio_client

            # /dev/null never blocks; stdio_client wants a text file for the server's stderr.
            devnull = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115, ASYNC230
            params = StdioServerParameters(
                command=target.command[0],
                args=list(target.command[1:]),
                env=_env(target),
                cwd=str(REPO),
            )
            before = _children()
            read, write = await stack.enter_async_context(stdio_client(params, errlog=devnull))
            pid = None
        else:
            from mcp.client.streamable_http import streamable_http_client

            assert target.url is not None
            pid = await stack.enter_async_context(_http_server(target))
            read, write, _ = await stack.enter_async_context(streamable_http_client(target.url))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        if pid is None:
            pid = _find_child(before, target)

        async def roundtrip() -> str:
            created = await session.experimental.call_tool_as_task("noop", {})
            task_id = created.task.taskId
            try:
                result = await session.experimental.get_task_result(task_id, types.CallToolResult)
            except McpError as exc:
                # A server whose tasks/result does not block (FastMCP 3.4 answers "Task
                # not completed yet"): poll tasks/get back to back until it ends.
                if "not completed" not in exc.error.message:
                    raise
                while True:
                    driver.polls += 1
                    task = await session.experimental.get_task(task_id)
                    if task.status in ("completed", "failed", "cancelled"):
                        break
                result = await session.experimental.get_task_result(task_id, types.CallToolResult)
            if result.isError:
                raise RuntimeError(f"{target.label}: noop failed: {result}")
            return task_id

        async def get(task_id: str) -> None:
            await session.experimental.get_task(task_id)

        driver = Driver(roundtrip, get, pid)
        yield driver


@contextlib.asynccontextmanager
async def lean_driver(target: Target) -> AsyncIterator[Driver]:
    """taskapp's own client (taskapp.Client): a lighter client, same server."""
    from taskapp.client import Client

    async with contextlib.AsyncExitStack() as stack:
        pid: int | None = None
        if target.transport == "http":
            assert target.url is not None
            pid = await stack.enter_async_context(_http_server(target))
            client = Client(target.url, dialect="2025-11-25")
            await stack.enter_async_context(client)
        else:
            devnull_fd = os.open(os.devnull, os.O_WRONLY)
            saved = os.dup(2)
            os.dup2(devnull_fd, 2)  # the server inherits our stderr: keep its logs off the screen
            try:
                client = Client(list(target.command), dialect="2025-11-25")
                await stack.enter_async_context(client)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                os.close(devnull_fd)
            pid = client.process.pid if client.process is not None else None

        async def roundtrip() -> str:
            created = await client.call_tool_as_task("noop", ttl=60_000)  # as the mcp client
            result = await client.get_task_result(created.task.task_id)
            if result.is_error:
                raise RuntimeError(f"{target.label}: noop failed: {result}")
            return created.task.task_id

        async def get(task_id: str) -> None:
            await client.get_task(task_id)

        yield Driver(roundtrip, get, pid)


@contextlib.asynccontextmanager
async def _http_server(target: Target) -> AsyncIterator[int]:
    """Start an HTTP server process, wait until its port answers, stop it at the end."""
    assert target.url is not None
    port = int(target.url.rsplit(":", 1)[1].split("/", 1)[0])
    process = await anyio.open_process(
        list(target.command),
        cwd=REPO,
        env=_env(target),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"{target.label} exited with {process.returncode}")
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{target.label} did not listen on {port}") from None
                await anyio.sleep(0.05)
                continue
            await stream.aclose()
            break
        yield process.pid
    finally:
        with anyio.CancelScope(shield=True):
            process.terminate()
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


def _children() -> set[int]:
    """Our child processes' pids (Linux /proc), to find the one stdio_client starts."""
    me = os.getpid()
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me:
            found.add(int(entry))
    return found


def _find_child(before: set[int], target: Target) -> int | None:
    new = _children() - before
    return min(new) if new else None


DriverFactory = Callable[[Target], contextlib.AbstractAsyncContextManager[Driver]]


@dataclass(frozen=True)
class Plan:
    """How long to measure: `rounds` bursts of `burst` seconds per server and mode."""

    rounds: dict[int, int]  # in-flight count -> rounds
    burst: dict[int, float]  # in-flight count -> measured seconds per burst
    warmup: dict[int, float]
    get_rounds: int
    get_burst: float


async def interleaved(
    factory: DriverFactory,
    targets: Sequence[Target],
    modes_of: Callable[[Target], Sequence[int]],
    plan: Plan,
    errors: dict[str, str],
    log: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """Measure every target on its own connection, in turns: round r drives each target for
    one burst, in a rotating order, so that whatever else the machine does falls on all
    of them alike. Idle server processes wait on their pipe and cost nothing meanwhile."""
    out: dict[str, dict[str, Any]] = {}
    async with contextlib.AsyncExitStack() as stack:
        drivers: dict[str, Driver] = {}
        by_label = {t.label: t for t in targets}
        for target in targets:
            try:
                driver = await stack.enter_async_context(factory(target))
                for _ in range(50):  # imports, caches, lazy set-up
                    await driver.roundtrip()
            except Exception as exc:
                errors[target.label] = _first_error(exc)
                log(f"  {target.label}: FAILED to start: {errors[target.label]}")
                continue
            drivers[target.label] = driver
            out[target.label] = {}
        modes = sorted({m for t in targets for m in modes_of(t)})
        for inflight in modes:
            labels = [label for label in drivers if inflight in modes_of(by_label[label])]
            runs: dict[str, list[Stats]] = {label: [] for label in labels}
            polls = {label: drivers[label].polls for label in labels}
            for r in range(plan.rounds[inflight]):
                turn = labels[r % len(labels) :] + labels[: r % len(labels)] if labels else []
                for label in reversed(turn) if r % 2 else turn:
                    if label in errors:
                        continue
                    try:
                        stats = await measure(
                            drivers[label].roundtrip,
                            inflight=inflight,
                            seconds=plan.burst[inflight],
                            warmup=plan.warmup[inflight],
                        )
                    except Exception as exc:
                        errors[label] = f"at {inflight} in flight: {_first_error(exc)}"
                        log(f"  {label}: FAILED {errors[label]}")
                        continue
                    runs[label].append(stats)
            for label, stats_list in runs.items():
                if not stats_list:
                    continue
                cell = combine(stats_list).as_dict()
                cell["rounds"] = [round(s.per_second) for s in stats_list]
                if drivers[label].polls > polls[label]:
                    cell["polls"] = drivers[label].polls - polls[label]
                out[label][str(inflight)] = cell
            log(
                f"  {inflight:>3} in flight: "
                + "  ".join(
                    f"{label} {out[label][str(inflight)]['per_second']:,.0f}/s"
                    for label in labels
                    if str(inflight) in out[label]
                )
            )
        # tasks/get on a finished task, sequential, in turns as well.
        task_ids = {}
        for label, driver in drivers.items():
            if label not in errors:
                task_ids[label] = await driver.roundtrip()
        gets: dict[str, list[Stats]] = {label: [] for label in task_ids}
        for r in range(plan.get_rounds):
            for label in task_ids if r % 2 == 0 else list(reversed(task_ids)):
                driver, task_id = drivers[label], task_ids[label]

                async def get(driver: Driver = driver, task_id: str = task_id) -> None:
                    await driver.get(task_id)

                gets[label].append(
                    await measure(get, inflight=1, seconds=plan.get_burst, warmup=0.02)
                )
        for label, stats_list in gets.items():
            out[label]["tasks_get"] = combine(stats_list).as_dict()
    return out


def combine(runs: Sequence[Stats]) -> Stats:
    return Stats(
        sum(s.count for s in runs),
        sum(s.seconds for s in runs),
        [x for s in runs for x in s.latencies_ms],
    )


def _first_error(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:300]
