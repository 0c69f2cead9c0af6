"""Where a taskapp stdio round trip spends its time: py-spy on the server (and the client).

    python bench/profile_taskapp.py [--seconds 4]

The official client (mcp==1.30.0) drives `taskapp run bench/servers/taskapp_noop.py:app
--log-level warning` sequentially and with 32 round trips in flight, while py-spy
samples the server process (and, separately, the client process). Raw samples go
to bench/profile-*.raw.txt (gitignored); a flame graph of the server at 32 in
flight goes to bench/profile.svg. Percentages are of the samples in which the
process was on the CPU (py-spy leaves out a thread idle in epoll).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import roundtrip as rt

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
RATE = 250

# Named parts of the server's work: a sample counts for a part when one of the part's
# frames is anywhere on its stack (so the parts overlap; each is "time spent under it").
# A frame matches when its text contains every piece of one of the part's patterns.
PARTS: dict[str, list[tuple[str, ...]]] = {
    "reading stdin (FdChannel.receive)": [("receive ", "taskapp/transports/stdio.py")],
    "writing stdout (FdChannel.send)": [("send ", "taskapp/transports/stdio.py")],
    "JSON decode + dispatch (Peer._dispatch)": [("_dispatch ", "sessions/peer.py")],
    "JSON encode (jsonrpc.encode)": [("encode ", "wire/jsonrpc.py")],
    "request handler task (Peer._request)": [("_request ", "sessions/peer.py")],
    "params validation (pydantic, mcp2025.parse)": [("parse ", "wire/mcp2025.py")],
    "tools/call as task (ServerSession._call_as_task)": [("_call_as_task ", "sessions/server.py")],
    "task record creation (TaskEngine.create_job)": [("create_job ", "taskapp/engine/core.py")],
    "task id (secrets.token_urlsafe)": [("token_urlsafe ", "secrets.py")],
    "running the task (TaskEngine._run)": [("_run ", "taskapp/engine/core.py")],
    "argument validation (_invoke.prepare)": [("prepare ", "taskapp/engine/invoke.py")],
    "tool call (_invoke.invoke)": [("invoke ", "taskapp/engine/invoke.py")],
    "finishing (TaskEngine._finish)": [("_finish ", "taskapp/engine/core.py")],
    "store ops (stores/memory.py)": [("stores/memory.py",)],
    "record updates (records.apply_update)": [("apply_update ", "taskapp/records.py")],
    "status notification (ServerSession.on_status)": [("on_status ", "sessions/server.py")],
    "task JSON (mcp2025.task_json)": [("task_json ", "wire/mcp2025.py")],
    "timestamps (mcp2025.timestamp)": [("timestamp ", "wire/mcp2025.py")],
    "tasks/result (TaskMethods.result)": [("result ", "sessions/tasks2025.py")],
    "logging (structlog)": [("structlog/",)],
    "anyio task spawn (start_soon / TaskGroup)": [
        ("start_soon ", "anyio/_backends"),
        ("_spawn ", "anyio/_backends"),
    ],
    "anyio memory streams": [("anyio/streams/memory.py",)],
    "asyncio event loop itself (self time)": [],  # filled from leaf frames below
}

HTTP_PARTS: dict[str, list[tuple[str, ...]]] = {
    "taskapp HttpTransport._post (a POST, whole)": [("_post ", "taskapp/transports/http.py")],
    "starlette": [("starlette/",)],
    "socket writes (asyncio transport)": [("write ", "asyncio/selector_events.py")],
}

CLIENT_PARTS: dict[str, list[tuple[str, ...]]] = {
    "mcp.shared.session (send_request / receive loop)": [("mcp/shared/session.py",)],
    "mcp stdio transport": [("mcp/client/stdio",)],
    "pydantic (validation / serialisation)": [("pydantic/",), ("pydantic_core",)],
    "mcp.types models": [("mcp/types.py",)],
    "anyio memory streams": [("anyio/streams/memory.py",)],
    "bench harness (roundtrip.py)": [("bench/roundtrip.py",)],
}


def read_raw(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def _matches(frame: str, patterns: list[tuple[str, ...]]) -> bool:
    return any(all(piece in frame for piece in pattern) for pattern in patterns)


def _short(frame: str) -> str:
    """`fn (path/to/file.py:12)` -> `fn (file.py)`, keeping the package for context."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    keep = "/".join(parts[-2:]) if len(parts) >= 2 else path
    return f"{name} ({keep})"


