"""The `taskapp` command: a thin shell over TaskApp's programmatic API.

Commands: `run` (serve an app), `worker` (run queued tasks), `call` (call a tool),
`inspect` (list tools), `tasks` (an operator's view of a store), `dashboard` (the same,
as a live web page). docs/cli.md is the reference.

Exit codes, the same for every command:
    0    success
    1    the server, the tool or the task failed: an `isError` result, a failed or
         cancelled task, a JSON-RPC error; for `tasks`, an unknown task id
    2    bad usage: a bad option, a target that cannot be imported or reached, an
         unknown tool, bad arguments, a bad store URL
    130  interrupted by Ctrl-C (`call` cancels its task first)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._version import __version__
from . import call, dashboard, inspect, run, tasks
from .common import EXIT_FAILED as EXIT_FAILED
from .common import EXIT_INTERRUPTED, EXIT_USAGE

EPILOG = """\
examples:
  taskapp run examples/hello.py:app                  serve on stdio
  taskapp run examples/hello.py:app --transport http --port 8000
  taskapp inspect examples/hello.py:app              the tools and their task modes
  taskapp call examples/hello.py:app greet name=Ada  call a tool, print its result
  taskapp tasks list --store sqlite:///tasks.db      the tasks in a store
  taskapp dashboard --store sqlite:///tasks.db       a live web page of every owner's tasks
  taskapp run app.py:app --transport http --store redis://localhost:6379/0 --executor queue
  taskapp worker app.py:app --store redis://localhost:6379/0   run the queued tasks

exit codes: 0 done; 1 the tool or task failed; 2 bad usage; 130 Ctrl-C.
"taskapp COMMAND --help" tells more about each command.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskapp",
        description="Serve async Python functions as MCP tools that run as tasks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"taskapp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run.add_parsers(commands)
    call.add_parser(commands)
    inspect.add_parser(commands)
    tasks.add_parser(commands)
    dashboard.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    commands = {
        "run": run.run,
        "worker": run.work,
        "call": call.run,
        "inspect": inspect.run,
        "tasks": tasks.run,
        "dashboard": dashboard.run,
    }
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:  # where no task needs cancelling, or a second Ctrl-C
        return EXIT_INTERRUPTED
