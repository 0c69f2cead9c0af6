"""Steps survive a SIGKILL (issue 20): real processes, a real kill, the same store after.

A tool with three steps, each appending a line to a file, is killed during its third
step; the task runs again (`on_interrupt="rerun"`) in another process, which skips the
first two steps (their results come from the store) and runs the third again: steps
one and two ran once, step three twice (at least once: it never finished the first time).
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from .redis_support import require_redis
from .reliable_app import app as reliable_app
from .test_durable_process import _env, server
from .test_fleet import TIMEOUT, Fleet, Proc, _wait_for_port, result_text, start, wait_for_log
from .test_http_interop import bearer, connect, free_port

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the official client's
]

APP = "tests/reliable_app.py:app"
assert "three_steps" in reliable_app.tools


async def until_step_three(log: Path) -> list[str]:
    """The log's lines once step three has started."""
    path = anyio.Path(log)
    with anyio.fail_after(TIMEOUT):
        # Another process writes the file: there is no event to wait on.
        while "three@" not in (text := await path.read_text() if await path.exists() else ""):  # noqa: ASYNC110
            await anyio.sleep(0.02)
    return text.split()


async def test_a_task_killed_in_its_third_step_resumes_there_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tasks.db"
    log = tmp_path / "steps.log"
    async with server(tmp_path, "first", [APP, "--store", url], _env()) as first:
        await first.initialize()
        created = await first.result(
            "tools/call", {"name": "three_steps", "arguments": {"log": str(log)}, "task": {}}
        )
        task_id = created["task"]["taskId"]
        before = await until_step_three(log)
        status = await first.result("tasks/get", {"taskId": task_id})
        first.process.send_signal(signal.SIGKILL)
        with anyio.fail_after(10):
            assert await first.process.wait() == -signal.SIGKILL
    pid = first.process.pid

    async with server(tmp_path, "second", [APP, "--store", url], _env()) as second:
        await second.initialize()
        with anyio.fail_after(TIMEOUT):
            result = await second.result("tasks/result", {"taskId": task_id})
        again = await second.result("tasks/get", {"taskId": task_id})
    assert before == [f"one@{pid}", f"two@{pid}", f"three@{pid}"]
    assert status["statusMessage"] == "step three"  # steps show in the status line
    after = log.read_text().split()
    assert after[:3] == before
    assert len(after) == 4
    assert after[3].startswith("three@")
    assert after[3] != f"three@{pid}"
    assert result["content"] == [{"type": "text", "text": f"one@{pid} two@{pid} {after[3]}"}]
    assert again["status"] == "completed"


class ReliableFleet(Fleet):
    """test_fleet's Fleet, serving tests/reliable_app.py."""

    async def instances(self, *names: str, extra: tuple[str, ...] = ()) -> list[Proc]:
        procs = []
        for name in names:
            port = free_port()
            argv = ["run", APP, "--transport", "http", "--port", str(port)]
            proc = await self._start(name, [*argv, "--store", self.store, *extra])
            proc.url = f"http://127.0.0.1:{port}/mcp"
            await _wait_for_port(proc, port)
            procs.append(proc)
        return procs

    async def worker(self, name: str, *extra: str) -> Proc:
        proc = await self._start(name, ["worker", APP, "--store", self.store, *extra])
        await wait_for_log(proc, "worker started")
        return proc


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[ReliableFleet]:
    fleet = ReliableFleet(tmp_path, require_redis())
    try:
        yield fleet
    finally:
        await fleet.aclose()


async def test_a_worker_killed_in_the_third_step_is_finished_by_another_on_redis(
    fleet: ReliableFleet, tmp_path: Path
) -> None:
    """`--executor queue` on Redis: the first worker takes the task and is SIGKILLed in
    step three; a second worker adopts the orphan once its lease lapses, and finishes it."""
    log = tmp_path / "steps.log"
    [queue] = await fleet.instances("queue", extra=("--executor", "queue"))
    first = await fleet.worker("first", "--concurrency", "1")
    async with connect(queue.url, headers=bearer("tok-a")) as session:
        task_id = await start(session, "three_steps", {"log": str(log)})
        before = await until_step_three(log)
        assert await fleet.stop(first, signal.SIGKILL) == -signal.SIGKILL
        second = await fleet.worker("second")
        result = await result_text(session, task_id)
    after = log.read_text().split()
    assert before == [f"one@{first.pid}", f"two@{first.pid}", f"three@{first.pid}"]
    assert after == [*before, f"three@{second.pid}"]
    assert result == f"one@{first.pid} two@{first.pid} three@{second.pid}"
    assert "Traceback" not in second.log_text() + queue.log_text()
