"""Building `elicitation/create`, `sampling/createMessage` and `roots/list` requests and
reading their answers."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic_core import PydanticCustomError, core_schema

from .errors import ClientCapabilityError, TaskAppError, ToolError

ModelT = TypeVar("ModelT", bound=BaseModel)

# Keys of a property schema that MCP elicitation's restricted schema allows.
_ALLOWED_KEYS = {
    "type", "title", "description", "default", "minLength", "maxLength", "format",
    "minimum", "maximum", "enum", "enumNames", "oneOf", "items", "minItems", "maxItems",
}  # fmt: skip
_PRIMITIVES = {"string", "number", "integer", "boolean"}


@dataclass(frozen=True, eq=False)  # hashable as any object: `Annotated[...] | None` hashes it
class Choices:
    """Choices shown with titles, for elicitation forms (SEP-1330): on a `str` field, one
    of them (`oneOf` of `const` and `title`); on a `list[str]` field, any of them (`items`
    of `anyOf`). The values are the keys; a value that is not one of them does not validate.

        region: Annotated[str, Choices({"eu": "Europe", "us": "United States"})]
    """

    titles: Mapping[str, str]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        allowed = tuple(self.titles)

        def check(value: Any) -> Any:
            many = isinstance(value, (list, tuple, set, frozenset))
            for one in value if many else [value]:
                if one is not None and one not in allowed:  # None: an optional field left out
                    raise PydanticCustomError(
                        "choice", "'{value}' is not one of {allowed}",
                        {"value": one, "allowed": ", ".join(allowed)},
                    )  # fmt: skip
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        json_schema = dict(handler(schema))
        options = [{"const": value, "title": title} for value, title in self.titles.items()]
        if json_schema.get("type") == "array":
            json_schema["items"] = {"anyOf": options}
        else:
            json_schema["oneOf"] = options
        return json_schema


class ElicitationSchemaError(TaskAppError, TypeError):
    """A model that MCP elicitation cannot carry (nested objects, arrays of non-enums, ...)."""


def elicit_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The restricted, flat JSON Schema that MCP elicitation allows, from a pydantic model."""
    full = model.model_json_schema()
    defs = full.get("$defs", {})
    properties: dict[str, Any] = {}
    for name, prop in full.get("properties", {}).items():
        properties[name] = _flat_property(model, name, _resolve(prop, defs), defs)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if full.get("required"):
        schema["required"] = list(full["required"])
    return schema


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved = dict(defs[ref.removeprefix("#/$defs/")])
        resolved.update({k: v for k, v in prop.items() if k != "$ref"})
        return resolved
    # `X | None` becomes anyOf [X, null]: elicitation has no null, the field is simply optional.
    options = [p for p in prop.get("anyOf", []) if p.get("type") != "null"]
    if len(options) == 1:
        merged = {k: v for k, v in prop.items() if k != "anyOf"}
        merged.update(_resolve(options[0], defs))
        return merged
    return prop


def _flat_property(
    model: type[BaseModel], name: str, prop: dict[str, Any], defs: dict[str, Any]
) -> dict[str, Any]:
    kind = prop.get("type")
    if kind == "array":
        items = _resolve(prop.get("items", {}), defs)
        if "enum" in items or "anyOf" in items or "oneOf" in items:
            prop = {**prop, "items": {k: v for k, v in items.items() if k != "title"}}
            kind = "array"
        else:
            kind = None
    if kind not in _PRIMITIVES and kind != "array" and "enum" not in prop:
        raise ElicitationSchemaError(
            f"{model.__name__}.{name} cannot be asked for with elicitation: MCP allows only "
            "flat fields of type str, int, float, bool, an enum or Literal, or a list of "
            "enum values. Split nested models into separate fields."
        )
    if "enum" in prop and not all(isinstance(v, str) for v in prop["enum"]):
        raise ElicitationSchemaError(
            f"{model.__name__}.{name} cannot be asked for with elicitation: MCP enums hold "
            "strings only; use a str Enum or a Literal of strings"
        )
    if "enum" in prop and "type" not in prop:
        prop = {**prop, "type": "string"}
    flat = {k: v for k, v in prop.items() if k in _ALLOWED_KEYS}
    if flat.get("default", 0) is None:
        del flat["default"]  # `x: str | None = None` is simply optional; null is no default
    field = model.model_fields[name]
    flat["title"] = field.title or name.replace("_", " ").title()
    return flat


def require_capability(capabilities: dict[str, Any], method: str, params: dict[str, Any]) -> None:
    """Raise ClientCapabilityError unless the client declared what `method` needs."""
    if method == "roots/list":
        if capabilities.get("roots") is None:
            raise ClientCapabilityError(
                "the client did not declare the 'roots' capability, so this tool cannot "
                "ask for its roots (roots/list)"
            )
        return
    if method == "sampling/createMessage":
        if capabilities.get("sampling") is None:
            raise ClientCapabilityError(
                "the client did not declare the 'sampling' capability, so this tool cannot "
                "ask its model (sampling/createMessage)"
            )
        return
    declared = capabilities.get("elicitation")
    mode = params.get("mode", "form")
    # An empty elicitation capability means form mode only (elicitation.mdx).
    modes = declared if isinstance(declared, dict) and declared else {"form": {}}
    if declared is None or mode not in modes:
        raise ClientCapabilityError(
            f"the client did not declare the 'elicitation' capability for mode '{mode}', "
            "so this tool cannot ask the user (elicitation/create)"
        )


def refused(method: str, error: dict[str, Any]) -> ToolError:
    """The tool error a client's error answer becomes, inside a task or inline alike."""
    return ToolError(
        f"the client answered {method} with an error: "
        f"{error.get('message', '')} ({error.get('code')})"
    )


def roots_of(reply: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(uri, name) of each root in a `roots/list` answer; a ToolError if it has none."""
    roots = reply.get("roots")
    if not isinstance(roots, list) or not all(
        isinstance(r, dict) and isinstance(r.get("uri"), str) for r in roots
    ):
        raise ToolError("the client answered roots/list without a list of roots with a uri")
    return [(r["uri"], r["name"] if isinstance(r.get("name"), str) else None) for r in roots]


def elicit_action(reply: dict[str, Any]) -> Literal["accept", "decline", "cancel"]:
    action = reply.get("action")
    if action in ("accept", "decline", "cancel"):
        return cast("Literal['accept', 'decline', 'cancel']", action)
    raise ToolError(f"the client answered elicitation with an unknown action {action!r}")


def validate_content(model: type[ModelT], reply: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(reply.get("content") or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ToolError(f"the user's answer does not fit {model.__name__}: {problems}") from exc


def new_elicitation_id() -> str:
    return secrets.token_urlsafe(16)


def sampling_params(
    messages: str | Sequence[str | dict[str, Any]],
    *,
    max_tokens: int,
    system_prompt: str | None,
    temperature: float | None,
    stop_sequences: list[str] | None,
    model_preferences: dict[str, Any] | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"messages": _messages(messages), "maxTokens": max_tokens}
    if system_prompt is not None:
        params["systemPrompt"] = system_prompt
    if temperature is not None:
        params["temperature"] = temperature
    if stop_sequences:
        params["stopSequences"] = stop_sequences
    if model_preferences is not None:
        params["modelPreferences"] = model_preferences
    return params


def _messages(messages: str | Sequence[str | dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        messages = [messages]
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, str):
            out.append({"role": "user", "content": {"type": "text", "text": message}})
        else:
            out.append(message)
    return out
