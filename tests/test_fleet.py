"""Many processes on one Redis: HTTP instances that share tasks, a killed instance, workers.

Every test starts real `taskapp run ... --transport http` and `taskapp worker` processes
(tests/fleet_app.py) on one Redis under a key prefix of its own (removed afterwards),
and drives them with the official client (`mcp==1.30.0`, Streamable HTTP, bearer
tokens: alice is `tok-a`, bob `tok-b`). Without a reachable Redis these tests skip
locally and fail in CI (tests/redis_support.py). S-numbers refer to
/work/shared/spec/TASKS-CHECKLIST.md.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from mcp import ClientSession, McpError, types

from taskapp.engine.fleet import INTERRUPTED_MESSAGE
from taskapp.stores.redis import RedisStore
from taskapp.testing import make_record

from .official_client import TERMINAL, Elicitor, related_task_id, text_of
from .redis_support import delete_keys, opened, require_redis, unique_prefix
from .test_http_interop import CANCELLED_TEXT, Inbox, bearer, connect, free_port

pytestmark = [
    pytest.mark.anyio,
    # The SDK marks its task API and `streamablehttp_client` deprecated (see test_http_interop).
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

REPO = Path(__file__).resolve().parent.parent
APP = "tests/fleet_app.py:app"
TIMEOUT = 15  # for any one wait: a start, a result, a recovery (leases are 1 s)
ALICE = bearer("tok-a")
BOB = bearer("tok-b")


# -- processes ------------------------------------------------------------------------------


@dataclass
class Proc:
    """One `taskapp` process, its stderr in `log`."""

    name: str
    process: Process
    log: Path
    url: str = ""  # instances: the MCP endpoint

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


class Fleet:
    """The processes of one test, on one Redis key prefix; all stopped, keys removed, at the end."""

    def __init__(self, tmp_path: Path, redis_url: str) -> None:
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.prefix = unique_prefix()
        self.store = f"{redis_url}{'&' if '?' in redis_url else '?'}prefix={self.prefix}"
        self.procs: list[Proc] = []

    async def _start(self, name: str, argv: list[str]) -> Proc:
        log = self.tmp_path / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if k != "TASKAPP_STORE"}
        with log.open("wb") as stderr:
            process = await anyio.open_process(
                [sys.executable, "-m", "taskapp", *argv],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        proc = Proc(name, process, log)
        self.procs.append(proc)
        return proc

    async def instances(self, *names: str, extra: tuple[str, ...] = ()) -> list[Proc]:
        """`taskapp run APP --transport http --store <this fleet's>` per name, all listening."""
        started: list[tuple[Proc, int]] = []
        for name in names:
            port = free_port()
            argv = ["run", APP, "--transport", "http", "--port", str(port)]
            proc = await self._start(name, [*argv, "--store", self.store, *extra])
            proc.url = f"http://127.0.0.1:{port}/mcp"
            started.append((proc, port))
        for proc, port in started:  # started together, awaited in turn
            await _wait_for_port(proc, port)
        return [proc for proc, _ in started]

    async def worker(self, name: str, *extra: str) -> Proc:
        """`taskapp worker APP --store <this fleet's>`, once it says it has started."""
        proc = await self._start(name, ["worker", APP, "--store", self.store, *extra])
        await wait_for_log(proc, "worker started")
        return proc

    async def stop(self, proc: Proc, signum: signal.Signals = signal.SIGTERM) -> int:
        """Send `signum` and wait for the process to exit; its return code."""
        if proc.process.returncode is None:
            proc.process.send_signal(signum)
        with anyio.fail_after(TIMEOUT):
            return await proc.process.wait()

    async def aclose(self) -> None:
        for proc in self.procs:
            if proc.process.returncode is None:
                proc.process.terminate()
            with anyio.move_on_after(TIMEOUT):
                await proc.process.wait()
            if proc.process.returncode is None:
                proc.process.kill()
            await proc.process.aclose()
        await delete_keys(self.redis_url, self.prefix)


async def _wait_for_port(proc: Proc, port: int) -> None:
    with anyio.fail_after(TIMEOUT):
        while True:
            if proc.process.returncode is not None:
                raise RuntimeError(f"{proc.name} exited early: {proc.log_text()}")
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.05)
            else:
                await stream.aclose()
                return


async def wait_for_log(proc: Proc, text: str) -> None:
    with anyio.fail_after(TIMEOUT):
        while text not in proc.log_text():
            if proc.process.returncode is not None:
                raise RuntimeError(f"{proc.name} exited early: {proc.log_text()}")
            await anyio.sleep(0.02)


async def wait_for_file(path: Path) -> str:
    """The text of `path`, once a process has written it."""
    marker = anyio.Path(path)
    with anyio.fail_after(TIMEOUT):
        while True:
            if await marker.exists():
                return await marker.read_text()
            await anyio.sleep(0.02)


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    """A Redis key prefix of this test's own, and the processes started on it."""
    fleet = Fleet(tmp_path, require_redis())
    try:
        yield fleet
    finally:
        await fleet.aclose()


