"""FastMCP 4 (fastmcp-tasks, SEP-2663) serving the benchmark's `noop` as a task, over HTTP.

Run with the FastMCP 4 side venv's Python (tests/fastmcp4/requirements.lock), on the same
HTTP stack as the other 2026 servers: uvicorn, h11, the asyncio loop, one worker.

    python bench/servers/fastmcp4_noop.py --port 8766 --backend memory://
    python bench/servers/fastmcp4_noop.py --port 8766 --backend redis://127.0.0.1:6379/0

The backend is Docket's URL (`memory://` or `redis://`): task state and the work queue.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn
from fastmcp import FastMCP
from fastmcp_tasks import TasksExtension


def build(backend: str, name: str) -> FastMCP:
    mcp = FastMCP("fastmcp4-noop")
    mcp.add_extension(TasksExtension(url=backend, name=name))

    @mcp.tool(task=True)
    async def noop() -> str:
        """Return "ok" at once."""
        return "ok"

    return mcp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", default="memory://")
    parser.add_argument("--name", default="bench", help="the Docket queue's name")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    app = build(args.backend, args.name).http_app(path="/mcp", stateless_http=True)
    uvicorn.Config  # noqa: B018 (same settings as bench/servers/stub2026.py and taskapp run)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, lifespan="on", log_config=None,
        access_log=False, log_level="warning", loop="asyncio", http="h11", ws="none",
    )  # fmt: skip


if __name__ == "__main__":
    main()
