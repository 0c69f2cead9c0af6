"""`taskapp run` as a new user meets it: what it says at start, Ctrl-C and Ctrl-D in a
terminal (a real pty), and an error in the user's own module."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskapp import cli
from taskapp.cli.command import _parser
from taskapp.cli.importer import import_from_string
from taskapp.cli.run import describe_store, http_banner
from tests.test_cli_tasks import TASKAPP

pytestmark = pytest.mark.usefixtures("restore_logging")

REPO = Path(__file__).resolve().parent.parent


class Terminal:
    """`taskapp run` with a pty as its controlling terminal: stdin, stdout and stderr."""

    def __init__(self, *args: str) -> None:
        self.master, slave = pty.openpty()

        def controlling_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.process = subprocess.Popen(
            [*TASKAPP, *args], stdin=slave, stdout=slave, stderr=slave, cwd=REPO,
            preexec_fn=controlling_terminal,
        )  # fmt: skip
        os.close(slave)
        self.screen = b""

    def read_until(self, text: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            assert time.monotonic() < deadline, self.screen.decode(errors="replace")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.master, 4096)
                except OSError:  # the child has gone and closed its side
                    break

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[Callable[..., Terminal]]:
    opened: list[Terminal] = []

    def start(*args: str) -> Terminal:
        opened.append(Terminal(*args))
        return opened[-1]

    yield start
    for one in opened:
        one.close()


@pytest.mark.parametrize(("key", "name"), [(b"\x03", "Ctrl-C"), (b"\x04", "Ctrl-D")])
def test_on_stdio_in_a_terminal_one_key_stops_the_server(
    terminal: Callable[..., Terminal], key: bytes, name: str
) -> None:
    """It says how to stop it; then one Ctrl-C (or Ctrl-D) stops it at once, with no
    Enter to wait for and no traceback."""
    term = terminal("run", "examples/hello.py:app")
    term.read_until(b"Ctrl-D or Ctrl-C stops it")
    term.read_until(b"serving on stdio")
    # A request answered: the server is in its read, where Ctrl-C used to wait for Enter.
    term.type(b'{"jsonrpc": "2.0", "id": 7, "method": "ping"}\n')
    term.read_until(b'"id":7')
    term.type(key)
    try:
        code = term.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"one {name} did not stop the server: {term.screen!r}")
    term.read_until(b"")
    assert code == 0
    assert b"Traceback" not in term.screen


def test_http_says_where_it_listens(tmp_path: Path) -> None:
    """Once it has started (a refused configuration says only why)."""
    process = subprocess.Popen(
        [*TASKAPP, "run", "examples/hello.py:app", "--transport", "http", "--port", "0",
         "--store", f"sqlite:///{tmp_path}/tasks.db"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline().decode() for _ in range(5)]
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert lines == [
        "taskapp: serving 'hello' at http://127.0.0.1:0/mcp\n",
        "  dialects: MCP 2025-11-25 (tasks, SEP-1686) and 2026-07-28 (the tasks extension)\n",
        f"  store: sqlite:///{tmp_path}/tasks.db\n",
        "  auth: off (a task belongs to its session; anyone who can reach the port may call)\n",
        "  Ctrl-C stops it\n",
    ]
    assert out == b""  # stdout stays clean


@pytest.mark.parametrize(
    ("store", "shown"),
    [
        ("redis://:s3cret@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("rediss://me:s3cret@h:6380/1?prefix=a:", "rediss://me:***@h:6380/1?prefix=a:"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        (None, "memory:// (in this process)"),
    ],
)
def test_the_banner_hides_a_stores_password(
    store: str | None, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASKAPP_STORE", raising=False)
    assert describe_store(store) == shown


def test_http_banner_says_auth_is_on() -> None:
    app = import_from_string("tests.http_auth_app:app")
    args = _parser().parse_args(
        ["run", "x:app", "--transport", "http", "--host", "::1", "--port", "9"]
    )
    banner = http_banner(app, args)
    assert banner.startswith("serving ")
    assert " at http://[::1]:9/mcp\n" in banner
    assert "  auth: on (bearer tokens; a task belongs to its principal)\n" in banner


BROKEN = {
    "plain_def": (
        "@app.task_tool()\ndef add(a: int) -> int:\n    return a\n",
        "is not a coroutine function",
        4,
    ),
    "no_annotation": (
        "@app.task_tool()\nasync def add(a) -> int:\n    return a\n",
        "parameter 'a' has no type annotation",
        4,
    ),
    "import_error": ("import not_a_module_anywhere_42\n", "No module named", 4),
    "syntax": ("def (:\n", "invalid syntax", 4),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_an_error_in_the_users_module_names_their_file_and_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, message, line = BROKEN[case]
    path = tmp_path / f"broken_{case}.py"
    path.write_text(f"from taskapp import TaskApp\n\napp = TaskApp('x')\n{source}")
    code = cli.main(["run", f"{path}:app"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"taskapp: cannot load '{path}:app': "), err
    assert message in err
    assert f"{path}, line {line}" in err
    assert "taskapp/" not in err.replace(f"{path}", "")  # none of taskapp's own frames
    assert "Traceback" not in err
