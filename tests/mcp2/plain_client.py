"""The mcp 2.x high-level `Client`, in its default mode, without the tasks extension.

    plain_client.py [--answer JSON] [--call NAME ARGS_JSON]... (--url URL | -- COMMAND...)

Connects (the SDK probes `server/discover` first and falls back to `initialize`), lists
the tools, then makes each call in order. Questions from the server (MRTR rounds in
2026-07-28) go to the elicitation callback, which answers with `--answer`.

Events: connected, tools, elicited, result | call_error, done.
"""

from __future__ import annotations

import argparse
from typing import Any

import anyio
from _common import Answerer, emit, error_fields, json_argument, parse_arguments, server_of
from mcp.client import Client
from mcp.shared.exceptions import MCPError


async def run(args: argparse.Namespace) -> None:
    answerer = Answerer(json_argument(args.answer))
    async with Client(server_of(args), elicitation_callback=answerer) as client:
        session = client.session
        info = client.server_info
        emit(
            "connected",
            protocolVersion=client.protocol_version,
            discovered=session.discover_result is not None,
            initialized=session.initialize_result is not None,
            serverInfo=None if info is None else {"name": info.name, "version": info.version},
            extensions=client.server_capabilities.extensions,
        )
        listed = await client.list_tools()
        emit(
            "tools",
            names=[tool.name for tool in listed.tools],
            execution={
                tool.name: None
                if tool.execution is None
                else tool.execution.model_dump(by_alias=True, exclude_none=True)
                for tool in listed.tools
            },
        )
        for name, arguments in args.call:
            try:
                result = await client.call_tool(name, json_argument(arguments))
            except MCPError as exc:
                emit("call_error", tool=name, **error_fields(exc))
                continue
            payload: dict[str, Any] = result.model_dump(
                by_alias=True, mode="json", exclude_none=True
            )
            emit("result", tool=name, result=payload)
    emit("done")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answer", help="the elicitation answer (JSON); decline without")
    parser.add_argument("--call", nargs=2, action="append", default=[], metavar=("NAME", "ARGS"))
    anyio.run(run, parse_arguments(parser))


if __name__ == "__main__":
    main()
