"""Many processes on one shared store: leases, recovery, the work queue and workers.

Every engine stamps the tasks it runs with its runner id and a lease it renews. A
task whose lease lapsed while it is unfinished was orphaned by a process that
died: one engine adopts it (the store makes that atomic) and ends it `failed`, or
runs it again where the tool allows (`on_interrupt="rerun"`: at least once).
Instances with the queue executor store tasks with no runner and hand their ids to
workers; a worker adopts each one, exactly as recovery does.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from typing import Protocol

import anyio

from .._logging import get_logger
from ..records import TaskRecord
from ..stores.base import TaskStore, WorkQueue
from ..tools import ToolDef
from .config import EngineConfig, TaskObserver

log = get_logger("taskapp.fleet")


class Engine(Protocol):
    """What the fleet needs of the engine (`TaskEngine` is one); passed in, never imported."""

    @property
    def store(self) -> TaskStore: ...
    @property
    def config(self) -> EngineConfig: ...
    @property
    def runner_id(self) -> str: ...
    @property
    def tools(self) -> Mapping[str, ToolDef]: ...

    def leased_ids(self) -> list[str]: ...

    def start_adopted(
        self, record: TaskRecord, tool: ToolDef, on_end: Callable[[], None] | None = None
    ) -> None: ...

    async def fail(self, task_id: str, message: str) -> None: ...

    def observer_of(self, task_id: str) -> TaskObserver | None: ...

    def detach_task(self, task_id: str) -> None: ...

    def emit(self, record: TaskRecord) -> None: ...


INTERRUPTED_MESSAGE = "Task interrupted: the process running it stopped before it finished."


def work_queue(store: TaskStore) -> WorkQueue:
    if not isinstance(store, WorkQueue):
        raise TypeError(
            f"{type(store).__name__} has no work queue: the queue executor and workers "
            "need a store that has one, such as redis://"
        )
    return store


async def keep_leases(engine: Engine) -> None:
    """Renew this engine's leases, then recover orphans, every third of a lease.

    Through a store outage nobody can renew, so leases lapse in every live engine at
    once. What keeps their tasks from being taken as orphans when the store is back:
    renewal comes before recovery and is retried within a second or so of a failure;
    and an orphan is adopted only when two upkeeps a period apart, with no failed or
    slow store call between, both saw its lease lapsed at the same value. A runner
    that is alive has had that whole period of working store to renew it.
    """
    if not getattr(engine.store, "shared", False):
        return  # no other process can orphan tasks in (or need leases from) this store
    period = engine.config.lease_s / 3
    suspects: dict[str, float | None] = {}  # lapsed at the last upkeep: task -> its lease
    delay = 0.1
    while True:
        started = anyio.current_time()
        try:
            until = time.time() + engine.config.lease_s
            await engine.store.renew_leases(engine.runner_id, engine.leased_ids(), until=until)
            if anyio.current_time() - started > period / 2:
                suspects = {}  # the store stalled: others may not have renewed yet
            if engine.config.recover:
                suspects = await _recover_confirmed(engine, suspects)
        except Exception as exc:  # a store hiccup must not stop the server
            log.warning("lease upkeep failed; retrying", exc_info=exc)
            suspects = {}
            await anyio.sleep(min(delay, period))
            delay *= 2
            continue
        delay = 0.1
        await anyio.sleep(period)


async def _recover_confirmed(
    engine: Engine, suspects: Mapping[str, float | None]
) -> dict[str, float | None]:
    """Adopt the orphans that `suspects` already held with the same lease; return the
    orphans seen now for the next upkeep to confirm."""
    now = time.time()
    seen: dict[str, float | None] = {}
    held = set(engine.leased_ids())
    for orphan in await engine.store.orphans(now=now, limit=100):
        if orphan.task_id in held:
            continue  # ours and alive: renewed at the next upkeep
        task_id, lease = orphan.task_id, orphan.lease_until
        if task_id in suspects and suspects[task_id] == lease:
            await _adopt_orphan(engine, task_id, now)
        else:
            seen[task_id] = lease
    return seen


async def recover(engine: Engine) -> int:
    """Adopt tasks orphaned by a dead process at once: run them again where the tool
    allows it, else end them `failed`. Returns how many were adopted."""
    now = time.time()
    orphans = await engine.store.orphans(now=now, limit=100)
    return sum([await _adopt_orphan(engine, orphan.task_id, now) for orphan in orphans])


async def _adopt_orphan(engine: Engine, task_id: str, now: float) -> bool:
    until = now + engine.config.lease_s
    record = await engine.store.adopt(task_id, engine.runner_id, until=until, now=now)
    if record is None:
        return False  # another engine took it
    tool = engine.tools.get(record.tool)
    if tool is not None and tool.on_interrupt == "rerun":
        log.info("re-running an interrupted task", task_id=record.task_id, tool=tool.name)
        engine.start_adopted(record, tool)
    else:
        await engine.fail(record.task_id, INTERRUPTED_MESSAGE)
    return True


async def sweep(store: TaskStore, interval_s: float) -> None:
    """Remove expired tasks every `interval_s`, for as long as the engine runs."""
    while True:
        await anyio.sleep(interval_s)
        try:
            removed = await store.sweep(now=time.time())
        except Exception as exc:  # a store hiccup must not stop the server
            log.warning("sweep failed", exc_info=exc)
            continue
        if removed:
            log.debug("expired tasks swept", count=removed)


async def wait_for_change(store: TaskStore, task_id: str, version: int) -> TaskRecord | None:
    """`store.wait`, riding out a store that fails for a while (a Redis restart)."""
    delay = 0.1
    while True:
        try:
            return await store.wait(task_id, after_version=version, now=time.time())
        except Exception as exc:
            log.warning("waiting on the store failed; retrying", task_id=task_id, exc_info=exc)
            await anyio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def changes(
    store: TaskStore, record: TaskRecord, *, retry: bool = False
) -> AsyncGenerator[TaskRecord, None]:
    """The one loop over `store.wait`: the task each time it changes after `record`, until
    it ends (the last record yielded is terminal) or is gone (the last one is not).

    `retry` rides out a store that fails for a while (`wait_for_change`) instead of
    raising: for the engine's own watchers, which have no one to report a failure to.
    """
    while not record.terminal:
        if retry:
            changed = await wait_for_change(store, record.task_id, record.version)
        else:
            changed = await store.wait(
                record.task_id, after_version=record.version, now=time.time()
            )
        if changed is None:
            return
        record = changed
        yield record


async def relay(engine: Engine, record: TaskRecord) -> None:
    """Forward the changes of a task run elsewhere to its observer, until it ends."""
    task_id = record.task_id
    if engine.observer_of(task_id) is None:  # dropped once the task ends
        return
    async with aclosing(changes(engine.store, record, retry=True)) as changed_records:
        async for changed in changed_records:
            # A worker taking it changes nothing the client would see.
            if changed.runner == record.runner or changed.status is not record.status:
                engine.emit(changed)
            record = changed
            if engine.observer_of(task_id) is None:
                return
    if not record.terminal:  # gone
        engine.detach_task(task_id)


async def work(engine: Engine, concurrency: int, *, wait_s: float) -> None:
    """Take queued tasks, `concurrency` at a time, and run them from this app's tools."""
    queue = work_queue(engine.store)
    slots = anyio.Semaphore(concurrency)
    delay = 0.1
    while True:
        await slots.acquire()
        try:
            task_id = await queue.dequeue(engine.runner_id, wait_s=wait_s)
            record = None if task_id is None else await _adopt(engine, task_id)
        except Exception as exc:  # the store is away for a while: keep trying, gently
            slots.release()
            log.warning("taking a task from the queue failed; retrying", exc_info=exc)
            await anyio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        delay = 0.1
        tool = None if record is None else engine.tools.get(record.tool)
        if record is None or tool is None:
            slots.release()
            if record is not None:
                await engine.fail(record.task_id, f"no tool {record.tool!r} in this worker")
            continue
        log.info("task taken from the queue", task_id=record.task_id, tool=tool.name)
        engine.start_adopted(record, tool, on_end=slots.release)


async def _adopt(engine: Engine, task_id: str) -> TaskRecord | None:
    now = time.time()
    until = now + engine.config.lease_s
    return await engine.store.adopt(task_id, engine.runner_id, until=until, now=now)
