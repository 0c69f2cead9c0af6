"""The server the official MCP conformance suite (npm `@modelcontextprotocol/conformance`)
runs against: the fixtures its server scenarios name, written as taskapp tools.

Served by tests/test_conformance.py over Streamable HTTP (`taskapp run
tests/conformance/app.py:app --transport http`). The tool names and what each returns come
from the scenarios' "Required server fixtures" (src/scenarios/server/ in the suite).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import anyio
from pydantic import BaseModel, Field

from taskapp import Choices, ProtocolError, TaskApp, TaskContext, ToolError
from taskapp.errors import ClientCapabilityError

app = TaskApp("taskapp-conformance", version="1.0.0")

# A 1x1 PNG and a tiny WAV, as the suite's own reference server sends.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
    "AAAABJRU5ErkJggg=="
)
WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA="


class UserName(BaseModel):
    name: str


class Confirm(BaseModel):
    confirm: bool


class Ok(BaseModel):
    ok: bool


class Color(BaseModel):
    color: str


class Sep1330(BaseModel):
    """The five enum shapes of SEP-1330, as a tool author writes each (the suite names
    the fields in camelCase)."""

    untitledSingle: Literal["option1", "option2", "option3"]
    titledSingle: Annotated[
        str, Choices({"value1": "First Option", "value2": "Second Option", "value3": "Third"})
    ]
    legacyEnum: Annotated[
        Literal["opt1", "opt2", "opt3"],
        Field(json_schema_extra={"enumNames": ["Option One", "Option Two", "Option Three"]}),
    ]
    untitledMulti: list[Literal["option1", "option2", "option3"]]
    titledMulti: Annotated[
        list[str], Choices({"value1": "First Choice", "value2": "Second Choice", "value3": "3"})
    ]


class Response(BaseModel):
    response: str = Field(description="User's response")


class Defaults(BaseModel):
    """SEP-1034: a default for every primitive type."""

    name: str = Field("John Doe", description="User name")
    age: int = Field(30, description="User age")
    score: float = Field(95.5, description="User score")
    status: Literal["active", "inactive", "pending"] = Field("active", description="User status")
    verified: bool = Field(True, description="Verification status")


# -- the tasks extension (SEP-2663): src/scenarios/server/tasks/ -------------------------


@app.tool()
async def greet(name: str = "World") -> str:
    """Never a task: `Hello, {name}!`."""
    return f"Hello, {name}!"


@app.task_tool()
async def slow_compute(seconds: float = 1, label: str = "") -> str:
    """A task that sleeps `seconds` (0: at once) and then answers; cancellable meanwhile."""
    if seconds > 0:
        await anyio.sleep(seconds)
    return f"computed {label} after {seconds:g}s"


@app.task_tool()
async def confirm_delete(ctx: TaskContext, filename: str = "file.txt") -> str:
    """A task that asks one question, then ends."""
    answer = await ctx.elicit(f"Delete {filename}?", Confirm)
    confirmed = answer.action == "accept" and answer.data is not None and answer.data.confirm
    return f"{filename}: {'deleted' if confirmed else 'kept'}"


@app.task_tool()
async def multi_input(ctx: TaskContext) -> str:
    """A task that asks two questions at once, so that two keys are pending together."""
    names: dict[str, str] = {}

    async def ask(which: str) -> None:
        answer = await ctx.elicit(f"{which}: your name?", UserName)
        names[which] = answer.data.name if answer.data else "-"

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, "first")
        tg.start_soon(ask, "second")
    return f"{names['first']} and {names['second']}"


@app.task_tool(mode="required")
async def failing_job() -> str:
    """Only as a task; ends with a tool execution error after about a second."""
    await anyio.sleep(1)
    raise ToolError("failing_job failed, as it always does")


@app.task_tool()
async def protocol_error_job() -> str:
    """A task that fails with a JSON-RPC error."""
    raise ProtocolError(-32603, "protocol_error_job failed with a protocol error")


@app.task_tool(mode="required", inline_for=math.inf)
async def test_tool_with_task(ctx: TaskContext) -> str:
    """tasks-mrtr-composition: an MRTR round for the name, then the rest as a task."""
    answer = await ctx.elicit("What is your name?", UserName)
    await ctx.continue_as_task()
    return f"Hello, {answer.data.name if answer.data else 'stranger'}!"


# -- tools: src/scenarios/server/tools.ts ------------------------------------------------


@app.tool()
async def test_simple_text() -> str:
    """The conformance fixture `test_simple_text`."""
    return "This is a simple text response for testing."


@app.tool()
async def test_image_content() -> dict[str, Any]:
    """The conformance fixture `test_image_content`."""
    return {"content": [{"type": "image", "data": PNG, "mimeType": "image/png"}]}


@app.tool()
async def test_audio_content() -> dict[str, Any]:
    """The conformance fixture `test_audio_content`."""
    return {"content": [{"type": "audio", "data": WAV, "mimeType": "audio/wav"}]}


@app.tool()
async def test_embedded_resource() -> dict[str, Any]:
    """The conformance fixture `test_embedded_resource`."""
    resource = {
        "uri": "test://embedded-resource",
        "mimeType": "text/plain",
        "text": "This is an embedded resource content.",
    }
    return {"content": [{"type": "resource", "resource": resource}]}


@app.tool()
async def test_multiple_content_types() -> dict[str, Any]:
    """The conformance fixture `test_multiple_content_types`."""
    resource = {
        "uri": "test://mixed-content-resource",
        "mimeType": "application/json",
        "text": '{"test":"data","value":123}',
    }
    return {
        "content": [
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": PNG, "mimeType": "image/png"},
            {"type": "resource", "resource": resource},
        ]
    }


@app.tool()
async def test_tool_with_progress(ctx: TaskContext) -> str:
    """The conformance fixture `test_tool_with_progress`."""
    for step in (0, 50, 100):
        await ctx.report_progress(step, total=100, message=f"Completed step {step} of 100")
        if step < 100:
            await anyio.sleep(0.05)
    return "progress reported"


@app.tool()
async def test_tool_with_logging(ctx: TaskContext) -> str:
    """The conformance fixture `test_tool_with_logging`."""
    for message in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        await ctx.log(message, "info")
        await anyio.sleep(0.05)
    return "Tool with logging executed successfully"


@app.tool()
async def test_sampling(ctx: TaskContext, prompt: str) -> str:
    """Asks the client's model (2025-11-25: a request on the call's stream)."""
    reply = await ctx.sample(prompt, max_tokens=100)
    return f"LLM response: {reply.text or 'No response'}"


@app.tool()
async def test_elicitation(ctx: TaskContext, message: str) -> str:
    """Asks the user (2025-11-25: a request on the call's stream)."""
    answer = await ctx.elicit(message, Response)
    content = answer.data.model_dump() if answer.data else {}
    return f"User response: action={answer.action}, content={content}"


@app.tool()
async def test_elicitation_sep1034_defaults(ctx: TaskContext) -> str:
    """SEP-1034: an elicitation whose every field has a default."""
    answer = await ctx.elicit("Please review and update the form fields with defaults", Defaults)
    content = answer.data.model_dump() if answer.data else {}
    return f"Elicitation completed: action={answer.action}, content={content}"


@app.tool()
async def test_error_handling() -> str:
    """The conformance fixture `test_error_handling`."""
    raise ToolError("This tool intentionally returns an error for testing")


# -- input required (SEP-2322 MRTR): src/scenarios/server/input-required-result.ts -------


@app.tool()
async def test_input_required_result_elicitation(ctx: TaskContext) -> str:
    """The conformance fixture `test_input_required_result_elicitation`."""
    answer = await ctx.elicit("What is your name?", UserName)
    return f"Hello, {answer.data.name if answer.data else 'stranger'}!"


@app.tool()
async def test_input_required_result_sampling(ctx: TaskContext) -> str:
    """The conformance fixture `test_input_required_result_sampling`."""
    reply = await ctx.sample("What is the capital of France?", max_tokens=100)
    return f"Sampling result: {reply.text or 'no response'}"


@app.tool()
async def test_elicitation_sep1330_enums(ctx: TaskContext) -> str:
    """The conformance fixture `test_elicitation_sep1330_enums`: every enum shape."""
    answer = await ctx.elicit("Pick your options", Sep1330)
    content = answer.data.model_dump() if answer.data else {}
    return f"Elicitation completed: action={answer.action}, content={content}"


@app.tool()
async def test_mcp_param_header(
    region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
    query: str,
) -> str:
    """http-custom-header-server-validation: `region` is mirrored in Mcp-Param-Region."""
    return f"ran {query!r} in {region}"


@app.tool()
async def test_input_required_result_list_roots(ctx: TaskContext) -> str:
    """The conformance fixture `test_input_required_result_list_roots`."""
    roots = await ctx.list_roots()
    return "Roots: " + ", ".join(f"{r.name or '-'} ({r.uri})" for r in roots)


@app.tool()
async def test_input_required_result_multiple_inputs(ctx: TaskContext) -> str:
    """The conformance fixture `test_input_required_result_multiple_inputs`: three
    questions at once (one round with three inputRequests), as a task group asks them."""
    answers: dict[str, str] = {}

    async def name() -> None:
        answer = await ctx.elicit("What is your name?", UserName)
        answers["name"] = answer.data.name if answer.data else "stranger"

    async def greeting() -> None:
        answers["greeting"] = (await ctx.sample("Generate a greeting", max_tokens=50)).text

    async def roots() -> None:
        answers["roots"] = ", ".join(r.uri for r in await ctx.list_roots())

    async with anyio.create_task_group() as tg:
        for ask in (name, greeting, roots):
            tg.start_soon(ask)
    return f"{answers['greeting']} {answers['name']} (roots: {answers['roots']})"


@app.tool()
async def test_input_required_result_request_state(ctx: TaskContext) -> str:
    """The conformance fixture `test_input_required_result_request_state`."""
    answer = await ctx.elicit("Please confirm", Ok)
    ok = answer.data is not None and answer.data.ok
    return "state-ok: requestState validated" if ok else "state-not-ok"


@app.tool()
async def test_input_required_result_multi_round(ctx: TaskContext) -> str:
    """The conformance fixture `test_input_required_result_multi_round`."""
    name = await ctx.elicit("Step 1: What is your name?", UserName)
    color = await ctx.elicit("Step 2: What is your favorite color?", Color)
    who = name.data.name if name.data else "friend"
    return f"Multi-round complete for {who} who likes {color.data.color if color.data else '?'}"


@app.tool()
async def test_input_required_result_tampered_state(ctx: TaskContext) -> str:
    """The conformance fixture `test_input_required_result_tampered_state`."""
    answer = await ctx.elicit("Please confirm", Ok)
    return "integrity-ok: state verified" if answer.data is not None else "integrity-unknown"


@app.tool()
async def test_input_required_result_capabilities(ctx: TaskContext) -> str:
    """Asks the user if the client can elicit, else its model: never a question the client
    did not declare (SEP-2322)."""
    try:
        answer = await ctx.elicit("What is your name?", UserName)
    except ClientCapabilityError:
        reply = await ctx.sample("Pick a name for the user", max_tokens=20)
        return f"Hello, {reply.text or 'stranger'}!"
    return f"Hello, {answer.data.name if answer.data else 'stranger'}!"


@app.tool()
async def test_streaming_elicitation(ctx: TaskContext) -> str:
    """server-stateless: a question goes back as an InputRequiredResult on the call's own
    response, never as a request of the server's on the stream."""
    await ctx.report_progress(1, total=2)
    answer = await ctx.elicit("What is your name?", UserName)
    return f"Hello, {answer.data.name if answer.data else 'stranger'}!"


@app.tool()
async def test_logging_tool(ctx: TaskContext) -> str:
    """server-stateless: logs, which a request that set no logLevel must not receive."""
    for message in ("first", "second", "third"):
        await ctx.log(message, "info")
    return "logged"


@app.tool()
async def test_missing_capability(ctx: TaskContext) -> str:
    """The conformance fixture `test_missing_capability`."""
    await ctx.sample("Say hello", max_tokens=10)
    return "Success"
