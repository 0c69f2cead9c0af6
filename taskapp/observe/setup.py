"""What `TaskApp(metrics=..., tracing=...)` turns on, built when the engine first starts."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from .._logging import get_logger
from .exposition import metrics_app, parse_listen, serving
from .observer import Observer

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from .metrics import Metrics

log = get_logger("taskapp.observe")


class Observing:
    """An app's metrics and tracing options, and the `Observer` they make (or None)."""

    def __init__(self, metrics: bool | int | str, tracing: Any) -> None:
        self.listen = parse_listen(metrics)
        self.tracing = tracing
        self._observer: Observer | None = None
        self._built = False
        self.address: tuple[str, int] | None = None  # where the own listener is bound

    def hooks(self) -> Observer | None:
        """The engine's hooks; the first call decides (tracing=None looks whether the
        application configured OpenTelemetry by then)."""
        if not self._built:
            self._observer = setup(self.listen is not None, self.tracing)
            self._built = True
        return self._observer

    @property
    def metrics(self) -> Metrics | None:
        observer = self.hooks()
        return None if observer is None else observer.metrics

    def http_route(self) -> tuple[str, ASGIApp] | None:
        """(path, app) to serve beside the MCP endpoint, when metrics go on a path."""
        metrics = self.metrics
        if metrics is None or self.listen is None or self.listen.path is None:
            return None
        return self.listen.path, metrics_app(metrics)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Serve /metrics on its own listener, when told to, while the block lasts."""
        metrics, listen = self.metrics, self.listen
        if metrics is None or listen is None or listen.port is None:
            yield
            return
        async with serving(metrics, listen.host, listen.port) as address:
            self.address = address
            log.info("metrics served", url=f"http://{address[0]}:{address[1]}/metrics")
            try:
                yield
            finally:
                self.address = None


def tracing_wanted(tracing: Any) -> bool:
    """`TaskApp(tracing=...)`: True, a TracerProvider, or None for "when the application
    configured OpenTelemetry" (never importing it when it did not)."""
    if tracing is None:
        if "opentelemetry.trace" not in sys.modules:
            return False
        from .tracing import configured

        return configured()
    return tracing is not False


def setup(metrics: bool, tracing: Any) -> Observer | None:
    """The engine's hooks for what is on, or None (then the engine has none)."""
    collected: Metrics | None = None
    if metrics:
        try:
            from .metrics import Metrics
        except ImportError as exc:
            raise ImportError(
                f"metrics need prometheus_client ({exc}): pip install 'taskapp[metrics]'"
            ) from exc
        collected = Metrics()
    traced = None
    if tracing_wanted(tracing):
        try:
            from .tracing import Tracing
        except ImportError as exc:
            raise ImportError(
                f"tracing needs OpenTelemetry ({exc}): pip install 'taskapp[otel]'"
            ) from exc
        traced = Tracing(None if tracing is True or tracing is None else tracing)
    if collected is None and traced is None:
        return None
    return Observer(collected, traced)
