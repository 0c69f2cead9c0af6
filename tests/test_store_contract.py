"""The store contract (taskapp.testing.TaskStoreContract) run against every store we ship,
the example custom store, and deliberately broken stores that it must catch."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from examples.custom_store import DictStore
from taskapp.stores import MemoryStore, TaskStore
from taskapp.stores.sqlite import SQLiteStore
from taskapp.testing import TaskStoreContract

REPO = Path(__file__).resolve().parent.parent


class TestMemoryStoreContract(TaskStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[MemoryStore]:
        store = MemoryStore()
        await store.open()
        yield store
        await store.close()


class TestSQLiteStoreContract(TaskStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[SQLiteStore]:
        store = SQLiteStore(tmp_path / "tasks.db")
        await store.open()
        yield store
        await store.close()


class TestCustomStoreContract(TaskStoreContract):
    """The store of docs/stores.md's "writing your own store" (examples/custom_store.py)."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[DictStore]:
        store = DictStore()
        await store.open()
        yield store
        await store.close()


def test_the_stores_meet_the_protocol(tmp_path: Path) -> None:
    """mypy checks these assignments against the TaskStore protocol; isinstance checks names."""
    stores: list[TaskStore] = [MemoryStore(), SQLiteStore(tmp_path / "t.db"), DictStore()]
    assert all(isinstance(store, TaskStore) for store in stores)


def test_a_store_of_your_own_needs_one_import() -> None:
    """The example store and the docs' "writing your own store" import everything from
    `taskapp.stores`, which exports the names it lists."""
    import taskapp.stores

    assert all(hasattr(taskapp.stores, name) for name in taskapp.stores.__all__)
    tree = ast.parse((REPO / "examples" / "custom_store.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert {name for name in imported if name.startswith("taskapp")} == {"taskapp.stores"}
    docs = (REPO / "docs" / "stores.md").read_text()
    own_store = docs.partition("## Writing your own store")[2].partition("\n## ")[0]
    assert "from taskapp.stores import (" in own_store
    assert "taskapp.records" not in own_store
    assert "`records." not in own_store
    assert "assemble" not in own_store


# -- the contract catches broken stores ------------------------------------------------

BROKEN_STORES = '''
import dataclasses
from typing import Any

import pytest

from examples.custom_store import DictStore
from taskapp.records import TaskRecord, TaskStatus, apply_update
from taskapp.stores.base import TaskNotFoundError
from taskapp.testing import TaskStoreContract


class EndsTwice(DictStore):
    """Lets a task that has ended change again."""

    async def update(self, task_id: str, *, now: float, **change: Any) -> TaskRecord:
        record = await self.get(task_id, now=now)
        if record is None:
            raise TaskNotFoundError(task_id)
        reopened = dataclasses.replace(record, status=TaskStatus.WORKING)
        new = self.tasks[task_id] = apply_update(reopened, now=now, **change)
        self._changed()
        return new


class SkippingCursor(DictStore):
    """Loses the first task of every page after the first."""

    async def list_tasks(self, owner, *, cursor, limit, now):
        page, next_cursor = await super().list_tasks(owner, cursor=cursor, limit=limit, now=now)
        return (page[1:] if cursor else page), next_cursor


class AdoptsTwice(DictStore):
    """Adopts any live task, even one another engine has just adopted."""

    async def adopt(self, task_id, runner, *, until, now):
        record = await self.get(task_id, now=now)
        if record is None or record.terminal:
            return None
        new = self.tasks[task_id] = dataclasses.replace(
            record, runner=runner, lease_until=until, version=record.version + 1
        )
        return new


def _fixture(cls):
    @pytest.fixture
    async def store(self):
        store = cls()
        await store.open()
        yield store
        await store.close()

    return store


class TestEndsTwice(TaskStoreContract):
    store = _fixture(EndsTwice)


class TestSkippingCursor(TaskStoreContract):
    store = _fixture(SkippingCursor)


class TestAdoptsTwice(TaskStoreContract):
    store = _fixture(AdoptsTwice)
'''


def test_the_contract_fails_broken_stores(pytester: pytest.Pytester) -> None:
    """Each deliberately broken store fails the tests about what it breaks, and only those
    (unbroken, the same store passes everything: TestCustomStoreContract)."""
    pytester.makepyfile(test_broken=BROKEN_STORES)
    # The sub-session does not see tests/conftest.py: asyncio only there too (before 4.12,
    # anyio's own default fixture also asks for trio, installed or not).
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
    )
    reports = pytester.inline_run("-p", "no:cacheprovider").getreports("pytest_runtest_logreport")
    failed: dict[str, set[str]] = {}
    passed: dict[str, int] = {}
    for report in reports:
        _, cls, test = report.nodeid.split("::")
        if report.failed:
            failed.setdefault(cls, set()).add(test.partition("[")[0])
        elif report.passed and report.when == "call":
            passed[cls] = passed.get(cls, 0) + 1
    assert failed == {
        "TestEndsTwice": {
            "test_a_terminal_status_is_final",
            "test_of_concurrent_writers_ending_a_task_exactly_one_wins",
            "test_many_concurrent_writers",
        },
        "TestSkippingCursor": {
            "test_list_is_per_owner_and_oldest_first",
            "test_cursors_stay_valid_while_tasks_come_and_go",
            "test_a_cursor_still_works_after_the_newest_task_is_deleted",
        },
        "TestAdoptsTwice": {
            "test_adopt_takes_an_orphan_once",
            "test_a_queued_task_is_adopted_once_and_is_no_orphan",
            "test_of_concurrent_adopters_exactly_one_wins",
        },
    }
    total = passed["TestSkippingCursor"] + 3
    assert passed == {"TestEndsTwice": total - 5, "TestSkippingCursor": total - 3,
                      "TestAdoptsTwice": total - 3}  # fmt: skip
    assert total > 40
