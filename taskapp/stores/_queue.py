"""The in-memory input-request queue of one task, used by MemoryStore."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio


@dataclass(slots=True)
class InputQueue:
    """Requests waiting to be delivered, delivered ones waiting for answers, and answers."""

    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)  # unclaimed, oldest first
    claimed: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def claim(self) -> tuple[str, dict[str, Any]] | None:
        if not self.waiting:
            return None
        key = next(iter(self.waiting))
        message = self.claimed[key] = self.waiting.pop(key)
        return key, message

    def release(self, key: str) -> None:
        message = self.claimed.pop(key, None)
        if message is not None:
            self.waiting = {key: message, **self.waiting}

    def answer(self, key: str, answer: dict[str, Any]) -> bool:
        if self.claimed.pop(key, None) is None and self.waiting.pop(key, None) is None:
            return False
        self.answers[key] = answer
        self.wake()
        return True

    def wake(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()
