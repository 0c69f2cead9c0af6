"""JSON-RPC 2.0, the codec: error codes, the error exception, requests, replies, encoding.

Pure data: no I/O and no concurrency. The `Peer` that runs a connection over a channel
lives in `taskapp.sessions.peer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic_core

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # implementation-defined server error (limits)
REQUEST_CANCELLED = -32800  # used only for our own requests that we abandon


class JsonRpcError(Exception):
    """An error answer, raised by handlers and by `Peer.request` when the other side errs."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


RequestId = str | int


@dataclass(slots=True)
class Request:
    id: str | int
    method: str
    params: dict[str, Any]


@dataclass(slots=True)
class Reply:
    """A handler's result with something to do once the answer is queued for sending."""

    result: dict[str, Any]
    after_send: Callable[[], None] | None = None


def encode(message: dict[str, Any]) -> bytes:
    return pydantic_core.to_json(message)
