"""The core of MCP 2026-07-28 over one stdio-like connection: the per-request envelope,
era locking beside 2025-11-25, per-request log levels and progress, and multi round-trip
requests (MRTR) for inline calls.

Results are validated against the published schema (vendored as
tests/spec/mcp-2026-07-28.schema.json). Requirements are quoted from the spec pages in
/work/shared/spec/mcp-2026-07-28/ (basic-index, basic-versioning, basic-patterns-mrtr,
basic-patterns-progress) and the schema's descriptions.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from pydantic import BaseModel

from taskapp import TaskApp, TaskContext
from taskapp.context import LogLevel
from tests.raw import INIT_PARAMS, RawConnection, raw_connection

pytestmark = pytest.mark.anyio

SCHEMA_PATH = Path(__file__).parent / "spec" / "mcp-2026-07-28.schema.json"
VERSION = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"
PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
LOG_LEVEL = "io.modelcontextprotocol/logLevel"
SERVER_INFO = "io.modelcontextprotocol/serverInfo"
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
UNSUPPORTED_VERSION = -32022


@cache
def _defs() -> dict[str, Any]:
    defs: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())["$defs"]
    return defs


@cache
def _validator(def_name: str) -> jsonschema.Draft202012Validator:
    assert def_name in _defs(), f"no {def_name} in the 2026-07-28 schema"
    return jsonschema.Draft202012Validator({"$defs": _defs(), "$ref": f"#/$defs/{def_name}"})


def conforms(def_name: str, instance: Any) -> None:
    """Fail with every error of `instance` against one definition of the 2026-07-28 schema."""
    errors = [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in _validator(def_name).iter_errors(instance)
    ]
    assert errors == [], f"{def_name}: {errors}"


# -- the app ---------------------------------------------------------------------------


class Word(BaseModel):
    word: str


def build(*, state_secret: str | None = None) -> TaskApp:
    app = TaskApp("core-2026", version="2.0.0", state_secret=state_secret)

    @app.tool()
    async def add(a: int, b: int) -> int:
        """Adds."""
        return a + b

    @app.tool()
    async def chatter(ctx: TaskContext) -> str:
        """Logs once at each of four levels."""
        levels: tuple[LogLevel, ...] = ("debug", "info", "warning", "error")
        for level in levels:
            await ctx.log(f"at {level}", level)
        return "said it all"

    @app.tool()
    async def steps(ctx: TaskContext, n: int = 3) -> str:
        """Reports progress at every step."""
        for i in range(n):
            await ctx.report_progress(i + 1, total=n, message=f"step {i + 1}")
        return f"{n} steps"

    @app.task_tool()
    async def ask_twice(ctx: TaskContext, x: int) -> str:
        """Two questions, one after the other."""
        words = []
        for question in ("First word?", "Second word?"):
            reply = await ctx.elicit(question, Word)
            words.append(reply.data.word if reply.data else "-")
        return f"{x}: {' '.join(words)}"

    @app.task_tool()
    async def ask_together(ctx: TaskContext) -> str:
        """Two questions at once, from a task group."""
        words: dict[str, str] = {}

        async def ask(label: str) -> None:
            reply = await ctx.elicit(f"{label}?", Word)
            words[label] = reply.data.word if reply.data else "-"

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, "Left")
            tg.start_soon(ask, "Right")
        return f"{words['Left']}|{words['Right']}"

    return app


# -- a 2026-07-28 client ---------------------------------------------------------------


def meta(caps: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    return {
        PROTOCOL_VERSION: VERSION,
        CLIENT_CAPABILITIES: {"elicitation": {}} if caps is None else caps,
        **more,
    }


@dataclass
class Modern:
    conn: RawConnection

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *,
        caps: dict[str, Any] | None = None, extra_meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        body = {**(params or {}), "_meta": meta(caps, **(extra_meta or {}))}
        return await self.conn.call(method, body)

    async def result(
        self, method: str, params: dict[str, Any] | None = None, *,
        caps: dict[str, Any] | None = None, extra_meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        response = await self.call(method, params, caps=caps, extra_meta=extra_meta)
        assert "result" in response, response
        result: dict[str, Any] = response["result"]
        return result

    async def error(
        self, method: str, params: dict[str, Any] | None = None, *,
        caps: dict[str, Any] | None = None, extra_meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        response = await self.call(method, params, caps=caps, extra_meta=extra_meta)
        assert "error" in response, response
        error: dict[str, Any] = response["error"]
        return error

    async def tool(
        self, name: str, arguments: dict[str, Any], *,
        caps: dict[str, Any] | None = None, **retry: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """A tools/call result, checked as CallToolResult or InputRequiredResult."""
        params = {"name": name, "arguments": arguments, **retry}
        result = await self.result("tools/call", params, caps=caps)
        if result["resultType"] == "input_required":
            conforms("InputRequiredResult", result)
        else:
            assert result["resultType"] == "complete", result
            conforms("CallToolResult", result)
        return result


@asynccontextmanager
async def modern(app: TaskApp) -> AsyncIterator[Modern]:
    async with raw_connection(app, initialize=None) as conn:
        yield Modern(conn)


def accept(word: str) -> dict[str, Any]:
    return {"action": "accept", "content": {"word": word}}


# -- results against the schema --------------------------------------------------------


async def test_discover_result() -> None:
    """server/discover: a DiscoverResult ("supportedVersions", "capabilities") with the
    tasks extension, `resultType` ("Servers implementing this protocol version MUST include
    this field") and serverInfo in `_meta`."""
    async with modern(build()) as m:
        found = await m.result("server/discover")
        conforms("DiscoverResult", found)
        assert found["resultType"] == "complete"
        assert VERSION in found["supportedVersions"]
        assert found["capabilities"]["extensions"] == {TASKS: {}}
        assert found["_meta"][SERVER_INFO] == {"name": "core-2026", "version": "2.0.0"}


async def test_list_tools_result() -> None:
    """tools/list: a ListToolsResult (a CacheableResult: `ttlMs`, `cacheScope`)."""
    async with modern(build()) as m:
        listed = await m.result("tools/list")
        conforms("ListToolsResult", listed)
        names = {t["name"] for t in listed["tools"]}
        assert {"add", "chatter", "steps", "ask_twice"} <= names


async def test_call_tool_result() -> None:
    """tools/call inline: a CallToolResult with resultType "complete"."""
    async with modern(build()) as m:
        result = await m.tool("add", {"a": 2, "b": 3})
        assert result["content"] == [{"type": "text", "text": "5"}]
        assert result["_meta"][SERVER_INFO]["name"] == "core-2026"


# -- the envelope ----------------------------------------------------------------------


async def test_missing_protocol_version_is_32602() -> None:
    """basic-index: "A request missing any required field is malformed; the server MUST
    reject it with JSON-RPC error code -32602" — protocolVersion (on a connection already
    speaking 2026-07-28, where a request without it cannot be a legacy one)."""
    async with modern(build()) as m:
        await m.result("server/discover")
        no_version: dict[str, Any] = {CLIENT_CAPABILITIES: {}}
        error = await m.conn.error("tools/list", {"_meta": no_version})
        assert error["code"] == INVALID_PARAMS
        error = await m.conn.error("tools/list", {})
        assert error["code"] == INVALID_PARAMS


async def test_missing_client_capabilities_is_32602() -> None:
    """basic-index: the same MUST for `io.modelcontextprotocol/clientCapabilities`
    ("Required"), also as the very first request."""
    async with modern(build()) as m:
        for bad in (
            {PROTOCOL_VERSION: VERSION},
            {PROTOCOL_VERSION: VERSION, CLIENT_CAPABILITIES: 1},
        ):
            error = await m.conn.error("server/discover", {"_meta": bad})
            assert error["code"] == INVALID_PARAMS


async def test_unknown_version_is_32022_with_supported_and_requested() -> None:
    """basic-versioning: "If the server does not implement the requested version ... it MUST
    respond with an UnsupportedProtocolVersionError listing the versions it does support"
    (data.supported, data.requested)."""
    async with modern(build()) as m:
        response = await m.conn.call(
            "tools/list", {"_meta": {PROTOCOL_VERSION: "1900-01-01", CLIENT_CAPABILITIES: {}}}
        )
        conforms("UnsupportedProtocolVersionError", response)
        error = response["error"]
        assert error["code"] == UNSUPPORTED_VERSION
        assert error["data"]["requested"] == "1900-01-01"
        assert VERSION in error["data"]["supported"]


async def test_bad_log_level_is_32602() -> None:
    """The envelope's logLevel is a LoggingLevel; anything else is invalid params."""
    async with modern(build()) as m:
        error = await m.error("server/discover", extra_meta={LOG_LEVEL: "loud"})
        assert error["code"] == INVALID_PARAMS


# -- era locking on one connection -----------------------------------------------------


async def test_initialize_after_a_modern_request_is_32022() -> None:
    """basic-versioning: a dual-era server "selects its behavior from how the client opens";
    once a connection speaks 2026-07-28, initialize is refused with -32022 naming the
    versions it can speak."""
    async with modern(build()) as m:
        await m.result("server/discover")
        response = await m.conn.call("initialize", INIT_PARAMS)
        conforms("UnsupportedProtocolVersionError", response)
        assert response["error"]["data"]["requested"] == INIT_PARAMS["protocolVersion"]
        assert response["error"]["data"]["supported"] == [VERSION]
        assert (await m.result("tools/list"))["tools"]  # still serving the modern dialect


async def test_an_unsupported_version_first_leaves_the_connection_open_to_initialize() -> None:
    """stdio backward compatibility: a client whose modern probe gets -32022 may fall back
    to initialize, so a version the server does not speak must not decide the dialect."""
    async with raw_connection(build(), initialize=None) as conn:
        probe = {"_meta": {**meta(), PROTOCOL_VERSION: "2030-01-01"}}
        error = await conn.error("server/discover", probe)
        assert error["code"] == -32022
        assert (await conn.result("initialize", INIT_PARAMS))["protocolVersion"] == "2025-11-25"
        assert (await conn.result("tools/list", {}))["tools"]


async def test_a_modern_request_after_initialize_is_32600() -> None:
    """A connection opened with initialize speaks 2025-11-25 only: a request with the
    2026-07-28 envelope is an invalid request (-32600)."""
    async with raw_connection(build()) as conn:
        error = await conn.error("tools/list", {"_meta": meta()})
        assert error["code"] == INVALID_REQUEST
        assert (await conn.result("tools/list", {}))["tools"]  # legacy still works


# -- per-request logging and progress --------------------------------------------------


async def test_no_log_notifications_without_a_log_level() -> None:
    """RequestMetaObject logLevel: "If absent, the server MUST NOT send any
    notifications/message notifications for this request."."""
    async with modern(build()) as m:
        await m.tool("chatter", {})
        await anyio.sleep(0.02)
        assert m.conn.notes("notifications/message") == []


async def test_log_notifications_at_and_above_the_level() -> None:
    """logLevel: "The client opts in to log messages by explicitly setting a level" — only
    messages at or above it are sent."""
    async with modern(build()) as m:
        result = await m.result(
            "tools/call", {"name": "chatter", "arguments": {}}, extra_meta={LOG_LEVEL: "warning"}
        )
        assert result["content"] == [{"type": "text", "text": "said it all"}]
        notes = m.conn.notes("notifications/message")
        assert [n["level"] for n in notes] == ["warning", "error"]
        for note in notes:
            conforms("LoggingMessageNotificationParams", note)


async def test_progress_with_a_progress_token() -> None:
    """progress: notifications/progress carry the request's progressToken, and "The
    progress value MUST increase with each notification"; none once the call has
    answered ("MUST stop after completion")."""
    async with modern(build()) as m:
        result = await m.result(
            "tools/call",
            {"name": "steps", "arguments": {"n": 3}},
            extra_meta={"progressToken": "tok-1"},
        )
        assert result["content"] == [{"type": "text", "text": "3 steps"}]
        notes = m.conn.notes("notifications/progress")
        assert [n["progressToken"] for n in notes] == ["tok-1"] * 3
        assert [n["progress"] for n in notes] == [1, 2, 3]
        for note in notes:
            conforms("ProgressNotificationParams", note)
        await m.result("tools/call", {"name": "steps", "arguments": {"n": 2}})
        assert len(m.conn.notes("notifications/progress")) == 3  # no token: no progress


# -- multi round-trip requests ---------------------------------------------------------


async def test_mrtr_round_trips_to_the_result() -> None:
    """mrtr: an InputRequiredResult with inputRequests and requestState ("Servers MUST
    include at least one of inputRequests or requestState"); each retry carries the
    answers and the state, and the last one completes."""
    async with modern(build()) as m:
        first = await m.tool("ask_twice", {"x": 1})
        assert first["resultType"] == "input_required"
        [(key1, request1)] = first["inputRequests"].items()
        assert request1["method"] == "elicitation/create"
        assert request1["params"]["message"] == "First word?"
        assert isinstance(first["requestState"], str)
        second = await m.tool(
            "ask_twice", {"x": 1},
            requestState=first["requestState"], inputResponses={key1: accept("alpha")},
        )  # fmt: skip
        assert second["resultType"] == "input_required"
        [(key2, request2)] = second["inputRequests"].items()
        assert key2 != key1  # "unique within the scope of the request"
        assert request2["params"]["message"] == "Second word?"
        done = await m.tool(
            "ask_twice", {"x": 1},
            requestState=second["requestState"], inputResponses={key2: accept("beta")},
        )  # fmt: skip
        assert done["content"] == [{"type": "text", "text": "1: alpha beta"}]


async def test_mrtr_questions_asked_at_once_come_together() -> None:
    """mrtr: InputRequests is "a map of server-initiated requests": a tool asking two
    questions at once (a task group) gets both in one InputRequiredResult; answering one
    brings back only the other."""
    async with modern(build()) as m:
        first = await m.tool("ask_together", {})
        keys = {r["params"]["message"]: k for k, r in first["inputRequests"].items()}
        assert set(keys) == {"Left?", "Right?"}
        second = await m.tool(
            "ask_together", {},
            requestState=first["requestState"], inputResponses={keys["Right?"]: accept("r")},
        )  # fmt: skip
        assert [r["params"]["message"] for r in second["inputRequests"].values()] == ["Left?"]
        [key] = second["inputRequests"]
        done = await m.tool(
            "ask_together", {},
            requestState=second["requestState"], inputResponses={key: accept("l")},
        )  # fmt: skip
        assert done["content"] == [{"type": "text", "text": "l|r"}]


def _tampered(state: str) -> str:
    version, body, mac = state.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body))
    payload["answers"] = {"q0": {"result": accept("forged")}}
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    return f"{version}.{forged}.{mac}"


