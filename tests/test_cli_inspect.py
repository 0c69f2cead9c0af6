"""`taskapp inspect`: tools, task modes and schemas, as a table or as tools/list JSON."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

import anyio
import pytest

from examples.hello import app as hello
from taskapp import TaskApp, cli

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restore_logging")]

REPO = Path(__file__).resolve().parent.parent
TASKAPP = [sys.executable, "-m", "taskapp"]

# Serving it would fail: its store's directory does not exist. Inspecting it must not.
unstartable = TaskApp("unstartable", version="2.0", store="sqlite:///no/such/dir/tasks.db")


@unstartable.task_tool(mode="required")
async def pick(level: str = "low", tags: list[str] | None = None) -> str:
    """Pick a level.

    Longer text that the table leaves out.
    """
    return level


def inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["inspect", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def _rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.rstrip()) for line in out.splitlines()]


def test_table_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = inspect(capsys, "examples/hello.py:app")
    assert (code, err) == (0, "")
    assert _rows(out) == [
        ["hello 1.0.0"],
        ["A friendly first taskapp server."],
        ["tool", "mode", "arguments", "description"],
        ["echo", "forbidden", "text: string", "Echo the text back."],
        [
            "greet",
            "optional",
            'name: string = "world", delay: number = 0.0',
            "Greet someone, taking `delay` seconds about it.",
        ],
        [
            "slow_add",
            "required",
            "a: number, b: number, steps: integer = 5, delay: number = 0.4",
            "Add a and b slowly, reporting status and progress at every step.",
        ],
    ]


def test_json_is_the_tools_list_result(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = inspect(capsys, "examples.hello:app", "--json")
    assert code == 0
    assert json.loads(out) == {"tools": hello.tools_page(None, with_tasks=True)["tools"]}
    assert [t["execution"]["taskSupport"] for t in json.loads(out)["tools"]] == [
        "forbidden",
        "optional",
        "required",
    ]


def test_an_app_is_inspected_without_being_started(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = inspect(capsys, "tests.test_cli_inspect:unstartable")
    assert (code, err) == (0, "")
    assert _rows(out) == [
        ["unstartable 2.0"],
        ["tool", "mode", "arguments", "description"],
        [
            "pick",
            "required",
            'level: string = "low", tags: array[string]|null = null',
            "Pick a level.",
        ],
    ]


def test_over_a_stdio_server_command(capsys: pytest.CaptureFixture[str]) -> None:
    command = shlex.join([*TASKAPP, "run", "examples/hello.py:app", "--log-level", "warning"])
    code, out, _ = inspect(capsys, command, "--json")
    assert code == 0
    assert json.loads(out) == {"tools": hello.tools_page(None, with_tasks=True)["tools"]}
    code, out, _ = inspect(capsys, command)
    assert (code, _rows(out)[0:2]) == (0, [["hello 1.0.0"], ["A friendly first taskapp server."]])


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("examples/nosuch.py:app", "taskapp: no file 'examples/nosuch.py'"),
        ("examples.hello:nope", "taskapp: module 'examples.hello' has no attribute 'nope'"),
        ("examples.hello:echo", "taskapp: 'examples.hello:echo' is a function, not a TaskApp"),
    ],
)
def test_bad_targets_exit_2(capsys: pytest.CaptureFixture[str], target: str, message: str) -> None:
    code, out, err = inspect(capsys, target)
    assert (code, out) == (2, "")
    assert err.startswith(message)


async def _run(*args: str, **env: str) -> tuple[int, bytes]:
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    with anyio.fail_after(30):
        done = await anyio.run_process(
            [*TASKAPP, *args], check=False, cwd=REPO, env={**clean, **env}
        )
    return done.returncode, done.stdout


async def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    target = "examples/hello.py:app"
    code, plain = await _run("inspect", target)
    assert code == 0
    assert plain.startswith(b"hello 1.0.0\n")
    assert b"\x1b[" not in plain  # a pipe is no terminal
    coloured = (await _run("inspect", target, FORCE_COLOR="1"))[1]
    assert b"\x1b[36m" in coloured  # task tools in cyan
    muted = (await _run("inspect", target, FORCE_COLOR="1", NO_COLOR="1"))[1]
    assert b"\x1b[1m" in muted  # still bold headers...
    assert re.search(rb"\x1b\[[0-9;]*3[0-9]m", muted) is None  # ...but no colour


def test_a_2026_server_is_shown_as_deciding_per_call(capsys: pytest.CaptureFixture[str]) -> None:
    """In 2026-07-28 tools/list carries no taskSupport: the mode column does not guess."""
    command = shlex.join([*TASKAPP, "run", "examples/hello.py:app", "--log-level", "warning"])
    code, out, _ = inspect(capsys, command, "--dialect", "2026-07-28")
    assert code == 0
    rows = _rows(out)
    modes = {row[0]: row[1] for row in rows[3:]}
    assert modes == dict.fromkeys(("echo", "greet", "slow_add"), "server decides")
