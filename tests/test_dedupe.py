"""`dedupe_for` (issue 20): a repeated call from the same principal returns the task the
first one started, in both dialects and across instances sharing a store; never for calls
without an owner (a task id is their only secret), never a failed or cancelled task."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from taskapp import TaskApp, TaskContext
from taskapp.auth import StaticTokenVerifier
from taskapp.engine import TaskEngine
from taskapp.engine.dedupe import call_key
from taskapp.records import TaskRecord
from taskapp.stores import TaskStore
from taskapp.stores.redis import RedisStore
from taskapp.stores.sqlite import SQLiteStore
from taskapp.tools import ToolSpec
from tests.clients import LegacyClient
from tests.redis_support import delete_keys, require_redis, unique_prefix
from tests.test_http import bearer, open_session, serving
from tests.test_http_2026 import TASK_CAPS, Modern, meta

pytestmark = pytest.mark.anyio

TOKENS = StaticTokenVerifier({"tok-a": "alice", "tok-b": "bob"})


class Deploys:
    """An app whose `deploy` tool counts its runs and waits to be released."""

    def __init__(self, *, auth: StaticTokenVerifier | None = TOKENS) -> None:
        self.app = TaskApp("dedupe", auth=auth)
        self.started: list[dict[str, Any]] = []
        self.release = anyio.Event()
        self.running = anyio.Event()

        @self.app.task_tool(dedupe_for=60)
        async def deploy(ctx: TaskContext, env: str, version: int = 1) -> str:
            self.started.append({"env": env, "version": version})
            self.running.set()
            await self.release.wait()
            if env == "broken":
                raise RuntimeError("the deploy failed")
            return f"deployed {env} v{version}"


def task_call(env: str, **more: Any) -> dict[str, Any]:
    return {"name": "deploy", "arguments": {"env": env, **more}, "task": {}}


async def test_two_identical_calls_give_one_task_2025() -> None:
    """Two sessions of one principal (an agent that lost its connection and called again)."""
    deploys = Deploys()
    async with serving(deploys.app.http_app()) as client:
        first = await open_session(client, **bearer("tok-a"))
        second = await open_session(client, **bearer("tok-a"))
        one = await first.result("tools/call", task_call("prod", version=1))
        again = await second.result("tools/call", task_call("prod", version=1))
        reordered = await second.result(
            "tools/call", {"name": "deploy", "arguments": {"version": 1, "env": "prod"}, "task": {}}
        )
        deploys.release.set()
        done = await second.result("tasks/result", {"taskId": one["task"]["taskId"]})
    assert again["task"]["taskId"] == one["task"]["taskId"]
    assert reordered["task"]["taskId"] == one["task"]["taskId"]  # canonical JSON: same call
    assert again["task"]["status"] == "working"
    assert done["content"] == [{"type": "text", "text": "deployed prod v1"}]
    assert len(deploys.started) == 1


async def test_two_identical_calls_give_one_task_2026() -> None:
    deploys = Deploys()
    async with serving(deploys.app.http_app()) as client:
        alice = Modern(client, **bearer("tok-a"))
        params = {"_meta": meta(TASK_CAPS), "name": "deploy", "arguments": {"env": "prod"}}
        one = await alice.result("tools/call", params)
        again = await alice.result("tools/call", params)
        deploys.release.set()
        done = await alice.task(one["taskId"], "completed")
        # Completed and not expired: still returned, with its result.
        after = await alice.result("tools/call", params)
    assert one["resultType"] == again["resultType"] == "task"
    assert again["taskId"] == after["taskId"] == one["taskId"]
    assert done["result"]["content"] == [{"type": "text", "text": "deployed prod v1"}]
    assert len(deploys.started) == 1


async def test_one_principal_in_both_dialects_gets_one_task() -> None:
    """A 2025-11-25 session and a 2026-07-28 request of the same principal: one deploy."""
    deploys = Deploys()
    async with serving(deploys.app.http_app()) as client:
        session = await open_session(client, **bearer("tok-a"))
        legacy = await session.result("tools/call", task_call("prod"))
        params = {"_meta": meta(TASK_CAPS), "name": "deploy", "arguments": {"env": "prod"}}
        modern = await Modern(client, **bearer("tok-a")).result("tools/call", params)
        deploys.release.set()
    assert modern["taskId"] == legacy["task"]["taskId"]
    assert len(deploys.started) == 1


async def test_other_principals_or_arguments_get_their_own_tasks() -> None:
    deploys = Deploys()
    async with serving(deploys.app.http_app()) as client:
        alice = await open_session(client, **bearer("tok-a"))
        bob = await open_session(client, **bearer("tok-b"))
        ids = [
            (await session.result("tools/call", call))["task"]["taskId"]
            for session, call in (
                (alice, task_call("prod")),
                (bob, task_call("prod")),
                (alice, task_call("staging")),
                (alice, task_call("prod", version=2)),
            )
        ]
        deploys.release.set()
    assert len(set(ids)) == 4
    assert len(deploys.started) == 4


async def test_calls_without_an_owner_are_never_deduplicated() -> None:
    """Over stdio or in memory a call has no owner: a task id is the only thing that keeps
    a task its caller's, so a repeated call must not hand out an earlier one's id."""
    deploys = Deploys(auth=None)
    async with LegacyClient(deploys.app) as client:
        one = await client.call_tool_as_task("deploy", {"env": "prod"})
        two = await client.call_tool_as_task("deploy", {"env": "prod"})
        deploys.release.set()
    assert one.task.task_id != two.task.task_id
    assert len(deploys.started) == 2


async def test_a_cancelled_or_failed_task_is_never_returned() -> None:
    deploys = Deploys()
    async with serving(deploys.app.http_app()) as client:
        alice = await open_session(client, **bearer("tok-a"))
        first = (await alice.result("tools/call", task_call("prod")))["task"]["taskId"]
        await alice.result("tasks/cancel", {"taskId": first})
        second = (await alice.result("tools/call", task_call("prod")))["task"]["taskId"]
        broken = (await alice.result("tools/call", task_call("broken")))["task"]["taskId"]
        deploys.release.set()
        ended = await alice.result("tasks/result", {"taskId": broken})
        retried = (await alice.result("tools/call", task_call("broken")))["task"]["taskId"]
    assert second != first
    assert ended["isError"] is True  # the tool raised: a tool error
    assert retried != broken
    assert [s["env"] for s in deploys.started] == ["prod", "prod", "broken", "broken"]


async def test_the_key_is_the_owner_the_tool_and_canonical_arguments() -> None:
    key = call_key("deploy", {"env": "prod", "version": 1}, "principal:alice")
    assert key == call_key("deploy", {"version": 1, "env": "prod"}, "principal:alice")
    assert key != call_key("deploy", {"env": "prod", "version": 1}, "principal:bob")
    assert key != call_key("ship", {"env": "prod", "version": 1}, "principal:alice")
    assert key != call_key("deploy", {"env": "prod", "version": 1.5}, "principal:alice")
    assert len(key) == 64  # a sha256: the store holds no arguments in its keys


# -- two instances sharing a store, receiving the same call at once --------------------


@asynccontextmanager
async def two_instances(
    stores: tuple[TaskStore, TaskStore],
) -> AsyncIterator[tuple[Deploys, TaskEngine, TaskEngine]]:
    deploys = Deploys()
    other = TaskApp("dedupe", auth=TOKENS)
    # The same tool, in a second app (a second instance of the server).
    other.add_tool(deploys.app.tools["deploy"].fn, ToolSpec(mode="optional", dedupe_for=60))
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(deploys.app.running(stores[0]))
        two = await stack.enter_async_context(other.running(stores[1]))
        yield deploys, one, two
        deploys.release.set()


async def _race(engines: tuple[TaskEngine, TaskEngine], calls: int) -> list[TaskRecord]:
    got: list[TaskRecord] = []
    go = anyio.Event()

    async def call(engine: TaskEngine) -> None:
        await go.wait()
        record, start = await engine.create(
            engine.tools["deploy"], {"env": "prod"}, owner="principal:alice", ttl_ms=None
        )
        start()
        got.append(record)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i in range(calls):
                tg.start_soon(call, engines[i % 2])
            await anyio.wait_all_tasks_blocked()
            go.set()
    return got


async def _one_task_for_both(make: Callable[[], tuple[TaskStore, TaskStore]]) -> None:
    async with two_instances(make()) as (deploys, one, two):
        got = await _race((one, two), calls=6)
        assert len({r.task_id for r in got}) == 1
        with anyio.fail_after(5):
            await deploys.running.wait()
        listed, _ = await one.list_tasks("principal:alice", None)
        assert [r.task_id for r in listed] == [got[0].task_id]  # the losers' tasks are gone
    assert len(deploys.started) == 1


async def test_two_instances_on_one_sqlite_file_start_one_task(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    await _one_task_for_both(lambda: (SQLiteStore(path), SQLiteStore(path)))


async def test_two_instances_on_one_redis_start_one_task() -> None:
    url = require_redis()
    prefix = unique_prefix()
    try:
        await _one_task_for_both(
            lambda: (RedisStore(url, prefix=prefix), RedisStore(url, prefix=prefix))
        )
    finally:
        await delete_keys(url, prefix)
