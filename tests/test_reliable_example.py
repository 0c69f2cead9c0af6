"""examples/reliable.py (docs/reliable.md) runs as the page says: the warehouse fails the
first attempt, the retry skips the card charge (a finished step) and completes."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.clients import LegacyClient

pytestmark = pytest.mark.anyio


async def test_checkout_charges_once_though_the_warehouse_fails_once() -> None:
    from examples.reliable import app, charged, reserved

    statuses: list[str | None] = []

    async def on_status(task: Any) -> None:
        statuses.append(task.status_message)

    with anyio.fail_after(10):
        async with LegacyClient(app, status_handler=on_status) as client:
            created = await client.call_tool_as_task("checkout", {"order_id": "A7", "amount": 30})
            result = await client.get_task_result(created.task.task_id)
    assert result.content == [{"type": "text", "text": "order A7: pay-A7 for 30, parcel-A7"}]
    assert charged == ["A7"]  # once, though the tool ran twice
    assert reserved == ["A7"]
    retry = [s for s in statuses if s and s.startswith("retry")]
    assert len(retry) == 1
    assert retry[0].startswith("retry 1 of 3 in ")
    assert retry[0].endswith(" s: ConnectionError: the warehouse hung up")
    assert "step charge" in statuses
