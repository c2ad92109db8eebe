"""``TaskSet`` (pyfront.tasks): background tasks kept until they end, cancelled together, and a failure
retrieved and reported once, never lost to "Task exception was never retrieved"."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

from pyfront.tasks import TaskSet


async def _fail(message: str) -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


def test_a_failing_task_is_reported_once_with_owner_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    unhandled: list[dict[str, Any]] = []

    async def body() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: unhandled.append(context))
        tasks = TaskSet("mailbox loop")
        task = tasks.spawn(_fail("the server said no"))
        with pytest.raises(ValueError):
            await asyncio.wait_for(asyncio.shield(task), 1)
        await asyncio.sleep(0)  # the done callbacks run
        del task
        gc.collect()  # an unretrieved exception would reach the loop's handler here

    with caplog.at_level(logging.ERROR, logger="pyfront.tasks"):
        asyncio.run(body())
    failures = [record for record in caplog.records if record.name == "pyfront.tasks"]
    assert len(failures) == 1
    assert failures[0].getMessage() == "mailbox loop: _fail failed: ValueError"
    assert failures[0].exc_info is not None and str(failures[0].exc_info[1]) == "the server said no"
    assert "the server said no" in caplog.text  # the traceback is in the log line
    assert unhandled == []


def test_an_unawaited_failure_is_reported_as_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    """Nobody awaits the task (the usual case): the failure is still in the log, before anything else."""

    async def body() -> None:
        tasks = TaskSet("calls")
        tasks.spawn(_fail("dial failed"))
        for _ in range(3):
            await asyncio.sleep(0)
        assert len(tasks) == 0

    with caplog.at_level(logging.ERROR, logger="pyfront.tasks"):
        asyncio.run(body())
    assert [record.getMessage() for record in caplog.records] == ["calls: _fail failed: ValueError"]


def test_cancel_all_cancels_every_running_task_no_failure_reported(caplog: pytest.LogCaptureFixture) -> None:
    ended: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(name)

    async def body() -> None:
        tasks = TaskSet("device")
        started = [tasks.spawn(forever("ticker")), tasks.spawn(forever("reader"))]
        await asyncio.sleep(0)
        assert len(tasks) == 2
        tasks.cancel_all()
        await asyncio.gather(*started, return_exceptions=True)
        assert all(task.cancelled() for task in started)
        assert sorted(ended) == ["reader", "ticker"]
        assert len(tasks) == 0

    with caplog.at_level(logging.DEBUG, logger="pyfront.tasks"):
        asyncio.run(body())
    assert caplog.records == []  # a cancellation is not a failure


def test_close_waits_until_every_task_has_ended() -> None:
    cleaned: list[str] = []

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # its clean-up takes a wait of its own
            cleaned.append("done")

    async def body() -> None:
        tasks = TaskSet("peer mailbox")
        tasks.spawn(slow_to_stop())
        await asyncio.sleep(0)
        await tasks.close()
        assert cleaned == ["done"]
        assert len(tasks) == 0

    asyncio.run(body())


def test_finished_tasks_do_not_accumulate() -> None:
    async def quick(value: int) -> int:
        await asyncio.sleep(0)
        return value

    async def body() -> None:
        tasks = TaskSet("links")
        started = [tasks.spawn(quick(value)) for value in range(200)]
        assert len(tasks) == 200
        assert await asyncio.gather(*started) == list(range(200))
        await asyncio.sleep(0)
        assert len(tasks) == 0
        assert repr(tasks) == "<TaskSet links: 0 running>"

    asyncio.run(body())


def test_an_eager_task_runs_to_its_first_wait_before_spawn_returns_where_asyncio_can() -> None:
    async def body() -> None:
        steps: list[str] = []

        async def handler() -> None:
            steps.append("started")
            await asyncio.sleep(0)
            steps.append("resumed")

        task = TaskSet("handlers").spawn(handler(), eager=True)
        eager = hasattr(asyncio, "eager_task_factory")  # Python 3.12 and later (Pyodide)
        assert steps == (["started"] if eager else [])
        await task
        assert steps == ["started", "resumed"]

    asyncio.run(body())
