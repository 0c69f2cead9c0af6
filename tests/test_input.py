"""Elicitation and sampling: inline, inside tasks (input_required), and as client-hosted tasks.

In memory, through taskapp's Client and, where the exact wire matters, the raw
connection. S-numbers refer to /work/shared/spec/TASKS-CHECKLIST.md.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import pytest
from pydantic import BaseModel, Field

from examples.approval import app as approval
from taskapp import TaskApp, TaskContext, ToolError
from taskapp.client import Client, Task
from taskapp.wire.jsonrpc import JsonRpcError
from tests.clients import LegacyClient

from .protocol_app import RELATED_TASK, schema_errors
from .raw import INIT_PARAMS, RawConnection, raw_connection

pytestmark = pytest.mark.anyio

CANCELLED_TEXT = "The task was cancelled by the requestor."
TIMEOUT = 5
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


# -- the app under test ------------------------------------------------------------


class Name(BaseModel):
    name: str


class Age(BaseModel):
    age: int


class Confirm(BaseModel):
    ok: bool


class Inner(BaseModel):
    x: int


class Nested(BaseModel):
    title: str
    inner: Inner


class Tags(BaseModel):
    tags: list[str]


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Form(BaseModel):
    name: str = Field(description="Your name", min_length=1, max_length=20)
    age: int = Field(ge=0, le=150)
    height: float
    subscribe: bool = True
    size: Literal["s", "m", "l"] = "m"
    color: Color
    nickname: str | None = "anon"
    toppings: list[Literal["ham", "egg"]] = Field(default_factory=list)


class Maybe(BaseModel):
    nickname: str | None = None


FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {
            "type": "string",
            "title": "Name",
            "description": "Your name",
            "minLength": 1,
            "maxLength": 20,
        },
        "age": {"type": "integer", "title": "Age", "minimum": 0, "maximum": 150},
        "height": {"type": "number", "title": "Height"},
        "subscribe": {"type": "boolean", "title": "Subscribe", "default": True},
        "size": {"type": "string", "title": "Size", "enum": ["s", "m", "l"], "default": "m"},
        "color": {"type": "string", "title": "Color", "enum": ["red", "blue"]},
        "nickname": {"type": "string", "title": "Nickname", "default": "anon"},
        "toppings": {
            "type": "array",
            "title": "Toppings",
            "items": {"type": "string", "enum": ["ham", "egg"]},
        },
    },
    "required": ["name", "age", "height", "color"],
}
BAD_MODELS: dict[str, type[BaseModel]] = {"nested": Nested, "tags": Tags}


@dataclass
class Built:
    app: TaskApp
    errors: list[Exception] = field(default_factory=list)  # what `elicit` raised in tools


def build() -> Built:
    """A fresh app per test: one tool per way of asking."""
    app = TaskApp("input", version="1.0.0")
    built = Built(app)

    @app.task_tool(mode="optional")
    async def survey(ctx: TaskContext) -> str:
        """Three questions in turn."""
        name = await ctx.elicit("name?", Name)
        age = await ctx.elicit("age?", Age)
        ok = await ctx.elicit("sure?", Confirm)
        assert name.data is not None
        assert age.data is not None
        assert ok.data is not None
        return f"{name.data.name} {age.data.age} {ok.data.ok}"

    @app.task_tool(mode="optional")
    async def label(ctx: TaskContext, who: str) -> str:
        """One question naming `who`."""
        answer = await ctx.elicit(f"question for {who}", Name)
        assert answer.data is not None
        return f"{who}:{answer.data.name}"

    @app.task_tool(mode="optional")
    async def both(ctx: TaskContext) -> str:
        """Two questions at once, in one task."""
        answers: dict[str, str] = {}

        async def ask(who: str) -> None:
            answer = await ctx.elicit(f"question for {who}", Name)
            assert answer.data is not None
            answers[who] = answer.data.name

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, "A")
            tg.start_soon(ask, "B")
        return f"A:{answers['A']} B:{answers['B']}"

    @app.task_tool(mode="optional")
    async def bad_form(ctx: TaskContext, kind: str) -> str:
        """Asks with a model elicitation cannot carry."""
        await ctx.elicit("fill", BAD_MODELS[kind])
        return "asked"

    @app.task_tool(mode="optional")
    async def form(ctx: TaskContext) -> str:
        """Asks for every kind of field; returns the answer as JSON."""
        answer = await ctx.elicit("fill the form", Form)
        assert answer.data is not None
        return answer.data.model_dump_json()

    @app.task_tool(mode="optional")
    async def maybe(ctx: TaskContext) -> str:
        """An optional field whose default is None."""
        answer = await ctx.elicit("nickname?", Maybe)
        return answer.action

    @app.task_tool(mode="optional")
    async def age(ctx: TaskContext) -> str:
        """Records what elicit raised, then lets it end the tool."""
        try:
            answer = await ctx.elicit("age?", Age)
        except Exception as exc:
            built.errors.append(exc)
            raise
        assert answer.data is not None
        return f"age {answer.data.age}"

    @app.task_tool(mode="optional")
    async def visit(ctx: TaskContext) -> str:
        """URL-mode elicitation."""
        answer = await ctx.elicit_url("Sign in, please", "https://example.com/login")
        return f"url {answer.action}"

    @app.task_tool(mode="optional")
    async def ask_model(ctx: TaskContext) -> str:
        """Samples with every parameter; returns the SampleResult as JSON."""
        reply = await ctx.sample(
            [
                {"role": "assistant", "content": {"type": "text", "text": "Hi."}},
                {"role": "user", "content": {"type": "text", "text": "Tell a joke."}},
            ],
            max_tokens=50,
            system_prompt="Be brief.",
            temperature=0.5,
            stop_sequences=["END"],
            model_preferences={"hints": [{"name": "claude"}], "speedPriority": 0.8},
        )
        return json.dumps(
            {
                "text": reply.text,
                "model": reply.model,
                "stop_reason": reply.stop_reason,
                "role": reply.role,
                "content": reply.content,
            }
        )

    return built


# -- helpers -------------------------------------------------------------------------


@dataclass
class Statuses:
    """A status_handler that keeps every notifications/tasks/status, in order."""

    seen: list[Task] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)

    async def __call__(self, task: Task) -> None:
        self.seen.append(task)
        self.changed.set()
        self.changed = anyio.Event()

    def of(self, task_id: str) -> list[tuple[str, str | None]]:
        return [(t.status, t.status_message) for t in self.seen if t.task_id == task_id]

    async def wait_for(self, task_id: str, status: str) -> None:
        with anyio.fail_after(TIMEOUT):
            while status not in [s for s, _ in self.of(task_id)]:
                await self.changed.wait()


def answering(*answers: dict[str, Any]) -> tuple[Handler, list[dict[str, Any]]]:
    """A handler that gives `answers` in turn and records the params it was sent."""
    calls: list[dict[str, Any]] = []

    async def handler(params: dict[str, Any]) -> dict[str, Any]:
        calls.append(params)
        await anyio.lowlevel.checkpoint()
        return answers[min(len(calls), len(answers)) - 1]

    return handler, calls


def accept(**content: Any) -> dict[str, Any]:
    return {"action": "accept", "content": content}


def related(task_id: str) -> dict[str, Any]:
    return {RELATED_TASK: {"taskId": task_id}}


SAMPLE_REPLY = {
    "role": "assistant",
    "content": {"type": "text", "text": "A pun."},
    "model": "test-model",
    "stopReason": "endTurn",
}


async def run_task(client: Client, name: str, arguments: dict[str, Any] | None = None) -> Any:
    """Call `name` as a task; return (task_id, result, final task)."""
    with anyio.fail_after(TIMEOUT):
        created = await client.call_tool_as_task(name, arguments)
        task_id = created.task.task_id
        result = await client.get_task_result(task_id)
        final = await client.get_task(task_id)
    return task_id, result, final


async def wait_request(conn: RawConnection, count: int = 1, within: float = 5) -> dict[str, Any]:
    """The server's `count`-th request to us."""
    await conn.wait_for(lambda: len(conn.requests) >= count, within)
    return conn.requests[count - 1]


