"""The test rig itself: the loopback-only namespace, the request guard, screenshots (tests/rig)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page

from tests.rig.browser import (
    ARTIFACTS_DIR,
    NON_LOOPBACK_URL,
    BrowserContextFactory,
    RequestGuard,
    is_loopback_url,
    network_interfaces,
    save_screenshot,
)
from tests.rig.server import LiveServer

WAIT_WITHOUT_PLAYWRIGHT_S = 3.0

pytestmark = pytest.mark.browser


def test_runs_in_a_loopback_only_namespace() -> None:
    assert network_interfaces() == ["lo"]


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000/", True),
        ("http://localhost/x", True),
        ("ws://[::1]:9/peerjs", True),
        ("data:text/plain,hi", True),
        ("blob:http://127.0.0.1/abc", True),
        ("https://cdn.jsdelivr.net/npm/pyodide", False),
        ("http://192.0.2.1/", False),
        ("http://127.0.0.1.evil.example/", False),
        ("http://localhost.evil.example:80/", False),
        ("http://127.0.0.1:8000", True),
        ("https://[::1]/?q", True),
    ],
)
def test_loopback_classification(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback
    assert bool(NON_LOOPBACK_URL.match(url)) is not loopback  # the guard's route pattern agrees


def test_guard_records_and_aborts_external_requests(chromium: Browser) -> None:
    guard = RequestGuard()
    context = chromium.new_context()
    try:
        guard.install(context)
        page = context.new_page()
        page.goto("about:blank")  # no CSP here: our own pages would stop the fetch before the guard
        outcome = page.evaluate(
            "fetch('https://cdn.jsdelivr.net/npm/x.js').then(() => 'fetched', e => 'blocked: ' + e.name)"
        )
    finally:
        context.close()
    assert outcome == "blocked: TypeError"
    assert guard.external == ["https://cdn.jsdelivr.net/npm/x.js"]


def test_page_fixture_loads_from_live_server_and_screenshots(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/healthz")
    assert "ok" in page.content()
    path = save_screenshot(page, "rig-healthz")
    assert path.parent == ARTIFACTS_DIR
    assert path.read_bytes().startswith(b"\x89PNG")


def test_guarded_pages_reach_loopback_while_the_test_waits(
    browser_context: BrowserContextFactory, live_server: LiveServer
) -> None:
    """A page's request to the server completes while the test sleeps (no Playwright call in flight): the
    guard must not make loopback requests wait for the Python side to answer a route."""
    page = browser_context().new_page()
    page.goto(f"{live_server.url}/healthz")
    page.evaluate(
        "window.fetchedAt = null;"
        "fetch('/healthz', {cache: 'no-store'}).then(() => { window.fetchedAt = performance.now(); });"
        "0"  # not the promise: evaluate would wait for it
    )
    time.sleep(WAIT_WITHOUT_PLAYWRIGHT_S)
    resumed_at, fetched_at = page.evaluate("[performance.now(), window.fetchedAt]")
    assert fetched_at is not None and fetched_at < resumed_at, "the fetch waited for the test to call in"
