"""Tests for taskapp.signature: schemas, validation, registration errors and outcomes."""

# Every annotation in this module is a string: parse_signature must resolve them.
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional

import anyio
import mcp.types
import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field
from pydantic_core import to_json
from typing_extensions import TypedDict

from taskapp._docstrings import split_docstring
from taskapp.context import TaskContext
from taskapp.errors import RegistrationError
from taskapp.records import ToolOutcome
from taskapp.signature import ArgumentsError, ToolSignature, parse_signature


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Point(BaseModel):
    """A point on the plane."""

    x: int
    y: int = 0


class Node(BaseModel):
    value: int
    children: list[Node] = []


class Movie(TypedDict):
    title: str
    year: int


@dataclasses.dataclass
class Stats:
    count: int
    mean: float


class Opaque:
    """Not a type pydantic can describe."""


def sig(fn: Callable[..., Any], name: str = "t") -> ToolSignature:
    """parse_signature, plus: every schema it makes is a valid draft 2020-12 schema."""
    signature = parse_signature(fn, tool_name=name)
    Draft202012Validator.check_schema(signature.input_schema)
    if signature.output_schema is not None:
        Draft202012Validator.check_schema(signature.output_schema)
        assert signature.output_schema["type"] == "object"
    return signature


def check_output(signature: ToolSignature, outcome: ToolOutcome) -> None:
    assert signature.output_schema is not None
    Draft202012Validator(signature.output_schema).validate(outcome.structured)


# --- input schema -------------------------------------------------------------------


async def slow_add(a: float, b: float, c: TaskContext, steps: int = 5) -> float:
    """Add two numbers, slowly.

    Takes `steps` seconds.

    Args:
        a: The first
            number.
        b (float): The second number.
        c: The context.

    Returns:
        The sum.

    Raises:
        ValueError: Never.
    """
    return a + b


def test_input_schema_of_simple_tool() -> None:
    signature = sig(slow_add, "slow_add")
    assert signature.context_param == "c"
    assert signature.description == "Add two numbers, slowly.\n\nTakes `steps` seconds."
    assert signature.input_schema == {
        "type": "object",
        "properties": {
            "a": {"type": "number", "description": "The first number."},
            "b": {"type": "number", "description": "The second number."},
            "steps": {"type": "integer", "default": 5},
        },
        "required": ["a", "b"],
    }
    Draft202012Validator(signature.input_schema).validate({"a": 1, "b": 2.5})


async def rich(
    mode: Literal["fast", "slow"],
    color: Color,
    point: Point,
    tags: list[str],
    weights: dict[str, float],
    count: Annotated[int, Field(description="How many.", ge=1)] = 3,
    note: str | None = None,
    limit: Optional[int] = None,  # noqa: UP045 - the typing.Optional spelling on purpose
) -> None:
    """Rich parameters.

    Args:
        count: Overridden by Field(description=...).
        point: Where.
    """