async def test_mrtr_a_tampered_state_is_rejected() -> None:
    """mrtr: "servers MUST protect its integrity (e.g. HMAC or AEAD) and MUST reject state
    that fails verification" (-32602)."""
    async with modern(build()) as m:
        first = await m.tool("ask_twice", {"x": 1})
        [key] = first["inputRequests"]
        for bad in (_tampered(first["requestState"]), "not-a-state", first["requestState"] + "x"):
            error = await m.error(
                "tools/call",
                {"name": "ask_twice", "arguments": {"x": 1}, "requestState": bad,
                 "inputResponses": {key: accept("a")}},
            )  # fmt: skip
            assert error["code"] == INVALID_PARAMS, bad


async def test_mrtr_an_expired_state_is_rejected() -> None:
    """mrtr: servers SHOULD include "a short expiry (TTL), rejecting state presented after
    it lapses" — a state this server signed, past its expiry, is -32602."""
    app = build()
    async with modern(app) as m:
        first = await m.tool("ask_twice", {"x": 1})
        [key] = first["inputRequests"]
        payload = app.state_signer.open(first["requestState"])
        expired = app.state_signer.seal({**payload, "exp": time.time() - 1})
        error = await m.error(
            "tools/call",
            {"name": "ask_twice", "arguments": {"x": 1}, "requestState": expired,
             "inputResponses": {key: accept("a")}},
        )  # fmt: skip
        assert error["code"] == INVALID_PARAMS
        assert "expired" in error["message"]


