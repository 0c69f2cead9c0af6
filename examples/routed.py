"""A tool whose parameters a load balancer can route on: MCP 2026-07-28 clients mirror
them into `Mcp-Param-Region` and `Mcp-Param-Shard` HTTP headers (SEP-2243).

Run it:  taskapp run examples/routed.py:app --transport http
"""

from typing import Annotated

from pydantic import Field

from taskapp import TaskApp

Region = Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]
Shard = Annotated[int, Field(json_schema_extra={"x-mcp-header": "Shard"})]

app = TaskApp("routed")


@app.tool()
async def query(region: Region, sql: str, shard: Shard = 0) -> str:
    """Run `sql` in `region` (both mirrored into headers for the load balancer)."""
    return f"{sql} in {region} (shard {shard})"
