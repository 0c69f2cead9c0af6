"""Property-based fuzzing: malformed and edge-case messages over stdio and HTTP, in both
dialects. After every message the answer must be valid JSON-RPC with a code from the
spec's set (never a 5xx on HTTP), a notification gets no answer, every request gets one;
after every batch the server still answers `tools/list` and runs a task to its end.

Bounded for CI (about 15 s for the file, derandomized). Run it longer and with fresh
randomness with `TASKAPP_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py`.

Hypothesis cannot drive a coroutine, so each test is async (the anyio plugin runs it),
hands hypothesis's loop to a worker thread, and every example comes back to the test's
event loop with `anyio.from_thread.run`. Each in-process example gets a fresh server,
so a failure is replayed and shrunk exactly; the one real `taskapp run` process is
shared by all its examples, as a long-lived server would be.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from taskapp.transports.stdio import FdChannel
from taskapp.wire import jsonrpc, mcp2026

from .fuzz_messages import INIT_PARAMS, Sent, batches, make_app, meta
from .test_http import POST_HEADERS, open_session, serving
from .test_http_2026 import Modern, headers_for
from .test_stdio_process import stdio_server

pytestmark = pytest.mark.anyio

#: Codes a client's bad input may get. -32603 is not among them: an internal error
#: for a malformed message means the server failed to validate it.
CODES = {
    jsonrpc.PARSE_ERROR, jsonrpc.INVALID_REQUEST, jsonrpc.METHOD_NOT_FOUND,
    jsonrpc.INVALID_PARAMS, jsonrpc.SERVER_ERROR, mcp2026.HEADER_MISMATCH,
    mcp2026.MISSING_CAPABILITY, mcp2026.UNSUPPORTED_VERSION,
}  # fmt: skip
MAX_LINE = 16 * 1024  # the in-process stdio limit, so oversized lines are fuzzed too
WITHIN = 10
LONG_RUN = int(os.environ.get("TASKAPP_FUZZ_EXAMPLES", "0"))

# `database=None` (below) keeps hypothesis's example database away, but it also caches
# the constants it mines from our source, in ./.hypothesis unless told otherwise: that
# goes beside the dev tools scripts/uv.py installs, out of the work tree.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    _cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    # Untyped before hypothesis 6.1xx, typed after: the ignore holds on both.
    set_hypothesis_home_dir(_cache / "taskapp-dev" / "hypothesis")  # type: ignore[no-untyped-call, unused-ignore]


def fuzz(ci_examples: int) -> settings:
    """CI: a fixed number of derandomized examples, so a red run is the change's fault and
    not a new seed's. A long run (TASKAPP_FUZZ_EXAMPLES) draws fresh randomness. No
    example database either way: nothing is written into the repository (.hypothesis/),
    and a failure prints its whole batch, which is the repro."""
    return settings(
        max_examples=LONG_RUN or ci_examples,
        deadline=None,
        database=None,
        derandomize=not LONG_RUN,
        # Batches of up to 40 KiB lines and 3000-deep nesting are the point, not a mistake.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def strict_json(data: bytes | str) -> Any:
    """Parse as a strict client does: NaN and Infinity are not JSON."""

    def refuse(token: str) -> None:
        raise AssertionError(f"the server wrote {token}, which is not JSON: {data!r}")

    return json.loads(data, parse_constant=refuse)


def check_message(message: Any) -> None:
    """One message the server wrote: a request or notification of its own, or a
    response with exactly one of result/error and an error code from CODES."""
    assert isinstance(message, dict), message
    assert message.get("jsonrpc") == "2.0", message
    if "method" in message:
        assert isinstance(message["method"], str), message
        return
    assert ("result" in message) != ("error" in message), message
    request_id = message["id"]
    assert request_id is None or (
        isinstance(request_id, (str, int)) and not isinstance(request_id, bool)
    ), message
    if "error" in message:
        error = message["error"]
        assert error["code"] in CODES, message
        assert isinstance(error["message"], str), message


def run_examples(test: Callable[[], None]) -> Callable[[], Coroutine[Any, Any, None]]:
    async def in_a_thread() -> None:
        await anyio.to_thread.run_sync(test)

    return in_a_thread


# -- stdio, in process: the real FdChannel over two pipes --------------------------


class Pipe:
    """The client's end: sends bytes as lines, keeps every message the server writes."""

    def __init__(self, channel: FdChannel) -> None:
        self.channel = channel
        self.received: list[dict[str, Any]] = []
        self._changed = anyio.Event()
        self._ids = iter(range(1_000_000))

    async def pump(self) -> None:
        while True:
            try:
                data = await self.channel.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return
            message = strict_json(data)
            check_message(message)
            self.received.append(message)
            self._changed.set()
            self._changed = anyio.Event()

    def answers(self, request_id: Any) -> list[dict[str, Any]]:
        return [m for m in self.received if "method" not in m and m.get("id") == request_id]

    async def wait_for(self, request_id: Any) -> dict[str, Any]:
        with anyio.fail_after(WITHIN):
            while not (found := self.answers(request_id)):
                await self._changed.wait()
        return found[0]

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = f"health-{next(self._ids)}"
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        await self.channel.send(json.dumps(message).encode())
        answer = await self.wait_for(request_id)
        assert "result" in answer, answer
        result: dict[str, Any] = answer["result"]
        return result


