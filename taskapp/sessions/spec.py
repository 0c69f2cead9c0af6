"""What sessions and transports are told about the server: a frozen description.

`TaskApp.spec()` assembles it; nothing below the app imports the app. Like an httpx
transport, which depends on models and config and never on the client, a session
reads these fields and nothing else of the app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from ..auth import Auth
from ..engine import TaskEngine
from ..tools import ToolDef
from .replay import StateSigner


class ToolsPage(Protocol):
    """One page of `tools/list`, with or without the 2025-11-25 `execution` field."""

    def __call__(self, cursor: str | None, *, with_tasks: bool) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """The server as its sessions and transports see it.

    `tools` is the app's registry itself (a read-only view by type), so a tool added
    after the spec was made is served too, as it always was.
    """

    name: str
    version: str
    instructions: str | None
    tools: Mapping[str, ToolDef]
    tools_page: ToolsPage
    #: Items per page of `tasks/list` (and `tools/list`, which `tools_page` cuts).
    page_size: int
    #: Signs the `requestState` of 2026-07-28 inline calls that ask the client something.
    state_signer: StateSigner
    #: Bearer-token checks for HTTP; None: no authentication.
    auth: Auth | None
    #: Starts the engine (and its store) for as long as the block lasts.
    running: Callable[[], AbstractAsyncContextManager[TaskEngine]]
    #: The largest message accepted: a stdio line, an HTTP body (4 MiB, as the official SDK).
    max_message_bytes: int = 4 * 1024 * 1024

    @property
    def server_info(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}
