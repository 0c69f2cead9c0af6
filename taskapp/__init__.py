"""taskapp: write MCP servers whose tools run as MCP tasks, from plain async functions."""

from ._version import __version__ as __version__
from .app import TaskApp as TaskApp
from .client import Client as Client
from .context import ElicitResult as ElicitResult
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

__all__ = (
    "Client",
    "ElicitResult",
    "JsonRpcError",
    "MemoryStore",
    "ProtocolError",
    "RegistrationError",
    "ReliabilityWarning",
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
