"""MCP 2026-07-28 task round trips over HTTP: taskapp against FastMCP 4, and the limit.

    python bench/modern.py            # ~2 minutes on 2 cores; writes its block of RESULTS.md
    python bench/modern.py --quick    # fewer bursts, prints only
    python bench/modern.py --only taskapp-memory,stub --rounds 8

Servers (each its own process, the same HTTP stack: uvicorn, h11, the asyncio loop):

- taskapp-memory: `taskapp run bench/servers/taskapp_noop.py:app --transport http`
- taskapp-redis: the same with `--store redis://` (a private redis-server this script starts)
- fastmcp4-memory, fastmcp4-redis: bench/servers/fastmcp4_noop.py, FastMCP 4.1.4 with
  fastmcp-tasks 4.1.4 (Docket `memory://`, `redis://`), from the locked side venv
  (tests/fastmcp4/requirements.lock, built once by tests/side_venv.py)
- stub: bench/servers/stub2026.py, a bare ASGI app that answers at once (the limit)

One lean client drives all of them: raw HTTP/1.1 over keep-alive connections (one per
request in flight), pre-encoded requests with the 2026 `_meta` envelope and the routing
headers (MCP-Protocol-Version, Mcp-Method, Mcp-Name). A round trip: `tools/call` of
`noop` with the tasks extension declared (a CreateTaskResult), then `tasks/get` back to
back until the task is terminal (its result inlined): ideally one poll.

Measured in turns (each round gives every server one burst, in a rotating order), so a
busy moment of the host falls on all alike: round trips per second at 1 (sequential),
32 and 256 in flight, and the server process's CPU time per round trip (all its
threads, /proc/PID/task/*/schedstat, over the same bursts). Redis's own CPU is shown
apart (it serves both Redis servers, one at a time).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from ab import cpu_ns
from anyio.abc import SocketStream

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VERSION = "2026-07-28"
MODES = (1, 32, 256)
BEGIN = "<!-- bench/modern.py: begin (generated; edit outside these markers) -->"
END = "<!-- bench/modern.py: end -->"
LABELS = {
    "taskapp-memory": "taskapp / memory",
    "taskapp-redis": "taskapp / Redis",
    "fastmcp4-memory": "FastMCP 4 / memory",
    "fastmcp4-redis": "FastMCP 4 / Redis",
    "stub": "stub (limit)",
}
META = {
    "io.modelcontextprotocol/protocolVersion": VERSION,
    "io.modelcontextprotocol/clientCapabilities": {
        "extensions": {"io.modelcontextprotocol/tasks": {}}
    },
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
}
TERMINAL = frozenset({"completed", "failed", "cancelled"})


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- the lean client -----------------------------------------------------------------


def _request(host: str, method: str, name: str, params: dict[str, Any], rid: int) -> bytes:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": rid, "method": method, "params": {**params, "_meta": META}},
        separators=(",", ":"),
    ).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        "accept: application/json, text/event-stream\r\n"
        f"mcp-protocol-version: {VERSION}\r\nmcp-method: {method}\r\nmcp-name: {name}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class ServerError(Exception):
    """The server answered a request with an error."""


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, stream: SocketStream, host: str) -> None:
        self.stream, self.host, self.buffer, self.next_id = stream, host, b"", 0
        self.call = _request(host, "tools/call", "noop", {"name": "noop", "arguments": {}}, 0)

    async def _read_until(self, marker: bytes) -> bytes:
        while (at := self.buffer.find(marker)) < 0:
            self.buffer += await self.stream.receive()
        found, self.buffer = self.buffer[:at], self.buffer[at + len(marker) :]
        return found

    async def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.buffer += await self.stream.receive()
        found, self.buffer = self.buffer[:size], self.buffer[size:]
        return found

    async def post(self, data: bytes) -> dict[str, Any]:
        await self.stream.send(data)
        head = (await self._read_until(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = head[0].split(" ", 2)[1]
        fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        if "content-length" in fields:
            body = await self._read(int(fields["content-length"]))
        elif fields.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(await self._read_until(b"\r\n"), 16):
                body += await self._read(size)
                await self._read_until(b"\r\n")
            await self._read_until(b"\r\n")
        else:
            raise RuntimeError(f"no length in {head}")
        if fields.get("content-type", "").startswith("text/event-stream"):
            for line in body.decode().splitlines():  # the last data line is the answer
                if line.startswith("data:"):
                    body = line[5:].encode()
        answer: dict[str, Any] = json.loads(body)
        if status != "200" or "error" in answer:
            raise ServerError(f"HTTP {status}: {answer}")
        result: dict[str, Any] = answer["result"]
        return result

    async def roundtrip(self) -> int:
        """One task round trip; the number of tasks/get it took."""
        created = await self.post(self.call)
        task_id = created.get("taskId")
        if not isinstance(task_id, str):
            raise RuntimeError(f"tools/call made no task: {created}")
        get = _request(self.host, "tasks/get", task_id, {"taskId": task_id}, 1)
        polls = 0
        while True:
            polls += 1
            got = await self.post(get)
            if got.get("status") in TERMINAL:
                if got["status"] != "completed" or "result" not in got:
                    raise RuntimeError(f"not completed with its result inlined: {got}")
                return polls


# -- the servers ----------------------------------------------------------------------


@dataclass
class Server:
    name: str
    command: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    connections: dict[int, Connection] = field(default_factory=dict)
    cells: dict[int, list[tuple[int, float, int, int]]] = field(default_factory=dict)
    polls: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    last_error: str = ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def connection(self, k: int) -> Connection:
        if k not in self.connections:
            stream = await anyio.connect_tcp("127.0.0.1", self.port)
            self.connections[k] = Connection(stream, f"127.0.0.1:{self.port}")
        return self.connections[k]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fastmcp4_python() -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from side_venv import side_venv  # type: ignore[import-not-found, unused-ignore]

    return Path(side_venv("fastmcp4", REPO / "tests" / "fastmcp4" / "requirements.lock"))


def servers(
    names: list[str], redis_url: str | None, checkout: Path, baseline: Path | None
) -> list[Server]:
    taskapp = str(Path(sys.executable).with_name("taskapp"))
    app = f"{BENCH / 'servers' / 'taskapp_noop.py'}:app"
    out = []
    for name in names:
        port = _free_port()
        if name.startswith("taskapp"):
            store = "memory://" if "memory" in name else f"{redis_url}/0"
            if "@base" in name:  # another checkout, its own Redis database and prefix
                store = "memory://" if "memory" in name else f"{redis_url}/2"
            command = [taskapp, "run", app, "--transport", "http", "--port", str(port),
                       "--log-level", "warning", "--loop", "asyncio", "--store", store]  # fmt: skip
            env = {"PYTHONPATH": str(baseline if "@base" in name and baseline else checkout)}
        elif name.startswith("fastmcp4"):
            backend = "memory://" if name == "fastmcp4-memory" else f"{redis_url}/1"
            script = str(BENCH / "servers" / "fastmcp4_noop.py")
            command = [str(fastmcp4_python()), script, "--port", str(port), "--backend", backend]
            env = {}
        else:
            command = [sys.executable, str(BENCH / "servers" / "stub2026.py"), "--port", str(port)]
            env = {}
        out.append(Server(name, command, port, env))
    return out


@contextlib.contextmanager
def running(group: list[Server]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for server in group:
            server.process = subprocess.Popen(
                server.command, env={**os.environ, **server.env}, cwd=str(REPO),
                stdout=subprocess.DEVNULL, stderr=LOGS.open("ab"),
            )  # fmt: skip
            stack.callback(server.process.wait, 10)
            stack.callback(server.process.terminate)
        yield


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, int] | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"redis://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(10)


# -- measuring ------------------------------------------------------------------------


async def burst(server: Server, inflight: int, seconds: float, warmup: float) -> None:
    """Drive `inflight` workers; count what ends in [warmup, warmup + seconds]."""
    done = polls = 0
    stop = False
    ready = anyio.Event()
    started = 0

    async def worker(k: int) -> None:
        nonlocal done, polls, started
        connection = await server.connection(k)
        first = True
        while not stop:
            try:
                n = await connection.roundtrip()
                done, polls = done + 1, polls + n
            except ServerError as exc:  # answered with an error: counted, and go on
                server.errors[inflight] = server.errors.get(inflight, 0) + 1
                server.last_error = str(exc)[:200]
                await anyio.sleep(0.01)
            if first:
                first, started = False, started + 1
                if started == inflight:
                    ready.set()

    for old in server.connections.values():  # uvicorn closes keep-alive connections idle for 5 s
        await old.stream.aclose()
    server.connections.clear()
    async with anyio.create_task_group() as tg:
        for k in range(inflight):
            tg.start_soon(worker, k)
        with anyio.move_on_after(FILL_S):  # a server that cannot: measured as it is
            await ready.wait()
        await anyio.sleep(warmup)
        n0, p0, cpu0, t0 = done, polls, cpu_ns(server.pid), time.perf_counter()
        redis0 = cpu_ns(REDIS_PID[0]) if REDIS_PID else 0
        await anyio.sleep(seconds)
        n1, p1, cpu1, t1 = done, polls, cpu_ns(server.pid), time.perf_counter()
        redis1 = cpu_ns(REDIS_PID[0]) if REDIS_PID else 0
        stop = True
        tg.cancel_scope.deadline = anyio.current_time() + 10  # a request that never ends
    server.cells.setdefault(inflight, []).append((n1 - n0, t1 - t0, cpu1 - cpu0, redis1 - redis0))
    server.polls += p1 - p0


REDIS_PID: list[int] = []
FILL_S = 20.0  # how long a burst waits for every worker's first round trip
LOGS = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-modern.log"  # the servers' stderr


@dataclass
class Plan:
    rounds: dict[int, int]
    burst: dict[int, float]
    warmup: dict[int, float]


def plan(quick: bool, rounds: int | None) -> Plan:
    n = rounds or (3 if quick else 6)
    return Plan(
        rounds={1: n, 32: n, 256: 2},
        burst={1: 0.5, 32: 0.5, 256: 1.0},
        warmup={1: 0.1, 32: 0.2, 256: 0.3},
    )


async def measure(group: list[Server], p: Plan, modes: tuple[int, ...]) -> None:
    for server in group:  # up, and warm: imports, caches, lazy set-up
        for _ in range(200):
            try:
                connection = await server.connection(0)
                break
            except OSError:
                await anyio.sleep(0.1)
        else:
            raise RuntimeError(f"{server.name} did not start: {' '.join(server.command)}")
        for _ in range(100):
            await connection.roundtrip()
    for inflight in modes:
        t0 = time.perf_counter()
        for r in range(p.rounds[inflight]):
            turn = group[r % len(group) :] + group[: r % len(group)]
            for server in reversed(turn) if r % 2 else turn:
                await burst(server, inflight, p.burst[inflight], p.warmup[inflight])
        say(
            f"  {inflight:>3} in flight ({time.perf_counter() - t0:.0f} s): "
            + "  ".join(f"{s.name} {rate(s, inflight):,.0f}/s" for s in group)
        )


def rate(server: Server, inflight: int) -> float:
    cells = server.cells.get(inflight, [])
    return sum(c[0] for c in cells) / max(1e-9, sum(c[1] for c in cells))


def cpu_us(server: Server, inflight: int, which: int = 2) -> float:
    cells = server.cells.get(inflight, [])
    return sum(c[which] for c in cells) / max(1, sum(c[0] for c in cells)) / 1000


# -- the report -----------------------------------------------------------------------


def results(group: list[Server]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in group:
        total = sum(c[0] for c in s.cells.get(1, []))
        out[s.name] = {
            "rate": {m: rate(s, m) for m in MODES if m in s.cells},
            "cpu_us": {m: cpu_us(s, m) for m in MODES if m in s.cells},
            "redis_cpu_us": {m: cpu_us(s, m, 3) for m in MODES if m in s.cells},
            "bursts": {m: [round(c[0] / c[1]) for c in s.cells[m]] for m in s.cells},
            "polls_per_rt": s.polls / max(1, sum(sum(c[0] for c in v) for v in s.cells.values())),
            "sequential_rts": total,
            "errors": s.errors,
            "last_error": s.last_error,
        }
    return out


def _n(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def table(res: dict[str, Any]) -> str:
    uses_redis = any("redis" in k for k in res)
    head = "| server | sequential rt/s | 32 in flight | 256 in flight | server CPU µs/rt (seq.) "
    head += "| server CPU µs/rt (32) | polls/rt |" + (
        " Redis CPU µs/rt (seq.) |" if uses_redis else ""
    )
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for name, r in res.items():
        row = [LABELS.get(name, name)]
        for m in MODES:
            errors = r["errors"].get(m)
            row.append(_n(r["rate"].get(m)) + (f" ({errors:,} errors)" if errors else ""))
        row += [_n(r["cpu_us"].get(1)), _n(r["cpu_us"].get(32)), _n(r["polls_per_rt"], 2)]
        if uses_redis:
            row.append(_n(r["redis_cpu_us"].get(1)) if "redis" in name else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _ratio(res: dict[str, Any], a: str, b: str, key: str, mode: int = 1) -> float | None:
    if a in res and b in res and res[b][key].get(mode) and res[a][key].get(mode) is not None:
        return float(res[a][key][mode]) / float(res[b][key][mode])
    return None


def targets(res: dict[str, Any]) -> str:
    rows = [
        ("sequential rt/s, taskapp / FastMCP 4, memory", "taskapp-memory", "fastmcp4-memory",
         "rate", ">=", 3.0),
        ("sequential rt/s, taskapp / FastMCP 4, Redis", "taskapp-redis", "fastmcp4-redis",
         "rate", ">=", 3.0),
        ("server CPU/rt, taskapp / FastMCP 4, memory", "taskapp-memory", "fastmcp4-memory",
         "cpu_us", "<=", 1 / 3),
        ("server CPU/rt, taskapp / FastMCP 4, Redis", "taskapp-redis", "fastmcp4-redis",
         "cpu_us", "<=", 1 / 3),
        ("sequential rt/s, taskapp Redis / taskapp memory", "taskapp-redis", "taskapp-memory",
         "rate", ">=", 0.85),
        ("server CPU/rt, taskapp memory / stub", "taskapp-memory", "stub", "cpu_us", "<=", 2.0),
        ("server CPU/rt, taskapp Redis / stub", "taskapp-redis", "stub", "cpu_us", "<=", None),
        ("server CPU/rt, FastMCP 4 memory / stub", "fastmcp4-memory", "stub", "cpu_us", "<=",
         None),
    ]  # fmt: skip
    for store in ("memory", "redis"):
        if f"taskapp-{store}@base" in res:
            base = f"taskapp-{store}@base"
            rows.append((f"server CPU/rt, taskapp {store} / its baseline", f"taskapp-{store}",
                         base, "cpu_us", "<=", None))  # fmt: skip
            rows.append((f"sequential rt/s, taskapp {store} / its baseline", f"taskapp-{store}",
                         base, "rate", ">=", None))  # fmt: skip
    lines = ["| ratio (same run) | measured | target | met |", "|---|---|---|---|"]
    for title, a, b, key, op, goal in rows:
        got = _ratio(res, a, b, key)
        if got is None:
            continue
        target = "-" if goal is None else f"{op} {goal:.2f}x"
        met = (
            "-"
            if goal is None
            else ("yes" if (got >= goal if op == ">=" else got <= goal) else "no")
        )
        lines.append(f"| {title} | {got:.2f}x | {target} | {met} |")
    return "\n".join(lines)


def errors(res: dict[str, Any]) -> str:
    said = [f"{LABELS.get(n, n)}: {r['last_error']}" for n, r in res.items() if r["errors"]]
    return "".join(f"\nErrors answered (the last one): {line}\n" for line in said)


def markdown(res: dict[str, Any], info: dict[str, Any]) -> str:
    return f"""{BEGIN}
