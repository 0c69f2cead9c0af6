"""The 2025-11-25 task protocol, item by item of TASKS-CHECKLIST.md, through raw JSON-RPC.

Each test names the checklist items (S-n) it checks for a server receiving `tools/call`.
"""

from __future__ import annotations

import base64
import itertools
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pydantic_core
import pytest

from taskapp import MemoryStore

from .protocol_app import (
    ERROR_CODE,
    NEXT_STATUSES,
    RELATED_TASK,
    TERMINAL,
    Harness,
    build,
    check_task,
    parse_time,
    schema_errors,
)
from .raw import INIT_PARAMS, RawConnection, raw_connection

pytestmark = pytest.mark.anyio

CANCELLED_TEXT = "The task was cancelled by the requestor."
OLD_INIT = {**INIT_PARAMS, "protocolVersion": "2025-06-18"}
REPO = Path(__file__).resolve().parent.parent
TASK_METHODS = ("tasks/get", "tasks/result", "tasks/list", "tasks/cancel")


# -- helpers -------------------------------------------------------------------


async def create(
    conn: RawConnection,
    name: str,
    arguments: dict[str, Any] | None = None,
    *,
    task: dict[str, Any] | None = None,
    token: str | int | None = None,
) -> dict[str, Any]:
    """Call a tool as a task; check the CreateTaskResult (S-10, S-11) and return its Task."""
    params: dict[str, Any] = {"name": name, "arguments": arguments or {}, "task": task or {}}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    result = await conn.result("tools/call", params)
    assert list(result) == ["task"], result  # nested under "task", no related-task _meta
    created: dict[str, Any] = result["task"]
    check_task(created)
    assert created["status"] == "working"
    schema_errors("CreateTaskResult", result, expect_none=True)
    return created


async def flush(conn: RawConnection) -> None:
    """A ping round trip: everything the server queued before it has arrived."""
    assert await conn.result("ping") == {}


def statuses(conn: RawConnection, task_id: str) -> list[dict[str, Any]]:
    return [n for n in conn.notes("notifications/tasks/status") if n["taskId"] == task_id]


async def ended(conn: RawConnection, task_id: str) -> dict[str, Any]:
    """Wait for the terminal status notification of a task, and return it."""

    def terminal() -> dict[str, Any] | None:
        return next((n for n in statuses(conn, task_id) if n["status"] in TERMINAL), None)

    note: dict[str, Any] = await conn.wait_for(terminal)
    return note


async def list_all(conn: RawConnection) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    with anyio.fail_after(5):
        while True:
            page = await conn.result("tasks/list", params)
            tasks.extend(page["tasks"])
            if "nextCursor" not in page:
                return tasks
            params = {"cursor": page["nextCursor"]}


