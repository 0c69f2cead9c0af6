"""What the mcp 2.x client scripts share: where the server is, how to answer, what to print.

These scripts run under a Python with `mcp==2.3.0` installed (from requirements.lock), never
under the test virtualenv, and import nothing from taskapp. Each prints one JSON object per
line on stdout (`{"event": ..., ...}`); tests/test_interop_mcp2.py reads and checks them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.client import ClientRequestContext
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout, flushed at once: the test may be waiting on it."""
    sys.stdout.write(json.dumps({"event": event, **fields}, default=str) + "\n")
    sys.stdout.flush()


def parse_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the options; everything after the first `--` is the stdio server command."""
    parser.add_argument("--url", help="a Streamable HTTP endpoint (else: the command after --)")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.command = argv[cut + 1 :]
    if not args.url and not args.command:
        parser.error("give --url URL, or -- COMMAND ARGS... to run a server over stdio")
    return args


def server_of(args: argparse.Namespace) -> str | StdioServerParameters:
    """The `server` argument of `mcp.client.Client`: a URL, or a stdio command."""
    if args.url:
        return str(args.url)
    return StdioServerParameters(command=args.command[0], args=args.command[1:])


def error_fields(exc: MCPError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, "data": exc.data}


def text_of(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


class Answerer:
    """The client's elicitation callback: one fixed answer, each question reported.

    With `wait_stdin`, it first waits for a line on stdin, so that a test can hold the
    answer back until another client has reached the same point.
    """

    def __init__(self, content: dict[str, Any] | None, *, wait_stdin: bool = False) -> None:
        self.content = content
        self.wait_stdin = wait_stdin

    async def __call__(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        message = getattr(params, "message", None)
        emit("elicited", key=context.request_id, message=message, mode=params.mode)
        if self.wait_stdin:
            emit("holding", key=context.request_id)
            await anyio.to_thread.run_sync(sys.stdin.readline)
        if self.content is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content=self.content)


def json_argument(text: str | None) -> Any:
    return None if text is None else json.loads(text)
