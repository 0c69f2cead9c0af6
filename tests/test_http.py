"""The Streamable HTTP transport in memory: every status code, Origin, auth, task binding.

Requests go through httpx's ASGITransport to `app.http_app()` with its lifespan
entered by hand (ASGITransport does not run it). ASGITransport buffers whole
responses, so tests that need a stream to stay open live in test_http_interop.py.
S-numbers refer to /work/shared/spec/TASKS-CHECKLIST.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import jwt
import pydantic_core
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from taskapp import TaskApp, TaskContext, task_tool
from taskapp.auth import Auth, JWTVerifier, Principal, StaticTokenVerifier, TokenVerifier
from taskapp.transports.http import HttpTransport

from .raw import INIT_PARAMS

pytestmark = pytest.mark.anyio

TIMEOUT = 10
BASE = "http://127.0.0.1"
ACCEPT_BOTH = "application/json, text/event-stream"
POST_HEADERS = {"content-type": "application/json", "accept": ACCEPT_BOTH}
METADATA_URL = f"{BASE}/.well-known/oauth-protected-resource/mcp"
RELATED = "io.modelcontextprotocol/related-task"
NO_SESSION = "Bad request: the Mcp-Session-Id header is missing"
SESSION_NOT_FOUND = "Session not found: start a new one with initialize"


@task_tool(mode="optional")
async def sleeper(ctx: TaskContext, seconds: float) -> str:
    """Sleep for `seconds`."""
    await ctx.update_status(f"sleeping {seconds:g}s")
    await anyio.sleep(seconds)
    return f"slept {seconds:g}s"


def make_app(auth: Auth | TokenVerifier | None = None) -> TaskApp:
    return TaskApp("http-test", version="1.0.0", tools=[sleeper], auth=auth)


def rpc(request_id: int | str, method: str, params: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return pydantic_core.to_json(message)


def messages_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a response: one JSON body, or every SSE `message` event."""
    content_type = response.headers["content-type"]
    if content_type == "application/json":
        return [response.json()]
    assert content_type == "text/event-stream; charset=utf-8", content_type
    messages = []
    for event in response.text.split("\n\n"):
        if not event:
            continue
        kind, data = event.split("\n")
        assert kind == "event: message"
        assert data.startswith("data: ")
        messages.append(pydantic_core.from_json(data.removeprefix("data: ")))
    return messages


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC error of an HTTP-level refusal (`id` null)."""
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] is None
    assert set(body) == {"jsonrpc", "id", "error"}
    error: dict[str, Any] = body["error"]
    return error


class McpHttp:
    """One MCP session over HTTP."""

    def __init__(self, client: httpx.AsyncClient, session_id: str, headers: Mapping[str, str]):
        self.client = client
        self.session_id = session_id
        self.headers = {
            **POST_HEADERS,
            **headers,
            "mcp-session-id": session_id,
            "mcp-protocol-version": "2025-11-25",
        }
        self._next_id = 100

    async def post(self, body: bytes, **headers: str) -> httpx.Response:
        return await self.client.post("/mcp", content=body, headers={**self.headers, **headers})

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON-RPC response to one request (the last message of its HTTP answer)."""
        self._next_id += 1
        response = await self.post(rpc(self._next_id, method, params))
        assert response.status_code == 200, response.text
        assert response.headers["mcp-session-id"] == self.session_id
        answer = messages_of(response)[-1]
        assert answer["id"] == self._next_id
        return answer

    async def result(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.call(method, params)
        assert "result" in answer, answer
        result: dict[str, Any] = answer["result"]
        return result

    async def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.call(method, params)
        assert "error" in answer, answer
        error: dict[str, Any] = answer["error"]
        return error

    async def start_task(self, seconds: float) -> str:
        created = await self.result(
            "tools/call", {"name": "sleeper", "arguments": {"seconds": seconds}, "task": {}}
        )
        task_id: str = created["task"]["taskId"]
        return task_id


async def open_session(client: httpx.AsyncClient, **headers: str) -> McpHttp:
    response = await client.post(
        "/mcp", content=rpc(1, "initialize", INIT_PARAMS), headers={**POST_HEADERS, **headers}
    )
    assert response.status_code == 200, response.text
    session = McpHttp(client, response.headers["mcp-session-id"], headers)
    note = await session.post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    assert note.status_code == 202
    return session


@asynccontextmanager
async def serving(asgi: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    with anyio.fail_after(TIMEOUT):
        async with (
            asgi.router.lifespan_context(asgi),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url=BASE) as client,
        ):
            yield client


# -- sessions and the shape of answers ------------------------------------------------


async def test_initialize_opens_a_session() -> None:
    async with serving(make_app().http_app()) as client:
        response = await client.post(
            "/mcp", content=rpc(1, "initialize", INIT_PARAMS), headers=POST_HEADERS
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    session_id = response.headers["mcp-session-id"]
    assert len(session_id) >= 40  # 32 random bytes, url-safe
    assert session_id.isascii()
    body = response.json()
    assert body["id"] == 1
    assert body["result"]["protocolVersion"] == "2025-11-25"
    assert body["result"]["serverInfo"] == {"name": "http-test", "version": "1.0.0"}
    # S-49: an HTTP session identifies the requestor, so tasks.list is declared.
    assert body["result"]["capabilities"]["tasks"]["list"] == {}


async def test_every_initialize_opens_a_new_session() -> None:
    async with serving(make_app().http_app()) as client:
        one = await open_session(client)
        two = await open_session(client)
        assert one.session_id != two.session_id
        assert await one.result("ping") == {}
        assert await two.result("ping") == {}


@pytest.mark.parametrize(
    "body",
    [
        b'{"id":1,"method":"initialize","params":{}}',  # no "jsonrpc"
        b'{"jsonrpc":"2.0","method":"initialize","params":{}}',  # a notification
        b'{"jsonrpc":"2.0","id":[1],"method":"initialize","params":{}}',  # a bad id
    ],
)
async def test_a_malformed_initialize_opens_no_session(body: bytes) -> None:
    """Issue 19: these were answered 400 (or 202) after a session had been opened, whose
    id the client never learnt: about 31 KB each, never freed."""
    transport = HttpTransport(make_app().spec())
    async with serving(transport.asgi()) as client:
        response = await client.post("/mcp", content=body, headers=POST_HEADERS)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == -32600
        assert "mcp-session-id" not in response.headers
        assert transport.sessions == {}


@pytest.mark.parametrize("params", [INIT_PARAMS, None, {}])
async def test_a_second_initialize_in_a_session_is_refused_and_the_session_serves_on(
    params: dict[str, Any] | None,
) -> None:
    """Found by tests/test_fuzz.py: the error answer to an initialize inside an open
    session closed that session (meant for a failed first initialize), so the client's
    next request got 404."""
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        again = await session.call("initialize", params)
        assert again["error"]["code"] in (-32600, -32602)
        assert await session.result("ping") == {}


async def test_notifications_and_responses_are_accepted_with_202() -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        note = await session.post(b'{"jsonrpc":"2.0","method":"notifications/cancelled"}')
        response = await session.post(b'{"jsonrpc":"2.0","id":77,"result":{}}')
        assert await session.result("ping") == {}
    assert (note.status_code, note.content) == (202, b"")
    assert (response.status_code, response.content) == (202, b"")


async def test_plain_requests_are_answered_with_json() -> None:
    """tools/list, tasks/get (S-19: no SSE for tasks/get), a task-augmented tools/call."""
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        task_id = await session.start_task(0.01)
        answers = [
            await session.post(rpc(2, "tools/list")),
            await session.post(rpc(3, "tasks/get", {"taskId": task_id})),
            await session.post(rpc(4, "tasks/list")),
            await session.post(
                rpc(5, "tools/call", {"name": "sleeper", "arguments": {"seconds": 0}, "task": {}})
            ),
        ]
    for response in answers:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["mcp-session-id"] == session.session_id
    assert [messages_of(r)[0]["id"] for r in answers] == [2, 3, 4, 5]
    assert messages_of(answers[1])[0]["result"]["taskId"] == task_id
    assert messages_of(answers[3])[0]["result"]["task"]["status"] == "working"


async def test_tools_call_and_tasks_result_are_answered_with_sse() -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        inline = await session.post(
            rpc(2, "tools/call", {"name": "sleeper", "arguments": {"seconds": 0}})
        )
        task_id = await session.start_task(0.01)
        result = await session.post(rpc(3, "tasks/result", {"taskId": task_id}))
    assert inline.status_code == 200
    assert inline.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert inline.headers["cache-control"] == "no-cache"
    assert inline.headers["mcp-session-id"] == session.session_id
    assert inline.text == (
        "event: message\n"
        'data: {"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"slept 0s"}]}}'
        "\n\n"
    )
    assert result.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert messages_of(result) == [
        {
            "jsonrpc": "2.0",
            "id": 3,
            "result": {
                "content": [{"type": "text", "text": "slept 0.01s"}],
                "_meta": {RELATED: {"taskId": task_id}},
            },
        }
    ]


async def test_older_protocol_version_header_is_accepted() -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        response = await session.post(rpc(2, "ping"), **{"mcp-protocol-version": "2025-06-18"})
    assert response.status_code == 200
    assert messages_of(response) == [{"jsonrpc": "2.0", "id": 2, "result": {}}]


# -- bad requests ---------------------------------------------------------------------


async def test_a_request_without_session_header_is_400() -> None:
    async with serving(make_app().http_app()) as client:
        await open_session(client)
        post = await client.post("/mcp", content=rpc(2, "ping"), headers=POST_HEADERS)
        get = await client.get("/mcp", headers={"accept": "text/event-stream"})
        delete = await client.delete("/mcp")
    for response in (post, get, delete):
        assert response.status_code == 400
        assert error_of(response) == {"code": -32600, "message": NO_SESSION}


async def test_an_unknown_session_is_404() -> None:
    headers = {"mcp-session-id": "no-such-session"}
    async with serving(make_app().http_app()) as client:
        await open_session(client)
        post = await client.post("/mcp", content=rpc(2, "ping"), headers=POST_HEADERS | headers)
        get = await client.get("/mcp", headers={"accept": "text/event-stream", **headers})
        delete = await client.delete("/mcp", headers=headers)
    for response in (post, get, delete):
        assert response.status_code == 404
        assert error_of(response) == {"code": -32600, "message": SESSION_NOT_FOUND}


async def test_an_unsupported_protocol_version_is_400() -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        response = await session.post(rpc(2, "ping"), **{"mcp-protocol-version": "1999-01-01"})
        assert await session.result("ping") == {}  # the session goes on
    assert response.status_code == 400
    assert error_of(response) == {
        "code": -32600,
        "message": "Bad request: unsupported MCP-Protocol-Version '1999-01-01'",
    }


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_a_wrong_content_type_is_415(content_type: str) -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        response = await session.post(rpc(2, "ping"), **{"content-type": content_type})
    assert response.status_code == 415
    assert error_of(response) == {
        "code": -32600,
        "message": "Unsupported media type: send application/json",
    }


async def test_json_with_a_charset_is_accepted() -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        response = await session.post(
            rpc(2, "ping"), **{"content-type": "application/json; charset=utf-8"}
        )
    assert response.status_code == 200
    assert messages_of(response) == [{"jsonrpc": "2.0", "id": 2, "result": {}}]


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream", "text/html", ""])
async def test_post_must_accept_json_and_event_stream_else_406(accept: str) -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        response = await session.post(rpc(2, "ping"), accept=accept)
    assert response.status_code == 406
    assert error_of(response) == {
        "code": -32600,
        "message": "Not acceptable: accept application/json and text/event-stream",
    }


async def test_invalid_json_is_400_with_a_parse_error() -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        response = await session.post(b'{"jsonrpc": "2.0", "id": 2, "method": ')
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == -32700
    assert error["message"].startswith("Parse error: ")


@pytest.mark.parametrize("body", [b'[{"jsonrpc":"2.0","id":2,"method":"ping"}]', b"[]", b"42"])
async def test_a_batch_or_non_object_is_400_invalid_request(body: bytes) -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        response = await session.post(body)
    assert response.status_code == 400
    assert error_of(response) == {
        "code": -32600,
        "message": "Invalid request: send one JSON-RPC message per POST",
    }


async def test_a_body_over_the_limit_is_413() -> None:
    asgi = HttpTransport(make_app().spec(), max_body_bytes=1000).asgi()
    async with serving(asgi) as client:
        session = await open_session(client)
        padding = "x" * 1000
        response = await session.post(rpc(2, "ping", {"_meta": {"padding": padding}}))
        small = await session.post(rpc(3, "ping"))
    assert response.status_code == 413
    assert error_of(response) == {
        "code": -32600,
        "message": "Payload too large: over 1000 bytes",
    }
    assert small.status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_other_methods_are_405(method: str) -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        response = await client.request(method, "/mcp", content=b"{}", headers=session.headers)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) >= {"GET", "POST", "DELETE"}


@pytest.mark.parametrize("accept", ["application/json", "*/*", ""])
async def test_get_must_accept_event_stream_else_406(accept: str) -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        response = await client.get("/mcp", headers={**session.headers, "accept": accept})
    assert response.status_code == 406
    assert error_of(response) == {
        "code": -32600,
        "message": "Not acceptable: accept text/event-stream",
    }


async def test_delete_ends_the_session() -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        ended = await client.delete("/mcp", headers=session.headers)
        after = await session.post(rpc(2, "ping"))
        again = await client.delete("/mcp", headers=session.headers)
        other = await open_session(client)  # the server goes on
        assert await other.result("ping") == {}
    assert ended.status_code == 200
    assert after.status_code == 404
    assert error_of(after) == {"code": -32600, "message": SESSION_NOT_FOUND}
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"jsonrpc":"1.0","id":2,"method":"ping"}',
            {
                "id": 2,
                "error": {"code": -32600, "message": 'Invalid request: "jsonrpc" must be "2.0"'},
            },
        ),
        (
            b'{"jsonrpc":"2.0","id":2,"method":"ping","params":[1]}',
            {"id": 2, "error": {"code": -32602, "message": "Invalid params: must be an object"}},
        ),
        (
            b'{"jsonrpc":"2.0","id":2,"method":7}',
            {
                "id": 2,
                "error": {"code": -32600, "message": "Invalid request: method must be a string"},
            },
        ),
        (
            b'{"jsonrpc":"2.0","id":true,"method":"ping"}',
            {
                "id": None,
                "error": {
                    "code": -32600,
                    "message": "Invalid request: id must be a string or integer",
                },
            },
        ),
    ],
    ids=["jsonrpc-1.0", "params-list", "method-int", "id-bool"],
)
async def test_an_invalid_request_is_answered_on_its_own_post(
    body: bytes, expected: dict[str, Any]
) -> None:
    """A malformed request with an id gets its error on the POST that carried it (no hang).

    The error comes from the JSON-RPC layer, as on stdio; whether HTTP says 200 or 400
    is left open, but the POST must not wait forever for an answer sent elsewhere.
    """
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        with anyio.fail_after(1):
            response = await session.post(body)
        assert await session.result("ping") == {}
    assert response.status_code in (200, 400)
    assert messages_of(response) == [{"jsonrpc": "2.0", **expected}]


