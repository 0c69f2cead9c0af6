"""`taskapp tasks`: an operator's view of a task store (list, get, result, cancel)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from .._logging import configure_logging
from ..engine import TaskEngine, TaskTerminalError
from ..records import ErrorOutcome, ResultOutcome, TaskRecord, TaskStatus, ToolOutcome
from ..stores import (
    CannotListAllOwnersError,
    TaskFilter,
    TaskNotFoundError,
    TaskStore,
    all_owners,
    open_store,
)
from ..wire.mcp2025 import call_tool_result, related, task_json, timestamp, wire_status
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    cells,
    content_text,
    err,
    fail,
    out,
    out_json,
    table_console,
)

EPILOG = """\
examples:
  taskapp tasks list --store sqlite:///tasks.db
  taskapp tasks list --store sqlite:///tasks.db --owner principal:alice --json
  taskapp tasks list --store redis://localhost:6379/0 --all --status working
  taskapp tasks get --store sqlite:///tasks.db TASK_ID
  taskapp tasks result --store sqlite:///tasks.db TASK_ID
  taskapp tasks cancel --store sqlite:///tasks.db TASK_ID

The store is read directly, not through a server: point --store at the store
your servers use (default: $TASKAPP_STORE). memory:// lives inside one process.

owners: `list` shows one owner's tasks, by default the tasks without an owner
(those made over stdio). Over HTTP a task belongs to principal:<subject> (with
auth) or session:<id> (without): pass --owner, or --all for every owner's tasks,
newest first, with each owner in full. get, result and cancel take any owner's task.

cancel marks the task cancelled at once: clients see `cancelled`, and that is
final. The process running the function stops it when it sees the change (on
a shared store such as SQLite, engines watch the tasks they run).

exit codes: 0 done; 1 no such task, no result yet, an error result, or (cancel)
the task has already ended; 2 bad usage (no store, bad store URL).
"""


def add_parser(commands: Any) -> None:
    tasks = commands.add_parser(
        "tasks",
        help="list, show, and cancel the tasks in a store",
        description="An operator's view of a task store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _store_options(tasks, os.environ.get("TASKAPP_STORE"), False)
    # Before or after the action: `tasks --store URL list` and `tasks list --store URL`.
    common = argparse.ArgumentParser(add_help=False)
    _store_options(common, argparse.SUPPRESS, argparse.SUPPRESS)
    actions = tasks.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = _action(actions, "list", "list the tasks of one owner, oldest first", common)
    listing.add_argument("--owner", default=None, help="whose tasks (default: no owner)")
    listing.add_argument(
        "--all", action="store_true",
        help="every owner's tasks, newest first (with --owner: that owner's, newest first)",
    )  # fmt: skip
    listing.add_argument(
        "--status", action="append", choices=[s.value for s in TaskStatus], default=[],
        help="with --all: only tasks in this status (repeatable)",
    )  # fmt: skip
    listing.add_argument("--tool", default=None, help="with --all: only this tool's tasks")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.add_argument("--cursor", default=None, help="go on from a listing's nextCursor")
    for name, text in (
        ("get", "show one task"),
        ("result", "print a task's result (as `taskapp call` would)"),
        ("cancel", "cancel a task that has not ended"),
    ):
        _action(actions, name, text, common).add_argument(
            "task_id", metavar="TASK_ID", help="the task's ID (after --, if it starts with -)"
        )


def _store_options(parser: argparse.ArgumentParser, store: Any, json_default: Any) -> None:
    parser.add_argument(
        "--store",
        default=store,
        help="the store's URL, e.g. sqlite:///tasks.db (default: $TASKAPP_STORE)",
    )
    parser.add_argument(
        "--json", action="store_true", default=json_default, help="print JSON, not a table"
    )


def _action(
    actions: Any, name: str, text: str, common: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(
        name,
        parents=[common],
        help=text,
        description=text[0].upper() + text[1:] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def run(args: argparse.Namespace) -> int:
    configure_logging("warning")
    try:
        store = _store(args.store)
        code: int = anyio.run(_run, store, args)
    except CliError as exc:
        fail(str(exc))
        return exc.code
    return code


def _store(url: str | None) -> TaskStore:
    if not url:
        raise CliError("which store? pass --store URL (e.g. sqlite:///tasks.db), or TASKAPP_STORE")
    if url.startswith("memory:"):
        raise CliError(f"{url} lives inside the process that uses it; pass a shared store's URL")
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise CliError(f"no SQLite database at {url.removeprefix('sqlite:///')!r} ({url})")
    try:
        return open_store(url)
    except ValueError as exc:
        raise CliError(str(exc)) from None


async def _run(store: TaskStore, args: argparse.Namespace) -> int:
    await store.open()
    try:
        if args.action == "list":
            return await _list(store, args)
        record = await store.get(args.task_id, now=time.time())
        if record is None:
            fail(f"no task {args.task_id!r} in the store (never made, deleted, or expired)")
            return EXIT_FAILED
        if args.action == "get":
            return _get(record, args.json)
        if args.action == "result":
            return _result(record, args.json)
        return await _cancel(store, record, args.json)
    finally:
        await store.close()


async def _list(store: TaskStore, args: argparse.Namespace) -> int:
    if (args.status or args.tool) and not args.all:
        raise CliError("--status and --tool filter an operator's listing: add --all")
    lister = _lister(store, args)
    records: list[TaskRecord] = []
    cursor: str | None = args.cursor
    while len(records) < args.limit:
        limit, now = min(100, args.limit - len(records)), time.time()
        page, cursor = await lister(cursor=cursor, limit=limit, now=now)
        records.extend(page)
        if cursor is None:
            break
    if args.json:
        listing: dict[str, Any] = {"tasks": [summary(r) for r in records]}
        if cursor is not None:
            listing["nextCursor"] = cursor
        out_json(listing)
        return EXIT_OK
    if not records:
        if args.all:
            err("no tasks match" if args.status or args.tool or args.owner else "no tasks")
            return EXIT_OK
        whose = f"owned by {args.owner!r}" if args.owner else "without an owner"
        err(f"no tasks {whose}; tasks made over HTTP have one (see --owner, or --all)")
        return EXIT_OK
    _table(records)
    if cursor is not None:
        out(f"(more: --cursor {cursor})")
    return EXIT_OK


def _lister(store: TaskStore, args: argparse.Namespace) -> Any:
    """`list_tasks` of one owner, or with --all the store's `list_all` (newest first)."""
    if not args.all:
        return functools.partial(store.list_tasks, args.owner)
    try:
        every = all_owners(store)
    except CannotListAllOwnersError as exc:
        raise CliError(str(exc)) from None
    statuses = frozenset(TaskStatus(value) for value in args.status)
    where = TaskFilter(statuses=statuses, tool=args.tool, owner=args.owner)
    return functools.partial(every.list_all, where)


