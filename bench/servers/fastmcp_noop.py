"""FastMCP 3.x with its SEP-1686 background tasks (pydocket, memory:// backend): one `noop` tool.

Runs in its own venv (bench/.venvs/fastmcp, made by bench/run.py), since FastMCP
pins its own versions of mcp and friends.

stdio:  bench/.venvs/fastmcp/bin/python bench/servers/fastmcp_noop.py
HTTP:   bench/.venvs/fastmcp/bin/python bench/servers/fastmcp_noop.py --http --port 8767

The docket worker runs at most FASTMCP_DOCKET_CONCURRENCY tasks at once
(FastMCP's default is 10); bench/run.py leaves it at the default unless told.
"""

from __future__ import annotations

import argparse

from fastmcp import FastMCP

mcp = FastMCP("fastmcp-noop")


@mcp.tool(task=True)  # taskSupport "optional"
async def noop() -> str:
    """Return "ok" at once."""
    return "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", action="store_true", help="Streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    args = parser.parse_args()
    if args.http:
        mcp.run(
            transport="http",
            host=args.host,
            port=args.port,
            path="/mcp",
            show_banner=False,
            log_level="WARNING",
        )
    else:
        mcp.run(show_banner=False, log_level="WARNING")


if __name__ == "__main__":
    main()