# -- Origin (DNS rebinding) -----------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [None, "http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:3000"],
)
async def test_loopback_origins_are_accepted(origin: str | None) -> None:
    headers = {} if origin is None else {"origin": origin}
    async with serving(make_app().http_app()) as client:
        session = await open_session(client, **headers)
        assert await session.result("ping") == {}


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "http://localhost.evil.example", "null", "https://app.example"],
)
async def test_a_foreign_origin_is_403(origin: str) -> None:
    async with serving(make_app().http_app()) as client:
        session = await open_session(client)
        post = await session.post(rpc(2, "ping"), origin=origin)
        get = await client.get("/mcp", headers={**session.headers, "origin": origin})
        delete = await client.delete("/mcp", headers={**session.headers, "origin": origin})
        initialize = await client.post(
            "/mcp",
            content=rpc(1, "initialize", INIT_PARAMS),
            headers={**POST_HEADERS, "origin": origin},
        )
        assert await session.result("ping") == {}  # the refused DELETE ended nothing
    for response in (post, get, delete, initialize):
        assert response.status_code == 403
        assert error_of(response) == {
            "code": -32600,
            "message": f"Origin {origin!r} is not allowed",
        }
    assert "mcp-session-id" not in initialize.headers


async def test_dns_rebinding_with_a_matching_host_is_403() -> None:
    """A page on evil.example, rebound to 127.0.0.1, sends Host and Origin evil.example.

    That the Origin names the Host proves nothing: in a DNS-rebinding attack they
    always agree. Only loopback and configured origins may pass, even when the Host
    itself is allowed (by default it is not: 421, see test_http_limits.py).
    """
    attack = {"host": "evil.example:8000", "origin": "http://evil.example:8000"}
    async with serving(make_app().http_app(allowed_hosts=["evil.example"])) as client:
        response = await client.post(
            "/mcp", content=rpc(1, "initialize", INIT_PARAMS), headers={**POST_HEADERS, **attack}
        )
    assert response.status_code == 403


