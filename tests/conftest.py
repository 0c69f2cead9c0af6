"""Shared fixtures: the anyio backend, and structlog's configuration kept across tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

pytest_plugins = ["pytester"]  # test_store_contract runs contract subclasses in a sub-session


@pytest.fixture(params=["asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """A command run in-process configures structlog for its process (on the stderr it
    sees, here a capture that closes): give the next test the configuration it had."""
    configured, saved = structlog.is_configured(), structlog.get_config()
    yield
    if configured:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()
