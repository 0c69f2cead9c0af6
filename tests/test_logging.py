"""taskapp's loggers follow the latest `configure_logging`, whenever they were made."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import structlog

from taskapp._logging import configure_logging, get_logger


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_a_logger_used_before_a_reconfiguration_follows_it(restore_structlog: None) -> None:
    log = get_logger("taskapp.test")
    first, second = io.StringIO(), io.StringIO()
    configure_logging("warning", stream=first)
    log.info("quiet")  # below the level: nothing, and structlog caches this logger's setup
    configure_logging("info", stream=second)
    log.info("heard", n=1)
    assert first.getvalue() == ""
    assert "event='heard'" in second.getvalue()
    assert "n=1" in second.getvalue()


def test_the_level_of_the_latest_configuration_filters(restore_structlog: None) -> None:
    log = get_logger("taskapp.test")
    out = io.StringIO()
    configure_logging("debug", stream=io.StringIO())
    log.debug("first")
    configure_logging("error", stream=out)
    log.warning("dropped")
    log.error("kept")
    assert "dropped" not in out.getvalue()
    assert "kept" in out.getvalue()