@asynccontextmanager
async def piped_server() -> AsyncIterator[Pipe]:
    to_server, to_client = os.pipe(), os.pipe()
    server = FdChannel(to_server[0], to_client[1], max_message_bytes=MAX_LINE)
    client = FdChannel(to_client[0], to_server[1])
    app = make_app()
    try:
        async with app.running() as engine, anyio.create_task_group() as tg:
            tg.start_soon(app.serve_channel, server, engine)
            pipe = Pipe(client)
            tg.start_soon(pipe.pump)
            yield pipe
            tg.cancel_scope.cancel()
    finally:
        await client.aclose()
        await server.aclose()
        for fd in (*to_server, *to_client):
            os.close(fd)


async def stdio_batch(batch: list[Sent], modern: bool) -> None:
    async with piped_server() as pipe:
        # The first request picks the connection's dialect.
        if modern:
            await pipe.call("server/discover", {"_meta": meta()})
        else:
            await pipe.call("initialize", INIT_PARAMS)
        for sent in batch:
            before = len(pipe.received)
            await pipe.channel.send(sent.data)
            await stdio_healthy(pipe, modern, task=False)  # also orders what came before
            if sent.is_notification:
                answered = [m for m in pipe.received[before:] if "method" not in m]
                assert all(m["id"] is not None for m in answered), (sent, answered)
        await stdio_healthy(pipe, modern, task=True)
        sent_ids = [s.message.get("id") for s in batch if isinstance(s.message, dict)]
        for sent in batch:
            if sent.answer_id is not None:
                await pipe.wait_for(sent.answer_id)
                assert len(pipe.answers(sent.answer_id)) <= sent_ids.count(sent.answer_id)


async def stdio_healthy(pipe: Pipe, modern: bool, *, task: bool) -> None:
    params: dict[str, Any] = {"_meta": meta()} if modern else {}
    tools = await pipe.call("tools/list", params)
    assert [t["name"] for t in tools["tools"]] == ["echo", "add", "half"]
    if not task:
        return
    call = {**params, "name": "add", "arguments": {"a": 2, "b": 3}}
    if modern:
        task_id = (await pipe.call("tools/call", call))["taskId"]
        for _ in range(1000):  # `add` ends at once: a few polls at most
            got = await pipe.call("tasks/get", {**params, "taskId": task_id})
            if got["status"] == "completed":
                break
            await anyio.sleep(0.001)
        result = got["result"]
    else:
        created = await pipe.call("tools/call", {**call, "task": {}})
        result = await pipe.call("tasks/result", {"taskId": created["task"]["taskId"]})
    assert result["content"] == [{"type": "text", "text": "5"}], result


