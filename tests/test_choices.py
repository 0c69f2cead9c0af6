"""`taskapp.Choices`: choices shown with titles (SEP-1330), in elicitation forms and in
tool parameters; the values are validated, and `taskapp call` shows the titles."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from taskapp import Choices, Client, TaskApp, TaskContext
from taskapp._input import elicit_schema
from taskapp.cli.prompt import field_prompt, parse_answer

from .protocol_app import schema_errors

pytestmark = pytest.mark.anyio

Region = Annotated[str, Choices({"eu": "Europe", "us": "United States"})]
Sizes = Annotated[list[str], Choices({"s": "Small", "m": "Medium", "l": "Large"})]


class Order(BaseModel):
    region: Region
    sizes: Sizes = []


app = TaskApp("choices")


@app.tool()
async def order(ctx: TaskContext) -> str:
    """Ask for an order's region and sizes."""
    answer = await ctx.elicit("Your order?", Order)
    return "declined" if answer.data is None else f"{answer.data.region} {answer.data.sizes}"


@app.tool()
async def ship(region: Region) -> str:
    """Ship to a region."""
    return f"shipping to {region}"


EXPECTED = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "title": "Region", "oneOf": [
            {"const": "eu", "title": "Europe"}, {"const": "us", "title": "United States"}]},
        "sizes": {"type": "array", "title": "Sizes", "default": [], "items": {"anyOf": [
            {"const": "s", "title": "Small"}, {"const": "m", "title": "Medium"},
            {"const": "l", "title": "Large"}]}},
    },
    "required": ["region"],
}  # fmt: skip


def test_the_form_carries_titled_single_and_multi_selects() -> None:
    schema = elicit_schema(Order)
    assert schema == EXPECTED
    params = {"mode": "form", "message": "m", "requestedSchema": schema}
    schema_errors("ElicitRequestParams", params, expect_none=True)  # the 2025-11-25 schema


def answering(content: dict[str, Any]) -> Any:
    async def handler(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": content}

    return handler


@pytest.mark.parametrize("dialect", ["2025-11-25", "2026-07-28"])
async def test_an_answer_among_the_choices_is_taken_and_another_is_refused(dialect: str) -> None:
    good = answering({"region": "us", "sizes": ["s", "l"]})
    async with Client(app, dialect=dialect, elicitation_handler=good) as client:  # type: ignore[arg-type]
        assert (await client.call_tool("order")).text == "us ['s', 'l']"
    bad = answering({"region": "mars"})
    async with Client(app, dialect=dialect, elicitation_handler=bad) as client:  # type: ignore[arg-type]
        result = await client.call_tool("order")
    assert result.is_error
    assert (
        result.text == "the user's answer does not fit Order: region: 'mars' is not one of eu, us"
    )


async def test_a_tool_parameter_with_choices_is_validated_and_described() -> None:
    async with Client(app) as client:
        [listed] = [tool for tool in await client.list_tools() if tool.name == "ship"]
        assert listed.input_schema["properties"]["region"]["oneOf"][0] == {
            "const": "eu", "title": "Europe"}  # fmt: skip
        assert (await client.call_tool("ship", {"region": "eu"})).text == "shipping to eu"
        refused = await client.call_tool("ship", {"region": "mars"})
    assert refused.is_error
    assert refused.text.startswith(
        "Invalid arguments for tool 'ship': region: 'mars' is not one of"
    )


def test_taskapp_call_shows_the_titles_and_takes_a_value_or_its_number() -> None:
    region, sizes = EXPECTED["properties"]["region"], EXPECTED["properties"]["sizes"]  # type: ignore[index]
    assert field_prompt("region", region, True) == (
        "  region - Region [eu (Europe)/us (United States)]: "
    )
    assert parse_answer("us", region) == "us"
    assert parse_answer("1", region) == "eu"
    assert parse_answer("s, 3", sizes) == ["s", "l"]
    with pytest.raises(ValueError, match="choose one of: eu, us"):
        parse_answer("mars", region)


def test_a_malformed_choice_list_from_a_server_does_not_crash_the_prompt() -> None:
    """Another server's schema: options that are not objects, or whose const is not a
    plain value, are shown as they are (or not at all), never a traceback."""
    odd = {"type": "string", "oneOf": [{"const": "a", "title": "A"}, {"const": {"k": 1}}]}
    assert field_prompt("x", odd, True) == "  x [a (A)/{'k': 1}]: "
    junk = {"type": "string", "oneOf": [{"const": ["a"], "title": "A"}, "junk"]}
    assert field_prompt("x", junk, True) == "  x: "
