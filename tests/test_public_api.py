"""The public API: `__all__` is complete and every name in it exists."""

from __future__ import annotations

import subprocess
import sys
import types

import taskapp


def test_all_names_exist() -> None:
    for name in taskapp.__all__:
        assert hasattr(taskapp, name), name


def test_all_is_complete() -> None:
    for name in taskapp.__all__:  # the names are imported on first use: all of them now
        getattr(taskapp, name)
    public = {
        name
        for name, value in vars(taskapp).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(taskapp.__all__) - {"__version__"}


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in taskapp.__all__ if n != "__version__"]
    assert names == sorted(names)
    assert len(set(taskapp.__all__)) == len(taskapp.__all__)


def test_importing_taskapp_imports_none_of_it_yet() -> None:
    """`import taskapp` is light (the names load on first use), so the command line
    answers a Ctrl-C while it starts itself (taskapp.cli.main)."""
    code = (
        "import sys, taskapp; "
        "heavy = sorted(m for m in sys.modules "
        "if m.startswith(('taskapp.', 'pydantic', 'anyio'))); "
        "assert heavy == ['taskapp._version'], heavy; "
        "assert taskapp.TaskApp.__name__ == 'TaskApp'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
