"""The PyScript entry (issue 17, part 3): the real app booted by PyScript 0.7.31 under the strict CSP.

A bundle built with ``--pyscript`` serves /static/pyscript.html: the loader's shell and download (with its
progress bar), PyScript's modules pinned by SRI, and a ``<script type="py">`` that starts the messenger.
It runs under today's policy (``script-src 'self' 'wasm-unsafe-eval'``) with no violation, reaches the
app's first screen, and starts again with the server stopped (every file from the service worker).

The workaround it relies on (static/js/pyscript_boot.js empties ``hooks.worker.onBeforeRunAsync``) is
tested both ways, so a PyScript upgrade cannot change it silently: without it, the same page is refused
by the CSP (``Function()`` = ``'unsafe-eval'``); and the boot module itself stops with a message when the
internals it clears are not what 0.7.31 has.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from server import bundle, headers
from server.config import Config
from tests.browser.app_steps import START_MS, screen
from tests.rig.browser import BrowserContextFactory, console_log, save_screenshot
from tests.rig.server import LiveServer, LiveServerFactory

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("pyscript_boot")]

ENTRY = "/static/pyscript.html"
BOOT_MODULE = "/static/js/pyscript_boot.js"
WORKAROUND = "builtIn.clear();"

#: CSP violations and the largest value the progress bar showed, recorded from the first script on.
WATCH = """
window.__cspViolations = [];
window.__progressMax = 0;
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
new MutationObserver(() => {
  const bar = document.getElementById("loading-progress");
  if (bar) window.__progressMax = Math.max(window.__progressMax, Number(bar.value));
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["value"] });
"""


def pyscript_site(destination: Path) -> Path:
    """A hard-linked snapshot of the built bundle, rebuilt with the PyScript entry; its static root."""
    snapshot = bundle.snapshot(Config(), destination)
    bundle.build(replace(snapshot, pyscript=True), log=False)
    return snapshot.static_root


@pytest.fixture
def pyscript_server(tmp_path: Path, live_server_factory: LiveServerFactory) -> Iterator[LiveServer]:
    yield live_server_factory(static_root=pyscript_site(tmp_path / "site"))


def violations(page: Page) -> list[str]:
    return list(page.evaluate("window.__cspViolations"))


def test_the_app_boots_through_pyscript_under_the_strict_csp_and_offline(
    pyscript_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    context = browser_context()
    context.add_init_script(WATCH)
    page = context.new_page()
    log = console_log(page)
    response = page.goto(pyscript_server.url + ENTRY)
    assert response is not None
    assert response.headers["content-security-policy"] == headers.CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in response.headers["content-security-policy"]

    screen(page, "onboarding", START_MS)  # the messenger's first screen, started by <script type="py">
    html = page.locator("html")
    expect(html).to_have_attribute("data-boot", "pyscript")
    expect(html).to_have_attribute("data-py-state", "ready")
    assert page.evaluate("window.__progressMax") == 100  # the loader's progress bar ran to the end
    assert violations(page) == [], violations(page)
    assert [line for line in log if "Content Security Policy" in line or "EvalError" in line] == []
    save_screenshot(page, "pyscript-boot-onboarding")

    # Offline: once the service worker holds the bundle, the same entry starts with the server stopped.
    expect(html).to_have_attribute("data-sw-state", "ready", timeout=START_MS)
    pyscript_server.stop()
    page.reload()
    screen(page, "onboarding", START_MS)
    expect(page.locator("html")).to_have_attribute("data-boot", "pyscript")
    assert violations(page) == [], violations(page)


def test_without_the_workaround_pyscript_needs_unsafe_eval(
    pyscript_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    """If this fails, PyScript no longer compiles the worker hooks eagerly on the main thread: the
    workaround in static/js/pyscript_boot.js (and docs/security.md) should go."""
    context = browser_context(service_workers="block")
    context.add_init_script(WATCH)

    def page_without_boot_pin(route: Route) -> None:
        response = route.fetch()
        body = response.text()
        tag_start = body.index(f'<script type="module" src="{BOOT_MODULE}"')
        tag_end = body.index(">", tag_start)
        tag = body[tag_start:tag_end]
        body = body.replace(tag, tag.split(" integrity=")[0], 1)
        route.fulfill(response=response, body=body)

    def boot_without_workaround(route: Route) -> None:
        response = route.fetch()
        body = response.text()
        assert WORKAROUND in body
        route.fulfill(response=response, body=body.replace(WORKAROUND, "", 1))

    context.route(pyscript_server.url + ENTRY, page_without_boot_pin)
    context.route(pyscript_server.url + BOOT_MODULE, boot_without_workaround)
    page = context.new_page()
    page.goto(pyscript_server.url + ENTRY)
    deadline = time.monotonic() + START_MS / 1000
    while not violations(page) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert any(v.startswith("script-src") and v.endswith(" eval") for v in violations(page)), violations(page)
    expect(page.locator("html")).not_to_have_attribute("data-screen", "onboarding")


def test_the_boot_module_refuses_changed_internals(
    pyscript_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    """A PyScript whose worker hook set is not the one built-in callback stops the start, with the reason."""
    context = browser_context(service_workers="block")

    def page_without_boot_pin(route: Route) -> None:
        response = route.fetch()
        body = response.text()
        tag_start = body.index(f'<script type="module" src="{BOOT_MODULE}"')
        tag_end = body.index(">", tag_start)
        tag = body[tag_start:tag_end]
        route.fulfill(response=response, body=body.replace(tag, tag.split(" integrity=")[0], 1))

    def boot_seeing_another_pyscript(route: Route) -> None:
        response = route.fetch()
        body = response.text()
        marker = "const builtIn = hooks && hooks.worker && hooks.worker.onBeforeRunAsync;"
        assert marker in body
        # what an upgrade that adds a second built-in worker hook would look like to the module
        changed = marker + "\nbuiltIn.add(() => {});"
        route.fulfill(response=response, body=body.replace(marker, changed, 1))

    context.route(pyscript_server.url + ENTRY, page_without_boot_pin)
    context.route(pyscript_server.url + BOOT_MODULE, boot_seeing_another_pyscript)
    page = context.new_page()
    page.goto(pyscript_server.url + ENTRY)
    error = page.locator("#startup-error")
    expect(error).to_be_visible(timeout=START_MS)
    expect(error).to_contain_text("PyScript's internals changed")
