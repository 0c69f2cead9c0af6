"""MCP 2026-07-28 over Streamable HTTP: sessionless POSTs beside 2025-11-25 sessions.

Most tests go through httpx's ASGITransport (see test_http.py); the ones that need a
stream to stay open (subscriptions/listen, a client leaving) run uvicorn in-process on a
loopback port. Quotes are from /work/shared/spec/mcp-2026-07-28/ (basic-transports-
streamable-http.mdx unless named) and tasks-extension/tasks.md.
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pydantic_core
import pytest
import uvicorn
from pydantic import BaseModel

from taskapp import TaskApp, TaskContext
from taskapp.auth import TokenVerifier
from taskapp.sessions import modern as modern_methods
from taskapp.sessions.base import Session
from taskapp.sessions.modern import ModernMethods
from taskapp.transports.http import HttpTransport
from taskapp.wire import mcp2026
from taskapp.wire.jsonrpc import Request

from .test_http import TOKENS, bearer, messages_of, open_session, serving

pytestmark = pytest.mark.anyio

TIMEOUT = 10
VERSION = "2026-07-28"
SUB = mcp2026.SUBSCRIPTION_ID
ACCEPT_BOTH = "application/json, text/event-stream"
CAPS: dict[str, Any] = {"elicitation": {"form": {}}}
TASK_CAPS: dict[str, Any] = {**CAPS, "extensions": {mcp2026.TASKS_EXTENSION: {}}}
NAME_FIELDS = {"tools/call": "name", "tasks/get": "taskId", "tasks/update": "taskId",
               "tasks/cancel": "taskId", "resources/read": "uri"}  # fmt: skip


class Name(BaseModel):
    name: str


@dataclass
class Harness:
    app: TaskApp
    cancelled: anyio.Event = field(default_factory=anyio.Event)


def build(auth: TokenVerifier | None = None) -> Harness:
    app = TaskApp("http-2026", version="2.0.0", auth=auth)
    harness = Harness(app)

    @app.tool()
    async def double(x: int) -> str:
        """Inline only."""
        return str(2 * x)

    @app.tool()
    async def count(ctx: TaskContext, n: int) -> str:
        """Progress and a log line, then the answer."""
        for i in range(n):
            await ctx.report_progress(i + 1, total=n)
        await ctx.log(f"counted to {n}")
        return f"counted {n}"

    @app.tool()
    async def hang(ctx: TaskContext) -> str:
        """Reports progress once, then waits until cancelled."""
        await ctx.report_progress(1)
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            harness.cancelled.set()
            raise
        return "never"

    @app.task_tool()
    async def ask(ctx: TaskContext, x: int) -> str:
        """Two questions: inline, that is two MRTR rounds."""
        first = await ctx.elicit("Your name?", Name)
        second = await ctx.elicit("Again?", Name)
        assert first.data is not None
        assert second.data is not None
        return f"{x} {first.data.name} {second.data.name}"

    @app.task_tool(mode="required")
    async def greet(ctx: TaskContext) -> str:
        """Only as a task; asks for a name."""
        answer = await ctx.elicit("Your name?", Name)
        return f"Hello, {answer.data.name if answer.data else '?'}!"

    return harness


# -- a modern client ------------------------------------------------------------------


def meta(caps: dict[str, Any] | None = None, version: str = VERSION, **more: Any) -> dict[str, Any]:
    return {
        mcp2026.PROTOCOL_VERSION: version,
        mcp2026.CLIENT_CAPABILITIES: CAPS if caps is None else caps,
        mcp2026.CLIENT_INFO: {"name": "modern-test", "version": "0"},
        **more,
    }


def headers_for(method: str, params: dict[str, Any]) -> dict[str, str]:
    """The headers a conforming client sends with this request."""
    headers = {"content-type": "application/json", "accept": ACCEPT_BOTH, "mcp-method": method}
    version = (params.get("_meta") or {}).get(mcp2026.PROTOCOL_VERSION)
    if isinstance(version, str):
        headers["mcp-protocol-version"] = version
    if method in NAME_FIELDS and isinstance(params.get(NAME_FIELDS[method]), str):
        headers["mcp-name"] = params[NAME_FIELDS[method]]
    return headers


def body(request_id: int | None, method: str, params: dict[str, Any]) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if request_id is not None:
        message["id"] = request_id
    return pydantic_core.to_json(message)


class Modern:
    """Sends each request as its own POST, with the headers a 2026-07-28 client adds."""

    def __init__(self, client: httpx.AsyncClient, **headers: str) -> None:
        self.client = client
        self.headers = headers
        self.next_id = 0

    async def post(
        self, method: str, params: dict[str, Any], *, drop: tuple[str, ...] = (),
        headers: Mapping[str, str | bytes] | None = None,
    ) -> httpx.Response:  # fmt: skip
        """POST one request; `headers` override the usual ones, `drop` removes some."""
        self.next_id += 1
        sent = {**headers_for(method, params), **self.headers, **(headers or {})}
        raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in sent.items()}
        for name in drop:
            del raw[name.encode()]
        content = body(self.next_id, method, params)
        return await self.client.post("/mcp", content=content, headers=raw)

    async def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The JSON-RPC response (the last message); the POST made no session."""
        response = await self.post(method, params)
        assert "mcp-session-id" not in response.headers
        answer = messages_of(response)[-1]
        assert answer["id"] == self.next_id
        return answer

    async def result(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = await self.answer(method, params)
        assert "result" in answer, answer
        result: dict[str, Any] = answer["result"]
        return result

    async def task(self, task_id: str, until: str) -> dict[str, Any]:
        """tasks/get until the task has status `until`."""
        while True:
            task = await self.result("tasks/get", {"_meta": meta(TASK_CAPS), "taskId": task_id})
            if task["status"] == until:
                return task
            await anyio.sleep(0.01)


def refusal(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    """A request answered with an HTTP error status and a JSON-RPC error for its id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "mcp-session-id" not in response.headers
    answer: dict[str, Any] = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert isinstance(answer["id"], int)
    assert answer["error"]["code"] == code, answer
    error: dict[str, Any] = answer["error"]
    return error


@asynccontextmanager
async def modern_client(
    auth: TokenVerifier | None = None, *, strict_headers: bool = False
) -> AsyncIterator[Modern]:
    async with serving(build(auth).app.http_app(strict_headers=strict_headers)) as client:
        yield Modern(client)


# -- discovery, tools, inline calls ---------------------------------------------------


async def test_discover_is_served_without_a_session() -> None:
    """versioning: "A request carrying modern per-request `_meta` is served statelessly";
    the page lists "Removal of protocol-level sessions": no Mcp-Session-Id is minted."""
    async with modern_client() as modern:
        response = await modern.post("server/discover", {"_meta": meta()})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "mcp-session-id" not in response.headers
    result = response.json()["result"]
    assert result["supportedVersions"] == list(mcp2026.ALL_VERSIONS)  # both eras on HTTP
    assert result["capabilities"]["extensions"] == {mcp2026.TASKS_EXTENSION: {}}
    assert result["resultType"] == "complete"
    assert result["_meta"][mcp2026.SERVER_INFO] == {"name": "http-2026", "version": "2.0.0"}


async def test_tools_list_and_an_inline_call() -> None:
    """ "If the body is a JSON-RPC request, the server MUST return either Content-Type:
    application/json ... or text/event-stream": a plain answer is one JSON object."""
    async with modern_client() as modern:
        listed = await modern.result("tools/list", {"_meta": meta()})
        response = await modern.post(
            "tools/call", {"_meta": meta(), "name": "double", "arguments": {"x": 21}}
        )
    assert [t["name"] for t in listed["tools"]] == ["double", "count", "hang", "ask", "greet"]
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    result = response.json()["result"]
    assert result["resultType"] == "complete"
    assert result["content"] == [{"type": "text", "text": "42"}]


async def test_related_notifications_come_first_on_an_sse_stream() -> None:
    """ "The server MAY send JSON-RPC notifications ... before the final response. These
    notifications MUST relate to the originating client request." and "The final JSON-RPC
    response SHOULD terminate the stream"; no session id on it either."""
    params = {
        "_meta": {**meta(progressToken="p1"), mcp2026.LOG_LEVEL: "info"},
        "name": "count",
        "arguments": {"n": 2},
    }
    async with modern_client() as modern:
        response = await modern.post("tools/call", params)
    assert response.status_code == 200
    assert response.headers["x-accel-buffering"] == "no"
    assert "mcp-session-id" not in response.headers
    messages = messages_of(response)
    assert [m.get("method") for m in messages] == [
        "notifications/progress",
        "notifications/progress",
        "notifications/message",
        None,
    ]
    assert [m["params"]["progress"] for m in messages[:2]] == [1, 2]
    assert {m["params"]["progressToken"] for m in messages[:2]} == {"p1"}
    assert messages[2]["params"]["data"] == "counted to 2"
    assert messages[-1]["result"]["content"] == [{"type": "text", "text": "counted 2"}]


async def test_mrtr_round_trip_over_http() -> None:
    """ "[The server] returns an InputRequiredResult containing inputRequests, and the client
    retries the original request with the matching inputResponses" (Message Flow, MRTR)."""
    call = {"_meta": meta(), "name": "ask", "arguments": {"x": 7}}
    accept = {"action": "accept", "content": {"name": "Ada"}}
    async with modern_client() as modern:
        first = await modern.result("tools/call", call)
        assert first["resultType"] == "input_required"
        [key] = first["inputRequests"]
        assert first["inputRequests"][key]["method"] == "elicitation/create"
        second = await modern.result(
            "tools/call",
            {**call, "inputResponses": {key: accept}, "requestState": first["requestState"]},
        )
        assert second["resultType"] == "input_required"
        [again] = second["inputRequests"]
        final = await modern.result(
            "tools/call",
            {**call, "inputResponses": {again: accept}, "requestState": second["requestState"]},
        )
    assert final["resultType"] == "complete"
    assert final["content"] == [{"type": "text", "text": "7 Ada Ada"}]


# -- the tasks extension --------------------------------------------------------------


async def test_a_task_that_elicits_runs_to_completion() -> None:
    """tasks.md: a CreateTaskResult, then tasks/get shows inputRequests while
    input_required, tasks/update answers them, tasks/get returns the result. Each request
    carries "Mcp-Name ... params.taskId" (Streamable HTTP: Routing Headers)."""
    async with modern_client() as modern:
        created = await modern.result(
            "tools/call", {"_meta": meta(TASK_CAPS), "name": "greet", "arguments": {}}
        )
        assert created["resultType"] == "task"
        task_id = created["taskId"]
        waiting = await modern.task(task_id, "input_required")
        [key] = waiting["inputRequests"]
        updated = await modern.result("tasks/update", {
            "_meta": meta(TASK_CAPS), "taskId": task_id,
            "inputResponses": {key: {"action": "accept", "content": {"name": "Ada"}}},
        })  # fmt: skip
        done = await modern.task(task_id, "completed")
    assert updated["resultType"] == "complete"
    assert done["result"]["content"] == [{"type": "text", "text": "Hello, Ada!"}]


async def test_a_waiting_task_can_be_cancelled() -> None:
    """tasks.md: tasks/cancel over HTTP, with Mcp-Name set to params.taskId."""
    async with modern_client() as modern:
        created = await modern.result(
            "tools/call", {"_meta": meta(TASK_CAPS), "name": "greet", "arguments": {}}
        )
        task_id = created["taskId"]
        await modern.task(task_id, "input_required")
        cancelled = await modern.result(
            "tasks/cancel", {"_meta": meta(TASK_CAPS), "taskId": task_id}
        )
        final = await modern.task(task_id, "cancelled")
    assert cancelled["resultType"] == "complete"
    assert "inputRequests" not in final


@pytest.mark.parametrize("method", ["tasks/result", "tasks/list"])
async def test_removed_task_methods_are_404_method_not_found(method: str) -> None:
    """ "If the server does not implement the requested RPC method, it MUST respond with
    404 Not Found and a JSON-RPC error with code -32601"."""
    async with modern_client() as modern:
        response = await modern.post(method, {"_meta": meta(TASK_CAPS), "taskId": "t"})
    refusal(response, 404, -32601)


async def test_a_required_tool_without_the_extension_is_400_missing_capability() -> None:
    """basic-index: "If processing a request requires a capability the client did not
    include ... MissingRequiredClientCapabilityError (-32021) ... On HTTP, the response
    status MUST be 400 Bad Request." Also for tasks/get without the extension."""
    async with modern_client() as modern:
        call = await modern.post("tools/call", {"_meta": meta(), "name": "greet", "arguments": {}})
        get = await modern.post("tasks/get", {"_meta": meta(), "taskId": "t"})
    for response in (call, get):
        error = refusal(response, 400, mcp2026.MISSING_CAPABILITY)
        assert error["data"]["requiredCapabilities"] == {
            "extensions": {mcp2026.TASKS_EXTENSION: {}}
        }


# -- header and envelope validation ---------------------------------------------------

LIST = {"_meta": meta()}
CALL = {"_meta": meta(), "name": "double", "arguments": {"x": 1}}
GET = {"_meta": meta(TASK_CAPS), "taskId": "abc"}


@pytest.mark.parametrize(
    ("method", "params", "headers", "drop"),
    [
        pytest.param("tools/call", CALL, {"mcp-method": "tools/list"}, (), id="method"),
        pytest.param("tools/call", CALL, {"mcp-name": "count"}, (), id="name"),
        pytest.param("tasks/get", GET, {"mcp-name": "xyz"}, (), id="task-id"),
        pytest.param("tools/list", LIST, {"mcp-protocol-version": "2025-11-25"}, (), id="version"),
        pytest.param("tools/list", LIST, {}, ("mcp-protocol-version",), id="no-version"),
        pytest.param("tools/list", LIST, {}, ("mcp-method",), id="no-method"),
        pytest.param("tools/call", CALL, {}, ("mcp-name",), id="no-name"),
        pytest.param("tools/call", CALL, {"mcp-name": b"d\xc3\xb6uble"}, (), id="non-ascii"),
        pytest.param("tools/call", CALL, {"mcp-name": "=?base64?@@?="}, (), id="bad-base64"),
    ],
)
async def test_a_header_that_disagrees_with_the_body_is_400_header_mismatch(
    method: str, params: dict[str, Any], headers: dict[str, str | bytes], drop: tuple[str, ...]
) -> None:
    """ "Servers that process the request body MUST reject requests where the values
    specified in the headers do not match ... HTTP status 400 Bad Request ... -32020";
    failures include "A required standard header (MCP-Protocol-Version, Mcp-Method,
    Mcp-Name) is missing" and "A header value contains invalid characters"."""
    async with modern_client() as modern:
        response = await modern.post(method, params, drop=drop, headers=headers)
    error = refusal(response, 400, mcp2026.HEADER_MISMATCH)
    assert error["message"].startswith("Header mismatch: ")


TASK_METHODS = ("tasks/get", "tasks/update", "tasks/cancel")


async def test_a_missing_mcp_name_on_tasks_methods_is_accepted_by_default() -> None:
    """Sending Mcp-Name is the client's MUST, and FastMCP 4's client omits it on
    tasks/get: the body names the task, so a missing one passes on tasks/* (a mismatched
    one never does, above)."""
    async with modern_client() as modern:
        created = await modern.result("tools/call", {"_meta": meta(TASK_CAPS), "name": "greet"})
        task = {"_meta": meta(TASK_CAPS), "taskId": created["taskId"]}
        await modern.task(created["taskId"], "input_required")
        answers = {}
        for method in TASK_METHODS:
            params = {**task, "inputResponses": {}} if method == "tasks/update" else task
            response = await modern.post(method, params, drop=("mcp-name",))
            assert response.status_code == 200, response.text
            answers[method] = response.json()["result"]
        ended = await modern.task(created["taskId"], "cancelled")
    assert answers["tasks/get"]["status"] == "input_required"
    assert answers["tasks/update"]["resultType"] == "complete"
    assert answers["tasks/cancel"]["resultType"] == "complete"
    assert ended["status"] == "cancelled"


@pytest.mark.parametrize("method", TASK_METHODS)
async def test_strict_headers_refuse_a_missing_mcp_name_on_tasks_methods(method: str) -> None:
    async with modern_client(strict_headers=True) as modern:
        response = await modern.post(method, {**GET, "inputResponses": {}}, drop=("mcp-name",))
    error = refusal(response, 400, mcp2026.HEADER_MISMATCH)
    assert error["message"] == "Header mismatch: the Mcp-Name header is missing"


@pytest.mark.parametrize("strict_headers", [False, True])
@pytest.mark.parametrize(
    ("method", "params", "headers", "drop"),
    [
        pytest.param("tools/call", CALL, {}, ("mcp-name",), id="no-name-on-tools-call"),
        pytest.param("tasks/get", GET, {"mcp-name": "xyz"}, (), id="mismatched-on-tasks-get"),
        pytest.param("tasks/get", GET, {}, ("mcp-method", "mcp-name"), id="no-method"),
    ],
)
async def test_what_stays_refused_whatever_the_option(
    strict_headers: bool,
    method: str,
    params: dict[str, Any],
    headers: dict[str, str],
    drop: tuple[str, ...],
) -> None:
    async with modern_client(strict_headers=strict_headers) as modern:
        response = await modern.post(method, params, drop=drop, headers=headers)
    refusal(response, 400, mcp2026.HEADER_MISMATCH)


async def test_a_base64_encoded_name_is_decoded_before_comparing() -> None:
    """ "servers MUST decode an encoded Mcp-Name or Mcp-Param-{Name} value before comparing
    it to the corresponding request body value"."""
    encoded = "=?base64?" + base64.b64encode(b"double").decode() + "?="
    async with modern_client() as modern:
        response = await modern.post("tools/call", CALL, headers={"mcp-name": encoded})
    assert response.status_code == 200
    assert response.json()["result"]["content"] == [{"type": "text", "text": "2"}]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"_meta": {mcp2026.PROTOCOL_VERSION: VERSION}}, id="no-capabilities"),
        pytest.param({}, id="no-meta"),
    ],
)
async def test_missing_envelope_fields_are_400_invalid_params(params: dict[str, Any]) -> None:
    """basic-index: "A request missing any required field is malformed; the server MUST
    reject it with JSON-RPC error code -32602 (Invalid params). On HTTP, the response
    status MUST be 400 Bad Request." (Without `_meta`, the headers mark it modern.)"""
    async with modern_client() as modern:
        response = await modern.post(
            "tools/list", params, headers={"mcp-protocol-version": VERSION}
        )
    refusal(response, 400, -32602)