def test_input_schema_of_rich_types() -> None:
    schema = sig(rich).input_schema
    props = schema["properties"]
    assert "title" not in schema
    assert schema["required"] == ["mode", "color", "point", "tags", "weights"]
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert props["color"] == {"$ref": "#/$defs/Color"}
    assert schema["$defs"]["Color"]["enum"] == ["red", "green"]
    assert props["point"] == {"$ref": "#/$defs/Point", "description": "Where."}
    assert schema["$defs"]["Point"]["properties"] == {
        "x": {"type": "integer"},
        "y": {"type": "integer", "default": 0},
    }
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["weights"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["count"] == {
        "type": "integer",
        "default": 3,
        "minimum": 1,
        "description": "How many.",
    }
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert props["limit"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    valid = {
        "mode": "fast",
        "color": "red",
        "point": {"x": 1},
        "tags": ["a"],
        "weights": {"w": 0.5},
        "count": 2,
    }
    Draft202012Validator(schema).validate(valid)


async def no_params() -> str:
    return "hi"


def test_no_parameters_and_no_docstring() -> None:
    signature = sig(no_params)
    assert signature.input_schema == {"type": "object", "properties": {}}
    assert signature.description is None
    assert signature.context_param is None
    assert signature.validate_arguments(None) == {}


async def odd_names(json: int, schema: str, model_config: bool, _private: int = 0) -> None:
    """Names that clash with BaseModel attributes still work."""


def test_parameter_names_that_clash_with_basemodel() -> None:
    signature = sig(odd_names)
    assert list(signature.input_schema["properties"]) == [
        "json",
        "schema",
        "model_config",
        "_private",
    ]
    kwargs = signature.validate_arguments({"json": 1, "schema": "s", "model_config": True})
    assert kwargs == {"json": 1, "schema": "s", "model_config": True, "_private": 0}


# --- docstrings ---------------------------------------------------------------------


def test_docstring_sections_are_dropped_and_args_parsed() -> None:
    doc = """Summary line.

    Args:
        a (int): First, with
            a continuation.
        b: Second.

    Note:
        Kept: not a Python-call section.

    Yields:
        Nothing.

    Examples:
        >>> f(1)
    """
    description, args = split_docstring(doc)
    assert description == "Summary line.\n\nNote:\n    Kept: not a Python-call section."
    assert args == {"a": "First, with a continuation.", "b": "Second."}
    assert split_docstring(None) == (None, {})
    assert split_docstring("\n    Args:\n        a: x\n    ") == (None, {"a": "x"})


# --- context detection --------------------------------------------------------------


async def ctx_odd_name(value: int, c: TaskContext) -> None:
    pass


async def ctx_optional(ctx: TaskContext | None = None) -> None:
    pass


async def ctx_typing_optional(ctx: Optional[TaskContext] = None) -> None:  # noqa: UP045
    pass


async def ctx_annotated(ctx: Annotated[TaskContext, "meta"]) -> None:
    pass


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (ctx_odd_name, "c"),
        (ctx_optional, "ctx"),
        (ctx_typing_optional, "ctx"),
        (ctx_annotated, "ctx"),
        (no_params, None),
    ],
)
def test_context_is_found_by_type(fn: Callable[..., Any], name: str | None) -> None:
    signature = sig(fn)
    assert signature.context_param == name
    assert not {"c", "ctx"} & set(signature.input_schema["properties"])
    assert name not in signature.validate_arguments({"value": 1})


# --- validation ---------------------------------------------------------------------


async def typed(n: int, color: Color, point: Point, flag: bool = False) -> None:
    pass


def test_validation_returns_python_values() -> None:
    kwargs = sig(typed).validate_arguments(
        {"n": "3", "color": "green", "point": {"x": "1"}, "unknown": "ignored"}
    )
    assert kwargs == {"n": 3, "color": Color.GREEN, "point": Point(x=1), "flag": False}
    assert isinstance(kwargs["point"], Point)
    assert kwargs["color"] is Color.GREEN


def test_validation_error_names_each_argument() -> None:
    with pytest.raises(ArgumentsError) as info:
        sig(slow_add, "slow_add").validate_arguments({"a": "x"})
    assert str(info.value) == (
        "Invalid arguments for tool 'slow_add': a: Input should be a valid number, "
        "unable to parse string as a number (got 'x'); b: Field required"
    )
    assert isinstance(info.value, ValueError)
    assert [e["loc"] for e in info.value.errors] == [("a",), ("b",)]


def test_validation_error_locates_nested_values() -> None:
    with pytest.raises(ArgumentsError, match=r"point\.x: Input should be a valid integer"):
        sig(typed).validate_arguments({"n": 1, "color": "red", "point": {"x": "no"}})
    with pytest.raises(ArgumentsError, match=r"tags\[1\]: Input should be a valid string"):
        sig(rich).validate_arguments({"tags": ["a", 2]})


def test_none_arguments_mean_no_arguments() -> None:
    with pytest.raises(ArgumentsError, match="n: Field required"):
        sig(typed).validate_arguments(None)


def test_tool_runs_with_validated_arguments() -> None:
    signature = sig(slow_add)
    kwargs = signature.validate_arguments({"a": 1, "b": "2"})
    value = anyio.run(functools.partial(slow_add, c=None, **kwargs))  # type: ignore[arg-type]
    assert signature.to_outcome(value).structured == {"result": 3.0}


# --- registration errors ------------------------------------------------------------


def sync_tool(a: int) -> int:
    return a


async def star_args(*args: int) -> None:
    pass


async def star_kwargs(**kwargs: int) -> None:
    pass


async def positional_only(a: int, /) -> None:
    pass


async def unannotated(a) -> None:  # type: ignore[no-untyped-def]
    pass


async def opaque_param(a: int, thing: Opaque) -> None:
    pass


async def callable_param(f: Callable[[int], int]) -> None:
    pass


async def opaque_return() -> Opaque:
    return Opaque()


async def two_contexts(a: TaskContext, b: TaskContext | None) -> None:
    pass


