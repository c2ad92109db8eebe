"""``SettledFuture`` (pyfront.wakeup): the task waiting on a promise resumes inside the promise's
settlement callback, not one event-loop trip later (issue 12), with asyncio's future semantics otherwise.

Here the standard event loop stands in for Pyodide's WebLoop and a loop callback for the promise's
``then`` handler; tests/browser/test_crypto_webcrypto.py runs every crypto vector through it in Chromium.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyfront.wakeup import SettledFuture


async def blocked_waiter() -> tuple[SettledFuture, list[str], asyncio.Future[None]]:
    """A future of the running loop, and a task blocked on it that notes ``got <result>`` in ``seen``."""
    future = SettledFuture(asyncio.get_running_loop())
    seen: list[str] = []

    async def waiter() -> None:
        seen.append(f"got {await future}")

    task = asyncio.ensure_future(waiter())
    await asyncio.sleep(0)  # the waiter is blocked on the future
    return future, seen, task


def test_the_waiting_task_resumes_inside_the_settlement_callback() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        future, seen, task = await blocked_waiter()

        def promise_callback() -> None:
            future.settle(True, 7)
            seen.append("callback returned")

        loop.call_soon(promise_callback)
        await task
        assert seen == ["got 7", "callback returned"]  # an asyncio.Future would resume after the callback

    asyncio.run(body())


def test_a_rejection_raises_in_the_waiter_and_later_outcomes_are_ignored() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        future = SettledFuture(loop)
        loop.call_soon(future.settle, False, ValueError("refused"))
        loop.call_soon(future.settle, True, "too late")
        with pytest.raises(ValueError, match="refused"):
            await future
        assert isinstance(future.exception(), ValueError)

    asyncio.run(body())


def test_settled_from_inside_a_task_the_waiter_resumes_through_the_loop() -> None:
    async def body() -> None:
        future, seen, task = await blocked_waiter()
        future.settle(True, 1)  # a task is running (this one): no task may step inside it
        seen.append("settled")
        await task
        assert seen == ["settled", "got 1"]

    asyncio.run(body())


def test_cancelling_the_waiter_cancels_the_wait_and_the_outcome_is_dropped() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        future = SettledFuture(loop)
        waiting = asyncio.ensure_future(_await(future))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert future.cancelled()
        future.settle(True, "ignored")
        assert future.cancelled()
        with pytest.raises(asyncio.CancelledError):
            future.result()

    asyncio.run(body())


async def _await(future: SettledFuture) -> Any:
    return await future


def test_gather_and_wait_for_accept_it() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        futures = [SettledFuture(loop) for _ in range(3)]
        for n, future in enumerate(futures):
            loop.call_later(0.001 * (3 - n), future.settle, True, n)
        assert await asyncio.gather(*futures) == [0, 1, 2]
        never = SettledFuture(loop)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_await(never), 0.01)

    asyncio.run(body())