async def test_mrtr_another_servers_state_is_rejected() -> None:
    """mrtr: "MUST reject state that fails verification" — a state signed by another
    server (another key), for the very same call."""
    async with modern(build(state_secret="one key")) as m:
        foreign = await m.tool("ask_twice", {"x": 1})
    async with modern(build(state_secret="another key")) as m:
        [key] = foreign["inputRequests"]
        error = await m.error(
            "tools/call",
            {"name": "ask_twice", "arguments": {"x": 1}, "requestState": foreign["requestState"],
             "inputResponses": {key: accept("a")}},
        )  # fmt: skip
        assert error["code"] == INVALID_PARAMS


async def test_mrtr_a_state_for_another_call_is_rejected() -> None:
    """mrtr: servers SHOULD include "an identifier for the originating request ... rejecting
    state presented on a request that does not match" — other arguments, another tool."""
    async with modern(build()) as m:
        first = await m.tool("ask_twice", {"x": 1})
        [key] = first["inputRequests"]
        retry = {"requestState": first["requestState"], "inputResponses": {key: accept("a")}}
        for name, arguments in (("ask_twice", {"x": 2}), ("ask_together", {})):
            error = await m.error("tools/call", {"name": name, "arguments": arguments, **retry})
            assert error["code"] == INVALID_PARAMS, name


