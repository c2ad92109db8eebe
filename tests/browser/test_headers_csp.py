"""The Content-Security-Policy in a real Chromium: the app runs under it, and it bites (server/headers.py).

Pyodide needs only ``'wasm-unsafe-eval'``: the app starts with no violation. Inline scripts, string
eval (also from Python through ``js.eval``) and foreign origins are refused.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from server import headers
from tests.rig.browser import BrowserContextFactory, console_log, save_screenshot
from tests.rig.server import LiveServer

pytestmark = pytest.mark.browser

PYTHON_START_TIMEOUT_MS = 120_000


@pytest.fixture
def ready_page(live_server: LiveServer, browser_context: BrowserContextFactory) -> tuple[Page, list[str]]:
    page = browser_context().new_page()
    log = console_log(page)
    response = page.goto(live_server.url)
    assert response is not None
    assert response.headers["content-security-policy"] == headers.CONTENT_SECURITY_POLICY
    expect(page.locator("#ready-state")).to_have_text("Ready", timeout=PYTHON_START_TIMEOUT_MS)
    return page, log


def test_app_starts_without_any_csp_violation(ready_page: tuple[Page, list[str]]) -> None:
    page, log = ready_page
    assert [line for line in log if "Content Security Policy" in line] == []
    save_screenshot(page, "csp-app-ready")


def test_inline_script_is_refused(ready_page: tuple[Page, list[str]]) -> None:
    page, _log = ready_page
    ran = page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener(
                'securitypolicyviolation', (e) => resolve('blocked: ' + e.violatedDirective));
            const script = document.createElement('script');
            script.textContent = 'window.__inlineRan = true';
            document.body.append(script);
            setTimeout(() => resolve(window.__inlineRan ? 'ran' : 'silent'), 2000);
        })"""
    )
    assert ran.startswith("blocked: script-src")


def test_string_eval_is_refused_from_javascript_and_from_python(ready_page: tuple[Page, list[str]]) -> None:
    page, _log = ready_page
    # Run from a timer, i.e. from the page's own event loop: code that DevTools evaluates directly is
    # exempt from the eval check, which would make this test pass vacuously.
    outcome = page.evaluate(
        """() => new Promise((resolve) => setTimeout(() => {
            try { resolve(String(new Function('return 1')())); } catch (e) { resolve(e.name); }
        }, 0))"""
    )
    assert outcome == "EvalError"
    from_python = page.evaluate(
        """() => new Promise((resolve) => setTimeout(() => {
            globalThis.parleyPyodide.runPythonAsync(`
import js
try:
    js.eval("1 + 1")
    outcome = "allowed"
except Exception as error:
    outcome = type(error).__name__ + ": " + str(error)[:80]
outcome
`).then(resolve, (e) => resolve('python failed: ' + e));
        }, 0))"""
    )
    assert "EvalError" in from_python, from_python


def test_foreign_origin_fetch_is_refused_by_csp(ready_page: tuple[Page, list[str]]) -> None:
    page, _log = ready_page
    outcome = page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener(
                'securitypolicyviolation', (e) => resolve('blocked: ' + e.violatedDirective));
            fetch('http://127.0.0.2:9/x').catch(() => setTimeout(() => resolve('failed'), 1000));
        })"""
    )
    assert outcome == "blocked: connect-src"