def _package(frame: str) -> str:
    """Who owns a frame's code: taskapp, a site-packages distribution, or the stdlib module."""
    path = frame.partition(" (")[2].rstrip(")").rsplit(":", 1)[0]
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/taskapp/" in path:
        return "taskapp"
    if "/bench/" in path:
        return "bench harness"
    if "/lib/python3" in path:
        module = path.split("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(".py")
        return f"stdlib {module}"
    return "other"


def analyse(path: Path, parts: dict[str, list[tuple[str, ...]]], seconds: float) -> dict[str, Any]:
    stacks = read_raw(path)
    total = sum(count for _, count in stacks)
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    taskapp_inclusive: Counter[str] = Counter()
    loop_self = 0
    for frames, count in stacks:
        for name, patterns in parts.items():
            if patterns and any(_matches(f, patterns) for f in frames):
                inclusive[name] += count
        leaf = frames[-1] if frames else "?"
        own[_short(leaf)] += count
        packages[_package(leaf)] += count
        if "asyncio/" in leaf or "selectors.py" in leaf:
            loop_self += count
        seen = set()
        for frame in frames:
            if "/taskapp/" in frame:
                key = _short(frame)
                if key not in seen:
                    seen.add(key)
                    taskapp_inclusive[key] += count
    if "asyncio event loop itself (self time)" in parts:
        inclusive["asyncio event loop itself (self time)"] = loop_self

    def pct(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    return {
        "samples": total,
        "cpu_busy_pct": round(100 * total / (RATE * seconds), 1),
        "parts": [(name, pct(n)) for name, n in inclusive.most_common()],
        "self": [(name, pct(n)) for name, n in own.most_common(15)],
        "packages": [(name, pct(n)) for name, n in packages.most_common(10)],
        "taskapp_inclusive": [(name, pct(n)) for name, n in taskapp_inclusive.most_common(20)],
    }


def spy(pid: int, seconds: float, out: Path, fmt: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            PY_SPY,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            str(RATE),
            "--nonblocking",
            "--full-filenames",
            "--format",
            fmt,
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def load_while(driver: rt.Driver, inflight: int, proc: subprocess.Popen[bytes]) -> None:
    """Keep `inflight` round trips going until py-spy has finished."""
    stop = False

    async def worker() -> None:
        while not stop:
            await driver.roundtrip()

    async def watch() -> None:
        nonlocal stop
        await anyio.to_thread.run_sync(proc.wait)
        stop = True

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            for _ in range(inflight):
                tg.start_soon(worker)


async def profile(seconds: float, bench_dir: Path) -> dict[str, Any]:
    found = {t.label: t for t in rt.targets(None)}
    out: dict[str, Any] = {"seconds": seconds, "rate": RATE}
    async with rt.mcp_driver(found["taskapp/stdio"]) as driver:
        assert driver.pid is not None, "could not find the server's pid"
        for _ in range(200):  # warm up
            await driver.roundtrip()
        for inflight in (1, 32):
            raw = bench_dir / f"profile-server-{inflight}.raw.txt"
            client_raw = bench_dir / f"profile-client-{inflight}.raw.txt"
            server_spy = spy(driver.pid, seconds, raw, "raw")
            client_spy = spy(os.getpid(), seconds, client_raw, "raw")
            await load_while(driver, inflight, server_spy)
            client_spy.wait(30)
            out[f"server_{inflight}"] = analyse(raw, PARTS, seconds)
            out[f"client_{inflight}"] = analyse(client_raw, CLIENT_PARTS, seconds)
        svg = spy(driver.pid, seconds, bench_dir / "profile.svg", "flamegraph")
        await load_while(driver, 32, svg)
    # The same at --log-level info (every task's creation and end logged), 32 in flight.
    async with rt.mcp_driver(found["taskapp-loginfo/stdio"]) as driver:
        assert driver.pid is not None
        for _ in range(200):
            await driver.roundtrip()
        raw = bench_dir / "profile-server-loginfo-32.raw.txt"
        await load_while(driver, 32, spy(driver.pid, seconds, raw, "raw"))
        out["server_loginfo_32"] = analyse(raw, PARTS, seconds)
    # Streamable HTTP, sequential: the transport's own share.
    async with rt.mcp_driver(found["taskapp/http"]) as driver:
        assert driver.pid is not None
        for _ in range(50):
            await driver.roundtrip()
        raw = bench_dir / "profile-server-http-1.raw.txt"
        await load_while(driver, 1, spy(driver.pid, seconds, raw, "raw"))
        out["server_http_1"] = analyse(raw, PARTS | HTTP_PARTS, seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    result = anyio.run(profile, args.seconds, rt.BENCH)
    sys.stdout.write(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
