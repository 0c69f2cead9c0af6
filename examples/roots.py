"""A tool that works where the client lets it: the client's roots (`roots/list`).

Run it:  taskapp call examples/roots.py:app count_files pattern=*.md --root docs
"""

from pathlib import Path
from urllib.parse import unquote, urlparse

import anyio

from taskapp import TaskApp, TaskContext

app = TaskApp("roots", version="1.0.0")


def count(path: Path, pattern: str) -> int:
    return sum(1 for _ in path.rglob(pattern))


@app.tool()
async def count_files(ctx: TaskContext, pattern: str = "*.py") -> str:
    """Count the files that match a glob pattern under each of the client's roots."""
    lines = []
    for root in await ctx.list_roots():
        where = urlparse(root.uri)
        if where.scheme != "file":
            lines.append(f"{root.uri}: not a local directory")
            continue
        path = Path(unquote(where.path))
        # Walking a tree is blocking I/O: off the event loop, in a worker thread.
        found = await anyio.to_thread.run_sync(count, path, pattern)
        lines.append(f"{root.name or path}: {found} {pattern}")
    return "\n".join(lines)