async def wait_raw_status(conn: RawConnection, task_id: str, status: str) -> None:
    await conn.wait_for(
        lambda: any(
            n["taskId"] == task_id and n["status"] == status
            for n in conn.notes("notifications/tasks/status")
        )
    )


async def raw_task(conn: RawConnection, name: str, arguments: dict[str, Any]) -> str:
    created = await conn.result("tools/call", {"name": name, "arguments": arguments, "task": {}})
    task_id: str = created["task"]["taskId"]
    return task_id


# -- elicitation inline and inside a task ---------------------------------------------


async def test_inline_elicitation() -> None:
    """An optional tool called without a task asks the client directly: no related-task."""
    handler, calls = answering(accept(name="Ada"))
    async with LegacyClient(approval, elicitation_handler=handler) as client:
        with anyio.fail_after(TIMEOUT):
            result = await client.call_tool("ask_name", {"prompt": "Who are you?"})
    assert (result.is_error, result.text) == (False, "Hello, Ada!")
    assert calls == [
        {
            "mode": "form",
            "message": "Who are you?",
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "title": "Name", "description": "Your name"}
                },
                "required": ["name"],
            },
        }
    ]


async def test_elicitation_inside_a_task_status_path() -> None:
    """S-15, S-16, S-18: working → input_required → working → completed, request with _meta."""
    statuses = Statuses()
    handler, calls = answering(accept(approve=True, note=""))
    async with LegacyClient(
        approval, elicitation_handler=handler, status_handler=statuses
    ) as client:
        task_id, result, final = await run_task(client, "deploy", {"service": "s", "version": "1"})
        await statuses.wait_for(task_id, "completed")
    assert (result.is_error, result.text) == (False, "Deployed s 1.")
    assert result.meta == related(task_id)
    assert final.status == "completed"
    assert statuses.of(task_id) == [
        ("working", "checking s 1"),
        ("input_required", "checking s 1"),
        ("working", "checking s 1"),
        ("working", "deploying s 1"),
        ("completed", None),
    ]
    assert len(calls) == 1
    assert calls[0]["message"] == "Deploy s 1 to production?"
    assert calls[0]["_meta"] == related(task_id)


