"""Running the dashboard with uvicorn: on its own over a store, or beside a server's engine."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from .._logging import get_logger
from ..engine import TaskEngine
from ..stores import TaskStore
from .app import DashboardConfig, dashboard_app

log = get_logger("taskapp.dashboard")


def _config(app: Any, config: DashboardConfig, port: int, **options: Any) -> Any:
    import uvicorn

    return uvicorn.Config(
        app, host=config.host, port=port, log_config=None, access_log=False,
        timeout_graceful_shutdown=1, ws="none", **options,
    )  # fmt: skip


def serve_dashboard(store: TaskStore, config: DashboardConfig, *, port: int = 8400) -> None:
    """Serve the dashboard over `store` (opened and closed here) until SIGINT/SIGTERM."""
    import uvicorn

    app = dashboard_app(store, config, open_store=True)
    uvicorn.Server(_config(app, config, port, lifespan="on")).run()


async def serve_beside(
    engine: TaskEngine,
    config: DashboardConfig,
    *,
    port: int,
    metrics: Callable[[], bytes] | None = None,
) -> None:
    """Serve the dashboard over a running engine's store, until cancelled. Cancelling a
    task goes through that engine, which stops the function at once; signals stay the
    server's."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # Ctrl-C and SIGTERM belong to the server this runs beside

    app = dashboard_app(engine.store, config, engine=engine, metrics=metrics)
    await Server(_config(app, config, port, lifespan="off")).serve()
