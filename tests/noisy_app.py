"""An app whose tool writes to stdout every way it can: print, os.write(1, ...), a subprocess.

Serve it with `taskapp run tests/noisy_app.py:app`: on stdio none of it may reach the protocol.
"""

import os
import sys

import anyio

from taskapp import TaskApp

app = TaskApp("noisy", version="1.0.0")


@app.task_tool(mode="optional")
async def chatty(word: str) -> str:
    """Print `word` three ways, then return it."""
    print(f"print says {word}")  # noqa: T201 (the point of the test)
    sys.stdout.flush()
    os.write(1, f"os.write says {word}\n".encode())
    script = f"print('subprocess says {word}')"
    await anyio.run_process([sys.executable, "-c", script], stdout=None, stderr=None)
    return f"said {word}"
