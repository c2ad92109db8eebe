"""Futures whose waiting task resumes inside the callback that settles them (issue 12).

In Pyodide a JavaScript call that returns a promise gives Python an asyncio future at once; when the
promise settles, the future schedules the waiting task's next step with ``loop.call_soon``, which the
WebLoop turns into a new browser task. Every WebCrypto call therefore cost the page two hops: WebCrypto's
own task that settles the promise, then the event loop's task that resumes Python, queued behind whatever
the page has queued meanwhile (rendering, IndexedDB events, the next data-channel message). A cascade
operation makes six to eight such calls one after the other, and a write waits for IndexedDB's
``complete`` event (``docs/benchmarks.md``, "Issue 12").

``SettledFuture`` is a future-like object (asyncio's duck-typed future protocol:
``_asyncio_future_blocking``, ``get_loop``, ``add_done_callback``, ``result``, ``cancel``) that the caller
settles with ``settle(fulfilled, outcome)`` from the event's own callback: a promise's (the WebCrypto
provider, through ``callThen`` in ``static/js/crypto_bridge.js``) or an IndexedDB event listener's
(``pyfront.browser.storage``). Its done callbacks, the waiting task's wake-up among them, run right there,
so the task resumes in the browser task that settled it: a chain of dependent calls costs one hop each.
A callback runs there only when no task is running (the case in a JavaScript callback: it is called with
an empty stack); otherwise (CPython, where events come from tasks), and for callbacks added after the
future is done or on cancellation, it is queued with ``call_soon`` as asyncio does.

Nothing here imports ``js``: CPython tests drive it with the standard event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from contextvars import Context
from enum import Enum
from typing import Any


class _State(Enum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


DoneCallback = Callable[["SettledFuture"], object]


class SettledFuture:
    """The outcome of one promise; ``await`` it from a task of ``loop`` (see the module's docstring)."""

    _asyncio_future_blocking = False  # asyncio's mark of a future-compatible object (asyncio.isfuture)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._state = _State.PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[tuple[DoneCallback, Context | None]] = []

    def __repr__(self) -> str:
        return f"<SettledFuture {self._state.value}>"

    # --- the future protocol asyncio's Task relies on -------------------------------------------------

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def done(self) -> bool:
        return self._state is not _State.PENDING

    def cancelled(self) -> bool:
        return self._state is _State.CANCELLED

    def result(self) -> Any:
        if self._state is _State.CANCELLED:
            raise asyncio.CancelledError
        if self._state is _State.PENDING:
            raise asyncio.InvalidStateError("the promise is not settled yet")
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self) -> BaseException | None:
        if self._state is _State.CANCELLED:
            raise asyncio.CancelledError
        if self._state is _State.PENDING:
            raise asyncio.InvalidStateError("the promise is not settled yet")
        return self._exception

    def add_done_callback(self, callback: DoneCallback, *, context: Context | None = None) -> None:
        if self.done():
            self._loop.call_soon(callback, self, context=context)
        else:
            self._callbacks.append((callback, context))

    def remove_done_callback(self, callback: DoneCallback) -> int:
        kept = [(fn, context) for fn, context in self._callbacks if fn != callback]
        removed = len(self._callbacks) - len(kept)
        self._callbacks = kept
        return removed

    def cancel(self, msg: object = None) -> bool:
        """Stop waiting (the promise still runs to its end; its outcome is then dropped)."""
        if self.done():
            return False
        self._state = _State.CANCELLED
        callbacks, self._callbacks = self._callbacks, []
        for callback, context in callbacks:
            self._loop.call_soon(callback, self, context=context)
        return True

    def __await__(self) -> Generator[Any, None, Any]:
        if not self.done():
            self._asyncio_future_blocking = True
            yield self
        return self.result()

    __iter__ = __await__

    # --- settlement, from the promise's callback ------------------------------------------------------

    def settle(self, fulfilled: bool, outcome: Any) -> None:
        """The promise's outcome: its value when ``fulfilled``, else the exception to raise in the waiter
        (ignored once the future is done or cancelled)."""
        if self._state is not _State.PENDING:
            return
        if fulfilled:
            self._result = outcome
        elif isinstance(outcome, BaseException):
            self._exception = outcome
        else:
            self._exception = RuntimeError(f"promise rejected with {type(outcome).__name__}")
        self._state = _State.DONE
        callbacks, self._callbacks = self._callbacks, []
        for callback, context in callbacks:
            if not self._run_now(callback, context):
                self._loop.call_soon(callback, self, context=context)

    def _run_now(self, callback: DoneCallback, context: Context | None) -> bool:
        """Run ``callback`` here, in the promise's callback, when no task is running; False if it cannot."""
        loop = self._loop
        if asyncio._get_running_loop() is not loop:
            # Pyodide runs each entry from JavaScript on a thread state of its own (stack switching); a
            # task steps only where its loop is registered as running, as WebLoop does for every handle.
            asyncio._set_running_loop(loop)
        if asyncio.current_task(loop) is not None:
            return False
        try:
            if context is None:
                callback(self)
            else:
                context.run(callback, self)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as error:  # as asyncio's Handle does: report it, the next callback still runs
            loop.call_exception_handler(
                {"message": f"exception in a callback of {self!r}", "exception": error, "future": self}
            )
        return True
