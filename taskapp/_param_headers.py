"""`x-mcp-header`: tool parameters mirrored into `Mcp-Param-{Name}` HTTP headers (MCP
2026-07-28, SEP-2243), so that a load balancer or gateway can route on them without
reading the body.

A tool declares one in its parameter's schema, e.g.
`region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]`. This
module checks such declarations (`header_params`, at registration), encodes the headers
a client sends (`encode`), and checks on the server that what the headers say is what
the body says (`mismatch`): a mismatch is a -32020 HeaderMismatch, HTTP 400.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEY = "x-mcp-header"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 tchar
_SAFE_INTEGER = 2**53 - 1
_INTEGER = re.compile(r"^-?[0-9]+(\.0+)?$")  # 42, -7, 42.0: no 4_2, +42, 42e0
# Keywords whose values are data, not schemas: never searched for declarations.
_DATA = frozenset({"default", "examples", "example", "const", "enum", "enumNames"})
_PREFIX, _SUFFIX = "=?base64?", "?="


@dataclass(frozen=True, slots=True)
class HeaderParam:
    """One mirrored parameter: its header's name part, its path in the arguments, its type."""

    name: str
    path: tuple[str, ...]
    type: str  # "string", "integer" or "boolean"

    @property
    def header(self) -> str:
        return f"Mcp-Param-{self.name}"


def header_params(schema: Mapping[str, Any]) -> tuple[HeaderParam, ...]:
    """The `x-mcp-header` parameters of an `inputSchema`; ValueError if one breaks a rule
    (tools.mdx "x-mcp-header": a token, unique ignoring case, on a string, integer or
    boolean property reached from the root through `properties` alone)."""
    found: list[HeaderParam] = []
    _walk(schema, (), found, reachable=True)
    seen: set[str] = set()
    for param in found:
        if param.name.lower() in seen:
            raise ValueError(f"x-mcp-header {param.name!r} is used twice (case-insensitively)")
        seen.add(param.name.lower())
    return tuple(found)


def _walk(node: Any, path: tuple[str, ...], found: list[HeaderParam], *, reachable: bool) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, path, found, reachable=False)
        return
    if not isinstance(node, Mapping):
        return
    if KEY in node:
        where = ".".join(path) or "the schema root"
        if not reachable or not path:
            raise ValueError(
                f"x-mcp-header on {where} is not reached from the root through properties alone"
            )
        name = node[KEY]
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"x-mcp-header {name!r} on {where} is not an HTTP header token")
        kind = node.get("type")
        if kind not in ("string", "integer", "boolean"):
            # A nullable one (`int | None`) has no single type: the official SDK's client
            # drops such a tool from its listing, so it is refused here, at registration.
            raise ValueError(
                f"x-mcp-header {name!r} is on {where}, whose schema type is {kind!r}: only a "
                "str, int or bool parameter (not nullable: give it a default of its type) may "
                "be mirrored into a header"
            )
        found.append(HeaderParam(name, path, kind))
    for key, value in node.items():
        if key == "properties" and isinstance(value, Mapping):
            for prop, sub in value.items():
                _walk(sub, (*path, str(prop)), found, reachable=reachable)
        elif key != KEY and key not in _DATA and isinstance(value, (Mapping, list)):
            _walk(value, path, found, reachable=False)  # items, anyOf, $defs, ...


def value_at(arguments: Any, path: tuple[str, ...]) -> Any:
    """The argument at `path`, or None when it is absent."""
    for key in path:
        if not isinstance(arguments, Mapping):
            return None
        arguments = arguments.get(key)
    return arguments


def as_text(value: Any) -> str:
    """A parameter's value as its header states it (before any encoding)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode(text: str) -> str:
    """A header value: `text` as is when it is safe visible ASCII, else `=?base64?…?=`
    (also when it looks like that form itself, so that it is never taken for one)."""
    plain = text and text == text.strip() and all(" " <= ch <= "~" for ch in text)
    if plain and not (text.startswith(_PREFIX) and text.endswith(_SUFFIX)):
        return text
    return f"{_PREFIX}{base64.b64encode(text.encode()).decode()}{_SUFFIX}"


def decode(value: str) -> str:
    """A header value as sent, decoded from `=?base64?…?=`; ValueError if that is not
    valid Base64 (padding, alphabet) of UTF-8. Without both markers it is literal."""
    if not (value.startswith(_PREFIX) and value.endswith(_SUFFIX) and len(value) >= 11):
        return value
    payload = value[len(_PREFIX) : -len(_SUFFIX)]
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode() != payload:  # padding bits set: not canonical
            raise binascii.Error(payload)
        return decoded.decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("is not valid =?base64?…?= encoded UTF-8") from None


def headers_for(params: tuple[HeaderParam, ...], arguments: Any) -> dict[str, str]:
    """The `Mcp-Param-*` headers a client sends with a call of these arguments."""
    out: dict[str, str] = {}
    for param in params:
        value = value_at(arguments, param.path)
        if value is not None:
            out[param.header] = encode(as_text(value))
    return out


def mismatch(
    params: tuple[HeaderParam, ...], headers: Mapping[str, str], arguments: Any
) -> str | None:
    """Why the `Mcp-Param-*` headers do not agree with the arguments, or None if they do
    (streamable-http "Server Behavior for Custom Headers"): a value in the body needs its
    header, equal after decoding (integers compared as numbers); a header without a value
    in the body is refused too."""
    for param in params:
        value = value_at(arguments, param.path)
        sent = headers.get(param.header.lower())
        if value is None:
            if sent is not None:  # a router would go by a value the tool never gets
                return f"the {param.header} header is sent but params.arguments has no value"
            continue
        if sent is None:
            return f"the {param.header} header is missing (params.arguments has it)"
        if not all(ch == "\t" or " " <= ch <= "~" for ch in sent):
            return f"the {param.header} header has characters outside visible ASCII"
        try:
            text = decode(sent)
        except ValueError as exc:
            return f"the {param.header} header {exc}"
        if not _same(param.type, text, value):
            return (
                f"{param.header} header value {text!r} does not match body value {value!r} "
                f"(params.arguments.{'.'.join(param.path)})"
            )
    return None


def _same(kind: str, text: str, value: Any) -> bool:
    if kind == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        # Compared as numbers (42.0 is 42), but only in plain decimal: what a router reads.
        if not _INTEGER.fullmatch(text):
            return False
        number = int(text.partition(".")[0])
        return number == value and abs(number) <= _SAFE_INTEGER
    return text == as_text(value)