## MCP 2026-07-28 over HTTP, run of {info["date"]} (`python bench/modern.py`)

taskapp {info["git"]}; FastMCP 4: {info["fastmcp4"]}; {info["settings"]}. One lean client
(raw HTTP/1.1, keep-alive) for all; each server its own process on uvicorn (h11,
asyncio loop). A round trip: `tools/call` (tasks extension declared) then `tasks/get`
until terminal. Server CPU: the server process's CPU time over the same bursts, per
round trip. Load average (1/5/15 min) at start / end: {info["load_start"]} /
{info["load_end"]}; whole run {info["wall_s"]} s.

{table(res)}

{targets(res)}
{errors(res)}{END}"""


def write_block(block: str, path: Path) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        text = before + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 bursts per cell; prints only")
    parser.add_argument("--only", help=f"comma list of servers: {', '.join(LABELS)}")
    parser.add_argument("--rounds", type=int, help="bursts per server at 1 and 32 in flight")
    parser.add_argument("--modes", default="1,32,256", help="requests in flight to measure")
    parser.add_argument("--checkout", type=Path, default=REPO, help="taskapp from this checkout")
    parser.add_argument(
        "--baseline", type=Path, metavar="DIR",
        help="also taskapp from this checkout (git worktree add DIR main), in the same turns",
    )  # fmt: skip
    parser.add_argument("--write", action="store_true", help="write RESULTS.md even if partial")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(LABELS)
    modes = tuple(int(m) for m in args.modes.split(","))
    started, load_start = time.perf_counter(), [round(x, 2) for x in os.getloadavg()]
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=args.checkout,
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    with redis_server() as redis:
        if redis is None:
            say("no redis-server on PATH: the Redis servers are left out")
            names = [n for n in names if "redis" not in n]
        else:
            REDIS_PID.append(redis[1])
        if args.baseline is not None:
            names += [f"{n}@base" for n in names if n.startswith("taskapp")]
        baseline = args.baseline.resolve() if args.baseline else None
        group = servers(names, redis[0] if redis else None, args.checkout.resolve(), baseline)
        p = plan(args.quick, args.rounds)
        say(f"servers: {', '.join(names)}")
        with running(group):
            anyio.run(measure, group, p, modes)
    res = results(group)
    versions = "-"
    if any(n.startswith("fastmcp4") for n in names):
        probe = "import importlib.metadata as m; print(', '.join(f'{n} {m.version(n)}' for n in ('fastmcp', 'fastmcp-tasks', 'pydocket', 'mcp')))"  # noqa: E501
        versions = subprocess.run([str(fastmcp4_python()), "-c", probe], capture_output=True,
                                  text=True).stdout.strip()  # fmt: skip
    info = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git,
        "fastmcp4": versions,
        "settings": "bursts per cell (in flight: rounds x s) "
        + ", ".join(f"{m}: {p.rounds[m]} x {p.burst[m]}" for m in modes),
        "load_start": load_start,
        "load_end": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.perf_counter() - started),
    }
    say()
    say(table(res))
    say()
    say(targets(res))
    say(f"load average at start / end: {info['load_start']} / {info['load_end']}; "
        f"{info['wall_s']} s")  # fmt: skip
    (BENCH / "results-2026.json").write_text(json.dumps({"info": info, "results": res}, indent=1))
    if (not args.only and not args.quick) or args.write:
        write_block(markdown(res, info), BENCH / "RESULTS.md")
        say("wrote bench/RESULTS.md (its bench/modern.py block) and bench/results-2026.json")


if __name__ == "__main__":
    main()
