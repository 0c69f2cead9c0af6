"""Log configuration: structlog, one event per line, always on stderr."""

from __future__ import annotations

import logging
import secrets
import sys
from typing import Any, TextIO, cast

import structlog

LEVELS = ("debug", "info", "warning", "error", "critical")


def configure_logging(
    level: str = "info", *, json: bool = False, stream: TextIO | None = None
) -> None:
    """Send taskapp's logs (and structlog's, in general) to stderr at `level`.

    stdout is never used: on the stdio transport it belongs to the protocol.
    """
    if level.lower() not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.processors.KeyValueRenderer(
            key_order=["timestamp", "level", "event"], drop_missing=True
        )
    )  # fmt: skip
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.WriteLoggerFactory(file=stream or cast("TextIO", _Stderr())),
        # Filtered calls then cost a method lookup, not a new logger each time; the
        # stream is looked up per line (_Stderr), so test runners swapping it still work.
        cache_logger_on_first_use=True,
    )


class _Stderr:
    """Whatever `sys.stderr` is when a line is written (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def ensure_stderr_logging() -> None:
    """Configure logging unless the application already has: structlog's default is stdout."""
    if not structlog.is_configured():
        configure_logging("info")


def internal_error(exc: BaseException, event: str = "handler failed", **context: Any) -> str:
    """Log `exc` with its traceback under a fresh error id; return the client's message.

    The client reads only the id, never the exception's text: that text may carry a
    store's host and port, a path, a query. The id finds the traceback in the log.
    """
    error_id = secrets.token_hex(6)
    structlog.get_logger("taskapp").error(event, error_id=error_id, exc_info=exc, **context)
    return f"Internal error (id {error_id}): see the server log"
