"""The package's layering: imports flow one way, no cycles, no module over 400 lines.

Read from the source with `ast`, every import counts: module level, inside functions,
and under `if TYPE_CHECKING:` (a type-only import still ties the two modules together).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "taskapp"
MAX_LINES = 400

# The layers, top to bottom: a module may import from its own layer or any layer below,
# never from one above. The longest matching prefix decides (`taskapp` alone names only
# the package's __init__).
LAYERS: list[tuple[int, str, tuple[str, ...]]] = [
    # What users start: the app assembles the server description, the client drives one,
    # the CLI forwards to both.
    (7, "app", ("taskapp", "taskapp.__main__", "taskapp.app", "taskapp._loop",
                "taskapp.client", "taskapp._client_tasks", "taskapp._client_modern",
                "taskapp._client_connect", "taskapp._worker", "taskapp.cli", "taskapp.dashboard")),
    # How messages travel: stdio, Streamable HTTP (both sides), memory.
    (6, "transports", ("taskapp.transports",)),
    # One client's conversation in each dialect, the Peer, and what they are given
    # (sessions.spec.ServerSpec) instead of the app.
    (5, "sessions", ("taskapp.sessions",)),
    # Pure codecs of JSON-RPC and the two MCP dialects, and the task engine: side by
    # side, neither imports the other (FORBIDDEN below).
    (4, "wire", ("taskapp.wire",)),
    (4, "engine", ("taskapp.engine",)),
    # Metrics and traces: the engine's hooks (engine/hooks.py) made real. The engine never
    # imports them (they are optional, and their libraries too); the app hands them over.
    (4, "observe", ("taskapp.observe",)),
    # What a tool author writes against: the decorator, its signature, its context.
    (3, "tools", ("taskapp.tools", "taskapp.signature", "taskapp._docstrings",
                  "taskapp._param_headers", "taskapp.context", "taskapp._input")),
    # Where tasks are kept, and the contract every store passes.
    (2, "stores", ("taskapp.stores", "taskapp.testing")),
    # Leaves that import only each other: records, errors, bearer-token verifiers
    # (pure: verify a token, describe the resource), logging setup, the version.
    (1, "records", ("taskapp.records", "taskapp.errors", "taskapp.auth",
                    "taskapp._logging", "taskapp._version")),
]  # fmt: skip
# Kept apart even where the ranks would allow it: the codecs are pure (no engine, no
# store), and the engine never speaks a wire dialect.
FORBIDDEN = {
    ("wire", "engine"), ("engine", "wire"), ("wire", "stores"),
    ("engine", "observe"), ("observe", "engine"), ("wire", "observe"), ("observe", "wire"),
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> tuple[int, str]:
    """The layer of the longest prefix that matches (`taskapp` alone names __init__)."""
    matches = [
        (len(prefix), rank, name)
        for rank, name, prefixes in LAYERS
        for prefix in prefixes
        if module == prefix or (prefix != "taskapp" and module.startswith(prefix + "."))
    ]
    if not matches:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    _, rank, name = max(matches)
    return rank, name


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """The taskapp modules `module` imports, with the line of each import."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from pkg import mod` imports the module `pkg.mod`; `from mod import name`
            # imports `mod`.
            targets = [
                f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source
                for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target in MODULES:
                yield target, node.lineno


GRAPH = {module: dict(imports_of(module)) for module in MODULES}


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_imports_follow_the_layers() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        rank, name = layer_of(module)
        for target, line in targets.items():
            target_rank, target_name = layer_of(target)
            if target_rank > rank or (name, target_name) in FORBIDDEN:
                wrong.append(
                    f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {module} ({name}) "
                    f"imports {target} ({target_name})"
                )
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    # A package's __init__ re-exporting its submodules is no cycle of its own: the
    # submodules must not import the package back (they import each other directly).
    cycles = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(" -> ".join([*path[path.index(module) :], module]))
            return
        if module in done:
            return
        for target in GRAPH[module]:
            visit(target, [*path, module])
        done.add(module)

    for module in MODULES:
        visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


def test_no_module_is_over_the_line_budget() -> None:
    long = []
    for path in MODULES.values():
        relative = path.relative_to(PACKAGE.parent).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            long.append(f"{relative} has {lines} lines")
    assert not long, f"over {MAX_LINES} lines, split along the seam:\n" + "\n".join(long)