async def test_allowed_origins_are_accepted() -> None:
    asgi = make_app().http_app(allowed_origins=["https://app.example"])
    async with serving(asgi) as client:
        session = await open_session(client, origin="https://app.example")
        ok = await session.post(rpc(2, "ping"))
        other = await session.post(rpc(3, "ping"), origin="https://other.example")
        port = await session.post(rpc(4, "ping"), origin="https://app.example:8443")
    assert ok.status_code == 200
    assert (other.status_code, port.status_code) == (403, 403)


async def test_a_star_accepts_any_origin() -> None:
    async with serving(make_app().http_app(allowed_origins=["*"])) as client:
        session = await open_session(client, origin="http://evil.example")
        assert await session.result("ping") == {}


# -- auth: bearer tokens --------------------------------------------------------------

TOKENS = StaticTokenVerifier(
    {
        "tok-a": "alice",
        "tok-b": "bob",
        "tok-scoped": Principal("carol", scopes=frozenset({"tasks", "read", "extra"})),
        "tok-partial": Principal("dave", scopes=frozenset({"tasks"})),
    }
)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_no_token_is_401_with_the_metadata_url() -> None:
    async with serving(make_app(TOKENS).http_app()) as client:
        alice = await open_session(client, **bearer("tok-a"))
        initialize = await client.post(
            "/mcp", content=rpc(1, "initialize", INIT_PARAMS), headers=POST_HEADERS
        )
        anonymous = {k: v for k, v in alice.headers.items() if k != "authorization"}
        post = await client.post("/mcp", content=rpc(2, "ping"), headers=anonymous)
        get = await client.get("/mcp", headers={**anonymous, "accept": "text/event-stream"})
        delete = await client.delete("/mcp", headers=anonymous)
        assert await alice.result("ping") == {}
    for response in (initialize, post, get, delete):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == f'Bearer resource_metadata="{METADATA_URL}"'
        assert error_of(response) == {
            "code": -32600,
            "message": "Unauthorized: a valid bearer token is needed",
        }
    assert "mcp-session-id" not in initialize.headers


