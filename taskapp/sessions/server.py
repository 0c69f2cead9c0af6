"""One client's MCP session: the one place that decides which dialect a client speaks.

The 2025-11-25 methods are in `legacy`, the 2026-07-28 ones in `modern`; what both
share (the peer, notifications, questions to the client) in `base`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from .._logging import get_logger
from ..engine import TaskEngine
from ..wire import mcp2026
from ..wire.jsonrpc import INVALID_REQUEST, JsonRpcError, Request
from .base import Session
from .legacy import LegacyMethods
from .modern import ModernMethods
from .peer import Handled, Peer
from .spec import ServerSpec

log = get_logger("taskapp.session")

Era = Literal["legacy", "modern"]


class ServerSession(Session):
    """Answers one client. Tasks outlive it; its notifications stop when it ends.

    The client's first request decides the dialect, once: `initialize` (or anything
    without the 2026-07-28 `_meta` envelope) makes a 2025-11-25 session, a request with
    the envelope a 2026-07-28 connection. Over HTTP a session is made for one dialect
    (`era`): sessions come from `initialize`, sessionless POSTs are modern.
    """

    def __init__(
        self,
        spec: ServerSpec,
        engine: TaskEngine,
        *,
        owner: str | None = None,
        list_tasks: bool = True,
        era: Era | None = None,
        modern_versions: tuple[str, ...] = mcp2026.MODERN_VERSIONS,
    ) -> None:
        super().__init__(spec, engine, owner=owner)
        self.era = era
        self.legacy = LegacyMethods(self, list_tasks=list_tasks)
        self.modern = ModernMethods(self, versions=modern_versions)

    async def serve(self, peer_factory: Callable[[ServerSession], Peer]) -> None:
        self.peer = peer_factory(self)
        try:
            await self.peer.run()
        finally:
            self.engine.detach(self)

    def on_request(self, request: Request) -> Handled:
        """The dialect's answer, ready or awaitable, as its handler gives it (see Peer)."""
        if self.era is None:
            modern = request.method != "initialize" and mcp2026.has_envelope(request.params)
            if modern:
                # A version we do not speak decides nothing: the client may still fall
                # back to initialize on this connection.
                mcp2026.envelope(request.params)
            self.era = "modern" if modern else "legacy"
        if self.era == "modern":
            if request.method == "initialize":
                asked = request.params.get("protocolVersion")
                raise mcp2026.unsupported_version(
                    asked if isinstance(asked, str) else "", self.modern.versions
                )
            return self.modern.dispatch(request)
        if mcp2026.has_envelope(request.params):
            raise JsonRpcError(
                INVALID_REQUEST,
                "Invalid request: this connection speaks MCP 2025-11-25 (it began with "
                "initialize); a 2026-07-28 request needs a connection of its own",
            )
        return self.legacy.handle(request)

    async def on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method not in ("notifications/initialized", "notifications/cancelled"):
            log.debug("notification ignored", method=method)
