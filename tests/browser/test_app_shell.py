"""The page as a person opens it: Python starts from our origin only, and shows the bundle root hash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.rig.browser import BrowserContextFactory, console_log, save_screenshot
from tests.rig.server import REPO_ROOT, LiveServer, LiveServerFactory, snapshot_site

pytestmark = pytest.mark.browser

PYTHON_START_TIMEOUT_MS = 120_000
SNAPSHOT_ATTEMPTS = 3
FAILURE_REPORT_TIMEOUT_MS = 30_000  # well before the watchdog's 90 s: the failure itself is reported


def local_root_hash() -> str:
    result = subprocess.run(
        [sys.executable, "app.py", "hash"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def wait_for_python(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("data-py-state", "ready", timeout=PYTHON_START_TIMEOUT_MS)


def test_python_starts_with_every_byte_from_our_origin(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    context = browser_context()
    page = context.new_page()
    log = console_log(page)
    origins: set[str] = set()
    page.on(
        "request",
        lambda request: origins.add(f"{urlsplit(request.url).scheme}://{urlsplit(request.url).netloc}"),
    )
    page.goto(live_server.url)
    expect(page.locator("#loading")).to_be_visible()  # the shell paints before Python
    save_screenshot(page, "app-shell-loading")
    try:
        wait_for_python(page)
    finally:
        save_screenshot(page, "app-shell-ready")
        print("\n".join(log))
    assert origins == {live_server.url}
    assert page.locator("html").get_attribute("data-py-state") == "ready"
    violations = [line for line in log if "Content Security Policy" in line or "Refused" in line]
    assert violations == []
    # The standard library the app uses came as bytecode (server/pycompile.py); the rest is still there.
    origins_of = page.evaluate(
        """() => parleyPyodide.runPython(`
import json, dataclasses, asyncio, wave
'|'.join(m.__spec__.origin for m in (json, dataclasses, asyncio, wave))`)"""
    ).split("|")
    assert [origin.rsplit(".", 1)[-1] for origin in origins_of] == ["pyc", "pyc", "pyc", "py"]


def test_root_hash_in_page_equals_app_py_hash(live_server_factory: LiveServerFactory, page: Page) -> None:
    # A fresh server snapshots the tree just built and `app.py hash` builds it again right after. In a
    # working copy that others edit at the same time the two can straddle an edit: then take both again.
    for _attempt in range(SNAPSHOT_ATTEMPTS):
        server = live_server_factory()
        expected = local_root_hash()
        served = json.loads((server.static_root / "bundle.json").read_text())["root"]
        if served == expected:
            break
        server.stop()
    assert served == expected
    page.goto(server.url)
    wait_for_python(page)
    assert page.locator("#root-hash").inner_text() == expected
    assert page.locator("html").get_attribute("data-root-hash") == expected


def _remove(static_root: Path, relative: str) -> None:
    """Delete a snapshot's file and its precompressed variants (the working tree keeps its inode)."""
    path = static_root / relative
    for variant in (path, path.with_name(path.name + ".gz"), path.with_name(path.name + ".br")):
        variant.unlink(missing_ok=True)


def test_missing_file_is_reported_on_screen(
    live_server_factory: LiveServerFactory, page: Page, tmp_path: Path
) -> None:
    static_root = snapshot_site(tmp_path / "site")
    stdlib = next((static_root / "vendor").glob("stdlib-*.zip"))
    _remove(static_root, f"vendor/{stdlib.name}")
    server = live_server_factory(static_root=static_root)
    page.goto(server.url)
    error = page.locator("#startup-error")
    expect(error).to_be_visible(timeout=FAILURE_REPORT_TIMEOUT_MS)
    expect(error).to_contain_text("Parley could not start")
    expect(error).to_contain_text(stdlib.name)
    expect(page.locator("#loading")).to_be_hidden()
    save_screenshot(page, "app-shell-missing-file")


def test_integrity_failure_of_the_loader_is_reported_on_screen(
    live_server_factory: LiveServerFactory, page: Page, tmp_path: Path
) -> None:
    static_root = snapshot_site(tmp_path / "site")
    _remove(static_root, "js/loader.js")
    (static_root / "js" / "loader.js").write_text("// not the loader index.html was built with\n")
    server = live_server_factory(static_root=static_root)
    page.goto(server.url)
    error = page.locator("#startup-error")
    expect(error).to_be_visible(timeout=FAILURE_REPORT_TIMEOUT_MS)
    expect(error).to_contain_text("/static/js/loader.js could not be loaded or failed its integrity check")
    save_screenshot(page, "app-shell-integrity-failure")
