"""A client of the `io.modelcontextprotocol/tasks` extension, built on mcp 2.x's hooks.

    tasks_client.py SCENARIO [options] (--url URL | -- COMMAND...)

The SDK has no tasks client of its own, but it has extension hooks (`mcp.client.extension`):

* `TasksExtension` is a `ClientExtension`: the SDK declares it in every request's
  `_meta` clientCapabilities (`extensions: {"io.modelcontextprotocol/tasks": {}}`);
* its `ResultClaim` for `resultType: "task"` lets `tools/call` accept a `CreateTaskResult`,
  and its resolver drives the task to its end (poll `tasks/get` at `pollIntervalMs`,
  answer `inputRequests` through the client's own elicitation callback, send them with
  `tasks/update`), so `Client.call_tool` still returns a `CallToolResult`;
* its `NotificationBinding` receives `notifications/tasks`.

`tasks/get`, `tasks/update`, `tasks/cancel` and a `subscriptions/listen` with `taskIds` are
sent with `ClientSession.send_request` (typed request models below; the session stamps
the 2026 `_meta` envelope and the `Mcp-Method` / `Mcp-Name` headers).

Scenarios:
  life    call --tool (--args) and let the resolver drive it to the end (--answer answers)
  cancel  create a task, wait until it runs (or waits for input), tasks/cancel, poll to the end
  listen  create a task, follow it with subscriptions/listen, answer from the notification
  get     tasks/get --task-id once (a task made elsewhere); tasks/cancel --cancel-id
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import anyio
import anyio.abc
import mcp_types as types
from _common import (
    Answerer,
    emit,
    error_fields,
    json_argument,
    parse_arguments,
    server_of,
    text_of,
)
from mcp.client import (
    ClaimContext,
    Client,
    ClientExtension,
    ClientRequestContext,
    ClientSession,
    IncomingMessage,
    NotificationBinding,
    ResultClaim,
)
from mcp.shared.exceptions import MCPError
from pydantic import ConfigDict, TypeAdapter

TASKS = "io.modelcontextprotocol/tasks"
TERMINAL = ("completed", "failed", "cancelled")
INPUT_REQUEST: TypeAdapter[types.InputRequest] = TypeAdapter(types.InputRequest)


# -- wire models (SEP-2663) ---------------------------------------------------------------


class _Task(types.Result):
    """The fields of a task, flat, as both shapes below carry them."""

    model_config = ConfigDict(extra="allow")

    task_id: str
    status: str
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None
    poll_interval_ms: int | None = None


class CreateTaskResult(_Task):
    """`resultType: "task"`: the task itself, flat."""

    result_type: Literal["task"]


class DetailedTask(_Task):
    """What `tasks/get` answers: the task, plus inputRequests / result / error by status."""

    result_type: str | None = None
    input_requests: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class Ack(types.Result):
    """The empty acknowledgement of tasks/update and tasks/cancel."""

    model_config = ConfigDict(extra="allow")

    result_type: str | None = None


class TaskIdParams(types.RequestParams):
    task_id: str


class UpdateParams(TaskIdParams):
    input_responses: dict[str, Any]


class GetTaskRequest(types.Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskIdParams
    name_param: ClassVar[str | None] = "taskId"  # Mcp-Name: the task id (SEP-2663)


class UpdateTaskRequest(types.Request[UpdateParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    params: UpdateParams
    name_param: ClassVar[str | None] = "taskId"


class CancelTaskRequest(types.Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskIdParams
    name_param: ClassVar[str | None] = "taskId"


class TaskNotification(types.NotificationParams):
    """`notifications/tasks` params: a DetailedTask (with the subscription id in _meta)."""

    model_config = ConfigDict(extra="allow")

    task_id: str
    status: str
    input_requests: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


def dumped(model: types.Result | types.NotificationParams) -> dict[str, Any]:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


# -- the task methods -----------------------------------------------------------------------


async def get_task(session: ClientSession, task_id: str) -> DetailedTask:
    request = GetTaskRequest(params=TaskIdParams(task_id=task_id))
    return await session.send_request(request, DetailedTask)


async def update_task(session: ClientSession, task_id: str, responses: dict[str, Any]) -> Ack:
    params = UpdateParams(task_id=task_id, input_responses=responses)
    return await session.send_request(UpdateTaskRequest(params=params), Ack)


async def cancel_task(session: ClientSession, task_id: str) -> Ack:
    request = CancelTaskRequest(params=TaskIdParams(task_id=task_id))
    return await session.send_request(request, Ack)


async def answer_all(
    session: ClientSession, task_id: str, requests: dict[str, Any], answered: set[str]
) -> None:
    """Answer the questions not answered yet (keys are unique per task: dedupe on them)
    through the client's own callbacks, and send the answers with tasks/update."""
    fresh = [key for key in requests if key not in answered]
    answered.update(fresh)  # before any await: a notification and a poll may race here
    responses: dict[str, Any] = {}
    for key in fresh:
        request = INPUT_REQUEST.validate_python(requests[key])
        context = ClientRequestContext(session=session, request_id=key)
        response = await session.dispatch_input_request(context, request)
        if isinstance(response, types.ErrorData):
            raise MCPError.from_error_data(response)
        responses[key] = response.model_dump(by_alias=True, mode="json", exclude_none=True)
    if responses:
        ack = await update_task(session, task_id, responses)
        emit("updated", taskId=task_id, keys=sorted(responses), ack=dumped(ack))