def _table(records: list[TaskRecord]) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("id", "status", "tool", "owner", "created", "updated", "message"):
        table.add_column(column, no_wrap=column != "message", overflow="fold")
    for r in records:
        row = (r.task_id, wire_status(r), r.tool, r.owner or "-", _time(r.created_at))
        table.add_row(*cells(*row, _time(r.updated_at), r.status_message or ""))
    table_console().print(table)


def summary(record: TaskRecord) -> dict[str, Any]:
    """The task as a 2025-11-25 client sees it, with the tool and the owner."""
    return {**task_json(record), "tool": record.tool, "owner": record.owner}


def details(record: TaskRecord) -> dict[str, Any]:
    lease = record.lease_until
    return {
        **summary(record),
        "arguments": record.arguments,
        "expiresAt": None if record.expires_at is None else timestamp(record.expires_at),
        "runner": record.runner,
        "leaseUntil": None if lease is None else timestamp(lease),
    }


def _get(record: TaskRecord, as_json: bool) -> int:
    from rich.table import Table

    shown = details(record)
    if as_json:
        out_json(shown)
        return EXIT_OK
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in shown.items():
        text = "-" if value is None else value if isinstance(value, str) else json.dumps(value)
        table.add_row(*cells(key, text))
    table_console().print(table)
    return EXIT_OK


def _result(record: TaskRecord, as_json: bool) -> int:
    outcome = record.outcome
    if outcome is None:
        fail(f"task {record.task_id} is {wire_status(record)}: it has no result yet")
        return EXIT_FAILED
    if record.status is TaskStatus.CANCELLED and not as_json:
        fail(f"task {record.task_id} was cancelled: it has no result")
        return EXIT_FAILED
    if isinstance(outcome, ResultOutcome):
        out_json(outcome.result)
        return EXIT_OK
    if isinstance(outcome, ErrorOutcome):
        if as_json:
            error = {"code": outcome.code, "message": outcome.message, "data": outcome.data}
            out_json({"error": {k: v for k, v in error.items() if v is not None}})
        else:
            fail(f"task {record.task_id} failed: {outcome.message} (JSON-RPC error {outcome.code})")
        return EXIT_FAILED
    return _tool_result(record, outcome, as_json)


def _tool_result(record: TaskRecord, outcome: ToolOutcome, as_json: bool) -> int:
    if as_json:
        out_json(call_tool_result(outcome, related(record.task_id)))
    elif outcome.is_error:
        fail(f"task {record.task_id} ({record.tool}) failed: {content_text(outcome.content)}")
    else:
        out(content_text(outcome.content))
    return EXIT_FAILED if outcome.is_error else EXIT_OK


async def _cancel(store: TaskStore, record: TaskRecord, as_json: bool) -> int:
    # The engine is not entered: its sweeper and orphan recovery belong to servers,
    # and recovering here would fail tasks that a server would rather re-run.
    engine = TaskEngine(store)
    try:
        cancelled = await engine.cancel(record.task_id, record.owner)
    except TaskTerminalError as exc:
        fail(f"task {record.task_id} has already ended: it is {wire_status(exc.record)}")
        return EXIT_FAILED
    except TaskNotFoundError:
        fail(f"no task {record.task_id!r} in the store (it expired meanwhile)")
        return EXIT_FAILED
    if as_json:
        out_json(summary(cancelled))
    else:
        out(f"cancelled task {record.task_id}")
    return EXIT_OK


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
