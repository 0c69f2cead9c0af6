"""The `io.modelcontextprotocol/tasks` extension (SEP-2663) as a 2026-07-28 server speaks it.

One test (or more) per server-side MUST / MUST NOT of tasks-extension/tasks.md, in order of
appearance, then the backward-compatibility matrix of 2663-tasks-extension.md. Every task
message the server sends here is validated against the extension's schema.json (vendored
as tests/spec/tasks-extension.schema.json): `Modern.result` checks each result by its
method, and `modern()` checks every `notifications/tasks` when the connection ends.

| TX    | sentence (short quote)                                              | test / why not   |
|-------|---------------------------------------------------------------------|------------------|
| TX-1  | "A server MUST NOT return CreateTaskResult to a client that did not | test_tx1_*       |
|       |  include the extension capability on its request, regardless of     |                  |
|       |  prior declarations."                                               |                  |
| TX-2  | "A client that has negotiated this extension MUST be prepared to    | client-only      |
|       |  handle either CallToolResult or CreateTaskResult"                  |                  |
| TX-3  | "A client that receives CreateTaskResult in response to an          | client-only (the |
|       |  unsupported request type MUST interpret this as an invalid         | server side is   |
|       |  response"                                                          | TX-6)            |
| TX-4  | "the server MUST return an error with the code -32021 ...           | test_tx4_*       |
|       |  indicating the required extension"                                 |                  |
| TX-5  | "Servers MUST set resultType to "task" when returning a             | test_tx5_*       |
|       |  CreateTaskResult"                                                  |                  |
| TX-6  | "Servers MUST NOT set resultType to "task" on result types other    | test_tx6_*       |
|       |  than CreateTaskResult."                                            |                  |
| TX-7  | failed: "This status MUST NOT be used for non-JSON-RPC errors."     | test_tx7_*       |
| TX-8  | "A server MUST NOT return CreateTaskResult until the task is        | test_tx8_*       |
|       |  durably created"                                                   |                  |
| TX-9  | "In eventually-consistent environments, the server MUST wait for    | test_tx9_*       |
|       |  consistency before responding."                                   |                  |
| TX-10 | "the server MUST check the status of the task and respond           | test_tx10_*      |
|       |  accordingly"                                                       |                  |
| TX-11 | "If the status is working, the server MUST return a a Task object   | test_tx11_*      |
|       |  with status working."                                              |                  |
| TX-12 | "If the status is input_required, the server MUST return a Task     | test_tx12_*      |
|       |  object with status input_required and an inputRequests field"      |                  |
| TX-13 | "The inputRequests field MUST contain all outstanding requests"     | test_tx13_*      |
| TX-14 | "If the status is completed, the server MUST return a Task object   | test_tx14_*      |
|       |  with status completed and a result field"                          |                  |
| TX-15 | "If the status is cancelled, the server MUST return a Task object   | test_tx15_*      |
|       |  with status cancelled."                                            |                  |
| TX-16 | "If the status is failed, the server MUST return a Task object with | test_tx16_*      |
|       |  status failed and the error that occurred during execution."       |                  |
| TX-17 | tasks/get: "The resultType field MUST be set to "complete" on this  | test_tx17_*      |
|       |  object"                                                            |                  |
| TX-18 | "Clients MUST treat each entry in inputRequests as they would the   | client-only      |
|       |  equivalent standalone server-to-client request"                    |                  |
| TX-19 | "Each request key in inputRequests MUST be unique over the lifetime | test_tx19_*      |
|       |  of a single task."                                                 |                  |
| TX-20 | "A server MUST NOT reuse a key for a subsequent server-to-client    | test_tx20_*      |
|       |  request after a response for that key has been delivered"         |                  |
| TX-21 | "and MUST NOT use the same key to refer to two distinct requests"   | test_tx21_*      |
| TX-22 | "Each key MUST correspond to a currently-outstanding inputRequest   | client-only; the |
|       |  key." (UpdateTaskRequest)                                          | server's SHOULD  |
|       |                                                                     | ignore: tx22     |
| TX-23 | tasks/update: "On success, the server MUST acknowledge the request  | test_tx23_*      |
|       |  with an empty result."                                             |                  |
| TX-24 | "The resultType field MUST be set to "complete" on UpdateTaskResult"| test_tx24_*      |
| TX-25 | "The notifications/cancelled notification MUST NOT be used for task | client-only; the |
|       |  cancellation."                                                     | server ignoring  |
|       |                                                                     | it: tx25         |
| TX-26 | tasks/cancel: "On success, the server MUST acknowledge the request  | test_tx26_*      |
|       |  with an empty result."                                             |                  |
| TX-27 | "The resultType field MUST be set to "complete" on CancelTaskResult"| test_tx27_*      |
| TX-28 | "If a client requests task status notifications but does not        | test_tx28_*      |
|       |  declare the io.modelcontextprotocol/tasks extension capability,    |                  |
|       |  the server MUST return a JSON-RPC error"                           |                  |
| TX-29 | "notifications/progress and notifications/message notifications    | test_tx29_*      |
|       |  MUST NOT be sent on the subscriptions/listen stream for a task"    |                  |
| TX-30 | "the client MUST set the Mcp-Name header to the value of            | client-only      |
|       |  params.taskId"                                                     | (HTTP)           |
| TX-31 | "Servers MUST return standard JSON-RPC errors for the following     | test_tx31_*      |
|       |  protocol error cases" (here: internal errors, -32603)              |                  |
| TX-32 | "Servers MUST return this error for tasks/get." (-32602)            | test_tx32_*      |
| TX-33 | "Servers MUST return this error for non-declaring clients           | test_tx33_*      |
|       |  requesting task notifications on subscriptions/listen."            |                  |
| TX-34 | "Servers MUST return this error for non-declaring clients issuing   | test_tx34_*      |
|       |  tasks/get, tasks/update, and tasks/cancel requests."               |                  |
| TX-35 | "The tasks/get response ... MUST include the error field with the   | test_tx35_*      |
|       |  JSON-RPC error."                                                   |                  |
| TX-36 | "The failed status MUST NOT be used to represent non-JSON-RPC       | test_tx36_*      |
|       |  errors, such as a tool result that completed with isError: true."  |                  |
| TX-37 | "Errors within the context of a protocol method result MUST use the | test_tx37_*      |
|       |  completed status with the error details in the result field."      |                  |
| TX-38 | "If the underlying request resulted in a JSON-RPC error, ... the    | test_tx38_*      |
|       |  error field MUST contain that JSON-RPC error."                      |                  |
| TX-39 | "If the request completed with a result ..., the result field MUST  | test_tx39_*      |
|       |  contain that result."                                              |                  |
| TX-40 | "Servers MUST generate them with sufficient entropy that a third    | test_tx40_*      |
|       |  party cannot enumerate or guess them."                             |                  |
| TX-41 | "Servers MUST perform authentication and authorization checks on    | not here: needs  |
|       |  each task-related request"                                         | an authenticated |
|       |                                                                     | transport; the   |
|       |                                                                     | HTTP auth tests  |
| TX-42 | "Hosts MUST apply the same trust model to these payloads"           | client-only      |
|       | -- 2663-tasks-extension.md, Backward Compatibility matrix --        |                  |
| TX-43 | 2025-11-25 row: "Servers MUST NOT treat this capability as enabling | test_tx43_*      |
|       |  tasks under that protocol version"                                 |                  |
| TX-44 | "Servers MUST treat clients declaring only the legacy capability as | test_tx44_*      |
|       |  non-declaring with respect to this extension."                     |                  |
| TX-45 | "tasks/result is removed; clients calling it MUST receive -32601"   | test_tx45_*      |
| TX-46 | "The task parameter on CallToolRequest is removed; servers MUST     | test_tx46_*      |
|       |  ignore it"                                                         |                  |
| TX-47 | "Servers that previously advertised these MUST migrate to declaring | test_tx47_*      |
|       |  io.modelcontextprotocol/tasks"                                     |                  |
| TX-48 | "and MUST NOT continue to advertise the legacy capabilities under   | test_tx48_*      |
|       |  any protocol version that includes this extension."                |                  |
| TX-49 | "Clients that have negotiated the extension MUST handle both result | client-only      |
|       |  shapes"                                                            |                  |

Also checked, with no TX number (SHOULDs and behaviour the brief asks for): -32602 for an
unknown taskId on tasks/update and tasks/cancel, partial answers, the shape of
`notifications/tasks` on `subscriptions/listen`, and the unchanged 2025-11-25 task flow on
the same app.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from pydantic import BaseModel

from taskapp import MemoryStore, ProtocolError, TaskApp, TaskContext, TaskStore, ToolError
from taskapp.engine.running import END_READ_WAIT_S
from taskapp.records import TaskRecord, TaskStatus
from taskapp.stores.base import reads_own_writes
from tests.raw import INIT_PARAMS, RawConnection, raw_connection

pytestmark = pytest.mark.anyio

SPEC = Path(__file__).parent / "spec"
TASKS = "io.modelcontextprotocol/tasks"
VERSION = "2026-07-28"
PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
SERVER_INFO = "io.modelcontextprotocol/serverInfo"
MISSING_CAPABILITY = -32021
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603
CUSTOM_CODE = -32042
NEEDS_TASKS: dict[str, Any] = {"requiredCapabilities": {"extensions": {TASKS: {}}}}
TERMINAL = ("completed", "failed", "cancelled")


# -- schemas ---------------------------------------------------------------------------


@cache
def _defs(schema_file: str) -> dict[str, Any]:
    defs: dict[str, Any] = json.loads((SPEC / schema_file).read_text())["$defs"]
    return defs


@cache
def _validator(schema_file: str, def_name: str) -> jsonschema.Draft202012Validator:
    defs = _defs(schema_file)
    assert def_name in defs, f"no {def_name} in {schema_file}"
    return jsonschema.Draft202012Validator({"$defs": defs, "$ref": f"#/$defs/{def_name}"})


def conforms(
    def_name: str, instance: Any, schema_file: str = "tasks-extension.schema.json"
) -> None:
    """Fail with every schema error of `instance` against one definition of `schema_file`."""
    errors = [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in _validator(schema_file, def_name).iter_errors(instance)
    ]
    assert errors == [], f"{def_name}: {errors}"


# -- the app ---------------------------------------------------------------------------


class Word(BaseModel):
    word: str


@dataclass
class Lab:
    """A fresh app per test, with the events its tools wait on (events belong to one loop)."""

    app: TaskApp
    release: anyio.Event = field(default_factory=anyio.Event)
    started: anyio.Event = field(default_factory=anyio.Event)
    cancelled: anyio.Event = field(default_factory=anyio.Event)


def build(store: TaskStore | None = None) -> Lab:
    lab = Lab(TaskApp("tasks-ext", version="1.2.3", store=store))
    app = lab.app

    @app.tool()
    async def plain(x: int) -> int:
        """Never a task."""
        return x + 1

    @app.task_tool()
    async def echo(x: int) -> str:
        """Finishes at once."""
        return f"echo {x}"

    @app.task_tool(mode="required")
    async def only_task(x: int = 1) -> str:
        """Runs only as a task."""
        return f"only {x}"

    @app.task_tool()
    async def gate() -> str:
        """Blocks until the test sets `release`; notes if it was cancelled."""
        lab.started.set()
        try:
            await lab.release.wait()
        except anyio.get_cancelled_exc_class():
            lab.cancelled.set()
            raise
        return "released"

    @app.task_tool()
    async def crash() -> str:
        """An unexpected exception: a tool error, not a JSON-RPC error."""
        raise ValueError("boom")

    @app.task_tool()
    async def tool_error() -> str:
        raise ToolError("the tool says no")

    @app.task_tool()
    async def protocol_error() -> str:
        raise ProtocolError(CUSTOM_CODE, "custom failure", {"why": "testing"})

    @app.task_tool()
    async def two_at_once(ctx: TaskContext) -> str:
        """Asks two questions at the same time."""
        words: dict[str, str] = {}

        async def ask(label: str) -> None:
            reply = await ctx.elicit(f"{label}?", Word)
            words[label] = reply.data.word if reply.data else "-"

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, "First")
            tg.start_soon(ask, "Second")
        return f"{words['First']} {words['Second']}"

    @app.task_tool()
    async def three_in_a_row(ctx: TaskContext) -> str:
        """Asks the very same question three times, one after the other."""
        words = []
        for _ in range(3):
            reply = await ctx.elicit("Pick a word", Word)
            words.append(reply.data.word if reply.data else "-")
        return " ".join(words)

    @app.task_tool()
    async def chatty(ctx: TaskContext) -> str:
        """Reports progress and logs (which a task must not send) around one question."""
        lab.started.set()
        await lab.release.wait()
        await ctx.report_progress(1, total=2, message="half")
        await ctx.log("halfway", "error")
        reply = await ctx.elicit("Your name?", Word)
        await ctx.report_progress(2, total=2, message="done")
        await ctx.log("done", "error")
        return f"Hello, {reply.data.word if reply.data else '?'}!"

    return lab


class SlowCreateStore(MemoryStore):
    """A store whose writes take a while: the create is durable only when it returns."""

    async def create(self, record: TaskRecord) -> None:
        await anyio.sleep(0.2)
        await super().create(record)


class LaggingStore(MemoryStore):
    """An eventually consistent store: a create is acknowledged before reads see it, like
    a replica behind its primary."""

    lag_s = 0.3

    def __init__(self) -> None:
        super().__init__()
        self._visible_at: dict[str, float] = {}

    async def create(self, record: TaskRecord) -> None:
        await super().create(record)
        self._visible_at[record.task_id] = time.monotonic() + self.lag_s

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        if time.monotonic() < self._visible_at.get(task_id, 0.0):
            return None
        return await super().get(task_id, now=now)


class BrokenReadStore(MemoryStore):
    """A store that fails every read once `broken` is set."""

    broken = False

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        if self.broken:
            raise RuntimeError("the store is down")
        return await super().get(task_id, now=now)


# -- a 2026-07-28 client over a raw connection -----------------------------------------


def capabilities(*, tasks: bool = True, elicitation: bool = True, **more: Any) -> dict[str, Any]:
    caps: dict[str, Any] = dict(more)
    if elicitation:
        caps["elicitation"] = {}
    if tasks:
        caps["extensions"] = {TASKS: {}}
    return caps


def meta(caps: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    return {
        PROTOCOL_VERSION: VERSION,
        CLIENT_CAPABILITIES: capabilities() if caps is None else caps,
        **more,
    }


def check_result(method: str, result: dict[str, Any]) -> None:
    """The schema check of a task message, by the method it answers; and TX-6 for all."""
    if method == "tools/call" and result.get("resultType") == "task":
        conforms("CreateTaskResult", result)
        return
    assert result.get("resultType") != "task", (method, result)  # TX-6
    if method == "tasks/get":
        conforms("GetTaskResult", result)
    elif method == "tasks/update":
        conforms("UpdateTaskResult", result)
    elif method == "tasks/cancel":
        conforms("CancelTaskResult", result)


@dataclass
class Modern:
    """Sends 2026-07-28 requests (the extension declared unless told otherwise) and
    checks every result against the extension's schema."""

    conn: RawConnection

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *,
        caps: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The whole response message (result or error)."""
        body = {**(params or {}), "_meta": meta(caps)}
        response = await self.conn.call(method, body)
        if "result" in response:
            check_result(method, response["result"])
        return response

    async def result(
        self, method: str, params: dict[str, Any] | None = None, *,
        caps: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        response = await self.call(method, params, caps=caps)
        assert "result" in response, response
        result: dict[str, Any] = response["result"]
        return result

    async def error(
        self, method: str, params: dict[str, Any] | None = None, *,
        caps: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        response = await self.call(method, params, caps=caps)
        assert "error" in response, response
        error: dict[str, Any] = response["error"]
        return error

    async def create(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a tool with the extension declared and expect a CreateTaskResult."""
        result = await self.result("tools/call", {"name": tool, "arguments": arguments or {}})
        assert result["resultType"] == "task", result
        return result

    async def get(self, task_id: str) -> dict[str, Any]:
        return await self.result("tasks/get", {"taskId": task_id})

    async def update(self, task_id: str, responses: dict[str, Any]) -> dict[str, Any]:
        return await self.result("tasks/update", {"taskId": task_id, "inputResponses": responses})

    async def until(
        self, task_id: str, done: Callable[[dict[str, Any]], bool], within: float = 5
    ) -> dict[str, Any]:
        """Poll tasks/get until `done` holds for the task; fail after `within` seconds."""
        with anyio.fail_after(within):
            while True:
                task = await self.get(task_id)
                if done(task):
                    return task
                await anyio.sleep(0.01)

    async def until_status(self, task_id: str, status: str) -> dict[str, Any]:
        return await self.until(task_id, lambda t: t["status"] == status)


