"""Running the dashboard with uvicorn: on its own over a store, or beside a server's engine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .._logging import get_logger
from ..engine import TaskEngine
from ..metrics import CONTENT_TYPE, Metrics
from ..stores import TaskStore
from .app import DashboardConfig, dashboard_app

log = get_logger("taskapp.dashboard")


def _config(app: Any, config: DashboardConfig, port: int, **options: Any) -> Any:
    import uvicorn

    return uvicorn.Config(
        app, host=config.host, port=port, log_config=None, access_log=False,
        timeout_graceful_shutdown=1, ws="none", **options,
    )  # fmt: skip


def serve_dashboard(
    store: TaskStore, config: DashboardConfig, *, port: int = 8400, metrics: Metrics | None = None
) -> None:
    """Serve the dashboard over `store` (opened and closed here) until SIGINT/SIGTERM."""
    import uvicorn

    app = dashboard_app(store, config, open_store=True, metrics=metrics)
    uvicorn.Server(_config(app, config, port, lifespan="on")).run()


async def serve_beside(
    engine: TaskEngine, config: DashboardConfig, *, port: int, metrics: Metrics | None = None
) -> None:
    """Serve the dashboard over a running engine's store, until cancelled. Cancelling a
    task goes through that engine, which stops the function at once; signals stay the
    server's."""
    app = dashboard_app(engine.store, config, engine=engine, metrics=metrics)
    await _beside(app, config, port)


async def serve_metrics_beside(
    engine: TaskEngine, metrics: Metrics, *, port: int, host: str = "127.0.0.1"
) -> None:
    """Serve only `/metrics` (Prometheus' text format) on a port of its own, with the
    same `Host` check, until cancelled."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from ..transports.http_limits import HostCheck, default_hosts

    hosts = HostCheck(default_hosts(host))

    async def exposition(request: Request) -> Response:
        refused = hosts(request)
        if refused is not None:
            return refused
        return Response(await metrics.exposition(engine.store), media_type=CONTENT_TYPE)

    app = Starlette(routes=[Route("/metrics", exposition)])
    await _beside(app, DashboardConfig(host=host), port)


async def _beside(app: Any, config: DashboardConfig, port: int) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # Ctrl-C and SIGTERM belong to the server this runs beside

    await Server(_config(app, config, port, lifespan="off")).serve()
