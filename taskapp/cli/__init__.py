"""The `taskapp` command: a thin shell over the programmatic API (`taskapp.cli:main`)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from types import FrameType


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (cli/command.py), loaded here so that a Ctrl-C while it loads
    ends as everywhere else, one line and exit 130, not a traceback (nor a
    KeyboardInterrupt that lands in the import machinery, which Python drops)."""
    interrupted = False

    def note(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True

    try:
        previous = signal.signal(signal.SIGINT, note)
    except ValueError:  # not the main thread: leave signals as they are
        previous = None
    try:
        from .command import main as run
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if interrupted:
        sys.stderr.write("taskapp: interrupted\n")
        return 130
    return run(argv)


__all__ = ("main",)
