"""`taskapp tasks list|get|result|cancel`: an operator's view of a store.

Most tests run the command in this process against a prepared MemoryStore (handed
to it in place of `open_store`); the SQLite tests run the real command against a
database that a real server wrote.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskapp import cli
from taskapp.engine import CANCELLED_MESSAGE
from taskapp.records import ErrorOutcome, ResultOutcome, TaskRecord, TaskStatus, ToolOutcome
from taskapp.stores import MemoryStore, TaskStore

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restore_logging")]

REPO = Path(__file__).resolve().parent.parent
TASKAPP = [sys.executable, "-m", "taskapp"]
T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
STORE = "prepared://"  # any URL: open_store is replaced by the prepared store


def _text(text: str, *, error: bool = False) -> ToolOutcome:
    return ToolOutcome(content=[{"type": "text", "text": text}], is_error=error)


def _record(task_id: str, status: TaskStatus, **fields: Any) -> TaskRecord:
    n = len(task_id)  # distinct, stable times
    values: dict[str, Any] = {
        "created_at": T0 + n,
        "updated_at": T0 + n + 0.5,
        "ttl_ms": None,
        "tool": "greet",
        "poll_interval_ms": 500,
    }
    return TaskRecord(task_id=task_id, status=status, **{**values, **fields})


RECORDS = [
    _record("done", TaskStatus.COMPLETED, outcome=_text("Hello, Ada!"), arguments={"name": "Ada"}),
    _record(
        "toolerr",
        TaskStatus.COMPLETED,
        tool="explode",
        status_message="ValueError: boom",
        outcome=_text("ValueError: boom", error=True),
    ),
    _record(
        "rpcerror",
        TaskStatus.FAILED,
        tool="protocol_fail",
        status_message="custom",
        outcome=ErrorOutcome(-32042, "custom", {"n": 7}),
    ),
    _record(
        "working1",
        TaskStatus.WORKING,
        tool="slow_add",
        status_message="step 2/5 [fast]",
        ttl_ms=60_000,
        runner="host:1:ab",
        lease_until=T0 + 30,
    ),
    _record(
        "cancelled1",
        TaskStatus.CANCELLED,
        status_message=CANCELLED_MESSAGE,
        outcome=_text(CANCELLED_MESSAGE, error=True),
    ),
    _record(
        "asked",
        TaskStatus.COMPLETED,
        tool="elicitation/create",
        outcome=ResultOutcome({"action": "accept", "content": {"ok": True}}),
    ),
    _record("alices", TaskStatus.WORKING, tool="slow_add", owner="principal:alice"),
]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> MemoryStore:
    prepared = MemoryStore()

    async def fill() -> None:
        for record in RECORDS:
            await prepared.create(record)

    anyio.run(fill)
    opened: list[str] = []

    def open_store(url: str) -> TaskStore:
        opened.append(url)
        return prepared

    monkeypatch.setattr("taskapp.cli.tasks.open_store", open_store)
    monkeypatch.delenv("TASKAPP_STORE", raising=False)
    return prepared


def tasks(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["tasks", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


# -- list ------------------------------------------------------------------------------


def test_list_shows_a_table_of_the_tasks_without_owner(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = tasks(capsys, "list", "--store", STORE)
    assert (code, err) == (0, "")
    lines = _lines(out)
    assert re.split(r"\s+", lines[0]) == [
        "id", "status", "tool", "owner", "created", "updated", "message",
    ]  # fmt: skip
    rows = [re.split(r"\s{2,}", line) for line in lines[1:]]
    assert rows == [
        ["done", "completed", "greet", "-", "2027-01-15 08:00:04Z", "2027-01-15 08:00:04Z"],
        ["toolerr", "failed", "explode", "-", "2027-01-15 08:00:07Z", "2027-01-15 08:00:07Z",
         "ValueError: boom"],
        ["rpcerror", "failed", "protocol_fail", "-", "2027-01-15 08:00:08Z",
         "2027-01-15 08:00:08Z", "custom"],
        ["working1", "working", "slow_add", "-", "2027-01-15 08:00:08Z", "2027-01-15 08:00:08Z",
         "step 2/5 [fast]"],
        ["cancelled1", "cancelled", "greet", "-", "2027-01-15 08:00:10Z",
         "2027-01-15 08:00:10Z", CANCELLED_MESSAGE],
        ["asked", "completed", "elicitation/create", "-", "2027-01-15 08:00:05Z",
         "2027-01-15 08:00:05Z"],
    ]  # fmt: skip


def test_list_json_and_owner(store: MemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = tasks(capsys, "list", "--store", STORE, "--owner", "principal:alice", "--json")
    assert code == 0
    assert json.loads(out) == {
        "tasks": [
            {
                "taskId": "alices",
                "status": "working",
                "createdAt": "2027-01-15T08:00:06.000Z",
                "lastUpdatedAt": "2027-01-15T08:00:06.500Z",
                "ttl": None,
                "pollInterval": 500,
                "tool": "slow_add",
                "owner": "principal:alice",
            }
        ]
    }


def test_list_pages_with_limit_and_cursor(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = tasks(capsys, "list", "--store", STORE, "--limit", "4", "--json")
    first = json.loads(out)
    assert code == 0
    assert [t["taskId"] for t in first["tasks"]] == ["done", "toolerr", "rpcerror", "working1"]
    code, out, _ = tasks(
        capsys, "list", "--store", STORE, "--cursor", first["nextCursor"], "--json"
    )
    rest = json.loads(out)
    assert code == 0
    assert [t["taskId"] for t in rest["tasks"]] == ["cancelled1", "asked"]
    assert "nextCursor" not in rest
    code, out, _ = tasks(capsys, "list", "--store", STORE, "--limit", "5")
    assert _lines(out)[-1] == f"(more: --cursor {_cursor_after(store, 5)})"


def _cursor_after(store: MemoryStore, n: int) -> str:
    async def page() -> str | None:
        return (await store.list_tasks(None, cursor=None, limit=n, now=T0))[1]

    cursor = anyio.run(page)
    assert cursor is not None
    return cursor


def test_an_empty_listing_says_why(store: MemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = tasks(capsys, "list", "--store", STORE, "--owner", "session:nobody")
    assert (code, out) == (0, "")
    assert err.startswith("no tasks owned by 'session:nobody'; ")
    assert err.endswith("; tasks made over HTTP have one (see --owner, or --all)\n")


# -- get ---------------------------------------------------------------------------------


def test_get_shows_every_field(store: MemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = tasks(capsys, "get", "--store", STORE, "working1")
    assert code == 0
    assert [re.split(r"\s{2,}", line, maxsplit=1) for line in _lines(out)] == [
        ["taskId", "working1"],
        ["status", "working"],
        ["createdAt", "2027-01-15T08:00:08.000Z"],
        ["lastUpdatedAt", "2027-01-15T08:00:08.500Z"],
        ["ttl", "60000"],
        ["statusMessage", "step 2/5 [fast]"],
        ["pollInterval", "500"],
        ["tool", "slow_add"],
        ["owner", "-"],
        ["arguments", "{}"],
        ["expiresAt", "2027-01-15T08:01:08.000Z"],
        ["runner", "host:1:ab"],
        ["leaseUntil", "2027-01-15T08:00:30.000Z"],
    ]


def test_get_json_takes_any_owners_task(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = tasks(capsys, "get", "--store", STORE, "done", "--json")
    assert code == 0
    assert json.loads(out) == {
        "taskId": "done",
        "status": "completed",
        "createdAt": "2027-01-15T08:00:04.000Z",
        "lastUpdatedAt": "2027-01-15T08:00:04.500Z",
        "ttl": None,
        "pollInterval": 500,
        "tool": "greet",
        "owner": None,
        "arguments": {"name": "Ada"},
        "expiresAt": None,
        "runner": None,
        "leaseUntil": None,
    }
    code, out, _ = tasks(capsys, "get", "--store", STORE, "alices", "--json")
    assert (code, json.loads(out)["owner"]) == (0, "principal:alice")


@pytest.mark.parametrize("action", ["get", "result", "cancel"])
def test_an_unknown_id_exits_1(
    store: MemoryStore, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    assert tasks(capsys, action, "--store", STORE, "nope") == (
        1,
        "",
        "taskapp: no task 'nope' in the store (never made, deleted, or expired)\n",
    )


# -- result ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_id", "code", "out", "err"),
    [
        ("done", 0, "Hello, Ada!\n", ""),
        ("toolerr", 1, "", "taskapp: task toolerr (explode) failed: ValueError: boom\n"),
        ("rpcerror", 1, "", "taskapp: task rpcerror failed: custom (JSON-RPC error -32042)\n"),
        ("working1", 1, "", "taskapp: task working1 is working: it has no result yet\n"),
        ("cancelled1", 1, "", "taskapp: task cancelled1 was cancelled: it has no result\n"),
        ("asked", 0, '{\n  "action": "accept",\n  "content": {\n    "ok": true\n  }\n}\n', ""),
    ],
)
def test_result_prints_the_outcome(
    store: MemoryStore,
    capsys: pytest.CaptureFixture[str],
    task_id: str,
    code: int,
    out: str,
    err: str,
) -> None:
    assert tasks(capsys, "result", "--store", STORE, task_id) == (code, out, err)


@pytest.mark.parametrize(
    ("task_id", "code", "shown"),
    [
        (
            "done",
            0,
            {
                "content": [{"type": "text", "text": "Hello, Ada!"}],
                "_meta": {"io.modelcontextprotocol/related-task": {"taskId": "done"}},
            },
        ),
        (
            "cancelled1",
            1,
            {
                "content": [{"type": "text", "text": CANCELLED_MESSAGE}],
                "isError": True,
                "_meta": {"io.modelcontextprotocol/related-task": {"taskId": "cancelled1"}},
            },
        ),
        ("rpcerror", 1, {"error": {"code": -32042, "message": "custom", "data": {"n": 7}}}),
    ],
)
def test_result_json_is_what_tasks_result_returns(
    store: MemoryStore,
    capsys: pytest.CaptureFixture[str],
    task_id: str,
    code: int,
    shown: dict[str, Any],
) -> None:
    result = tasks(capsys, "result", "--store", STORE, task_id, "--json")
    assert (result[0], json.loads(result[1])) == (code, shown)


# -- cancel ------------------------------------------------------------------------------


def test_cancel_marks_the_task_cancelled(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tasks(capsys, "cancel", "--store", STORE, "working1") == (
        0,
        "cancelled task working1\n",
        "",
    )

    async def read() -> TaskRecord | None:
        return await store.get("working1", now=T0)

    record = anyio.run(read)
    assert record is not None
    assert (record.status, record.status_message) == (TaskStatus.CANCELLED, CANCELLED_MESSAGE)
    assert record.outcome == _text(CANCELLED_MESSAGE, error=True)
    # A second cancel finds it ended.
    assert tasks(capsys, "cancel", "--store", STORE, "working1") == (
        1,
        "",
        "taskapp: task working1 has already ended: it is cancelled\n",
    )


def test_an_id_that_starts_with_a_dash_goes_after_double_dash(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """Our own ids never start with "-", but a custom store's may."""
    anyio.run(store.create, _record("-dash", TaskStatus.WORKING))
    with pytest.raises(SystemExit) as exited:
        cli.main(["tasks", "cancel", "--store", STORE, "-dash"])
    assert exited.value.code == 2
    assert "the following arguments are required: TASK_ID" in capsys.readouterr().err
    assert tasks(capsys, "cancel", "--store", STORE, "--", "-dash") == (
        0,
        "cancelled task -dash\n",
        "",
    )