async def drive(session: ClientSession, created: CreateTaskResult) -> DetailedTask:
    """Poll a task to its end at the interval it asks for, answering its questions."""
    task_id = created.task_id
    interval_ms = created.poll_interval_ms
    answered: set[str] = set()
    last = time.monotonic()
    while True:
        await anyio.sleep((interval_ms if interval_ms is not None else 50) / 1000)
        task = await get_task(session, task_id)
        now = time.monotonic()
        emit(
            "polled",
            status=task.status,
            sinceMs=round((now - last) * 1000),
            askedIntervalMs=interval_ms,
            task=dumped(task),
        )
        last = now
        if task.poll_interval_ms is not None:
            interval_ms = task.poll_interval_ms
        if task.status == "input_required":
            await answer_all(session, task_id, task.input_requests or {}, answered)
        elif task.status in TERMINAL:
            return task


async def resolve(created: CreateTaskResult, context: ClaimContext) -> types.CallToolResult:
    """The claim's resolver: a task in, the tool's own result out."""
    emit("created", tool=context.tool_name, task=dumped(created))
    final = await drive(context.session, created)
    if final.status == "completed":
        return types.CallToolResult.model_validate(final.result or {})
    if final.status == "failed":
        error = final.error or {}
        raise MCPError(error.get("code", -32603), error.get("message", "failed"), error.get("data"))
    raise MCPError(-32603, f"the task ended {final.status}")


class TasksExtension(ClientExtension):
    identifier = TASKS

    def __init__(self, on_notification: Callable[[TaskNotification], Any] | None = None) -> None:
        self._on_notification = on_notification

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return (ResultClaim(result_type="task", model=CreateTaskResult, resolve=resolve),)

    def notifications(self) -> Sequence[NotificationBinding[Any]]:
        async def handle(params: TaskNotification) -> None:
            emit("notified", task=dumped(params))
            if self._on_notification is not None:
                await self._on_notification(params)

        return (
            NotificationBinding(
                method="notifications/tasks", params_type=TaskNotification, handler=handle
            ),
        )


# -- scenarios ------------------------------------------------------------------------------


def connected(client: Client) -> None:
    emit(
        "connected",
        protocolVersion=client.protocol_version,
        discovered=client.session.discover_result is not None,
        extensions=client.server_capabilities.extensions,
    )


async def create(client: Client, tool: str, arguments: Any) -> CreateTaskResult:
    """tools/call that must answer with a task; the claimed shape comes back as is."""
    result = await client.session.call_tool(tool, arguments, allow_claimed=True)
    assert isinstance(result, CreateTaskResult), f"not a task: {result!r}"
    emit("created", tool=tool, task=dumped(result))
    return result


async def life(args: argparse.Namespace, answerer: Answerer) -> None:
    async with Client(
        server_of(args), elicitation_callback=answerer, extensions=[TasksExtension()]
    ) as client:
        connected(client)
        result = await client.call_tool(args.tool, json_argument(args.args))
        emit("result", text=text_of(result), isError=result.is_error, result=dumped(result))


