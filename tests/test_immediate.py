"""One dispatch: a handler returns its answer or an awaitable of it (`sessions.peer.Handled`).

The Peer calls the handler in the read loop's turn: a ready answer is sent there and then,
with no task of its own; an awaitable one runs in a task that notifications/cancelled can
cancel. With a MemoryStore the engine's reads and creations are ready (`engine.maybe`), so
`tasks/get`, `tasks/result` of an ended task and a task's creation are answered in that
turn. The answers must be exactly those a store that waits gets: a MemoryStore subclass
that overrides `get` (the engine cannot know that such a `get` never waits).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import anyio
import pydantic_core
import pytest

from taskapp import MemoryStore
from taskapp.engine.maybe import Maybe, settled, then
from taskapp.sessions.channel import Channel
from taskapp.sessions.peer import Handled, Peer, current_request
from taskapp.sessions.server import ServerSession
from taskapp.wire import mcp2025
from taskapp.wire.jsonrpc import JsonRpcError, Reply, Request, RequestId

from .protocol_app import build
from .raw import INIT_PARAMS, RawConnection
from .test_tasks_protocol import ended, session

pytestmark = pytest.mark.anyio


class _WaitingStore(MemoryStore):
    """The same store, but its `get` awaits: the engine must take the awaited path."""

    async def get(self, task_id: str, *, now: float) -> Any:
        await anyio.lowlevel.checkpoint()
        return await super().get(task_id, now=now)


# -- the Peer: one dispatch ----------------------------------------------------------


class _ScriptChannel(Channel):
    """Hands over the scripted messages one `receive` at a time, then waits for `done`;
    notes how many messages had been read when each answer was sent."""

    def __init__(self, messages: list[dict[str, Any]], *, answers: int) -> None:
        self._messages = [pydantic_core.to_json(m) for m in messages]
        self.reads = 0
        self.sent: list[tuple[int, dict[str, Any]]] = []  # (reads so far, message)
        self._answers = answers
        self.answered = anyio.Event()  # `answers` answers have been sent
        self.done = anyio.Event()

    async def receive(self) -> bytes:
        if self.reads == len(self._messages):
            await self.done.wait()
            raise anyio.EndOfStream
        self.reads += 1
        return self._messages[self.reads - 1]

    def send_nowait(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> bool:
        self.sent.append((self.reads, pydantic_core.from_json(data)))
        if len(self.sent) == self._answers:
            self.answered.set()
        return True

    async def send(
        self, data: bytes, *, related: RequestId | None = None, final: bool = False
    ) -> None:
        self.send_nowait(data, related=related, final=final)

    async def aclose(self) -> None:
        pass

    def answer(self, request_id: RequestId) -> tuple[int, dict[str, Any]]:
        return next((n, m) for n, m in self.sent if m.get("id") == request_id)


def _request(request_id: RequestId, method: str, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


async def _serve(handler: Callable[[Request], Handled], channel: _ScriptChannel) -> None:
    """Run a Peer over the scripted messages until the answers wanted have been sent."""
    peer = Peer(channel, handler, _ignore)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(peer.run)
            await channel.answered.wait()
            channel.done.set()


async def _ignore(method: str, params: dict[str, Any]) -> None:
    pass


async def test_a_ready_answer_is_sent_before_the_next_message_is_read() -> None:
    """No task, no loop turn: the answer goes out in the turn that read the request, while
    an awaitable answer is sent by a task of its own, once the read loop has let go."""
    seen: list[RequestId | None] = []

    def handler(request: Request) -> Handled:
        seen.append(current_request.get())
        if request.method == "ready":
            return {"ready": request.id}

        async def later() -> dict[str, Any]:
            return {"awaited": request.id}

        return later()

    script = [_request(1, "ready"), _request(2, "awaited"), _request(3, "ready")]
    channel = _ScriptChannel(script, answers=3)
    await _serve(handler, channel)
    assert channel.answer(1) == (1, {"jsonrpc": "2.0", "id": 1, "result": {"ready": 1}})
    assert channel.answer(3)[0] == 3
    reads, awaited = channel.answer(2)
    assert reads == 3  # after every message had been read: it ran in a task
    assert awaited["result"] == {"awaited": 2}
    assert [m["id"] for _, m in channel.sent] == [1, 3, 2]
    # The handler ran as the request's own, and the read loop's context was restored.
    assert seen == [1, 2, 3]
    assert current_request.get() is None


async def test_after_send_runs_right_after_a_ready_answer_as_the_request() -> None:
    order: list[Any] = []
    channel = _ScriptChannel([_request("c", "create")], answers=1)

    def started() -> None:
        order.append(("started", current_request.get(), len(channel.sent)))

    def handler(request: Request) -> Handled:
        return Reply({"task": {}}, after_send=started)

    await _serve(handler, channel)
    # Started as the request's own, once its answer (the only message) was queued.
    assert order == [("started", "c", 1)]


@pytest.mark.parametrize(
    "failure", [JsonRpcError(-32602, "Invalid params: no"), ValueError("boom")]
)
async def test_errors_are_answered_alike_raised_at_once_or_awaited(failure: Exception) -> None:
    def handler(request: Request) -> Handled:
        if request.method == "at-once":
            raise failure

        async def later() -> dict[str, Any]:
            await anyio.lowlevel.checkpoint()
            raise failure

        return later()

    channel = _ScriptChannel([_request(1, "at-once"), _request(2, "awaited")], answers=2)
    await _serve(handler, channel)
    at_once, awaited = channel.answer(1)[1], channel.answer(2)[1]
    if isinstance(failure, JsonRpcError):
        assert at_once["error"] == awaited["error"]
        assert at_once["error"]["code"] == failure.code
    else:  # the same generic message, each with an id of its own
        for answer in (at_once, awaited):
            assert answer["error"]["code"] == -32603
            assert answer["error"]["message"].startswith("Internal error (id ")


async def test_an_awaited_answer_runs_concurrently_and_notifications_cancelled_stops_it() -> None:
    stopped = anyio.Event()
    release = anyio.Event()

    def handler(request: Request) -> Handled:
        if request.method == "ready":
            return {}

        async def slow() -> dict[str, Any]:
            try:
                await release.wait()
            except anyio.get_cancelled_exc_class():
                stopped.set()
                raise
            return {"slow": request.id}

        return slow()

    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
    script = [_request(1, "slow"), _request(2, "ready"), cancel, _request(3, "slow")]
    channel = _ScriptChannel(script, answers=2)
    peer = Peer(channel, handler, _ignore)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(peer.run)
            await stopped.wait()  # 1 was cancelled while 3 went on waiting
            release.set()
            await channel.answered.wait()
            channel.done.set()
    # A request cancelled by notifications/cancelled gets no answer.
    assert [m for _, m in channel.sent] == [
        {"jsonrpc": "2.0", "id": 2, "result": {}},
        {"jsonrpc": "2.0", "id": 3, "result": {"slow": 3}},
    ]


# -- the engine: ready when the store answers without waiting ------------------------


async def test_reads_are_ready_only_with_a_store_that_answers_without_waiting() -> None:
    harness = build()
    for store, ready in ((MemoryStore(), True), (_WaitingStore(), False)):
        async with harness.app.running(store) as engine:
            new, start = await settled(
                engine.begin(harness.app.tools["required"], {"x": 1}, owner=None, ttl_ms=None)
            )
            start()
            read = engine.read(new.task_id, None)
            assert inspect.isawaitable(read) is not ready
            record = await settled(read)
            assert record is not None
            assert record.task_id == new.task_id
            assert await settled(engine.read(new.task_id, "someone else")) is None
            assert await settled(engine.read("nope", None)) is None
            await engine.wait_terminal(new.task_id, None)


async def test_then_chains_on_a_ready_value_at_once_and_on_an_awaitable_later() -> None:
    assert then(2, lambda n: n + 1) == 3

    async def two() -> int:
        return 2

    value: Maybe[int] = two()
    chained = then(value, lambda n: n + 1)
    assert inspect.isawaitable(chained)
    assert await chained == 3


async def test_a_ready_creation_stores_the_task_when_it_is_started_not_later() -> None:
    """The caller answers between `begin` and the function it returns; once that function
    has run, the task is stored as the answer showed it, before anything is awaited (the
    next request on the same read is handled right after)."""
    harness = build()
    store = MemoryStore()
    async with harness.app.running(store) as engine:
        created = engine.begin(harness.app.tools["required"], {"x": 3}, owner=None, ttl_ms=5000)
        assert not inspect.isawaitable(created)
        new, store_and_start = created
        assert new.task_id not in store
        store_and_start()
        record = engine.read(new.task_id, None)
        assert not inspect.isawaitable(record)
        assert record is not None
        assert mcp2025.task_json(record) == mcp2025.task_json(new)
        assert (record.arguments, record.ttl_ms) == ({"x": 3}, 5000)
        assert (await engine.wait_terminal(new.task_id, None)).status.value == "completed"


# -- the sessions: the same answers either way ---------------------------------------


def _normalised(message: dict[str, Any], task_ids: dict[str, str]) -> Any:
    """The message with its task ids numbered and its times blanked, to compare two runs."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: ("<time>" if k in ("createdAt", "lastUpdatedAt") else walk(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            for real, number in task_ids.items():
                value = value.replace(real, number)
        return value

    return walk(message)