async def test_mrtr_a_missing_answer_asks_again() -> None:
    """mrtr: "If the client fails to send all the information requested ... the server
    SHOULD respond with a new InputRequiredResult requesting the missing information again,
    rather than returning an error." (unknown keys are ignored: "SHOULD ignore any
    information it does not recognize")"""
    async with modern(build()) as m:
        first = await m.tool("ask_twice", {"x": 1})
        for responses in ({}, {"nonsense": accept("z")}):
            again = await m.tool(
                "ask_twice", {"x": 1},
                requestState=first["requestState"], inputResponses=responses,
            )  # fmt: skip
            assert again["resultType"] == "input_required"
            assert again["inputRequests"] == first["inputRequests"]


async def test_mrtr_no_input_request_the_client_did_not_declare() -> None:
    """mrtr: "Servers MUST NOT send an inputRequests that the client has not declared support
    for in its capabilities"; basic-index: "If processing a request requires a capability the
    client did not include ..., the server MUST return a MissingRequiredClientCapabilityError
    (-32021) whose data.requiredCapabilities lists the missing capabilities"."""
    async with modern(build()) as m:
        no_elicitation: list[dict[str, Any]] = [{}, {"sampling": {}}]
        for caps in no_elicitation:
            error = await m.error("tools/call", {"name": "ask_twice", "arguments": {"x": 1}},
                                  caps=caps)  # fmt: skip
            assert error["code"] == -32021
            assert error["data"] == {"requiredCapabilities": {"elicitation": {"form": {}}}}
            assert "elicitation" in error["message"]
