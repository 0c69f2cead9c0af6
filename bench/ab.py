"""Two checkouts of taskapp (and the do-nothing stub), measured in alternating blocks.

    git worktree add /tmp/base HEAD~1
    python bench/ab.py . /tmp/base            # stdio, official client, + the stub
    python bench/ab.py . /tmp/base --http2026 # HTTP 2026-07-28 tasks/get: server CPU

stdio (the default): both servers run `bench/servers/taskapp_noop.py` with
`--log-level warning`, each with its checkout first on PYTHONPATH, beside
`bench/servers/stub.py` (the client-bound limit), one official client each, and stay
up for the whole run. One round trip is a task-augmented `tools/call` and its
`tasks/result`. The blocks alternate (A B S, S B A, ...) so that a quiet or a busy
moment of the host falls on all, and the result is the median of the per-pair ratios:
on a shared host that is steadier than a ratio of two totals (run.py --baseline), and
it resolves a few percent, which is what a change on the critical path is worth.

--http2026: both servers serve the same app over Streamable HTTP; a lean httpx client
sends 2026-07-28 requests (the `_meta` envelope and the routing headers), creates one
task, then polls it with `tasks/get`. Each block reads the server process's CPU time
(every thread's, from /proc, in nanoseconds) before and after, so the number is the
server's own cost per request, whatever the client spends.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parent.parent
APP = f"{REPO / 'bench' / 'servers' / 'taskapp_noop.py'}:app"
STUB = REPO / "bench" / "servers" / "stub.py"
VERSION = "2026-07-28"


async def _block(session: Any, count: int) -> float:
    import mcp.types as types

    start = time.perf_counter()
    for _ in range(count):
        created = await session.experimental.call_tool_as_task("noop", {})
        await session.experimental.get_task_result(created.task.taskId, types.CallToolResult)
    return count / (time.perf_counter() - start)


def _order(i: int, n: int) -> list[int]:
    return list(range(n)) if i % 2 == 0 else list(reversed(range(n)))


def _report(labels: list[str], values: list[list[float]], unit: str, fmt: str) -> None:
    for label, series in zip(labels, values, strict=True):
        print(f"{label:30s} median {format(statistics.median(series), fmt)} {unit}")
    for k in range(1, len(labels)):
        ratios = [a / b for a, b in zip(values[0], values[k], strict=True)]
        q1, q2, q3 = statistics.quantiles(ratios, n=4)
        print(
            f"{labels[0]} / {labels[k]}, per block: median {q2:.3f}x "
            f"(quartiles {q1:.3f}x, {q3:.3f}x)"
        )
    if len(labels) == 3:
        ratios = [b / s for b, s in zip(values[1], values[2], strict=True)]
        print(f"{labels[1]} / {labels[2]}, per block: median {statistics.median(ratios):.3f}x")


async def stdio(checkouts: list[Path], blocks: int, size: int, with_stub: bool) -> None:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    taskapp = Path(sys.executable).with_name("taskapp")  # this venv's console script
    servers = [
        StdioServerParameters(
            command=str(taskapp),
            args=["run", APP, "--log-level", "warning"],
            env={**os.environ, "PYTHONPATH": str(checkout.resolve())},
            cwd=str(REPO),
        )
        for checkout in checkouts
    ]
    labels = [str(c) for c in checkouts]
    if with_stub:
        servers.append(StdioServerParameters(command=sys.executable, args=[str(STUB)]))
        labels.append("stub")
    async with contextlib.AsyncExitStack() as stack:
        devnull = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115, ASYNC230
        sessions = []
        for params in servers:
            read, write = await stack.enter_async_context(stdio_client(params, errlog=devnull))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            await _block(session, size)  # warm up
            sessions.append(session)
        rates: list[list[float]] = [[] for _ in sessions]
        for i in range(blocks):
            for k in _order(i, len(sessions)):
                rates[k].append(await _block(sessions[k], size))
    print("stdio, official client, sequential task round trips (higher is better)")
    _report(labels, rates, "/s", "7.0f")


# -- HTTP 2026-07-28 ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of a process so far, in ns (/proc/PID/task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


class Modern:
    """A lean 2026-07-28 client: one POST per request, the envelope and routing headers."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.next_id = 0
        self.meta = {
            "io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": {
                "extensions": {"io.modelcontextprotocol/tasks": {}}
            },
            "io.modelcontextprotocol/clientInfo": {"name": "ab", "version": "0"},
        }

    async def request(self, method: str, params: dict[str, Any], name: str | None) -> Any:
        self.next_id += 1
        headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": VERSION,
            "mcp-method": method,
        }
        if name is not None:
            headers["mcp-name"] = name
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method,
                "params": {**params, "_meta": self.meta}}  # fmt: skip
        response = await self.client.post("/mcp", json=body, headers=headers)
        response.raise_for_status()
        answer = response.json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]


