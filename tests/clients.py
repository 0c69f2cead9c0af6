"""`taskapp.Client` pinned to MCP 2025-11-25, for the tests of that dialect's behaviour.

The client speaks the dialect the server speaks ("auto", its default), which for taskapp
is 2026-07-28. The tests of task-augmented calls, `tasks/result`, `tasks/list`, the
`execution.taskSupport` of `tools/list` and server-to-client requests check 2025-11-25
on purpose: they connect with this.
"""

from __future__ import annotations

from typing import Any

from taskapp import Client


class LegacyClient(Client):
    """A `Client` that goes straight to `initialize` (2025-11-25), never probing."""

    def __init__(self, target: Any, **options: Any) -> None:
        options.setdefault("dialect", "2025-11-25")
        super().__init__(target, **options)