@asynccontextmanager
async def modern(app: TaskApp) -> AsyncIterator[Modern]:
    async with raw_connection(app, initialize=None) as conn:
        yield Modern(conn)
        for note in conn.notifications:
            if note["method"] == "notifications/tasks":
                conforms("TaskStatusNotification", note)


def accept(word: str) -> dict[str, Any]:
    return {"action": "accept", "content": {"word": word}}


def by_message(requests: dict[str, Any]) -> dict[str, str]:
    """inputRequests as question text -> key."""
    return {r["params"]["message"]: key for key, r in requests.items()}


def bare(message: dict[str, Any]) -> dict[str, Any]:
    """A task as the wire shows it, without what differs between a result and a note."""
    return {k: v for k, v in message.items() if k not in ("resultType", "_meta")}


def assert_ack(result: dict[str, Any]) -> None:
    """An empty result: nothing beyond the fields every 2026-07-28 result has."""
    assert set(result) <= {"resultType", "_meta"}, result
    assert result["resultType"] == "complete"
    assert set(result.get("_meta", {})) <= {SERVER_INFO}, result


# -- Capability negotiation ------------------------------------------------------------


async def test_tx1_no_task_for_a_request_without_the_extension() -> None:
    """TX-1: "A server MUST NOT return CreateTaskResult to a client that did not include
    the extension capability on its request": an optional tool runs inline instead."""
    lab = build()
    async with modern(lab.app) as m:
        undeclared: list[dict[str, Any]] = [{}, capabilities(tasks=False), {"extensions": {}}]
        for caps in undeclared:
            result = await m.result(
                "tools/call", {"name": "echo", "arguments": {"x": 3}}, caps=caps
            )
            assert result["resultType"] == "complete"
            assert "taskId" not in result
            assert result["content"] == [{"type": "text", "text": "echo 3"}]