async def _http_block(modern: Modern, pid: int, task_id: str, count: int) -> tuple[float, float]:
    """(tasks/get per second, server CPU us per tasks/get) over `count` requests."""
    cpu, start = cpu_ns(pid), time.perf_counter()
    for _ in range(count):
        await modern.request("tasks/get", {"taskId": task_id}, task_id)
    elapsed, used = time.perf_counter() - start, cpu_ns(pid) - cpu
    return count / elapsed, used / count / 1000


async def http2026(checkouts: list[Path], blocks: int, size: int) -> None:
    import httpx

    taskapp = Path(sys.executable).with_name("taskapp")
    labels = [str(c) for c in checkouts]
    with contextlib.ExitStack() as stack:
        servers: list[tuple[subprocess.Popen[bytes], str]] = []
        for checkout in checkouts:
            port = _free_port()
            command = [str(taskapp), "run", APP, "--transport", "http", "--port", str(port)]
            process = subprocess.Popen(  # noqa: ASYNC220
                [*command, "--log-level", "warning"],
                env={**os.environ, "PYTHONPATH": str(checkout.resolve())},
                cwd=str(REPO),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            stack.callback(process.wait, 10)
            stack.callback(process.terminate)
            servers.append((process, f"http://127.0.0.1:{port}"))
        clients = []
        async with contextlib.AsyncExitStack() as astack:
            for process, url in servers:
                client = await astack.enter_async_context(httpx.AsyncClient(base_url=url))
                for _ in range(100):
                    try:
                        await client.get("/mcp")
                        break
                    except httpx.TransportError:
                        await anyio.sleep(0.1)
                modern = Modern(client)
                created = await modern.request(
                    "tools/call", {"name": "noop", "arguments": {}}, "noop"
                )
                task_id = created.get("taskId") or created.get("task", {}).get("taskId")
                if not isinstance(task_id, str):
                    raise RuntimeError(f"tools/call made no task: {created}")
                await _http_block(modern, process.pid, task_id, size)  # warm up
                clients.append((modern, process.pid, task_id))
            rates: list[list[float]] = [[] for _ in clients]
            cpus: list[list[float]] = [[] for _ in clients]
            for i in range(blocks):
                for k in _order(i, len(clients)):
                    rate, cpu = await _http_block(*clients[k], size)
                    rates[k].append(rate)
                    cpus[k].append(cpu)
    print("HTTP 2026-07-28, lean client, sequential tasks/get (higher is better)")
    _report(labels, rates, "/s", "7.0f")
    print("server CPU per tasks/get (lower is better)")
    _report(labels, cpus, "us", "7.1f")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="checkout A (e.g. .)")
    parser.add_argument("b", type=Path, help="checkout B (e.g. /tmp/base)")
    parser.add_argument("--blocks", type=int, default=24, help="blocks per server")
    parser.add_argument("--size", type=int, default=250, help="requests per block")
    parser.add_argument("--no-stub", action="store_true", help="stdio: leave out the stub")
    parser.add_argument("--http2026", action="store_true", help="HTTP 2026 tasks/get instead")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # mcp's experimental API
    if args.http2026:
        anyio.run(http2026, [args.a, args.b], args.blocks, args.size)
    else:
        anyio.run(stdio, [args.a, args.b], args.blocks, args.size, not args.no_stub)
