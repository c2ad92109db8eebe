"""Chromium fixtures: Debian's Chromium driven by Playwright, inside a loopback-only network namespace.

* ``playwright_session``: the sync Playwright driver (session-scoped).
* ``chromium``: one headless browser per test session (per xdist worker), launched from
  ``/usr/bin/chromium`` with the flags DESIGN.md section 3 requires. Never ``playwright install``.
* ``browser_context``: a factory for fresh contexts (own storage, own service workers; or a persistent
  profile with ``user_data_dir=``) with camera and
  microphone granted (without them Chromium gathers no ICE candidates) and a request guard: any request
  to a host other than 127.0.0.1 / localhost / [::1] is recorded and aborted, and the test FAILS at
  teardown if one was seen. ``browser_context(guard="observe")`` records without routing (routing turns
  off Chromium's HTTP cache, which load benchmarks and cache tests need); the namespace still blocks it.
* ``page``: a page in a fresh guarded context.
* ``save_screenshot(page, name)``: what a person sees, as ``test-artifacts/<name>.png``.
* ``console_log(page)``: start recording a page's console messages and page errors into a list.
* Every page of every ``browser_context`` is recorded anyway: a failing test's report gets a "browser
  console" section with the last ``CONSOLE_REPORT_LINES`` lines of all its pages
  (``pytest_runtest_makereport``).

Every browser fixture first checks that the process runs in a network namespace whose only interface is
``lo`` (asked of the kernel with ``socket.if_nameindex``) and fails with a pointer to ``./dev pytest``
otherwise.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright

CONSOLE_KEY = pytest.StashKey[list[str]]()
CONSOLE_REPORT_LINES = 300

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Schemes that never leave the page: data and blob URLs, the DevTools' own, and about:blank.
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-extension", "devtools"})
NON_LOOPBACK_URL = re.compile(
    r"^(?!(?:https?|wss?)://(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?(?:[/?#]|$)"
    r"|(?:data|blob|about|chrome-extension|devtools):)"
)
"""The URLs ``is_loopback_url`` refuses, as one regular expression (valid in Python and JavaScript alike).

The request guard routes with this pattern, not with a Python predicate. Playwright matches a pattern in
its driver; for a predicate it must intercept every request and ask the Python side, which in the sync API
answers only while the test is inside a Playwright call. A test waiting in ``time.sleep`` (polling a
server's database, say) then held every request of every page: a page's mailbox fetch stalled until its
15 s timeout, the cause of the mailbox test's failures on a loaded machine."""
NETNS_MESSAGE = "run browser tests through ./dev pytest / ./dev test (loopback-only network namespace)"


def network_interfaces() -> list[str]:
    """The interfaces of this process's network namespace.

    Asked of the kernel (``if_nameindex``), not read from ``/sys/class/net``: sysfs shows the namespace
    it was mounted in, so after ``unshare -n`` it still lists the host's interfaces.
    """
    return sorted(name for _index, name in socket.if_nameindex())


def require_loopback_namespace() -> None:
    """Fail the test unless the only network interface in this namespace is ``lo``."""
    interfaces = network_interfaces()
    if interfaces != ["lo"]:
        pytest.fail(f"{NETNS_MESSAGE}; interfaces visible here: {', '.join(interfaces)}", pytrace=False)


def is_loopback_url(url: str) -> bool:
    """True for URLs that stay on this machine's loopback (or never leave the page)."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return (parts.hostname or "") in LOOPBACK_HOSTS or parts.hostname == "::1"


@dataclass
class RequestGuard:
    """Records requests and WebSockets to non-loopback hosts; ``route`` mode also aborts them."""

    external: list[str] = field(default_factory=list)

    def check(self, url: str) -> bool:
        if is_loopback_url(url):
            return True
        self.external.append(url)
        return False

    def handle_route(self, route: Route) -> None:
        if self.check(route.request.url):
            route.fallback()
        else:
            route.abort("blockedbyclient")

    def install(self, context: BrowserContext) -> None:
        """Abort (and record) the context's requests to non-loopback hosts; others never wait for Python."""
        context.route(NON_LOOPBACK_URL, self.handle_route)


GuardMode = Literal["route", "observe"]
BrowserContextFactory = Callable[..., BrowserContext]


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Playwright]:
    """The sync Playwright driver for the session (checks the namespace and the Chromium binary)."""
    require_loopback_namespace()
    if not Path(CHROMIUM_PATH).exists():
        pytest.fail(f"{CHROMIUM_PATH} is missing: ./dev test installs Debian's chromium", pytrace=False)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def chromium(playwright_session: Playwright) -> Iterator[Browser]:
    """A headless Debian Chromium for the session (one per xdist worker)."""
    browser = _launch(playwright_session)
    yield browser
    browser.close()


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS), headless=True)


