"""What the command line's commands share: exit codes, targets, output and its colours."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import IO, TYPE_CHECKING, Any

from ..client import Client
from ..wire.jsonrpc import JsonRpcError
from .importer import ImportFromStringError, import_from_string

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ..app import TaskApp

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

TARGET_FORMS = (
    "a target is module:attr or path/to/file.py:attr (served in this process), "
    "an http(s) URL, or a server command in quotes, e.g. 'taskapp run examples/hello.py:app'"
)


class CliError(Exception):
    """A failure to report in one line on stderr, with the exit code to return."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def resolve_target(text: str) -> TaskApp | list[str] | str:
    """A URL stays a URL; text with whitespace or without ':' is a command; else module:attr."""
    from ..app import TaskApp

    if text.startswith(("http://", "https://")):
        return text
    if any(ch.isspace() for ch in text) or ":" not in text:
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise CliError(f"cannot split the command {text!r}: {exc}") from None
        if not argv:
            raise CliError(f"empty target: {TARGET_FORMS}")
        return argv
    try:
        app = import_from_string(text)
    except ImportFromStringError as exc:
        raise CliError(f"{exc}; or give an http(s) URL, or a server command in quotes") from None
    if not isinstance(app, TaskApp):
        raise CliError(
            f"{text!r} is a {type(app).__name__}, not a TaskApp "
            "(expected e.g. app = TaskApp('name') in that module)"
        )
    return app


def parse_headers(lines: Iterable[str], target: object) -> dict[str, str]:
    """`--header 'Name: value'` options, for http(s) targets only."""
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise CliError(f"--header {line!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    if headers and not isinstance(target, str):
        raise CliError("--header is for http(s) targets only")
    return headers


@asynccontextmanager
async def connect(target: TaskApp | list[str] | str, **options: Any) -> AsyncIterator[Client]:
    """A connected Client; a target that cannot be reached is a usage error (exit 2)."""
    async with AsyncExitStack() as stack:
        try:
            client = await stack.enter_async_context(Client(target, **options))
        except JsonRpcError as exc:
            shown = shlex.join(target) if isinstance(target, list) else str(target)
            raise CliError(f"cannot connect to {shown}: {exc.message}") from None
        except OSError as exc:  # the command could not start
            shown = shlex.join(target) if isinstance(target, list) else str(target)
            raise CliError(f"cannot start {shown}: {exc.strerror or exc}; {TARGET_FORMS}") from None
        yield client


class ServerStderr:
    """What a server started as a command wrote on stderr, kept in a file rather than
    drawn over the progress bar, and shown after a failure (or always, if asked)."""

    def __init__(self, file: IO[bytes] | None, command: str) -> None:
        self.file = file
        self._command = command

    def show(self, *, always: bool = False, failed: bool = False) -> None:
        if self.file is None or not (always or failed):
            return
        self.file.seek(0)
        text = self.file.read().decode(errors="replace").rstrip()
        self.file.seek(0)
        self.file.truncate()
        if text:
            err(f"-- stderr of {self._command}:")
            err(text)


@contextmanager
def server_stderr(target: object) -> Iterator[ServerStderr]:
    """A file for the stderr of a server `target` starts (a command), or nothing to keep."""
    if not isinstance(target, list):
        yield ServerStderr(None, "")
        return
    with tempfile.TemporaryFile() as file:
        kept = ServerStderr(file, shlex.join(target))
        try:
            yield kept
        except BaseException:
            kept.show(failed=True)
            raise


# -- output ------------------------------------------------------------------------


def out(text: str) -> None:
    """A line on stdout: results and JSON, never decorated."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    """A plain line on stderr: progress and notes when stderr is not a terminal."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def out_json(value: Any) -> None:
    out(json.dumps(value, indent=2, ensure_ascii=False))


def error_console() -> Console:
    """stderr; colour only on a terminal, and never with NO_COLOR set (rich checks both)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def table_console() -> Console:
    """stdout for tables; in a pipe no column is folded to fit 80 characters."""
    from rich.console import Console

    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=10_000)


def cells(*values: object) -> list[Text]:
    """Table cells shown as written (a `[` in a status message is not rich markup)."""
    from rich.text import Text

    return [Text("" if value is None else str(value)) for value in values]


def fail(message: str) -> None:
    """`taskapp: message` on stderr, in red on a terminal."""
    error_console().print(f"taskapp: {message}", style="red", markup=False, soft_wrap=True)


def one_line(text: str, limit: int = 500) -> str:
    """A message on one line: its non-empty lines joined by ` / `, cut at `limit`."""
    joined = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"


def content_text(content: list[dict[str, Any]]) -> str:
    """What a result's content blocks say, as text: text blocks whole, others summarised."""
    parts: list[str] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "resource_link":
            parts.append(f"[resource {block.get('uri', '')}]")
        else:
            mime = block.get("mimeType")
            parts.append(f"[{kind} content{f', {mime}' if mime else ''}]")
    return "\n".join(parts)


def params_summary(schema: dict[str, Any]) -> str:
    """`a: number, b: number, steps: integer = 5`: a tool's parameters in one line."""
    required = set(schema.get("required") or ())
    parts: list[str] = []
    for name, prop in (schema.get("properties") or {}).items():
        text = f"{name}: {type_name(prop)}"
        if "default" in prop:
            text += f" = {json.dumps(prop['default'])}"
        elif name not in required:
            text += " (optional)"
        parts.append(text)
    return ", ".join(parts) or "(no arguments)"


def type_name(prop: dict[str, Any]) -> str:
    """A JSON Schema's type, shortly: `string`, `integer|null`, `'a'|'b'`, `array[string]`."""
    if isinstance(prop.get("enum"), list):
        return "|".join(json.dumps(v) for v in prop["enum"])
    options = prop.get("anyOf") or prop.get("oneOf")
    if isinstance(options, list):
        return "|".join(type_name(o) for o in options)
    kind = prop.get("type")
    if isinstance(kind, list):
        return "|".join(str(k) for k in kind)
    if kind == "array" and isinstance(prop.get("items"), dict):
        return f"array[{type_name(prop['items'])}]"
    if "const" in prop:
        return json.dumps(prop["const"])
    ref = prop.get("$ref")
    if isinstance(ref, str):  # a model or an enum defined in $defs: show its name
        return ref.rsplit("/", 1)[-1]
    return str(kind or "any")


def add_header_option(parser: argparse.ArgumentParser) -> None:
    """`--header 'Name: value'`, for commands that may talk to an HTTP target."""
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an HTTP header for URL targets (repeatable)",
    )
