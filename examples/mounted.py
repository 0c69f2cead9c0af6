"""The MCP endpoint mounted in a bigger ASGI app (Starlette here; FastAPI works the same).

Run it:  uvicorn examples.mounted:api --port 8000

The web app keeps its own routes (`GET /health`); MCP clients use `/mcp`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from taskapp import TaskApp, TaskContext

tasks = TaskApp("reports", version="1.0.0")


@tasks.task_tool(mode="required")
async def weekly_report(ctx: TaskContext, team: str) -> str:
    """Build the weekly report of a team."""
    await ctx.update_status(f"reading {team}'s tickets")
    await anyio.sleep(0.2)
    return f"{team}: 12 tickets closed, 3 opened"


mcp = tasks.http_app(path="/mcp")


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    # The mounted app's lifespan runs the task engine; a parent app must enter it.
    async with mcp.router.lifespan_context(mcp):
        yield


async def health(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


api = Starlette(routes=[Route("/health", health), Mount("/", app=mcp)], lifespan=lifespan)