async def test_an_unsupported_version_is_400_with_the_supported_ones() -> None:
    """ "If the server does not implement the requested protocol version ... it MUST respond
    with 400 Bad Request and an UnsupportedProtocolVersionError listing its supported
    versions"."""
    async with modern_client() as modern:
        response = await modern.post("tools/list", {"_meta": meta(version="2030-01-01")})
    error = refusal(response, 400, mcp2026.UNSUPPORTED_VERSION)
    assert error["data"] == {"supported": list(mcp2026.ALL_VERSIONS), "requested": "2030-01-01"}


async def test_a_notification_is_202() -> None:
    """ "If the body is a JSON-RPC notification: If the server accepts it, the server MUST
    return HTTP status code 202 Accepted with no body."."""
    params = {"_meta": meta(), "requestId": 3}
    async with modern_client() as modern:
        response = await modern.client.post(
            "/mcp",
            content=body(None, "notifications/cancelled", params),
            headers=headers_for("notifications/cancelled", params),
        )
    assert (response.status_code, response.content) == (202, b"")


async def test_a_notification_before_a_ready_answer_makes_it_a_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever a handler says before its answer goes first, on the request's stream: an
    answer ready at once still becomes an SSE stream when a notification preceded it."""

    def discover(methods: ModernMethods, request: Request, env: mcp2026.Envelope) -> dict[str, Any]:
        methods.session.notify("notifications/message", {"level": "info", "data": "hi"})
        return {"ttlMs": 0}

    monkeypatch.setitem(modern_methods._HANDLERS, "server/discover", discover)
    async with modern_client() as modern:
        response = await modern.post("server/discover", {"_meta": meta()})
    note, answer = messages_of(response)
    assert note["params"]["data"] == "hi"
    assert answer["result"]["ttlMs"] == 0


async def test_a_notification_after_the_answer_goes_nowhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once its request is answered, a POST's session has no stream: a late notification
    is dropped, not written to a finished response."""
    kept: list[Session] = []

    async def discover(methods: ModernMethods, request: Request, env: mcp2026.Envelope) -> Any:
        kept.append(methods.session)
        return {"ttlMs": 0}

    monkeypatch.setitem(modern_methods._HANDLERS, "server/discover", discover)
    async with modern_client() as modern:
        answer = await modern.result("server/discover", {"_meta": meta()})
        kept[0].notify("notifications/message", {"level": "info", "data": "late"})
    assert answer["ttlMs"] == 0


