"""Every test that does not use Playwright runs with no asyncio loop marked running in its thread.

Playwright's sync API runs its event loop in a greenlet of the main thread, and between two sync calls
leaves that loop marked as the thread's running loop (``wait_for_future`` in
``playwright/_impl/_greenlets.py``); the mark is kept per thread, and switching greenlets does not
change it. ``playwright_session`` (tests/rig/browser.py) lives until the session ends, so once one test
of a pytest process had used Playwright, every later test of that process saw a running loop:
``asyncio.run`` raised "cannot be called from a running event loop" and ``asyncio.get_event_loop()``
returned Playwright's loop. ``./dev pytest tests/`` reported failures that were not there.

So a test that does not use Playwright (``playwright_session`` is not among its fixtures) has the mark
cleared for its setup (its module- and session-wide fixtures too), its call and its teardown, and put
back after each: Playwright's loop needs the mark when it resumes in the dispatcher greenlet, at the next
Playwright call. One exception: the teardown of the last test of a module (or of the run) also finalizes
the fixtures of that module (or the session's), the browser ones among them, so it keeps the mark as it
is; a fixture of such a test that runs asyncio in its teardown would fail there, loudly.

``tests/unit/test_rig_playwright_loop.py`` runs a Playwright test and then an asyncio test in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator, Iterator

import pytest


def uses_playwright(item: pytest.Item) -> bool:
    return "playwright_session" in getattr(item, "fixturenames", ())


@contextlib.contextmanager
def no_running_loop() -> Iterator[None]:
    """No loop marked running in this thread meanwhile; the mark found is put back after."""
    parked = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(parked)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    if uses_playwright(item):
        return (yield)
    with no_running_loop():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    if uses_playwright(item):
        return (yield)
    with no_running_loop():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    only_its_own = nextitem is not None and nextitem.parent is item.parent  # no wider scope ends here
    if uses_playwright(item) or not only_its_own:
        return (yield)
    with no_running_loop():
        return (yield)