def text_result(text: str, task_id: str | None = None, *, is_error: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    if is_error:
        result["isError"] = True
    if task_id is not None:
        result["_meta"] = {RELATED_TASK: {"taskId": task_id}}
    return result


@asynccontextmanager
async def session(
    harness: Harness, init: dict[str, Any] | None = INIT_PARAMS
) -> AsyncIterator[RawConnection]:
    with anyio.fail_after(10):
        async with raw_connection(harness.app, initialize=init) as conn:
            yield conn


# -- capabilities and negotiation ----------------------------------------------


async def test_s1_s2_tasks_capability_declared_and_exhaustive() -> None:
    """S-1: `tasks` declared at initialize; S-2: `requests` lists only tools/call."""
    harness = build()
    async with session(harness, init=None) as conn:
        result = await conn.result("initialize", INIT_PARAMS)
        assert result["protocolVersion"] == "2025-11-25"
        assert result["capabilities"]["tasks"] == {
            "list": {},
            "cancel": {},
            "requests": {"tools": {"call": {}}},
        }
        schema_errors("InitializeResult", result, expect_none=True)


async def test_s2_s3_task_param_ignored_on_request_types_not_declared() -> None:
    """S-2/S-3: tools/list and ping are not task-augmentable, so a `task` field is ignored."""
    harness = build()
    async with session(harness) as conn:
        listed = await conn.result("tools/list", {"task": {"ttl": 1000}})
        assert [t["name"] for t in listed["tools"]] == list(harness.app.tools)
        assert "task" not in listed
        assert await conn.result("ping", {"task": {}}) == {}
        assert await list_all(conn) == []


async def test_s3_old_protocol_has_no_tasks_capability_nor_execution() -> None:
    """S-3/S-6: a 2025-06-18 session gets no `tasks` capability and no `execution` on tools."""
    harness = build()
    async with session(harness, init=None) as conn:
        result = await conn.result("initialize", OLD_INIT)
        assert result["protocolVersion"] == "2025-06-18"
        assert "tasks" not in result["capabilities"]
        listed = await conn.result("tools/list")
        assert listed["tools"], listed
        assert all("execution" not in tool for tool in listed["tools"])


@pytest.mark.parametrize("version", ["2025-06-18", "2025-03-26", "2024-11-05"])
@pytest.mark.parametrize("method", TASK_METHODS)
async def test_s3_old_protocol_tasks_methods_not_found(method: str, version: str) -> None:
    """S-3: without the capability, tasks/* do not exist: -32601."""
    harness = build()
    async with session(harness, init={**INIT_PARAMS, "protocolVersion": version}) as conn:
        params = {} if method == "tasks/list" else {"taskId": "anything"}
        error = await conn.error(method, params)
        assert error["code"] == -32601


async def test_s3_old_protocol_ignores_task_param_and_runs_required_inline() -> None:
    """S-3: on 2025-06-18 the `task` field is ignored and a `required` tool runs inline."""
    harness = build()
    async with session(harness, init=OLD_INIT) as conn:
        with_task = await conn.result(
            "tools/call", {"name": "required", "arguments": {"x": 3}, "task": {"ttl": 5000}}
        )
        assert with_task == text_result("required 3")
        without = await conn.result("tools/call", {"name": "required", "arguments": {"x": 4}})
        assert without == text_result("required 4")
        plain = await conn.result(
            "tools/call", {"name": "plain", "arguments": {"x": 5}, "task": {}}
        )
        assert plain == {
            "content": [{"type": "text", "text": "10"}],
            "structuredContent": {"result": 10},
        }
        assert harness.calls == ["required", "required", "plain"]


async def test_s4_optional_tool_without_task_runs_inline() -> None:
    """S-4 (MAY error; taskapp does not for `optional`): a plain call gets a CallToolResult."""
    harness = build()
    async with session(harness) as conn:
        result = await conn.result("tools/call", {"name": "work", "arguments": {"steps": 2}})
        assert result == text_result("worked 2")
        schema_errors("CallToolResult", result, expect_none=True)
        assert await list_all(conn) == []


async def test_s6_execution_shown_only_with_the_capability() -> None:
    """S-6: on 2025-11-25 the capability is declared and every tool says its taskSupport."""
    harness = build()
    async with session(harness) as conn:
        listed = await conn.result("tools/list")
        modes = {t["name"]: t["execution"] for t in listed["tools"]}
        assert modes == {
            "plain": {"taskSupport": "forbidden"},
            "required": {"taskSupport": "required"},
            "work": {"taskSupport": "optional"},
            "gate": {"taskSupport": "optional"},
            "stubborn": {"taskSupport": "optional"},
            "raises": {"taskSupport": "optional"},
            "tool_error": {"taskSupport": "optional"},
            "protocol_error": {"taskSupport": "optional"},
        }
        schema_errors("ListToolsResult", listed, expect_none=True)


async def test_s7_forbidden_tool_with_task_is_method_not_found() -> None:
    """S-7: a `forbidden` tool called as a task → -32601, and no task is created."""
    harness = build()
    async with session(harness) as conn:
        error = await conn.error("tools/call", {"name": "plain", "arguments": {"x": 1}, "task": {}})
        assert error["code"] == -32601
        assert "forbidden" in error["message"]
        assert harness.calls == []
        assert await list_all(conn) == []


async def test_s9_required_tool_without_task_is_method_not_found() -> None:
    """S-9: a `required` tool called without a task → -32601, and it does not run."""
    harness = build()
    async with session(harness) as conn:
        error = await conn.error("tools/call", {"name": "required", "arguments": {"x": 1}})
        assert error["code"] == -32601
        assert "required" in error["message"]
        assert harness.calls == []
        assert await list_all(conn) == []


# -- creation, ids, lifecycle --------------------------------------------------


async def test_s10_s11_create_task_result_is_immediate_and_working() -> None:
    """S-10: a CreateTaskResult before the function ends; S-11: it starts `working`."""
    harness = build(poll_interval_ms=250)
    async with session(harness) as conn:
        created = await create(conn, "gate", task={"ttl": 60_000})
        assert set(created) == {
            "taskId",
            "status",
            "createdAt",
            "lastUpdatedAt",
            "ttl",
            "pollInterval",
        }
        assert created["status"] == "working"
        assert created["ttl"] == 60_000
        assert created["pollInterval"] == 250
        assert not harness.release.is_set()
        got = await conn.result("tasks/get", {"taskId": created["taskId"]})
        assert got["status"] == "working"
        harness.release.set()
        assert (await ended(conn, created["taskId"]))["status"] == "completed"


async def test_s12_s48_task_ids_are_unique_unguessable_strings() -> None:
    """S-12: ids are receiver-made unique strings; S-48: >= 128 bits (>= 22 url-safe chars)."""
    harness = build()
    count = 1000
    async with session(harness) as conn:
        request = {"name": "required", "arguments": {"x": 1}, "task": {}}
        for n in range(count):
            await conn.send(
                {"jsonrpc": "2.0", "id": f"c{n}", "method": "tools/call", "params": request}
            )
        ids: list[str] = []
        for n in range(count):
            response = await conn.response(f"c{n}")
            ids.append(response["result"]["task"]["taskId"])
    assert all(isinstance(i, str) for i in ids)
    assert len(set(ids)) == count
    for task_id in ids:
        assert len(task_id) >= 22, task_id
        padded = task_id + "=" * (-len(task_id) % 4)
        assert len(base64.urlsafe_b64decode(padded)) * 8 >= 128
        assert base64.urlsafe_b64encode(base64.urlsafe_b64decode(padded)).decode() == padded
        # An operator pastes it into `taskapp tasks cancel ID`: a leading dash would read as
        # an option (about one id in 64 of plain url-safe base64 starts with one).
        assert not task_id.startswith("-"), task_id


async def test_s13_notified_statuses_follow_valid_transitions() -> None:
    """S-13: every status sequence is a valid path, and nothing follows a terminal status."""
    harness = build()
    async with session(harness) as conn:
        done = await create(conn, "work", {"steps": 3})
        failed = await create(conn, "raises")
        cancelled = await create(conn, "gate")
        stubborn = await create(conn, "stubborn")
        await conn.result("tasks/cancel", {"taskId": cancelled["taskId"]})
        await conn.result("tasks/cancel", {"taskId": stubborn["taskId"]})
        harness.release.set()
        with anyio.fail_after(5):
            await harness.returned.wait()
        expected = {
            done["taskId"]: "completed",
            failed["taskId"]: "failed",
            cancelled["taskId"]: "cancelled",
            stubborn["taskId"]: "cancelled",
        }
        for task_id in expected:
            await ended(conn, task_id)
        await flush(conn)
        for task_id, final in expected.items():
            seen = ["working"] + [n["status"] for n in statuses(conn, task_id)]
            for before, after in itertools.pairwise(seen):
                assert after in NEXT_STATUSES.get(before, set()), (task_id, seen)
            assert seen[-1] == final
            got = await conn.result("tasks/get", {"taskId": task_id})
            assert got["status"] == final
        assert [n["status"] for n in statuses(conn, done["taskId"])] == [
            "working",
            "working",
            "working",
            "completed",
        ]


async def test_s13_completed_task_stays_completed() -> None:
    """S-13: a terminal status is final: a cancel is refused and the status stays."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "work")
        await ended(conn, created["taskId"])
        await conn.error("tasks/cancel", {"taskId": created["taskId"]})
        got = await conn.result("tasks/get", {"taskId": created["taskId"]})
        assert got["status"] == "completed"
        assert len([n for n in statuses(conn, created["taskId"]) if n["status"] in TERMINAL]) == 1


async def test_s14_tool_error_ends_failed_with_is_error_result() -> None:
    """S-14: a tool result with isError: true → the task is `failed`; the result says why."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "tool_error")
        task_id = created["taskId"]
        note = await ended(conn, task_id)
        assert note["status"] == "failed"
        got = await conn.result("tasks/get", {"taskId": task_id})
        assert got["status"] == "failed"
        assert got["statusMessage"] == "the tool says no"
        result = await conn.result("tasks/result", {"taskId": task_id})
        assert result == text_result("the tool says no", task_id, is_error=True)


async def test_s14_invalid_arguments_end_failed_with_is_error_result() -> None:
    """S-14: invalid arguments as a task: a task is created, ends `failed`, isError result."""
    harness = build()
    async with session(harness) as conn:
        inline = await conn.result("tools/call", {"name": "work", "arguments": {"steps": "many"}})
        assert inline["isError"] is True
        created = await create(conn, "work", {"steps": "many"})
        task_id = created["taskId"]
        assert (await ended(conn, task_id))["status"] == "failed"
        result = await conn.result("tasks/result", {"taskId": task_id})
        assert result == {**inline, "_meta": {RELATED_TASK: {"taskId": task_id}}}
        assert harness.calls == []


# -- TTL and polling -----------------------------------------------------------


async def test_s20_timestamps_rfc3339_utc_and_last_updated_moves() -> None:
    """S-20: createdAt/lastUpdatedAt in every task response; lastUpdatedAt changes."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "gate")
        task_id = created["taskId"]
        await anyio.sleep(0.01)  # let the wall clock pass a millisecond
        harness.release.set()
        await ended(conn, task_id)
        got = await conn.result("tasks/get", {"taskId": task_id})
        check_task(got)
        assert got["createdAt"] == created["createdAt"]
        assert parse_time(got["lastUpdatedAt"]) > parse_time(created["lastUpdatedAt"])
        listed = await list_all(conn)
        assert listed == [got]
        for note in statuses(conn, task_id):
            check_task(note)
            assert note["createdAt"] == created["createdAt"]
        assert statuses(conn, task_id)[-1]["lastUpdatedAt"] == got["lastUpdatedAt"]


async def test_s22_s23_requested_ttl_is_honoured_and_reported() -> None:
    """S-22/S-23: a requested ttl within the limit is kept, in every Task the server shows."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "work", task={"ttl": 60_000})
        assert created["ttl"] == 60_000
        await ended(conn, created["taskId"])
        got = await conn.result("tasks/get", {"taskId": created["taskId"]})
        assert got["ttl"] == 60_000
        assert [t["ttl"] for t in await list_all(conn)] == [60_000]
        assert {n["ttl"] for n in statuses(conn, created["taskId"])} == {60_000}


async def test_s22_s23_too_large_ttl_is_capped_at_max() -> None:
    """S-22: a ttl above max_ttl_ms is lowered to it; S-23: the actual ttl is reported."""
    harness = build(max_ttl_ms=120_000)
    async with session(harness) as conn:
        created = await create(conn, "gate", task={"ttl": 10**9})
        assert created["ttl"] == 120_000
        got = await conn.result("tasks/get", {"taskId": created["taskId"]})
        assert got["ttl"] == 120_000
        harness.release.set()
        await ended(conn, created["taskId"])


async def test_s22_s23_default_ttl_when_none_requested() -> None:
    """S-23: with no ttl asked, the app's default_ttl_ms is applied and reported."""
    harness = build(default_ttl_ms=90_000)
    async with session(harness) as conn:
        created = await create(conn, "work")
        assert created["ttl"] == 90_000
        got = await conn.result("tasks/get", {"taskId": created["taskId"]})
        assert got["ttl"] == 90_000


async def test_s22_s23_builtin_defaults_one_hour_and_one_day_cap() -> None:
    """S-22/S-23: the defaults: 1 hour when none is asked, at most 1 day."""
    harness = build()
    async with session(harness) as conn:
        default = await create(conn, "work")
        capped = await create(conn, "work", task={"ttl": 10**12})
        assert default["ttl"] == 3_600_000
        assert capped["ttl"] == 86_400_000


async def test_s23_unlimited_ttl_is_null_but_present() -> None:
    """S-23: `ttl` is always present; null means unlimited."""
    harness = build(default_ttl_ms=None, max_ttl_ms=None)
    async with session(harness) as conn:
        created = await create(conn, "work")
        assert "ttl" in created
        assert created["ttl"] is None
        await ended(conn, created["taskId"])
        got = await conn.result("tasks/get", {"taskId": created["taskId"]})
        assert "ttl" in got
        assert got["ttl"] is None
        schema_errors("GetTaskResult", got, expect_none=True)


async def test_s24_running_task_expires_deleted_and_cancelled() -> None:
    """S-24: at its ttl a running task is deleted (its function cancelled): -32602 after."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "gate", task={"ttl": 200})
        task_id = created["taskId"]
        await conn.send(
            {"jsonrpc": "2.0", "id": "r24", "method": "tasks/result", "params": {"taskId": task_id}}
        )
        response = await conn.response("r24")
        assert response["error"]["code"] == -32602
        assert "Task has expired" in response["error"]["message"]
        with anyio.fail_after(5):
            await harness.cancelled.wait()
        error = await conn.error("tasks/get", {"taskId": task_id})
        assert error["code"] == -32602
        assert await list_all(conn) == []
        assert (await conn.error("tasks/cancel", {"taskId": task_id}))["code"] == -32602


async def test_s24_completed_task_expires_and_is_deleted() -> None:
    """S-24: a finished task and its result are gone once its ttl has elapsed."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "work", task={"ttl": 100})
        task_id = created["taskId"]
        await ended(conn, task_id)
        with anyio.fail_after(5):
            while True:  # the ttl runs from creation; poll the server until it has passed
                if "error" in await conn.call("tasks/get", {"taskId": task_id}):
                    break
                await anyio.sleep(0.02)
        error = await conn.error("tasks/result", {"taskId": task_id})
        assert error["code"] == -32602
        assert await list_all(conn) == []


async def test_s25_poll_interval_in_tasks_get() -> None:
    """S-25: tasks/get suggests the app's pollInterval (ms)."""
    harness = build(poll_interval_ms=1234)
    async with session(harness) as conn:
        created = await create(conn, "gate")
        got = await conn.result("tasks/get", {"taskId": created["taskId"]})
        assert got["pollInterval"] == 1234
        assert created["pollInterval"] == 1234
        harness.release.set()
        await ended(conn, created["taskId"])


# -- tasks/result --------------------------------------------------------------


async def test_s27_terminal_task_returns_final_result() -> None:
    """S-27: a completed task's tasks/result is the CallToolResult of the tool."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "work", {"steps": 2})
        await ended(conn, created["taskId"])
        result = await conn.result("tasks/result", {"taskId": created["taskId"]})
        assert result == text_result("worked 2", created["taskId"])
        schema_errors("CallToolResult", result, expect_none=True)
        again = await conn.result("tasks/result", {"taskId": created["taskId"]})
        assert again == result


async def test_s28_tasks_result_blocks_until_terminal() -> None:
    """S-28: tasks/result on a `working` task answers only when the task ends."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "gate")
        task_id = created["taskId"]
        await conn.send(
            {"jsonrpc": "2.0", "id": "r28", "method": "tasks/result", "params": {"taskId": task_id}}
        )
        await flush(conn)
        with anyio.fail_after(5):
            await harness.started.wait()
        await flush(conn)
        assert "r28" not in conn.responses
        harness.release.set()
        response = await conn.response("r28")
        assert response["result"] == text_result("released", task_id)
        note = statuses(conn, task_id)[-1]
        assert note["status"] == "completed"
        assert conn.received.index(response) > conn.received.index(
            {"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": note}
        )


async def test_s29_tasks_result_equals_inline_result() -> None:
    """S-29: tasks/result is exactly what tools/call would have returned (plus related _meta)."""
    harness = build()
    async with session(harness) as conn:
        for name, arguments in [("work", {"steps": 1}), ("tool_error", {}), ("raises", {})]:
            inline = await conn.result("tools/call", {"name": name, "arguments": arguments})
            created = await create(conn, name, arguments)
            await ended(conn, created["taskId"])
            result = await conn.result("tasks/result", {"taskId": created["taskId"]})
            meta = result.pop("_meta")
            assert meta == {RELATED_TASK: {"taskId": created["taskId"]}}
            assert result == inline


async def test_s29_protocol_error_is_returned_as_the_same_jsonrpc_error() -> None:
    """S-29/S-27: a JSON-RPC error from the tool: task `failed`, tasks/result the same error."""
    harness = build()
    async with session(harness) as conn:
        inline = await conn.error("tools/call", {"name": "protocol_error", "arguments": {}})
        expected = {"code": ERROR_CODE, "message": "custom failure", "data": {"why": "testing"}}
        assert inline == expected
        created = await create(conn, "protocol_error")
        assert (await ended(conn, created["taskId"]))["status"] == "failed"
        error = await conn.error("tasks/result", {"taskId": created["taskId"]})
        assert error == expected


async def test_s30_tasks_result_carries_related_task_meta() -> None:
    """S-30: the tasks/result response has _meta io.modelcontextprotocol/related-task."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "required", {"x": 7})
        await ended(conn, created["taskId"])
        result = await conn.result("tasks/result", {"taskId": created["taskId"]})
        assert result["_meta"] == {RELATED_TASK: {"taskId": created["taskId"]}}
        assert result == text_result("required 7", created["taskId"])
        schema_errors("GetTaskPayloadResult", result, expect_none=True)


# -- related-task metadata -----------------------------------------------------


async def test_s32_related_task_meta_in_requests_is_ignored() -> None:
    """S-32: the taskId param is the source of truth; a related-task _meta is ignored."""
    harness = build()
    async with session(harness) as conn:
        blocked = await create(conn, "gate")
        done = await create(conn, "work")
        await ended(conn, done["taskId"])

        def pointing_to(task_id: str, other: str) -> dict[str, Any]:
            return {"taskId": task_id, "_meta": {RELATED_TASK: {"taskId": other}}}

        got = await conn.result("tasks/get", pointing_to(blocked["taskId"], done["taskId"]))
        assert got["taskId"] == blocked["taskId"]
        assert got["status"] == "working"
        got = await conn.result("tasks/get", pointing_to(done["taskId"], "no-such-task"))
        assert got["taskId"] == done["taskId"]
        # Were the _meta used, this would block on the working task.
        result = await conn.result("tasks/result", pointing_to(done["taskId"], blocked["taskId"]))
        assert result == text_result("worked 1", done["taskId"])
        cancelled = await conn.result(
            "tasks/cancel", pointing_to(blocked["taskId"], done["taskId"])
        )
        assert cancelled["taskId"] == blocked["taskId"]
        assert cancelled["status"] == "cancelled"
        still = await conn.result("tasks/get", {"taskId": done["taskId"]})
        assert still["status"] == "completed"


async def test_s33_get_list_cancel_results_have_no_related_task_meta() -> None:
    """S-33: tasks/get, tasks/list and tasks/cancel results carry no related-task _meta."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "gate")
        task_id = created["taskId"]
        got = await conn.result("tasks/get", {"taskId": task_id})
        assert "_meta" not in got
        schema_errors("GetTaskResult", got, expect_none=True)
        listed = await conn.result("tasks/list")
        assert list(listed) == ["tasks"]
        assert all("_meta" not in task for task in listed["tasks"])
        schema_errors("ListTasksResult", listed, expect_none=True)
        cancelled = await conn.result("tasks/cancel", {"taskId": task_id})
        assert "_meta" not in cancelled
        check_task(cancelled)
        schema_errors("CancelTaskResult", cancelled, expect_none=True)


# -- notifications and progress ------------------------------------------------


async def test_s34_s35_status_notifications_are_full_tasks_without_related_meta() -> None:
    """S-34: notifications/tasks/status carries the full Task; S-35: no related-task _meta."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "work", {"steps": 2}, task={"ttl": 30_000})
        task_id = created["taskId"]
        await ended(conn, task_id)
        notes = [
            n
            for n in conn.notifications
            if n["method"] == "notifications/tasks/status" and n["params"]["taskId"] == task_id
        ]
        assert [n["params"].get("statusMessage") for n in notes] == ["step 1/2", "step 2/2", None]
        for note in notes:
            assert set(note) == {"jsonrpc", "method", "params"}
            assert "_meta" not in note["params"]
            check_task(note["params"])
            assert note["params"]["ttl"] == 30_000
            assert note["params"]["createdAt"] == created["createdAt"]
            schema_errors("TaskStatusNotification", note, expect_none=True)
        got = await conn.result("tasks/get", {"taskId": task_id})
        assert notes[-1]["params"] == got


@pytest.mark.parametrize("token", ["tok-37", 37])
async def test_s37_progress_uses_original_token_after_create(token: str | int) -> None:
    """S-37: progress after CreateTaskResult uses the request's progressToken, and stops.

    S-31: each progress notification also carries the related-task _meta.
    """
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "work", {"steps": 3}, token=token)
        task_id = created["taskId"]
        final = await ended(conn, task_id)
        await flush(conn)
        progress = [n for n in conn.received if n.get("method") == "notifications/progress"]
        assert [n["params"] for n in progress] == [
            {
                "progressToken": token,
                "progress": i,
                "total": 3,
                "message": f"step {i}",
                "_meta": {RELATED_TASK: {"taskId": task_id}},
            }
            for i in (1, 2, 3)
        ]
        for note in progress:
            schema_errors("ProgressNotification", note, expect_none=True)
        create_at = next(i for i, m in enumerate(conn.received) if m.get("result", {}).get("task"))
        end_at = conn.received.index(
            {"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": final}
        )
        assert all(create_at < conn.received.index(n) < end_at for n in progress)


async def test_s37_no_progress_after_terminal_status() -> None:
    """S-37: progress stops at the end, even if the function reports some afterwards."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "stubborn", token="tok-late")
        with anyio.fail_after(5):
            await harness.started.wait()
        await conn.result("tasks/cancel", {"taskId": created["taskId"]})
        harness.release.set()
        with anyio.fail_after(5):
            await harness.returned.wait()
        await flush(conn)
        assert conn.notes("notifications/progress") == []


async def test_s37_no_progress_without_a_token() -> None:
    """S-37: progress goes only to a request that gave a progressToken."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "work", {"steps": 2})
        await ended(conn, created["taskId"])
        await flush(conn)
        assert conn.notes("notifications/progress") == []


# -- tasks/list ----------------------------------------------------------------


async def test_s38_tasks_list_paginates_with_next_cursor() -> None:
    """S-38: more tasks than page_size → nextCursor; the pages give every task once, in order."""
    harness = build(page_size=3)
    async with session(harness) as conn:
        ids = [(await create(conn, "work"))["taskId"] for _ in range(7)]
        first = await conn.result("tasks/list")
        assert len(first["tasks"]) == 3
        assert isinstance(first["nextCursor"], str)
        second = await conn.result("tasks/list", {"cursor": first["nextCursor"]})
        assert len(second["tasks"]) == 3
        assert isinstance(second["nextCursor"], str)
        third = await conn.result("tasks/list", {"cursor": second["nextCursor"]})
        assert len(third["tasks"]) == 1
        assert "nextCursor" not in third
        pages = first["tasks"] + second["tasks"] + third["tasks"]
        assert [t["taskId"] for t in pages] == ids
        for page in (first, second, third):
            schema_errors("ListTasksResult", page, expect_none=True)


async def test_s38_exact_pages_end_without_cursor() -> None:
    """S-38: nextCursor only if more tasks are available (6 tasks, pages of 3)."""
    harness = build(page_size=3)
    async with session(harness) as conn:
        for _ in range(6):
            await create(conn, "work")
        first = await conn.result("tasks/list")
        second = await conn.result("tasks/list", {"cursor": first["nextCursor"]})
        assert len(second["tasks"]) == 3
        assert second.get("nextCursor") is None or (
            await conn.result("tasks/list", {"cursor": second["nextCursor"]})
        ) == {"tasks": []}


@pytest.mark.parametrize("cursor", ["garbage", "", "!!!", 12, "tools/list cursor"])
async def test_s38_s45_bad_cursor_is_invalid_params(cursor: Any) -> None:
    """S-38/S-45: a cursor the server did not hand out → -32602 (even a tools/list one)."""
    harness = build(page_size=3)
    async with session(harness) as conn:
        await create(conn, "work")
        if cursor == "tools/list cursor":
            cursor = (await conn.result("tools/list"))["nextCursor"]
        error = await conn.error("tasks/list", {"cursor": cursor})
        assert error["code"] == -32602


async def test_s39_every_gettable_task_is_listed() -> None:
    """S-39: whatever tasks/get returns, tasks/list returns too (same Task)."""
    harness = build(page_size=2)
    async with session(harness) as conn:
        ids = [
            (await create(conn, "work"))["taskId"],
            (await create(conn, "raises"))["taskId"],
            (await create(conn, "gate"))["taskId"],
        ]
        await ended(conn, ids[0])
        await ended(conn, ids[1])
        listed = await list_all(conn)
        assert [t["taskId"] for t in listed] == ids
        for task in listed:
            assert task == await conn.result("tasks/get", {"taskId": task["taskId"]})
        assert [t["status"] for t in listed] == ["completed", "failed", "working"]


# -- tasks/cancel --------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "status"), [("work", "completed"), ("tool_error", "failed"), ("gate", "cancelled")]
)
async def test_s40_cancel_of_terminal_task_is_invalid_params(tool: str, status: str) -> None:
    """S-40: cancelling a task in a terminal status → -32602; the status does not change."""
    harness = build()
    async with session(harness) as conn:
        task_id = (await create(conn, tool))["taskId"]
        if tool == "gate":
            await conn.result("tasks/cancel", {"taskId": task_id})
        await ended(conn, task_id)
        error = await conn.error("tasks/cancel", {"taskId": task_id})
        assert error == {
            "code": -32602,
            "message": f"Cannot cancel task: already in terminal status '{status}'",
        }
        assert (await conn.result("tasks/get", {"taskId": task_id}))["status"] == status


async def test_s41_cancel_moves_to_cancelled_before_answering_and_stops() -> None:
    """S-41: the tasks/cancel answer is the `cancelled` task; the function is stopped."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "gate")
        task_id = created["taskId"]
        with anyio.fail_after(5):
            await harness.started.wait()
        cancelled = await conn.result("tasks/cancel", {"taskId": task_id})
        check_task(cancelled)
        assert cancelled["taskId"] == task_id
        assert cancelled["status"] == "cancelled"
        assert cancelled["statusMessage"] == CANCELLED_TEXT
        with anyio.fail_after(5):
            await harness.cancelled.wait()
        got = await conn.result("tasks/get", {"taskId": task_id})
        assert got == cancelled
        assert (await ended(conn, task_id)) == cancelled
        result = await conn.result("tasks/result", {"taskId": task_id})
        assert result == text_result(CANCELLED_TEXT, task_id, is_error=True)


async def test_s42_cancelled_stays_cancelled_when_function_returns() -> None:
    """S-42/S-13: the function returns after the cancel; the task stays `cancelled`."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, "stubborn")
        task_id = created["taskId"]
        with anyio.fail_after(5):
            await harness.started.wait()
        cancelled = await conn.result("tasks/cancel", {"taskId": task_id})
        harness.release.set()
        with anyio.fail_after(5):
            await harness.returned.wait()
        await flush(conn)
        got = await conn.result("tasks/get", {"taskId": task_id})
        assert got == cancelled
        assert got["statusMessage"] == CANCELLED_TEXT
        assert [n["status"] for n in statuses(conn, task_id)] == ["cancelled"]
        result = await conn.result("tasks/result", {"taskId": task_id})
        assert result == text_result(CANCELLED_TEXT, task_id, is_error=True)


async def test_s44_notifications_cancelled_does_not_cancel_a_task() -> None:
    """S-44: notifications/cancelled naming the tools/call id leaves the created task alone."""
    harness = build()
    async with session(harness) as conn:
        params = {"name": "gate", "arguments": {}, "task": {}}
        await conn.send(
            {"jsonrpc": "2.0", "id": "call-44", "method": "tools/call", "params": params}
        )
        task_id = (await conn.response("call-44"))["result"]["task"]["taskId"]
        await conn.send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": "call-44", "reason": "changed my mind"},
            }
        )
        await flush(conn)
        with anyio.fail_after(5):
            await harness.started.wait()
        await flush(conn)
        assert not harness.cancelled.is_set()
        assert (await conn.result("tasks/get", {"taskId": task_id}))["status"] == "working"
        harness.release.set()
        result = await conn.result("tasks/result", {"taskId": task_id})
        assert result == text_result("released", task_id)


# -- errors --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["tasks/get", "tasks/result", "tasks/cancel"])
async def test_s45_unknown_task_id_is_invalid_params(method: str) -> None:
    """S-45: a nonexistent taskId → -32602 with an informative message."""
    harness = build()
    async with session(harness) as conn:
        error = await conn.error(method, {"taskId": "no-such-task"})
        assert error["code"] == -32602
        assert error["message"].startswith("Failed to retrieve task: Task not found")
        assert "no-such-task" in error["message"]


@pytest.mark.parametrize("params", [{}, {"taskId": 12}, {"taskId": None}])
@pytest.mark.parametrize("method", ["tasks/get", "tasks/result", "tasks/cancel"])
async def test_s45_invalid_task_id_is_invalid_params(method: str, params: dict[str, Any]) -> None:
    """S-45: a missing or non-string taskId → -32602."""
    harness = build()
    async with session(harness) as conn:
        error = await conn.error(method, params)
        assert error["code"] == -32602
        assert "taskId" in error["message"]


class _BrokenStore(MemoryStore):
    """A store that fails on one id, to provoke an internal error."""

    async def get(self, task_id: str, *, now: float) -> Any:
        if task_id == "explode":
            raise RuntimeError("the store is on fire")
        return await super().get(task_id, now=now)


async def test_s45_internal_error_is_32603() -> None:
    """S-45: an internal failure → -32603, and the session goes on."""
    harness = build(store=_BrokenStore())
    async with session(harness) as conn:
        error = await conn.error("tasks/get", {"taskId": "explode"})
        assert error["code"] == -32603
        assert error["message"].startswith("Internal error (id ")  # the text is in the log only
        assert "the store is on fire" not in error["message"]
        await flush(conn)


async def test_app_uses_the_store_it_was_given() -> None:
    """The store passed to TaskApp(store=...) is the one tasks go to, even while empty."""
    store = MemoryStore()
    harness = build(store=store)
    async with session(harness) as conn:
        created = await create(conn, "work")
        await ended(conn, created["taskId"])
    assert len(store) == 1, "TaskApp.running() ignored an empty MemoryStore (it is falsy)"


@pytest.mark.parametrize(
    ("tool", "message"), [("raises", "ValueError: boom"), ("protocol_error", "custom failure")]
)
async def test_s46_failed_task_has_diagnostic_status_message(tool: str, message: str) -> None:
    """S-46: tasks/get of a failed task includes a statusMessage that says why."""
    harness = build()
    async with session(harness) as conn:
        created = await create(conn, tool)
        note = await ended(conn, created["taskId"])
        assert note["status"] == "failed"
        got = await conn.result("tasks/get", {"taskId": created["taskId"]})
        assert got["status"] == "failed"
        assert got["statusMessage"] == message
        assert note["statusMessage"] == message


# -- stdio ---------------------------------------------------------------------


async def test_s49_stdio_session_advertises_tasks_list() -> None:
    """S-49: stdio has one identified client, so `tasks.list` is declared there."""
    command = [
        sys.executable,
        "-m",
        "taskapp",
        "run",
        "examples/hello.py:app",
        "--log-level",
        "error",
    ]
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}
    with anyio.fail_after(20):
        async with await anyio.open_process(command, cwd=REPO) as process:
            assert process.stdin is not None
            assert process.stdout is not None
            await process.stdin.send(pydantic_core.to_json(request) + b"\n")
            buffer = b""
            while b"\n" not in buffer:
                buffer += await process.stdout.receive()
            await process.stdin.aclose()
            await process.wait()
    response = pydantic_core.from_json(buffer.split(b"\n")[0])
    assert response["id"] == 1
    assert response["result"]["capabilities"]["tasks"] == {
        "list": {},
        "cancel": {},
        "requests": {"tools": {"call": {}}},
    }