async def test_elicitation_request_on_the_wire() -> None:
    """S-16, S-31: the exact elicitation/create a task sends, answered by hand."""
    init = {**INIT_PARAMS, "capabilities": {"elicitation": {}}}
    async with raw_connection(build().app, initialize=init) as conn:
        task_id = await raw_task(conn, "label", {"who": "Zed"})
        await conn.send({"jsonrpc": "2.0", "id": 1, "method": "tasks/result",
                         "params": {"taskId": task_id}})  # fmt: skip
        request = await wait_request(conn)
        assert request["method"] == "elicitation/create"
        assert request["params"] == {
            "mode": "form",
            "message": "question for Zed",
            "requestedSchema": {
                "type": "object",
                "properties": {"name": {"type": "string", "title": "Name"}},
                "required": ["name"],
            },
            "_meta": related(task_id),
        }
        schema_errors("ElicitRequestParams", request["params"], expect_none=True)
        await conn.send({"jsonrpc": "2.0", "id": request["id"], "result": accept(name="Z")})
        response = await conn.response(1)
        statuses = [n["status"] for n in conn.notes("notifications/tasks/status")]
    assert response["result"] == {
        "content": [{"type": "text", "text": "Zed:Z"}],
        "_meta": related(task_id),
    }
    assert statuses == ["input_required", "working", "completed"]


async def test_several_questions_in_turn() -> None:
    """A task may need input again after it went back to working (S-15, S-18 each time)."""
    statuses = Statuses()
    handler, calls = answering(accept(name="Bo"), accept(age=7), accept(ok=True))
    async with LegacyClient(
        build().app, elicitation_handler=handler, status_handler=statuses
    ) as client:
        task_id, result, final = await run_task(client, "survey")
        await statuses.wait_for(task_id, "completed")
    assert (result.is_error, result.text) == (False, "Bo 7 True")
    assert final.status == "completed"
    assert [c["message"] for c in calls] == ["name?", "age?", "sure?"]
    assert all(c["_meta"] == related(task_id) for c in calls)
    assert [s for s, _ in statuses.of(task_id)] == [
        *["input_required", "working"] * 3,
        "completed",
    ]


async def test_two_questions_at_once_in_one_task() -> None:
    """Both are delivered before either is answered; the task is back to working only after both."""
    statuses = Statuses()
    both_asked = anyio.Event()
    b_answered = anyio.Event()
    asked: list[str] = []
    states_when_answering: list[str] = []

    async def handler(params: dict[str, Any]) -> dict[str, Any]:
        who = params["message"].removeprefix("question for ")
        asked.append(who)
        if len(asked) == 2:
            both_asked.set()
        await both_asked.wait()
        if who == "A":
            await b_answered.wait()  # answer B first, then A
            states_when_answering.append(statuses.of(task_id)[-1][0])
        else:
            b_answered.set()
        return accept(name=f"name-{who}")

    async with LegacyClient(
        build().app, elicitation_handler=handler, status_handler=statuses
    ) as client:
        with anyio.fail_after(TIMEOUT):
            created = await client.call_tool_as_task("both")
            task_id = created.task.task_id
            result = await client.get_task_result(task_id)
        await statuses.wait_for(task_id, "completed")
    assert result.text == "A:name-A B:name-B"
    assert sorted(asked) == ["A", "B"]
    assert states_when_answering == ["input_required"]  # B's answer alone is not enough
    assert [s for s, _ in statuses.of(task_id)][-2:] == ["working", "completed"]
    assert "working" not in [s for s, _ in statuses.of(task_id)][:-2]