async def test_tx1_a_declaration_does_not_carry_to_the_next_request() -> None:
    """TX-1: "... regardless of prior declarations": declaring the extension on one
    request enables nothing on the next (the dialect is stateless)."""
    lab = build()
    async with modern(lab.app) as m:
        created = await m.create("echo", {"x": 1})
        after = await m.result(
            "tools/call", {"name": "echo", "arguments": {"x": 2}}, caps=capabilities(tasks=False)
        )
        assert after["resultType"] == "complete"
        assert "taskId" not in after
        error = await m.error("tasks/get", {"taskId": created["taskId"]}, caps={})
        assert error["code"] == MISSING_CAPABILITY


async def test_tx4_a_task_only_tool_without_the_extension_is_32021() -> None:
    """TX-4: "the server MUST return an error with the code -32021 (Missing Required Client
    Capability), indicating the required extension in the error response"."""
    lab = build()
    async with modern(lab.app) as m:
        error = await m.error(
            "tools/call", {"name": "only_task", "arguments": {}}, caps=capabilities(tasks=False)
        )
        assert error["code"] == MISSING_CAPABILITY
        assert error["data"] == NEEDS_TASKS
        conforms(
            "MissingRequiredClientCapabilityError",
            {"jsonrpc": "2.0", "id": 1, "error": error},
            "mcp-2026-07-28.schema.json",
        )
        # Declared: the same call makes a task.
        created = await m.create("only_task")
        done = await m.until_status(created["taskId"], "completed")
        assert done["result"]["content"] == [{"type": "text", "text": "only 1"}]


# -- Polymorphic results ---------------------------------------------------------------


async def test_tx5_create_task_result_says_task() -> None:
    """TX-5: "Servers MUST set resultType to "task" when returning a CreateTaskResult"."""
    lab = build()
    async with modern(lab.app) as m:
        created = await m.create("gate")
        assert created["resultType"] == "task"
        assert created["status"] == "working"
        assert isinstance(created["taskId"], str)
        assert "task" not in created  # flat, not the 2025-11-25 nested shape
        lab.release.set()


async def test_tx6_no_other_result_says_task() -> None:
    """TX-6: "Servers MUST NOT set resultType to "task" on result types other than
    CreateTaskResult." (`Modern.call` checks it on every result; here each kind once.)"""
    lab = build()
    async with modern(lab.app) as m:
        seen = [
            await m.result("server/discover"),
            await m.result("tools/list"),
            await m.result("tools/call", {"name": "plain", "arguments": {"x": 1}}),
            await m.result(
                "tools/call",
                {"name": "echo", "arguments": {"x": 1}},
                caps=capabilities(tasks=False),
            ),
        ]
        created = await m.create("gate")
        task_id = created["taskId"]
        seen.append(await m.get(task_id))
        seen.append(await m.update(task_id, {}))
        seen.append(await m.result("tasks/cancel", {"taskId": task_id}))
        seen.append(await m.until_status(task_id, "cancelled"))
        assert [r["resultType"] for r in seen] == ["complete"] * len(seen)