@pytest.mark.parametrize(
    "authorization", ["Bearer nope", "Basic dG9rLWE=", "Token tok-a", "Bearer tok-a-but-longer"]
)
async def test_a_bad_token_is_401_invalid_token(authorization: str) -> None:
    async with serving(make_app(TOKENS).http_app()) as client:
        response = await client.post(
            "/mcp",
            content=rpc(1, "initialize", INIT_PARAMS),
            headers={**POST_HEADERS, "authorization": authorization},
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{METADATA_URL}", error="invalid_token"'
    )


async def test_the_bearer_scheme_is_case_insensitive() -> None:
    async with serving(make_app(TOKENS).http_app()) as client:
        session = await open_session(client, authorization="bearer tok-a")
        assert await session.result("ping") == {}


async def test_a_missing_scope_is_403_insufficient_scope() -> None:
    auth = Auth(TOKENS, required_scopes=["tasks", "read"])
    async with serving(make_app(auth).http_app()) as client:
        refused = await client.post(
            "/mcp",
            content=rpc(1, "initialize", INIT_PARAMS),
            headers={**POST_HEADERS, **bearer("tok-partial")},
        )
        carol = await open_session(client, **bearer("tok-scoped"))
        assert await carol.result("ping") == {}
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="tasks read", resource_metadata="{METADATA_URL}"'
    )
    assert error_of(refused) == {
        "code": -32600,
        "message": "Forbidden: missing scopes ['read']",
    }


