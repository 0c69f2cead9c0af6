"""taskapp as a library: its logs go to stdlib `logging`, never to the program's stdout.

structlog unconfigured prints every event, debug ones included, on stdout. Only the
CLI and the serving entry points configure it; a program that merely uses
`taskapp.Client` gets `taskapp.*` stdlib records, which it configures as it likes.
"""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import structlog

from taskapp import _client_tasks
from taskapp._logging import configure_logging, get_logger
from taskapp.transports import http_client

PACKAGE = Path(__file__).resolve().parent.parent / "taskapp"

# Modules still on structlog.get_logger, left to the branch that is editing them (the
# merge of issue 18's engine/transport item swaps them): this set may only shrink.
PENDING: set[str] = set()  # every taskapp module logs through taskapp._logging

PROGRAM = textwrap.dedent(
    """
    import logging
    import sys

    import anyio

    from taskapp import Client, TaskApp, TaskContext

    app = TaskApp("quiet")


    @app.task_tool()
    async def chatty(ctx: TaskContext) -> str:
        await ctx.log("a line for the client", "debug")
        return "ok"


    @app.tool()
    async def fails() -> str:
        raise RuntimeError("boom")


    async def main(target: str) -> None:
        server = [sys.executable, "-m", "taskapp", "run", f"{__file__}:app", "--log-level=warning"]
        async with Client(app if target == "memory" else server, dialect="2025-11-25") as client:
            await client.call_tool("fails")
            created = await client.call_tool_as_task("chatty")
            await client.get_task_result(created.task.task_id)
        async with Client(app if target == "memory" else server) as client:  # auto
            assert client.dialect == "2026-07-28"  # the probe, polling: quiet too
            await client.call_tool("fails")
            await client.call_tool("chatty")
        print("MARKER")


    if __name__ == "__main__":
        if sys.argv[2] == "configured":
            line = "%(levelname)s %(name)s %(message)s"
            logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format=line)
        anyio.run(main, sys.argv[1])
    """
)


def run_program(tmp_path: Path, target: str, logging_: str) -> subprocess.CompletedProcess[str]:
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    return subprocess.run(
        [sys.executable, str(program), target, logging_],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip


@pytest.mark.parametrize("target", ["stdio", "memory"])
def test_a_program_using_the_client_sees_nothing_on_its_stdout(tmp_path: Path, target: str) -> None:
    done = run_program(tmp_path, target, "unconfigured")
    assert done.stdout == "MARKER\n"
    # Python's default for unconfigured stdlib logging: WARNING and above on stderr
    # ("tool raised"), nothing below.
    for quiet in ("session initialized", "task created", "task ended", "debug"):
        assert quiet not in done.stderr


def test_a_program_that_configures_logging_gets_taskapp_records(tmp_path: Path) -> None:
    done = run_program(tmp_path, "memory", "configured")
    assert done.stdout == "MARKER\n"
    assert re.search(r"^INFO taskapp\.engine task created task_id=", done.stderr, re.M)
    assert re.search(r"^WARNING taskapp tool raised tool='fails'", done.stderr, re.M)


@pytest.fixture
def unconfigured(restore_logging: None) -> None:
    structlog.reset_defaults()


@pytest.mark.usefixtures("unconfigured")
def test_client_loggers_write_stdlib_records_not_stdout(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="taskapp")
    http_client.log.debug("GET stream ended", reason="gone")
    _client_tasks.log.warning("handler failed", method="elicitation/create")
    assert capsys.readouterr().out == ""
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("taskapp.client", logging.DEBUG, "GET stream ended reason='gone'"),
        ("taskapp.client", logging.WARNING, "handler failed method='elicitation/create'"),
    ]


@pytest.mark.usefixtures("unconfigured")
def test_unconfigured_debug_is_dropped_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    get_logger("taskapp.test").debug("not shown")
    assert capsys.readouterr() == ("", "")


def test_once_configured_events_go_through_structlog(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    get_logger("taskapp.test").debug("shown", n=1)
    assert capsys.readouterr().out == ""
    assert re.fullmatch(r"timestamp='[^']+' level='debug' event='shown' n=1\n", stream.getvalue())


def test_taskapp_modules_take_their_logger_from_taskapp_logging() -> None:
    on_structlog = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "structlog.get_logger(" in path.read_text() and path.name != "_logging.py"
    }
    assert on_structlog == PENDING
