"""Task stores: the protocol, the built-in stores, and `open_store(url)`."""

from __future__ import annotations

from .base import InvalidCursorError, TaskNotFoundError, TaskStore
from .memory import MemoryStore

__all__ = ("InvalidCursorError", "MemoryStore", "TaskNotFoundError", "TaskStore", "open_store")


def open_store(url: str | TaskStore | None) -> TaskStore:
    """A store for a URL: `memory://`, `sqlite:///relative/path.db`,
    `sqlite:////absolute/path.db`, or `redis://host:6379/0` (`rediss://` for TLS; add
    `?prefix=myapp:` to share a database). A TaskStore passes through; None means memory."""
    if url is None:
        return MemoryStore()
    if not isinstance(url, str):
        return url
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ValueError(f"store URL {url!r} has no scheme: expected e.g. 'memory://'")
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        from .sqlite import SQLiteStore  # imported only when asked for

        return SQLiteStore.from_url(url)
    if scheme in ("redis", "rediss"):
        try:
            from .redis import RedisStore  # imported only when asked for
        except ModuleNotFoundError as exc:
            if exc.name != "redis":
                raise
            raise ImportError(
                f"the store {url!r} needs redis-py: pip install 'taskapp[redis]'"
            ) from exc
        return RedisStore(url)
    raise ValueError(
        f"unknown store scheme {scheme!r} in {url!r}: taskapp knows 'memory://', "
        "'sqlite:///path/to/tasks.db' and 'redis://host:6379/0'"
    )
