"""`taskapp tasks list --all`: every owner's tasks for an operator, newest first, filtered."""

from __future__ import annotations

import json
import re

import anyio
import pytest

from examples.custom_store import DictStore
from taskapp import cli
from taskapp.records import TaskStatus
from taskapp.stores import MemoryStore, TaskStore
from tests.test_cli_tasks import RECORDS, STORE, _lines, _record, tasks
from tests.test_cli_tasks import store as store  # the prepared store, a fixture

pytestmark = pytest.mark.usefixtures("restore_logging")

# An HTTP session's owner id, as long as the transport makes them: shown whole.
SESSION = "session:" + "x" * 43


@pytest.fixture
def with_session(store: MemoryStore) -> MemoryStore:
    anyio.run(store.create, _record("sessions1", TaskStatus.WORKING, owner=SESSION))
    return store


def test_all_lists_every_owner_newest_first_with_owners_whole(
    with_session: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = tasks(capsys, "list", "--all", "--store", STORE)
    assert (code, err) == (0, "")
    lines = _lines(out)
    assert re.split(r"\s+", lines[0])[:4] == ["id", "status", "tool", "owner"]
    rows = [re.split(r"\s{2,}", line) for line in lines[1:]]
    made = [*(r.task_id for r in RECORDS), "sessions1"]
    assert [row[0] for row in rows] == made[::-1]
    owners = {row[0]: row[3] for row in rows}
    assert owners["sessions1"] == SESSION
    assert owners["alices"] == "principal:alice"
    assert owners["done"] == "-"


def test_all_filters_by_status_tool_and_owner(
    with_session: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = tasks(
        capsys, "list", "--all", "--status", "working", "--tool", "slow_add", "--json",
        "--store", STORE,
    )  # fmt: skip
    assert code == 0
    shown = json.loads(out)["tasks"]
    assert [(t["taskId"], t["owner"]) for t in shown] == [
        ("alices", "principal:alice"),
        ("working1", None),
    ]
    _, out, _ = tasks(capsys, "list", "--all", "--owner", SESSION, "--json", "--store", STORE)
    assert [t["taskId"] for t in json.loads(out)["tasks"]] == ["sessions1"]
    code, out, err = tasks(capsys, "list", "--all", "--tool", "nope", "--store", STORE)
    assert (code, out, err) == (0, "", "no tasks match\n")


def test_all_pages_newest_first(store: MemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = tasks(capsys, "list", "--all", "--limit", "3", "--json", "--store", STORE)
    assert code == 0
    first = json.loads(out)
    assert [t["taskId"] for t in first["tasks"]] == ["alices", "asked", "cancelled1"]
    cursor = first["nextCursor"]
    _, out, _ = tasks(capsys, "list", "--all", "--cursor", cursor, "--json", "--store", STORE)
    assert [t["taskId"] for t in json.loads(out)["tasks"]] == [
        "working1", "rpcerror", "toolerr", "done",
    ]  # fmt: skip


def test_filters_need_all(store: MemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = tasks(capsys, "list", "--status", "working", "--store", STORE)
    assert code == 2
    assert "add --all" in err


def test_a_store_that_cannot_list_across_owners_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def open_store(url: str) -> TaskStore:
        return DictStore()

    monkeypatch.setattr("taskapp.cli.tasks.open_store", open_store)
    code = cli.main(["tasks", "list", "--all", "--store", STORE])
    err = capsys.readouterr().err
    assert code == 2
    assert "this store (DictStore) cannot list across owners" in err
