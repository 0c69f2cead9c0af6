"""`taskapp run` (serve an app) and `taskapp worker` (run queued tasks)."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .._logging import LEVELS, configure_logging
from ..observe import Observing, parse_listen
from ..observe.exposition import DEFAULT_PORT as DEFAULT_METRICS_PORT
from .common import EXIT_OK, EXIT_USAGE
from .dashboard import DEFAULT_PORT, add_token_option, address
from .importer import ImportFromStringError, import_from_string

if TYPE_CHECKING:
    from ..app import TaskApp
    from ..transports.http_limits import HttpLimits


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="serve an app (stdio by default)",
        description="Serve a TaskApp. Logs go to stderr; on stdio, stdout carries only JSON-RPC.",
    )
    _common(run)
    run.add_argument(
        "--transport", choices=["stdio", "http"], default="stdio", help="default: stdio"
    )
    run.add_argument(
        "--host", default="127.0.0.1", help="http: address to bind (default: loopback)"
    )
    run.add_argument("--port", type=int, default=8000, help="http: port (default: 8000)")
    run.add_argument("--path", default="/mcp", help="http: the MCP endpoint (default: /mcp)")
    run.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="http: also accept this Origin (repeatable; '*' for any)",
    )
    run.add_argument(
        "--strict-headers", action="store_true",
        help="http: refuse a 2026-07-28 tasks/get, tasks/update or tasks/cancel without "
        "Mcp-Name (accepted by default, as some clients omit it)",
    )  # fmt: skip
    _limits(run)
    run.add_argument(
        "--dashboard", nargs="?", type=int, const=DEFAULT_PORT, default=None, metavar="PORT",
        help=f"also serve the dashboard on 127.0.0.1:PORT (default {DEFAULT_PORT}), over this "
        "server's own store and engine (the only way to see a memory store)",
    )  # fmt: skip
    add_token_option(run, "--dashboard-token")
    run.add_argument(
        "--executor",
        choices=["local", "queue"],
        default=None,
        help="local: run tasks here (default); queue: hand them to `taskapp worker` "
        "processes through the store (needs a store with a work queue: redis://)",
    )
    worker = commands.add_parser(
        "worker",
        help="run tasks queued by instances started with --executor queue",
        description="Run the tasks that instances started with `--executor queue` hand "
        "over through the store. The tools come from this process's own copy of the app. "
        "SIGINT/SIGTERM: take no new tasks, let running ones finish (up to --grace).",
    )
    _common(worker)
    worker.add_argument(
        "--concurrency", type=int, default=16, help="tasks run at once (default: 16)"
    )
    worker.add_argument(
        "--grace", type=float, default=30, help="seconds to finish running tasks at shutdown"
    )


def _limits(run: argparse.ArgumentParser) -> None:
    """Limits and timeouts (issue 19); docs/security.md lists them with their defaults."""
    run.add_argument(
        "--allow-host", action="append", default=None, metavar="HOST",
        help="http: serve this Host header (name, name:port; repeatable; '*' for any); "
        "default: loopback names and --host",
    )  # fmt: skip
    run.add_argument(
        "--max-message-bytes", type=int, default=None, metavar="BYTES",
        help="the largest stdio line or HTTP body (HTTP 413 beyond; default: the app's, "
        "4 MiB unless it says otherwise)",
    )  # fmt: skip
    run.add_argument(
        "--eof-grace", type=float, default=None, metavar="SECONDS",
        help="stdio: once stdin closes, how long requests already read may take to be "
        "answered (default: the app's, 5)",
    )  # fmt: skip
    run.add_argument(
        "--session-idle-timeout", type=float, default=None, metavar="SECONDS",
        help="http: close a 2025-11-25 session idle this long (default: 1800)",
    )  # fmt: skip
    run.add_argument(
        "--max-sessions", type=int, default=None,
        help="http: open sessions in all; past it the least recently active idle one "
        "is closed (default: 1000)",
    )  # fmt: skip
    run.add_argument(
        "--max-sessions-per-client", type=int, default=None,
        help="http: open sessions per principal, or per address without auth (HTTP 429 "
        "past it; default: 100)",
    )  # fmt: skip
    run.add_argument(
        "--header-timeout", type=float, default=None, metavar="SECONDS",
        help="http: close a connection whose request head takes longer (default: 10)",
    )  # fmt: skip
    run.add_argument(
        "--body-timeout", type=float, default=None, metavar="SECONDS",
        help="http: answer 408 to a POST body that takes longer (default: 60)",
    )  # fmt: skip


def _http_limits(args: argparse.Namespace) -> HttpLimits:
    from ..transports.http_limits import HttpLimits

    given = {
        "session_idle_timeout_s": args.session_idle_timeout,
        "max_sessions": args.max_sessions,
        "max_sessions_per_client": args.max_sessions_per_client,
        "header_timeout_s": args.header_timeout,
        "body_timeout_s": args.body_timeout,
    }
    # A flag not given keeps HttpLimits' own default: the defaults live in one place.
    return HttpLimits(**{name: value for name, value in given.items() if value is not None})


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="the app, as module:attr or path/to/file.py:attr")
    parser.add_argument(
        "--store",
        default=os.environ.get("TASKAPP_STORE"),
        help="where task state lives, e.g. memory://, sqlite:///tasks.db, redis://host:6379/0 "
        "(default: $TASKAPP_STORE or the app's own)",
    )
    parser.add_argument("--log-level", choices=LEVELS, default="info", help="default: info")
    parser.add_argument(
        "--loop",
        choices=["auto", "asyncio", "uvloop"],
        default="auto",
        help="the event loop; auto: uvloop if installed (pip install 'taskapp[uvloop]'), "
        "else asyncio (default: auto)",
    )
    parser.add_argument(
        "--log-json", action="store_true", help="log JSON lines instead of key=value"
    )
    parser.add_argument(
        "--metrics",
        nargs="?",
        const=str(DEFAULT_METRICS_PORT),
        metavar="PORT|HOST:PORT|PATH",
        help=f"serve Prometheus metrics: on a port of their own (default {DEFAULT_METRICS_PORT}, "
        "on 127.0.0.1), or on PATH beside the MCP endpoint (http only); needs "
        "'taskapp[metrics]'",
    )


def _load(args: argparse.Namespace) -> TaskApp | None:
    from ..app import TaskApp

    configure_logging(args.log_level, json=args.log_json)
    try:
        app = import_from_string(args.target)
    except ImportFromStringError as exc:
        print(f"taskapp: {exc}", file=sys.stderr)
        return None
    if not isinstance(app, TaskApp):
        print(
            f"taskapp: {args.target!r} is a {type(app).__name__}, not a TaskApp "
            "(expected e.g. app = TaskApp('name') in that module)",
            file=sys.stderr,
        )
        return None
    return app


def _metrics(app: TaskApp, args: argparse.Namespace) -> bool:
    """Apply --metrics to the app; False (after saying why) if it cannot be served."""
    import importlib.util

    if args.metrics is None:
        return True
    problem = None
    try:
        listen = parse_listen(args.metrics)
    except ValueError as exc:
        problem = str(exc)
    else:
        if importlib.util.find_spec("prometheus_client") is None:
            problem = "--metrics needs prometheus_client: pip install 'taskapp[metrics]'"
        elif listen is not None and listen.path and getattr(args, "transport", None) != "http":
            problem = f"--metrics={args.metrics}: a path needs --transport http; give a port"
    if problem is not None:
        print(f"taskapp: {problem}", file=sys.stderr)
        return False
    app.observing = Observing(args.metrics, app.observing.tracing)
    return True


def _http_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("starlette", "uvicorn"))


def run(args: argparse.Namespace) -> int:
    app = _load(args)
    if app is None or not _metrics(app, args):
        return EXIT_USAGE
    if args.transport == "http" and not _http_installed():
        print(
            "taskapp: the HTTP transport needs Starlette and uvicorn: pip install 'taskapp[http]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.max_message_bytes is not None:
        app.max_message_bytes = args.max_message_bytes
    if args.eof_grace is not None:
        if args.eof_grace < 0:
            problem = f"--eof-grace {args.eof_grace:g}: give 0 or more seconds"
            print(f"taskapp: {problem}", file=sys.stderr)
            return EXIT_USAGE
        app.eof_grace_s = args.eof_grace
    banner = None
    if args.transport == "http":
        banner = http_banner(app, args)
    elif sys.stdin.isatty():
        banner = (
            f"serving {app.name!r} on stdio (MCP JSON-RPC, one message a line); "
            "Ctrl-D or Ctrl-C stops it"
        )
    dashboard = None if args.dashboard is None else (args.dashboard, args.dashboard_token)
    on_start(app, banner, dashboard)
    try:
        app.run(
            args.transport,
            store=args.store,
            host=args.host,
            port=args.port,
            path=args.path,
            allowed_origins=args.allow_origin,
            strict_headers=args.strict_headers,
            executor=args.executor,
            loop=args.loop,
            allowed_hosts=args.allow_host,
            http_limits=_http_limits(args) if args.transport == "http" else None,
        )
    except KeyboardInterrupt:
        return EXIT_OK
    except (ValueError, TypeError) as exc:  # a bad --store URL; a store with no work queue
        print(f"taskapp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def http_banner(app: TaskApp, args: argparse.Namespace) -> str:
    """Where `taskapp run --transport http` listens, which dialects, store and auth."""
    host = f"[{args.host}]" if ":" in args.host else args.host
    auth = "on (bearer tokens; a task belongs to its principal)" if app.auth else (
        "off (a task belongs to its session; anyone who can reach the port may call)"
    )  # fmt: skip
    return (
        f"serving {app.name!r} at http://{host}:{args.port}{args.path}\n"
        "  dialects: MCP 2025-11-25 (tasks, SEP-1686) and 2026-07-28 (the tasks extension)\n"
        f"  store: {describe_store(args.store if args.store is not None else app.store)}\n"
        f"  auth: {auth}\n"
        "  Ctrl-C stops it"
    )


def on_start(app: TaskApp, banner: str | None, dashboard: tuple[int, str | None] | None) -> None:
    """Once the app's engine has started (the configuration was accepted): say `banner`
    on stderr, and serve the dashboard (port, token) over the engine's store for as
    long as it runs, so that a cancel stops the function at once (the engine's own)."""
    if banner is None and dashboard is None:
        return
    from contextlib import asynccontextmanager

    import anyio

    running = app.running

    @asynccontextmanager
    async def started(store: Any = None) -> AsyncIterator[Any]:
        async with running(store) as engine, anyio.create_task_group() as tg:
            if banner is not None:
                print(f"taskapp: {banner}", file=sys.stderr, flush=True)
            if dashboard is not None:
                from ..dashboard import DashboardConfig, serve_beside

                port, token = dashboard
                served = app.observing.metrics  # the server's own, on the dashboard too
                exposition = None if served is None else served.exposition
                config = DashboardConfig(token=token, metrics=served is not None)
                serve = functools.partial(serve_beside, metrics=exposition, port=port)
                tg.start_soon(serve, engine, config)
                print(f"taskapp: {address(config.host, port, token)}", file=sys.stderr, flush=True)
            try:
                yield engine
            finally:
                tg.cancel_scope.cancel()

    # The stdio loop and the HTTP lifespan both start the engine with `app.running`.
    app.running = started  # type: ignore[method-assign]


def describe_store(store: object) -> str:
    """A store as an operator knows it: its URL without a password, or its class."""
    if store is None:
        store = os.environ.get("TASKAPP_STORE") or "memory:// (in this process)"
    if not isinstance(store, str):
        return type(store).__name__
    scheme, sep, rest = store.partition("://")
    userinfo, at, place = rest.rpartition("@")
    if sep and at and ":" in userinfo:
        return f"{scheme}://{userinfo.partition(':')[0]}:***@{place}"
    return store


def work(args: argparse.Namespace) -> int:
    app = _load(args)
    if app is None or not _metrics(app, args):
        return EXIT_USAGE
    if args.concurrency < 1:
        print("taskapp: --concurrency must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        app.work(store=args.store, concurrency=args.concurrency, grace_s=args.grace, loop=args.loop)
    except (ValueError, TypeError) as exc:
        print(f"taskapp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
