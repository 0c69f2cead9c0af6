"""The dashboard's ASGI app: the page, its JSON and live feed, and the guarded cancel."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .._logging import get_logger
from ..engine import TaskEngine, TaskTerminalError
from ..records import TaskStatus
from ..stores import InvalidCursorError, TaskFilter, TaskNotFoundError, TaskStore, all_owners
from ..transports.http_limits import HostCheck, default_hosts
from .feed import detail, row, snapshots

log = get_logger("taskapp.dashboard")

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
# The page runs only its own script and style, and is never framed (no clickjacking
# of the cancel button); nothing is cached, since it shows live data.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """How a dashboard is reached and guarded.

    Attributes:
        host: The address it binds (for the default `Host` names it serves).
        token: The bearer token that cancelling needs (and, when set, every read):
            None leaves the page read-only.
        allowed_hosts: The `Host` values served (default: loopback names and `host`).
        metrics: Serve Prometheus' text format at `/metrics`: the store's tasks by
            status now and, beside a server, that process's metrics (docs/observability.md).
    """

    host: str = "127.0.0.1"
    token: str | None = None
    allowed_hosts: tuple[str, ...] | None = None
    metrics: bool = False


Cancel = Callable[[str, str | None], Awaitable[Any]]
Handler = Callable[[Request], Awaitable[Response]]


def dashboard_app(
    store: TaskStore,
    config: DashboardConfig | None = None,
    *,
    engine: TaskEngine | None = None,
    open_store: bool = False,
    metrics: Callable[[], bytes] | None = None,
) -> Starlette:
    """The dashboard over `store`, which must list across owners (`ListsAllOwners`).

    `engine`: the running server's engine, which cancels a task it runs at once; without
    one a cancel goes through an engine made for it (the store tells the runner, as
    `taskapp tasks cancel` does). `open_store`: open and close the store in the app's
    lifespan (a dashboard of its own; beside a server, the server's engine owns it).
    `metrics`: the exposition of the server's own metrics, added to `/metrics`.
    """
    config = config or DashboardConfig()
    lister = all_owners(store)  # refused now, with the reason, not at the first request
    hosts = HostCheck(config.allowed_hosts or default_hosts(config.host))

    def guard(request: Request, *, token: bool, write: bool) -> Response | None:
        refused = hosts(request) or _foreign_origin(request)
        if refused is not None or not token:
            return refused
        if config.token is None:
            if write:
                why = "cancelling needs the dashboard's token: start it with --token"
                return _error(403, why)
            return None
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), config.token.encode()):
            return _error(401, "this dashboard needs its token (Authorization: Bearer ...)")
        return None

    def guarded(handler: Handler, *, token: bool = True, write: bool = False) -> Handler:
        """`handler` behind the Host and Origin checks, and the token unless `token=False`
        (the page itself, and `/metrics`); `write`: a token is needed even to be served."""

        async def checked(request: Request) -> Response:
            refused = guard(request, token=token, write=write)
            return refused if refused is not None else await handler(request)

        return checked

    async def page(request: Request) -> Response:
        name, media = STATIC[request.url.path]
        body = files(__package__).joinpath("static", name).read_bytes()
        return Response(body, media_type=media, headers=HEADERS)

    async def info(request: Request) -> Response:
        return _json({"store": type(store).__name__, "canCancel": config.token is not None})

    async def tasks(request: Request) -> Response:
        try:
            where, cursor, limit = _query(request)
            now = time.time()
            found, next_cursor = await lister.list_all(where, cursor=cursor, limit=limit, now=now)
        except (ValueError, InvalidCursorError) as exc:
            return _error(400, str(exc))
        return _json({"tasks": [row(r) for r in found], "nextCursor": next_cursor})

    async def events(request: Request) -> Response:
        try:
            where, cursor, limit = _query(request)
            if cursor is not None:  # a cursor that is not ours fails now, not in the stream
                await lister.list_all(where, cursor=cursor, limit=1, now=time.time())
        except (ValueError, InvalidCursorError) as exc:
            return _error(400, str(exc))

        async def stream() -> AsyncIterator[bytes]:
            yield b": live\n\n"  # headers out at once: the page knows it is connected
            async for snapshot in snapshots(store, lister, where, cursor=cursor, limit=limit):
                yield f"event: snapshot\ndata: {json.dumps(snapshot)}\n\n".encode()

        return StreamingResponse(stream(), media_type="text/event-stream", headers=HEADERS)

    async def one(request: Request) -> Response:
        task_id = request.path_params["task_id"]
        record = await store.get(task_id, now=time.time())
        if record is None:
            return _error(404, f"no task {task_id!r} (never made, deleted, or expired)")
        pending = await store.pending_inputs(task_id, now=time.time())
        return _json(detail(record, pending))

    async def cancel(request: Request) -> Response:
        task_id = request.path_params["task_id"]
        record = await store.get(task_id, now=time.time())
        try:
            if record is None:
                raise TaskNotFoundError(task_id)
            # Made per cancel (on the event loop, as `taskapp tasks cancel` does): never
            # entered, so no sweeps or recovery run here; the store tells the runner.
            canceller = engine or TaskEngine(store)
            cancelled = await canceller.cancel(task_id, record.owner)
        except TaskNotFoundError:
            return _error(404, f"no task {task_id!r} (never made, deleted, or expired)")
        except TaskTerminalError as exc:
            return _error(
                409, f"task {task_id} has already ended: it is {row(exc.record)['status']}"
            )
        log.info("task cancelled from the dashboard", task_id=task_id, owner=record.owner)
        return _json(row(cancelled))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if not open_store:
            yield
            return
        await store.open()
        try:
            yield
        finally:
            await store.close()

    routes = [Route(path, guarded(page, token=False)) for path in STATIC]
    routes += [
        Route("/api/info", guarded(info)),
        Route("/api/tasks", guarded(tasks)),
        Route("/api/events", guarded(events)),
        Route("/api/tasks/{task_id:path}/cancel", guarded(cancel, write=True), methods=["POST"]),
        Route("/api/tasks/{task_id:path}", guarded(one)),
    ]
    if config.metrics:

        async def exposition(request: Request) -> Response:
            # Counts and tool names only, no arguments or results: a scraper needs no
            # token, as on the MCP transport's /metrics (docs/security.md).
            text = gauges(await lister.count_by_status(now=time.time()))
            extra = b"" if metrics is None else metrics()
            return Response(text.encode() + extra, media_type=EXPOSITION)

        routes.append(Route("/metrics", guarded(exposition, token=False)))
    return Starlette(routes=routes, lifespan=lifespan)


EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"


def gauges(counts: dict[TaskStatus, int]) -> str:
    """The store's tasks by status now, in Prometheus' text format (every status shown)."""
    lines = [
        "# HELP taskapp_tasks Tasks in the store now, by status (every owner).",
        "# TYPE taskapp_tasks gauge",
    ]
    lines += [f'taskapp_tasks{{status="{s.value}"}} {float(counts.get(s, 0))}' for s in TaskStatus]
    return "\n".join(lines) + "\n"


def _query(request: Request) -> tuple[TaskFilter, str | None, int]:
    params = request.query_params
    statuses = frozenset(TaskStatus(value) for value in params.getlist("status") if value)
    where = TaskFilter(
        statuses=statuses, tool=params.get("tool") or None, owner=params.get("owner") or None
    )
    limit = int(params.get("limit") or 50)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1 to {MAX_LIMIT}")
    return where, params.get("cursor") or None, limit


def _foreign_origin(request: Request) -> Response | None:
    """A browser's request from another site (a DNS-rebinding page, say) is refused: its
    `Origin` must be the dashboard's own (the `Host` it was served under)."""
    origin = request.headers.get("origin")
    if origin is None:
        return None
    host = request.headers.get("host", "")
    if urlsplit(origin).netloc.lower() == host.lower():
        return None
    log.warning("origin refused", origin=origin)
    return _error(403, f"Origin {origin!r} is not this dashboard's")


def _json(value: Any) -> Response:
    return JSONResponse(value, headers=HEADERS)


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=HEADERS)
