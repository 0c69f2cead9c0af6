"""`taskapp call`: in process, over a stdio command and over HTTP; progress, questions, Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process

from taskapp import cli
from taskapp.cli.call import parse_arguments
from taskapp.cli.common import CliError
from taskapp.cli.prompt import TerminalAsker, parse_answer
from taskapp.cli.view import Feedback
from taskapp.wire.models import Task

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restore_logging")]

REPO = Path(__file__).resolve().parent.parent
TASKAPP = [sys.executable, "-m", "taskapp"]
HELLO = "examples/hello.py:app"
FIXTURE = "tests/fixture_app.py:app"
STARTED = re.compile(r"task (\S+) started \((\w+)\)")
FIXTURE_INFO = {"name": "fixture", "version": "1.0.0"}
SLOW_ADD_SCHEMA = {
    "properties": {"a": {"type": "number"}, "b": {"type": "number"}, "name": {"type": "string"}}
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TASKAPP_STORE", "FORCE_COLOR")}
    env.update(extra)
    return env


async def taskapp(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """The real command in a subprocess (stdin, stdout and stderr are pipes: no terminal)."""
    with anyio.fail_after(30):
        return await anyio.run_process(
            [*TASKAPP, *args], input=stdin, check=False, cwd=REPO, env=_env()
        )


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`taskapp call ...` in this process: exit code, stdout, stderr."""
    code = cli.main(["call", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("TASKAPP_STORE", raising=False)


# -- in process --------------------------------------------------------------------


LEGACY = ("--dialect", "2025-11-25")


@pytest.mark.parametrize(
    ("dialect", "delay"),
    # 2025-11-25 hears every status as a notification; 2026-07-28 polls tasks/get every
    # pollIntervalMs (500 ms here), so the status must last for a poll to see it.
    [(LEGACY, "delay=0"), (("--dialect", "2026-07-28"), "delay=1"), ((), "delay=1")],
    ids=["2025", "2026", "auto"],
)
def test_call_in_process_runs_an_optional_tool_as_a_task(
    capsys: pytest.CaptureFixture[str], dialect: tuple[str, ...], delay: str
) -> None:
    code, out, err = call(capsys, *dialect, HELLO, "greet", "name=Ada", delay)
    assert (code, out) == (0, "Hello, Ada!\n")
    started = STARTED.search(err)
    assert started is not None
    assert started.group(2) == "greet"
    assert "working: thinking about Ada\n" in err
    assert err.endswith("completed\n")


def test_no_task_runs_an_optional_tool_inline(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, HELLO, "greet", "name=Ada", "--no-task")
    assert (code, out, err) == (0, "Hello, Ada!\n", "")


def test_no_task_is_refused_for_a_required_tool(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, *LEGACY, HELLO, "slow_add", "a=1", "b=2", "--no-task")
    assert (code, out) == (2, "")
    assert err == "taskapp: slow_add runs only as a task (taskSupport: required): drop --no-task\n"


def test_no_task_is_refused_by_a_2026_server_for_a_required_tool(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2026 tools/list has no taskSupport: the server's -32021 says it, and exit 2 too."""
    code, out, err = call(capsys, HELLO, "slow_add", "a=1", "b=2", "--no-task")
    assert (code, out) == (2, "")
    assert err == (
        "taskapp: slow_add runs only as a task (the server requires the tasks extension "
        "for it): drop --no-task\n"
    )


def test_json_prints_the_call_tool_result(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, *LEGACY, HELLO, "greet", "--json", "--args", '{"name": "Ada"}')
    started = STARTED.search(err)
    assert code == 0
    assert started is not None
    assert json.loads(out) == {
        "content": [{"type": "text", "text": "Hello, Ada!"}],
        "isError": False,
        "_meta": {"io.modelcontextprotocol/related-task": {"taskId": started.group(1)}},
    }


def test_json_in_2026_prints_the_result_inlined_in_the_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = call(capsys, HELLO, "greet", "--json", "--args", '{"name": "Ada"}')
    assert code == 0
    assert STARTED.search(err) is not None
    assert json.loads(out) == {
        "content": [{"type": "text", "text": "Hello, Ada!"}],
        "isError": False,
    }


def test_a_forbidden_tool_runs_inline_and_keeps_string_arguments_as_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `text` is declared a string, so 1.20 stays "1.20" rather than becoming 1.2.
    assert call(capsys, HELLO, "echo", "text=1.20") == (0, "1.20\n", "")


def test_numbers_are_read_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, HELLO, "slow_add", "a=1", "b=2.5", "steps=1", "delay=0")
    assert (code, out) == (0, "1 + 2.5 = 3.5\n")


def test_key_value_parsing() -> None:
    pairs = ["a=1", "b=2.5", "name=Ada", 'tags=["x", 2]', "flag=true", "raw=not json", "e="]
    assert parse_arguments(pairs, None, {}) == {
        "a": 1,
        "b": 2.5,
        "name": "Ada",
        "tags": ["x", 2],
        "flag": True,
        "raw": "not json",
        "e": "",
    }
    # A string parameter takes the text as written; --args comes first, pairs override.
    schema = SLOW_ADD_SCHEMA
    assert parse_arguments(["name=12", "a=3"], '{"a": 1, "b": 2}', schema) == {
        "a": 3,
        "b": 2,
        "name": "12",
    }
    assert parse_arguments(["x==y"], None, {}) == {"x": "=y"}


@pytest.mark.parametrize(
    ("pairs", "args_json", "message"),
    [
        (["novalue"], None, "'novalue' is not key=value"),
        (["=1"], None, "'=1' is not key=value"),
        ([], "[1, 2]", "--args must be a JSON object"),
        ([], "{nope", "--args is not valid JSON"),
    ],
)
def test_bad_arguments_are_usage_errors(
    pairs: list[str], args_json: str | None, message: str
) -> None:
    with pytest.raises(CliError) as caught:
        parse_arguments(pairs, args_json, {})
    assert str(caught.value).startswith(message)
    assert caught.value.code == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["nope"],
            "taskapp: unknown tool 'nope'; the server has: echo, greet, slow_add\n",
        ),
        (
            ["slow_add", "a=1"],
            "taskapp: slow_add: missing argument b (it takes a: number, b: number, "
            "steps: integer = 5, delay: number = 0.4)\n",
        ),
        (
            ["greet", "nmae=Ada"],
            'taskapp: greet: unknown argument nmae (it takes name: string = "world", '
            "delay: number = 0.0)\n",
        ),
        (
            ["greet", "name"],
            "taskapp: 'name' is not key=value (e.g. name=Ada, a=1, tags='[\"x\"]')\n",
        ),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert call(capsys, HELLO, *args) == (2, "", message)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuchmodule:app", "taskapp: no module named 'nosuchmodule'"),
        ("examples.hello:echo", "taskapp: 'examples.hello:echo' is a function, not a TaskApp"),
        ("no-such-program-here", "taskapp: cannot start no-such-program-here: No such file"),
        ("'unbalanced", 'taskapp: cannot split the command "\'unbalanced"'),
    ],
)
def test_bad_targets_exit_2(capsys: pytest.CaptureFixture[str], target: str, message: str) -> None:
    code, out, err = call(capsys, target, "greet")
    assert (code, out) == (2, "")
    assert err.startswith(message)


