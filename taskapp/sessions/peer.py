"""JSON-RPC 2.0 over a message channel: framing-free, dialect-free, symmetric.

A `Peer` reads messages from a channel, answers requests with a handler it is
given, matches responses to the requests it sent, and never lets a bad message
stop it. Servers and clients both use it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anyio
import pydantic_core
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._logging import get_logger, internal_error
from ..wire.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    JsonRpcError,
    Reply,
    Request,
    RequestId,
    encode,
)
from .channel import Channel, Delivering, MessageTooLargeError, receive_each

log = get_logger("taskapp.jsonrpc")

# The request whose handler is running: messages sent from it (or from tasks it
# starts) are related to it.
current_request: ContextVar[RequestId | None] = ContextVar("taskapp_request", default=None)


class NoAnswerError(JsonRpcError):
    """`Peer.request` got no answer: the connection closed, or the other side's input did."""


@dataclass(slots=True)
class _Pending:
    event: anyio.Event = field(default_factory=anyio.Event)
    response: dict[str, Any] | None = None


_Outgoing = tuple[bytes, "RequestId | None", bool]
_FLUSH: _Outgoing = (b"", None, False)  # finish what the channel took but could not write
#: What a request handler returns: the answer, or an awaitable of it (an `async def`
#: handler returns a coroutine). A ready answer is sent in the turn that read the request.
Handled = dict[str, Any] | Reply | Awaitable[dict[str, Any] | Reply]
RequestHandler = Callable[[Request], Handled]
NotificationHandler = Callable[[str, dict[str, Any]], Awaitable[None]]