async def test_protected_resource_metadata() -> None:
    """RFC 9728 metadata at both well-known paths; no token needed to read it."""
    auth = Auth(TOKENS, authorization_servers=["https://issuer.example"], required_scopes=["tasks"])
    async with serving(make_app(auth).http_app()) as client:
        responses = [
            await client.get("/.well-known/oauth-protected-resource/mcp"),
            await client.get("/.well-known/oauth-protected-resource"),
        ]
    for response in responses:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "resource": f"{BASE}/mcp",
            "authorization_servers": ["https://issuer.example"],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["tasks"],
        }


async def test_metadata_with_a_configured_resource_and_path() -> None:
    auth = Auth(TOKENS, resource="https://mcp.example/api")
    async with serving(make_app(auth).http_app(path="/api")) as client:
        metadata = await client.get("/.well-known/oauth-protected-resource/api")
        refused = await client.post("/api", content=rpc(1, "ping"), headers=POST_HEADERS)
    assert metadata.json() == {
        "resource": "https://mcp.example/api",
        "authorization_servers": [],
        "bearer_methods_supported": ["header"],
    }
    assert refused.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{BASE}/.well-known/oauth-protected-resource/api"'
    )


async def test_no_metadata_without_auth() -> None:
    async with serving(make_app().http_app()) as client:
        response = await client.get("/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 404


async def test_another_principals_session_is_404() -> None:
    async with serving(make_app(TOKENS).http_app()) as client:
        alice = await open_session(client, **bearer("tok-a"))
        as_bob = {**alice.headers, **bearer("tok-b")}
        post = await client.post("/mcp", content=rpc(2, "ping"), headers=as_bob)
        get = await client.get("/mcp", headers={**as_bob, "accept": "text/event-stream"})
        delete = await client.delete("/mcp", headers=as_bob)
        assert await alice.result("ping") == {}  # bob's DELETE ended nothing
    for response in (post, get, delete):
        assert response.status_code == 404
        assert error_of(response) == {"code": -32600, "message": SESSION_NOT_FOUND}


# -- JWT ------------------------------------------------------------------------------

ISSUER = "https://issuer.example"
AUDIENCE = "https://mcp.example/mcp"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(key: rsa.RSAPrivateKey = KEY, kid: str = "k1", **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "scope": "tasks read",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    # Signed as raw JSON: jwt.encode would refuse some of the odd claims tests need.
    payload = json.dumps(claims).encode()
    return jwt.api_jws.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def verifier(**kwargs: Any) -> JWTVerifier:
    return JWTVerifier(issuer=ISSUER, audience=AUDIENCE, **{"keys": [KEY.public_key()], **kwargs})


async def test_jwt_a_valid_token_gives_its_principal() -> None:
    principal = await verifier().verify(token())
    assert principal is not None
    assert principal.subject == "alice"
    assert principal.scopes == frozenset({"tasks", "read"})
    assert principal.claims["iss"] == ISSUER


async def test_jwt_scopes_from_an_scp_list() -> None:
    principal = await verifier().verify(token(scope=None, scp=["a", "b"]))
    assert principal is not None
    assert principal.scopes == frozenset({"a", "b"})


async def test_jwt_a_pem_key_works() -> None:
    pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    principal = await verifier(keys=[pem.decode()]).verify(token())
    assert principal is not None
    assert principal.subject == "alice"


@pytest.mark.parametrize(
    "bad",
    [
        token(exp=int(time.time()) - 120),  # expired beyond the 30 s leeway
        token(aud="https://other.example/mcp"),
        token(iss="https://evil.example"),
        token(key=OTHER_KEY),
        token(sub=None),
        token(exp=None),
        "not-a-jwt",
        "",
    ],
    ids=["expired", "audience", "issuer", "key", "no-sub", "no-exp", "garbage", "empty"],
)
async def test_jwt_a_bad_token_gives_none(bad: str) -> None:
    assert await verifier().verify(bad) is None


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": 5},
        {"scope": [["tasks"]]},
        {"scope": ["tasks", 1]},
        {"scope": {"tasks": True}},
        {"scope": None, "scp": 3},
        {"scope": None, "scp": [["tasks"]]},
        {"sub": ""},
        {"sub": 5},
        {"iss": [ISSUER]},
        {"aud": 5},
        {"aud": [[AUDIENCE]]},
        {"exp": "soon"},
        {"exp": float("inf")},
        {"nbf": "now"},
        {"iat": [1]},
    ],
    ids=repr,
)
async def test_jwt_claims_of_the_wrong_type_give_none(claims: dict[str, Any]) -> None:
    """Signed by the right key and issuer, but a claim has the wrong type: a bad token."""
    assert await verifier().verify(token(**claims)) is None


