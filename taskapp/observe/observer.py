"""`Observer`: the engine's hooks (`engine.hooks.EngineHooks`), feeding metrics, traces
or both. Built only when one of them is on: off, the engine has no hooks at all."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from ..records import TaskRecord
from ..stores.base import TaskStore
from .store import observed

if TYPE_CHECKING:
    from .metrics import Metrics
    from .tracing import Tracing

TRACE_KEY = "taskapp/trace"  # engine.hooks.TRACE_KEY (observe does not import the engine)


class Observer:
    """Metrics and traces of one app's engine in this process; either may be None."""

    def __init__(self, metrics: Metrics | None, tracing: Tracing | None) -> None:
        self.metrics = metrics
        self.tracing = tracing
        # How each task running here ended, as its end was written: its run's label.
        self._endings: dict[str, str] = {}

    def wrap_store(self, store: TaskStore) -> TaskStore:
        return observed(store, self)

    # -- what the store proxy sees ----------------------------------------------------

    def store_op(self, operation: str) -> AbstractContextManager[None]:
        return nullcontext() if self.tracing is None else self.tracing.store_op(operation)

    def store_failed(self, operation: str) -> None:
        if self.metrics is not None:
            self.metrics.store_errors.labels(operation).inc()

    def created(self, record: TaskRecord) -> None:
        if self.metrics is not None:
            self.metrics.created.labels(record.tool).inc()

    def ended(self, record: TaskRecord, status: str) -> None:
        if record.task_id in self._endings:
            self._endings[record.task_id] = status
        if self.metrics is not None:
            self.metrics.ended.labels(record.tool, status).inc()

    def enqueued(self) -> None:
        if self.metrics is not None:
            self.metrics.enqueued.inc()

    def dequeued(self) -> None:
        if self.metrics is not None:
            self.metrics.dequeued.inc()

    # -- what the engine tells ----------------------------------------------------------

    def calling(
        self, tool: str, meta: Mapping[str, Any] | None
    ) -> AbstractContextManager[dict[str, str] | None]:
        return nullcontext() if self.tracing is None else self.tracing.calling(tool, meta)

    @contextmanager
    def inline(self, tool: str, meta: Mapping[str, Any] | None) -> Iterator[Callable[[str], None]]:
        metrics, tracing = self.metrics, self.tracing
        ending = "failed"  # cancelled, or a handler that raised: no answer of the tool's

        def ended(how: str) -> None:
            nonlocal ending
            ending = how

        span = nullcontext() if tracing is None else tracing.inline(tool, meta)
        started = time.perf_counter()
        try:
            with span as live:
                try:
                    yield ended
                except BaseException as exc:
                    if not isinstance(exc, Exception):  # the client cancelled, or shutdown
                        ending = "cancelled"
                    raise
                finally:
                    if live is not None and tracing is not None:
                        tracing.ended(live, ending, key="taskapp.call.status")
        finally:
            if metrics is not None:
                metrics.inline_seconds.labels(tool, ending).observe(time.perf_counter() - started)

    @contextmanager
    def running(self, record: TaskRecord) -> Iterator[None]:
        task_id, tool, metrics, tracing = record.task_id, record.tool, self.metrics, self.tracing
        self._endings[task_id] = "interrupted"
        carrier = (record.client_capabilities or {}).get(TRACE_KEY)
        span = None if tracing is None else tracing.running(record, carrier)
        started = time.perf_counter()
        if metrics is not None:
            metrics.started.labels(tool).inc()
            metrics.running.labels(tool).inc()
        try:
            with nullcontext() if span is None else span as live:
                try:
                    yield
                finally:
                    if live is not None and tracing is not None:
                        tracing.ended(live, self._endings.get(task_id, "interrupted"))
        finally:
            ending = self._endings.pop(task_id, "interrupted")
            if metrics is not None:
                metrics.running.labels(tool).dec()
                metrics.run_seconds.labels(tool, ending).observe(time.perf_counter() - started)

    def expired(self, record: TaskRecord) -> None:
        self.ended(record, "expired")

    def step(self, record: TaskRecord, name: str) -> AbstractContextManager[None]:
        if self.tracing is None:
            return nullcontext()
        return self.tracing.span(f"step {name}", {"taskapp.step.name": name})

    @contextmanager
    def waiting_input(self, record: TaskRecord, method: str) -> Iterator[None]:
        metrics, tool = self.metrics, record.tool
        span = nullcontext() if self.tracing is None else self.tracing.span(
            f"input {method}", {"taskapp.input.method": method}
        )  # fmt: skip
        started = time.perf_counter()
        if metrics is not None:
            metrics.input_waits.labels(tool).inc()
            metrics.waiting_input.labels(tool).inc()
        try:
            with span:
                yield
        finally:
            if metrics is not None:
                metrics.waiting_input.labels(tool).dec()
                metrics.input_wait_seconds.labels(tool).observe(time.perf_counter() - started)
