"""A Ctrl-C while the command line is still loading ends as any other: one line, exit 130.

The command's modules load inside `taskapp.cli.main` (and `import taskapp` loads nothing
yet), so the KeyboardInterrupt of a Ctrl-C typed in that first fraction of a second is
the command's to answer, not Python's traceback. Made deterministic here: an import hook
raises KeyboardInterrupt where loading the command would be."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


LOOP_SCRIPT = """
import os, signal, sys
from asyncio import selector_events

make = selector_events.BaseSelectorEventLoop._make_self_pipe

def interrupted_while_the_loop_is_made(self):
    os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C while `taskapp call` builds its loop
    return make(self)

selector_events.BaseSelectorEventLoop._make_self_pipe = interrupted_while_the_loop_is_made
from taskapp.cli import main
raise SystemExit(main(["call", "examples/hello.py:app", "greet", "name=Ada"]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal")
def test_a_ctrl_c_while_the_call_starts_its_loop_is_one_line_and_exit_130() -> None:
    """Raised there, a KeyboardInterrupt would leave a half-made event loop whose clean-up
    prints "Exception ignored … _ssock"; noted instead, it cancels the call at once."""
    done = subprocess.run(
        [sys.executable, "-c", LOOP_SCRIPT], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr
    assert done.stderr.splitlines()[-1] == "taskapp: interrupted"
    assert done.stdout == ""