async def _script(conn: RawConnection) -> list[Any]:
    """Every kind of request the immediate path answers, and the ones it must leave alone."""
    task_ids: dict[str, str] = {}
    seen: list[dict[str, Any]] = []

    async def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        response = await conn.call(method, params)
        task = (response.get("result") or {}).get("task") or {}
        if "taskId" in task:
            task_ids.setdefault(task["taskId"], f"<task {len(task_ids)}>")
        seen.append(response)
        return response

    created = await call("tools/call", {"name": "required", "arguments": {"x": 3}, "task": {}})
    task_id = created["result"]["task"]["taskId"]
    await ended(conn, task_id)
    await call("tasks/get", {"taskId": task_id})
    await call("tasks/result", {"taskId": task_id})
    await call("tasks/get", {"taskId": "nope"})
    await call("tasks/result", {"taskId": "nope"})
    await call("tasks/get", {})  # invalid params
    await call("tools/call", {"name": "plain", "arguments": {"x": 1}, "task": {}})  # forbidden
    await call("tools/call", {"name": "missing", "arguments": {}, "task": {}})
    await call("tools/call", {"name": "plain", "arguments": {"x": 2}})  # inline
    await call("tools/call", {"name": "required", "arguments": {"x": "no"}, "task": {}})
    return [_normalised(m, task_ids) for m in seen]