@pytest.mark.parametrize("modern", [False, True], ids=["2025", "2026"])
async def test_stdio_in_process(modern: bool) -> None:
    @fuzz(ci_examples=100)
    @given(batches(modern))
    def example(batch: list[Sent]) -> None:
        anyio.from_thread.run(stdio_batch, batch, modern)

    await run_examples(example)()


# -- stdio, a real `taskapp run` process ---------------------------------------------


async def test_stdio_process(tmp_path: Path) -> None:
    """One process for every example: a long-lived server, with the OS's pipes and the
    CLI's own logging between the fuzzer and the app."""
    async with stdio_server(tmp_path, "tests/fuzz_messages.py:app") as server:
        await server.initialize()
        health = iter(range(1_000_000))
        checked = 0

        async def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
            request_id = f"health-{next(health)}"  # never an id the fuzzer sends
            await server.send({"jsonrpc": "2.0", "id": request_id, "method": method,
                               "params": params})  # fmt: skip
            answer = await server.response(request_id)
            assert "result" in answer, answer
            result: dict[str, Any] = answer["result"]
            return result

        async def batch(sent: list[Sent]) -> None:
            nonlocal checked
            for one in sent:
                await server.send_raw(one.data + b"\n")
            tools = await call("tools/list", {})
            assert [t["name"] for t in tools["tools"]] == ["echo", "add", "half"]
            created = await call("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3},
                                                "task": {}})  # fmt: skip
            result = await call("tasks/result", {"taskId": created["task"]["taskId"]})
            assert result["content"] == [{"type": "text", "text": "5"}], result
            for line in server.lines[checked:]:
                check_message(strict_json(line))
            checked = len(server.lines)

        @fuzz(ci_examples=25)
        @given(batches(modern=False))
        def example(sent: list[Sent]) -> None:
            anyio.from_thread.run(batch, sent)

        await run_examples(example)()
        assert server.process.returncode is None  # still running
    assert "Traceback" not in server.stderr()


# -- Streamable HTTP, both dialects, through httpx's ASGITransport -------------------

SESSION = "<the session's id>"  # replaced by the real one when sent
ODD_PATHS = ["/", "/mcp/", "/mcp/x", "/MCP", "/mcp?x=1", "/.well-known/oauth-protected-resource"]
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
ODD_HEADERS: dict[str, list[str]] = {
    "content-type": ["text/plain", "application/json; charset=latin-1", "application/jsonx", ""],
    "accept": ["application/json", "text/event-stream", "*/*", "", "text/html"],
    "mcp-method": ["tools/list", "tools/call", "TOOLS/CALL", ""],
    "mcp-name": ["add", "echo", "no-such-task", ""],
    "mcp-protocol-version": ["2025-11-25", "2026-07-28", "2030-01-01", "", "2025-06-18"],
    "mcp-session-id": ["not-a-session", "", "a" * 200, SESSION],
}


@dataclass
class HttpCase:
    verb: str
    path: str
    sent: Sent
    headers: dict[str, str]


def _listens(sent: Sent) -> bool:
    """A valid `subscriptions/listen` holds its response open for good, which
    ASGITransport (it buffers whole responses) would wait on: test_http_2026 covers it."""
    return isinstance(sent.message, dict) and sent.message.get("method") == "subscriptions/listen"


@st.composite
def http_batches(draw: st.DrawFn, modern: bool) -> list[HttpCase]:
    return [http_case(draw, sent, modern) for sent in draw(batches(modern)) if not _listens(sent)]