async def cancel(args: argparse.Namespace, answerer: Answerer) -> None:
    async with Client(
        server_of(args), elicitation_callback=answerer, extensions=[TasksExtension()]
    ) as client:
        connected(client)
        session = client.session
        created = await create(client, args.tool, json_argument(args.args))
        task = await get_task(session, created.task_id)
        while task.status not in (args.cancel_in, *TERMINAL):
            await anyio.sleep(0.05)
            task = await get_task(session, created.task_id)
        emit("before_cancel", task=dumped(task))
        emit("cancel_ack", ack=dumped(await cancel_task(session, created.task_id)))
        while task.status not in TERMINAL:
            await anyio.sleep((task.poll_interval_ms or 50) / 1000)
            task = await get_task(session, created.task_id)
        emit("final", task=dumped(task))
        emit("cancel_again_ack", ack=dumped(await cancel_task(session, created.task_id)))
        try:
            await cancel_task(session, "no-such-task")
        except MCPError as exc:
            emit("cancel_unknown", **error_fields(exc))


async def listen(args: argparse.Namespace, answerer: Answerer) -> None:
    """Follow one task by notification: listen with taskIds (and an unknown id, which the
    acknowledgement must leave out); answer what it asks from the notification."""
    done = anyio.Event()
    acknowledged = anyio.Event()
    answered: set[str] = set()
    session: ClientSession | None = None

    async def on_task(params: TaskNotification) -> None:
        if params.status == "input_required":
            assert session is not None
            await answer_all(session, params.task_id, params.input_requests or {}, answered)
        elif params.status in TERMINAL:
            done.set()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.SubscriptionsAcknowledgedNotification):
            emit("acknowledged", params=dumped(message.params))
            acknowledged.set()

    async with Client(
        server_of(args),
        elicitation_callback=answerer,
        extensions=[TasksExtension(on_task)],
        message_handler=on_message,
    ) as client:
        connected(client)
        session = client.session
        created = await create(client, args.tool, json_argument(args.args))
        wanted = types.SubscriptionFilter.model_validate({"taskIds": [created.task_id, "nope"]})
        request = types.SubscriptionsListenRequest(
            params=types.SubscriptionsListenRequestParams(notifications=wanted)
        )

        async def hold_open(task_status: anyio.abc.TaskStatus[None]) -> None:
            task_status.started()
            try:
                ended = await session.send_request(request, Ack)
                emit("listen_ended", result=dumped(ended))
            except MCPError as exc:
                emit("listen_error", **error_fields(exc))
                raise

        async with anyio.create_task_group() as tg:
            await tg.start(hold_open)
            await acknowledged.wait()
            # Notifications tell of changes after the subscription; what happened before it
            # (the task may already wait for input) comes from one tasks/get.
            task = await get_task(session, created.task_id)
            emit("caught_up", status=task.status)
            if task.status == "input_required":
                await answer_all(session, task.task_id, task.input_requests or {}, answered)
            elif task.status in TERMINAL:
                done.set()
            with anyio.fail_after(args.timeout):
                await done.wait()
            tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the listen
        emit("final", task=dumped(await get_task(session, created.task_id)))


async def get(args: argparse.Namespace, answerer: Answerer) -> None:
    """tasks/get a task made elsewhere; with --cancel-id, tasks/cancel another and poll it
    to its end."""
    async with Client(server_of(args), extensions=[TasksExtension()]) as client:
        connected(client)
        session = client.session
        try:
            emit("task", task=dumped(await get_task(session, args.task_id)))
        except MCPError as exc:
            emit("get_error", **error_fields(exc))
        if args.cancel_id:
            emit("cancel_ack", ack=dumped(await cancel_task(session, args.cancel_id)))
            task = await get_task(session, args.cancel_id)
            while task.status not in TERMINAL:
                await anyio.sleep((task.poll_interval_ms or 50) / 1000)
                task = await get_task(session, args.cancel_id)
            emit("final", task=dumped(task))


SCENARIOS = {"life": life, "cancel": cancel, "listen": listen, "get": get}


async def run(args: argparse.Namespace) -> None:
    answerer = Answerer(json_argument(args.answer), wait_stdin=args.wait_stdin)
    with anyio.fail_after(args.timeout):
        await SCENARIOS[args.scenario](args, answerer)
    emit("done")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--tool")
    parser.add_argument("--args", default="{}", help="the tool's arguments (JSON)")
    parser.add_argument("--answer", help="the elicitation answer (JSON); decline without")
    parser.add_argument("--wait-stdin", action="store_true", help="answer after a line on stdin")
    parser.add_argument("--cancel-in", default="working", help="cancel once in this status")
    parser.add_argument("--task-id")
    parser.add_argument("--cancel-id", help="get: also cancel this task")
    parser.add_argument("--timeout", type=float, default=20.0)
    anyio.run(run, parse_arguments(parser))


if __name__ == "__main__":
    main()
