"""`taskapp call`: run one tool of a server (as a task when it can be one) and print its result."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from .._logging import configure_logging
from ..client import Client, DialectError, TaskCancelledError
from ..wire.jsonrpc import JsonRpcError
from ..wire.mcp2026 import MISSING_CAPABILITY
from ..wire.models import CallToolResult, Task, ToolInfo
from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    TARGET_FORMS,
    CliError,
    add_header_option,
    connect,
    content_text,
    fail,
    one_line,
    out,
    out_json,
    params_summary,
    parse_headers,
    resolve_target,
    server_stderr,
)
from .interrupt import EarlySigint, Interrupts, watching_sigint
from .prompt import TerminalAsker
from .view import Feedback

EPILOG = """\
examples:
  taskapp call examples/hello.py:app greet name=Ada
  taskapp call examples/hello.py:app slow_add a=1 b=2 steps=10 --json
  taskapp call "taskapp run examples/hello.py:app" greet --args '{"name": "Ada"}'
  taskapp call http://127.0.0.1:8000/mcp greet name=Ada --header 'Authorization: Bearer TOKEN'
  taskapp call examples/approval.py:app deploy service=api version=1.2
  taskapp call --dialect 2025-11-25 examples/hello.py:app greet name=Ada

dialects: auto (the default) asks the server with server/discover and speaks
MCP 2026-07-28 with the tasks extension when it can (the server decides what
runs as a task; the client polls it), else 2025-11-25 after initialize (a tool
whose task support is optional or required runs as a task).

arguments: key=value is read as JSON when it is valid JSON (a=1 is a number,
tags='["x"]' a list) and as text otherwise (name=Ada); a parameter declared as
a string always takes the text as written (version=1.2 is "1.2").

exit codes: 0 done; 1 the tool reported an error, or the task failed or was
cancelled; 2 bad usage (target, tool or arguments); 130 Ctrl-C, after the
task was cancelled on the server.
"""


def add_parser(commands: Any) -> None:
    call = commands.add_parser(
        "call",
        help="call a tool and print its result",
        description="Call one tool of a server. A tool that supports tasks runs as a task, "
        "with its progress on stderr; questions it asks are answered at the terminal; "
        f"Ctrl-C cancels it. {TARGET_FORMS[0].upper()}{TARGET_FORMS[1:]}.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    call.add_argument("target", help="module:attr, path/to/file.py:attr, a URL, or a command")
    call.add_argument("tool", help="the tool's name (see `taskapp inspect TARGET`)")
    call.add_argument("arguments", nargs="*", metavar="key=value", help="the tool's arguments")
    call.add_argument("--args", dest="args_json", metavar="JSON", help="arguments as a JSON object")
    call.add_argument("--json", action="store_true", help="print the CallToolResult as JSON")
    call.add_argument(
        "--no-task", action="store_true", help="run a tool whose task support is optional inline"
    )
    call.add_argument(
        "--ttl", type=int, metavar="MS", help="ask the task to be kept this long (2025-11-25)"
    )
    call.add_argument(
        "--dialect",
        choices=("auto", "2026-07-28", "2025-11-25"),
        default="auto",
        help="the MCP version to speak (default: auto, the newest the server speaks)",
    )
    call.add_argument(
        "--root", action="append", default=None, metavar="DIR",
        help="a root to answer roots/list with (repeatable; default: the current directory, "
        "except for a server at a URL, which gets none unless given)",
    )  # fmt: skip
    call.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the server's own log lines (and the tool's debug logs)",
    )
    add_header_option(call)


def run(args: argparse.Namespace) -> int:
    # An app served in this process logs to stderr (the live bar shows those lines above
    # it): with --verbose all of them, else its errors only (a failing tool's traceback is
    # the server's business; its error line is ours).
    configure_logging("info" if args.verbose else "error")
    try:
        target = resolve_target(args.target)
        headers = parse_headers(args.header, target)
        with EarlySigint().noting() as early:
            code: int = anyio.run(_call, args, target, headers, early)
    except CliError as exc:
        fail(str(exc))
        return exc.code
    except DialectError as exc:
        fail(f"cannot connect to {args.target}: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:  # before the SIGINT handler is on: nothing started yet
        fail("interrupted")
        return EXIT_INTERRUPTED
    return code


def roots_answer(directories: list[str]) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    """The `roots/list` answer of the command line: each directory as a file:// URI."""
    paths = [Path(directory).resolve() for directory in directories]
    roots = [{"uri": path.as_uri(), "name": path.name} for path in paths]

    async def answer(params: dict[str, Any]) -> dict[str, Any]:
        return {"roots": roots}

    return answer


