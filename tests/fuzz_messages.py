"""What tests/test_fuzz.py sends: a small app, and hypothesis strategies for malformed
and edge-case MCP messages (bytes, JSON, JSON-RPC, 2026 envelopes, HTTP requests).

The app is also served by a real `taskapp run tests/fuzz_messages.py:app`, so this
module imports nothing from the tests package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from hypothesis import strategies as st

from taskapp import TaskApp

VERSION = "2026-07-28"
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
LOG_LEVEL = "io.modelcontextprotocol/logLevel"
TASK_CAPS: dict[str, Any] = {"extensions": {TASKS_EXTENSION: {}}}
INIT_PARAMS: dict[str, Any] = {
    "protocolVersion": "2025-11-25",
    "capabilities": {},
    "clientInfo": {"name": "fuzz", "version": "0"},
}
TOOL_NAMES = ["echo", "add", "half"]


def make_app() -> TaskApp:
    """Tools that answer at once and never ask the client anything, so every request
    the fuzzer sends must be answered."""
    app = TaskApp("fuzz", version="1.0.0")

    @app.tool()
    async def echo(text: str) -> str:
        """Echo the text."""
        return text

    @app.task_tool(mode="optional")
    async def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @app.task_tool(mode="required")
    async def half(x: float) -> float:
        """Half of x, only as a task."""
        return x / 2

    return app


app = make_app()


def meta(caps: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid 2026-07-28 `_meta` envelope."""
    return {
        PROTOCOL_VERSION: VERSION,
        CLIENT_CAPABILITIES: TASK_CAPS if caps is None else caps,
        CLIENT_INFO: {"name": "fuzz", "version": "0"},
    }


# -- JSON values of every kind -----------------------------------------------------

HUGE_INTS = [2**63, -(2**63) - 1, 2**64, 10**30, -(10**40)]
short_text = st.text(max_size=24)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    short_text,
    st.sampled_from(["", "\x00", "\u202e", "\ud7ff\ue000", "é" * 3, "🦀", "a" * 2000]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(short_text, inner, max_size=4),
    max_leaves=12,
)
request_ids = st.one_of(
    st.integers(), st.sampled_from(HUGE_INTS), short_text, json_values
)  # bool, float, null, arrays and objects among them


# -- bytes that are not (quite) JSON ----------------------------------------------

TEMPLATE = (
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'
    b'"params":{"name":"add","arguments":{"a":%s,"b":1}}}'
)


