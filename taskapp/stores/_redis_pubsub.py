"""RedisStore's pub/sub: one connection per store, fanning each task's changes out to
its waiters in this process (see docs/stores.md, "Waiting without polling")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from .._logging import get_logger

log = get_logger("taskapp.stores.redis")


class Changes:
    """The store's one pub/sub connection, shared by all its waiters.

    A waiter of task X holds a subscription to X's channel (the waiters of X share one
    SUBSCRIBE) and waits on an event that the next message on that channel sets. One
    task sends SUBSCRIBE/UNSUBSCRIBE commands, in order; another reads. A waiter reads
    the record only once its subscription is confirmed, so no write is missed. After a
    lost connection every subscription is made again, and each waiter reads again once
    its own is confirmed.
    """

    def __init__(
        self, channel_prefix: str, idle_channel: str, deleted_channel: str = "",
        forget: Callable[[str | None], None] | None = None, created_channel: str = "",
    ) -> None:  # fmt: skip
        self._prefix = channel_prefix
        self._idle = idle_channel
        # A message per task created by any process, for `wait_created`. Subscribed only
        # once something here waits for creations (a dashboard): other processes of a
        # fleet are spared a message for every task created anywhere.
        self._created_channel = created_channel
        self._created: anyio.Event | None = None  # set by the next creation heard of
        self._creations_wanted = False
        self._creations_sent = False  # subscribed (or being) on the current connection
        self._creations_heard = anyio.Event()  # set once that subscription is active
        # Task ids deleted by any process, for `forget` (and None after a reconnect).
        self._deleted = deleted_channel
        self._forget = forget
        self._users: dict[str, int] = {}  # task id -> waiters watching it
        self._ready: dict[str, anyio.Event] = {}  # task id -> set once subscribed
        self._events: dict[str, anyio.Event] = {}  # task id -> set by its next message
        self._sent: set[str] = set()  # subscribed (or being) on the current connection
        self._unconfirmed: dict[str, int] = {}  # task id -> SUBSCRIBEs not yet confirmed
        self._dirty = anyio.Event()  # the subscriptions wanted changed

    def event(self, task_id: str) -> anyio.Event:
        event = self._events.get(task_id)
        if event is None:
            event = self._events[task_id] = anyio.Event()
        return event

    async def hearing_creations(self, probe: Callable[[], Awaitable[object]]) -> None:
        """Return once creations are heard of (the channel's subscription is active).
        Until then `probe` (a read) goes first: a Redis that is down raises its error
        rather than leaving the caller waiting for a subscription that cannot come."""
        if self._creations_heard.is_set():
            return
        await probe()
        if not self._creations_wanted:
            self._creations_wanted = True
            self._dirty.set()
        await self._creations_heard.wait()

    def created_event(self) -> anyio.Event:
        """The event the next creation (or a reconnect) sets; take it before reading the
        creation counter, once `hearing_creations` has returned."""
        if self._created is None:
            self._created = anyio.Event()
        return self._created

    def _wake_created(self) -> None:
        created, self._created = self._created, None
        if created is not None:
            created.set()

    @asynccontextmanager
    async def watching(self, task_id: str) -> AsyncIterator[None]:
        self._users[task_id] = self._users.get(task_id, 0) + 1
        if task_id not in self._ready:
            ready = self._ready[task_id] = anyio.Event()
            if task_id in self._sent and task_id not in self._unconfirmed:
                # The last waiter left, and this one came, before the UNSUBSCRIBE went
                # out (a waiter that waits again at once): still subscribed, no
                # confirmation will come.
                ready.set()
            else:
                self._dirty.set()
        try:
            await self._ready[task_id].wait()
            yield
        finally:
            left = self._users[task_id] - 1
            if left:
                self._users[task_id] = left
            else:
                del self._users[task_id], self._ready[task_id]
                self._events.pop(task_id, None)
                self._dirty.set()

    def wake_all(self) -> None:
        for events in (self._ready, self._events):
            for event in events.values():
                event.set()
        self._events.clear()
        self._wake_created()

    def _wake(self, task_id: str) -> None:
        event = self._events.pop(task_id, None)
        if event is not None:
            event.set()

    # -- the connection ------------------------------------------------------------------

    async def listen(self, client: Redis, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Keep the connection up and dispatch its messages, until cancelled."""
        started, delay = False, 0.05
        while True:
            pubsub = client.pubsub()
            try:
                # One command: all are active once the first confirmation comes.
                creations = self._created_channel if self._creations_wanted else ""
                await pubsub.subscribe(*filter(None, (self._idle, self._deleted, creations)))
                await pubsub.get_message(timeout=None)  # the confirmation: connected
                self._connected(hearing_creations=bool(creations))
                if not started:
                    task_status.started()
                    started = True
                else:
                    log.info("redis pub/sub connection restored")
                delay = 0.05
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._guard, self._send, pubsub, tg)
                    tg.start_soon(self._guard, self._receive, pubsub, tg)
            except Exception as exc:  # down, or refused: try again, never crash the store
                log.warning("redis pub/sub connection failed; retrying", error=str(exc))
            finally:
                with anyio.CancelScope(shield=True):
                    # Untyped before redis 8.2, typed from it: the ignore holds on both.
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            await anyio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _guard(
        self, loop: Callable[[PubSub], Awaitable[None]], pubsub: PubSub, tg: TaskGroup
    ) -> None:
        try:
            await loop(pubsub)
        except (RedisError, OSError) as exc:  # a lost connection: listen starts over
            log.warning("redis pub/sub connection lost; reconnecting", error=str(exc))
        except Exception as exc:  # never let the store's task group (and its host) die
            log.error("redis pub/sub listener failed; reconnecting", exc_info=exc)
        tg.cancel_scope.cancel()

    def _connected(self, *, hearing_creations: bool) -> None:
        if self._forget is not None:
            self._forget(None)  # a deletion may have gone by while disconnected
        self._creations_sent = hearing_creations
        if hearing_creations:
            self._creations_heard.set()
        elif self._creations_heard.is_set():
            self._creations_heard = anyio.Event()
        self._wake_created()  # and a creation: its waiters read the counter again
        self._sent.clear()
        self._unconfirmed.clear()
        for task_id, ready in self._ready.items():
            if ready.is_set():  # later waiters wait for the new subscription
                self._ready[task_id] = anyio.Event()
        self._dirty.set()

    async def _send(self, pubsub: PubSub) -> None:
        while True:
            await self._dirty.wait()
            # One turn later: a waiter that leaves at once (the engine's watch of a task
            # that ends in the same turn) then costs no SUBSCRIBE and UNSUBSCRIBE.
            await anyio.lowlevel.checkpoint()
            self._dirty = anyio.Event()
            new = [task_id for task_id in self._users if task_id not in self._sent]
            old = [task_id for task_id in self._sent if task_id not in self._users]
            self._sent.difference_update(old)
            self._sent.update(new)
            for task_id in new:
                self._unconfirmed[task_id] = self._unconfirmed.get(task_id, 0) + 1
            if self._creations_wanted and not self._creations_sent:
                self._creations_sent = True
                await pubsub.subscribe(self._created_channel)  # confirmed in _receive
            if new:
                await pubsub.subscribe(*(self._prefix + task_id for task_id in new))
            if old:
                await pubsub.unsubscribe(*(self._prefix + task_id for task_id in old))

    async def _receive(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None or message["channel"] == self._idle:
                continue
            if message["channel"] == self._created_channel:
                if message["type"] == "message":
                    self._wake_created()
                elif message["type"] == "subscribe":
                    self._creations_heard.set()
                continue
            if message["channel"] == self._deleted:
                if message["type"] == "message" and self._forget is not None:
                    self._forget(str(message["data"]))
                continue
            task_id = str(message["channel"]).removeprefix(self._prefix)
            if message["type"] == "message":
                self._wake(task_id)
            elif message["type"] == "subscribe":
                self._confirm(task_id)

    def _confirm(self, task_id: str) -> None:
        left = self._unconfirmed.get(task_id, 0) - 1
        if left > 0:
            self._unconfirmed[task_id] = left
            return
        self._unconfirmed.pop(task_id, None)
        # The last command sent for this channel was a SUBSCRIBE, and every one is now
        # confirmed: the subscription is active.
        ready = self._ready.get(task_id)
        if task_id in self._sent and ready is not None:
            ready.set()
            self._wake(task_id)  # after a reconnect: read again, a write may be missed