async def test_immediate_answers_are_the_ordinary_answers() -> None:
    transcripts = []
    for store in (MemoryStore(), _WaitingStore()):
        harness = build(store=store)
        async with session(harness) as conn:
            transcripts.append(await _script(conn))
    immediate, ordinary = transcripts
    assert immediate == ordinary
    # And the script did reach both kinds of answer.
    assert any("error" in m for m in immediate)
    assert any("result" in m and "task" in m["result"] for m in immediate)


async def _answer(handled: Handled) -> Any:
    return await handled if inspect.isawaitable(handled) else handled


@pytest.mark.parametrize(("store_type", "ready"), [(MemoryStore, True), (_WaitingStore, False)])
async def test_the_session_answers_ready_only_when_the_store_answers_without_waiting(
    store_type: type[MemoryStore], ready: bool
) -> None:
    """tasks/get, tasks/result of an ended task and a task's creation: ready with a
    MemoryStore; awaited with a subclass that overrides `get` (and so loses the face)."""
    harness = build()
    async with harness.app.running(store_type()) as engine:
        server = ServerSession(harness.app.spec(), engine)
        await _answer(server.on_request(Request(1, "initialize", INIT_PARAMS)))
        call = {"name": "required", "arguments": {"x": 1}, "task": {}}
        handled = server.on_request(Request(2, "tools/call", call))
        assert inspect.isawaitable(handled) is not ready
        created = await _answer(handled)
        created.after_send()  # what the Peer does once the answer is sent
        task_id = created.result["task"]["taskId"]
        await engine.wait_terminal(task_id, None)
        for method in ("tasks/get", "tasks/result"):
            handled = server.on_request(Request(3, method, {"taskId": task_id}))
            assert inspect.isawaitable(handled) is not ready
            assert await _answer(handled)
        # What may wait is awaited either way.
        listed = server.on_request(Request(4, "tasks/list", {}))
        assert inspect.isawaitable(listed)
        assert [t["taskId"] for t in (await _answer(listed))["tasks"]] == [task_id]


