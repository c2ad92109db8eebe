"""The test rig itself: the loopback-only namespace, the request guard, screenshots (tests/rig)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from tests.rig.browser import (
    ARTIFACTS_DIR,
    RequestGuard,
    is_loopback_url,
    network_interfaces,
    save_screenshot,
)
from tests.rig.server import LiveServer

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
    ],
)
def test_loopback_classification(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_guard_records_and_aborts_external_requests(chromium: Browser) -> None:
    guard = RequestGuard()
    context = chromium.new_context()
    try:
        context.route(lambda url: not is_loopback_url(url), guard.handle_route)
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