async def test_a_handler_that_crashes_answers_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in a handler is the request's -32603 (as over stdio), not a dropped stream."""

    async def discover(methods: ModernMethods, request: Request, env: mcp2026.Envelope) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(modern_methods._HANDLERS, "server/discover", discover)
    async with modern_client() as modern:
        response = await modern.post("server/discover", {"_meta": meta()})
    assert response.status_code == 200
    error = response.json()["error"]
    assert error["code"] == -32603
    assert re.fullmatch(r"Internal error \(id [0-9a-f]{12}\): see the server log", error["message"])


# -- beside 2025-11-25 ----------------------------------------------------------------


async def test_a_2025_session_and_a_2026_client_at_the_same_time() -> None:
    """versioning: "A dual-era server MAY serve both eras concurrently on the same
    endpoint"; "An initialize request selects legacy semantics, scoped to ... the session
    (HTTP)". Modern POSTs open no session."""
    transport = HttpTransport(build().app.spec())
    async with serving(transport.asgi()) as client:
        legacy = await open_session(client)
        modern = Modern(client)
        created = await legacy.result("tools/call", {"name": "greet", "arguments": {}, "task": {}})
        discovered = await modern.result("server/discover", {"_meta": meta()})
        doubled = await modern.result(
            "tools/call", {"_meta": meta(), "name": "double", "arguments": {"x": 2}}
        )
        listed = await legacy.result("tools/list")
        task = await legacy.result("tasks/get", {"taskId": created["task"]["taskId"]})
        assert list(transport.sessions) == [legacy.session_id]
    assert discovered["supportedVersions"][0] == VERSION
    assert doubled["content"] == [{"type": "text", "text": "4"}]
    assert {t["name"] for t in listed["tools"]} >= {"double", "greet"}
    assert task["taskId"] == created["task"]["taskId"]


