"""The service worker as a person meets it: offline reloads, updates only on confirmation, tampering refused.

Each test serves its own hard-linked snapshot of the bundle (tests/rig/server.py) and edits copies of it
(never the working tree): a file is replaced by unlinking it first, so the shared inode stays intact.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from server import bundle
from server.config import Config
from tests.rig.browser import BrowserContextFactory, save_screenshot
from tests.rig.server import LiveServer, LiveServerFactory, snapshot_site

pytestmark = pytest.mark.browser

PYTHON_START_TIMEOUT_MS = 120_000
SW_TIMEOUT_MS = 60_000
CHANGED_FILE = "manifest.webmanifest"


def replace_file(static_root: Path, relative: str, data: bytes) -> None:
    """Give a snapshot's file new bytes without touching the inode it shares with the working tree."""
    path = static_root / relative
    for variant in (path, path.with_name(path.name + ".gz"), path.with_name(path.name + ".br")):
        variant.unlink(missing_ok=True)
    path.write_bytes(data)


def rebuilt_site(tmp_path: Path, name: str, marker: str) -> tuple[Path, str]:
    """A snapshot whose web manifest differs from the working tree's, with its own bundle.json."""
    static_root = snapshot_site(tmp_path / name)
    original = (static_root / CHANGED_FILE).read_text()
    replace_file(static_root, CHANGED_FILE, original.replace('"Parley"', f'"Parley {marker}"', 1).encode())
    manifest = bundle.write_manifest(Config(static_root=static_root))
    return static_root, manifest.root


def root_of(static_root: Path) -> str:
    return bundle.Manifest.from_json((static_root / "bundle.json").read_bytes()).root


def open_and_install(page: Page, server: LiveServer) -> str:
    """Open the app, wait for Python and for the service worker to hold and serve the bundle."""
    page.goto(server.url)
    expect(page.locator("html")).to_have_attribute("data-py-state", "ready", timeout=PYTHON_START_TIMEOUT_MS)
    expect(page.locator("html")).to_have_attribute("data-sw-state", "ready", timeout=SW_TIMEOUT_MS)
    # (not page.wait_for_function: its polling evaluates strings, which our CSP refuses)
    expect(page.locator("html")).to_have_attribute("data-sw-controlled", "yes", timeout=SW_TIMEOUT_MS)
    return page.locator("#root-hash").inner_text()


def fetch_latest_statics(page: Page) -> None:
    """The top bar's bundle badge opens the update panel; "Fetch latest statics" is in it."""
    if page.locator("#update-panel").is_hidden():
        page.click("#bundle-badge")
    page.get_by_role("button", name="Fetch latest statics").click()


def reload_and_wait(page: Page) -> str:
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-py-state", "ready", timeout=PYTHON_START_TIMEOUT_MS)
    return page.locator("#root-hash").inner_text()


def test_service_worker_registered_and_reload_works_offline(
    live_server_factory: LiveServerFactory, browser_context: BrowserContextFactory
) -> None:
    server = live_server_factory()
    page = browser_context().new_page()
    root = open_and_install(page, server)
    assert root == root_of(server.static_root)
    registration = page.evaluate(
        "navigator.serviceWorker.getRegistration().then(r => r && r.active && r.active.scriptURL)"
    )
    assert registration == f"{server.url}/service_worker.js"

    server.stop()
    assert reload_and_wait(page) == root
    save_screenshot(page, "service-worker-offline-reload")
    failed = page.evaluate("fetch('/healthz').then(r => r.status, () => 'offline')")
    assert failed == "offline"  # the server really is gone; the page came from the verified cache