async def test_jwt_claims_of_the_wrong_type_get_401_not_500() -> None:
    async with serving(make_app(verifier()).http_app()) as client:
        for claims in ({"scope": 5}, {"scope": [["tasks"]]}, {"iss": [ISSUER]}):
            response = await client.post(
                "/mcp",
                content=rpc(1, "initialize", INIT_PARAMS),
                headers={**POST_HEADERS, **bearer(token(**claims))},
            )
            assert response.status_code == 401, claims
            assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_jwt_an_unsigned_token_gives_none() -> None:
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": 2**31}, "", "none")
    assert await verifier().verify(unsigned) is None


async def test_jwt_keys_from_a_jwks_document() -> None:
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
    other = jwt.algorithms.RSAAlgorithm.to_jwk(OTHER_KEY.public_key(), as_dict=True)
    jwks = {"keys": [{**other, "kid": "k0"}, {**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}
    checker = JWTVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=jwks)
    principal = await checker.verify(token())
    assert principal is not None
    assert principal.subject == "alice"
    assert await checker.verify(token(key=rsa.generate_private_key(65537, 2048))) is None


async def test_jwt_verifier_needs_keys() -> None:
    with pytest.raises(ValueError, match="needs jwks_url, jwks or keys"):
        JWTVerifier(issuer=ISSUER, audience=AUDIENCE)


async def test_jwt_verifier_guards_the_endpoint() -> None:
    async with serving(make_app(verifier()).http_app()) as client:
        session = await open_session(client, **bearer(token()))
        assert await session.result("ping") == {}
        expired = await client.post(
            "/mcp",
            content=rpc(1, "initialize", INIT_PARAMS),
            headers={**POST_HEADERS, **bearer(token(exp=int(time.time()) - 120))},
        )
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]