@st.composite
def raw_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["binary", "utf8", "nesting", "token", "cut", "long"]))
    if kind == "binary":
        return draw(st.binary(max_size=300))
    if kind == "utf8":  # invalid UTF-8 inside an otherwise good request
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]))
        return b'{"jsonrpc":"2.0","id":1,"method":"' + bad + b'"}'
    if kind == "nesting":
        depth = draw(st.integers(1, 3000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        inner = opener * depth + b"1" + closer * depth
        return TEMPLATE.replace(b"%s", inner)
    if kind == "token":
        token = draw(
            st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-0", b"1" * 400])
        )
        return TEMPLATE.replace(b"%s", token)
    if kind == "cut":
        return TEMPLATE[: draw(st.integers(0, len(TEMPLATE) - 1))]
    return (
        b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"'
        + b"x" * draw(st.integers(10_000, 40_000))
        + b'"}}'
    )  # beyond the in-process stdio limit (MAX_LINE in test_fuzz) at the top


# -- JSON that is not JSON-RPC, and JSON-RPC with mutated params -------------------

METHODS_2025 = ["ping", "initialize", "tools/list", "tools/call", "tasks/get", "tasks/result",
                "tasks/cancel", "tasks/list", "logging/setLevel", "notifications/initialized",
                "notifications/cancelled"]  # fmt: skip
# tasks/result, tasks/list and ping are not 2026-07-28 methods: -32601 is their answer.
METHODS_2026 = ["server/discover", "tools/list", "tools/call", "tasks/get", "tasks/update",
                "tasks/cancel", "subscriptions/listen", "tasks/result", "tasks/list",
                "ping"]  # fmt: skip


def base_params(method: str) -> dict[str, Any]:
    """Params a conforming client could send with `method`; mutations start from here."""
    known: dict[str, dict[str, Any]] = {
        "tools/call": {"name": "add", "arguments": {"a": 1, "b": 2}, "task": {"ttl": 60_000}},
        "tasks/get": {"taskId": "no-such-task"},
        "tasks/result": {"taskId": "no-such-task"},
        "tasks/cancel": {"taskId": "no-such-task"},
        "tasks/update": {"taskId": "no-such-task", "inputResponses": {"k": {"action": "decline"}}},
        "tasks/list": {"cursor": "x"},
        "logging/setLevel": {"level": "debug"},
        "initialize": dict(INIT_PARAMS),
        "subscriptions/listen": {"notifications": {"taskIds": ["no-such-task"]}},
        "notifications/cancelled": {"requestId": 1},
    }
    return known.get(method, {})


def rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in `one_in` draws, and False in the simplest example: hypothesis
    starts from (and shrinks toward) the smallest choice, so that one stays the valid
    message, and a fault is something drawn on top of it."""
    return draw(st.integers(0, one_in - 1)) == one_in - 1


@st.composite
def mutated(draw: st.DrawFn, value: dict[str, Any]) -> Any:
    """`value` with up to three changes: a field dropped, given a value of another type,
    or an extra field added; sometimes not an object at all."""
    if rarely(draw, 10):
        return draw(json_values)
    out = dict(value)
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["drop", "retype", "extra", "name"]))
        keys = sorted(out)
        if action == "drop" and keys:
            del out[draw(st.sampled_from(keys))]
        elif action == "retype" and keys:
            out[draw(st.sampled_from(keys))] = draw(json_values)
        elif action == "name" and "name" in out:
            out["name"] = draw(st.sampled_from([*TOOL_NAMES, "", "nope", "a" * 500]))
        else:
            out[draw(short_text)] = draw(json_values)
    for key in ("arguments", "task"):
        if isinstance(out.get(key), dict) and draw(st.booleans()):
            out[key] = draw(mutated(out[key]))
    return out


@st.composite
def mutated_meta(draw: st.DrawFn) -> Any:
    """A 2026 `_meta` envelope, valid or with one of its fields made wrong."""
    envelope: dict[str, Any] = meta(draw(st.sampled_from([TASK_CAPS, {}])))
    wrong = {
        PROTOCOL_VERSION: st.sampled_from(["2025-11-25", "2030-01-01", "", "2026-07-28 ", 2026]),
        CLIENT_CAPABILITIES: st.sampled_from(
            [[], "tasks", None, {"extensions": "x"}, {"extensions": {TASKS_EXTENSION: True}}]
        ),
        CLIENT_INFO: json_values,
        LOG_LEVEL: st.sampled_from(["loud", "", "DEBUG", 3, None, "debug", "emergency"]),
        "progressToken": json_values,
    }
    if not rarely(draw, 3):
        return envelope  # valid: the params or headers carry the fault
    key = draw(st.sampled_from(sorted(wrong)))
    if rarely(draw, 5):
        envelope.pop(key, None)
    else:
        envelope[key] = draw(wrong[key])
    return draw(json_values) if rarely(draw, 20) else envelope


@st.composite
def rpc_messages(draw: st.DrawFn, modern: bool) -> Any:
    """A JSON-RPC message to one of the dialect's methods (or an unknown one), its params
    mutated, its envelope too in 2026; sometimes the frame itself is wrong."""
    methods = METHODS_2026 if modern else METHODS_2025
    method = draw(short_text) if rarely(draw, 8) else draw(st.sampled_from(methods))
    params = draw(mutated(base_params(method)))
    if modern and isinstance(params, dict):
        params["_meta"] = draw(mutated_meta())
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if not rarely(draw, 6):  # else a notification
        message["id"] = draw(request_ids) if rarely(draw, 5) else draw(st.integers(1))
    frame = draw(st.integers(0, 9))
    if frame == 9:
        message["jsonrpc"] = draw(st.sampled_from(["1.0", "", 2.0, None]))
    elif frame == 8:
        del message["jsonrpc"]
    elif frame == 7:
        message[draw(st.sampled_from(["method", "params"]))] = draw(json_values)
    elif frame == 6:
        del message["method"]
        message[draw(st.sampled_from(["result", "error"]))] = draw(json_values)
    return message


def not_json_rpc() -> st.SearchStrategy[Any]:
    """Valid JSON that is not a JSON-RPC message: scalars, batches, odd objects."""
    return st.one_of(
        scalars,
        st.lists(
            st.fixed_dictionaries(
                {"jsonrpc": st.just("2.0"), "method": st.just("ping"), "id": st.integers()}
            ),
            max_size=3,
        ),
        st.dictionaries(short_text, json_values, max_size=4),
        st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "id": request_ids}),
    )


@dataclass
class Sent:
    """One generated message, as bytes, and what the fuzzer knows it should get."""

    data: bytes
    message: Any = None  # the JSON value, when it is JSON
    answer_id: Any = field(default=None)  # a request's id: exactly one answer is due

    @property
    def is_notification(self) -> bool:
        """A well-formed notification: it must get no answer at all."""
        m = self.message
        return (
            isinstance(m, dict)
            and m.get("jsonrpc") == "2.0"
            and isinstance(m.get("method"), str)
            and "id" not in m
            and "result" not in m
            and "error" not in m
        )


def _sent(message: Any) -> Sent:
    data = pydantic_core.to_json(message)
    answer_id = None
    if (
        isinstance(message, dict)
        and message.get("jsonrpc") == "2.0"
        and isinstance(message.get("method"), str)
        and isinstance(message.get("id"), (str, int))
        and not isinstance(message.get("id"), bool)
        and message["method"] != "subscriptions/listen"  # held open by design
    ):
        answer_id = message["id"]
    return Sent(data, message, answer_id)


def _from_bytes(data: bytes) -> Sent:
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):  # the stdlib's decoder stops at ~1000 levels
        return Sent(data)
    return Sent(data, message)


@st.composite
def batches(draw: st.DrawFn, modern: bool) -> list[Sent]:
    """One to six JSON-RPC messages to the dialect's methods and up to three that are
    not JSON-RPC or not JSON, shuffled. (Drawn as one list of `one_of` all kinds, the
    cheap scalars crowd out the requests: a list of them fits hypothesis's budget.)"""
    rpc = draw(st.lists(rpc_messages(modern).map(_sent), min_size=1, max_size=6))
    junk = st.one_of(not_json_rpc().map(_sent), raw_bytes().map(_from_bytes))
    return draw(st.permutations(rpc + draw(st.lists(junk, max_size=3))))
