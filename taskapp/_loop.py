"""Which event loop the app runs on (uvloop when installed), and settling it before serving."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import sys
from typing import Any, Literal

EventLoop = Literal["auto", "asyncio", "uvloop"]


def backend_options(loop: EventLoop) -> dict[str, Any]:
    """anyio's asyncio-backend options for `loop` ("auto": uvloop if it is installed).

    uvloop runs the event loop's own work (waking on a pipe, running callbacks) in C:
    about 14 us less per request on stdio (bench/RESULTS.md)."""
    if loop not in ("auto", "asyncio", "uvloop"):
        raise ValueError(f"unknown event loop {loop!r}: use 'auto', 'asyncio' or 'uvloop'")
    if loop == "asyncio":
        return {}
    if sys.platform == "win32" or importlib.util.find_spec("uvloop") is None:
        if loop == "uvloop":
            raise ValueError("the uvloop event loop needs uvloop: pip install 'taskapp[uvloop]'")
        return {}
    return {"use_uvloop": True}


def loop_name() -> str:
    """The running event loop's name: uvloop or asyncio (trio on anyio's other backend)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "trio"
    return type(loop).__module__.partition(".")[0]


def settle_gc() -> None:
    """Move what start-up made (modules, schemas) out of the collector's way: with many
    live tasks, full collections that walk it all would pause the event loop."""
    gc.collect()
    gc.freeze()