@dataclass
class _Call:
    task_id: str | None = None
    result: CallToolResult | None = None
    error: JsonRpcError | None = None
    #: 2025-11-25 ends a cancelled task's tasks/result with an isError result: its status
    #: says it was cancelled rather than failed.
    cancelled: Task | None = None


async def _call(
    args: argparse.Namespace, target: Any, headers: dict[str, str], early: EarlySigint
) -> int:
    feedback = Feedback(args.tool)
    options: dict[str, Any] = {
        "elicitation_handler": TerminalAsker(feedback),
        "status_handler": feedback.on_status,
        "log_handler": feedback.on_log,
        "dialect": args.dialect,
    }
    if headers:
        options["headers"] = headers
    # Roots name local paths: a server started here gets the working directory unless told
    # otherwise; one at a URL (maybe another machine) only the roots given.
    if args.root or not isinstance(target, str):
        options["roots_handler"] = roots_answer(args.root or ["."])
    with server_stderr(target) as stderr:
        if stderr.file is not None:
            options["stderr"] = stderr.file
        code: int | None = None
        async with watching_sigint() as sigint:
            if early.noted:  # a Ctrl-C before the watch was on: connect to nothing
                sigint.count += 1
            else:
                with sigint.scope():  # a Ctrl-C before the call: nothing to cancel yet
                    async with connect(target, **options) as client:
                        code = await _call_on(client, args, feedback, sigint)
        if code is None:
            again = sigint.count > 1
            fail("interrupted again: the task may still run" if again else "interrupted")
            code = EXIT_INTERRUPTED
        stderr.show(always=args.verbose, failed=code not in (EXIT_OK, EXIT_INTERRUPTED))
    return code


async def _call_on(
    client: Client, args: argparse.Namespace, feedback: Feedback, sigint: Interrupts
) -> int:
    tool = await _find_tool(client, args.tool)
    arguments = parse_arguments(args.arguments, args.args_json, tool.input_schema)
    check_arguments(tool, arguments)
    task = _as_task(client, tool, args.no_task, args.ttl)
    await _ask_for_logs(client, args.verbose)
    call = _Call()
    with sigint.scope() as work:
        try:
            await _invoke(client, tool.name, arguments, task, args.ttl, feedback, call)
        finally:
            feedback.end()
    if work.cancel_called:
        return await _cancel(client, call.task_id, feedback)
    if call.error is not None and call.error.code == MISSING_CAPABILITY and task is False:
        raise CliError(
            f"{tool.name} runs only as a task (the server requires the tasks extension for "
            "it): drop --no-task"
        )
    await _check_cancelled(client, call)
    return _report(call, tool.name, args.json)


async def _ask_for_logs(client: Client, verbose: bool) -> None:
    """The tool's `ctx.log` lines: 2025-11-25 sends them at the session's level (set when
    the server has `logging`); 2026-07-28 only for inline calls whose `_meta` asks."""
    level = "debug" if verbose else "info"
    if client.dialect == "2026-07-28" or "logging" in client.server_capabilities:
        await client.set_logging_level(level)


async def _check_cancelled(client: Client, call: _Call) -> None:
    result = call.result
    if client.dialect == "2026-07-28" or call.task_id is None or not (result and result.is_error):
        return
    with contextlib.suppress(JsonRpcError):
        task = await client.get_task(call.task_id)
        if task.status == "cancelled":
            call.cancelled = task


async def _find_tool(client: Client, name: str) -> ToolInfo:
    tools = await client.list_tools()
    for tool in tools:
        if tool.name == name:
            return tool
    known = ", ".join(t.name for t in tools) or "none"
    raise CliError(f"unknown tool {name!r}; the server has: {known}")


