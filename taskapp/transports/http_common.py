"""What both Streamable HTTP eras share: the header names and the error reply."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from ..wire.jsonrpc import JsonRpcError

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"


def error_message(request_id: object, error: JsonRpcError) -> dict[str, Any]:
    """The JSON-RPC error response for a request; `id` null unless it is a usable one."""
    valid_id = isinstance(request_id, (str, int)) and not isinstance(request_id, bool)
    return {"jsonrpc": "2.0", "id": request_id if valid_id else None, "error": error.to_json()}


def refusal(
    status: int, error: JsonRpcError, *, request_id: object = None,
    headers: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """A message refused before any handler ran: an HTTP error status and its JSON-RPC
    error (`id` null when the refusal is about the HTTP request, not a JSON-RPC one)."""
    body = error_message(request_id, error)
    return JSONResponse(body, status_code=status, headers=headers)
