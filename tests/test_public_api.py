"""The public API: `__all__` is complete and every name in it exists."""

from __future__ import annotations

import types

import taskapp


def test_all_names_exist() -> None:
    for name in taskapp.__all__:
        assert hasattr(taskapp, name), name


def test_all_is_complete() -> None:
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
