"""A first end-to-end check through the raw connection."""

from __future__ import annotations

import pytest

from examples.hello import app

from .raw import raw_connection

pytestmark = pytest.mark.anyio


async def test_task_round_trip() -> None:
    async with raw_connection(app) as conn:
        created = await conn.result(
            "tools/call",
            {"name": "slow_add", "arguments": {"a": 1, "b": 2, "steps": 1, "delay": 0}, "task": {}},
        )
        task_id = created["task"]["taskId"]
        result = await conn.result("tasks/result", {"taskId": task_id})
        assert result["content"] == [{"type": "text", "text": "1 + 2 = 3"}]
