"""The PWA: a valid web app manifest with icons, a registered service worker, installable in Chromium."""

from __future__ import annotations

import json
import struct
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.rig.browser import BrowserContextFactory
from tests.rig.server import LiveServer

pytestmark = pytest.mark.browser

PYTHON_START_TIMEOUT_MS = 120_000
SW_TIMEOUT_MS = 60_000


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_manifest_is_complete_and_icons_match(live_server: LiveServer) -> None:
    with urllib.request.urlopen(f"{live_server.url}/manifest.webmanifest") as response:
        assert response.headers.get_content_type() == "application/manifest+json"
        manifest = json.load(response)
    assert manifest["name"] == "Parley"
    assert manifest["short_name"]
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/"
    assert manifest["theme_color"].startswith("#")
    purposes: dict[int, set[str]] = {}
    for icon in manifest["icons"]:
        with urllib.request.urlopen(f"{live_server.url}{icon['src']}") as response:
            width, height = png_size(response.read())
        assert icon["sizes"] == f"{width}x{height}"
        purposes.setdefault(width, set()).add(icon["purpose"])
    assert purposes == {192: {"any", "maskable"}, 512: {"any", "maskable"}}


def test_chromium_finds_the_app_installable(
    live_server: LiveServer, browser_context: BrowserContextFactory, tmp_path: Path
) -> None:
    # A persistent profile: Chromium never offers installation in an incognito context.
    context = browser_context(user_data_dir=tmp_path / "profile")
    page: Page = context.pages[0] if context.pages else context.new_page()
    page.goto(live_server.url)
    expect(page.locator("html")).to_have_attribute("data-py-state", "ready", timeout=PYTHON_START_TIMEOUT_MS)
    expect(page.locator("html")).to_have_attribute("data-sw-state", "ready", timeout=SW_TIMEOUT_MS)
    session = page.context.new_cdp_session(page)
    app_manifest = session.send("Page.getAppManifest")
    assert app_manifest["url"] == f"{live_server.url}/manifest.webmanifest"
    assert app_manifest["errors"] == []
    installability = session.send("Page.getInstallabilityErrors")
    assert installability["installabilityErrors"] == []