# -- the client side ------------------------------------------------------------------------


async def wait_task(
    session: ClientSession, task_id: str, done: Callable[[types.GetTaskResult], bool]
) -> types.GetTaskResult:
    """Poll `tasks/get` until `done` says so."""
    with anyio.fail_after(TIMEOUT):
        while True:
            task = await session.experimental.get_task(task_id)
            if done(task):
                return task
            await anyio.sleep(0.02)


async def start(session: ClientSession, tool: str, arguments: dict[str, Any]) -> str:
    with anyio.fail_after(TIMEOUT):
        created = await session.experimental.call_tool_as_task(tool, arguments)
    assert created.task.status == "working"
    return created.task.taskId


async def result_text(session: ClientSession, task_id: str) -> str:
    with anyio.fail_after(TIMEOUT):
        result = await session.experimental.get_task_result(task_id, types.CallToolResult)
    assert related_task_id(result) == task_id
    return text_of(result)


async def refusals(url: str, task_id: str) -> tuple[dict[str, tuple[int, str]], list[str]]:
    """What bob gets for alice's task on the instance at `url`: the error of each task
    method (the id replaced by <id>), and his own task list."""
    calls: dict[str, Callable[[ClientSession], Awaitable[object]]] = {
        "get": lambda s: s.experimental.get_task(task_id),
        "result": lambda s: s.experimental.get_task_result(task_id, types.CallToolResult),
        "cancel": lambda s: s.experimental.cancel_task(task_id),
    }
    errors: dict[str, tuple[int, str]] = {}
    async with connect(url, headers=BOB) as bob:
        with anyio.fail_after(TIMEOUT):
            for name, call in calls.items():
                with pytest.raises(McpError) as excinfo:
                    await call(bob)
                error = excinfo.value.error
                errors[name] = (error.code, error.message.replace(task_id, "<id>"))
            listed = await bob.experimental.list_tasks()
    return errors, [task.taskId for task in listed.tasks]


NOT_FOUND = (-32602, "Failed to retrieve task: Task not found (<id>)")


# -- two instances, one Redis ------------------------------------------------------------------


async def test_a_task_created_through_one_instance_is_served_by_the_other(
    fleet: Fleet, tmp_path: Path
) -> None:
    """A task made through A is awaited (S-28), listed (S-39) and cancelled (S-41) through
    B; the cancel stops the function running on A at once, and the session that created
    the task on A is told it ended (S-37). Bob sees none of it on either instance (S-47)."""
    a, b = await fleet.instances("a", "b")
    marker = tmp_path / "long"
    inbox = Inbox()
    async with (
        connect(a.url, headers=ALICE, inbox=inbox) as on_a,
        connect(b.url, headers=ALICE) as on_b,
    ):
        short_id = await start(on_a, "slow", {"seconds": 0.1})
        long_id = await start(on_a, "slow", {"seconds": 30, "marker": str(marker)})
        awaited = await result_text(on_b, short_id)
        started_in = await wait_for_file(Path(f"{marker}.started"))
        with anyio.fail_after(TIMEOUT):
            listed = await on_b.experimental.list_tasks()
        bob_on = {proc.name: await refusals(proc.url, long_id) for proc in (a, b)}
        with anyio.fail_after(TIMEOUT):
            cancelled = await on_b.experimental.cancel_task(long_id)
        stopped_in = await wait_for_file(Path(f"{marker}.cancelled"))
        with anyio.fail_after(TIMEOUT):
            seen_on_a = await on_a.experimental.get_task(long_id)
            cancelled_result = await on_a.experimental.get_task_result(
                long_id, types.CallToolResult
            )
        notified = await inbox.wait_terminal(long_id)
    assert awaited == f"slept 0.1s in process {a.pid}"
    assert [task.taskId for task in listed.tasks] == [short_id, long_id]
    assert (cancelled.status, cancelled.statusMessage) == ("cancelled", CANCELLED_TEXT)
    assert (started_in, stopped_in) == (str(a.pid), str(a.pid))
    assert (seen_on_a.status, seen_on_a.statusMessage) == ("cancelled", CANCELLED_TEXT)
    assert (cancelled_result.isError, text_of(cancelled_result)) == (True, CANCELLED_TEXT)
    assert (notified.status, notified.statusMessage) == ("cancelled", CANCELLED_TEXT)
    for name in ("a", "b"):
        errors, bobs_tasks = bob_on[name]
        assert errors == {"get": NOT_FOUND, "result": NOT_FOUND, "cancel": NOT_FOUND}, name
        assert bobs_tasks == [], name


