"""The task engine: creating tasks, running their functions, leases and the fleet.

It knows records and stores, never JSON-RPC or sessions (see tests/test_layers.py).
"""

from .config import (
    CANCELLED_MESSAGE,
    DEFAULT_TTL_MS,
    MAX_TTL_MS,
    POLL_INTERVAL_MS,
    SHUTDOWN_MESSAGE,
    EngineConfig,
    TaskLimitError,
    TaskObserver,
    TaskTerminalError,
    new_task_id,
)
from .core import TaskEngine

__all__ = (
    "CANCELLED_MESSAGE",
    "DEFAULT_TTL_MS",
    "MAX_TTL_MS",
    "POLL_INTERVAL_MS",
    "SHUTDOWN_MESSAGE",
    "EngineConfig",
    "TaskEngine",
    "TaskLimitError",
    "TaskObserver",
    "TaskTerminalError",
    "new_task_id",
)
