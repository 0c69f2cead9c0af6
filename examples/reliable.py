"""Reliable tools: steps that survive a crash, retries, a timeout, and repeated calls.

Run it:  taskapp run examples/reliable.py:app

(Steps outlive the process only in a store that does: add `--store sqlite:///shop.db`.)
"""

import itertools

import anyio

from taskapp import TaskApp, TaskContext

app = TaskApp("shop", version="1.0.0")

# Stand-ins for the outside world: what each one did, for the example's test to read.
charged: list[str] = []
reserved: list[str] = []
_warehouse_calls = itertools.count(1)


def charge_card(order_id: str, amount: int) -> dict[str, str]:
    """A blocking payment API call (a sync step runs in a worker thread)."""
    charged.append(order_id)
    return {"payment": f"pay-{order_id}", "amount": str(amount)}


async def reserve_stock(order_id: str) -> str:
    """A warehouse that hangs up on every first call."""
    if next(_warehouse_calls) % 2 == 1:
        raise ConnectionError("the warehouse hung up")
    await anyio.sleep(0.01)  # the network
    reserved.append(order_id)
    return f"parcel-{order_id}"


# --8<-- [start:checkout]
@app.task_tool(
    mode="required",
    on_interrupt="rerun",  # if this process dies, another run resumes after the last step
    retries=3,  # an exception (not a ToolError) runs the tool again, finished steps skipped
    retry_backoff=0.5,  # 0.5 s, 1 s, 2 s between attempts (+-25%)
    timeout=300,  # each attempt may run 5 minutes (time waiting for the user not counted)
    dedupe_for=60,  # the same call from the same principal within 60 s: the same task
)
async def checkout(ctx: TaskContext, order_id: str, amount: int) -> str:
    """Charge the card, reserve the parcel, and say so: each step once, whatever happens."""
    payment = await ctx.step("charge", charge_card, order_id, amount=amount)
    parcel = await ctx.step("reserve", reserve_stock, order_id)
    return f"order {order_id}: {payment['payment']} for {payment['amount']}, {parcel}"


# --8<-- [end:checkout]