async def test_two_tasks_waiting_at_once_get_their_own_answers() -> None:
    """Answers never cross: each question carries its task (S-31), each result is its own."""
    asked: dict[str, str] = {}  # related taskId -> who
    both_asked = anyio.Event()
    b_answered = anyio.Event()

    async def handler(params: dict[str, Any]) -> dict[str, Any]:
        who = params["message"].removeprefix("question for ")
        asked[params["_meta"][RELATED_TASK]["taskId"]] = who
        if len(asked) == 2:
            both_asked.set()
        await both_asked.wait()
        if who == "A":
            await b_answered.wait()
        else:
            b_answered.set()
        return accept(name=f"name-{who}")

    results: dict[str, str] = {}
    async with LegacyClient(build().app, elicitation_handler=handler) as client:

        async def one(who: str, task_id: str) -> None:
            results[who] = (await client.get_task_result(task_id)).text

        with anyio.fail_after(TIMEOUT):
            ids = {
                who: (await client.call_tool_as_task("label", {"who": who})).task.task_id
                for who in ("A", "B")
            }
            async with anyio.create_task_group() as tg:
                for who, task_id in ids.items():
                    tg.start_soon(one, who, task_id)
    assert results == {"A": "A:name-A", "B": "B:name-B"}
    assert asked == {ids["A"]: "A", ids["B"]: "B"}


# -- cancelling while a question waits -------------------------------------------------


async def test_cancel_while_waiting_drops_the_question() -> None:
    """Cancelled in input_required: tasks/result then says cancelled and nothing is ever asked."""
    init = {**INIT_PARAMS, "capabilities": {"elicitation": {}}}
    async with raw_connection(approval, initialize=init) as conn:
        task_id = await raw_task(conn, "ask_name", {})
        await wait_raw_status(conn, task_id, "input_required")
        cancelled = await conn.result("tasks/cancel", {"taskId": task_id})
        assert cancelled["status"] == "cancelled"
        result = await conn.result("tasks/result", {"taskId": task_id})
        await anyio.sleep(0.05)
        await conn.result("ping")
        assert conn.requests == []
        final = await conn.result("tasks/get", {"taskId": task_id})
    assert result == {
        "content": [{"type": "text", "text": CANCELLED_TEXT}],
        "isError": True,
        "_meta": related(task_id),
    }
    assert final["status"] == "cancelled"


async def test_cancel_after_delivery_withdraws_the_question() -> None:
    """Cancelled while the client holds the question: it is withdrawn, a late answer ignored."""
    init = {**INIT_PARAMS, "capabilities": {"elicitation": {}}}
    async with raw_connection(approval, initialize=init) as conn:
        task_id = await raw_task(conn, "ask_name", {})
        await conn.send({"jsonrpc": "2.0", "id": 1, "method": "tasks/result",
                         "params": {"taskId": task_id}})  # fmt: skip
        request = await wait_request(conn)
        assert request["params"]["_meta"] == related(task_id)
        cancelled = await conn.result("tasks/cancel", {"taskId": task_id})
        assert cancelled["status"] == "cancelled"
        response = await conn.response(1)
        await conn.wait_for(lambda: conn.notes("notifications/cancelled"))
        assert conn.notes("notifications/cancelled") == [{"requestId": request["id"]}]
        await conn.send({"jsonrpc": "2.0", "id": request["id"], "result": accept(name="late")})
        await conn.result("ping")
        final = await conn.result("tasks/get", {"taskId": task_id})
    assert response["result"]["content"] == [{"type": "text", "text": CANCELLED_TEXT}]
    assert response["result"]["isError"] is True
    assert final["status"] == "cancelled"
    assert len(conn.requests) == 1


