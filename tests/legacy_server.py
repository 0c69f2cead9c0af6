"""A 2025-only MCP server (the official `mcp` 1.x SDK's FastMCP) for the client's era fallback.

Run it: `python tests/legacy_server.py` (stdio) or `python tests/legacy_server.py http PORT`.
It knows nothing of 2026-07-28: `server/discover` is an unknown request to it.
"""

from __future__ import annotations

import sys

from mcp.server.fastmcp import FastMCP

mcp = FastMCP("legacy-only")


@mcp.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        mcp.settings.port = int(sys.argv[2])
        mcp.settings.log_level = "WARNING"
        mcp.run("streamable-http")
    else:
        mcp.run("stdio")
