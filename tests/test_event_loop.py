"""`--loop`: taskapp serves on asyncio or on uvloop, and "auto" takes uvloop when installed.

uvloop is in the test extras, so CI runs both loops; without it the uvloop cases skip
locally and fail in CI (the environment variable CI is set), as Redis tests do.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

from taskapp import cli
from taskapp._loop import backend_options

from .official_client import TIMEOUT, related_task_id, text_of

pytestmark = pytest.mark.filterwarnings("ignore:The experimental tasks API:DeprecationWarning")

REPO = Path(__file__).resolve().parent.parent
HAVE_UVLOOP = sys.platform != "win32" and importlib.util.find_spec("uvloop") is not None


def need_uvloop() -> None:
    if HAVE_UVLOOP:
        return
    if os.environ.get("CI"):
        pytest.fail("uvloop is missing: CI installs the test extras, which include it")
    pytest.skip("uvloop is not installed: pip install -e '.[test]'")


@pytest.fixture
def no_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if uvloop were not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )


def test_asyncio_is_plain_asyncio() -> None:
    assert backend_options("asyncio") == {}


def test_uvloop_and_auto_choose_uvloop_when_installed() -> None:
    need_uvloop()
    assert backend_options("uvloop") == {"use_uvloop": True}
    assert backend_options("auto") == {"use_uvloop": True}


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(no_uvloop: None) -> None:
    assert backend_options("auto") == {}
    with pytest.raises(ValueError, match=r"pip install 'taskapp\[uvloop\]'"):
        backend_options("uvloop")


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event loop 'trio'"):
        backend_options("trio")  # type: ignore[arg-type]


def test_cli_refuses_uvloop_when_missing(
    no_uvloop: None, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    """Refused before anything is served: exit 2 and a message that says what to install."""
    code = cli.main(["run", str(REPO / "examples" / "hello.py") + ":app", "--loop", "uvloop"])
    assert code == 2
    assert "pip install 'taskapp[uvloop]'" in capsys.readouterr().err


@pytest.mark.anyio
@pytest.mark.parametrize("loop", ["asyncio", "uvloop", "auto"])
async def test_official_client_runs_a_task_on_each_loop(loop: str) -> None:
    """A whole task (create, status notification, blocking result: S-28, S-30) with the
    official client over stdio, and the server's log says which loop served it."""
    if loop != "asyncio":
        need_uvloop()
    statuses: list[str] = []
    ended = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.TaskStatusNotification
        ):
            statuses.append(message.root.params.status)
            if message.root.params.status == "completed":
                ended.set()
        await anyio.lowlevel.checkpoint()

    args = ["-m", "taskapp", "run", "tests/fixture_app.py:app", "--loop", loop]
    params = StdioServerParameters(command=sys.executable, args=args, cwd=REPO)
    with tempfile.TemporaryFile("w+") as errlog:
        with anyio.fail_after(TIMEOUT):
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write, message_handler=on_message) as session,
            ):
                await session.initialize()
                tasks = session.experimental
                created = await tasks.call_tool_as_task(
                    "slow_add", {"a": 2, "b": 3, "steps": 2, "delay": 0.05}
                )
                result = await tasks.get_task_result(created.task.taskId, types.CallToolResult)
                await ended.wait()  # sent before the result, but may be handled after it
        errlog.seek(0)
        log = errlog.read()
    assert text_of(result) == "2 + 3 = 5"
    assert related_task_id(result) == created.task.taskId
    assert statuses[-1] == "completed"
    expected = "asyncio" if loop == "asyncio" else "uvloop"
    assert f"loop='{expected}'" in log or f'"loop": "{expected}"' in log, log