async def test_a_question_withdrawn_from_one_waiter_goes_to_the_other() -> None:
    """Two tasks/result wait; the one holding the question is cancelled: the other asks again.

    Otherwise the task would sit in input_required with a requestor blocked on its result.
    """
    init = {**INIT_PARAMS, "capabilities": {"elicitation": {}}}
    async with raw_connection(approval, initialize=init) as conn:
        task_id = await raw_task(conn, "ask_name", {})
        result_params = {"taskId": task_id}
        await conn.send({"jsonrpc": "2.0", "id": 1, "method": "tasks/result",
                         "params": result_params})  # fmt: skip
        first = await wait_request(conn)  # delivered by tasks/result 1
        await conn.send({"jsonrpc": "2.0", "id": 2, "method": "tasks/result",
                         "params": result_params})  # fmt: skip
        await conn.result("ping")  # tasks/result 2 is waiting now
        await conn.send(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
        )
        await conn.wait_for(lambda: conn.notes("notifications/cancelled"))
        assert conn.notes("notifications/cancelled") == [{"requestId": first["id"]}]
        again = await wait_request(conn, 2, within=1)
        assert again["params"] == first["params"]
        await conn.send({"jsonrpc": "2.0", "id": again["id"], "result": accept(name="Two")})
        response = await conn.response(2)
    assert response["result"]["content"] == [{"type": "text", "text": "Hello, Two!"}]
    assert 1 not in conn.responses  # a cancelled request gets no answer


async def test_expiry_while_waiting_for_input() -> None:
    """The TTL elapses in input_required: tasks/result → -32602 expired, the question withdrawn."""
    init = {**INIT_PARAMS, "capabilities": {"elicitation": {}}}
    async with raw_connection(approval, initialize=init) as conn:
        created = await conn.result(
            "tools/call", {"name": "ask_name", "arguments": {}, "task": {"ttl": 200}}
        )
        task_id = created["task"]["taskId"]
        await conn.send({"jsonrpc": "2.0", "id": 1, "method": "tasks/result",
                         "params": {"taskId": task_id}})  # fmt: skip
        request = await wait_request(conn)
        response = await conn.response(1)
        await conn.wait_for(lambda: conn.notes("notifications/cancelled"))
        withdrawn = conn.notes("notifications/cancelled")
        await conn.send({"jsonrpc": "2.0", "id": request["id"], "result": accept(name="late")})
        gone = await conn.error("tasks/get", {"taskId": task_id})
    assert response["error"] == {
        "code": -32602,
        "message": f"Failed to retrieve task: Task has expired ({task_id})",
    }
    assert withdrawn == [{"requestId": request["id"]}]
    assert gone["code"] == -32602


# -- capabilities ---------------------------------------------------------------------


async def test_no_elicitation_capability_inline_is_a_tool_error() -> None:
    async with LegacyClient(approval) as client:
        with anyio.fail_after(TIMEOUT):
            result = await client.call_tool("ask_name")
    assert result.is_error is True
    assert "did not declare the 'elicitation' capability" in result.text


async def test_no_elicitation_capability_in_a_task_fails_it_without_waiting() -> None:
    """No input_required at all: the task fails at once and names the capability."""
    statuses = Statuses()
    async with LegacyClient(approval, status_handler=statuses) as client:
        task_id, result, final = await run_task(client, "ask_name")
        await statuses.wait_for(task_id, "failed")
    assert result.is_error is True
    assert "did not declare the 'elicitation' capability" in result.text
    assert final.status == "failed"
    assert final.status_message is not None
    assert "'elicitation'" in final.status_message
    assert [s for s, _ in statuses.of(task_id)] == ["failed"]


async def test_no_sampling_capability_is_a_tool_error() -> None:
    async with LegacyClient(build().app) as client:
        with anyio.fail_after(TIMEOUT):
            inline = await client.call_tool("ask_model")
        _, result, final = await run_task(client, "ask_model")
    for got in (inline, result):
        assert got.is_error is True
        assert "did not declare the 'sampling' capability" in got.text
    assert final.status == "failed"


@pytest.mark.parametrize(
    ("capabilities", "tool", "mode"),
    [
        ({"elicitation": {}}, "visit", "url"),
        ({"elicitation": {"form": {}}}, "visit", "url"),
        ({"elicitation": {"url": {}}}, "label", "form"),
    ],
)
async def test_an_undeclared_elicitation_mode_is_a_tool_error(
    capabilities: dict[str, Any], tool: str, mode: str
) -> None:
    """An empty elicitation capability means form only; a declared mode list is exhaustive."""
    init = {**INIT_PARAMS, "capabilities": capabilities}
    async with raw_connection(build().app, initialize=init) as conn:
        result = await conn.result("tools/call", {"name": tool, "arguments": {"who": "x"}})
        assert conn.requests == []
    assert result["isError"] is True
    assert result["content"] == [
        {
            "type": "text",
            "text": f"the client did not declare the 'elicitation' capability for mode "
            f"'{mode}', so this tool cannot ask the user (elicitation/create)",
        }
    ]


