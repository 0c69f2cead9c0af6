"""Log configuration, and taskapp's loggers: structlog once configured, else stdlib `logging`."""

from __future__ import annotations

import logging
import secrets
import sys
from typing import Any, TextIO, cast

import structlog

LEVELS = ("debug", "info", "warning", "error", "critical")
#: Bumped by each `configure_logging`: a logger made before it drops its cached structlog
#: proxy, which would otherwise keep the level and stream of its first use.
_generation = 0


def configure_logging(
    level: str = "info", *, json: bool = False, stream: TextIO | None = None
) -> None:
    """Send taskapp's logs (and structlog's, in general) to stderr at `level`.

    stdout is never used: on the stdio transport it belongs to the protocol.
    """
    global _generation
    if level.lower() not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    _generation += 1
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


_METHODS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
            logging.ERROR: "error"}  # fmt: skip


class Logger:
    """A taskapp module's logger, named `taskapp.<part>` so that it can be filtered.

    Once structlog is configured (by the CLI, by `taskapp run` and `TaskApp.run`, or by
    the program itself) an event goes through structlog, one key=value or JSON line.
    Until then taskapp is a library in someone else's program, and structlog's default
    would print every event, debug ones included, on that program's stdout: the event
    goes to the standard `logging` logger of the same name instead, which the program
    configures as it likes (by default only WARNING and above, on stderr).
    """

    __slots__ = ("_generation", "_name", "_stdlib", "_structlog")

    def __init__(self, name: str) -> None:
        self._name = name
        self._stdlib = logging.getLogger(name)
        self._structlog: Any = structlog.get_logger(name)
        self._generation = _generation

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            if self._generation != _generation:  # configured again since: a fresh proxy
                self._structlog = structlog.get_logger(self._name)
                self._generation = _generation
            getattr(self._structlog, _METHODS[level])(event, **fields)
        elif self._stdlib.isEnabledFor(level):
            exc_info = fields.pop("exc_info", None)
            text = " ".join([event, *(f"{key}={value!r}" for key, value in fields.items())])
            self._stdlib.log(level, text, exc_info=exc_info)


def get_logger(name: str) -> Logger:
    """The logger every taskapp module uses: never structlog's unconfigured stdout."""
    return Logger(name)


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
    # A fresh logger, not a module-level one: a structlog proxy caches the configuration
    # of its first use, and this is the line a reconfigured log must not miss.
    get_logger("taskapp").error(event, error_id=error_id, exc_info=exc, **context)
    return f"Internal error (id {error_id}): see the server log"
