"""Turn an async function into a ToolSignature: argument validation, JSON Schemas, results."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import NoneType, UnionType
from typing import Annotated, Any, Union, cast, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, PydanticUserError, TypeAdapter, create_model
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticSerializationError, ValidationError, to_json

from ._docstrings import split_docstring
from .context import TaskContext
from .errors import RegistrationError
from .records import ToolOutcome

# Unknown arguments are ignored, as the official MCP SDK does: a client that sends one
# more hint than the tool takes should still get its call through.
_ARGUMENTS_CONFIG = ConfigDict(extra="ignore")
_CALL_RESULT_KEYS = frozenset({"content", "structuredContent", "isError", "_meta"})


class _NoFieldTitles(GenerateJsonSchema):
    """Leaves out the titles pydantic derives from field names: noise for a model reading them."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


class ArgumentsError(ValueError):
    """The arguments of a `tools/call` do not fit the tool's parameters.

    The message names each bad argument and is meant for the client (often a model);
    `errors` keeps pydantic's error dicts for programs.
    """

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ToolSignature:
    """What the hot path needs to call a tool, built once by `parse_signature`.

    Attributes:
        context_param: Name of the parameter annotated `TaskContext`, if any; not in the schema.
        input_schema: JSON Schema (type object) of the arguments.
        output_schema: JSON Schema of `structuredContent`, or None for text results.
        description: The docstring without its Args/Returns/Raises/Yields/Examples sections.
    """

    context_param: str | None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    description: str | None
    tool_name: str = field(kw_only=True)
    _model: type[BaseModel] = field(kw_only=True, repr=False, compare=False)
    _params: tuple[tuple[str, str], ...] = field(kw_only=True, repr=False, compare=False)
    _result: TypeAdapter[Any] | None = field(kw_only=True, repr=False, compare=False)
    _wrap: bool = field(kw_only=True, repr=False, compare=False)

    def validate_arguments(self, arguments: dict[str, Any] | None) -> dict[str, Any]:
        """Validate `tools/call` arguments (None: no arguments) in pydantic's lax mode.

        Returns:
            Python values (models instantiated, enums as members) by parameter name,
            without the context parameter.

        Raises:
            ArgumentsError: An argument is missing or invalid.
        """
        try:
            model = self._model.model_validate(arguments or {})
        except ValidationError as exc:
            message = f"Invalid arguments for tool {self.tool_name!r}: {_describe_errors(exc)}"
            errors = cast("list[dict[str, Any]]", exc.errors(include_url=False))
            raise ArgumentsError(message, errors) from None
        return {param: getattr(model, name) for name, param in self._params}

    def to_outcome(self, value: Any) -> ToolOutcome:
        """Turn what the tool returned into a ToolOutcome, as its return annotation says.

        A ToolOutcome, a CallToolResult-shaped dict or a CallToolResult-like model passes
        through whatever the annotation. Otherwise structured results get a text block with
        the same JSON, as the MCP spec recommends for older clients.

        Raises:
            TypeError: The value does not fit the structured return annotation.
        """
        passthrough = _as_call_result(value)
        if passthrough is not None:
            return passthrough
        if self._result is None:
            if value is None:
                return ToolOutcome(content=[])
            text = value if isinstance(value, str) else to_json(value, fallback=str).decode()
            return ToolOutcome(content=[{"type": "text", "text": text}])
        dumped = self._dump_result(self._result, value)
        block = {"type": "text", "text": to_json(dumped).decode()}
        structured = {"result": dumped} if self._wrap else cast("dict[str, Any]", dumped)
        return ToolOutcome(content=[block], structured=structured)

    def _dump_result(self, adapter: TypeAdapter[Any], value: Any) -> Any:
        try:
            return adapter.dump_python(value, mode="json", warnings="error")
        except PydanticSerializationError:
            pass
        # Not an instance of the annotated type (say, a dict for a model): validate, then dump.
        try:
            return adapter.dump_python(adapter.validate_python(value), mode="json")
        except ValidationError as exc:
            raise TypeError(
                f"Tool {self.tool_name!r} returned a {type(value).__name__} that does not match "
                f"its return annotation: {_describe_errors(exc)}"
            ) from None