# -- what elicitation can carry --------------------------------------------------------


@pytest.mark.parametrize(("kind", "where"), [("nested", "Nested.inner"), ("tags", "Tags.tags")])
async def test_a_model_elicitation_cannot_carry_is_a_tool_error(kind: str, where: str) -> None:
    """ElicitationSchemaError names the field, inline and in a task; nothing is asked."""
    handler, calls = answering(accept())
    async with LegacyClient(build().app, elicitation_handler=handler) as client:
        with anyio.fail_after(TIMEOUT):
            inline = await client.call_tool("bad_form", {"kind": kind})
        _, in_task, final = await run_task(client, "bad_form", {"kind": kind})
    for result in (inline, in_task):
        assert result.is_error is True
        assert result.text.startswith(f"ElicitationSchemaError: {where} cannot be asked for")
    assert final.status == "failed"
    assert calls == []


async def test_elicit_schema_of_every_field_kind() -> None:
    """str, int, float, bool, Literal, Enum, Optional and list[Literal] become flat MCP fields."""
    answer = accept(name="Al", age=3, height=1.5, color="blue", toppings=["egg"])
    handler, calls = answering(answer)
    async with LegacyClient(build().app, elicitation_handler=handler) as client:
        with anyio.fail_after(TIMEOUT):
            result = await client.call_tool("form")
    assert calls[0]["requestedSchema"] == FORM_SCHEMA
    schema_errors("ElicitRequestParams", calls[0], expect_none=True)
    assert json.loads(result.text) == {
        "name": "Al",
        "age": 3,
        "height": 1.5,
        "subscribe": True,
        "size": "m",
        "color": "blue",
        "nickname": "anon",
        "toppings": ["egg"],
    }


async def test_an_optional_field_defaulting_to_none_sends_a_valid_schema() -> None:
    """`str | None = None` must not become `"default": null`: StringSchema.default is a string."""
    handler, calls = answering({"action": "decline"})
    async with LegacyClient(build().app, elicitation_handler=handler) as client:
        with anyio.fail_after(TIMEOUT):
            result = await client.call_tool("maybe")
    assert result.text == "decline"
    assert calls[0]["requestedSchema"] == {
        "type": "object",
        "properties": {"nickname": {"type": "string", "title": "Nickname"}},
    }
    schema_errors("ElicitRequestParams", calls[0], expect_none=True)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"age": "old"}, "age: Input should be a valid integer"),
        ({}, "age: Field required"),
    ],
)
async def test_an_answer_that_does_not_fit_is_a_tool_error(
    content: dict[str, Any], problem: str
) -> None:
    handler, _ = answering({"action": "accept", "content": content})
    built = build()
    async with LegacyClient(built.app, elicitation_handler=handler) as client:
        with anyio.fail_after(TIMEOUT):
            inline = await client.call_tool("age")
        _, in_task, final = await run_task(client, "age")
    for result in (inline, in_task):
        assert result.is_error is True
        assert result.text.startswith(f"the user's answer does not fit Age: {problem}")
    assert final.status == "failed"
    assert [type(e) for e in built.errors] == [ToolError, ToolError]


# -- URL mode --------------------------------------------------------------------------


async def test_url_elicitation_inline() -> None:
    """mode "url" with the url and a fresh elicitationId, to a client that declared url mode."""
    init = {**INIT_PARAMS, "capabilities": {"elicitation": {"url": {}}}}
    async with raw_connection(build().app, initialize=init) as conn:
        await conn.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                         "params": {"name": "visit", "arguments": {}}})  # fmt: skip
        request = await wait_request(conn)
        await conn.send({"jsonrpc": "2.0", "id": request["id"], "result": {"action": "accept"}})
        response = await conn.response(1)
    params = request["params"]
    assert request["method"] == "elicitation/create"
    elicitation_id = params.pop("elicitationId")
    assert isinstance(elicitation_id, str)
    assert len(elicitation_id) >= 16
    assert params == {
        "mode": "url",
        "message": "Sign in, please",
        "url": "https://example.com/login",
    }
    schema_errors(
        "ElicitRequestURLParams", {**params, "elicitationId": elicitation_id}, expect_none=True
    )
    assert response["result"] == {"content": [{"type": "text", "text": "url accept"}]}


