"""taskapp: write MCP servers whose tools run as MCP tasks, from plain async functions."""

import typing as _typing
from importlib import import_module as _import_module

from ._version import __version__ as __version__

if _typing.TYPE_CHECKING:
    from ._input import Choices as Choices
    from .app import TaskApp as TaskApp
    from .client import Client as Client
    from .context import ElicitResult as ElicitResult
    from .context import Root as Root
    from .context import SampleResult as SampleResult
    from .context import TaskContext as TaskContext
    from .context import UrlElicitResult as UrlElicitResult
    from .context import current_context as current_context
    from .errors import ProtocolError as ProtocolError
    from .errors import RegistrationError as RegistrationError
    from .errors import ReliabilityWarning as ReliabilityWarning
    from .errors import StepError as StepError
    from .errors import TaskAppError as TaskAppError
    from .errors import ToolError as ToolError
    from .records import TaskStatus as TaskStatus
    from .stores import MemoryStore as MemoryStore
    from .stores import TaskStore as TaskStore
    from .stores import open_store as open_store
    from .tools import task_tool as task_tool
    from .wire.jsonrpc import JsonRpcError as JsonRpcError

# Imported on first use, not with the package: `taskapp --help` starts in a fraction of
# the time, and a Ctrl-C while the command line starts is the command's to answer.
_WHERE = {
    "TaskApp": ".app",
    "Choices": "._input",
    "Client": ".client",
    "ElicitResult": ".context",
    "Root": ".context",
    "SampleResult": ".context",
    "TaskContext": ".context",
    "UrlElicitResult": ".context",
    "current_context": ".context",
    "ProtocolError": ".errors",
    "RegistrationError": ".errors",
    "ReliabilityWarning": ".errors",
    "StepError": ".errors",
    "TaskAppError": ".errors",
    "ToolError": ".errors",
    "TaskStatus": ".records",
    "MemoryStore": ".stores",
    "TaskStore": ".stores",
    "open_store": ".stores",
    "task_tool": ".tools",
    "JsonRpcError": ".wire.jsonrpc",
}

__all__ = (
    "Choices",
    "Client",
    "ElicitResult",
    "JsonRpcError",
    "MemoryStore",
    "ProtocolError",
    "RegistrationError",
    "ReliabilityWarning",
    "Root",
    "SampleResult",
    "StepError",
    "TaskApp",
    "TaskAppError",
    "TaskContext",
    "TaskStatus",
    "TaskStore",
    "ToolError",
    "UrlElicitResult",
    "__version__",
    "current_context",
    "open_store",
    "task_tool",
)


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'taskapp' has no attribute {name!r}")
    value = getattr(_import_module(module, __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
