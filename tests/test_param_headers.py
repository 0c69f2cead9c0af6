"""`x-mcp-header` (SEP-2243, MCP 2026-07-28 streamable-http "Custom Headers from Tool
Parameters"): declared on a tool's parameter, mirrored by clients into `Mcp-Param-{Name}`,
checked by the server against the body (-32020 HeaderMismatch, HTTP 400 otherwise)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
import pytest
from pydantic import Field

from examples.routed import app
from taskapp import Client, TaskApp
from taskapp._param_headers import HeaderParam, decode, encode, header_params, mismatch
from taskapp.errors import RegistrationError
from taskapp.transports.http_client import HttpClientChannel, modern_headers, open_http_channel

from .test_cli_call import _free_port
from .test_client_2026 import serving
from .test_http import serving as serving_asgi
from .test_http_2026 import Modern, body, meta
from .test_http_2026 import headers_for as headers_for_call

pytestmark = pytest.mark.anyio

ROUTED = Path(__file__).resolve().parent.parent / "examples" / "routed.py"


def test_the_declaration_is_in_the_input_schema_and_the_tool() -> None:
    tool = app.tools["query"]
    assert tool.signature.input_schema["properties"]["region"]["x-mcp-header"] == "Region"
    assert tool.header_params[0] == HeaderParam("Region", ("region",), "string")


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        ({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}, "type is 'number'"),
        (
            {"properties": {"a": {"anyOf": [{"type": "integer"}, {"type": "null"}],
                                  "x-mcp-header": "A"}}},
            "type is None.*not nullable",
        ),
        ({"properties": {"a": {"type": ["string", "null"], "x-mcp-header": "A"}}}, "not nullable"),
        ({"properties": {"a": {"type": "string", "x-mcp-header": "A B"}}}, "not an HTTP header"),
        ({"properties": {"a": {"type": "string", "x-mcp-header": ""}}}, "not an HTTP header"),
        (
            {"properties": {"a": {"type": "string", "x-mcp-header": "X"},
                            "b": {"type": "string", "x-mcp-header": "x"}}},
            "used twice",
        ),
        (
            {"properties": {"a": {"type": "array",
                                  "items": {"type": "string", "x-mcp-header": "A"}}}},
            "not reached from the root",
        ),
        (
            {"properties": {"a": {"anyOf": [{"type": "string", "x-mcp-header": "A"}]}}},
            "not reached from the root",
        ),
        ({"$defs": {"M": {"type": "string", "x-mcp-header": "A"}}}, "not reached from the root"),
    ],
)  # fmt: skip
def test_declarations_that_break_the_rules_are_refused(schema: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        header_params({"type": "object", **schema})


def test_a_nested_property_reached_through_properties_is_allowed() -> None:
    schema = {"properties": {"where": {"type": "object", "properties": {
        "zone": {"type": "string", "x-mcp-header": "Zone"}}}}}  # fmt: skip
    [param] = header_params(schema)
    assert param.path == ("where", "zone")
    assert mismatch((param,), {"mcp-param-zone": "eu"}, {"where": {"zone": "eu"}}) is None


def test_a_tool_with_a_bad_declaration_is_not_registered() -> None:
    bad = TaskApp("bad")
    with pytest.raises(RegistrationError, match=r"only a str, int or bool parameter.*SEP-2243"):

        @bad.tool()
        async def scale(
            factor: Annotated[float, Field(json_schema_extra={"x-mcp-header": "F"})],
        ) -> str:
            return "never"


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("us-west1", "us-west1"),
        ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
        (" padded ", "=?base64?IHBhZGRlZCA=?="),
        ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
        ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
    ],
)
def test_values_are_encoded_as_the_spec_s_table_shows(value: str, sent: str) -> None:
    assert encode(value) == sent
    assert decode(sent) == value


@pytest.mark.parametrize(
    "sent",
    ["=?base64?SGVsbG8?=", "=?base64?SGVs!!!bG8=?=", "=?base64?SGVsbG9=?="],  # last: not canonical
)
def test_bad_base64_is_refused(sent: str) -> None:
    with pytest.raises(ValueError, match="not valid"):
        decode(sent)


@pytest.mark.parametrize("literal", ["SGVsbG8=", "=?base64?SGVsbG8=", "SGVsbG8=?="])
def test_without_both_markers_a_value_is_literal(literal: str) -> None:
    assert decode(literal) == literal


@pytest.mark.parametrize("sent", ["4_2", "+42", "0x2a", "42e0", "4.2E1", " 42", "9007199254740993"])
def test_integers_in_another_spelling_do_not_match(sent: str) -> None:
    """Equal as numbers only in plain decimal: what a router reads is what runs."""
    shard = HeaderParam("Shard", ("shard",), "integer")
    big = 9007199254740993  # past 2**53: never equal through a float
    value = big if sent == str(big) else 42
    assert mismatch((shard,), {"mcp-param-shard": sent}, {"shard": value}) is not None


def test_a_header_without_a_value_in_the_body_is_refused() -> None:
    """A router would go by `eu` while the tool runs with its default."""
    region = HeaderParam("Region", ("region",), "string")
    for arguments in ({}, {"region": None}):
        why = mismatch((region,), {"mcp-param-region": "eu"}, arguments)
        assert why == "the Mcp-Param-Region header is sent but params.arguments has no value"


def test_declarations_are_not_looked_for_in_data() -> None:
    """A default (or an example) that happens to hold the key is data, not a schema."""
    schema = {"properties": {"opts": {"type": "object", "default": {"x-mcp-header": "X"},
                                      "examples": [{"x-mcp-header": "Y"}]}}}  # fmt: skip
    assert header_params(schema) == ()


def test_integers_compare_as_numbers_and_booleans_as_true_false() -> None:
    shard = HeaderParam("Shard", ("shard",), "integer")
    flag = HeaderParam("Dry", ("dry",), "boolean")
    assert mismatch((shard,), {"mcp-param-shard": "42.0"}, {"shard": 42}) is None
    assert "does not match" in str(mismatch((shard,), {"mcp-param-shard": "41"}, {"shard": 42}))
    assert mismatch((flag,), {"mcp-param-dry": "true"}, {"dry": True}) is None
    assert mismatch((flag,), {"mcp-param-dry": "True"}, {"dry": True}) is not None


# -- the server, over HTTP ------------------------------------------------------------


def call(region: str | None, sql: str = "SELECT 1") -> dict[str, Any]:
    arguments: dict[str, Any] = {"sql": sql}
    if region is not None:
        arguments["region"] = region
    return {"name": "query", "arguments": arguments, "_meta": meta({})}


@pytest.mark.parametrize(
    ("region", "header", "accepted"),
    [
        ("eu", "eu", True),
        ("Hello", "=?base64?SGVsbG8=?=", True),
        ("SGVsbG8=", "SGVsbG8=", True),  # no markers: literal
        ("eu", None, False),  # the body has it, the header is missing
        ("eu", "us", False),
        ("Hello", "=?base64?SGVsbG8?=", False),  # bad padding
        ("Hello", "=?base64?SGVs!!!bG8=?=", False),  # not the alphabet
        ("Hello", "=?base64?SGVsbG9=?=", False),  # padding bits set: not canonical
    ],
)
async def test_the_server_checks_each_mcp_param_header_against_the_body(
    region: str, header: str | None, accepted: bool
) -> None:
    async with serving_asgi(app.http_app()) as http:
        extra = {} if header is None else {"Mcp-Param-Region": header}
        response = await Modern(http).post("tools/call", call(region), headers=extra)
    answer = response.json()
    if accepted:
        assert response.status_code == 200, response.text
        assert answer["result"]["content"][0]["text"] == f"SELECT 1 in {region} (shard 0)"
    else:
        assert response.status_code == 400, response.text
        assert answer["error"]["code"] == -32020
        assert "Mcp-Param-Region" in answer["error"]["message"]


async def test_a_header_sent_twice_is_refused() -> None:
    """Two Mcp-Param-Region headers: a proxy may read the other one."""
    params = call("us")
    sent = [(k.encode(), v.encode()) for k, v in headers_for_call("tools/call", params).items()]
    sent += [(b"mcp-param-region", b"us"), (b"mcp-param-region", b"eu")]
    async with serving_asgi(app.http_app()) as http:
        response = await http.post("/mcp", content=body(1, "tools/call", params), headers=sent)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == (
        "Header mismatch: the Mcp-Param-Region header is sent more than once"
    )


async def test_a_value_absent_from_the_body_needs_no_header() -> None:
    """`shard` is optional: left out, no Mcp-Param-Shard is expected."""
    async with serving_asgi(app.http_app()) as http:
        response = await Modern(http).post(
            "tools/call", call("eu"), headers={"Mcp-Param-Region": "eu"}
        )
    assert response.status_code == 200, response.text


# -- taskapp's own client -----------------------------------------------------------


@pytest.fixture(scope="module")
def routed_url() -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "taskapp", "run", f"{ROUTED}:app", "--transport", "http",
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
    with serving(command, port) as url:
        yield url


async def test_the_client_mirrors_the_parameters_it_learnt_from_tools_list(routed_url: str) -> None:
    async with Client(routed_url) as client:
        assert client.dialect == "2026-07-28"
        await client.list_tools()
        with anyio.fail_after(10):
            result = await client.call_tool("query", {"region": "Zürich", "sql": "q", "shard": 7})
    assert result.text == "q in Zürich (shard 7)"


async def test_calls_failing_together_for_want_of_headers_all_go_through(routed_url: str) -> None:
    """Three first calls at once, none with Mcp-Param-* (nothing listed yet): each gets
    -32020, lists, and calls again, whichever listing taught the channel first."""
    results: list[str] = []
    async with Client(routed_url) as client:

        async def one(region: str) -> None:
            results.append((await client.call_tool("query", {"region": region, "sql": "q"})).text)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for region in ("eu", "us", "ap"):
                    tg.start_soon(one, region)
    assert sorted(results) == [f"q in {r} (shard 0)" for r in ("ap", "eu", "us")]


async def test_a_client_that_has_not_listed_the_tools_learns_them_on_a_32020(
    routed_url: str,
) -> None:
    """The server refuses the call without Mcp-Param-Region; the client lists the tools
    and calls again (streamable-http "Client Behavior": SHOULD)."""
    async with Client(routed_url) as client:
        with anyio.fail_after(10):
            result = await client.call_tool("query", {"region": "eu", "sql": "q"})
    assert result.text == "q in eu (shard 0)"


async def test_without_http_there_are_no_headers_to_check() -> None:
    """In memory (and over stdio) a call carries no headers: the declarations change
    nothing (streamable-http: "Clients using other transports MAY ignore" them)."""
    async with Client(app) as client:
        result = await client.call_tool("query", {"region": "eu", "sql": "q"})
    assert result.text == "q in eu (shard 0)"


async def test_the_client_channel_sends_what_it_learnt_and_sets_aside_invalid_tools() -> None:
    """streamable-http "Schema Extension": a client MUST leave out a tool whose
    declarations break the rules (Client.list_tools does, over HTTP)."""
    async with open_http_channel("http://mcp.test/mcp") as channel:
        check_channel(channel)


def check_channel(channel: HttpClientChannel) -> None:
    bad = {"type": "object", "properties": {"n": {"type": "number", "x-mcp-header": "N"}}}
    tools = [
        {"name": "query", "inputSchema": app.tools["query"].signature.input_schema},
        {"name": "scale", "inputSchema": bad},
    ]
    assert channel.learn(tools) is True
    assert channel.learn(tools) is False  # nothing new
    assert channel.invalid_tools == {"scale"}
    arguments = {"region": "São Paulo", "sql": "q", "shard": 3}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "query", "arguments": arguments}}  # fmt: skip
    headers = modern_headers(message, channel.tool_headers)
    assert headers["Mcp-Param-Region"] == "=?base64?U8OjbyBQYXVsbw==?="
    assert headers["Mcp-Param-Shard"] == "3"
    del arguments["shard"]  # no value: no header
    assert "Mcp-Param-Shard" not in modern_headers(message, channel.tool_headers)