async def test_a_modern_request_with_a_session_id_is_400() -> None:
    """ "An Mcp-Session-Id header on a request" is legacy traffic (Backward Compatibility);
    a 2026-07-28 request inside a 2025-11-25 session is refused, and the session goes on."""
    async with serving(build().app.http_app()) as client:
        legacy = await open_session(client)
        modern = Modern(client, **{"mcp-session-id": legacy.session_id})
        response = await modern.post("tools/list", {"_meta": meta()})
        assert await legacy.result("ping") == {}
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600
    assert "mcp-session-id" not in response.headers


# -- auth -----------------------------------------------------------------------------


async def test_modern_requests_are_bound_to_the_principal() -> None:
    """basic-index: "Servers SHOULD implement proper authentication"; a task belongs to
    the token's principal: another principal's task id is "not found" (S-47, S-50), while
    the same principal reaches it from a 2025-11-25 session too."""
    async with serving(build(TOKENS).app.http_app()) as client:
        anonymous = await Modern(client).post("server/discover", {"_meta": meta()})
        alice = Modern(client, **bearer("tok-a"))
        bob = Modern(client, **bearer("tok-b"))
        created = await alice.result(
            "tools/call", {"_meta": meta(TASK_CAPS), "name": "greet", "arguments": {}}
        )
        task_id = created["taskId"]
        params = {"_meta": meta(TASK_CAPS), "taskId": task_id}
        theirs = await bob.answer("tasks/get", params)
        cancel = await bob.answer("tasks/cancel", params)
        mine = await alice.result("tasks/get", params)
        session = await open_session(client, **bearer("tok-a"))
        legacy = await session.result("tasks/get", {"taskId": task_id})
    assert anonymous.status_code == 401
    not_found = f"Failed to retrieve task: Task not found ({task_id})"
    assert theirs["error"] == cancel["error"] == {"code": -32602, "message": not_found}
    assert mine["status"] in ("working", "input_required")
    assert legacy["taskId"] == task_id


