"""Bad input on the wire: every malformed message gets the right JSON-RPC error, and the
session goes on serving."""

from __future__ import annotations

from typing import Any

import anyio
import pydantic_core
import pytest

from examples.hello import app
from taskapp import TaskApp, TaskContext

from .raw import INIT_PARAMS, RawConnection, raw_connection
from .robust_app import Probe, make_app

pytestmark = pytest.mark.anyio

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


def _null_id_errors(conn: RawConnection) -> list[dict[str, Any]]:
    return [m for m in conn.received if "error" in m and m.get("id", "absent") is None]


async def _next_null_id_error(conn: RawConnection, seen: int = 0) -> dict[str, Any]:
    """The error answer (with id null) number `seen` + 1 of this connection."""
    errors: list[dict[str, Any]] = await conn.wait_for(
        lambda: (found := _null_id_errors(conn)) and len(found) > seen and found
    )
    return errors[seen]


async def _still_serving(conn: RawConnection) -> None:
    assert await conn.result("ping") == {}


async def test_malformed_json_is_a_parse_error_with_null_id() -> None:
    async with raw_connection(app) as conn:
        await conn.send_raw(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"')
        message = await _next_null_id_error(conn)
        assert message["jsonrpc"] == "2.0"
        assert message["id"] is None
        assert message["error"]["code"] == PARSE_ERROR
        await _still_serving(conn)
        await conn.send_raw(b"\xff\xfe not even utf-8")
        assert (await _next_null_id_error(conn, 1))["error"]["code"] == PARSE_ERROR
        await _still_serving(conn)
        assert 1 not in conn.responses


async def test_batch_is_an_invalid_request() -> None:
    async with raw_connection(app) as conn:
        await conn.send_raw(b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]')
        error = (await _next_null_id_error(conn))["error"]
        assert error["code"] == INVALID_REQUEST
        assert "batch" in error["message"]
        await _still_serving(conn)
        assert 1 not in conn.responses  # the batch's ping was not run


@pytest.mark.parametrize("payload", [b'"ping"', b"42", b"null"])
async def test_json_that_is_not_an_object_is_an_invalid_request(payload: bytes) -> None:
    async with raw_connection(app) as conn:
        await conn.send_raw(payload)
        assert (await _next_null_id_error(conn))["error"]["code"] == INVALID_REQUEST
        await _still_serving(conn)


async def test_missing_jsonrpc_version_is_an_invalid_request() -> None:
    async with raw_connection(app) as conn:
        await conn.send({"id": 5, "method": "ping"})
        response = await conn.response(5)
        assert response["error"]["code"] == INVALID_REQUEST
        assert '"jsonrpc" must be "2.0"' in response["error"]["message"]
        await conn.send({"jsonrpc": "1.0", "id": 6, "method": "ping"})
        assert (await conn.response(6))["error"]["code"] == INVALID_REQUEST
        await _still_serving(conn)


@pytest.mark.parametrize("bad_id", [{}, True, 1.5, [1]], ids=["object", "bool", "float", "list"])
async def test_id_of_a_bad_type_is_an_invalid_request_with_null_id(bad_id: Any) -> None:
    async with raw_connection(app) as conn:
        await conn.send({"jsonrpc": "2.0", "id": bad_id, "method": "ping"})
        message = await _next_null_id_error(conn)
        assert message["error"]["code"] == INVALID_REQUEST
        assert "id" in message["error"]["message"]
        await _still_serving(conn)


async def test_params_as_a_list_is_invalid_params() -> None:
    async with raw_connection(app) as conn:
        await conn.send({"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": []})
        error = (await conn.response(7))["error"]
        assert error["code"] == INVALID_PARAMS
        assert "object" in error["message"]
        await _still_serving(conn)


async def test_unknown_method_is_method_not_found() -> None:
    async with raw_connection(app) as conn:
        error = await conn.error("resources/nonexistent", {})
        assert error["code"] == METHOD_NOT_FOUND
        assert "resources/nonexistent" in error["message"]
        await _still_serving(conn)


async def test_notification_with_unknown_method_gets_no_answer() -> None:
    async with raw_connection(app) as conn:
        before = len(conn.received)
        await conn.send({"jsonrpc": "2.0", "method": "notifications/nonexistent", "params": {}})
        await conn.send({"jsonrpc": "2.0", "method": "no/such/thing"})
        response = await conn.call("ping")
        assert conn.received[before:] == [response]
        assert response["result"] == {}


async def test_response_to_a_request_never_sent_is_ignored() -> None:
    async with raw_connection(app) as conn:
        before = len(conn.received)
        await conn.send({"jsonrpc": "2.0", "id": 999, "result": {}})
        await conn.send({"jsonrpc": "2.0", "id": "x", "error": {"code": 1, "message": "no"}})
        response = await conn.call("ping")
        assert conn.received[before:] == [response]


async def test_message_with_neither_method_nor_result_is_an_invalid_request() -> None:
    async with raw_connection(app) as conn:
        await conn.send({"jsonrpc": "2.0", "id": 11})
        assert (await conn.response(11))["error"]["code"] == INVALID_REQUEST
        await _still_serving(conn)


async def test_duplicate_in_flight_request_id_is_an_invalid_request() -> None:
    probe = Probe()
    async with raw_connection(make_app(probe)) as conn:
        call = {
            "jsonrpc": "2.0",
            "id": "dup",
            "method": "tools/call",
            "params": {"name": "block_inline", "arguments": {}},
        }
        await conn.send(call)
        with anyio.fail_after(5):
            await probe.started.wait()
        await conn.send(call)
        first = await conn.response("dup")
        assert first["error"]["code"] == INVALID_REQUEST
        assert "in use" in first["error"]["message"]
        probe.gate.set()
        answers = await conn.wait_for(
            lambda: (
                (found := [m for m in conn.received if m.get("id") == "dup"])
                and len(found) == 2
                and found
            )
        )
        assert answers[1]["result"]["content"] == [{"type": "text", "text": "released"}]
        assert probe.started_count == 1  # the duplicate never ran
        # Once answered, the id may be used again.
        await conn.send({"jsonrpc": "2.0", "id": "dup", "method": "ping"})
        again = await conn.wait_for(
            lambda: (
                (found := [m for m in conn.received if m.get("id") == "dup"])
                and len(found) == 3
                and found
            )
        )
        assert again[2] == {"jsonrpc": "2.0", "id": "dup", "result": {}}


@pytest.mark.parametrize("method", ["tasks/get", "tasks/result", "tasks/cancel"])
async def test_task_methods_name_the_missing_task_id(method: str) -> None:
    """S-45: an invalid taskId is -32602, and the message names the field."""
    async with raw_connection(app) as conn:
        missing = await conn.error(method, {})
        assert missing["code"] == INVALID_PARAMS
        assert "taskId" in missing["message"]
        number = await conn.error(method, {"taskId": 12})
        assert number["code"] == INVALID_PARAMS
        assert "taskId" in number["message"]
        await _still_serving(conn)


@pytest.mark.parametrize("ttl", ["x", -1, 1.5, [1]])
async def test_task_with_a_bad_ttl_is_invalid_params(ttl: Any) -> None:
    async with raw_connection(app) as conn:
        error = await conn.error(
            "tools/call",
            {"name": "greet", "arguments": {}, "task": {"ttl": ttl}},
        )
        assert error["code"] == INVALID_PARAMS
        assert "task.ttl" in error["message"]
        tasks = await conn.result("tasks/list", {})
        assert tasks["tasks"] == []  # no task was created


async def test_task_that_is_not_an_object_is_invalid_params() -> None:
    async with raw_connection(app) as conn:
        error = await conn.error("tools/call", {"name": "greet", "task": "yes"})
        assert error["code"] == INVALID_PARAMS
        assert "task" in error["message"]


async def test_tool_name_of_a_bad_type_is_invalid_params() -> None:
    async with raw_connection(app) as conn:
        error = await conn.error("tools/call", {"name": 3, "arguments": {}})
        assert error["code"] == INVALID_PARAMS
        assert "name" in error["message"]
        missing = await conn.error("tools/call", {"arguments": {}})
        assert missing["code"] == INVALID_PARAMS
        assert "name" in missing["message"]


async def test_very_large_message_is_answered_in_full() -> None:
    text = "0123456789abcdef" * (5 * 1024 * 1024 // 16)  # 5 MiB
    async with raw_connection(app) as conn:
        response = await conn.call(
            "tools/call", {"name": "echo", "arguments": {"text": text}}, within=30
        )
        assert response["result"]["content"] == [{"type": "text", "text": text}]
        assert len(pydantic_core.to_json(response)) > 5 * 1024 * 1024
        await _still_serving(conn)


async def test_requests_before_initialize_are_invalid_but_ping_works() -> None:
    async with raw_connection(app, initialize=None) as conn:
        assert await conn.result("ping") == {}
        for method in ("tools/list", "tools/call", "tasks/list", "logging/setLevel"):
            error = await conn.error(method, {})
            assert error["code"] == INVALID_REQUEST, method
            assert "initialize" in error["message"]
        result = await conn.result("initialize", INIT_PARAMS)
        assert result["protocolVersion"] == "2025-11-25"
        tools = await conn.result("tools/list", {})
        assert [t["name"] for t in tools["tools"]] == ["echo", "greet", "slow_add"]


async def test_second_initialize_is_an_invalid_request() -> None:
    async with raw_connection(app) as conn:
        error = await conn.error("initialize", INIT_PARAMS)
        assert error["code"] == INVALID_REQUEST
        assert "already initialized" in error["message"]
        await _still_serving(conn)


async def test_initialize_without_protocol_version_is_invalid_params() -> None:
    async with raw_connection(app, initialize=None) as conn:
        error = await conn.error("initialize", {"capabilities": {}})
        assert error["code"] == INVALID_PARAMS
        assert "protocolVersion" in error["message"]
        # The failed attempt did not initialize the session.
        assert (await conn.error("tools/list", {}))["code"] == INVALID_REQUEST


@pytest.mark.parametrize("level", ["verbose", "", 3, None])
async def test_set_level_with_a_bad_level_is_invalid_params(level: Any) -> None:
    async with raw_connection(app) as conn:
        error = await conn.error("logging/setLevel", {"level": level})
        assert error["code"] == INVALID_PARAMS
        assert "level" in error["message"]
        assert await conn.result("logging/setLevel", {"level": "debug"}) == {}


swapped = TaskApp("swapped")


@swapped.tool()
async def chatty(ctx: TaskContext, level: str) -> str:
    await ctx.log("info", level)  # type: ignore[arg-type]  # the mistake under test
    return "logged"


async def test_a_log_call_with_its_arguments_swapped_says_so() -> None:
    """`ctx.log("info", "text")`: the level is not one of RFC 5424's, and the message is.
    The tool fails with a ValueError that says which comes first; the server goes on."""
    async with raw_connection(swapped) as conn:
        result = await conn.result("tools/call", {"name": "chatty", "arguments": {"level": "text"}})
        assert result["isError"] is True
        [block] = result["content"]
        assert block["text"] == (
            "ValueError: ctx.log: unknown level 'text'; use one of debug, info, notice, warning, "
            "error, critical, alert, emergency (the message comes first: ctx.log(message, level))"
        )
        args = {"name": "chatty", "arguments": {"level": "warning"}}  # a level: no error
        fine = await conn.result("tools/call", args)
        assert fine["content"] == [{"type": "text", "text": "logged"}]