def test_cancel_json_and_another_owners_task(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = tasks(capsys, "cancel", "--store", STORE, "alices", "--json")
    shown = json.loads(out)
    assert code == 0
    assert (shown["taskId"], shown["status"], shown["owner"]) == (
        "alices",
        "cancelled",
        "principal:alice",
    )
    assert shown["statusMessage"] == CANCELLED_MESSAGE


def test_cancel_refuses_an_ended_task(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tasks(capsys, "cancel", "--store", STORE, "toolerr") == (
        1,
        "",
        "taskapp: task toolerr has already ended: it is failed\n",
    )


# -- the store option -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("store_args", "message"),
    [
        ([], "taskapp: which store? pass --store URL (e.g. sqlite:///tasks.db), or TASKAPP_STORE"),
        (
            ["--store", "memory://"],
            "taskapp: memory:// lives inside the process that uses it; pass a shared store's URL",
        ),
        (["--store", "redis2://x"], "taskapp: unknown store scheme 'redis2'"),
        (["--store", "nourl"], "taskapp: store URL 'nourl' has no scheme"),
        (
            ["--store", "sqlite:///no/such/dir/tasks.db"],
            "taskapp: no SQLite database at 'no/such/dir/tasks.db' (sqlite:///no/such/dir/tasks.db)",
        ),
    ],
)
def test_bad_stores_exit_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    store_args: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("TASKAPP_STORE", raising=False)
    code, out, err = tasks(capsys, "list", *store_args)
    assert (code, out) == (2, "")
    assert err.startswith(message)


def test_the_store_defaults_to_taskapp_store(
    store: MemoryStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKAPP_STORE", STORE)
    code, out, _ = tasks(capsys, "get", "done", "--json")
    assert (code, json.loads(out)["taskId"]) == (0, "done")


def test_store_options_go_before_or_after_the_action(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = tasks(capsys, "--store", STORE, "--json", "get", "done")
    assert (code, json.loads(out)["taskId"]) == (0, "done")
    code, out, _ = tasks(capsys, "--store", "elsewhere://", "get", "--store", STORE, "done")
    assert (code, _lines(out)[0]) == (0, "taskId         done")


def test_an_action_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["tasks", "--store", STORE])
    assert exited.value.code == 2
    assert "the following arguments are required: ACTION" in capsys.readouterr().err


# -- the real thing: SQLite, written by a real server ----------------------------------


def _sqlite_available() -> bool:
    try:
        import taskapp.stores.sqlite  # noqa: F401
    except ImportError:
        return False
    return True


async def _taskapp(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "TASKAPP_STORE"}
    with anyio.fail_after(30):
        return await anyio.run_process([*TASKAPP, *args], check=False, cwd=REPO, env=env)


@pytest.mark.skipif(not _sqlite_available(), reason="taskapp.stores.sqlite cannot be imported")
async def test_tasks_commands_on_a_sqlite_store_a_server_wrote(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    server = shlex.join([*TASKAPP, "run", "examples/hello.py:app", "--store", store])
    called = await _taskapp("call", server, "greet", "name=Ada")
    assert (called.returncode, called.stdout) == (0, b"Hello, Ada!\n")
    task_id = re.search(rb"task (\S+) started", called.stderr)
    assert task_id is not None
    listed = await _taskapp("tasks", "list", "--store", store, "--json")
    assert listed.returncode == 0
    (task,) = json.loads(listed.stdout)["tasks"]
    assert (task["taskId"], task["status"], task["tool"], task["owner"]) == (
        task_id.group(1).decode(),
        "completed",
        "greet",
        None,
    )
    result = await _taskapp("tasks", "result", "--store", store, task["taskId"])
    assert (result.returncode, result.stdout) == (0, b"Hello, Ada!\n")
    cancel = await _taskapp("tasks", "cancel", "--store", store, task["taskId"])
    assert cancel.returncode == 1
    assert cancel.stderr.endswith(b"has already ended: it is completed\n")


@pytest.mark.skipif(not _sqlite_available(), reason="taskapp.stores.sqlite cannot be imported")
async def test_cancel_on_a_sqlite_store(tmp_path: Path) -> None:
    from taskapp.stores.sqlite import SQLiteStore

    path = tmp_path / "tasks.db"
    prepared = SQLiteStore(str(path))
    await prepared.open()
    try:
        await prepared.create(RECORDS[3])  # working1
    finally:
        await prepared.close()
    store = f"sqlite:///{path}"
    cancel = await _taskapp("tasks", "cancel", "--store", store, "working1")
    assert (cancel.returncode, cancel.stdout) == (0, b"cancelled task working1\n")
    shown = await _taskapp("tasks", "get", "--store", store, "working1", "--json")
    assert json.loads(shown.stdout)["status"] == "cancelled"
    table = await _taskapp("tasks", "list", "--store", store)
    assert re.search(rb"^working1 +cancelled +slow_add +- ", table.stdout, re.M) is not None


@pytest.mark.skipif(not _sqlite_available(), reason="taskapp.stores.sqlite cannot be imported")
async def test_an_operator_cancels_a_task_that_a_server_runs(tmp_path: Path) -> None:
    """`tasks cancel` in one process; the server in another stops the function, and the
    client waiting on `tasks/result` hears that its task was cancelled (exit 1)."""
    from .test_cli_call import STARTED, http_server

    store = f"sqlite:///{tmp_path / 'tasks.db'}"
    async with http_server("--store", store) as url:
        argv = [*TASKAPP, "call", url, "slow_add", "a=1", "b=2", "steps=100", "delay=0.1"]
        async with await anyio.open_process(argv, cwd=REPO, stdin=subprocess.DEVNULL) as caller:
            assert caller.stderr is not None
            seen = b""
            with anyio.fail_after(20):
                while (started := STARTED.search(seen.decode())) is None:
                    seen += await caller.stderr.receive()
                cancel = await _taskapp("tasks", "cancel", "--store", store, started.group(1))
                async for chunk in caller.stderr:
                    seen += chunk
                code = await caller.wait()
    assert (cancel.returncode, cancel.stdout) == (0, f"cancelled task {started[1]}\n".encode())
    assert code == 1
    assert seen.decode().endswith(
        "taskapp: slow_add failed: The task was cancelled by the requestor.\n"
    )
