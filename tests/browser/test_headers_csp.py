"""The Content-Security-Policy in a real Chromium: the app runs under it, and it bites (server/headers.py).

Pyodide needs only ``'wasm-unsafe-eval'``: the app starts with no violation. Inline scripts, string
eval (also from Python through ``js.eval``) and foreign origins are refused.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Route, expect

from server import headers
from tests.rig.browser import BrowserContextFactory, console_log, save_screenshot
from tests.rig.server import LiveServer

pytestmark = pytest.mark.browser

PYTHON_START_TIMEOUT_MS = 120_000


INLINE_SCRIPT = """() => new Promise((resolve) => {
    document.addEventListener(
        'securitypolicyviolation', (e) => resolve('blocked: ' + e.violatedDirective));
    const script = document.createElement('script');
    script.textContent = 'window.__inlineRan = true';
    document.body.append(script);
    setTimeout(() => resolve(window.__inlineRan ? 'ran' : 'silent'), 2000);
})"""

# Run from a timer, i.e. from the page's own event loop: code that DevTools evaluates directly is exempt
# from the eval check, which would make the check pass vacuously.
STRING_EVAL = """() => new Promise((resolve) => setTimeout(() => {
    try { resolve(String(new Function('return 1')())); } catch (e) { resolve(e.name); }
}, 0))"""

PYTHON_EVAL = """() => new Promise((resolve) => setTimeout(() => {
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

FOREIGN_FETCH = """() => new Promise((resolve) => {
    document.addEventListener(
        'securitypolicyviolation', (e) => resolve('blocked: ' + e.violatedDirective));
    fetch('http://127.0.0.2:9/x').catch(() => setTimeout(() => resolve('failed'), 1000));
})"""


def test_app_runs_clean_under_the_csp_and_the_csp_bites(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    page = browser_context().new_page()
    log = console_log(page)
    response = page.goto(live_server.url)
    assert response is not None
    assert response.headers["content-security-policy"] == headers.CONTENT_SECURITY_POLICY
    expect(page.locator("html")).to_have_attribute("data-py-state", "ready", timeout=PYTHON_START_TIMEOUT_MS)
    assert [line for line in log if "Content Security Policy" in line] == []  # Pyodide needs no more
    save_screenshot(page, "csp-app-ready")

    assert page.evaluate(INLINE_SCRIPT).startswith("blocked: script-src")
    assert page.evaluate(STRING_EVAL) == "EvalError"
    from_python = page.evaluate(PYTHON_EVAL)
    assert "EvalError" in from_python, from_python
    assert page.evaluate(FOREIGN_FETCH) == "blocked: connect-src"


def test_pyodide_needs_wasm_unsafe_eval(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    """The one exception in script-src is needed: without it WebAssembly cannot compile (docs/security.md)."""
    page = browser_context().new_page()
    without = headers.CONTENT_SECURITY_POLICY.replace(" 'wasm-unsafe-eval'", "")
    assert "wasm-unsafe-eval" not in without

    def strip_wasm_eval(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": without})

    page.route(f"{live_server.url}/", strip_wasm_eval)
    page.goto(live_server.url)
    error = page.locator("#startup-error")
    expect(error).to_be_visible(timeout=PYTHON_START_TIMEOUT_MS)
    expect(error).to_contain_text("WebAssembly")
    save_screenshot(page, "csp-without-wasm-unsafe-eval")
