"""One contact's writes land in the order they were prepared, even when one finishes outside its lock.

A received text is shown, then its step writes the contact (its layers and the new message, one journal
record). That write sends nothing, so it need not hold the contact's lock until the store has it: a reply
typed meanwhile can encrypt at once (``docs/benchmarks.md``, "Issue 12"). Records must still never go
backwards: a later write of the same contact (the reply's, which carries the text's acknowledgement)
must land after it, and a deletion of the contact after every write prepared before it.

``WriteOrder.reserve`` is called while the record is prepared (under the contact's lock), and returns a
``WriteTurn``; ``WriteTurn.run(write)`` waits until every earlier turn of the same contact has finished
(succeeded or failed), then writes. A frame leaves only after its own write returned, so whatever it
acknowledges was stored before it: a crash loses nothing the peer was told we have. Each turn must be
run exactly once; the messenger reserves a turn right before running it, or hands it to the one caller
that runs it after releasing the lock.

This module does no I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class WriteTurn:
    """One write's place in its contact's order (``WriteOrder.reserve``)."""

    def __init__(self, previous: asyncio.Future[None] | None, done: asyncio.Future[None]) -> None:
        self._previous = previous
        self._done = done

    async def run(self, write: Callable[[], Awaitable[None]]) -> None:
        """``write()`` once every earlier turn has finished; this turn then finishes, whatever happened."""
        try:
            if self._previous is not None and not self._previous.done():
                await asyncio.shield(self._previous)  # a cancelled waiter must not cancel the chain
            await write()
        finally:
            if not self._done.done():
                self._done.set_result(None)


class WriteOrder:
    """The order of one contact's writes."""

    def __init__(self) -> None:
        self._tail: asyncio.Future[None] | None = None

    def reserve(self) -> WriteTurn:
        """The next turn, after every turn reserved before it."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        turn = WriteTurn(self._tail, done)
        self._tail = done
        return turn

    def __repr__(self) -> str:
        pending = self._tail is not None and not self._tail.done()
        return f"WriteOrder({'writing' if pending else 'idle'})"
