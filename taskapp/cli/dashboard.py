"""`taskapp dashboard` (a web page over a store), and what `taskapp run --dashboard` shares."""

from __future__ import annotations

import argparse
import ipaddress
import os
from typing import Any

from .._logging import configure_logging
from .common import EXIT_OK, EXIT_USAGE, err

TOKEN_ENV = "TASKAPP_DASHBOARD_TOKEN"
DEFAULT_PORT = 8400

EPILOG = f"""\
examples:
  taskapp dashboard --store sqlite:///tasks.db
  taskapp dashboard --store redis://localhost:6379/0 --token "$(openssl rand -hex 16)"
  taskapp run app.py:app --transport http --dashboard        beside a server: memory:// too

The page shows every owner's tasks, their arguments and results: it binds to
loopback unless told otherwise, and refuses another --host without a token.
Cancelling always needs the token (--token, or ${TOKEN_ENV}); open the printed
address with #token=... or paste the token in the page.
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "dashboard",
        help="serve a web page of every owner's tasks in a store",
        description="A live web page over a task store: every owner's tasks, their detail, "
        "and a cancel button.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--store",
        default=os.environ.get("TASKAPP_STORE"),
        help="the store's URL, e.g. sqlite:///tasks.db (default: $TASKAPP_STORE)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default: {DEFAULT_PORT}")
    add_token_option(parser, "--token")
    parser.add_argument(
        "--metrics", action="store_true",
        help="also serve /metrics: the store's tasks by status now, in Prometheus' format",
    )  # fmt: skip
    parser.add_argument(
        "--allow-host", action="append", default=None, metavar="HOST",
        help="serve this Host header (repeatable); default: loopback names and --host",
    )  # fmt: skip


def add_token_option(parser: argparse.ArgumentParser, flag: str) -> None:
    parser.add_argument(
        flag,
        default=os.environ.get(TOKEN_ENV) or None,
        metavar="TOKEN",
        help=f"the dashboard's token, needed to cancel (default: ${TOKEN_ENV})",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refused_host(host: str, token: str | None) -> str | None:
    """Why binding `host` is refused: every owner's data needs a token off loopback."""
    if token is None and not is_loopback(host):
        return (
            f"the dashboard shows every owner's tasks: binding {host!r} (not loopback) "
            f"needs a token (--token, or ${TOKEN_ENV})"
        )
    return None


def address(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    cancel = "cancel with the token" if token else "read-only: --token enables cancel"
    return f"dashboard at http://{shown}:{port}/ ({cancel})"


def run(args: argparse.Namespace) -> int:
    from ..stores import CannotListAllOwnersError, all_owners
    from .common import CliError
    from .tasks import _store

    configure_logging("info")
    why = refused_host(args.host, args.token)
    if why is not None:
        err(f"taskapp: {why}")
        return EXIT_USAGE
    try:
        from ..dashboard import DashboardConfig, serve_dashboard

        store = _store(args.store)
        all_owners(store)  # refused before anything is served
    except (CliError, CannotListAllOwnersError) as exc:
        err(f"taskapp: {exc}")
        return EXIT_USAGE
    except ModuleNotFoundError as exc:
        if exc.name not in ("starlette", "uvicorn"):
            raise
        err("taskapp: the dashboard needs pip install 'taskapp[http]'")
        return EXIT_USAGE
    hosts = tuple(args.allow_host) if args.allow_host else None
    config = DashboardConfig(
        host=args.host, token=args.token, allowed_hosts=hosts, metrics=args.metrics
    )
    err(f"taskapp: {address(args.host, args.port, args.token)}")
    serve_dashboard(store, config, port=args.port)
    return EXIT_OK
