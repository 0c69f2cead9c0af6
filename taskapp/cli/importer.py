"""Finding an app from a `module:attr` or `path/to/file.py:attr` target."""

from __future__ import annotations

import importlib
import importlib.util
import linecache
import sys
import traceback
from pathlib import Path
from typing import Any

FORM = "expected 'module:attr' or 'path/to/file.py:attr', e.g. 'examples.hello:app'"


class ImportFromStringError(Exception):
    """The target could not be imported; the message names the expected form."""


class UserCodeError(ImportFromStringError):
    """The target's own code raised while it was imported: a plain `def` tool, a missing
    annotation, an ImportError of its own. The message names the user's file and line,
    not taskapp's frames."""


_TASKAPP = str(Path(__file__).resolve().parent.parent)


def _user_error(target: str, exc: BaseException) -> UserCodeError:
    """The exception as one message, with the last place in the user's own code."""
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"\n  {exc.filename}, line {exc.lineno}"
        if exc.text:
            where += f"\n    {exc.text.strip()}"
    else:
        frames = [
            frame
            for frame in traceback.extract_tb(exc.__traceback__)
            if not frame.filename.startswith(("<", _TASKAPP))
        ]
        if frames:
            frame = frames[-1]
            where = f"\n  {frame.filename}, line {frame.lineno}, in {frame.name}"
            line = linecache.getline(frame.filename, frame.lineno or 0).strip()
            if line:
                where += f"\n    {line}"
    text = str(exc) if isinstance(exc, SyntaxError) else f"{type(exc).__name__}: {exc}"
    return UserCodeError(f"cannot load {target!r}: {text}{where}")


def import_from_string(target: str) -> Any:
    """Import `module:attr` (the current directory first on sys.path) and return the attribute."""
    module_part, sep, attr_part = target.rpartition(":")
    if not sep or not module_part or not attr_part:
        raise ImportFromStringError(f"cannot import {target!r}: {FORM}")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        is_file = module_part.endswith(".py")
        module = _load_file(module_part) if is_file else _load_module(module_part)
    except ImportFromStringError:
        raise
    except Exception as exc:  # the user's module raised while it ran: say where, briefly
        raise _user_error(target, exc) from None
    value: Any = module
    for name in attr_part.split("."):
        try:
            value = getattr(value, name)
        except AttributeError:
            raise ImportFromStringError(
                f"module {module_part!r} has no attribute {attr_part!r} ({FORM})"
            ) from None
    return value


def _load_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise ImportFromStringError(f"no module named {name!r} ({FORM})") from None
        raise


def _load_file(path_text: str) -> Any:
    path = Path(path_text)
    if not path.is_file():
        raise ImportFromStringError(f"no file {path_text!r} ({FORM})")
    name = f"_taskapp_target_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportFromStringError(f"cannot import {path_text!r} as Python ({FORM})")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent.resolve()))
    spec.loader.exec_module(module)
    return module
