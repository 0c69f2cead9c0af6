"""`taskapp inspect`: a server's tools, their task modes and their schemas."""

from __future__ import annotations

import argparse
from typing import Any

import anyio

from .._logging import configure_logging
from .common import (
    EXIT_OK,
    TARGET_FORMS,
    CliError,
    add_header_option,
    cells,
    connect,
    fail,
    out,
    out_json,
    params_summary,
    parse_headers,
    resolve_target,
    table_console,
)

EPILOG = """\
examples:
  taskapp inspect examples/hello.py:app
  taskapp inspect examples.hello:app --json
  taskapp inspect "taskapp run examples/hello.py:app"
  taskapp inspect http://127.0.0.1:8000/mcp --header 'Authorization: Bearer TOKEN'

A module:attr target is read in this process without starting the app (no store
is opened); a command is started and asked over stdio; a URL over HTTP.

mode is the tool's taskSupport: forbidden (never a task), optional, required.

exit codes: 0 done; 2 bad usage (the target cannot be imported or reached).
"""


def add_parser(commands: Any) -> None:
    inspect = commands.add_parser(
        "inspect",
        help="list a server's tools with their task modes and schemas",
        description=f"List the tools of a server: name, task mode, arguments. {TARGET_FORMS}.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inspect.add_argument("target", help="module:attr, path/to/file.py:attr, a URL, or a command")
    inspect.add_argument(
        "--json", action="store_true", help="print the tools/list result (with full schemas)"
    )
    inspect.add_argument(
        "--dialect",
        choices=("2025-11-25", "2026-07-28", "auto"),
        default="2025-11-25",
        help="the MCP version to ask in (default 2025-11-25: only its tools/list says which "
        "tools run as tasks; 2026-07-28 for a server that speaks only that)",
    )
    add_header_option(inspect)


def run(args: argparse.Namespace) -> int:
    from ..app import TaskApp

    configure_logging("warning")
    try:
        target = resolve_target(args.target)
        headers = parse_headers(args.header, target)
        modern = False
        if isinstance(target, TaskApp):
            server = {"name": target.name, "version": target.version}
            tools, instructions = _app_tools(target), target.instructions
        else:
            asked = anyio.run(_ask_server, target, headers, args.dialect)
            server, tools, instructions, modern = asked
    except CliError as exc:
        fail(str(exc))
        return exc.code
    if args.json:
        out_json({"tools": tools})
    else:
        _show(server, instructions, tools, modern=modern)
    return EXIT_OK


def _app_tools(app: Any) -> list[dict[str, Any]]:
    """Every page of the app's tools/list, as a 2025-11-25 client sees it."""
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = app.tools_page(cursor, with_tasks=True)
        tools.extend(page["tools"])
        cursor = page.get("nextCursor")
        if cursor is None:
            return tools


async def _ask_server(
    target: Any, headers: dict[str, str], dialect: str
) -> tuple[dict[str, Any], list[dict[str, Any]], str | None, bool]:
    options: dict[str, Any] = {"headers": headers} if headers else {}
    options["dialect"] = dialect
    async with connect(target, **options) as client:
        tools = [tool.to_wire() for tool in await client.list_tools()]
        modern = client.dialect == "2026-07-28"
        return client.server_info, tools, client.instructions, modern


def _show(
    server: dict[str, Any], instructions: str | None, tools: list[dict[str, Any]], *, modern: bool
) -> None:
    """The tools as a table. In 2026-07-28 `tools/list` says nothing of tasks (the server
    decides per call): the mode column says so rather than guess."""
    from rich.table import Table

    out(f"{server.get('name', '?')} {server.get('version', '')}".rstrip())
    if instructions:
        out(instructions)
    table = Table(show_lines=False, box=None, pad_edge=False, header_style="bold")
    for column in ("tool", "mode", "arguments", "description"):
        table.add_column(column, overflow="fold")
    for tool in tools:
        default = "server decides" if modern else "forbidden"
        mode = str((tool.get("execution") or {}).get("taskSupport", default))
        description = (tool.get("description") or "").strip().splitlines()
        table.add_row(
            *cells(
                tool["name"],
                mode,
                params_summary(tool.get("inputSchema") or {}),
                description[0] if description else "",
            ),
            style="cyan" if mode in ("optional", "required") else None,
        )
    table_console().print(table)
