"""Task stores: the protocol, what a store of your own needs, the built-in stores, `open_store`."""

from __future__ import annotations

# What a store of your own needs, in one import: the protocol and its errors, the record
# and the one state machine that changes it, and the optional capabilities.
from ..records import KEEP as KEEP
from ..records import InvalidTransitionError as InvalidTransitionError
from ..records import Outcome as Outcome
from ..records import TaskRecord as TaskRecord
from ..records import TaskStatus as TaskStatus
from ..records import ToolOutcome as ToolOutcome
from ..records import apply_update as apply_update
from ..records import record_from_json as record_from_json
from ..records import record_to_json as record_to_json
from ._listing_all import CannotListAllOwnersError as CannotListAllOwnersError
from ._listing_all import ListsAllOwners as ListsAllOwners
from ._listing_all import TaskFilter as TaskFilter
from ._listing_all import all_owners as all_owners
from .base import AnswersNow as AnswersNow
from .base import InvalidCursorError as InvalidCursorError
from .base import TaskNotFoundError as TaskNotFoundError
from .base import TaskStore as TaskStore
from .base import WorkQueue as WorkQueue
from .base import answers_now as answers_now
from .memory import MemoryStore as MemoryStore

__all__ = (
    "KEEP",
    "AnswersNow",
    "CannotListAllOwnersError",
    "InvalidCursorError",
    "InvalidTransitionError",
    "ListsAllOwners",
    "MemoryStore",
    "Outcome",
    "TaskFilter",
    "TaskNotFoundError",
    "TaskRecord",
    "TaskStatus",
    "TaskStore",
    "ToolOutcome",
    "WorkQueue",
    "all_owners",
    "answers_now",
    "apply_update",
    "open_store",
    "record_from_json",
    "record_to_json",
)


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
