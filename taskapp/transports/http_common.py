"""What both Streamable HTTP eras share: the header names and the error response."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"


def problem(
    status: int, code: int, message: str, headers: dict[str, str] | None = None,
    request_id: str | int | None = None,
) -> Response:  # fmt: skip
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)
