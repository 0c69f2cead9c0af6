"""OpenTelemetry spans (taskapp.observe.tracing): `tools/call` -> the task's run -> each
step -> the store operations, continuing the trace of the request's `_meta.traceparent`,
in both dialects and across a worker over Redis. Spans go to the SDK's in-memory
exporter, through a provider handed to the app (the global one is left alone)."""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from taskapp import JsonRpcError, ProtocolError, TaskApp, TaskContext
from taskapp.engine.hooks import TRACE_KEY
from taskapp.observe.store import ObservedStore
from taskapp.stores.redis import RedisStore
from tests.clients import LegacyClient

from .redis_support import delete_keys, require_redis, unique_prefix
from .test_http import serving
from .test_http_2026 import TASK_CAPS, Modern, meta

pytestmark = pytest.mark.anyio

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def exporting() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def charge(order: str) -> dict[str, Any]:
    return {"charged": order}


def make_app(**options: Any) -> TaskApp:
    app = TaskApp("traced", **options)

    @app.task_tool(on_interrupt="rerun")
    async def checkout(ctx: TaskContext, order: str) -> str:
        paid = await ctx.step("charge", charge, order)
        return f"paid {paid['charged']}"

    return app


async def finished(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The span `name` once it has ended (a task's run ends after its answer is read)."""
    with anyio.fail_after(10):
        while True:
            for span in exporter.get_finished_spans():
                if span.name == name:
                    return span
            await anyio.sleep(0.01)


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def check_tree(exporter: InMemorySpanExporter) -> None:
    """The tree every dialect makes: the request's parent -> tools/call -> the run ->
    the step -> its store write; all in the request's trace."""
    spans = by_name(exporter)
    call, run, step = spans["tools/call checkout"], spans["task checkout"], spans["step charge"]
    assert {s.context.trace_id for s in exporter.get_finished_spans()} == {int(TRACE_ID, 16)}
    assert parent_of(call) == int(PARENT_ID, 16)
    assert call.parent is not None
    assert call.parent.is_remote
    assert call.kind is SpanKind.SERVER
    assert call.attributes is not None
    assert call.attributes["gen_ai.tool.name"] == "checkout"
    assert parent_of(run) == call.context.span_id
    assert run.attributes is not None
    assert run.attributes["taskapp.task.status"] == "completed"
    assert parent_of(step) == run.context.span_id
    save = spans["store save_step"]
    assert parent_of(save) == step.context.span_id
    assert save.kind is SpanKind.CLIENT
    # The run's own store work (the final write) hangs under the run, not the step.
    assert parent_of(spans["store update"]) == run.context.span_id


async def test_a_2025_call_continues_the_trace_of_its_traceparent() -> None:
    provider, exporter = exporting()
    app = make_app(tracing=provider)
    async with LegacyClient(app) as client:
        created = await client.request(
            "tools/call",
            {"name": "checkout", "arguments": {"order": "A1"}, "task": {},
             "_meta": {"traceparent": TRACEPARENT, "tracestate": "vendor=1"}},
        )  # fmt: skip
        result = await client.get_task_result(created["task"]["taskId"])
        assert result.content[0]["text"] == "paid A1"
        await finished(exporter, "task checkout")
    check_tree(exporter)
    call = by_name(exporter)["tools/call checkout"]
    assert call.parent is not None
    assert dict(call.parent.trace_state) == {"vendor": "1"}


async def test_a_2026_call_over_http_continues_the_trace_of_its_traceparent() -> None:
    provider, exporter = exporting()
    app = make_app(tracing=provider)
    async with serving(app.http_app()) as http:
        modern = Modern(http)
        params = {"name": "checkout", "arguments": {"order": "B2"},
                  "_meta": meta(TASK_CAPS, traceparent=TRACEPARENT)}  # fmt: skip
        response = await modern.post("tools/call", params)
        assert response.json()["result"]["resultType"] == "task", response.text
        await finished(exporter, "task checkout")
    check_tree(exporter)


async def test_a_call_that_becomes_a_task_continues_the_trace_of_its_traceparent() -> None:
    """inline_for (issue 18): the call starts inline and promotes itself; the task it
    becomes runs under the call's `tools/call` span, in the request's trace."""
    provider, exporter = exporting()
    app = TaskApp("traced", tracing=provider)

    @app.task_tool(inline_for=math.inf)
    async def escalate(ctx: TaskContext) -> str:
        await ctx.continue_as_task()
        return "escalated"

    async with serving(app.http_app()) as http:
        params = {"name": "escalate", "arguments": {},
                  "_meta": meta(TASK_CAPS, traceparent=TRACEPARENT)}  # fmt: skip
        response = await Modern(http).post("tools/call", params)
        assert response.json()["result"]["resultType"] == "task", response.text
        run = await finished(exporter, "task escalate")
    call = by_name(exporter)["tools/call escalate"]
    assert parent_of(call) == int(PARENT_ID, 16)
    assert parent_of(run) == call.context.span_id
    assert run.context.trace_id == int(TRACE_ID, 16)


async def test_without_a_traceparent_a_call_starts_a_trace_of_its_own() -> None:
    provider, exporter = exporting()
    app = make_app(tracing=provider)
    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("checkout", {"order": "C3"})
        await client.get_task_result(created.task.task_id)
        await finished(exporter, "task checkout")
    spans = by_name(exporter)
    call, run = spans["tools/call checkout"], spans["task checkout"]
    assert call.parent is None
    assert parent_of(run) == call.context.span_id
    assert run.context.trace_id == call.context.trace_id


async def test_a_failing_tool_s_run_span_says_so() -> None:
    provider, exporter = exporting()
    app = TaskApp("traced", tracing=provider)

    @app.task_tool()
    async def boom() -> str:
        raise ValueError("no")

    async with LegacyClient(app) as client:
        created = await client.call_tool_as_task("boom")
        await client.get_task_result(created.task.task_id)
        run = await finished(exporter, "task boom")
    # MCP says `completed` (a tool's error is a result); the span says it failed.
    assert run.attributes is not None
    assert run.attributes["taskapp.task.status"] == "tool_error"
    assert run.status.status_code is StatusCode.ERROR


def inline_app(provider: TracerProvider) -> TaskApp:
    app = TaskApp("traced", tracing=provider)

    @app.tool()
    async def greet(name: str) -> str:
        if name == "nobody":
            raise ValueError("nobody to greet")
        if name == "refused":
            raise ProtocolError(-32602, "no greeting for that")
        return f"hi {name}"

    return app


async def test_an_inline_call_is_a_span_of_the_request_s_trace() -> None:
    """An ordinary tool answers in its request: its `tools/call` span holds the run and
    says how it ended; a tool error or a JSON-RPC error is an error status."""
    provider, exporter = exporting()
    async with LegacyClient(inline_app(provider)) as client:
        for name in ("Ada", "nobody", "refused"):
            params = {"name": "greet", "arguments": {"name": name},
                      "_meta": {"traceparent": TRACEPARENT}}  # fmt: skip
            with contextlib.suppress(JsonRpcError):
                await client.request("tools/call", params)
    spans = [s for s in exporter.get_finished_spans() if s.name == "tools/call greet"]
    assert [parent_of(span) for span in spans] == [int(PARENT_ID, 16)] * 3
    assert {span.context.trace_id for span in spans} == {int(TRACE_ID, 16)}
    assert all(span.kind is SpanKind.SERVER for span in spans)
    endings = [(span.attributes or {}).get("taskapp.call.status") for span in spans]
    assert endings == ["completed", "tool_error", "failed"]
    codes = [span.status.status_code for span in spans]
    assert codes == [StatusCode.UNSET, StatusCode.ERROR, StatusCode.ERROR]


async def test_an_inline_call_the_client_cancels_is_no_error() -> None:
    provider, exporter = exporting()
    app = TaskApp("traced", tracing=provider)
    started = anyio.Event()

    @app.tool()
    async def wait() -> str:
        started.set()
        await anyio.sleep_forever()
        return "never"

    async with LegacyClient(app) as client, anyio.create_task_group() as tg:
        tg.start_soon(client.call_tool, "wait")  # cancelled below: notifications/cancelled
        await started.wait()
        tg.cancel_scope.cancel()
    span = await finished(exporter, "tools/call wait")
    assert (span.attributes or {}).get("taskapp.call.status") == "cancelled"
    assert span.status.status_code is StatusCode.UNSET
    assert not span.events  # no exception recorded for a cancel


async def test_a_2026_inline_call_over_http_is_a_span_too() -> None:
    provider, exporter = exporting()
    async with serving(inline_app(provider).http_app()) as http:
        params = {"name": "greet", "arguments": {"name": "Bo"},
                  "_meta": meta({}, traceparent=TRACEPARENT)}  # fmt: skip
        response = await Modern(http).post("tools/call", params)
        assert response.json()["result"]["content"][0]["text"] == "hi Bo", response.text
    [span] = [s for s in exporter.get_finished_spans() if s.name == "tools/call greet"]
    assert parent_of(span) == int(PARENT_ID, 16)
    assert (span.attributes or {}).get("taskapp.call.status") == "completed"


async def test_tracing_off_leaves_the_engine_without_hooks() -> None:
    app = make_app(tracing=False)
    async with app.running() as engine:
        assert engine.hooks is None
        assert not isinstance(engine.store, ObservedStore)


@asynccontextmanager
async def worker(app: TaskApp) -> AsyncIterator[None]:
    async with app.running() as engine, anyio.create_task_group() as tg:
        tg.start_soon(engine.work, 1)
        yield
        tg.cancel_scope.cancel()


async def test_a_worker_over_redis_continues_the_trace_of_the_call() -> None:
    """The front queues the task; a worker, with a tracer provider of its own (another
    process, as far as tracing can tell), runs it under the front's `tools/call` span:
    the context travelled with the task's record."""
    url = require_redis()
    front_provider, front_spans = exporting()
    worker_provider, worker_spans = exporting()
    prefix = unique_prefix()
    front = make_app(tracing=front_provider, executor="queue", store=RedisStore(url, prefix=prefix))
    back = make_app(tracing=worker_provider, store=RedisStore(url, prefix=prefix))
    try:
        async with LegacyClient(front) as client, worker(back):
            created = await client.request(
                "tools/call",
                {"name": "checkout", "arguments": {"order": "Q1"}, "task": {},
                 "_meta": {"traceparent": TRACEPARENT}},
            )  # fmt: skip
            result = await client.get_task_result(created["task"]["taskId"])
            assert result.content[0]["text"] == "paid Q1"
            run = await finished(worker_spans, "task checkout")
        store = RedisStore(url, prefix=prefix)
        await store.open()
        try:
            record = await store.get(created["task"]["taskId"], now=0)
        finally:
            await store.close()
    finally:
        await delete_keys(url, prefix)
    call = by_name(front_spans)["tools/call checkout"]
    assert "task checkout" not in by_name(front_spans)  # the front ran nothing
    assert parent_of(call) == int(PARENT_ID, 16)
    assert run.context.trace_id == int(TRACE_ID, 16)
    assert parent_of(run) == call.context.span_id
    step = by_name(worker_spans)["step charge"]
    assert parent_of(step) == run.context.span_id
    assert record is not None
    assert record.client_capabilities is not None
    assert record.client_capabilities[TRACE_KEY]["traceparent"].split("-")[2] == (
        f"{call.context.span_id:016x}"
    )


def test_tracing_is_on_by_default_once_the_application_set_a_provider() -> None:
    """tracing=None: off (and opentelemetry never imported) until the application sets a
    tracer provider; then on, through it. In a fresh process: the global provider can
    be set once per process."""
    code = """
import sys
from taskapp import TaskApp
app = TaskApp("auto")
assert app.observing.hooks() is None
assert "opentelemetry" not in sys.modules
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
assert TaskApp("auto").observing.hooks() is None  # imported, but no provider set
trace.set_tracer_provider(TracerProvider())
hooks = TaskApp("auto").observing.hooks()
assert hooks is not None and hooks.tracing is not None and hooks.metrics is None
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
