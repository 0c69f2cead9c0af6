"""The `taskapp` command: a thin shell over the programmatic API (`taskapp.cli:main`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (cli/command.py), imported here so that a Ctrl-C while it loads
    ends with one line and exit 130, as everywhere else, not a traceback."""
    try:
        from .command import main as run
    except KeyboardInterrupt:
        sys.stderr.write("taskapp: interrupted\n")
        return 130
    return run(argv)


__all__ = ("main",)