# -- Task status -----------------------------------------------------------------------


async def test_tx7_an_unexpected_exception_is_not_failed() -> None:
    """TX-7: `failed` "status MUST NOT be used for non-JSON-RPC errors": a tool that raises
    an ordinary exception has a tool result with isError, so the task is `completed`."""
    lab = build()
    async with modern(lab.app) as m:
        created = await m.create("crash")
        task = await m.until(created["taskId"], lambda t: t["status"] in TERMINAL)
        assert task["status"] == "completed", task
        assert task["result"]["isError"] is True
        assert "error" not in task


# -- Task creation ---------------------------------------------------------------------


async def test_tx8_create_task_result_only_once_tasks_get_resolves() -> None:
    """TX-8: "A server MUST NOT return CreateTaskResult until the task is durably created
    — that is, until a tasks/get for the returned taskId would resolve." (a slow store)"""
    lab = build(SlowCreateStore())
    async with modern(lab.app) as m:
        created = await m.create("gate")
        response = await m.call("tasks/get", {"taskId": created["taskId"]})
        assert "result" in response, response
        assert response["result"]["taskId"] == created["taskId"]
        lab.release.set()


async def test_tx9_the_server_waits_for_an_eventually_consistent_store() -> None:
    """TX-9: "In eventually-consistent environments, the server MUST wait for consistency
    before responding." (a store whose reads lag its writes)"""
    lab = build(LaggingStore())
    async with modern(lab.app) as m:
        created = await m.create("echo", {"x": 5})
        response = await m.call("tasks/get", {"taskId": created["taskId"]})
        assert "result" in response, response
        assert response["result"]["taskId"] == created["taskId"]


class CountingStore(MemoryStore):
    """Counts reads; as a subclass that overrides `get` it no longer claims to read its
    own writes (`stores.base.reads_own_writes`), so a server reads a new task back."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        self.reads += 1
        return await super().get(task_id, now=now)


class ConsistentCountingStore(CountingStore):
    reads_own_writes = True


@pytest.mark.parametrize(
    ("store_class", "reads"), [(CountingStore, 1), (ConsistentCountingStore, 0)]
)
async def test_tx9_a_store_that_reads_its_own_writes_is_not_read_back(
    store_class: type[CountingStore], reads: int
) -> None:
    """TX-9 holds without waiting where reads cannot lag: a store that declares
    `reads_own_writes` (memory, SQLite, a Redis primary) is not read before the
    CreateTaskResult; any other store is (a store of unknown kind may be a replica)."""
    assert reads_own_writes(MemoryStore())
    assert not reads_own_writes(LaggingStore())
    store = store_class()
    lab = build(store)
    async with modern(lab.app) as m:
        task_id = (await m.create("gate"))["taskId"]
        assert store.reads == reads
        assert (await m.get(task_id))["status"] == "working"
        lab.release.set()


class SlowEndStore(CountingStore):
    """Writes a task's end only after `end_s` (a store far away); reads are counted."""

    end_s = 0.2

    def __init__(self) -> None:
        super().__init__()
        self.ending = anyio.Event()

    async def update(self, task_id: str, **changes: Any) -> TaskRecord:
        if changes.get("status") in (TaskStatus.COMPLETED, TaskStatus.FAILED):
            self.ending.set()
            await anyio.sleep(self.end_s)
        return await super().update(task_id, **changes)


@pytest.mark.parametrize(("end_s", "status"), [(0.2, "completed"), (2.0, "working")])
async def test_tx10_a_tasks_get_waits_for_the_end_this_server_is_writing(
    end_s: float, status: str
) -> None:
    """A tasks/get that comes while this server writes the task's end (its function has
    returned) answers after that write, not `working` a moment before it; the wait is
    bounded (`END_READ_WAIT_S`), so a store that hangs shows `working`."""
    store = SlowEndStore()
    store.end_s = end_s
    lab = build(store)
    async with modern(lab.app) as m:
        task_id = (await m.create("echo", {"x": 1}))["taskId"]
        await store.ending.wait()
        started = time.monotonic()
        got = await m.get(task_id)
        assert got["status"] == status
        assert time.monotonic() - started < END_READ_WAIT_S + 0.3
        if status == "completed":
            assert got["result"]["content"] == [{"type": "text", "text": "echo 1"}]


# -- tasks/get -------------------------------------------------------------------------


async def test_tx10_tasks_get_reads_the_current_status() -> None:
    """TX-10: "the server MUST check the status of the task and respond accordingly":
    the same taskId shows `working`, then `completed` once the work ends."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("gate"))["taskId"]
        await lab.started.wait()
        assert (await m.get(task_id))["status"] == "working"
        lab.release.set()
        done = await m.until_status(task_id, "completed")
        assert done["result"]["content"] == [{"type": "text", "text": "released"}]


async def test_tx11_working() -> None:
    """TX-11: "If the status is working, the server MUST return a a Task object with status
    working." (and none of the other states' payloads)"""
    lab = build()
    async with modern(lab.app) as m:
        created = await m.create("gate")
        await lab.started.wait()
        task = await m.get(created["taskId"])
        assert task["status"] == "working"
        assert not {"inputRequests", "result", "error"} & set(task)
        for key in ("taskId", "createdAt", "ttlMs"):
            assert task[key] == created[key]
        conforms("WorkingTask", bare(task))
        lab.release.set()


async def test_tx12_input_required_carries_input_requests() -> None:
    """TX-12: "If the status is input_required, the server MUST return a Task object with
    status input_required and an inputRequests field"."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("three_in_a_row"))["taskId"]
        task = await m.until_status(task_id, "input_required")
        conforms("InputRequiredTask", bare(task))
        [request] = task["inputRequests"].values()
        assert request["method"] == "elicitation/create"
        assert request["params"]["message"] == "Pick a word"
        assert request["params"]["requestedSchema"]["properties"]["word"]["type"] == "string"
        assert "id" not in request  # an InputRequest, not a JSON-RPC request
        await m.result("tasks/cancel", {"taskId": task_id})


async def test_tx13_input_requests_hold_every_outstanding_request() -> None:
    """TX-13: "The inputRequests field MUST contain all outstanding requests from the server
    to the client": two questions asked at once both show; answered in reverse order in
    two tasks/update calls, the unanswered one stays (a partial answer keeps the task
    input_required: "the task remains in input_required until the remaining responses
    arrive")."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("two_at_once"))["taskId"]
        task = await m.until(task_id, lambda t: len(t.get("inputRequests", {})) == 2)
        assert task["status"] == "input_required"
        keys = by_message(task["inputRequests"])
        assert set(keys) == {"First?", "Second?"}
        assert_ack(await m.update(task_id, {keys["Second?"]: accept("beta")}))
        task = await m.until(task_id, lambda t: keys["Second?"] not in t.get("inputRequests", {}))
        assert task["status"] == "input_required"
        assert list(task["inputRequests"]) == [keys["First?"]]
        assert_ack(await m.update(task_id, {keys["First?"]: accept("alpha")}))
        done = await m.until_status(task_id, "completed")
        assert done["result"]["content"] == [{"type": "text", "text": "alpha beta"}]


