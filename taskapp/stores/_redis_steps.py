"""RedisStore's step results and dedupe keys (reliable tools), kept out of redis.py.

`RedisStore` inherits these four methods; they run the Lua scripts `save_step`,
`load_steps`, `claim_dedupe` and `release_dedupe` of `_redis_scripts`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._redis_keys import TERMINAL_JSON, Keys


class RedisSteps:
    """The step and dedupe part of the TaskStore contract, for `RedisStore`."""

    _keys: Keys

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        raise NotImplementedError  # RedisStore's

    async def save_step(
        self, task_id: str, name: str, value: str, *, runner: str, now: float
    ) -> bool:
        keys = [self._keys.task(task_id), self._keys.steps(task_id)]
        args = [TERMINAL_JSON, json.dumps(runner), repr(now), name, value]
        return bool(await self._run("save_step", keys, args))

    async def load_steps(self, task_id: str, *, now: float) -> dict[str, str]:
        keys = [self._keys.task(task_id), self._keys.steps(task_id)]
        flat: list[str] = await self._run("load_steps", keys, [repr(now)])
        return dict(zip(flat[::2], flat[1::2], strict=True))

    async def claim_dedupe(self, key: str, task_id: str, *, until: float, now: float) -> str:
        keep_ms = max(1, int((until - now) * 1000) + 1000)  # a second past `until`, then gone
        args = [task_id, repr(until), repr(now), keep_ms]
        return str(await self._run("claim_dedupe", [self._keys.dedupe(key)], args))

    async def release_dedupe(self, key: str, task_id: str) -> None:
        await self._run("release_dedupe", [self._keys.dedupe(key)], [task_id])