# -- long-lived streams: a real server ------------------------------------------------


class _InProcess(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test runner keeps its signal handlers


@asynccontextmanager
async def live(transport: HttpTransport) -> AsyncIterator[httpx.AsyncClient]:
    """uvicorn on a loopback port, in this event loop; an httpx client for it."""
    config = uvicorn.Config(
        transport.asgi(), lifespan="on", log_config=None, access_log=False, ws="none",
        http="h11", timeout_graceful_shutdown=1, log_level="warning",
    )  # fmt: skip
    server = _InProcess(config)
    with socket.socket() as sock, anyio.fail_after(TIMEOUT):
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
                await anyio.sleep(0.01)
            try:
                async with httpx.AsyncClient(base_url=base) as client:
                    yield client
            finally:
                server.should_exit = True


async def events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON-RPC messages of an SSE stream as they come (comments skipped)."""
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            yield pydantic_core.from_json(line.removeprefix("data: "))


async def test_subscriptions_listen_streams_task_notifications() -> None:
    """subscriptions: "The server MUST send notifications/subscriptions/acknowledged as the
    first message"; "All notifications delivered on the stream carry
    io.modelcontextprotocol/subscriptionId in _meta"; at shutdown "it SHOULD respond to the
    original subscriptions/listen request with a completion result before closing"."""
    transport = HttpTransport(build().app.spec())
    async with live(transport) as client:
        modern = Modern(client)
        created = await modern.result(
            "tools/call", {"_meta": meta(TASK_CAPS), "name": "greet", "arguments": {}}
        )
        task_id = created["taskId"]
        listen = {"_meta": meta(TASK_CAPS), "notifications": {"taskIds": [task_id]}}
        listen_id = modern.next_id + 1
        async with client.stream(
            "POST", "/mcp", content=body(listen_id, "subscriptions/listen", listen),
            headers=headers_for("subscriptions/listen", listen),
        ) as stream:  # fmt: skip
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert "mcp-session-id" not in stream.headers
            received = events(stream)
            ack = await anext(received)
            assert ack["method"] == "notifications/subscriptions/acknowledged"
            agreed = {"taskIds": [task_id]}
            assert ack["params"] == {"_meta": {SUB: listen_id}, "notifications": agreed}
            modern.next_id = listen_id
            waiting = await modern.task(task_id, "input_required")
            [key] = waiting["inputRequests"]
            await modern.result("tasks/update", {
                "_meta": meta(TASK_CAPS), "taskId": task_id,
                "inputResponses": {key: {"action": "accept", "content": {"name": "Lin"}}},
            })  # fmt: skip
            seen = []
            async for note in received:
                assert note["method"] == "notifications/tasks"
                assert note["params"]["_meta"] == {SUB: listen_id}
                assert note["params"]["taskId"] == task_id
                seen.append(note["params"]["status"])
                if seen[-1] == "completed":
                    assert note["params"]["result"]["content"] == [
                        {"type": "text", "text": "Hello, Lin!"}
                    ]
                    break
            await transport.close_sessions()  # the server ends the subscription
            rest = [message async for message in received]
    assert seen[-1] == "completed"
    assert len(rest) == 1
    assert rest[0]["id"] == listen_id
    assert rest[0]["result"]["resultType"] == "complete"
    assert rest[0]["result"]["_meta"][SUB] == listen_id


async def test_a_quiet_subscription_gets_keep_alive_comments() -> None:
    """ "For long-lived streams ... servers are encouraged to periodically emit an SSE
    comment line (a line beginning with a colon ...) as a keep-alive"."""
    transport = HttpTransport(build().app.spec())
    transport.modern.keepalive_s = 0.05
    listen = {"_meta": meta(), "notifications": {}}
    async with live(transport) as client, client.stream(
        "POST", "/mcp", content=body(1, "subscriptions/listen", listen),
        headers=headers_for("subscriptions/listen", listen),
    ) as stream:  # fmt: skip
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("event: message")
        ack = pydantic_core.from_json((await anext(lines)).removeprefix("data: "))
        assert ack["params"] == {"_meta": {SUB: 1}, "notifications": {}}
        comments = []
        async for line in lines:
            if line:
                comments.append(line)
            if len(comments) == 2:
                break
    assert comments == [": keep-alive", ": keep-alive"]


async def test_closing_the_stream_cancels_the_request() -> None:
    """ "Closing the SSE response stream MUST be treated by the server as cancellation of
    that request." (Cancellation)"""
    harness = build()
    async with live(HttpTransport(harness.app.spec())) as client:
        params = {"_meta": meta(progressToken="t"), "name": "hang", "arguments": {}}
        async with client.stream(
            "POST", "/mcp", content=body(1, "tools/call", params),
            headers=headers_for("tools/call", params),
        ) as stream:  # fmt: skip
            first = await anext(events(stream))
            assert first["method"] == "notifications/progress"
        await harness.cancelled.wait()


@pytest.mark.parametrize(("argv", "strict"), [([], False), (["--strict-headers"], True)])
def test_taskapp_run_passes_strict_headers_to_the_app(
    argv: list[str], strict: bool, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    """`taskapp run --transport http --strict-headers` is `TaskApp.run(strict_headers=True)`."""
    from pathlib import Path

    from taskapp import cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(TaskApp, "run", lambda self, *args, **kwargs: seen.update(kwargs))
    target = str(Path(__file__).parent.parent / "examples" / "hello.py") + ":app"
    assert cli.main(["run", target, "--transport", "http", *argv]) == 0
    assert seen["strict_headers"] is strict