async def test_tx14_completed_carries_the_result() -> None:
    """TX-14: "If the status is completed, the server MUST return a Task object with status
    completed and a result field containing the final result of the task"; a tool error is
    `completed` with isError true, never `failed`."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("echo", {"x": 9}))["taskId"]
        task = await m.until(task_id, lambda t: t["status"] in TERMINAL)
        assert task["status"] == "completed"
        assert task["result"]["content"] == [{"type": "text", "text": "echo 9"}]
        assert task["result"].get("isError", False) is False
        conforms("CompletedTask", bare(task))
        failing_id = (await m.create("tool_error"))["taskId"]
        failing = await m.until(failing_id, lambda t: t["status"] in TERMINAL)
        assert failing["status"] == "completed"
        assert failing["result"]["isError"] is True


async def test_tx15_cancelled() -> None:
    """TX-15: "If the status is cancelled, the server MUST return a Task object with status
    cancelled."."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("gate"))["taskId"]
        await lab.started.wait()
        assert_ack(await m.result("tasks/cancel", {"taskId": task_id}))
        task = await m.until(task_id, lambda t: t["status"] in TERMINAL)
        assert task["status"] == "cancelled"
        assert not {"inputRequests", "result", "error"} & set(task)
        conforms("CancelledTask", bare(task))
        with anyio.fail_after(5):
            await lab.cancelled.wait()  # cooperative, and taskapp does stop the function


async def test_tx16_failed_carries_the_error() -> None:
    """TX-16: "If the status is failed, the server MUST return a Task object with status
    failed and the error that occurred during execution." (a ProtocolError, exactly)"""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("protocol_error"))["taskId"]
        task = await m.until(task_id, lambda t: t["status"] in TERMINAL)
        assert task["status"] == "failed"
        assert task["error"] == {
            "code": CUSTOM_CODE,
            "message": "custom failure",
            "data": {"why": "testing"},
        }
        assert "result" not in task
        conforms("FailedTask", bare(task))


async def test_tx17_get_task_result_is_complete_in_every_status() -> None:
    """TX-17: tasks/get: "The resultType field MUST be set to "complete" on this object"
    — in every status a task goes through."""
    lab = build()
    async with modern(lab.app) as m:
        statuses: dict[str, str] = {}
        ids = [
            (await m.create(tool, arguments))["taskId"]
            for tool, arguments in (
                ("gate", {}),
                ("three_in_a_row", {}),
                ("echo", {"x": 1}),
                ("protocol_error", {}),
            )
        ]
        await lab.started.wait()
        for task_id, want in zip(
            ids, ("working", "input_required", "completed", "failed"), strict=True
        ):
            task = await m.until_status(task_id, want)
            statuses[want] = task["resultType"]
        await m.result("tasks/cancel", {"taskId": ids[0]})
        statuses["cancelled"] = (await m.until_status(ids[0], "cancelled"))["resultType"]
        assert statuses == dict.fromkeys(
            ("working", "input_required", "completed", "failed", "cancelled"), "complete"
        )
        await m.result("tasks/cancel", {"taskId": ids[1]})


# -- Task update requests: keys --------------------------------------------------------


async def _answer_three(m: Modern, task_id: str) -> tuple[list[str], dict[str, Any]]:
    """Answer three_in_a_row's questions one by one; every key seen, and the ended task.
    Also checks on every poll that a key always names the same request (TX-21)."""
    keys: list[str] = []
    requests: dict[str, Any] = {}
    for word in ("red", "green", "blue"):
        task = await m.until(task_id, lambda t: bool(set(t.get("inputRequests", {})) - set(keys)))
        for key, request in task["inputRequests"].items():
            assert requests.setdefault(key, request) == request, "a key named two requests"
        [key] = set(task["inputRequests"]) - set(keys)
        keys.append(key)
        assert_ack(await m.update(task_id, {key: accept(word)}))
    done = await m.until(task_id, lambda t: t["status"] in TERMINAL)
    return keys, done


async def test_tx19_keys_are_unique_over_the_task_lifetime() -> None:
    """TX-19: "Each request key in inputRequests MUST be unique over the lifetime of a
    single task." (three questions in sequence)"""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("three_in_a_row"))["taskId"]
        keys, done = await _answer_three(m, task_id)
        assert len(set(keys)) == 3, keys
        assert done["result"]["content"] == [{"type": "text", "text": "red green blue"}]


async def test_tx20_an_answered_key_is_never_reused() -> None:
    """TX-20: "A server MUST NOT reuse a key for a subsequent server-to-client request
    after a response for that key has been delivered" — even when the next question is
    word for word the same."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("three_in_a_row"))["taskId"]
        answered: list[str] = []
        for word in ("one", "two", "three"):
            task = await m.until(
                task_id, lambda t: bool(set(t.get("inputRequests", {})) - set(answered))
            )
            assert not set(task["inputRequests"]) & set(answered), (answered, task)
            [key] = task["inputRequests"]
            answered.append(key)
            await m.update(task_id, {key: accept(word)})
        await m.until_status(task_id, "completed")


async def test_tx21_a_key_always_names_the_same_request() -> None:
    """TX-21: the server "MUST NOT use the same key to refer to two distinct requests over
    a task's lifetime": across polls, a key keeps its request; keys of distinct requests
    differ."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("three_in_a_row"))["taskId"]
        keys, _ = await _answer_three(m, task_id)  # asserts key -> request is stable
        assert len(set(keys)) == len(keys)
        other = (await m.create("two_at_once"))["taskId"]
        task = await m.until(other, lambda t: len(t.get("inputRequests", {})) == 2)
        assert len(by_message(task["inputRequests"])) == 2
        await m.result("tasks/cancel", {"taskId": other})