class Peer:
    """One side of a JSON-RPC connection."""

    def __init__(
        self,
        channel: Channel,
        on_request: RequestHandler,
        on_notification: NotificationHandler,
        *,
        drain_s: float = 0.0,
        on_input_end: Callable[[], None] | None = None,
    ) -> None:
        """`drain_s`: how long requests may still take to be answered once the other
        side's input has ended (0: cancelled at once); `on_input_end` is called then."""
        self._channel = channel
        self._drain_s = drain_s
        self._on_input_end = on_input_end
        self._writer_done = anyio.Event()
        self._idle: anyio.Event | None = None  # while draining: set as the last one ends
        self._input_ended = False  # no answer to a request of ours can come any more
        self._on_request = on_request
        self._on_notification = on_notification
        self._out: MemoryObjectSendStream[_Outgoing]
        self._out_reader: MemoryObjectReceiveStream[_Outgoing]
        self._out, self._out_reader = anyio.create_memory_object_stream[_Outgoing](math.inf)
        self._notes: MemoryObjectSendStream[tuple[str, dict[str, Any]]]
        self._notes_reader: MemoryObjectReceiveStream[tuple[str, dict[str, Any]]]
        self._notes, self._notes_reader = anyio.create_memory_object_stream[
            tuple[str, dict[str, Any]]
        ](math.inf)
        self._in_flight: dict[str | int, anyio.CancelScope] = {}
        self._queued = 0  # messages in _out not yet written
        self._writing = False  # the writer is in the middle of a write
        self._direct = True  # no backlog: Peer.send may write straight to the channel
        self._pending: dict[str | int, _Pending] = {}
        self._ids = itertools.count(1)
        self._tg: TaskGroup | None = None
        self.closed = anyio.Event()  # the connection, or at least its input, has ended

    async def run(self) -> None:
        """Serve until the channel ends; then cancel handlers still running and return."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._write_forever)
                tg.start_soon(self._notify_forever)
                await self._read_forever(tg)
                if self._drain_s > 0:
                    await self._drain()
                tg.cancel_scope.cancel()
        finally:
            self._tg = None
            for stream in (self._out, self._out_reader, self._notes, self._notes_reader):
                stream.close()
            self.closed.set()
            for pending in self._pending.values():
                pending.event.set()

    async def _drain(self) -> None:
        """The input has ended (a stdio client's way to shut down): answer the requests
        read, for `drain_s` at most, and send what is queued. Ours fail at once (no answer
        can come); ones held open until the end (`subscriptions/listen`) end now."""
        self._input_ended = True
        self.closed.set()
        for pending in self._pending.values():
            pending.event.set()
        if self._on_input_end is not None:
            self._on_input_end()
        with anyio.move_on_after(self._drain_s):
            while self._in_flight and not self._writer_done.is_set():
                self._idle = anyio.Event()
                await self._idle.wait()
            self._out.close()  # the writer sends what is queued, then ends
            await self._writer_done.wait()
        if self._in_flight:
            count, waited_s = len(self._in_flight), self._drain_s
            log.info("input ended: requests not answered in time are cancelled", count=count,
                     waited_s=waited_s)  # fmt: skip

    # -- sending ---------------------------------------------------------------

    def send(self, message: dict[str, Any], *, related: RequestId | bool | None = True) -> None:
        """Queue a message; never blocks, so it is safe from synchronous callbacks.

        It relates to the request being handled, unless `related` names another.
        """
        if related is True:
            related = current_request.get()
        assert not isinstance(related, bool)
        final = related is not None and message.get("id") == related and "method" not in message
        data = encode(message)
        # Straight to the channel when nothing is queued or being written: no task switch.
        if self._direct and not self._writing and self._queued == 0 and not self.closed.is_set():
            try:
                if self._channel.send_nowait(data, related=related, final=final):
                    if self._channel.backlogged:  # the writer finishes it before anything else
                        self._direct = False
                        self._enqueue(_FLUSH)
                    return
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                log.debug("the other side stopped reading")
                return
        self._enqueue((data, related, final))

    def _enqueue(self, item: _Outgoing) -> None:
        try:
            self._out.send_nowait(item)
            self._queued += 1
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            log.debug("dropped a message for a closed connection")

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and wait for its result; JsonRpcError for an error answer.

        If the caller is cancelled, the other side is told with notifications/cancelled.
        """
        if self._input_ended:
            raise NoAnswerError(INTERNAL_ERROR, "the other side has stopped sending")
        request_id = next(self._ids)
        pending = self._pending[request_id] = _Pending()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            self.send(message)
            await pending.event.wait()
        except anyio.get_cancelled_exc_class():
            self.notify("notifications/cancelled", {"requestId": request_id})
            raise
        finally:
            del self._pending[request_id]
        response = pending.response
        if response is None:
            raise NoAnswerError(INTERNAL_ERROR, "connection closed before the answer came")
        if "error" in response:
            error = response["error"] if isinstance(response["error"], dict) else {}
            raise JsonRpcError(
                int(error.get("code", INTERNAL_ERROR)),
                str(error.get("message", "")),
                error.get("data"),
            )
        result = response.get("result")
        return result if isinstance(result, dict) else {}

    def _answer(self, request_id: RequestId, result: dict[str, Any]) -> None:
        self.send({"jsonrpc": "2.0", "id": request_id, "result": result}, related=request_id)

    def _fail(self, request_id: str | int | None, error: JsonRpcError) -> None:
        # Related to the request it answers even when sent before any handler runs.
        message = {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
        self.send(message, related=request_id)

    async def _write_forever(self) -> None:
        try:
            await self._write_each()
        finally:
            self._writer_done.set()
            if self._idle is not None:
                self._idle.set()

    async def _write_each(self) -> None:
        async for item in self._out_reader:
            self._queued -= 1
            self._writing = True
            try:
                if item is _FLUSH:
                    await self._channel.flush()
                else:
                    data, related, final = item
                    await self._channel.send(data, related=related, final=final)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                log.debug("the other side stopped reading")
                return
            finally:
                self._writing = False
            if self._queued == 0 and not self._channel.backlogged:
                self._direct = True

    # -- receiving -------------------------------------------------------------

    async def _read_forever(self, tg: TaskGroup) -> None:
        def on_message(data: bytes) -> None:
            self._dispatch(data, tg)

        if isinstance(self._channel, Delivering):
            await self._channel.deliver(on_message, self._oversized)
        else:
            await receive_each(self._channel, on_message, self._oversized)

    def _oversized(self, exc: MessageTooLargeError) -> None:
        self._fail(None, JsonRpcError(INVALID_REQUEST, f"Invalid request: {exc}"))

    def _dispatch(self, data: bytes, tg: TaskGroup) -> None:
        try:
            message = pydantic_core.from_json(data)
        except ValueError as exc:
            self._fail(None, JsonRpcError(PARSE_ERROR, f"Parse error: {exc}"))
            return
        if not isinstance(message, dict):
            kind = "batches are not supported" if isinstance(message, list) else "not an object"
            self._fail(None, JsonRpcError(INVALID_REQUEST, f"Invalid request: {kind}"))
            return
        request_id = message.get("id")
        valid_id = isinstance(request_id, (str, int)) and not isinstance(request_id, bool)
        if message.get("jsonrpc") != "2.0":
            answer_id = request_id if valid_id else None
            self._fail(
                answer_id, JsonRpcError(INVALID_REQUEST, 'Invalid request: "jsonrpc" must be "2.0"')
            )
            return
        if "method" in message:
            self._dispatch_call(message, request_id if valid_id else None, tg)
        elif valid_id and ("result" in message or "error" in message):
            pending = self._pending.get(request_id)  # type: ignore[arg-type]
            if pending is None:
                log.debug("response to no request of ours", id=request_id)
                return
            pending.response = message
            pending.event.set()
        else:
            self._fail(
                request_id if valid_id else None, JsonRpcError(INVALID_REQUEST, "Invalid request")
            )

    def _dispatch_call(
        self, message: dict[str, Any], request_id: str | int | None, tg: TaskGroup
    ) -> None:
        method = message["method"]
        params = message.get("params", {})
        is_request = "id" in message
        if is_request and request_id is None:
            self._fail(
                None,
                JsonRpcError(INVALID_REQUEST, "Invalid request: id must be a string or integer"),
            )
            return
        if not isinstance(method, str):
            if is_request:
                self._fail(
                    request_id,
                    JsonRpcError(INVALID_REQUEST, "Invalid request: method must be a string"),
                )
            return
        if params is None:
            params = {}
        if not isinstance(params, dict):
            if is_request:
                self._fail(
                    request_id, JsonRpcError(INVALID_PARAMS, "Invalid params: must be an object")
                )
            return
        if not is_request:
            if method == "notifications/cancelled":
                self._cancel_in_flight(params.get("requestId"))
            # One worker handles notifications in arrival order (progress must not reorder).
            self._notes.send_nowait((method, params))
            return
        assert request_id is not None
        if request_id in self._in_flight:
            self._fail(
                request_id,
                JsonRpcError(INVALID_REQUEST, f"Invalid request: id {request_id!r} is in use"),
            )
            return
        self._handle(Request(request_id, method, params), tg)

    def _handle(self, request: Request, tg: TaskGroup) -> None:
        """Call the handler here, in the read loop's turn: a ready answer is sent at once
        (no task, no cancel scope); an awaitable one runs in a task of its own that
        notifications/cancelled can cancel."""
        token = current_request.set(request.id)
        try:
            try:
                handled = self._on_request(request)
            except Exception as exc:
                self._reply_error(request, exc)
                return
            if isinstance(handled, (dict, Reply)):
                self._reply(request.id, handled)  # `after_send` too, as the request's own
                return
        finally:
            current_request.reset(token)
        scope = self._in_flight[request.id] = anyio.CancelScope()
        tg.start_soon(self._await, request, handled, scope)

    def _cancel_in_flight(self, request_id: Any) -> None:
        scope = self._in_flight.get(request_id) if isinstance(request_id, (str, int)) else None
        if scope is not None:
            scope.cancel()

    def cancel(self, request_id: RequestId) -> None:
        """Cancel the handler of an incoming request, as notifications/cancelled would."""
        self._cancel_in_flight(request_id)

    async def _await(
        self, request: Request, handled: Awaitable[dict[str, Any] | Reply], scope: anyio.CancelScope
    ) -> None:
        current_request.set(request.id)
        try:
            with scope:
                try:
                    answer = await handled
                except Exception as exc:
                    self._reply_error(request, exc)
                    return
                self._reply(request.id, answer)
        finally:
            # A request cancelled by notifications/cancelled gets no answer (cancellation.mdx).
            self._in_flight.pop(request.id, None)
            if not self._in_flight and self._idle is not None:
                self._idle.set()

    def _reply(self, request_id: RequestId, answer: dict[str, Any] | Reply) -> None:
        """Send the answer; a Reply's `after_send` runs right after, before anything else."""
        if isinstance(answer, Reply):
            self._answer(request_id, answer.result)
            if answer.after_send is not None:
                answer.after_send()
        else:
            self._answer(request_id, answer)

    def _reply_error(self, request: Request, exc: Exception) -> None:
        """The one error answer: a JsonRpcError as it is, anything else an internal error."""
        if not isinstance(exc, JsonRpcError):
            exc = JsonRpcError(INTERNAL_ERROR, internal_error(exc, method=request.method))
        self._fail(request.id, exc)

    async def _notify_forever(self) -> None:
        async for method, params in self._notes_reader:
            try:
                await self._on_notification(method, params)
            except Exception as exc:
                log.warning("notification handler failed", method=method, exc_info=exc)
