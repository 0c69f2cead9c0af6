"""OpenTelemetry spans (the `otel` extra): `tools/call`, the task's run, its steps, its
store operations, and its questions to the client.

The trace context comes from the request's `_meta` (`traceparent`, `tracestate`, W3C
Trace Context, as other MCP servers read it) and travels with the task's record
(`engine.hooks.TRACE_KEY`), so that a worker in another process continues the trace.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .._version import __version__
from ..records import TaskRecord

_PROPAGATOR = TraceContextTextMapPropagator()
_CARRIED = ("traceparent", "tracestate")


def configured() -> bool:
    """Whether the application set a tracer provider (the default one records nothing)."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def _parent(carrier: Mapping[str, Any] | None) -> Context | None:
    if not carrier:
        return None
    strings = {k: v for k in _CARRIED if isinstance(v := carrier.get(k), str)}
    return _PROPAGATOR.extract(strings) if strings else None


class Tracing:
    """Makes the spans, through `provider` (default: the global one)."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer("taskapp", __version__, tracer_provider=provider)

    @contextmanager
    def calling(self, tool: str, meta: Mapping[str, Any] | None) -> Iterator[dict[str, str]]:
        """The `tools/call` span, a child of the request's `traceparent`; gives the
        context a task's run continues from."""
        with self._tracer.start_as_current_span(
            f"tools/call {tool}",
            context=_parent(meta),
            kind=SpanKind.SERVER,
            attributes={"mcp.method.name": "tools/call", "gen_ai.tool.name": tool},
        ):
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier)
            yield carrier

    @contextmanager
    def inline(self, tool: str, meta: Mapping[str, Any] | None) -> Iterator[Span]:
        """The `tools/call` span of a call answered in its request: the tool runs in it."""
        with self._tracer.start_as_current_span(
            f"tools/call {tool}",
            context=_parent(meta),
            kind=SpanKind.SERVER,
            attributes={"mcp.method.name": "tools/call", "gen_ai.tool.name": tool},
            record_exception=False,  # `ended` says how it ended: a cancel is no error
            set_status_on_exception=False,
        ) as span:
            yield span

    @contextmanager
    def running(self, record: TaskRecord, carrier: Mapping[str, Any] | None) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            f"task {record.tool}",
            context=_parent(carrier),
            attributes={"gen_ai.tool.name": record.tool, "taskapp.task.id": record.task_id},
        ) as span:
            yield span

    @staticmethod
    def ended(span: Span, ending: str, *, key: str = "taskapp.task.status") -> None:
        """Mark the span with how the task (or inline call) ended; an error for failed ones."""
        span.set_attribute(key, ending)
        if ending in ("failed", "tool_error"):
            span.set_status(StatusCode.ERROR, ending)

    @contextmanager
    def span(self, name: str, attributes: dict[str, str]) -> Iterator[None]:
        """A span under the current one (a step, a question to the client)."""
        with self._tracer.start_as_current_span(name, attributes=attributes):
            yield

    @contextmanager
    def store_op(self, operation: str) -> Iterator[None]:
        """A store operation's span, only inside a trace: the engine's upkeep (leases,
        sweeps, watches) makes none of its own."""
        if not trace.get_current_span().is_recording():
            yield
            return
        with self._tracer.start_as_current_span(
            f"store {operation}", kind=SpanKind.CLIENT, attributes={"db.operation.name": operation}
        ):
            yield