async def unresolved(a: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
    pass


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (sync_tool, r"make it `async def`"),
        (star_args, r"`\*args` and `\*\*kwargs` are not supported; declare each argument"),
        (star_kwargs, r"`\*args` and `\*\*kwargs` are not supported"),
        (positional_only, r"parameter 'a' is positional-only; remove the `/`"),
        (unannotated, r"parameter 'a' has no type annotation; annotate it \(e\.g\. `a: str`\)"),
        (opaque_param, r"parameter 'thing' is annotated Opaque, which cannot become a JSON schema"),
        (callable_param, r"parameter 'f' is annotated .*Callable\[\[int\], int\], which cannot"),
        (opaque_return, r"return annotation Opaque cannot become a JSON schema.*Return str"),
        (two_contexts, r"parameters 'a', 'b' are all annotated TaskContext; keep only one"),
        (unresolved, r"cannot resolve its annotations .*NotDefinedAnywhere.*import every type"),
    ],
)
def test_registration_errors_say_how_to_fix(fn: Callable[..., Any], message: str) -> None:
    with pytest.raises(RegistrationError, match=message) as info:
        parse_signature(fn, tool_name="bad")
    assert str(info.value).startswith("Tool 'bad' (")


# --- outputs ------------------------------------------------------------------------


async def returns_str() -> str:
    return ""


async def returns_any() -> Any:
    return None


async def returns_none() -> None:
    pass


async def returns_nothing():  # type: ignore[no-untyped-def]
    pass


@pytest.mark.parametrize("fn", [returns_str, returns_any, returns_none, returns_nothing])
def test_text_results(fn: Callable[..., Any]) -> None:
    signature = sig(fn)
    assert signature.output_schema is None
    assert signature.to_outcome("hi") == ToolOutcome(content=[{"type": "text", "text": "hi"}])
    assert signature.to_outcome(None) == ToolOutcome(content=[])
    assert signature.to_outcome({"a": [1, 2]}) == ToolOutcome(
        content=[{"type": "text", "text": '{"a":[1,2]}'}]
    )


async def returns_point() -> Point:
    return Point(x=1)


async def returns_movie() -> Movie:
    return {"title": "Up", "year": 2009}


async def returns_stats() -> Stats:
    return Stats(1, 2.0)


async def returns_mapping() -> dict[str, int]:
    return {}


def test_model_result_is_structured() -> None:
    signature = sig(returns_point)
    assert signature.output_schema == {
        "type": "object",
        "description": "A point on the plane.",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}},
        "required": ["x"],
    }
    outcome = signature.to_outcome(Point(x=1, y=2))
    assert outcome == ToolOutcome(
        content=[{"type": "text", "text": '{"x":1,"y":2}'}], structured={"x": 1, "y": 2}
    )
    check_output(signature, outcome)
    # A dict for a model annotation is validated into the model first.
    assert signature.to_outcome({"x": "3"}).structured == {"x": 3, "y": 0}


@pytest.mark.parametrize(
    ("fn", "value", "structured"),
    [
        (returns_movie, {"title": "Up", "year": 2009}, {"title": "Up", "year": 2009}),
        (returns_stats, Stats(2, 1.5), {"count": 2, "mean": 1.5}),
        (returns_mapping, {"a": 1}, {"a": 1}),
    ],
)
def test_object_results_are_structured(fn: Callable[..., Any], value: Any, structured: Any) -> None:
    signature = sig(fn)
    assert signature.output_schema is not None
    assert "title" not in signature.output_schema
    outcome = signature.to_outcome(value)
    assert outcome.structured == structured
    assert outcome.content == [{"type": "text", "text": to_json(structured).decode()}]
    check_output(signature, outcome)


async def returns_tree() -> Node:
    return Node(value=1)


def test_recursive_model_result_is_structured_not_wrapped() -> None:
    signature = sig(returns_tree)
    assert signature.output_schema is not None
    assert signature.output_schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert set(signature.output_schema["$defs"]) == {"Node"}
    outcome = signature.to_outcome(Node(value=1, children=[Node(value=2)]))
    assert outcome.structured == {"value": 1, "children": [{"value": 2, "children": []}]}
    check_output(signature, outcome)


def test_output_schemas_of_typed_dict_dataclass_and_dict() -> None:
    assert sig(returns_movie).output_schema == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["title", "year"],
    }
    assert sig(returns_stats).output_schema == {
        "type": "object",
        "properties": {"count": {"type": "integer"}, "mean": {"type": "number"}},
        "required": ["count", "mean"],
    }
    assert sig(returns_mapping).output_schema == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }


async def returns_int() -> int:
    return 5


async def returns_list() -> list[Point]:
    return []