async def test_a_question_asked_on_one_instance_is_answered_through_the_other(
    fleet: Fleet,
) -> None:
    """S-15/S-16: a task running on A asks (elicitation); B delivers the question on the
    `tasks/result` stream it serves, and the answer reaches the function on A."""
    a, b = await fleet.instances("a", "b")
    never = Elicitor(types.ElicitResult(action="decline"))
    elicitor = Elicitor(types.ElicitResult(action="accept", content={"text": "blue"}))
    async with connect(a.url, headers=ALICE, elicitation=never) as on_a:
        task_id = await start(on_a, "ask", {"question": "Favourite colour?"})
        waiting = await wait_task(on_a, task_id, lambda t: t.status != "working")
        async with connect(b.url, headers=ALICE, elicitation=elicitor) as on_b:
            answered = await result_text(on_b, task_id)
            with anyio.fail_after(TIMEOUT):
                final = await on_b.experimental.get_task(task_id)
    assert waiting.status == "input_required"
    assert answered == f"accept: blue (asked from process {a.pid})"
    assert final.status == "completed"
    [asked] = elicitor.calls
    assert isinstance(asked, types.ElicitRequestFormParams)
    assert asked.message == "Favourite colour?"
    assert asked.meta is not None
    assert asked.meta.model_dump()["io.modelcontextprotocol/related-task"] == {"taskId": task_id}
    assert never.calls == []  # A's session never called tasks/result: nothing asked there


async def test_a_killed_instance_s_tasks_end_as_documented(fleet: Fleet, tmp_path: Path) -> None:
    """SIGKILL mid-task: once A's lease lapses, B fails A's task with the documented
    message and re-runs the `on_interrupt="rerun"` tool to completion (at least once)."""
    a, b = await fleet.instances("a", "b")
    marker = tmp_path / "runs"
    async with connect(a.url, headers=ALICE) as on_a:
        doomed_id = await start(on_a, "slow", {"seconds": 60})
        rerun_id = await start(on_a, "resumable", {"marker": str(marker)})
    async with connect(b.url, headers=ALICE) as on_b:
        first_run = f"run 1 started in process {a.pid}"
        await wait_task(on_b, rerun_id, lambda t: t.statusMessage == first_run)
        running = await wait_task(on_b, doomed_id, lambda t: t.statusMessage is not None)
        assert await fleet.stop(a, signal.SIGKILL) == -signal.SIGKILL
        failed = await wait_task(on_b, doomed_id, lambda t: t.status in TERMINAL)
        with anyio.fail_after(TIMEOUT), pytest.raises(McpError) as excinfo:
            await on_b.experimental.get_task_result(doomed_id, types.CallToolResult)
        rerun = await result_text(on_b, rerun_id)
        with anyio.fail_after(TIMEOUT):
            listed = await on_b.experimental.list_tasks()
    assert running.statusMessage == f"sleeping 60s in process {a.pid}"
    assert (failed.status, failed.statusMessage) == ("failed", INTERRUPTED_MESSAGE)
    assert (excinfo.value.error.code, excinfo.value.error.message) == (-32603, INTERRUPTED_MESSAGE)
    assert rerun == f"finished on run 2 in process {b.pid}"
    assert marker.read_text() == "2"
    assert [(t.taskId, t.status) for t in listed.tasks] == [
        (doomed_id, "failed"),
        (rerun_id, "completed"),
    ]


# -- workers ------------------------------------------------------------------------------------


