"""The background tasks one object starts: kept alive until they end, cancelled together, no failure lost.

asyncio keeps only a weak reference to a running task, so a task started with ``ensure_future`` and held
by no one can be garbage-collected half-way; and an exception nobody awaits surfaces, if ever, as "Task
exception was never retrieved" whenever the collector happens to run. Every object that starts work in
the background (the network's workers, the mailbox loops, file transfers, a screen's handlers, the page
and the headless peer themselves) owns one ``TaskSet`` instead of a set and a callback of its own:

* ``spawn(step)`` starts ``step`` and holds its task until it ends; a task that ended is dropped at once,
  so the set holds only what still runs (``len``);
* a task that ends with an exception (any but a cancellation) has it retrieved as it ends and reported
  once, to the ``pyfront.tasks`` logger at ERROR with the owner's name and the traceback: the page's
  console (Pyodide's stderr), the headless peer's stderr. Work whose failure the person must see
  catches it itself and says so; the log is for what nobody expected;
* ``cancel_all()`` cancels every task still running; ``close()`` also waits until they have ended.

Nothing here imports ``js``: the same class runs in CPython and in Pyodide.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

LOG = logging.getLogger(__name__)


class TaskSet:
    """The running tasks of one owner (``owner`` names it in the log)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Future[Any]] = set()

    def __repr__(self) -> str:
        return f"<TaskSet {self.owner}: {len(self._tasks)} running>"

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, step: Awaitable[T], *, eager: bool = False) -> asyncio.Future[T]:
        """Start ``step`` and keep it until it ends; returns its task (to wait for it, or not).

        ``eager``: the task runs at once, up to its first real wait, where asyncio can (Python 3.12 and
        later, as in Pyodide), instead of one turn of the event loop later; elsewhere it starts as usual.
        """
        task = _start(step) if eager else asyncio.ensure_future(step)
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def cancel_all(self) -> None:
        """Cancel every task still running (each ends at its next wait)."""
        for task in list(self._tasks):
            task.cancel()

    async def close(self) -> None:
        """Cancel every task and wait until all have ended (their failures are reported as usual)."""
        tasks = list(self._tasks)
        self.cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _ended(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()  # retrieved: asyncio no longer warns about it
        if error is not None:
            LOG.error("%s: %s failed: %s", self.owner, _name(task), type(error).__name__, exc_info=error)


def _start(step: Awaitable[T]) -> asyncio.Future[T]:
    eager: Any = getattr(asyncio, "eager_task_factory", None)
    if eager is None:
        return asyncio.ensure_future(step)
    task: asyncio.Future[T] = eager(asyncio.get_event_loop(), step)
    return task


def _name(task: asyncio.Future[Any]) -> str:
    """The coroutine's name (``Calls._dial``), or the future's repr for a future that is not a task."""
    get_coro = getattr(task, "get_coro", None)
    coro = get_coro() if get_coro is not None else None
    return str(getattr(coro, "__qualname__", None) or task)