def http_case(draw: st.DrawFn, sent: Sent, modern: bool) -> HttpCase:
    """`sent` as an HTTP request: the headers a client adds, some dropped or made odd;
    now and then another verb or path."""
    message = sent.message
    headers = dict(POST_HEADERS)
    if not modern:
        headers.update({"mcp-session-id": SESSION, "mcp-protocol-version": "2025-11-25"})
    elif isinstance(message, dict) and isinstance(message.get("params"), dict):
        method, params = message.get("method"), dict(message["params"])
        if not isinstance(params.get("_meta"), dict):
            params.pop("_meta", None)
        headers = headers_for(method if isinstance(method, str) else "", params)
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(sorted(ODD_HEADERS)))
        if draw(st.booleans()):
            headers.pop(name, None)
        else:
            headers[name] = draw(st.sampled_from(ODD_HEADERS[name]) | header_text)
    verb = "POST" if draw(st.integers(0, 7)) else draw(st.sampled_from(["GET", "DELETE", "PUT"]))
    path = "/mcp" if draw(st.integers(0, 9)) else draw(st.sampled_from(ODD_PATHS))
    if verb != "POST" and headers.get("mcp-session-id") == SESSION:
        # DELETE ends the session and GET opens its never-ending stream: both correct,
        # and either would stop the batch, so those two go to a session that is not there.
        headers["mcp-session-id"] = "not-a-session"
    return HttpCase(verb, path, sent, headers)


def messages_in(response: httpx.Response) -> list[Any]:
    """The JSON-RPC messages of an answer, parsed strictly; none for other bodies."""
    content_type = response.headers.get("content-type", "")
    if content_type == "application/json":
        return [strict_json(response.content)]
    if content_type.startswith("text/event-stream"):
        events = [e for e in response.text.split("\n\n") if e]
        assert all(e.startswith("event: message\ndata: ") for e in events), response.text
        return [strict_json(e.split("\ndata: ", 1)[1]) for e in events]
    return []


async def send_case(client: httpx.AsyncClient, case: HttpCase, session_id: str) -> None:
    # Headers are bytes on the wire: a non-ASCII Mcp-Name goes as UTF-8, as is.
    headers = {
        k.encode(): (session_id if v == SESSION else v).encode() for k, v in case.headers.items()
    }
    with anyio.fail_after(WITHIN):
        response = await client.request(case.verb, case.path, content=case.sent.data,
                                        headers=headers)  # fmt: skip
    assert response.status_code < 500, (case, response.status_code, response.text)
    answers = messages_in(response)
    for message in answers:
        check_message(message)
    if case.verb == "POST" and case.path == "/mcp" and response.status_code < 300:
        if case.sent.is_notification:
            assert (response.status_code, response.content) == (202, b""), (case, response)
        elif case.sent.answer_id is not None:
            assert answers[-1]["id"] == case.sent.answer_id, (case, answers)


async def http_batch(batch: list[HttpCase], modern: bool) -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        for case in batch:
            await send_case(client, case, session.session_id)
        if modern:
            modern_client = Modern(client)
            params = {"_meta": meta()}
            tools = await modern_client.result("tools/list", params)
            created = await modern_client.result(
                "tools/call", {**params, "name": "add", "arguments": {"a": 2, "b": 3}}
            )
            result = (await modern_client.task(created["taskId"], "completed"))["result"]
        else:
            tools = await session.result("tools/list")
            created = await session.result(
                "tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}, "task": {}}
            )
            result = await session.result("tasks/result", {"taskId": created["task"]["taskId"]})
        assert [t["name"] for t in tools["tools"]] == ["echo", "add", "half"]
        assert result["content"] == [{"type": "text", "text": "5"}], result


@pytest.mark.parametrize("modern", [False, True], ids=["2025", "2026"])
async def test_http(modern: bool) -> None:
    @fuzz(ci_examples=100)
    @given(http_batches(modern))
    def example(batch: list[HttpCase]) -> None:
        anyio.from_thread.run(http_batch, batch, modern)

    await run_examples(example)()