async def test_a_result_not_ready_yet_still_waits() -> None:
    """tasks/result of a running task is not immediate: it blocks until the end (S-28)."""
    harness = build()
    async with session(harness) as conn:
        created = await conn.result("tools/call", {"name": "gate", "arguments": {}, "task": {}})
        task_id = created["task"]["taskId"]
        await conn.send(
            {"jsonrpc": "2.0", "id": "r", "method": "tasks/result", "params": {"taskId": task_id}}
        )
        await anyio.sleep(0.05)
        assert "r" not in conn.responses
        harness.release.set()
        response = await conn.response("r")
        assert response["result"]["content"] == [{"type": "text", "text": "released"}]


async def test_the_task_limit_holds_on_a_ready_creation() -> None:
    """S-52 through a ready creation: the request over the limit gets -32000, not a task."""
    harness = build(max_tasks_per_owner=1)
    async with session(harness) as conn:
        await conn.result("tools/call", {"name": "gate", "arguments": {}, "task": {}})
        error = await conn.error("tools/call", {"name": "gate", "arguments": {}, "task": {}})
        assert error["code"] == -32000
        harness.release.set()


async def test_a_task_id_already_stored_is_never_handed_out_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """192 random bits do not repeat, but if they did the answer must not name a task that
    is already there: a ready creation draws again before it answers."""
    import taskapp.engine.core

    harness = build()
    async with session(harness) as conn:
        created = await conn.result(
            "tools/call", {"name": "required", "arguments": {"x": 1}, "task": {}}
        )
        taken = created["task"]["taskId"]
        draws = iter([taken, taken, "a-fresh-id"])
        monkeypatch.setattr(taskapp.engine.core, "new_task_id", lambda: next(draws))
        again = await conn.result(
            "tools/call", {"name": "required", "arguments": {"x": 2}, "task": {}}
        )
        assert again["task"]["taskId"] == "a-fresh-id"
        old = await conn.result("tasks/result", {"taskId": taken})
        new = await conn.result("tasks/result", {"taskId": "a-fresh-id"})
        assert old["content"] != new["content"]


@pytest.mark.parametrize(
    "params",
    [
        {"taskId": "abc"},
        {"taskId": "abc", "task_id": "other", "_meta": {"x": 1}},
        {"task_id": "by-name"},
        {"taskId": ""},
        {"taskId": 7},
        {"taskId": None},
        {"taskId": True},
        {"taskId": ["abc"]},
        {},
    ],
)
async def test_task_id_of_reads_params_as_the_model_does(params: dict[str, Any]) -> None:
    """The quick read of a taskId (every poll) agrees with TaskIdParams, errors included."""
    try:
        expected: Any = mcp2025.parse(mcp2025.TaskIdParams, params).task_id
    except JsonRpcError as exc:
        expected = (exc.code, exc.message)
    try:
        got: Any = mcp2025.task_id_of(params)
    except JsonRpcError as exc:
        got = (exc.code, exc.message)
    assert got == expected
