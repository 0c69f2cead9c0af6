"""Where /metrics is served: a path beside the MCP endpoint, a listener of its own, or a
route in another Starlette app (the dashboard's)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from starlette.routing import Route
    from starlette.types import ASGIApp, Receive, Scope, Send

    from .metrics import Metrics

DEFAULT_PORT = 9464  # the port OpenTelemetry's Prometheus exporter uses too
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Listen:
    """Where /metrics goes: `path` on the HTTP transport, or `host`:`port` on its own."""

    path: str | None = None
    host: str = LOOPBACK
    port: int | None = None


def parse_listen(value: bool | int | str) -> Listen | None:
    """`TaskApp(metrics=...)` or `--metrics=...`: False (off); True (collected, served
    nowhere but where you mount `metrics_app`); a port; "HOST:PORT"; or "/PATH"."""
    if value is False:
        return None
    if value is True:
        return Listen()
    if isinstance(value, int):
        return Listen(port=value)
    if value.startswith("/"):
        return Listen(path=value)
    host, _, port = value.rpartition(":")
    try:
        return Listen(host=host.strip("[]") or LOOPBACK, port=int(port))
    except ValueError:
        raise ValueError(
            f"metrics={value!r}: give a port (9464), HOST:PORT (127.0.0.1:9464) or a path "
            "(/metrics)"
        ) from None


def metrics_app(metrics: Metrics) -> ASGIApp:
    """An ASGI app answering any GET with the text exposition of `metrics`."""
    from prometheus_client import make_asgi_app

    return make_asgi_app(metrics.registry)


def metrics_route(metrics: Metrics, path: str = "/metrics") -> Route:
    """A Starlette route serving `metrics` at `path`: `routes.append(metrics_route(m))`."""
    from starlette.routing import Route

    return Route(path, _Asgi(metrics_app(metrics)), methods=["GET"])


class _Asgi:
    """An ASGI app as an instance: Starlette's Route calls a plain function with a
    request, and runs an instance as the ASGI app it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@asynccontextmanager
async def serving(metrics: Metrics, host: str, port: int) -> AsyncIterator[tuple[str, int]]:
    """Serve /metrics (any path, in fact) on its own listener while the block lasts;
    gives the address bound (port 0 picks a free one)."""
    import uvicorn

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the process's own server or worker handles the signals

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from exc
    config = uvicorn.Config(
        metrics_app(metrics), lifespan="off", log_config=None, access_log=False,
        log_level="warning", ws="none",
    )  # fmt: skip
    server = Quiet(config)
    address: Any = sock.getsockname()
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        try:
            yield address[0], address[1]
        finally:
            server.should_exit = True
    sock.close()