def parse_arguments(
    pairs: Sequence[str], args_json: str | None, schema: dict[str, Any]
) -> dict[str, Any]:
    """`--args` first, then each key=value over it: JSON when valid JSON, else text, and
    always the text as written for a parameter declared as a string (`version=1.20`)."""
    arguments: dict[str, Any] = {}
    if args_json is not None:
        try:
            value = json.loads(args_json)
        except ValueError as exc:
            raise CliError(f"--args is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise CliError('--args must be a JSON object, e.g. --args \'{"name": "Ada"}\'')
        arguments.update(value)
    properties: dict[str, Any] = schema.get("properties") or {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CliError(f"{pair!r} is not key=value (e.g. name=Ada, a=1, tags='[\"x\"]')")
        is_text = properties.get(key, {}).get("type") == "string"
        arguments[key] = raw if is_text else _json_or_text(raw)
    return arguments


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def check_arguments(tool: ToolInfo, arguments: dict[str, Any]) -> None:
    """Refuse missing and unknown argument names before calling (exit 2): a typo is likelier
    than a tool that takes names it does not declare (unless `additionalProperties`)."""
    schema = tool.input_schema
    properties: dict[str, Any] = schema.get("properties") or {}
    problems: list[str] = []
    if schema.get("additionalProperties", False) is False:
        unknown = [name for name in arguments if name not in properties]
        if unknown:
            problems.append(f"unknown argument {', '.join(unknown)}")
    missing = [name for name in schema.get("required") or () if name not in arguments]
    if missing:
        problems.append(f"missing argument {', '.join(missing)}")
    if problems:
        takes = params_summary(schema)
        raise CliError(f"{tool.name}: {'; '.join(problems)} (it takes {takes})")


def _as_task(client: Client, tool: ToolInfo, no_task: bool, ttl: int | None) -> bool | None:
    """2025-11-25: whether to ask for a task. 2026-07-28: None (the server decides), or
    False to leave the tasks extension out of the call (--no-task)."""
    if client.dialect == "2026-07-28":
        if ttl is not None:
            fail("note: --ttl is not sent in 2026-07-28: the server sets a task's ttlMs")
        return False if no_task else None
    mode = tool.task_support
    if mode == "required" and no_task:
        raise CliError(f"{tool.name} runs only as a task (taskSupport: required): drop --no-task")
    return mode == "required" or (mode == "optional" and not no_task)


async def _invoke(
    client: Client,
    name: str,
    arguments: dict[str, Any],
    task: bool | None,
    ttl: int | None,
    feedback: Feedback,
    call: _Call,
) -> None:
    async def on_task(created: Task) -> None:
        call.task_id = created.task_id
        feedback.started(created.task_id)

    feedback.begin()
    try:
        call.result = await client.call_tool(
            name,
            arguments,
            task=task,
            ttl=ttl,
            progress_handler=feedback.on_progress,
            on_task=on_task,
        )
    except JsonRpcError as exc:
        call.error = exc


async def _cancel(client: Client, task_id: str | None, feedback: Feedback) -> int:
    if task_id is None:
        fail("interrupted: the call was cancelled")
        return EXIT_INTERRUPTED
    with anyio.move_on_after(10):
        try:
            task = await client.cancel_task(task_id)
        except JsonRpcError as exc:
            fail(f"interrupted: task {task_id} could not be cancelled: {exc.message}")
            return EXIT_INTERRUPTED
        await feedback.on_status(task)  # 2026: no notification says it, the answer does
        done = "cancelled task" if task.status == "cancelled" else f"{task.status}:"
        fail(f"interrupted: {done} {task_id}")
        return EXIT_INTERRUPTED
    fail(f"interrupted: the server did not answer tasks/cancel; task {task_id} may still run")
    return EXIT_INTERRUPTED


def _report(call: _Call, tool: str, as_json: bool) -> int:
    """The result on stdout; a failure, or a task cancelled elsewhere, in one line."""
    error, result = call.error, call.result
    if as_json:
        out_json({"error": error.to_json()} if error is not None else _wire(result))
    cancelled = error.task if isinstance(error, TaskCancelledError) else call.cancelled
    if cancelled is not None:
        if not as_json:
            why = cancelled.status_message or "the task was cancelled"
            fail(f"{tool} cancelled: {one_line(why)}")
        return EXIT_FAILED
    if error is not None:
        if not as_json:
            fail(f"{tool} failed: {one_line(error.message)} (JSON-RPC error {error.code})")
        return EXIT_FAILED
    assert result is not None
    if as_json:
        pass
    elif result.is_error:
        fail(f"{tool} failed: {one_line(content_text(result.content))}")
    elif result.content or result.structured_content is None:
        out(content_text(result.content))
    else:
        out_json(result.structured_content)
    return EXIT_FAILED if result.is_error else EXIT_OK


def _wire(result: CallToolResult | None) -> dict[str, Any]:
    assert result is not None
    return result.to_wire()
