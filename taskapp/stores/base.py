"""The TaskStore protocol: where task records live, shared or not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..records import KEEP, Outcome, TaskRecord, TaskStatus


class AnswersNow(Protocol):
    """A store that answers without waiting: the same creation and read as `create` and
    `get`, done before they return, so a server can answer in the turn that read a request.
    """

    def __contains__(self, task_id: object) -> bool:
        """Whether the id is taken (by a stored task, expired or not)."""

    def create_now(self, record: TaskRecord) -> None: ...

    def get_now(self, task_id: str, *, now: float) -> TaskRecord | None: ...


def answers_now(store: object) -> AnswersNow | None:
    """The store's waitless face when it declares one (`answers_without_waiting`), else None.

    A store opts in with a true class attribute `answers_without_waiting` and the two
    methods of `AnswersNow`; every other store is awaited as usual.
    """
    if getattr(store, "answers_without_waiting", False):
        return store  # type: ignore[return-value]
    return None


def reads_own_writes(store: object) -> bool:
    """Whether a read through any instance sees a record once `create` returned (a true
    class attribute `reads_own_writes`): one database, or a Redis primary, not a replica
    that lags. A server then answers a new task at once; for any other store it reads
    the task back first (SEP-2663: "in eventually-consistent environments, the server
    MUST wait"). A store without the attribute is read back.
    """
    return getattr(store, "reads_own_writes", False) is True


class TaskNotFoundError(LookupError):
    """No task with that id (never created, deleted, or expired)."""


class InvalidCursorError(ValueError):
    """A `tasks/list` cursor that this store did not hand out."""


@runtime_checkable
class TaskStore(Protocol):
    """Where tasks live. Every method is safe to call from many tasks (and, for shared
    stores, many processes) at once.

    A store never decides policy: the engine decides what to write, the store makes
    each write atomic and makes changes observable without polling.
    """

    #: True when other processes may change the records (SQLite file, Redis): an engine
    #: then watches its running tasks, so a cancel made elsewhere stops them.
    shared: bool

    async def open(self) -> None:
        """Connect, create schemas, start what the store needs. Called once before use."""

    async def close(self) -> None:
        """Release connections. Records in durable stores stay."""

    async def create(self, record: TaskRecord) -> None:
        """Store a new record. Raises ValueError if the id is taken."""

    async def get(self, task_id: str, *, now: float) -> TaskRecord | None:
        """The record, or None when there is none or it has expired at `now`."""

    async def update(
        self,
        task_id: str,
        *,
        now: float,
        status: TaskStatus | None = None,
        status_message: str | None = KEEP,
        outcome: Outcome | None = None,
    ) -> TaskRecord:
        """Apply one change atomically with `records.apply_update` and return the new record.

        Raises TaskNotFoundError, or records.InvalidTransitionError when the current
        status forbids it (a terminal status is final: of two concurrent writers that
        both try to end a task, exactly one wins).
        """

    async def list_tasks(
        self, owner: str | None, *, cursor: str | None, limit: int, now: float
    ) -> tuple[list[TaskRecord], str | None]:
        """One page of the tasks of `owner`, oldest first, and the cursor of the next page.

        Cursors are opaque and stay valid while tasks are added or removed.
        Raises InvalidCursorError for a cursor this store did not make.

        A listing shows tasks; it is not a read of each. Its records may leave out what
        only a read needs, so that a page costs the same whatever the tasks hold: the
        arguments and client capabilities, the runner and lease, and the outcome unless
        it is a tool error (`ToolOutcome.is_error`, which the task's status shows).
        `get` returns the whole record. (`taskapp.testing.listed` is such a record.)
        """

    async def wait(self, task_id: str, *, after_version: int, now: float) -> TaskRecord | None:
        """Block until the record's version exceeds `after_version`; return it.

        Returns None when the record is gone (deleted or expired). Never polls.
        """

    async def delete(self, task_id: str) -> bool:
        """Remove a record. True if there was one."""

    async def sweep(self, *, now: float) -> int:
        """Remove the records expired at `now`; return how many."""

    # -- the input-request queue: questions a task asks its requestor --------------
    # A running task pushes a request and waits for its answer; whoever serves the
    # requestor's `tasks/result` claims it, delivers it, and stores the answer. With a
    # shared store the two may be different processes.

    async def push_input(self, task_id: str, key: str, message: dict[str, Any]) -> None:
        """Queue a request (`{"method": ..., "params": ...}`) under a key unique to the task."""

    async def claim_input(self, task_id: str, *, now: float) -> tuple[str, dict[str, Any]] | None:
        """Take the oldest unclaimed request, or None (none, or the task has ended)."""

    async def release_input(self, task_id: str, key: str) -> None:
        """Give back a claimed request that could not be delivered, to be claimed again."""

    async def answer_input(self, task_id: str, key: str, answer: dict[str, Any]) -> bool:
        """Store the answer (`{"result": ...}` or `{"error": ...}`); False if not awaited."""

    async def wait_input_answer(
        self, task_id: str, key: str, *, now: float
    ) -> dict[str, Any] | None:
        """Block until the request's answer is stored and return it (once); None if the
        task is gone. Never polls."""

    async def pending_inputs(self, task_id: str, *, now: float) -> dict[str, dict[str, Any]]:
        """Every request of the task not answered yet, claimed or not, in the order pushed
        (key -> message). Empty when there is none, or the task has ended or is gone.

        The 2026-07-28 tasks extension shows these as a task's `inputRequests` on
        `tasks/get`, and answers them by key with `answer_input`."""

    async def drop_inputs(self, task_id: str) -> None:
        """Forget every request of the task, answered or not (it ended)."""

    # -- leases: finding the tasks of a process that died -----------------------------
    # An engine stamps each task it runs with its runner id and a lease it renews. A
    # task that is not terminal and whose lease has lapsed was orphaned; one engine
    # adopts it (atomically) and fails it or runs it again.

    async def renew_leases(self, runner: str, task_ids: Sequence[str], *, until: float) -> None:
        """Extend the leases of `runner`'s tasks to `until`; ended or foreign tasks are skipped."""

    async def orphans(self, *, now: float, limit: int) -> list[TaskRecord]:
        """Up to `limit` unexpired, non-terminal tasks whose lease lapsed before `now`."""

    async def adopt(
        self, task_id: str, runner: str, *, until: float, now: float
    ) -> TaskRecord | None:
        """Take a task to run it: only if it is still non-terminal and either its lease has
        lapsed (an orphan) or it has no runner yet (queued for a worker). Of several
        engines adopting the same task, exactly one gets the record; the rest get None."""

    # -- reliable tools: step results and dedupe keys (docs/reliable.md) ---------------
    # A step's result outlives its process, so a task run again skips the steps that
    # finished; a dedupe key maps a call to the task it started, so a repeated call
    # finds that task instead of starting another.

    async def save_step(
        self, task_id: str, name: str, value: str, *, runner: str, now: float
    ) -> bool:
        """Store the result (JSON text) of the task's finished step `name`, only if the
        task is unexpired, not terminal and run by `runner` (its record's runner): a
        process whose task another engine adopted may not write it. True if stored, or
        if the step was stored already (the first value stays); False otherwise."""

    async def load_steps(self, task_id: str, *, now: float) -> dict[str, str]:
        """The task's stored step results (name -> JSON text); empty when none, or when
        the task is gone or expired. Deleting or sweeping a task removes its steps."""

    async def claim_dedupe(self, key: str, task_id: str, *, until: float, now: float) -> str:
        """Atomically: the task id that `key` holds, if it holds one past `now`; else make
        `key` hold `task_id` until `until` and return `task_id`. Of several claims made at
        once (by any processes), all return the same id."""

    async def release_dedupe(self, key: str, task_id: str) -> None:
        """Forget `key` if it still holds `task_id` (its task failed, was cancelled or is
        gone); a key that holds another id is left alone."""


@runtime_checkable
class WorkQueue(Protocol):
    """A store that can hand tasks to worker processes (Redis Streams, for one).

    Delivery safety comes from leases, not from the queue: a queued task has no runner
    and a deadline; a worker adopts it with `TaskStore.adopt`, and one that no worker
    takes in time is recovered like an orphan.
    """

    async def enqueue(self, task_id: str) -> None:
        """Hand a stored task to the workers."""

    async def dequeue(self, worker: str, *, wait_s: float) -> str | None:
        """The next task id for `worker`, waiting up to `wait_s`; None if none came."""