def test_header_is_for_urls_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, HELLO, "greet", "--header", "Authorization: Bearer x")
    assert (code, err) == (2, "taskapp: --header is for http(s) targets only\n")
    code, _, err = call(capsys, "http://127.0.0.1:1/mcp", "greet", "--header", "nocolon")
    assert (code, err) == (2, "taskapp: --header 'nocolon' is not 'Name: value'\n")


@pytest.mark.parametrize(
    ("dialect", "status"),
    # A tool's exception is a `failed` task in 2025-11-25 and a `completed` one with
    # isError in the 2026 tasks extension ("failed" is for JSON-RPC errors only).
    [(LEGACY, "failed"), ((), "completed")],
    ids=["2025", "2026"],
)
def test_a_failing_task_exits_1(
    capsys: pytest.CaptureFixture[str], dialect: tuple[str, ...], status: str
) -> None:
    code, out, err = call(capsys, *dialect, FIXTURE, "explode", "message=kaboom")
    assert (code, out) == (1, "")
    assert f"\n{status}: ValueError: kaboom\n" in err  # the task's status line
    assert err.endswith("\ntaskapp: explode failed: ValueError: kaboom\n")


def test_a_tool_error_inline_exits_1_and_json_shows_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = call(capsys, FIXTURE, "explode", "--no-task", "--json")
    assert code == 1
    shown = json.loads(out)
    assert shown.pop("_meta") == {"io.modelcontextprotocol/serverInfo": FIXTURE_INFO}
    assert shown == {"content": [{"type": "text", "text": "ValueError: boom"}], "isError": True}
    code, out, _ = call(capsys, *LEGACY, FIXTURE, "explode", "--no-task", "--json")
    assert code == 1
    assert json.loads(out) == {
        "content": [{"type": "text", "text": "ValueError: boom"}],
        "isError": True,
    }


