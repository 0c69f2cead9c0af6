"""Tests that need a Redis server: where it is, and what happens when there is none.

Locally a test that needs Redis is skipped, with the reason, when none is reachable;
in CI (the environment variable CI is set) it fails instead: CI runs Redis at
127.0.0.1:6379, so a missing server there is a broken build, never a silent skip.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from taskapp.stores.redis import RedisStore

REDIS_URL = os.environ.get("TASKAPP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@functools.cache
def unreachable(url: str) -> str | None:
    """Why no Redis answers at `url`, or None when one does (asked once per URL)."""
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def require_redis(url: str = REDIS_URL) -> str:
    """The URL of a reachable Redis; otherwise skip the test, or fail it in CI."""
    reason = unreachable(url)
    if reason is None:
        return url
    message = (
        f"no Redis server at {url} ({reason}): start one (redis-server) or point "
        "TASKAPP_TEST_REDIS_URL at one"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the Redis tests, not skip them", pytrace=False)
    pytest.skip(message)


def unique_prefix() -> str:
    return f"taskapp-test:{uuid.uuid4().hex}:"


async def delete_keys(url: str, prefix: str) -> int:
    """Remove every key under `prefix` (SCAN, then DEL); return how many."""
    removed = 0
    async with Redis.from_url(url) as client:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=500):
            batch.append(key)
            if len(batch) == 500:
                removed += await client.delete(*batch)
                batch.clear()
        if batch:
            removed += await client.delete(*batch)
    return removed


@asynccontextmanager
async def opened(
    url: str, prefix: str | None = None, *, cls: type[RedisStore] = RedisStore, **options: Any
) -> AsyncIterator[RedisStore]:
    """An opened store on `prefix` (a fresh one unless given); its keys are removed after
    unless the prefix was given (then whoever chose it cleans up)."""
    store = cls(url, prefix=prefix or unique_prefix(), **options)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        if prefix is None:
            await delete_keys(url, store.prefix)