# -- tasks bound to who asked (S-47, S-50) --------------------------------------------


def not_found(task_id: str) -> dict[str, Any]:
    return {"code": -32602, "message": f"Failed to retrieve task: Task not found ({task_id})"}


async def test_s47_s50_another_principals_task_is_not_found() -> None:
    """Bob gets exactly what an unknown id gets for alice's task; his list is empty."""
    async with serving(make_app(TOKENS).http_app()) as client:
        alice = await open_session(client, **bearer("tok-a"))
        bob = await open_session(client, **bearer("tok-b"))
        task_id = await alice.start_task(30)
        unknown = "x" * len(task_id)
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            assert await bob.error(method, {"taskId": task_id}) == not_found(task_id)
            assert await bob.error(method, {"taskId": unknown}) == not_found(unknown)
        assert await bob.result("tasks/list") == {"tasks": []}
        # alice's task is untouched by bob's cancel
        task = await alice.result("tasks/get", {"taskId": task_id})
        assert task["status"] == "working"
        listed = await alice.result("tasks/list")
        assert [t["taskId"] for t in listed["tasks"]] == [task_id]
        cancelled = await alice.result("tasks/cancel", {"taskId": task_id})
        assert cancelled["status"] == "cancelled"


async def test_s47_a_principal_finds_her_task_in_a_new_session() -> None:
    async with serving(make_app(TOKENS).http_app()) as client:
        first = await open_session(client, **bearer("tok-a"))
        task_id = await first.start_task(0.05)
        ended = await client.delete("/mcp", headers=first.headers)
        assert ended.status_code == 200
        again = await open_session(client, **bearer("tok-a"))
        assert again.session_id != first.session_id
        task = await again.result("tasks/get", {"taskId": task_id})
        listed = await again.result("tasks/list")
        result = await again.result("tasks/result", {"taskId": task_id})
    assert task["taskId"] == task_id
    assert [t["taskId"] for t in listed["tasks"]] == [task_id]
    assert result["content"] == [{"type": "text", "text": "slept 0.05s"}]
    assert result["_meta"] == {RELATED: {"taskId": task_id}}