def test_a_protocol_error_exits_1_with_its_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, FIXTURE, "protocol_fail")
    assert (code, out) == (1, "")
    assert err.endswith("taskapp: protocol_fail failed: custom (JSON-RPC error -32042)\n")
    code, out, _ = call(capsys, FIXTURE, "protocol_fail", "--json")
    assert code == 1
    assert json.loads(out) == {
        "error": {"code": -32042, "message": "custom", "data": {"reason": "because", "n": 7}}
    }


# -- the real command: stdio server, progress, questions ------------------------------


def test_call_over_a_stdio_server_command(capsys: pytest.CaptureFixture[str]) -> None:
    command = shlex.join([*TASKAPP, "run", HELLO, "--log-level", "warning"])
    code, out, err = call(capsys, command, "greet", "name=Ada")
    assert (code, out) == (0, "Hello, Ada!\n")
    assert STARTED.search(err) is not None


async def test_progress_and_status_are_plain_lines_off_a_terminal() -> None:
    args = ("call", *LEGACY, HELLO, "slow_add", "a=1", "b=2", "steps=3", "delay=0.01")
    done = await taskapp(*args)
    assert (done.returncode, done.stdout) == (0, b"1 + 2 = 3\n")
    lines = done.stderr.decode().splitlines()
    assert STARTED.fullmatch(lines[0]) is not None
    for step in (1, 2, 3):
        assert f"working: step {step}/3" in lines
        assert f"progress {step}/3" in lines
    assert lines.index("progress 1/3") < lines.index("progress 2/3") < lines.index("progress 3/3")
    assert lines[-1] == "completed"
    assert "\x1b[" not in done.stderr.decode()  # no colour, no cursor moves off a terminal


async def test_2026_progress_is_the_status_message_polled_at_the_server_interval() -> None:
    """In 2026-07-28 a task's progress is its statusMessage, seen at each tasks/get poll:
    a step that lasts longer than the poll interval (500 ms) shows as a line, and so does the
    last status before the end (the task's own, then `completed` with its result)."""
    args = ("call", "--dialect", "2026-07-28", HELLO, "slow_add", "a=1", "b=2", "steps=3")
    done = await taskapp(*args, "delay=0.7")
    assert (done.returncode, done.stdout) == (0, b"1 + 2 = 3\n")
    lines = done.stderr.decode().splitlines()
    assert STARTED.fullmatch(lines[0]) is not None
    # each step sets a status and then reports progress, which 2026 shows as the message:
    # a poll sees one or the other of each step
    shown = [
        next(
            i for i, line in enumerate(lines) if line in (f"working: step {n}/3", f"working: {n}/3")
        )
        for n in (1, 2, 3)
    ]
    assert shown == sorted(shown), lines
    assert lines[-1] == "completed"


@pytest.mark.parametrize("dialect", ["2025-11-25", "2026-07-28"])
async def test_an_elicitation_is_answered_on_stdin(dialect: str) -> None:
    """2025: the server asks with elicitation/create; 2026: the task's inputRequests,
    answered with tasks/update. The same prompt either way."""
    args = ("call", "--dialect", dialect, "examples/approval.py:app", "deploy", "service=api")
    done = await taskapp(*args, "version=1.20", stdin=b"y\nship it\n")
    assert (done.returncode, done.stdout) == (0, b"Deployed api 1.20. Note: ship it\n")
    err = done.stderr.decode()
    assert "Deploy api 1.20 to production?\n" in err
    assert "  approve - Go ahead with the deployment? [y/n]: \n" in err
    assert "  note - Anything to add: \n" in err