def test_fetch_latest_statics_switches_only_after_confirmation(
    live_server_factory: LiveServerFactory, browser_context: BrowserContextFactory, tmp_path: Path
) -> None:
    first = live_server_factory()
    page = browser_context().new_page()
    old_root = open_and_install(page, first)

    new_static, new_root = rebuilt_site(tmp_path, "rebuilt", "v2")
    assert new_root != old_root
    first.stop()
    second = live_server_factory(port=first.port, static_root=new_static)

    # A new bundle on the server changes nothing by itself.
    assert reload_and_wait(page) == old_root

    fetch_latest_statics(page)
    expect(page.locator("html")).to_have_attribute("data-update-state", "ready", timeout=SW_TIMEOUT_MS)
    expect(page.locator("#update-old")).to_have_text(old_root)
    expect(page.locator("#update-new")).to_have_text(new_root)
    expect(page.locator("#update-changes")).to_contain_text(f"/static/{CHANGED_FILE}")
    save_screenshot(page, "service-worker-update-offered")

    # Not confirmed: a reload still runs the old bundle.
    assert reload_and_wait(page) == old_root

    fetch_latest_statics(page)
    expect(page.locator("html")).to_have_attribute("data-update-state", "ready", timeout=SW_TIMEOUT_MS)
    with page.expect_navigation():
        page.get_by_role("button", name="Switch to the new bundle").click()
    expect(page.locator("html")).to_have_attribute("data-py-state", "ready", timeout=PYTHON_START_TIMEOUT_MS)
    assert page.locator("#root-hash").inner_text() == new_root
    served = page.evaluate(f"fetch('/static/{CHANGED_FILE}').then(r => r.text())")
    assert "Parley v2" in served
    save_screenshot(page, "service-worker-update-applied")

    second.stop()  # and the new bundle works offline too
    assert reload_and_wait(page) == new_root


def test_tampered_file_is_refused_and_old_bundle_keeps_working(
    live_server_factory: LiveServerFactory, browser_context: BrowserContextFactory, tmp_path: Path
) -> None:
    first = live_server_factory()
    page = browser_context().new_page()
    old_root = open_and_install(page, first)

    tampered_static, announced_root = rebuilt_site(tmp_path, "tampered", "v2")
    good = (tampered_static / CHANGED_FILE).read_bytes()
    replace_file(tampered_static, CHANGED_FILE, good.replace(b"Parley v2", b"Parley XX"))  # after hashing
    first.stop()
    live_server_factory(port=first.port, static_root=tampered_static)

    fetch_latest_statics(page)
    expect(page.locator("html")).to_have_attribute("data-update-state", "error", timeout=SW_TIMEOUT_MS)
    status = page.locator("#update-status")
    expect(status).to_contain_text("Update refused")
    expect(status).to_contain_text(f"/static/{CHANGED_FILE} does not match the manifest")
    expect(status).to_be_visible()
    expect(page.get_by_role("button", name="Switch to the new bundle")).to_be_hidden()
    save_screenshot(page, "service-worker-tamper-refused")

    assert reload_and_wait(page) == old_root
    assert announced_root != old_root
    served = page.evaluate(f"fetch('/static/{CHANGED_FILE}').then(r => r.text())")
    assert "Parley XX" not in served and "Parley v2" not in served


def test_first_install_refuses_a_tampered_bundle(
    live_server_factory: LiveServerFactory, browser_context: BrowserContextFactory, tmp_path: Path
) -> None:
    static_root, _root = rebuilt_site(tmp_path, "tampered-first", "v2")
    replace_file(static_root, CHANGED_FILE, b'{"name": "tampered"}\n')
    server = live_server_factory(static_root=static_root)
    page = browser_context().new_page()
    page.goto(server.url)
    expect(page.locator("html")).to_have_attribute("data-sw-state", "error", timeout=SW_TIMEOUT_MS)
    expect(page.locator("#update-status")).to_contain_text("The offline copy was refused")
    expect(page.locator("#update-status")).to_contain_text(f"/static/{CHANGED_FILE} does not match")
    save_screenshot(page, "service-worker-first-install-refused")
    assert page.evaluate("navigator.serviceWorker.controller") is None