def parse_signature(fn: Callable[..., Awaitable[Any]], *, tool_name: str) -> ToolSignature:
    """Read an async function's signature once, at registration.

    Args:
        fn: The tool: an `async def` function with annotated parameters.
        tool_name: The name clients call it by; used in messages.

    Returns:
        The ToolSignature the hot path uses.

    Raises:
        RegistrationError: The function cannot become a tool; the message says how to fix it.
    """
    target = fn.func if isinstance(fn, functools.partial) else fn
    where = f"Tool {tool_name!r} ({getattr(target, '__qualname__', repr(target))})"
    if not inspect.iscoroutinefunction(fn):
        raise RegistrationError(
            f"{where} is not a coroutine function: make it `async def` "
            "(run blocking code with `anyio.to_thread.run_sync`)."
        )
    try:
        hints = get_type_hints(target, include_extras=True)
    except Exception as exc:  # NameError, TypeError, ... from evaluating user annotations
        raise RegistrationError(
            f"{where}: cannot resolve its annotations ({exc}); import every type it uses "
            "at module level, not only under `if TYPE_CHECKING:`."
        ) from exc
    context_param, fields = _split_params(fn, hints, where)
    description, arg_docs = split_docstring(inspect.getdoc(target))
    model, input_schema = _arguments_model(tool_name, fields, arg_docs, where)
    adapter, wrap, output_schema = _result_spec(hints.get("return", Any), where)
    return ToolSignature(
        context_param,
        input_schema,
        output_schema,
        description,
        tool_name=tool_name,
        _model=model,
        _params=tuple((f"p{i}", name) for i, (name, _, _) in enumerate(fields)),
        _result=adapter,
        _wrap=wrap,
    )


