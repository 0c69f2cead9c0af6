"""A Ctrl-C while the command line is still loading ends as any other: one line, exit 130.

The command's modules load inside `taskapp.cli.main` (and `import taskapp` loads nothing
yet), so the KeyboardInterrupt of a Ctrl-C typed in that first fraction of a second is
the command's to answer, not Python's traceback. Made deterministic here: an import hook
raises KeyboardInterrupt where loading the command would be."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import os, signal, sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "taskapp.cli.command":
            {how}
        return None

sys.meta_path.insert(0, Interrupt())
from taskapp.cli import main
raise SystemExit(main(["call", "examples/hello.py:app", "greet"]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal")
@pytest.mark.parametrize(
    "how",
    [
        "os.kill(os.getpid(), signal.SIGINT)",  # the signal itself, mid-import
        "raise KeyboardInterrupt",  # as Python's default handler would raise it
    ],
)
def test_a_ctrl_c_while_the_command_loads_is_one_line_and_exit_130(how: str) -> None:
    script = SCRIPT.replace("{how}", how)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 130
    assert done.stderr == "taskapp: interrupted\n"
    assert done.stdout == ""