async def test_tx22_keys_not_outstanding_are_ignored() -> None:
    """TX-22 (server side, a SHOULD): "A server SHOULD ignore any inputResponses responses
    mapped to a key that is not currently outstanding" — never issued, or already
    answered; the ack is the same empty result."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("three_in_a_row"))["taskId"]
        first = await m.until_status(task_id, "input_required")
        [key1] = first["inputRequests"]
        assert_ack(await m.update(task_id, {"never-issued": accept("nope")}))
        still = await m.get(task_id)
        assert list(still["inputRequests"]) == [key1]
        await m.update(task_id, {key1: accept("a")})
        second = await m.until(task_id, lambda t: bool(set(t.get("inputRequests", {})) - {key1}))
        [key2] = second["inputRequests"]
        # key1 again (already answered) must not answer question 2.
        assert_ack(await m.update(task_id, {key1: accept("stale"), "x": accept("y")}))
        await anyio.sleep(0.05)
        again = await m.get(task_id)
        assert again["status"] == "input_required"
        assert list(again["inputRequests"]) == [key2]
        await m.update(task_id, {key2: accept("b")})
        third = await m.until(
            task_id, lambda t: bool(set(t.get("inputRequests", {})) - {key1, key2})
        )
        [key3] = third["inputRequests"]
        await m.update(task_id, {key3: accept("c")})
        done = await m.until_status(task_id, "completed")
        assert done["result"]["content"] == [{"type": "text", "text": "a b c"}]


async def test_tx23_update_is_acknowledged_with_an_empty_result() -> None:
    """TX-23: tasks/update: "On success, the server MUST acknowledge the request with an
    empty result.\""""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("three_in_a_row"))["taskId"]
        task = await m.until_status(task_id, "input_required")
        [key] = task["inputRequests"]
        result = await m.update(task_id, {key: accept("x")})
        assert_ack(result)
        await m.result("tasks/cancel", {"taskId": task_id})


async def test_tx24_update_task_result_is_complete() -> None:
    """TX-24: "The resultType field MUST be set to "complete" on UpdateTaskResult" — also
    for a task with nothing outstanding, and for one that has ended."""
    lab = build()
    async with modern(lab.app) as m:
        running = (await m.create("gate"))["taskId"]
        ended = (await m.create("echo", {"x": 1}))["taskId"]
        await m.until_status(ended, "completed")
        for task_id in (running, ended):
            result = await m.update(task_id, {"k": accept("v")})
            assert result["resultType"] == "complete"
        lab.release.set()


async def test_update_unknown_task_is_32602() -> None:
    """SHOULD: "Servers SHOULD return a JSON-RPC error if the taskId does not correspond to
    a known task." (tasks/update; -32602 per Error Handling)"""
    lab = build()
    async with modern(lab.app) as m:
        error = await m.error(
            "tasks/update", {"taskId": "no-such-task", "inputResponses": {"k": accept("v")}}
        )
        assert error["code"] == INVALID_PARAMS


# -- Task cancellation -----------------------------------------------------------------


async def test_tx25_notifications_cancelled_does_not_cancel_a_task() -> None:
    """TX-25: "The notifications/cancelled notification MUST NOT be used for task
    cancellation." A client rule; the server's side: a notifications/cancelled for the
    tools/call that made the task leaves the task running."""
    lab = build()
    async with modern(lab.app) as m:
        await m.conn.send(
            {
                "jsonrpc": "2.0",
                "id": "make",
                "method": "tools/call",
                "params": {"name": "gate", "arguments": {}, "_meta": meta()},
            }
        )
        task_id = (await m.conn.response("make"))["result"]["taskId"]
        await m.conn.send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": "make"},
            }
        )
        await lab.started.wait()
        await anyio.sleep(0.05)
        assert (await m.get(task_id))["status"] == "working"
        assert not lab.cancelled.is_set()
        lab.release.set()
        await m.until_status(task_id, "completed")


async def test_tx26_cancel_is_an_ack_for_running_and_ended_tasks() -> None:
    """TX-26: tasks/cancel: "On success, the server MUST acknowledge the request with an
    empty result." — for a running task and for one that already ended (which keeps its
    status)."""
    lab = build()
    async with modern(lab.app) as m:
        running = (await m.create("gate"))["taskId"]
        await lab.started.wait()
        assert_ack(await m.result("tasks/cancel", {"taskId": running}))
        assert (await m.until(running, lambda t: t["status"] in TERMINAL))["status"] == (
            "cancelled"
        )
        ended = (await m.create("echo", {"x": 2}))["taskId"]
        await m.until_status(ended, "completed")
        assert_ack(await m.result("tasks/cancel", {"taskId": ended}))
        assert (await m.get(ended))["status"] == "completed"
        # A second cancel of the cancelled task: still an ack.
        assert_ack(await m.result("tasks/cancel", {"taskId": running}))


async def test_tx27_cancel_task_result_is_complete() -> None:
    """TX-27: "The resultType field MUST be set to "complete" on CancelTaskResult"."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("three_in_a_row"))["taskId"]
        await m.until_status(task_id, "input_required")
        result = await m.result("tasks/cancel", {"taskId": task_id})
        assert result["resultType"] == "complete"
        task = await m.until_status(task_id, "cancelled")
        assert "inputRequests" not in task


async def test_cancel_unknown_task_is_32602() -> None:
    """SHOULD: tasks/cancel "Servers SHOULD return a JSON-RPC error if the taskId does not
    correspond to a known task." (-32602 per Error Handling)"""
    lab = build()
    async with modern(lab.app) as m:
        error = await m.error("tasks/cancel", {"taskId": "no-such-task"})
        assert error["code"] == INVALID_PARAMS


# -- Task status notifications ---------------------------------------------------------


async def test_tx28_listen_for_tasks_without_the_extension_is_32021() -> None:
    """TX-28: "If a client requests task status notifications but does not declare the
    io.modelcontextprotocol/tasks extension capability, the server MUST return a JSON-RPC
    error specifying the missing capabilities"."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("gate"))["taskId"]
        error = await m.error(
            "subscriptions/listen", {"notifications": {"taskIds": [task_id]}}, caps={}
        )
        assert error["code"] == MISSING_CAPABILITY
        assert error["data"] == NEEDS_TASKS
        lab.release.set()


async def _listen(m: Modern, listen_id: str, task_ids: list[str]) -> dict[str, Any]:
    """Open a subscription; return its acknowledgement's params."""
    await m.conn.send(
        {
            "jsonrpc": "2.0",
            "id": listen_id,
            "method": "subscriptions/listen",
            "params": {"_meta": meta(), "notifications": {"taskIds": task_ids}},
        }
    )
    ack: dict[str, Any] = await m.conn.wait_for(
        lambda: next(
            (
                n
                for n in m.conn.notes("notifications/subscriptions/acknowledged")
                if n["_meta"][SUBSCRIPTION_ID] == listen_id
            ),
            None,
        )
    )
    conforms("SubscriptionsAcknowledgedNotificationParams", ack, "mcp-2026-07-28.schema.json")
    return ack


def _task_notes(m: Modern, listen_id: str) -> list[dict[str, Any]]:
    return [
        n for n in m.conn.notes("notifications/tasks") if n["_meta"][SUBSCRIPTION_ID] == listen_id
    ]


