"""The Redis store's connection: the URL forms it takes, its `prefix=` option, and opening it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.exceptions import RedisError, ResponseError

from ._redis_keys import GROUP

_SCHEMES = ("redis://", "rediss://", "unix://")


def split_prefix(url: str) -> tuple[str, str | None]:
    """The URL without its `prefix=` option, and that option; ValueError if malformed."""
    error = (
        f"bad Redis store URL {url!r}: expected redis://[[user]:password@]host[:port][/db]"
        "[?prefix=myapp:], rediss://... (TLS) or unix:///path/to/redis.sock"
    )
    if not url.startswith(_SCHEMES):
        raise ValueError(error)
    base, _, query_text = url.partition("?")
    query = parse_qsl(query_text, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    others = urlencode([item for item in query if item[0] != "prefix"])
    rest = f"{base}?{others}" if others else base
    parts = urlsplit(rest)
    try:
        parse_url(rest)
        if parts.scheme != "unix" and (not parts.hostname or parts.port == 0):
            raise ValueError("no host")
        if parts.scheme != "unix" and not re.fullmatch(r"/?\d*", parts.path):
            raise ValueError(f"the database must be a number, not {parts.path[1:]!r}")
    except ValueError as exc:
        raise ValueError(f"{error} ({exc})") from None
    return rest, prefixes[-1] if prefixes else None


def _where(url: str) -> str:
    """The host and port (or socket path) of a URL, to name in an error."""
    parts = urlsplit(url)
    return parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"


async def connect(url: str, options: dict[str, Any], queue: str) -> Redis:
    """A client for the Redis at `url`, checked with a PING, with the workers' consumer
    group on `queue` made; ConnectionError naming the host if Redis cannot be used."""
    client = Redis.from_pool(BlockingConnectionPool.from_url(url, **options))
    try:
        # redis < 8 types async replies as `Awaitable[T] | T`; the ignores on such awaits
        # in the Redis store hold on both sides of 8.0 (`unused-ignore`).
        await client.ping()  # type: ignore[misc, unused-ignore]
        try:
            await client.xgroup_create(queue, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # the group exists: another process made it
                raise
    except RedisError as exc:
        await client.aclose()
        raise ConnectionError(
            f"cannot use the Redis store at {_where(url)}: {exc} "
            "(is Redis running, and are the URL, password and TLS options right?)"
        ) from exc
    return client