def _split_params(
    fn: Callable[..., Any], hints: dict[str, Any], where: str
) -> tuple[str | None, list[tuple[str, Any, Any]]]:
    """The context parameter's name, and (name, annotation, default) for the others."""
    contexts: list[str] = []
    fields: list[tuple[str, Any, Any]] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise RegistrationError(
                f"{where}: `*args` and `**kwargs` are not supported; declare each argument "
                "as a named, annotated parameter."
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise RegistrationError(
                f"{where}: parameter {param.name!r} is positional-only; remove the `/` "
                "so that it can be passed by name."
            )
        if param.name not in hints:
            raise RegistrationError(
                f"{where}: parameter {param.name!r} has no type annotation; annotate it "
                f"(e.g. `{param.name}: str`) so that its input schema can be generated."
            )
        if _is_context(hints[param.name]):
            contexts.append(param.name)
        else:
            fields.append((param.name, hints[param.name], param.default))
    if len(contexts) > 1:
        raise RegistrationError(
            f"{where}: parameters {', '.join(map(repr, contexts))} are all annotated "
            "TaskContext; keep only one."
        )
    return (contexts[0] if contexts else None), fields


def _is_context(annotation: Any) -> bool:
    """True for TaskContext (or a subclass), also inside Annotated[...] or `| None`."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not NoneType]
        annotation = rest[0] if len(rest) == 1 else None
    return isinstance(annotation, type) and issubclass(annotation, TaskContext)


def _arguments_model(
    tool_name: str, fields: list[tuple[str, Any, Any]], arg_docs: dict[str, str], where: str
) -> tuple[type[BaseModel], dict[str, Any]]:
    """The pydantic model that validates the arguments, and its JSON Schema."""
    # Neutral field names with the parameter name as alias: any parameter name works
    # (`json`, `schema`, `model_config`, `_x`) without clashing with BaseModel's attributes.
    definitions: dict[str, Any] = {
        f"p{i}": (
            annotation,
            Field(alias=name) if default is inspect.Parameter.empty else Field(default, alias=name),
        )
        for i, (name, annotation, default) in enumerate(fields)
    }
    try:
        model = create_model(f"{tool_name}_arguments", __config__=_ARGUMENTS_CONFIG, **definitions)
        schema = model.model_json_schema(schema_generator=_NoFieldTitles)
    except PydanticUserError as exc:
        raise _schema_error(fields, where, exc) from exc
    schema.pop("title", None)
    for name, prop in schema.get("properties", {}).items():
        if name in arg_docs and "description" not in prop:  # Field(description=...) wins
            prop["description"] = arg_docs[name]
    return model, {"type": "object", "properties": {}, **schema}


def _schema_error(
    fields: list[tuple[str, Any, Any]], where: str, exc: PydanticUserError
) -> RegistrationError:
    """Name the parameter whose annotation broke the model (found only once it failed)."""
    for name, annotation, _ in fields:
        try:
            TypeAdapter(annotation).json_schema()
        except PydanticUserError as inner:
            return RegistrationError(
                f"{where}: parameter {name!r} is annotated {_type_name(annotation)}, which "
                f"cannot become a JSON schema ({_reason(inner)}). Use a JSON-compatible type: "
                "str, int, float, bool, list, dict, Literal, an Enum or a pydantic model."
            )
    return RegistrationError(f"{where}: cannot build its arguments schema: {_reason(exc)}")


#: Marks an outputSchema whose value is wrapped in {"result": ...} (FastMCP's name for it).
WRAPPED_MARK = "x-fastmcp-wrap-result"


def _result_spec(
    annotation: Any, where: str
) -> tuple[TypeAdapter[Any] | None, bool, dict[str, Any] | None]:
    """(adapter, wrap in {"result": ...}, outputSchema) for a return annotation."""
    bare = get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    if bare in (Any, str, None, NoneType) or _is_call_result_type(bare):
        return None, False, None
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        schema = adapter.json_schema(mode="serialization", schema_generator=_NoFieldTitles)
    except PydanticUserError as exc:
        raise RegistrationError(
            f"{where}: its return annotation {_type_name(annotation)} cannot become a JSON "
            f"schema ({_reason(exc)}). Return str, a JSON-compatible type, a pydantic model, "
            "a dataclass or a TypedDict, or drop the annotation to send the value as text."
        ) from exc
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/") and schema.keys() == {"$ref", "$defs"}:
        # A recursive model comes as a bare $ref; its definition is the object schema we want.
        schema = {**schema["$defs"][ref.removeprefix("#/$defs/")], "$defs": schema["$defs"]}
    if schema.get("type") == "object":
        schema.pop("title", None)
        return adapter, False, schema
    # MCP wants an object at the top of outputSchema: scalars, lists, unions go under "result".
    # The mark is FastMCP's: its client then hands its caller the value, not {"result": v};
    # other validators ignore a keyword they do not know.
    defs = schema.pop("$defs", None)
    wrapped = {
        "type": "object", "properties": {"result": schema}, "required": ["result"],
        WRAPPED_MARK: True,
    }  # fmt: skip
    return adapter, True, wrapped if defs is None else {**wrapped, "$defs": defs}


def _is_call_result_type(annotation: Any) -> bool:
    """ToolOutcome, or a model shaped like mcp.types.CallToolResult: no outputSchema."""
    if not isinstance(annotation, type):
        return False
    fields = annotation.model_fields if issubclass(annotation, BaseModel) else {}
    return issubclass(annotation, ToolOutcome) or {"content", "isError"} <= fields.keys()


def _as_call_result(value: Any) -> ToolOutcome | None:
    """A ToolOutcome for CallToolResult-shaped values, None for anything else."""
    if isinstance(value, ToolOutcome):
        return value
    if isinstance(value, dict):
        # Only the CallToolResult keys: a structured dict that merely has "content" is data.
        data = value if value.keys() <= _CALL_RESULT_KEYS else {}
    elif hasattr(value, "model_dump") and hasattr(value, "content"):
        data = value.model_dump(by_alias=True, mode="json", exclude_none=True)
    else:
        return None
    content = data.get("content")
    if not isinstance(content, list) or not all(
        isinstance(block, dict) and isinstance(block.get("type"), str) for block in content
    ):
        return None
    return ToolOutcome(
        content=list(content),
        structured=data.get("structuredContent"),
        is_error=bool(data.get("isError", False)),
        meta=data.get("_meta"),
    )


def _describe_errors(exc: ValidationError) -> str:
    """`a: Input should be ... (got 'x'); b: Field required`."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        part = f"{loc.lstrip('.') or 'arguments'}: {error['msg']}"
        if error["type"] != "missing":
            got = repr(error["input"])
            part += f" (got {got if len(got) <= 80 else got[:77] + '...'})"
        parts.append(part)
    return "; ".join(parts)


def _reason(exc: PydanticUserError) -> str:
    """pydantic's first sentence: its advice (`arbitrary_types_allowed`...) is for model authors."""
    return exc.message.splitlines()[0].split(". Set `arbitrary_types_allowed")[0].rstrip(".")


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")
