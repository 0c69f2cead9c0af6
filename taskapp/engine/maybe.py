"""A value now, or an awaitable of it: how a read answers without waiting when it can.

A store that answers without waiting (`stores.base.answers_now`) gives the engine a
ready value; any other store an awaitable. Code above chains on either with `then`,
so each request has one path, and the ready case costs no task and no loop turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

import anyio

T = TypeVar("T")
U = TypeVar("U")

#: `T` now, or an awaitable of it (an `async def` call is one).
Maybe: TypeAlias = T | Awaitable[T]


def then(value: Maybe[T], fn: Callable[[T], Maybe[U]]) -> Maybe[U]:
    """`fn(value)`: at once when `value` is ready, else once it has been awaited.

    What `fn` returns may itself be an awaitable; awaiting the result awaits both.
    """
    if isinstance(value, Awaitable):
        return _then(value, fn)
    return fn(value)


async def _then(value: Awaitable[T], fn: Callable[[T], Maybe[U]]) -> U:
    result = fn(await value)
    if isinstance(result, Awaitable):
        return await result
    return result


async def settled(value: Maybe[T]) -> T:
    """The value, awaited if it is not ready: for callers that may wait anyway."""
    if isinstance(value, Awaitable):
        return await value
    return value


async def shielded(created: Awaitable[T]) -> T:
    """`created`, awaited in a shielded scope: what must finish once begun (a task stored
    must be started) finishes whatever the caller does."""
    with anyio.CancelScope(shield=True):
        result = await created
    return result
