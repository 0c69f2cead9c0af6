"""TaskApp.spec(): the frozen description of the server that sessions and transports get."""

from __future__ import annotations

import dataclasses

import pytest

from taskapp import TaskApp


async def hello(name: str) -> str:
    """Say hello."""
    return f"Hello, {name}!"


async def late() -> str:
    """Registered after the spec was made."""
    return "late"


def test_the_spec_describes_the_app() -> None:
    app = TaskApp("spec-test", version="1.2.3", instructions="Be kind.", tools=[hello])
    spec = app.spec()
    assert spec.server_info == {"name": "spec-test", "version": "1.2.3"}
    assert spec.instructions == "Be kind."
    assert list(spec.tools) == ["hello"]
    assert spec.page_size == app.page_size
    assert spec.state_signer is app.state_signer
    assert spec.auth is None
    assert spec.tools_page(None, with_tasks=True) == app.tools_page(None, with_tasks=True)


def test_the_spec_is_frozen() -> None:
    spec = TaskApp("spec-test").spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]


def test_a_tool_added_after_the_spec_is_served_too() -> None:
    # As before the spec existed: sessions read the app's registry, not a copy of it.
    app = TaskApp("spec-test", tools=[hello])
    spec = app.spec()
    app.add_tool(late)
    assert "late" in spec.tools
    names = [t["name"] for t in spec.tools_page(None, with_tasks=False)["tools"]]
    assert names == ["hello", "late"]
