"""What an HTTP client may cost the server: limits and timeouts, and their checks.

The body limit is enforced while the body streams in, the `Host` header is checked
against an allow-list (DNS-rebinding protection for clients that send no `Origin`),
and uvicorn's protocol gets a header timeout (h11 has none of its own). Each limit is
listed with its default and option in docs/security.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from .._logging import get_logger
from ..wire.jsonrpc import INVALID_REQUEST, JsonRpcError
from .http_common import refusal

if TYPE_CHECKING:
    from uvicorn.protocols.http.h11_impl import H11Protocol

log = get_logger("taskapp.http")

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_CLOSE = {"Connection": "close"}


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The limits of the Streamable HTTP transport (the body limit is the app's
    `max_message_bytes`).

    Args:
        session_idle_timeout_s: A 2025-11-25 session with no request in flight and no
            open stream for this long is closed, as DELETE would (its tasks go on).
        max_sessions: Open sessions in all; past it the least recently active idle
            session is closed to make room (HTTP 503 when none is idle).
        max_sessions_per_client: Open sessions per principal (per client address
            without auth); an `initialize` past it gets HTTP 429.
        header_timeout_s: A connection must send a request's headers within this long
            (from its first byte, or from connecting); then it is closed. Applied by
            `taskapp run`/`TaskApp.run`, which run uvicorn; not when mounted elsewhere.
        body_timeout_s: A POST body must arrive whole within this long (HTTP 408).
    """

    session_idle_timeout_s: float = 1800.0
    max_sessions: int = 1000
    max_sessions_per_client: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0


async def read_body(request: Request, max_bytes: int, timeout_s: float) -> bytes | Response:
    """The body, or 413 as soon as it is known to be over `max_bytes` (from
    Content-Length, or while it streams in), or 408 when it is slower than `timeout_s`.

    After a 413 uvicorn discards the rest of the body as it comes (memory stays
    bounded) so that the client, still sending, reads the answer: closing at once
    would reset the connection under it. A 408 closes the connection."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        return _too_large(max_bytes)
    body = bytearray()
    with anyio.move_on_after(timeout_s):
        async for chunk in request.stream():
            if len(body) + len(chunk) > max_bytes:
                return _too_large(max_bytes)
            body += chunk
        return bytes(body)
    log.warning("body too slow", timeout_s=timeout_s, received=len(body))
    why = f"Request timeout: the body did not arrive within {timeout_s:g} s"
    return refusal(408, JsonRpcError(INVALID_REQUEST, why), headers=_CLOSE)


def _too_large(max_bytes: int) -> Response:
    return refusal(413, JsonRpcError(INVALID_REQUEST, f"Payload too large: over {max_bytes} bytes"))


class HostCheck:
    """The `Host` values accepted: a name (any port), `name:port`, or "*" for any."""

    __slots__ = ("_any", "_names")

    def __init__(self, allowed: Iterable[str]) -> None:
        names = {host.lower() for host in allowed}
        self._any = "*" in names
        self._names = frozenset(names)

    def __call__(self, request: Request) -> Response | None:
        host = request.headers.get("host", "").lower()
        if self._any or host in self._names or _name_of(host) in self._names:
            return None
        log.warning("host refused", host=host)
        why = f"Misdirected request: Host {host!r} is not allowed (see --allow-host)"
        return refusal(421, JsonRpcError(INVALID_REQUEST, why))


def _name_of(host: str) -> str:
    """`example.com:8000` -> `example.com`; `[::1]:8000` -> `[::1]`."""
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


def default_hosts(bound: str | None) -> tuple[str, ...]:
    """Loopback names, and the bound host when it is a name or a specific address.
    A wildcard bind (0.0.0.0, ::) names no host: configure `allowed_hosts` then."""
    if bound is None or bound in ("0.0.0.0", "::", "") or bound in LOOPBACK_HOSTS:
        return LOOPBACK_HOSTS
    return (*LOOPBACK_HOSTS, f"[{bound}]" if ":" in bound else bound)


def header_timeout_protocol(timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a header timeout: a connection that has not sent
    a whole request head `timeout_s` after it connected (or after the first byte of
    its next request) is closed. h11 buffers a trickled head forever otherwise."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            if self._head_timer is None and (cycle is None or cycle.response_complete):
                self._arm()  # the first bytes of a next request on a kept-alive connection
            super().data_received(data)
            if self.cycle is not cycle:  # a whole head arrived: a new request began
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._head_timer = self.loop.call_later(timeout_s, self._expire)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _expire(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                log.warning("request head too slow: connection closed", timeout_s=timeout_s)
                self.transport.close()

    return Protocol
