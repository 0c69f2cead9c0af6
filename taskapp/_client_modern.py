"""The client's 2026-07-28 side: the per-request `_meta` envelope, the era probe, MRTR
rounds, and tasks of the `io.modelcontextprotocol/tasks` extension followed with
`tasks/get` and answered with `tasks/update`.

Specs: /work/shared/spec/mcp-2026-07-28/basic-versioning.mdx (the probe and its
fallback), basic-patterns-mrtr.mdx (InputRequiredResult), and
/work/shared/spec/tasks-extension/tasks.md (polling, inputRequests, cancel).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

import anyio

from ._logging import get_logger
from ._version import __version__
from .wire import mcp2026 as m
from .wire.jsonrpc import INTERNAL_ERROR, METHOD_NOT_FOUND, REQUEST_CANCELLED, JsonRpcError
from .wire.models import CallToolResult, Task

log = get_logger("taskapp.client")

Dialect = Literal["2026-07-28", "2025-11-25"]
MODERN: Dialect = "2026-07-28"
LEGACY: Dialect = "2025-11-25"
#: Errors only a modern server answers with: the probe found a modern server even if it
#: refuses this request (basic-versioning.mdx, "Backward Compatibility").
MODERN_ERRORS = frozenset({m.HEADER_MISMATCH, m.MISSING_CAPABILITY, m.UNSUPPORTED_VERSION})
#: Between polls when the server suggests no `pollIntervalMs`.
DEFAULT_POLL_MS = 500
#: MRTR rounds one call may take before the client gives up on a server that keeps asking.
MAX_ROUNDS = 32

Requester = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class HeaderChannel(Protocol):
    def declares(self, tool: str) -> bool: ...


RequestHandlerFn = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
StatusHandler = Callable[[Task], Awaitable[None]]
TaskHandler = Callable[[Task], Awaitable[None]]


class DialectError(RuntimeError):
    """A method that does not exist in the dialect the client speaks, or a server whose
    dialect the client cannot use; the message says what to do instead."""


class TaskCancelledError(JsonRpcError):
    """The task ended `cancelled`: it has no result."""

    def __init__(self, task: Task) -> None:
        why = f": {task.status_message}" if task.status_message else ""
        super().__init__(REQUEST_CANCELLED, f"task {task.task_id} was cancelled{why}")
        self.task = task


class DetailedTask(Task):
    """A task as 2026-07-28 shows it (`tasks/get`, `CreateTaskResult`): the 2025 `Task`
    fields (`ttlMs` read as `ttl`, `pollIntervalMs` as `poll_interval`, both in ms), plus
    what its status inlines: `result` when completed, `error` when failed, and
    `input_requests` while input_required."""

    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    input_requests: dict[str, dict[str, Any]] | None = None


def detailed(raw: dict[str, Any]) -> DetailedTask:
    """A 2026 task object read into the model (its ms fields under the 2025 names)."""
    data = {k: v for k, v in raw.items() if k not in ("ttlMs", "pollIntervalMs", "resultType")}
    data["ttl"] = raw.get("ttlMs")
    if raw.get("pollIntervalMs") is not None:
        data["pollInterval"] = raw["pollIntervalMs"]
    return DetailedTask.model_validate(data)


def _call_result(result: dict[str, Any]) -> CallToolResult:
    """The result without `resultType`, the discriminator this client has already read."""
    return CallToolResult.model_validate({k: v for k, v in result.items() if k != "resultType"})


def _task_made(result: dict[str, Any]) -> str | None:
    task_id = result.get("taskId")
    return task_id if result.get("resultType") == "task" and isinstance(task_id, str) else None


def error_of(payload: dict[str, Any] | None, fallback: str) -> JsonRpcError:
    payload = payload or {}
    code = payload.get("code")
    return JsonRpcError(
        code if isinstance(code, int) else INTERNAL_ERROR,
        str(payload.get("message") or fallback),
        payload.get("data"),
    )


class ModernCalls:
    """What a 2026-07-28 client sends: every request carries the envelope, tasks are the
    server's choice, and questions are answered by the client's handlers."""

    def __init__(
        self,
        send: Requester,
        handlers: dict[str, RequestHandlerFn],
        *,
        client_name: str,
        status_handler: StatusHandler | None,
    ) -> None:
        self._send = send
        self._handlers = handlers
        self._client_info = {"name": client_name, "version": __version__}
        self._status_handler = status_handler
        self.log_level: str | None = None
        #: Over HTTP, the channel, which sends the Mcp-Param-* headers of the tools it
        #: knows, and the client's `list_tools`, which teaches it them (`attach`).
        self.http: HeaderChannel | None = None
        self._relist: Callable[[], Awaitable[object]] | None = None

    def capabilities(self, *, tasks: bool = True) -> dict[str, Any]:
        capabilities: dict[str, Any] = {}
        if "elicitation/create" in self._handlers:
            capabilities["elicitation"] = {"form": {}, "url": {}}
        if "sampling/createMessage" in self._handlers:
            capabilities["sampling"] = {}
        if "roots/list" in self._handlers:
            capabilities["roots"] = {}
        if tasks:
            capabilities["extensions"] = {m.TASKS_EXTENSION: {}}
        return capabilities

    def envelope(self, params: dict[str, Any] | None, *, tasks: bool = True) -> dict[str, Any]:
        """`params` with the per-request `_meta` (whatever `_meta` it had is kept)."""
        params = dict(params or {})
        meta = dict(params.get("_meta") or {})
        meta[m.PROTOCOL_VERSION] = m.VERSION
        meta[m.CLIENT_INFO] = self._client_info
        meta[m.CLIENT_CAPABILITIES] = self.capabilities(tasks=tasks)
        if self.log_level is not None:
            meta[m.LOG_LEVEL] = self.log_level
        params["_meta"] = meta
        return params

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._send(method, self.envelope(params))

    # -- the era probe -------------------------------------------------------------------

    async def probe(self, wait_s: float | None) -> dict[str, Any] | None:
        """`server/discover`: its result from a modern server that speaks 2026-07-28, None
        from a legacy one (any error that is not a modern one, or no answer in `wait_s`).

        Raises:
            DialectError: a modern server that does not speak 2026-07-28.
        """
        with anyio.move_on_after(wait_s if wait_s is not None else float("inf")) as scope:
            try:
                found = await self.request("server/discover")
            except JsonRpcError as exc:
                if exc.code not in MODERN_ERRORS:
                    log.info("server/discover refused: a legacy server", code=exc.code)
                    return None
                supported = exc.data.get("supported") if isinstance(exc.data, dict) else None
                raise DialectError(
                    f"the server speaks a modern MCP but refused server/discover: "
                    f"{exc.message} (error {exc.code}); it supports {supported or 'nothing named'}"
                    f", this client speaks {m.VERSION} and 2025-11-25"
                ) from exc
        if scope.cancelled_caught:
            log.info("server/discover had no answer: a legacy server", waited_s=wait_s)
            return None
        versions = found.get("supportedVersions")
        if isinstance(versions, list) and m.VERSION in versions:
            return found
        if isinstance(versions, list) and LEGACY in versions:
            return None  # it still opens 2025-11-25 sessions with initialize
        raise DialectError(
            f"the server supports {versions!r}; this client speaks {m.VERSION} and 2025-11-25"
        )

    # -- tools/call ----------------------------------------------------------------------

    async def call_tool(
        self,
        params: dict[str, Any],
        *,
        tasks: bool,
        on_task: TaskHandler | None,
    ) -> CallToolResult:
        """Call a tool to its end: MRTR rounds answered and retried, a task followed.

        Over HTTP a server that wants `Mcp-Param-*` headers the client did not send
        (it had not listed the tools) answers -32020: the client lists them (which
        teaches its channel the headers) and calls again, once (SEP-2243)."""
        try:
            answer = await self.start(params, tasks=tasks)
        except JsonRpcError as exc:
            if exc.code != m.HEADER_MISMATCH or "mcp-param-" not in exc.message.lower():
                raise
            if self.http is None or self._relist is None:
                raise
            await self._relist()  # calls failing together each list, then retry
            if not self.http.declares(str(params.get("name"))):
                raise
            answer = await self.start(params, tasks=tasks)
        if isinstance(answer, CallToolResult):
            return answer
        if on_task is not None:
            await on_task(answer)
        return await self.wait(answer.task_id, first=answer)

    def attach(self, http: HeaderChannel | None, relist: Callable[[], Awaitable[object]]) -> None:
        self.http, self._relist = http, relist

    async def start(self, params: dict[str, Any], *, tasks: bool) -> CallToolResult | DetailedTask:
        """`tools/call` until it is a result or a task: each InputRequiredResult is
        answered by the handlers and the call sent again with the answers and its state."""
        call = {k: v for k, v in params.items() if k not in ("inputResponses", "requestState")}
        for _ in range(MAX_ROUNDS):
            sent = self.envelope(call, tasks=tasks)
            result = await outliving(
                functools.partial(self._send, "tools/call", sent), _task_made, self._cancel_quietly
            )
            kind = result.get("resultType", "complete")
            if kind == "task":
                return detailed(result)
            if kind != "input_required":
                return _call_result(result)
            call = {k: v for k, v in call.items() if k not in ("inputResponses", "requestState")}
            requests = result.get("inputRequests") or {}
            if requests:
                call["inputResponses"] = await self.answer(requests)
            if "requestState" in result:
                call["requestState"] = result["requestState"]
        raise JsonRpcError(
            INTERNAL_ERROR, f"the server asked for input {MAX_ROUNDS} times in one call"
        )

    async def answer(self, requests: dict[str, Any]) -> dict[str, Any]:
        """Each server request answered by the handler the 2025 path uses for it."""
        responses: dict[str, Any] = {}
        for key, asked in requests.items():
            method = asked.get("method") if isinstance(asked, dict) else None
            handler = self._handlers.get(str(method))
            if handler is None:
                raise JsonRpcError(  # as the 2025 path answers a request it has no handler for
                    METHOD_NOT_FOUND,
                    f"the server asked {method!r} (input request {key!r}) and this client has "
                    "no handler for it: pass elicitation_handler= or sampling_handler=",
                )
            responses[key] = await handler(dict(asked.get("params") or {}))
        return responses

    # -- the tasks extension -------------------------------------------------------------

    async def get_task(self, task_id: str) -> DetailedTask:
        return detailed(await self.request("tasks/get", {"taskId": task_id}))

    async def update_task(self, task_id: str, responses: dict[str, Any]) -> None:
        await self.request("tasks/update", {"taskId": task_id, "inputResponses": responses})

    async def cancel_task(self, task_id: str) -> DetailedTask:
        """Ask for the cancel (an acknowledgement only), then read the task back."""
        await self.request("tasks/cancel", {"taskId": task_id})
        return await self.get_task(task_id)

    async def _cancel_quietly(self, task_id: str) -> None:
        await self.request("tasks/cancel", {"taskId": task_id})

    async def wait(self, task_id: str, *, first: DetailedTask | None = None) -> CallToolResult:
        """Poll the task at its `pollIntervalMs` until it ends; answer each new input
        request once; hand each change to the status handler.

        Raises:
            JsonRpcError: the task failed (its error), or TaskCancelledError.
        """
        answered: set[str] = set()
        seen: tuple[str, str | None] | None = None
        task = first if first is not None else await self.get_task(task_id)
        if (
            first is not None
            and first.status in ("completed", "failed")
            and (first.result is None and first.error is None)
        ):  # a handle that has already ended (e.g. a required tool that ended inline)
            task = await self.get_task(task_id)  # carries no result: tasks/get does
        while True:
            if (task.status, task.status_message) != seen:
                seen = (task.status, task.status_message)
                if self._status_handler is not None:
                    await self._status_handler(task)
            if task.status == "completed":
                return _call_result(task.result or {})
            if task.status == "failed":
                raise error_of(task.error, task.status_message or f"task {task_id} failed")
            if task.status == "cancelled":
                raise TaskCancelledError(task)
            fresh = {k: v for k, v in (task.input_requests or {}).items() if k not in answered}
            if task.status == "input_required" and fresh:
                await self.update_task(task_id, await self.answer(fresh))
                answered.update(fresh)
            else:
                await anyio.sleep((task.poll_interval or DEFAULT_POLL_MS) / 1000)
            task = await self.get_task(task_id)


#: How long a cancelled caller still waits for the answer of a call that may have made a
#: task, so that the task can be cancelled rather than left running unseen.
GRACE_S = 5.0


async def outliving(
    send: Callable[[], Awaitable[dict[str, Any]]],
    made: Callable[[dict[str, Any]], str | None],
    cancel: Callable[[str], Awaitable[Any]],
) -> dict[str, Any]:
    """`await send()`, except that a caller cancelled meanwhile does not just drop the
    answer: it waits up to GRACE_S for it (shielded) and, if it names a task (`made`),
    cancels that task before the cancellation goes on."""
    box: dict[str, Any] = {}
    done = anyio.Event()
    scope = anyio.CancelScope(shield=True)

    async def run() -> None:
        with scope:
            try:
                box["result"] = await send()
            except Exception as exc:
                box["error"] = exc
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        try:
            await done.wait()
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(GRACE_S):
                    await done.wait()
                scope.cancel()
                task_id = made(box["result"]) if "result" in box else None
                if task_id is not None:
                    log.info("cancelling the task of a cancelled call", task_id=task_id)
                    with anyio.move_on_after(GRACE_S):
                        try:
                            await cancel(task_id)
                        except JsonRpcError as exc:
                            log.warning("could not cancel", task_id=task_id, reason=exc.message)
            raise
    if "error" in box:
        raise box["error"]
    result: dict[str, Any] = box["result"]
    return result