@pytest.fixture
def browser_context(
    playwright_session: Playwright, chromium: Browser, request: pytest.FixtureRequest
) -> Iterator[BrowserContextFactory]:
    """Factory: ``browser_context(guard="route", user_data_dir=None, **new_context_kwargs)``.

    With ``user_data_dir`` the context is a persistent (non-incognito) Chromium profile in that folder,
    launched with the same flags (needed e.g. for PWA installability, which incognito never has).
    Contexts are closed at teardown; the test fails if any of them saw a non-loopback request.
    """
    require_loopback_namespace()
    opened: list[tuple[BrowserContext, RequestGuard]] = []
    transcript = request.node.stash.setdefault(CONSOLE_KEY, [])

    def factory(
        guard: GuardMode = "route", user_data_dir: Path | None = None, **kwargs: Any
    ) -> BrowserContext:
        kwargs.setdefault("service_workers", "allow")
        if user_data_dir is None:
            context = chromium.new_context(**kwargs)
        else:
            context = playwright_session.chromium.launch_persistent_context(
                str(user_data_dir),
                executable_path=CHROMIUM_PATH,
                args=list(CHROMIUM_ARGS),
                headless=True,
                **kwargs,
            )
        context.grant_permissions(["camera", "microphone"])
        request_guard = RequestGuard()
        if guard == "route":
            request_guard.install(context)
        context.on("request", lambda request: _record(request_guard, request.url))
        context.on("page", lambda page: _watch_websockets(page, request_guard))
        label = f"context {len(opened) + 1}"
        context.on("page", lambda page: _transcribe(page, label, transcript))
        opened.append((context, request_guard))
        return context

    yield factory
    external: list[str] = []
    for context, request_guard in opened:
        external.extend(request_guard.external)
        with contextlib.suppress(Exception):  # a crashed browser must not hide the real failure
            context.close()
    if external:
        pytest.fail(f"the page tried to reach non-loopback hosts: {sorted(set(external))}", pytrace=False)


def _record(request_guard: RequestGuard, url: str) -> None:
    request_guard.check(url)


def _transcribe(page: Page, label: str, transcript: list[str]) -> None:
    page.on("console", lambda message: transcript.append(f"[{label}] {message.type}: {message.text}"))
    page.on("pageerror", lambda error: transcript.append(f"[{label}] pageerror: {error}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the browser console of a failing test's pages to its report (re-exported by conftest)."""
    report = yield
    transcript = item.stash.get(CONSOLE_KEY, [])
    if report.failed and transcript:
        report.sections.append(("browser console", "\n".join(transcript[-CONSOLE_REPORT_LINES:])))
    return report


def _watch_websockets(page: Page, request_guard: RequestGuard) -> None:
    page.on("websocket", lambda socket: _record(request_guard, socket.url))


@pytest.fixture
def page(browser_context: BrowserContextFactory) -> Page:
    """A page in a fresh guarded context (closed with its context at teardown)."""
    return browser_context().new_page()


def save_screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save what the page shows as ``test-artifacts/<name>.png`` and return the path."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "screenshot"
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def console_log(page: Page) -> list[str]:
    """Record the page's console messages (``type: text``) and uncaught errors from now on."""
    messages: list[str] = []
    page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    return messages
