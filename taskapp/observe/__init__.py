"""Metrics (Prometheus) and traces (OpenTelemetry) of a taskapp server: docs/observability.md.

Importing this package imports neither prometheus_client nor opentelemetry: `setup`
does, only for what is turned on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .exposition import Listen, metrics_app, metrics_route, parse_listen, serving
from .observer import Observer
from .setup import Observing, setup, tracing_wanted

if TYPE_CHECKING:
    from .metrics import Metrics

__all__ = (
    "Listen",
    "Metrics",
    "Observer",
    "Observing",
    "metrics_app",
    "metrics_route",
    "parse_listen",
    "serving",
    "setup",
    "tracing_wanted",
)


def __getattr__(name: str) -> object:
    if name == "Metrics":  # imports prometheus_client: only when asked for
        from .metrics import Metrics

        return Metrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
