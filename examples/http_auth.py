"""A task server over Streamable HTTP with bearer-token auth.

Run it:  taskapp run examples/http_auth.py:app --transport http --port 8000

Then call it with a token (alice's tasks are hers alone; bob cannot see them):

    python -c "import anyio; from taskapp import Client
    async def main():
        async with Client('http://127.0.0.1:8000/mcp',
                          headers={'Authorization': 'Bearer alice-token'}) as c:
            print((await c.call_tool('report', {'region': 'north'})).text)
    anyio.run(main)"

Swap StaticTokenVerifier for taskapp.auth.JWTVerifier(issuer=..., audience=...,
jwks_url=...) in production; see docs/security.md.
"""

import anyio

from taskapp import TaskApp, TaskContext
from taskapp.auth import Auth, StaticTokenVerifier

app = TaskApp(
    "reports",
    version="1.0.0",
    auth=Auth(
        StaticTokenVerifier({"alice-token": "alice", "bob-token": "bob"}),
        authorization_servers=["https://auth.example.com"],
    ),
    max_ttl_ms=600_000,
    max_tasks_per_owner=10,
)


@app.task_tool(mode="required")
async def report(ctx: TaskContext, region: str, year: int = 2026) -> str:
    """Build the yearly report for a region.

    Args:
        region: Which region to report on.
        year: The year of the report.
    """
    for step, what in enumerate(("collecting data", "aggregating", "writing"), start=1):
        await ctx.update_status(what)
        await ctx.report_progress(step, total=3)
        await anyio.sleep(0.2)
    return f"Report for {region}, {year}: all good."
