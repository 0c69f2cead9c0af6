"""Google-style docstring splitting: the description a tool shows, and one text per argument."""

from __future__ import annotations

import inspect
import re

_ARG_SECTIONS = frozenset({"args", "arguments", "parameters", "params"})
# Sections that document the Python call, not what the tool does: a client never sees them.
_DROPPED_SECTIONS = _ARG_SECTIONS | {
    "returns",
    "return",
    "raises",
    "yields",
    "yield",
    "examples",
    "example",
}
_HEADER = re.compile(r"^(\s*)([A-Za-z][A-Za-z ]*):\s*$")
_ARG = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def split_docstring(doc: str | None) -> tuple[str | None, dict[str, str]]:
    """Split a docstring into its description and its `Args:` entries.

    Args:
        doc: A raw or cleaned docstring, or None.

    Returns:
        The docstring without its Args/Returns/Raises/Yields/Examples sections (None when
        nothing is left), and a map from parameter name to its one-line description.
    """
    if not doc:
        return None, {}
    lines = inspect.cleandoc(doc).splitlines()
    kept: list[str] = []
    args: dict[str, str] = {}
    i = 0
    while i < len(lines):
        header = _HEADER.match(lines[i])
        if header is None or header[2].strip().lower() not in _DROPPED_SECTIONS:
            kept.append(lines[i])
            i += 1
            continue
        end = _section_end(lines, i + 1, len(header[1]))
        if header[2].strip().lower() in _ARG_SECTIONS:
            args.update(_parse_args(lines[i + 1 : end]))
        i = end
    text = re.sub(r"\n{3,}", "\n\n", inspect.cleandoc("\n".join(kept)))
    return text or None, args


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _section_end(lines: list[str], start: int, indent: int) -> int:
    """Index of the first line after the section: the next non-blank line not indented more."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    return end


def _parse_args(body: list[str]) -> dict[str, str]:
    """`name: text` or `name (type): text` entries, continuation lines joined with spaces."""
    base = min((_indent(line) for line in body if line.strip()), default=0)
    entries: dict[str, list[str]] = {}
    current: str | None = None
    for line in body:
        if not line.strip():
            continue
        match = _ARG.match(line.strip()) if _indent(line) == base else None
        if match is not None:
            current = match[1]
            entries[current] = [match[2]]
        elif current is not None:
            entries[current].append(line.strip())
    joined = {name: " ".join(part for part in parts if part) for name, parts in entries.items()}
    return {name: text for name, text in joined.items() if text}