async def returns_literal() -> Literal["yes", "no"]:
    return "yes"


async def returns_enum() -> Color:
    return Color.RED


async def returns_optional() -> int | None:
    return None


async def returns_datetime() -> dt.datetime:
    return dt.datetime(2025, 1, 2, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("fn", "value", "result", "text"),
    [
        (returns_int, 5, 5, "5"),
        (returns_list, [Point(x=1)], [{"x": 1, "y": 0}], '[{"x":1,"y":0}]'),
        (returns_literal, "no", "no", '"no"'),
        (returns_enum, Color.GREEN, "green", '"green"'),
        (returns_optional, None, None, "null"),
        (
            returns_datetime,
            dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
            "2025-01-02T00:00:00Z",
            '"2025-01-02T00:00:00Z"',
        ),
    ],
)
def test_scalar_and_list_results_are_wrapped(
    fn: Callable[..., Any], value: Any, result: Any, text: str
) -> None:
    signature = sig(fn)
    outcome = signature.to_outcome(value)
    assert outcome == ToolOutcome(
        content=[{"type": "text", "text": text}], structured={"result": result}
    )
    check_output(signature, outcome)


def test_wrapped_output_schemas() -> None:
    assert sig(returns_int).output_schema == {
        "type": "object",
        "properties": {"result": {"type": "integer"}},
        "required": ["result"],
        "x-fastmcp-wrap-result": True,  # FastMCP's client unwraps the value then
    }
    schema = sig(returns_list).output_schema
    assert schema is not None
    assert schema["properties"]["result"] == {"type": "array", "items": {"$ref": "#/$defs/Point"}}
    assert set(schema["$defs"]) == {"Point"}
    assert sig(returns_optional).output_schema == {
        "type": "object",
        "properties": {"result": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
        "required": ["result"],
        "x-fastmcp-wrap-result": True,
    }


def test_wrong_result_type_raises() -> None:
    with pytest.raises(TypeError, match="returned a str that does not match its return"):
        sig(returns_point).to_outcome("nope")


# --- CallToolResult-like results ----------------------------------------------------


async def returns_outcome() -> ToolOutcome:
    return ToolOutcome(content=[])


async def returns_call_tool_result() -> mcp.types.CallToolResult:
    return mcp.types.CallToolResult(content=[])


def test_call_result_annotations_have_no_output_schema() -> None:
    assert sig(returns_outcome).output_schema is None
    assert sig(returns_call_tool_result).output_schema is None


@pytest.mark.parametrize("fn", [returns_outcome, returns_point, returns_mapping, returns_str])
def test_call_results_pass_through_whatever_the_annotation(fn: Callable[..., Any]) -> None:
    signature = sig(fn)
    outcome = ToolOutcome(content=[{"type": "text", "text": "x"}], is_error=True)
    assert signature.to_outcome(outcome) is outcome
    as_dict = {
        "content": [{"type": "text", "text": "x"}],
        "structuredContent": {"k": 1},
        "isError": True,
        "_meta": {"m": 1},
    }
    assert signature.to_outcome(as_dict) == ToolOutcome(
        content=[{"type": "text", "text": "x"}], structured={"k": 1}, is_error=True, meta={"m": 1}
    )
    model = mcp.types.CallToolResult(
        content=[mcp.types.TextContent(type="text", text="y")],
        structuredContent={"k": 2},
        _meta={"m": 2},
    )
    assert signature.to_outcome(model) == ToolOutcome(
        content=[{"type": "text", "text": "y"}], structured={"k": 2}, meta={"m": 2}
    )


def test_dicts_that_only_look_like_results_are_data() -> None:
    # An extra key, or content that is not a list of typed blocks: plain data.
    outcome = sig(returns_mapping).to_outcome({"content": 1, "other": 2})
    assert outcome.structured == {"content": 1, "other": 2}
    text = sig(returns_any).to_outcome({"content": [1, 2]})
    assert text.content == [{"type": "text", "text": '{"content":[1,2]}'}]


# --- annotations given as strings ---------------------------------------------------


async def quoted(a: "list[Point]", ctx: "TaskContext") -> "Point":  # noqa: UP037
    return a[0]


def test_string_annotations_are_resolved() -> None:
    signature = sig(quoted)
    assert signature.context_param == "ctx"
    assert signature.input_schema["properties"]["a"] == {
        "type": "array",
        "items": {"$ref": "#/$defs/Point"},
    }
    assert signature.validate_arguments({"a": [{"x": 1}]}) == {"a": [Point(x=1)]}
    assert signature.output_schema is not None
