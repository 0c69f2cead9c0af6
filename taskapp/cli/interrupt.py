"""Ctrl-C for a command that must clean up first: SIGINT cancels the innermost scope."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import FrameType

import anyio
from anyio.abc import TaskStatus


class Interrupts:
    """Where a Ctrl-C lands: the innermost open `scope()` is cancelled, so that the code
    around it can still clean up (cancel the task on the server), and a second Ctrl-C,
    landing on the scope around that, cuts the cleanup short."""

    def __init__(self) -> None:
        self.count = 0
        self._scopes: list[anyio.CancelScope] = []

    @contextmanager
    def scope(self) -> Iterator[anyio.CancelScope]:
        """A cancel scope that the next Ctrl-C cancels while it is the innermost."""
        with anyio.CancelScope() as scope:
            self._scopes.append(scope)
            try:
                yield scope
            finally:
                self._scopes.remove(scope)

    def hit(self) -> None:
        self.count += 1
        if self._scopes:
            self._scopes[-1].cancel()


class EarlySigint:
    """SIGINT noted, not raised, from before the event loop starts until `watching_sigint`
    takes over: a KeyboardInterrupt raised while the loop is being built leaves a
    half-made loop whose clean-up prints a traceback of its own."""

    def __init__(self) -> None:
        self.noted = False

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.noted = True

    @contextmanager
    def noting(self) -> Iterator[EarlySigint]:
        try:
            previous = signal.signal(signal.SIGINT, self._note)
        except ValueError:  # not the main thread: signals are not ours to change
            yield self
            return
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


@asynccontextmanager
async def watching_sigint() -> AsyncIterator[Interrupts]:
    """SIGINT delivered to `Interrupts.hit` for as long as the block runs (no
    KeyboardInterrupt meanwhile: it would land anywhere, e.g. in a closing HTTP client)."""
    interrupts = Interrupts()

    async def watch(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            with anyio.open_signal_receiver(signal.SIGINT) as signals:
                task_status.started()
                async for _ in signals:
                    interrupts.hit()
        except NotImplementedError:  # no signal handlers (Windows): KeyboardInterrupt instead
            task_status.started()

    failed: Exception | None = None
    async with anyio.create_task_group() as tg:
        await tg.start(watch)
        try:
            yield interrupts
        except Exception as exc:  # raised below as it is, not in the group's ExceptionGroup
            failed = exc
        finally:
            tg.cancel_scope.cancel()
    if failed is not None:
        raise failed
