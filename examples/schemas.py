"""Schemas from signatures: what the annotations of a tool become on the wire.

Run it:  taskapp inspect examples/schemas.py:app --json
"""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from taskapp import ProtocolError, TaskApp, TaskContext, ToolError

app = TaskApp("shop", version="1.0.0")


class Size(StrEnum):
    small = "S"
    medium = "M"
    large = "L"


class Address(BaseModel):
    street: str
    city: str
    country: str = Field(default="FR", description="ISO 3166 country code")


class Order(BaseModel):
    order_id: str
    items: int
    total: float


@app.task_tool(mode="optional", annotations={"destructiveHint": False})
async def place_order(
    ctx: TaskContext,  # by its type: never in the schema
    sku: Annotated[str, Field(pattern=r"^[A-Z]{3}-\d{4}$")],
    quantity: Annotated[int, Field(ge=1, le=100)] = 1,
    size: Size = Size.medium,
    wrapping: Literal["none", "paper", "box"] = "none",
    ship_to: Address | None = None,
    notes: list[str] | None = None,
) -> Order:
    """Place an order for an item of the shop.

    Args:
        sku: The item's stock-keeping unit, e.g. ABC-1234.
        quantity: How many to order.
        size: The size of the item.
        wrapping: How to wrap it.
        ship_to: Where to send it; the account's address when left out.
        notes: Notes for the warehouse.
    """
    if sku == "OUT-0000":
        raise ToolError(f"{sku} is out of stock")  # isError: true, the task ends failed
    if ship_to is not None and ship_to.country not in ("FR", "DE", "IT"):
        # A JSON-RPC error instead of a result (S-29): the task ends failed too
        raise ProtocolError(-32602, "cannot ship there", {"country": ship_to.country})
    await ctx.update_status(f"reserving {quantity} x {sku}")
    return Order(order_id=f"o-{sku}-{quantity}", items=quantity, total=round(9.5 * quantity, 2))


@app.tool()
async def stock(sku: str) -> int:
    """How many of an item are in stock."""
    return 0 if sku == "OUT-0000" else 42
