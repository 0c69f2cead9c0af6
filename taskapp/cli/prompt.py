"""Answering a server's elicitation questions at the terminal: one prompt per field."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from .common import err

if TYPE_CHECKING:
    from .view import Feedback

LineReader = Callable[[], Awaitable[str | None]]

_YES = frozenset({"y", "yes", "true", "1", "on"})
_NO = frozenset({"n", "no", "false", "0", "off"})
_EOF, _SKIP = object(), object()


async def read_stdin_line() -> str | None:
    """A line from stdin, or None at its end.

    A daemon thread reads it, so that a read still waiting when the user presses
    Ctrl-C never holds up the exit (a worker thread would be joined at exit).
    """
    token = anyio.lowlevel.current_token()
    done = anyio.Event()
    box: list[str] = []

    def read() -> None:
        try:
            box.append(sys.stdin.readline() if sys.stdin is not None else "")
        except (OSError, ValueError):  # no stdin, or a closed one: as good as its end
            box.append("")
        with contextlib.suppress(Exception):  # the loop may be gone by now
            anyio.from_thread.run_sync(done.set, token=token)

    threading.Thread(target=read, name="taskapp-stdin", daemon=True).start()
    await done.wait()
    return box[0] or None


class TerminalAsker:
    """The Client's `elicitation_handler`: asks on stderr, reads answers from stdin.

    An empty answer takes the field's default (or leaves an optional field out);
    the end of stdin (Ctrl-D) declines the whole question.
    """

    def __init__(self, feedback: Feedback | None = None, read_line: LineReader | None = None):
        self._feedback = feedback
        self._read_line = read_line or read_stdin_line

    async def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        paused = self._feedback.paused() if self._feedback else contextlib.nullcontext()
        with paused:
            return await self._ask(params)

    async def _ask(self, params: dict[str, Any]) -> dict[str, Any]:
        err(str(params.get("message") or "The server asks:"))
        if params.get("mode") == "url":
            err(f"  open {params.get('url')}")
            line = await self._read("  done? [y/n]: ")
            accepted = line is not None and line.strip().lower() in _YES
            return {"action": "accept" if accepted else "decline"}
        schema = params.get("requestedSchema") or {}
        required = set(schema.get("required") or ())
        content: dict[str, Any] = {}
        for name, prop in (schema.get("properties") or {}).items():
            answer = await self._field(name, prop, name in required)
            if answer is _EOF:
                err("  (no more input: declined)")
                return {"action": "decline"}
            if answer is not _SKIP:
                content[name] = answer
        return {"action": "accept", "content": content}

    async def _field(self, name: str, prop: dict[str, Any], required: bool) -> Any:
        prompt = field_prompt(name, prop, required)
        while True:
            line = await self._read(prompt)
            if line is None:
                return _EOF
            text = line.strip()
            if not text:
                if "default" in prop:
                    return prop["default"]
                if not required:
                    return _SKIP
                err("  an answer is required")
                continue
            try:
                return parse_answer(text, prop)
            except ValueError as exc:
                err(f"  {exc}")

    async def _read(self, prompt: str) -> str | None:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = await self._read_line()
        if line is None or not _stdin_is_terminal():
            err("")  # end the prompt's line: nothing was echoed
        return line


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


def field_prompt(name: str, prop: dict[str, Any], required: bool) -> str:
    """`  approve - Go ahead? [y/n]: `: the field, its description, what it takes."""
    question = prop.get("description") or prop.get("title")
    hints: list[str] = []
    choices = enum_choices(prop)
    if choices is not None:
        titles = _titles(prop)
        hints.append("/".join(_labelled(choice, titles) for choice in choices))
    elif prop.get("type") == "boolean":
        hints.append("y/n")
    elif prop.get("type") == "array":
        hints.append("comma-separated")
    default = prop.get("default")
    if isinstance(default, bool):
        hints.append(f"default {'y' if default else 'n'}")
    elif default not in (None, "", []):
        hints.append(f"default {default}")
    elif not required and "default" not in prop:
        hints.append("optional")
    hint = f" [{', '.join(hints)}]" if hints else ""
    return f"  {name}{f' - {question}' if question else ''}{hint}: "


def enum_choices(prop: dict[str, Any]) -> list[Any] | None:
    """The allowed values of a single- or multi-select field, if it has a fixed set."""
    if isinstance(prop.get("items"), dict):
        prop = prop["items"]
    if isinstance(prop.get("enum"), list):
        return list(prop["enum"])
    options = prop.get("oneOf") or prop.get("anyOf")
    if (
        isinstance(options, list)
        and options
        and all(isinstance(o, dict) and "const" in o for o in options)
    ):
        return [o["const"] for o in options]
    return None


def _labelled(choice: Any, titles: dict[Any, str]) -> str:
    title = titles.get(choice) if isinstance(choice, str | int | float) else None
    return f"{choice} ({title})" if title else str(choice)


def _titles(prop: dict[str, Any]) -> dict[Any, str]:
    """The titles of titled choices (`oneOf`/`anyOf` of `const` and `title`, or the
    deprecated `enumNames` beside `enum`), by value."""
    if isinstance(prop.get("items"), dict):
        prop = prop["items"]
    names, values = prop.get("enumNames"), prop.get("enum")
    if isinstance(names, list) and isinstance(values, list) and len(names) == len(values):
        pairs = zip(values, names, strict=True)
        return {v: str(n) for v, n in pairs if isinstance(v, str | int | float)}
    options = prop.get("oneOf") or prop.get("anyOf") or []
    return {  # a server's schema, not ours: whatever is not a titled string choice is left
        o["const"]: str(o["title"])
        for o in options if isinstance(o, dict) and isinstance(o.get("const"), str | int | float)
        and "title" in o
    }  # fmt: skip


def parse_answer(text: str, prop: dict[str, Any]) -> Any:
    """The typed value of a non-empty answer; ValueError says what was expected."""
    kind = prop.get("type")
    choices = enum_choices(prop)
    if kind == "array":
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return [_choose(p, choices) if choices is not None else p for p in parts]
    if choices is not None:
        return _choose(text, choices)
    if kind == "boolean":
        word = text.lower()
        if word in _YES or word in _NO:
            return word in _YES
        raise ValueError("answer y or n")
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("a whole number, please") from None
    if kind == "number":
        try:
            return int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            raise ValueError("a number, please") from None
    return text


def _choose(text: str, choices: list[Any]) -> Any:
    for choice in choices:
        if str(choice) == text:
            return choice
    if text.isdigit() and 1 <= int(text) <= len(choices):
        return choices[int(text) - 1]
    raise ValueError(f"choose one of: {', '.join(str(c) for c in choices)}")