@pytest.mark.parametrize("dialect", ["2025-11-25", "2026-07-28"])
async def test_an_inline_question_is_answered_on_stdin(dialect: str) -> None:
    """--no-task: 2026 asks in an InputRequiredResult round (MRTR) and the call is sent
    again with the answer; 2025 asks with elicitation/create during the call."""
    args = ("call", "--dialect", dialect, "examples/approval.py:app", "ask_name", "--no-task")
    done = await taskapp(*args, stdin=b"Zed\n")
    assert (done.returncode, done.stdout) == (0, b"Hello, Zed!\n"), done.stderr
    assert "What is your name?\n" in done.stderr.decode()
    assert STARTED.search(done.stderr.decode()) is None


async def test_a_bad_answer_is_asked_again() -> None:
    args = ("call", "examples/approval.py:app", "deploy", "service=api", "version=2")
    done = await taskapp(*args, stdin=b"maybe\nno\n\n")
    assert (done.returncode, done.stdout) == (0, b"Deployment of api 2 not approved (accept).\n")
    assert done.stderr.decode().count("approve - Go ahead with the deployment?") == 2
    assert "  answer y or n\n" in done.stderr.decode()


async def test_the_end_of_stdin_declines() -> None:
    args = ("call", "examples/approval.py:app", "deploy", "service=api", "version=2")
    done = await taskapp(*args)
    assert (done.returncode, done.stdout) == (0, b"Deployment of api 2 not approved (decline).\n")
    assert "(no more input: declined)" in done.stderr.decode()


# -- Ctrl-C ----------------------------------------------------------------------------


async def _when_started(
    argv: Sequence[str], act: Callable[[Process, str], Awaitable[None]]
) -> tuple[int, str, str]:
    """Start `taskapp ARGV` (a call); once its task has started, `act(process, task_id)`,
    then read stderr to its end: (exit code, task id, stderr)."""
    async with await anyio.open_process(
        [*TASKAPP, *argv], cwd=REPO, env=_env(), stdin=subprocess.DEVNULL
    ) as process:
        assert process.stderr is not None
        seen = b""
        with anyio.fail_after(20):
            while (started := STARTED.search(seen.decode(errors="replace"))) is None:
                seen += await process.stderr.receive()
            await act(process, started.group(1))
            async for chunk in process.stderr:
                seen += chunk
            code = await process.wait()
    return code, started.group(1), seen.decode()


async def _interrupt_when_started(argv: Sequence[str]) -> tuple[int, str, str]:
    """Start `taskapp call`, send SIGINT once its task has started; (exit code, id, stderr)."""

    async def interrupt(process: Process, task_id: str) -> None:
        process.send_signal(signal.SIGINT)

    return await _when_started(argv, interrupt)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal")
@pytest.mark.parametrize("dialect", ["2025-11-25", "2026-07-28"])
async def test_ctrl_c_cancels_the_task_and_exits_130(dialect: str) -> None:
    argv = ["call", "--dialect", dialect, HELLO, "slow_add", "a=1", "b=2", "steps=50", "delay=0.1"]
    code, task_id, err = await _interrupt_when_started(argv)
    assert code == 130
    assert err.endswith(f"taskapp: interrupted: cancelled task {task_id}\n")
    assert "cancelled: The task was cancelled by the requestor.\n" in err