# -- sampling --------------------------------------------------------------------------


EXPECTED_SAMPLING = {
    "messages": [
        {"role": "assistant", "content": {"type": "text", "text": "Hi."}},
        {"role": "user", "content": {"type": "text", "text": "Tell a joke."}},
    ],
    "maxTokens": 50,
    "systemPrompt": "Be brief.",
    "temperature": 0.5,
    "stopSequences": ["END"],
    "modelPreferences": {"hints": [{"name": "claude"}], "speedPriority": 0.8},
}
EXPECTED_SAMPLE_RESULT = {
    "text": "A pun.",
    "model": "test-model",
    "stop_reason": "endTurn",
    "role": "assistant",
    "content": {"type": "text", "text": "A pun."},
}


async def test_sampling_params_and_result_inline_and_in_a_task() -> None:
    handler, calls = answering(SAMPLE_REPLY)
    async with LegacyClient(build().app, sampling_handler=handler) as client:
        with anyio.fail_after(TIMEOUT):
            inline = await client.call_tool("ask_model")
        task_id, in_task, final = await run_task(client, "ask_model")
    assert json.loads(inline.text) == EXPECTED_SAMPLE_RESULT
    assert json.loads(in_task.text) == EXPECTED_SAMPLE_RESULT
    assert final.status == "completed"
    assert calls == [EXPECTED_SAMPLING, {**EXPECTED_SAMPLING, "_meta": related(task_id)}]
    for params in calls:
        schema_errors("CreateMessageRequestParams", params, expect_none=True)


async def test_sampling_reply_with_several_blocks_joins_their_text() -> None:
    reply = {
        **SAMPLE_REPLY,
        "content": [{"type": "text", "text": "One, "}, {"type": "text", "text": "two."}],
    }
    handler, _ = answering(reply)
    async with LegacyClient(build().app, sampling_handler=handler) as client:
        with anyio.fail_after(TIMEOUT):
            result = await client.call_tool("ask_model")
    assert json.loads(result.text)["text"] == "One, two."


# -- the client answers with an error --------------------------------------------------


async def test_an_error_answer_is_a_tool_error_in_a_task() -> None:
    """The tool gets a ToolError; the task fails with the client's message (S-46)."""

    async def handler(params: dict[str, Any]) -> dict[str, Any]:
        raise JsonRpcError(-32000, "nope")

    built = build()
    async with LegacyClient(built.app, elicitation_handler=handler) as client:
        _, result, final = await run_task(client, "age")
    assert result.is_error is True
    assert "nope" in result.text
    assert final.status == "failed"
    assert final.status_message is not None
    assert "nope" in final.status_message
    assert [type(e) for e in built.errors] == [ToolError]


async def test_an_error_answer_is_a_tool_error_inline() -> None:
    """Inline, the tool must see the same ToolError as in a task, not the wire's JsonRpcError."""

    async def handler(params: dict[str, Any]) -> dict[str, Any]:
        raise JsonRpcError(-32000, "nope")

    built = build()
    async with LegacyClient(built.app, elicitation_handler=handler) as client:
        with anyio.fail_after(TIMEOUT):
            result = await client.call_tool("age")
    assert result.is_error is True
    assert "nope" in result.text
    assert [type(e) for e in built.errors] == [ToolError]


async def test_an_unknown_action_is_a_tool_error() -> None:
    handler, _ = answering({"action": "maybe"})
    async with LegacyClient(approval, elicitation_handler=handler) as client:
        with anyio.fail_after(TIMEOUT):
            result = await client.call_tool("ask_name")
    assert result.is_error is True
    assert result.text == "the client answered elicitation with an unknown action 'maybe'"


# -- client-hosted tasks (the client declared tasks.requests.*) ------------------------


async def client_records(client: Client) -> list[tuple[str, str]]:
    """(method, status) of every task the client ran for the server."""
    assert client._tasks is not None
    records, _ = await client._tasks.engine.list_tasks(None, None)
    return [(r.tool, r.status.value) for r in records]


