"""Shared fixtures: the anyio backend, and a raw JSON-RPC connection to an app in memory."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]  # test_store_contract runs contract subclasses in a sub-session


@pytest.fixture(params=["asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
