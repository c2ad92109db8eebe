"""The test rig shared by every test (issue 2). Fixtures and helpers, all parallel-safe under xdist:

Servers (``tests/rig/server.py``):
    ``live_server``          module-scoped ``LiveServer`` running ``python app.py serve`` on a free
                             loopback port with a temporary ``--data-dir``; ``.url`` (no trailing slash),
                             ``.port``, ``.stop()``, ``.start()`` (restart on the same port), ``.log()``.
    ``live_server_factory``  function-scoped factory:
                             ``live_server_factory(port=None, static_root=None, data_dir=None,
                             extra_args=())`` -> ``LiveServer``; all are stopped after the test.
                             Without ``static_root``, a server serves a fresh snapshot of the built
                             bundle (``tests.rig.server.snapshot_site``), immune to concurrent rebuilds.

Browser (``tests/rig/browser.py``; these fail unless run in a loopback-only network namespace, i.e.
through ``./dev pytest ...`` or ``./dev test``):
    ``chromium``             session-scoped Playwright ``Browser`` (Debian's /usr/bin/chromium, headless,
                             the flags of DESIGN.md section 3).
    ``playwright_session``   session-scoped sync ``Playwright`` driver.
    ``browser_context``      factory ``browser_context(guard="route"|"observe", user_data_dir=None,
                             **new_context_kwargs)``: a fresh context (or a persistent, non-incognito
                             profile in ``user_data_dir``), camera+microphone granted, any non-loopback
                             request recorded (and aborted with guard="route") -> the test fails at
                             teardown.
    ``page``                 a page in a fresh guarded context.
    ``firefox``              factory ``firefox(origin)``: a headless Debian firefox-esr with a fresh
                             profile made for ``origin``, driven over WebDriver BiDi by puppeteer-core
                             (``tests/rig/firefox.py``); ``.new_page()`` gives a ``FirefoxPage``
                             (goto, click, fill, press, evaluate, wait_*); non-loopback requests fail
                             the test at teardown.
    ``save_screenshot(page, name)``  writes ``test-artifacts/<name>.png`` (git-ignored).
    ``console_log(page)``    returns a list that collects the page's console messages and errors.

asyncio (``tests/rig/playwright_loop.py``): a test that uses no Playwright runs with no event loop marked
running, even after browser tests in the same process (Playwright's sync API leaves its loop marked).

Examples::

    from tests.conftest import save_screenshot

    @pytest.mark.browser
    def test_page_loads(live_server, page):
        page.goto(live_server.url)
        save_screenshot(page, "page-loads")

Our CSP has no ``'unsafe-eval'``, so ``page.wait_for_function(...)`` (whose polling evaluates strings in
the page) fails on our pages: wait with ``expect(locator)...`` or poll ``page.evaluate`` from Python.

Run: ``./dev pytest tests/browser/test_app_shell.py -n 0`` (browser) or
``.venv/bin/pytest -n 0 tests/unit/test_bundle.py`` (no browser).
"""

from __future__ import annotations

from tests.rig.browser import (
    BrowserContextFactory,
    browser_context,
    chromium,
    console_log,
    is_loopback_url,
    page,
    playwright_session,
    pytest_runtest_makereport,
    require_loopback_namespace,
    save_screenshot,
)
from tests.rig.firefox import FirefoxFactory, firefox
from tests.rig.playwright_loop import pytest_runtest_call, pytest_runtest_setup, pytest_runtest_teardown
from tests.rig.server import (
    LiveServer,
    LiveServerFactory,
    free_port,
    live_server,
    live_server_factory,
    snapshot_site,
)

__all__ = [
    "BrowserContextFactory",
    "FirefoxFactory",
    "LiveServer",
    "LiveServerFactory",
    "browser_context",
    "chromium",
    "console_log",
    "firefox",
    "free_port",
    "is_loopback_url",
    "live_server",
    "live_server_factory",
    "page",
    "playwright_session",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
    "require_loopback_namespace",
    "save_screenshot",
    "snapshot_site",
]
