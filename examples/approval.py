"""An approval flow: a task that stops to ask the user before it goes on (elicitation).

Run it:  taskapp run examples/approval.py:app
"""

import anyio
from pydantic import BaseModel, Field

from taskapp import TaskApp, TaskContext

app = TaskApp("approval", version="1.0.0")


class Name(BaseModel):
    name: str = Field(description="Your name")


class Approval(BaseModel):
    approve: bool = Field(description="Go ahead with the deployment?")
    note: str = Field(default="", description="Anything to add")


# --8<-- [start:ask_name]
@app.task_tool(mode="optional")
async def ask_name(ctx: TaskContext, prompt: str = "What is your name?") -> str:
    """Ask the user for their name and greet them."""
    answer = await ctx.elicit(prompt, Name)
    if answer.action == "accept" and answer.data is not None:
        return f"Hello, {answer.data.name}!"
    return f"No name given (action={answer.action})"


# --8<-- [end:ask_name]


@app.task_tool(mode="required")
async def deploy(ctx: TaskContext, service: str, version: str) -> str:
    """Deploy a service after the user approves it.

    Args:
        service: The service to deploy.
        version: The version to roll out.
    """
    await ctx.update_status(f"checking {service} {version}")
    await anyio.sleep(0.1)
    answer = await ctx.elicit(f"Deploy {service} {version} to production?", Approval)
    if answer.action != "accept" or answer.data is None or not answer.data.approve:
        return f"Deployment of {service} {version} not approved ({answer.action})."
    await ctx.update_status(f"deploying {service} {version}")
    await anyio.sleep(0.1)
    note = f" Note: {answer.data.note}" if answer.data.note else ""
    return f"Deployed {service} {version}.{note}"