@pytest.mark.parametrize(
    ("kinds", "requests"),
    [
        (("elicitation",), {"elicitation": {"create": {}}}),
        (("sampling",), {"sampling": {"createMessage": {}}}),
        (
            ("elicitation", "sampling"),
            {"elicitation": {"create": {}}, "sampling": {"createMessage": {}}},
        ),
    ],
)
async def test_client_declares_task_support_for_its_handlers(
    kinds: tuple[str, ...], requests: dict[str, Any]
) -> None:
    """S-1, S-2: tasks.requests lists exactly the request types the client runs as tasks."""
    handler, _ = answering(accept())
    handlers = {f"{kind}_handler": handler for kind in kinds}
    async with LegacyClient(build().app, task_support=True, **handlers) as client:
        assert client._tasks is not None
        declared = client._tasks.capabilities()
    assert declared == {"list": {}, "cancel": {}, "requests": requests}


@pytest.mark.parametrize("as_task", [False, True])
async def test_client_hosted_elicitation(as_task: bool) -> None:
    """The server sends elicitation/create as a task and takes the answer from tasks/result."""
    handler, calls = answering(accept(name="Tia"))
    async with LegacyClient(approval, elicitation_handler=handler, task_support=True) as client:
        if as_task:
            task_id, result, final = await run_task(client, "ask_name")
            assert final.status == "completed"
        else:
            with anyio.fail_after(TIMEOUT):
                result = await client.call_tool("ask_name")
        hosted = await client_records(client)
    assert (result.is_error, result.text) == (False, "Hello, Tia!")
    assert hosted == [("elicitation/create", "completed")]
    assert len(calls) == 1
    assert "task" not in calls[0]
    assert calls[0]["message"] == "What is your name?"
    if as_task:
        assert calls[0]["_meta"] == related(task_id)


async def test_client_hosted_sampling() -> None:
    handler, calls = answering(SAMPLE_REPLY)
    async with LegacyClient(build().app, sampling_handler=handler, task_support=True) as client:
        task_id, result, final = await run_task(client, "ask_model")
        hosted = await client_records(client)
    assert json.loads(result.text) == EXPECTED_SAMPLE_RESULT
    assert final.status == "completed"
    assert hosted == [("sampling/createMessage", "completed")]
    assert calls == [{**EXPECTED_SAMPLING, "_meta": related(task_id)}]


@pytest.mark.parametrize("task_support", [False, True])
async def test_two_concurrent_task_results_deliver_the_question_once(task_support: bool) -> None:
    """Two tasks/result wait on one task: one delivers the question, both get the result."""
    release = anyio.Event()
    asked = anyio.Event()
    calls: list[dict[str, Any]] = []

    async def handler(params: dict[str, Any]) -> dict[str, Any]:
        calls.append(params)
        asked.set()
        await release.wait()
        return accept(name="Once")

    results: list[str] = []
    async with LegacyClient(
        approval, elicitation_handler=handler, task_support=task_support
    ) as client:
        with anyio.fail_after(TIMEOUT):
            created = await client.call_tool_as_task("ask_name")
            task_id = created.task.task_id

            async def fetch() -> None:
                results.append((await client.get_task_result(task_id)).text)

            async with anyio.create_task_group() as tg:
                tg.start_soon(fetch)
                tg.start_soon(fetch)
                await asked.wait()
                await anyio.sleep(0.05)  # room for a second, wrong delivery
                release.set()
        hosted = await client_records(client) if task_support else []
    assert results == ["Hello, Once!", "Hello, Once!"]
    assert len(calls) == 1
    assert hosted == ([("elicitation/create", "completed")] if task_support else [])


async def test_cancelling_the_server_task_cancels_the_client_hosted_one() -> None:
    """The server's task is cancelled while its client-hosted question runs: so is the client's."""
    started = anyio.Event()

    async def handler(params: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with LegacyClient(approval, elicitation_handler=handler, task_support=True) as client:
        with anyio.fail_after(TIMEOUT):
            created = await client.call_tool_as_task("ask_name")
            task_id = created.task.task_id
            async with anyio.create_task_group() as tg:
                results: list[Any] = []

                async def fetch() -> None:
                    results.append(await client.get_task_result(task_id))

                tg.start_soon(fetch)
                await started.wait()
                await client.cancel_task(task_id)
            # The server cancels the client's task (tasks/cancel) when it stops waiting.
            assert client._tasks is not None
            engine = client._tasks.engine
            (hosted,), _ = await engine.list_tasks(None, None)
            ended = await engine.wait_terminal(hosted.task_id, None)
    assert (ended.tool, ended.status.value) == ("elicitation/create", "cancelled")
    assert results[0].is_error is True
    assert results[0].text == CANCELLED_TEXT