async def test_a_subscription_starts_with_the_tasks_state() -> None:
    """A client that subscribes to a task already waiting for input hears its state (with
    the question) right after the acknowledgement: nothing else would change it."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("three_in_a_row"))["taskId"]
        waiting = await m.until_status(task_id, "input_required")
        await _listen(m, "listen-now", [task_id])
        first = await m.conn.wait_for(lambda: _task_notes(m, "listen-now"))
        assert bare(first[0]) == bare(waiting)


async def test_tx29_task_notifications_on_subscriptions_listen() -> None:
    """TX-29: "notifications/progress and notifications/message notifications MUST NOT be
    sent on the subscriptions/listen stream for a task" — while the stream carries
    notifications/tasks, each "a complete DetailedTask for the current status, identical
    to what tasks/get would have returned at that moment", after the acknowledgement."""
    lab = build()
    async with modern(lab.app) as m:
        created = await m.create("chatty")
        task_id = created["taskId"]
        ack = await _listen(m, "listen-1", [task_id, "no-such-task"])
        assert ack["notifications"]["taskIds"] == [task_id]
        await lab.started.wait()
        lab.release.set()

        def latest(status: str) -> Callable[[], dict[str, Any] | None]:
            return lambda: next(
                (n for n in reversed(_task_notes(m, "listen-1")) if n["status"] == status), None
            )

        waiting = await m.conn.wait_for(latest("input_required"))
        now = await m.get(task_id)
        assert bare(waiting) == bare(now)
        [key] = waiting["inputRequests"]
        await m.update(task_id, {key: accept("Ada")})
        finished = await m.conn.wait_for(latest("completed"))
        assert bare(finished) == bare(await m.get(task_id))
        assert finished["result"]["content"] == [{"type": "text", "text": "Hello, Ada!"}]
        for note in _task_notes(m, "listen-1"):
            conforms("TaskStatusNotificationParams", note)
        # The acknowledgement came first on this subscription.
        order = [
            n["method"]
            for n in m.conn.received
            if n.get("params", {}).get("_meta", {}).get(SUBSCRIPTION_ID) == "listen-1"
        ]
        assert order[0] == "notifications/subscriptions/acknowledged", order
        # The tool reported progress and logged; none of it reached the client.
        assert m.conn.notes("notifications/progress") == []
        assert m.conn.notes("notifications/message") == []
        # Cancelling the subscription: no answer to it (cancellation.mdx), no more notes.
        await m.conn.send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": "listen-1"},
            }
        )
        await anyio.sleep(0.05)
        assert "listen-1" not in m.conn.responses


async def test_a_cancelled_subscription_sends_nothing_more() -> None:
    """Cancelling subscriptions/listen with notifications/cancelled ends its
    notifications/tasks (subscriptions.mdx: "The client cancels it")."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("chatty"))["taskId"]
        await _listen(m, "listen-2", [task_id])
        await lab.started.wait()
        lab.release.set()
        await m.conn.wait_for(
            lambda: any(n["status"] == "input_required" for n in _task_notes(m, "listen-2"))
        )
        await m.conn.send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": "listen-2"},
            }
        )
        await anyio.sleep(0.05)
        count = len(_task_notes(m, "listen-2"))
        await m.result("tasks/cancel", {"taskId": task_id})
        await m.until_status(task_id, "cancelled")
        await anyio.sleep(0.05)
        assert len(_task_notes(m, "listen-2")) == count


# -- Error handling --------------------------------------------------------------------


async def test_tx31_an_internal_failure_is_32603() -> None:
    """TX-31: "Servers MUST return standard JSON-RPC errors for the following protocol error
    cases" — "Internal errors: -32603 (Internal error)" (the store fails)."""
    store = BrokenReadStore()
    lab = build(store)
    async with modern(lab.app) as m:
        task_id = (await m.create("echo", {"x": 1}))["taskId"]
        store.broken = True
        error = await m.error("tasks/get", {"taskId": task_id})
        assert error["code"] == INTERNAL_ERROR
        store.broken = False


async def test_tx32_tasks_get_unknown_task_is_32602() -> None:
    """TX-32: "Invalid or nonexistent taskId: -32602 (Invalid params)" — "Servers MUST
    return this error for tasks/get."."""
    lab = build()
    async with modern(lab.app) as m:
        for bad in ("no-such-task", ""):
            error = await m.error("tasks/get", {"taskId": bad})
            assert error["code"] == INVALID_PARAMS
        error = await m.error("tasks/get", {})
        assert error["code"] == INVALID_PARAMS


async def test_tx33_listen_with_only_the_legacy_capability_is_32021() -> None:
    """TX-33: "Servers MUST return this error for non-declaring clients requesting task
    notifications on subscriptions/listen." (a client declaring only the 2025 `tasks`
    capability is non-declaring)"""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("gate"))["taskId"]
        legacy: dict[str, Any] = {
            "tasks": {"requests": {"elicitation": {"create": {}}}},
            "elicitation": {},
        }
        error = await m.error(
            "subscriptions/listen", {"notifications": {"taskIds": [task_id]}}, caps=legacy
        )
        assert error["code"] == MISSING_CAPABILITY
        assert error["data"] == NEEDS_TASKS
        lab.release.set()


async def test_tx34_task_methods_without_the_extension_are_32021() -> None:
    """TX-34: "Servers MUST return this error for non-declaring clients issuing tasks/get,
    tasks/update, and tasks/cancel requests." — also for a task that exists."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("gate"))["taskId"]
        for method, params in (
            ("tasks/get", {"taskId": task_id}),
            ("tasks/update", {"taskId": task_id, "inputResponses": {}}),
            ("tasks/cancel", {"taskId": task_id}),
        ):
            error = await m.error(method, params, caps=capabilities(tasks=False))
            assert error["code"] == MISSING_CAPABILITY, method
            assert error["data"] == NEEDS_TASKS
        assert (await m.get(task_id))["status"] == "working"  # the cancel did nothing
        lab.release.set()


async def test_tx35_failed_task_includes_the_error() -> None:
    """TX-35: "The tasks/get response SHOULD include a statusMessage ... and MUST include
    the error field with the JSON-RPC error."."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("protocol_error"))["taskId"]
        task = await m.until_status(task_id, "failed")
        assert task["error"]["code"] == CUSTOM_CODE
        assert task["error"]["message"] == "custom failure"
        assert task.get("statusMessage")  # the SHOULD, kept


async def test_tx36_a_tool_error_is_never_failed() -> None:
    """TX-36: "The failed status MUST NOT be used to represent non-JSON-RPC errors, such as
    a tool result that completed with isError: true."."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("tool_error"))["taskId"]
        task = await m.until(task_id, lambda t: t["status"] in TERMINAL)
        assert task["status"] == "completed", task
        assert "error" not in task


async def test_tx37_a_tool_error_is_in_the_result_field() -> None:
    """TX-37: "Errors within the context of a protocol method result MUST use the completed
    status with the error details in the result field."."""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("tool_error"))["taskId"]
        task = await m.until_status(task_id, "completed")
        assert task["result"]["isError"] is True
        assert task["result"]["content"] == [{"type": "text", "text": "the tool says no"}]
        conforms("CallToolResult", {**task["result"], "resultType": "complete"},
                 "mcp-2026-07-28.schema.json")  # fmt: skip


async def test_tx38_failed_error_is_what_the_call_would_have_returned() -> None:
    """TX-38: "If the underlying request resulted in a JSON-RPC error, the task uses failed
    status and the error field MUST contain that JSON-RPC error." (the same tool, inline)"""
    lab = build()
    async with modern(lab.app) as m:
        inline = await m.error("tools/call", {"name": "protocol_error", "arguments": {}}, caps={})
        task_id = (await m.create("protocol_error"))["taskId"]
        task = await m.until_status(task_id, "failed")
        assert task["error"] == inline


async def test_tx39_completed_result_is_what_the_call_would_have_returned() -> None:
    """TX-39: "If the request completed with a result (even if isError: true for tool
    results), the task uses completed status and the result field MUST contain that
    result." (the same tools, inline)"""
    lab = build()
    async with modern(lab.app) as m:
        for tool, arguments in (("echo", {"x": 4}), ("tool_error", {}), ("crash", {})):
            inline = await m.result("tools/call", {"name": tool, "arguments": arguments}, caps={})
            task_id = (await m.create(tool, arguments))["taskId"]
            task = await m.until_status(task_id, "completed")
            assert task["result"] == bare(inline), tool