# -- over HTTP ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def http_server(*extra: str) -> AsyncIterator[str]:
    """`taskapp run examples/hello.py:app --transport http` on a free port; yields its URL."""
    port = _free_port()
    argv = [*TASKAPP, "run", HELLO, "--transport", "http", "--port", str(port), *extra]
    argv += ["--log-level", "warning"]
    async with await anyio.open_process(
        argv, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        try:
            with anyio.fail_after(20):
                while True:
                    try:
                        await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                        break
                    except OSError:
                        assert process.returncode is None, "the server did not start"
                        await anyio.sleep(0.05)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.send_signal(signal.SIGINT)
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


@pytest.mark.parametrize("dialect", ["auto", "2025-11-25", "2026-07-28"])
async def test_call_over_http(dialect: str) -> None:
    async with http_server() as url:
        done = await taskapp(
            "call", "--dialect", dialect, url, "greet", "name=Ada", "--header", "X-Trace: 1"
        )
        listed = await taskapp("call", "--dialect", dialect, url, "nope")
    assert (done.returncode, done.stdout) == (0, b"Hello, Ada!\n")
    assert STARTED.search(done.stderr.decode()) is not None
    assert listed.returncode == 2
    assert listed.stderr.endswith(b"unknown tool 'nope'; the server has: echo, greet, slow_add\n")


async def test_an_unreachable_url_exits_2() -> None:
    done = await taskapp("call", f"http://127.0.0.1:{_free_port()}/mcp", "greet")
    assert done.returncode == 2
    assert done.stderr.startswith(b"taskapp: cannot connect to http://127.0.0.1:")


def _sqlite_available() -> bool:
    try:
        import taskapp.stores.sqlite  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal")
@pytest.mark.skipif(not _sqlite_available(), reason="taskapp.stores.sqlite cannot be imported")
async def test_ctrl_c_over_http_reaches_the_server(tmp_path: Path) -> None:
    """The server itself records the task `cancelled` (read back from its SQLite store)."""
    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    async with http_server("--store", store) as url:
        argv = ["call", url, "slow_add", "a=1", "b=2", "steps=50", "delay=0.1"]
        code, task_id, err = await _interrupt_when_started(argv)
        shown = await taskapp("tasks", "get", "--store", store, task_id, "--json")
    assert code == 130, err
    assert err.endswith(f"taskapp: interrupted: cancelled task {task_id}\n")
    assert shown.returncode == 0
    task: dict[str, Any] = json.loads(shown.stdout)
    assert (task["taskId"], task["status"], task["tool"]) == (task_id, "cancelled", "slow_add")
    assert task["statusMessage"] == "The task was cancelled by the requestor."


# -- --version and --help ------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from taskapp._version import __version__

    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"taskapp {__version__}\n"


@pytest.mark.parametrize(
    "command",
    [[], ["call"], ["inspect"], ["tasks"], ["tasks", "list"], ["tasks", "cancel"], ["run"]],
)
def test_help_everywhere_has_examples(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([*command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: taskapp")
    if command != ["run"]:
        assert "examples:\n  taskapp " in text
        assert "exit codes: 0" in text


# -- the terminal: questions and the live bar ---------------------------------------------


def _reader(*lines: str | None) -> Callable[[], Awaitable[str | None]]:
    answers = iter(lines)

    async def read() -> str | None:
        return next(answers)

    return read


APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {"type": "boolean", "description": "Go ahead?"},
        "count": {"type": "integer", "default": 3},
        "level": {"type": "string", "enum": ["low", "high"]},
        "ratio": {"type": "number"},
        "note": {"type": "string"},
    },
    "required": ["approve", "level", "ratio"],
}


async def test_the_terminal_asks_every_field_with_its_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # "sure" is no boolean, "" takes count's default, 2 picks the second level,
    # "x" is no number, "" leaves the optional note out.
    asker = TerminalAsker(read_line=_reader("sure\n", "yes\n", "\n", "2\n", "x\n", "0.5\n", "\n"))
    answer = await asker({"message": "Ready?", "requestedSchema": APPROVAL_SCHEMA})
    assert answer == {
        "action": "accept",
        "content": {"approve": True, "count": 3, "level": "high", "ratio": 0.5},
    }
    err = capsys.readouterr().err
    assert err.startswith("Ready?\n  approve - Go ahead? [y/n]: \n  answer y or n\n")
    assert "  count [default 3]: \n" in err
    assert "  level [low/high]: \n" in err
    assert "  ratio: \n  a number, please\n" in err
    assert "  note [optional]: \n" in err


async def test_a_required_field_left_empty_is_asked_again() -> None:
    asker = TerminalAsker(read_line=_reader("\n", "true\n", "\n", "low\n", "1\n", "hi\n"))
    answer = await asker({"message": "?", "requestedSchema": APPROVAL_SCHEMA})
    assert answer == {
        "action": "accept",
        "content": {"approve": True, "count": 3, "level": "low", "ratio": 1, "note": "hi"},
    }


async def test_the_end_of_input_declines_the_question() -> None:
    asker = TerminalAsker(read_line=_reader("y\n", None))
    answer = await asker({"message": "?", "requestedSchema": APPROVAL_SCHEMA})
    assert answer == {"action": "decline"}


async def test_a_url_question_is_accepted_with_yes() -> None:
    params = {"mode": "url", "message": "Sign in", "url": "https://example.com/x"}
    assert await TerminalAsker(read_line=_reader("y\n"))(params) == {"action": "accept"}
    assert await TerminalAsker(read_line=_reader("n\n"))(params) == {"action": "decline"}
    assert await TerminalAsker(read_line=_reader(None))(params) == {"action": "decline"}


@pytest.mark.parametrize(
    ("text", "prop", "value"),
    [
        ("Off", {"type": "boolean"}, False),
        ("-4", {"type": "integer"}, -4),
        ("1e3", {"type": "number"}, 1000.0),
        ("a, c", {"type": "array", "items": {"enum": ["a", "b", "c"]}}, ["a", "c"]),
        ("2", {"type": "string", "oneOf": [{"const": "x"}, {"const": "y"}]}, "y"),
        ("free text", {"type": "string"}, "free text"),
    ],
)
def test_answers_are_typed_by_the_schema(text: str, prop: dict[str, Any], value: Any) -> None:
    assert parse_answer(text, prop) == value


@pytest.mark.parametrize(
    ("text", "prop", "message"),
    [
        ("1.5", {"type": "integer"}, "a whole number, please"),
        ("3", {"enum": ["a", "b"]}, "choose one of: a, b"),
        ("a, z", {"type": "array", "items": {"enum": ["a"]}}, "choose one of: a"),
    ],
)
def test_bad_answers_say_what_is_expected(text: str, prop: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_answer(text, prop)


def _task(status: str, message: str | None) -> Task:
    stamp = "2026-01-01T00:00:00Z"
    return Task.model_validate(
        {"taskId": "t1", "status": status, "statusMessage": message, "createdAt": stamp,
         "lastUpdatedAt": stamp, "ttl": None}
    )  # fmt: skip


async def test_on_a_terminal_a_live_bar_shows_progress_and_the_status() -> None:
    from rich.console import Console

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, no_color=True)
    feedback = Feedback("slow_add", console)
    feedback.begin("t1")
    await feedback.on_progress(1, 4, None)
    await feedback.on_status(_task("working", "step 1/4"))
    with feedback.paused():
        console.print("a question")
    await feedback.on_progress(2, 4, "halfway")
    feedback.end()
    raw = screen.getvalue()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)  # without escape sequences
    assert "task t1 started (slow_add)\n" in text
    assert re.search(r"slow_add ━+ +25% 0:00:00 step 1/4\r", text) is not None
    assert re.search(r"slow_add ━+ +50% 0:00:00 halfway\n", text) is not None
    assert "a question\n" in text
    assert raw.endswith("\x1b[?25h\r\x1b[1A\x1b[2K")  # the cursor back, the bar erased
    assert "\x1b[3" not in raw  # NO_COLOR: no foreground colours


async def test_off_a_terminal_each_change_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    feedback = Feedback("t")
    feedback.begin("t1")
    await feedback.on_status(_task("working", "one"))
    await feedback.on_status(_task("working", "one"))  # no change: no line
    await feedback.on_progress(3, None, "three")
    await feedback.on_status(_task("input_required", "one"))
    feedback.end()
    assert capsys.readouterr().err == (
        "task t1 started (t)\nworking: one\nprogress 3: three\ninput_required: one\n"
    )


# -- --dialect against a 2025-only server ----------------------------------------------------


async def test_auto_falls_back_to_2025_and_a_forced_2026_says_why_not() -> None:
    """tests/legacy_server.py (the official SDK 1.30) knows no server/discover."""
    server = shlex.join([sys.executable, "tests/legacy_server.py"])
    done = await taskapp("call", server, "echo", "text=old")
    assert (done.returncode, done.stdout) == (0, b"old\n"), done.stderr
    forced = await taskapp("call", "--dialect", "2026-07-28", server, "echo", "text=old")
    assert (forced.returncode, forced.stdout) == (2, b"")
    assert forced.stderr.decode().endswith(
        "the server does not speak 2026-07-28 (server/discover failed or had no answer): "
        "connect with dialect='auto' or '2025-11-25'\n"
    )


# -- issue 21: Ctrl-C at any moment, logs, a task cancelled elsewhere, server stderr -------

#: `taskapp call` with everything imported first: "ready" on stderr says the command is
#: about to run, so that a SIGINT lands in the command, not in Python's own start-up.
READY_THEN_CALL = (
    "import sys; import taskapp.cli.command; from taskapp.cli import main; "
    "sys.stderr.write('ready\\n'); "
    "sys.stderr.flush(); sys.exit(main(sys.argv[1:]))"
)


async def _interrupt_after(argv: Sequence[str], delay: float) -> tuple[int, str]:
    async with await anyio.open_process(
        [sys.executable, "-c", READY_THEN_CALL, *argv], cwd=REPO, env=_env(),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    ) as process:  # fmt: skip
        assert process.stderr is not None
        seen = b""
        try:
            with anyio.fail_after(30):
                while b"ready\n" not in seen:
                    seen += await process.stderr.receive()
                await anyio.sleep(delay)
                process.send_signal(signal.SIGINT)
                async for chunk in process.stderr:
                    seen += chunk
                code = await process.wait()
        except TimeoutError:
            process.kill()  # a call that never ends must fail the test, not hang the run
            raise AssertionError(f"no exit 30 s after SIGINT: {seen.decode()}") from None
    return code, seen.decode()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal")
@pytest.mark.parametrize("dialect", ["2025-11-25", "2026-07-28"])
async def test_ctrl_c_at_any_moment_over_http_exits_130_without_a_traceback(dialect: str) -> None:
    """Ctrl-C while connecting, listing tools, starting the task, following it, or
    cancelling it: always exit 130 and a `taskapp: interrupted…` line, never an
    ExceptionGroup (the HTTP client's POSTs outliving it, issue 21)."""
    argv = ["call", "--dialect", dialect, "URL", "slow_add", "a=1", "b=2", "steps=50", "delay=0.05"]
    async with http_server() as url:
        argv[3] = url
        for step in range(12):  # from the first request to well into the task
            code, err = await _interrupt_after(argv, 0.02 + step * 0.06)
            assert (code, "Traceback" in err) == (130, False), err
            assert err.splitlines()[-1].startswith("taskapp: interrupted"), err


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal")
@pytest.mark.skipif(not _sqlite_available(), reason="taskapp.stores.sqlite cannot be imported")
@pytest.mark.parametrize("dialect", ["2025-11-25", "2026-07-28"])
async def test_a_task_cancelled_elsewhere_is_reported_cancelled(
    tmp_path: Path, dialect: str
) -> None:
    """An operator's `taskapp tasks cancel`: one line that says cancelled and why, not
    "failed: …"; exit 1 (docs/cli.md: the task did not complete; 130 is our own Ctrl-C)."""
    store = f"sqlite:///{tmp_path / 'tasks.db'}"

    async def cancel_elsewhere(process: Process, task_id: str) -> None:
        cancel = await taskapp("tasks", "cancel", "--store", store, task_id)
        assert cancel.returncode == 0, cancel.stderr

    async with http_server("--store", store) as url:
        argv = ["call", "--dialect", dialect, url, "slow_add", "a=1", "b=2", "steps=100",
                "delay=0.1"]  # fmt: skip
        code, _, err = await _when_started(argv, cancel_elsewhere)
    assert code == 1, err
    assert err.endswith("\ntaskapp: slow_add cancelled: The task was cancelled by the requestor.\n")
    assert "failed" not in err


CHATTY = '''
import anyio
from taskapp import TaskApp, TaskContext

app = TaskApp("chatty")


@app.task_tool(mode="optional")
async def chatty(ctx: TaskContext, delay: float = 0.0) -> str:
    """Log twice, a moment apart."""
    await ctx.log("hello from the tool")
    await anyio.sleep(delay)
    await ctx.log({"rows": 3}, level="warning", logger="db")
    await anyio.sleep(delay)
    return "done"
'''


@pytest.fixture
def chatty_app(tmp_path: Path) -> str:
    (tmp_path / "chatty.py").write_text(CHATTY)
    return f"{tmp_path / 'chatty.py'}:app"


@pytest.mark.parametrize(
    ("dialect", "no_task", "logged"),
    # 2025-11-25 sends a task's logs as notifications/message; in 2026-07-28 a task's
    # logs are dropped (no stream to carry them) and an inline call gets them because
    # `call` opts in with `_meta` logLevel.
    [("2025-11-25", (), True), ("2026-07-28", ("--no-task",), True), ("2026-07-28", (), False)],
    ids=["2025-task", "2026-inline", "2026-task"],
)
async def test_the_tool_logs_are_shown(
    chatty_app: str, dialect: str, no_task: tuple[str, ...], logged: bool
) -> None:
    done = await taskapp("call", "--dialect", dialect, chatty_app, "chatty", *no_task)
    assert (done.returncode, done.stdout) == (0, b"done\n"), done.stderr
    lines = done.stderr.decode().splitlines()
    shown = ["[info] hello from the tool", '[warning] db: {"rows": 3}']
    assert [line for line in lines if line.startswith("[")] == (shown if logged else [])


#: Run argv[1:] as the leader of a new session whose controlling terminal is stdin (a
#: pty), as a shell runs a command: a Ctrl-C typed there is SIGINT to its process group.
IN_A_SESSION = (
    "import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def _in_a_terminal(argv: Sequence[str], *, ctrl_c_when: bytes | None = None) -> tuple[int, str]:
    """Run `argv` on a pseudo-terminal (stdin, stdout and stderr); what it drew. With
    `ctrl_c_when`, Ctrl-C is typed once that text has been drawn."""
    import pty

    primary, secondary = pty.openpty()
    env = {k: v for k, v in _env(TERM="xterm-256color", COLUMNS="100").items() if k != "NO_COLOR"}
    process = subprocess.Popen(
        [sys.executable, "-c", IN_A_SESSION, *argv],
        stdin=secondary, stdout=secondary, stderr=secondary, cwd=REPO, env=env,
    )  # fmt: skip
    os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        drawn += chunk
        if ctrl_c_when is not None and ctrl_c_when in drawn:
            os.write(primary, b"\x03")
            ctrl_c_when = None
    os.close(primary)
    return process.wait(30), drawn.decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pseudo-terminal")
def test_on_a_terminal_logs_are_dim_above_the_bar_and_the_server_stderr_is_kept(
    chatty_app: str,
) -> None:
    """A stdio server started by `call` logs on its stderr ("serving on stdio", "task
    created"): kept off the terminal, where it would tear the live bar; the tool's own
    logs are drawn dim above the bar."""
    server = shlex.join([*TASKAPP, "run", chatty_app, "--log-level", "info"])
    code, drawn = _in_a_terminal([*TASKAPP, "call", "--dialect", "2025-11-25", server, "chatty"])
    assert code == 0, drawn[-2000:]
    assert "\x1b[2m[info] hello from the tool" in drawn  # dim
    assert "serving on stdio" not in drawn
    assert "task created" not in drawn
    assert "done\r\n" in drawn


async def test_a_stdio_server_stderr_is_shown_after_a_failure_or_with_verbose() -> None:
    server = shlex.join([*TASKAPP, "run", FIXTURE, "--log-level", "info"])
    ok = await taskapp("call", server, "echo", "text=hi")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, b"hi\n", b"")
    verbose = await taskapp("call", "-v", server, "echo", "text=hi")
    assert verbose.returncode == 0
    assert f"-- stderr of {server}:\n".encode() in verbose.stderr
    assert b"serving on stdio" in verbose.stderr
    failed = await taskapp("call", server, "explode", "message=one\ntwo")
    assert failed.returncode == 1
    err = failed.stderr.decode()
    assert "taskapp: explode failed: ValueError: one / two\n" in err  # one line
    assert err.index("taskapp: explode failed") < err.index(f"-- stderr of {server}:\n")
    assert "tool raised" in err  # the server's own account, traceback and all


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pseudo-terminal")
@pytest.mark.parametrize("dialect", ["2025-11-25", "2026-07-28"])
def test_ctrl_c_typed_at_a_terminal_cancels_the_task_of_a_stdio_server(dialect: str) -> None:
    """As a user meets it: the bar is drawn, Ctrl-C is typed, the task is cancelled on the
    server (which the terminal's SIGINT does not reach: it runs in its own session) and
    the command exits 130 with one line; no traceback, no server log over the bar."""
    server = shlex.join([*TASKAPP, "run", HELLO, "--log-level", "info"])
    argv = [*TASKAPP, "call", "--dialect", dialect, server, "slow_add", "a=1", "b=2", "steps=100"]
    code, drawn = _in_a_terminal([*argv, "delay=0.1"], ctrl_c_when=b"/100")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)  # without escape sequences
    assert code == 130, text[-2000:]
    started = STARTED.search(text)
    assert started is not None
    assert text.endswith(f"taskapp: interrupted: cancelled task {started.group(1)}\r\n")
    assert "Traceback" not in text
    assert "serving on stdio" not in text
