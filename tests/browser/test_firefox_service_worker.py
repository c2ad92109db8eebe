"""The verified offline copy holds in Firefox too (docs/security.md, docs/browsers.md).

Firefox installs the service worker and its verified copy of the bundle; the server is replaced by one
announcing a new bundle whose web manifest was changed after hashing. "Fetch latest statics" refuses it,
names the file, and offers no switch; a reload still runs the old bundle and serves the old file. (The
update that is confirmed, and the first install of a tampered bundle, are tested in Chromium:
tests/browser/test_service_worker.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.app_steps import START_MS
from tests.browser.test_service_worker import CHANGED_FILE, SW_TIMEOUT_MS, rebuilt_site, replace_file
from tests.rig.firefox import FirefoxFactory, FirefoxPage
from tests.rig.server import LiveServerFactory

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("firefox")]

ROOT_HASH = "() => document.querySelector('#root-hash').textContent"


def started(page: FirefoxPage) -> str:
    """Wait for Python; return the root hash the page says it runs."""
    page.wait_attribute("html", "data-py-state", "ready", timeout=START_MS)
    return str(page.evaluate(ROOT_HASH))


def fetch_latest_statics(page: FirefoxPage) -> None:
    """Press "Fetch latest statics"; where the top bar shows a bundle badge, it opens the panel first."""
    if page.evaluate(
        "() => !!document.querySelector('#bundle-badge') "
        "&& !document.querySelector('#update-panel').checkVisibility()"
    ):
        page.click("#bundle-badge")
    page.click("::-p-aria(Fetch latest statics)")


def test_firefox_refuses_a_tampered_update_and_keeps_the_verified_bundle(
    live_server_factory: LiveServerFactory, firefox: FirefoxFactory, tmp_path: Path
) -> None:
    first = live_server_factory()
    page = firefox(first.url).new_page()
    page.goto(first.url)
    old_root = started(page)
    page.wait_attribute("html", "data-sw-controlled", "yes", timeout=SW_TIMEOUT_MS)

    tampered_static, announced_root = rebuilt_site(tmp_path, "tampered", "v2")
    good = (tampered_static / CHANGED_FILE).read_bytes()
    replace_file(tampered_static, CHANGED_FILE, good.replace(b"Parley v2", b"Parley XX"))  # after hashing
    first.stop()
    live_server_factory(port=first.port, static_root=tampered_static)
    assert announced_root != old_root

    fetch_latest_statics(page)
    page.wait_attribute("html", "data-update-state", "error", timeout=SW_TIMEOUT_MS)
    status = str(page.evaluate("() => document.querySelector('#update-status').textContent"))
    assert status.startswith("Update refused")
    assert f"/static/{CHANGED_FILE} does not match the manifest" in status
    assert page.evaluate("() => document.querySelector('#update-apply').hidden") is True
    page.screenshot("firefox-service-worker-tamper-refused")

    page.reload()
    assert started(page) == old_root
    served = str(page.evaluate(f"() => fetch('/static/{CHANGED_FILE}').then((r) => r.text())"))
    assert "Parley XX" not in served and "Parley v2" not in served