async def test_s48_anonymous_tasks_belong_to_their_session() -> None:
    async with serving(make_app().http_app()) as client:
        one = await open_session(client)
        two = await open_session(client)
        task_id = await one.start_task(30)
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            assert await two.error(method, {"taskId": task_id}) == not_found(task_id)
        assert await two.result("tasks/list") == {"tasks": []}
        own = await one.result("tasks/list")
        assert [t["taskId"] for t in own["tasks"]] == [task_id]
        assert (await one.result("tasks/get", {"taskId": task_id}))["status"] == "working"
        # another session, even after the first one ended, cannot reach it
        await client.delete("/mcp", headers=one.headers)
        three = await open_session(client)
        assert await three.error("tasks/get", {"taskId": task_id}) == not_found(task_id)


async def test_the_http_auth_example_binds_tasks_to_the_token() -> None:
    """examples/http_auth.py: alice's task is hers; bob's token cannot read it (S-50)."""
    from examples.http_auth import app as example

    asgi = example.http_app()
    transport = httpx.ASGITransport(app=asgi)
    async with (
        asgi.router.lifespan_context(asgi),
        httpx.AsyncClient(transport=transport, base_url=BASE) as http,
    ):
        init = rpc(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                     "clientInfo": {"name": "t", "version": "0"}})  # fmt: skip

        async def session_of(token: str) -> dict[str, str]:
            headers = {**POST_HEADERS, "authorization": f"Bearer {token}"}
            response = await http.post("/mcp", headers=headers, content=init)
            assert response.status_code == 200
            return {**headers, "mcp-session-id": response.headers["mcp-session-id"]}

        alice, bob = await session_of("alice-token"), await session_of("bob-token")
        call = {"name": "report", "arguments": {"region": "north"}, "task": {}}
        created = await http.post("/mcp", headers=alice, content=rpc(2, "tools/call", call))
        task_id = created.json()["result"]["task"]["taskId"]
        get = rpc(3, "tasks/get", {"taskId": task_id})
        mine = (await http.post("/mcp", headers=alice, content=get)).json()
        assert mine["result"]["taskId"] == task_id
        theirs = (await http.post("/mcp", headers=bob, content=get)).json()
        assert theirs["error"]["code"] == -32602
        anonymous = await http.post("/mcp", headers=POST_HEADERS, content=init)
        assert anonymous.status_code == 401