async def test_a_worker_runs_the_tasks_an_instance_queues(fleet: Fleet, tmp_path: Path) -> None:
    """`--executor queue`: the instance runs nothing; the worker does. Its status reaches
    the session that created the task (S-37), its result comes back through the instance
    (S-28), and a cancel through the instance stops the function on the worker (S-41)."""
    [queue] = await fleet.instances("queue", extra=("--executor", "queue"))
    worker = await fleet.worker("worker", "--concurrency", "4")
    marker = tmp_path / "long"
    inbox = Inbox()
    async with connect(queue.url, headers=ALICE, inbox=inbox) as session:
        slept = await result_text(session, await start(session, "slow", {"seconds": 0.1}))
        quick = await result_text(session, await start(session, "quick", {"n": 7}))
        long_id = await start(session, "slow", {"seconds": 30, "marker": str(marker)})
        sleeping = f"sleeping 30s in process {worker.pid}"
        await inbox.wait_for(lambda: any(s.statusMessage == sleeping for s in inbox.of(long_id)))
        with anyio.fail_after(TIMEOUT):
            cancelled = await session.experimental.cancel_task(long_id)
        stopped_in = await wait_for_file(Path(f"{marker}.cancelled"))
        notified = await inbox.wait_terminal(long_id)
    assert slept == f"slept 0.1s in process {worker.pid}"
    assert quick == f"7 in process {worker.pid}"
    assert worker.pid != queue.pid
    assert cancelled.status == "cancelled"
    assert stopped_in == str(worker.pid)
    assert (notified.status, notified.statusMessage) == ("cancelled", CANCELLED_TEXT)
    assert "Traceback" not in worker.log_text() + queue.log_text()


async def test_a_stopped_worker_finishes_its_task_and_takes_no_more(fleet: Fleet) -> None:
    """SIGTERM: the running task finishes (drain) and the worker exits 0; a task queued
    meanwhile is left for the next worker, which runs it."""
    [queue] = await fleet.instances("queue", extra=("--executor", "queue"))
    first = await fleet.worker("first", "--concurrency", "1", "--grace", "10")
    async with connect(queue.url, headers=ALICE) as session:
        running_id = await start(session, "slow", {"seconds": 1})
        sleeping = f"sleeping 1s in process {first.pid}"
        await wait_task(session, running_id, lambda t: t.statusMessage == sleeping)
        queued_id = await start(session, "quick", {"n": 1})  # waits: concurrency 1
        returncode = await fleet.stop(first)  # one SIGTERM: a second one would kill it
        finished = await result_text(session, running_id)
        with anyio.fail_after(TIMEOUT):
            left = await session.experimental.get_task(queued_id)
        second = await fleet.worker("second")
        taken_later = await result_text(session, queued_id)
    assert returncode == 0, first.log_text()
    assert finished == f"slept 1s in process {first.pid}"
    assert left.status == "working"
    assert taken_later == f"1 in process {second.pid}"
    assert "Traceback" not in first.log_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["run", APP, "--transport", "http", "--port", "0", "--executor", "queue"],
            "taskapp: MemoryStore has no work queue: the queue executor and workers need "
            "a store that has one, such as redis://\n",
        ),
        (
            ["worker", APP],
            "taskapp: MemoryStore has no work queue: the queue executor and workers need "
            "a store that has one, such as redis://\n",
        ),
    ],
    ids=["run --executor queue", "worker"],
)
async def test_queueing_on_a_store_without_a_work_queue_is_a_usage_error(
    argv: list[str], message: str
) -> None:
    """Exit 2, one line saying what is wrong, no traceback (no Redis needed)."""
    env = {k: v for k, v in os.environ.items() if k != "TASKAPP_STORE"}
    command = [sys.executable, "-m", "taskapp", *argv, "--store", "memory://"]
    with anyio.fail_after(TIMEOUT):
        done = await anyio.run_process(command, cwd=REPO, env=env, check=False)
    assert (done.returncode, done.stderr.decode()) == (2, message)


# -- what an instance asks of the store ---------------------------------------------------------


async def test_a_waiter_that_waits_again_at_once_is_still_woken() -> None:
    """An engine watches each task it runs with `store.wait` in a loop, so it waits again
    the moment a change woke it. Regression: the new waiter came before the previous
    one's UNSUBSCRIBE went out, and then waited for a confirmation that never came; so a
    cancel through another instance never stopped a task that had changed its status."""
    url, prefix = require_redis(), unique_prefix()
    record = make_record(created_at=time.time())
    send, receive = anyio.create_memory_object_stream[int](3)

    async def watch(store: RedisStore) -> None:
        version = record.version
        for _ in range(3):
            changed = await store.wait(record.task_id, after_version=version, now=time.time())
            assert changed is not None
            version = changed.version
            send.send_nowait(version)  # no checkpoint: the next wait starts at once

    seen: list[int] = []
    try:
        async with opened(url, prefix) as here, opened(url, prefix) as there, send, receive:
            await here.create(record)
            with anyio.fail_after(TIMEOUT):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(watch, here)
                    for n in range(1, 4):
                        await there.update(record.task_id, now=time.time(), status_message=str(n))
                        seen.append(await receive.receive())  # woken: it waits again at once
    finally:
        await delete_keys(url, prefix)
    assert seen == [record.version + 1, record.version + 2, record.version + 3]