# -- Security --------------------------------------------------------------------------


async def test_tx40_task_ids_are_unguessable() -> None:
    """TX-40: "Servers MUST generate them with sufficient entropy that a third party cannot
    enumerate or guess them." (at least 128 bits: a URL-safe base64 of 16+ random bytes,
    all distinct, sharing no prefix)"""
    lab = build()
    async with modern(lab.app) as m:
        ids = [(await m.create("echo", {"x": i}))["taskId"] for i in range(20)]
    assert len(set(ids)) == len(ids)
    for task_id in ids:
        raw = base64.urlsafe_b64decode(task_id + "=" * (-len(task_id) % 4))
        assert len(raw) * 8 >= 128, task_id
    assert len({task_id[:4] for task_id in ids}) > 10  # not a counter behind a fixed prefix


# -- Backward compatibility (2663-tasks-extension.md) ----------------------------------


async def test_tx43_the_extension_enables_nothing_under_2025_11_25() -> None:
    """TX-43: 2025-11-25: "Servers MUST NOT treat this capability as enabling tasks under
    that protocol version; requests proceed as if the client had declared no task
    capability at all." (declared in initialize, and in a request's _meta)"""
    lab = build()
    init = {**INIT_PARAMS, "capabilities": {"extensions": {TASKS: {}}, "elicitation": {}}}
    async with raw_connection(lab.app, initialize=init) as conn:
        ext_meta = {CLIENT_CAPABILITIES: capabilities()}
        for params in (
            {"name": "echo", "arguments": {"x": 1}},
            {"name": "echo", "arguments": {"x": 1}, "_meta": ext_meta},
        ):
            result = await conn.result("tools/call", params)
            assert "resultType" not in result
            assert "taskId" not in result
            assert "task" not in result
            assert result["content"] == [{"type": "text", "text": "echo 1"}]
        # A task-only tool still needs the 2025 `task` field (S-9: -32601), not the extension.
        error = await conn.error("tools/call", {"name": "only_task", "arguments": {}})
        assert error["code"] == METHOD_NOT_FOUND
        # The extension's methods do not exist in 2025-11-25.
        error = await conn.error("tasks/update", {"taskId": "x", "inputResponses": {}})
        assert error["code"] == METHOD_NOT_FOUND


async def test_2025_tasks_behave_as_before_on_the_same_app() -> None:
    """The 2025-11-25 row: "Legacy experimental tasks per the 2025-11-25 specification. The
    client opts into task augmentation per request via the task parameter" — a nested
    `task`, `ttl` not `ttlMs`, no `resultType`, tasks/result."""
    lab = build()
    init = {**INIT_PARAMS, "capabilities": {"extensions": {TASKS: {}}}}
    async with raw_connection(lab.app, initialize=init) as conn:
        initialized = conn.responses[next(iter(conn.responses))]["result"]
        assert "tasks" in initialized["capabilities"]
        assert "extensions" not in initialized["capabilities"]
        created = await conn.result(
            "tools/call", {"name": "echo", "arguments": {"x": 7}, "task": {"ttl": 60000}}
        )
        assert set(created) == {"task"}
        conforms("CreateTaskResult", created, "mcp-2025-11-25.schema.json")
        task_id = created["task"]["taskId"]
        assert "ttl" in created["task"]
        assert "ttlMs" not in created["task"]
        result = await conn.result("tasks/result", {"taskId": task_id})
        assert result["content"] == [{"type": "text", "text": "echo 7"}]
        task = await conn.result("tasks/get", {"taskId": task_id})
        assert task["status"] == "completed"
        assert "resultType" not in task
        conforms("GetTaskResult", task, "mcp-2025-11-25.schema.json")


async def test_tx44_only_the_legacy_capability_is_non_declaring() -> None:
    """TX-44: "Servers MUST treat clients declaring only the legacy capability as
    non-declaring with respect to this extension."."""
    lab = build()
    legacy: dict[str, Any] = {
        "tasks": {"list": {}, "cancel": {}, "requests": {"elicitation": {"create": {}}}}
    }
    async with modern(lab.app) as m:
        result = await m.result("tools/call", {"name": "echo", "arguments": {"x": 1}}, caps=legacy)
        assert result["resultType"] == "complete"
        assert "taskId" not in result
        error = await m.error("tools/call", {"name": "only_task", "arguments": {}}, caps=legacy)
        assert error["code"] == MISSING_CAPABILITY
        task_id = (await m.create("echo", {"x": 1}))["taskId"]
        error = await m.error("tasks/get", {"taskId": task_id}, caps=legacy)
        assert error["code"] == MISSING_CAPABILITY


async def test_tx45_tasks_result_and_tasks_list_are_gone() -> None:
    """TX-45: "tasks/result is removed; clients calling it MUST receive -32601 (Method Not
    Found)." (tasks/list too: the extension has no listing)"""
    lab = build()
    async with modern(lab.app) as m:
        task_id = (await m.create("echo", {"x": 1}))["taskId"]
        await m.until_status(task_id, "completed")
        assert (await m.error("tasks/result", {"taskId": task_id}))["code"] == METHOD_NOT_FOUND
        assert (await m.error("tasks/list", {}))["code"] == METHOD_NOT_FOUND


async def test_tx46_the_task_param_is_ignored() -> None:
    """TX-46: "The task parameter on CallToolRequest is removed; servers MUST ignore it
    (treat the field as unknown) rather than using it as an opt-in."."""
    lab = build()
    async with modern(lab.app) as m:
        params = {"name": "echo", "arguments": {"x": 1}, "task": {"ttl": 1234}}
        inline = await m.result("tools/call", params, caps=capabilities(tasks=False))
        assert inline["resultType"] == "complete"
        assert "taskId" not in inline
        error = await m.error(
            "tools/call",
            {"name": "only_task", "arguments": {}, "task": {}},
            caps=capabilities(tasks=False),
        )
        assert error["code"] == MISSING_CAPABILITY
        # Declared: a task, but its `ttl` is not taken from the ignored field.
        created = await m.result("tools/call", params)
        assert created["resultType"] == "task"
        assert created["ttlMs"] != 1234


async def test_tx47_discover_declares_the_extension() -> None:
    """TX-47: "Servers that previously advertised these MUST migrate to declaring
    io.modelcontextprotocol/tasks" (in server/discover)."""
    lab = build()
    async with modern(lab.app) as m:
        declared: list[dict[str, Any]] = [capabilities(), {}]
        for caps in declared:  # whatever the client declares
            found = await m.result("server/discover", caps=caps)
            assert found["capabilities"]["extensions"][TASKS] == {}


async def test_tx48_discover_does_not_advertise_the_legacy_capability() -> None:
    """TX-48: "and MUST NOT continue to advertise the legacy capabilities under any protocol
    version that includes this extension." (no `tasks` in server/discover, and no
    `execution.taskSupport` in tools/list)"""
    lab = build()
    async with modern(lab.app) as m:
        found = await m.result("server/discover")
        assert "tasks" not in found["capabilities"]
        tools = (await m.result("tools/list"))["tools"]
        assert tools
        assert all("execution" not in t for t in tools), tools
