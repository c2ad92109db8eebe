"""Firefox fixtures: Debian's ``firefox-esr`` driven over WebDriver BiDi by puppeteer-core.

Playwright cannot drive a stock Firefox (it needs its own patched build), so a small Node script,
``tests/rig/firefox_driver.cjs``, launches ``/usr/bin/firefox-esr`` headless through puppeteer-core (npm,
pinned in package.json) and takes one JSON command per line; ``FirefoxBrowser`` here is its Python end.

Each ``FirefoxBrowser`` is one Firefox process with a fresh profile in the test's temporary directory,
made for one origin (the live server's), with these preferences beyond puppeteer's own (which already
turn off updates, telemetry upload, safe browsing and the first-run pages):

* ``media.peerconnection.ice.loopback``: without it Firefox gathers no ICE candidates on loopback, and
  inside the test namespace loopback is all there is.
* ``permissions.manager.defaultsUrl``: a permissions file that grants the origin camera and microphone.
  Firefox, like Chromium, hides its host candidates (mDNS names) from pages that hold no capture
  permission, and those names cannot be resolved in the namespace; WebDriver BiDi cannot grant these
  permissions, the defaults file can.
* ``FIREFOX_QUIET_PREFS``: no background traffic (captive-portal and connectivity probes, remote
  settings, Normandy, crash reports, push, DoH, prefetch), so nothing tries to leave loopback.

Downloads go, unasked, to ``FirefoxBrowser.downloads`` (a folder of the test's).

``FirefoxPage`` offers what the journeys need: ``goto``, ``reload``, ``click``/``fill``/``press``/
``upload`` (a file input, as the file picker fills it) by CSS selector (puppeteer's ``::-p-aria(...)``
and ``::-p-text(...)`` selectors work too), ``evaluate``, and waits (``wait_attribute``,
``wait_text``, ``wait_count``, ``wait_for``) that poll a page function and fail with what they last
saw. Every page's console messages, uncaught errors and Firefox's own stderr go into
``FirefoxBrowser.console`` and into the failing test's report ("browser console", as for Chromium);
every request URL is recorded, and the ``firefox`` fixture fails the test at teardown if a page asked
for a non-loopback host.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.rig.browser import ARTIFACTS_DIR, CONSOLE_KEY, is_loopback_url, require_loopback_namespace

REPO_ROOT = Path(__file__).resolve().parents[2]
FIREFOX_PATH = "/usr/bin/firefox-esr"
DRIVER = Path(__file__).with_name("firefox_driver.cjs")
LAUNCH_TIMEOUT_MS = 90_000  # a cold Firefox start on a loaded 2-core machine
COMMAND_GRACE_S = 15.0  # beyond a command's own timeout, before the driver is taken for dead
DEFAULT_TIMEOUT_MS = 30_000
NAVIGATION_TIMEOUT_MS = 60_000  # until the load event; the app's own start is waited for on screen
CLOSE_TIMEOUT_S = 15.0

#: Preferences that keep a test Firefox off the network beyond loopback, and quiet.
FIREFOX_QUIET_PREFS: dict[str, object] = {
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.predictor.enabled": False,
    "network.trr.mode": 5,  # DNS over HTTPS off by choice
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "dom.push.enabled": False,
    "dom.push.connection.enabled": False,
    "services.settings.server": "data:,",
    "app.normandy.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "app.update.enabled": False,
    "app.update.auto": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "data:,",
    "toolkit.telemetry.archive.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "breakpad.reportURL": "",
    "browser.tabs.crashReporting.sendReport": False,
    "extensions.blocklist.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "browser.discovery.enabled": False,
    "browser.newtabpage.activity-stream.feeds.telemetry": False,
    "browser.ping-centre.telemetry": False,
    "identity.fxaccounts.enabled": False,
    "media.gmp-gmpopenh264.enabled": False,
    "browser.backup.enabled": False,  # no profile backups in the background
    "browser.backup.scheduled.enabled": False,
}

#: Preferences the app needs to work in a test Firefox at all (see the module docstring).
FIREFOX_WEBRTC_PREFS: dict[str, object] = {
    "media.peerconnection.ice.loopback": True,
}


def permissions_file(path: Path, origin: str) -> Path:
    """Write a Firefox permissions defaults file granting ``origin`` camera and microphone.

    The format is Firefox's ``browser/app/permissions``: ``origin<TAB>type<TAB>capability<TAB>origin``,
    capability 1 being ALLOW.
    """
    parts = urlsplit(origin)
    exact = f"{parts.scheme}://{parts.netloc}"
    lines = [f"origin\t{kind}\t1\t{exact}" for kind in ("camera", "microphone")]
    path.write_text("\n".join(lines) + "\n")
    return path


class FirefoxError(AssertionError):
    """A driver command failed (or timed out); the message carries the recent browser console."""


@dataclass
class FirefoxBrowser:
    """One firefox-esr process (fresh profile, granted for one origin) behind the Node driver."""

    label: str
    origin: str
    workdir: Path
    console: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)  # the test's, shared with the Chromium pages
    requests: list[str] = field(default_factory=list)
    version: str = ""
    _process: subprocess.Popen[str] | None = None
    _replies: dict[int, queue.Queue[dict[str, Any]]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stderr: list[str] = field(default_factory=list)
    _firefox_pid: int | None = None

    def launch(self) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is missing: ./dev test installs it with the npm packages", pytrace=False)
        if not Path(FIREFOX_PATH).exists():
            pytest.fail(f"{FIREFOX_PATH} is missing: ./dev test installs firefox-esr", pytrace=False)
        self.workdir.mkdir(parents=True, exist_ok=True)
        permissions = permissions_file(self.workdir / "permissions", self.origin)
        self.downloads.mkdir(exist_ok=True)
        prefs = {
            **FIREFOX_QUIET_PREFS,
            **FIREFOX_WEBRTC_PREFS,
            "permissions.manager.defaultsUrl": permissions.as_uri(),
            # Downloads go to a folder of this browser's own, without asking.
            "browser.download.folderList": 2,
            "browser.download.dir": str(self.downloads),
            "browser.download.useDownloadDir": True,
            "browser.download.always_ask_before_handling_new_types": False,
            "browser.download.start_downloads_in_tmp_dir": False,
        }
        self._process = subprocess.Popen(
            [node, str(DRIVER)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        launched = self.command(
            "launch",
            timeout=LAUNCH_TIMEOUT_MS,
            executablePath=FIREFOX_PATH,
            profile=str(self.workdir / "profile"),
            prefs=prefs,
        )
        self.version, self._firefox_pid = str(launched["version"]), launched["pid"]

    @property
    def downloads(self) -> Path:
        """Where this browser saves what a page downloads."""
        return self.workdir / "downloads"

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                self._log(f"[{self.label}] driver: {line.rstrip()}")
                continue
            if message.get("event") == "console":
                page = f" page {message['page']}" if message["page"] else ""
                self._log(f"[{self.label}{page}] {message['text']}")
            elif message.get("event") == "request":
                self.requests.append(str(message["url"]))
            elif message.get("event") == "disconnected":
                self._log(f"[{self.label}] the browser disconnected")
            else:
                with self._lock:
                    reply_queue = self._replies.get(message.get("id"))
                if reply_queue is not None:
                    reply_queue.put(message)

    def _log(self, line: str) -> None:
        self.console.append(line)
        self.transcript.append(line)

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line.rstrip())

    def command(self, op: str, *, timeout: float = DEFAULT_TIMEOUT_MS, **arguments: Any) -> Any:
        """Send one command and wait for its answer; raise ``FirefoxError`` on failure or silence."""
        process = self._process
        if process is None or process.stdin is None or process.poll() is not None:
            raise FirefoxError(f"{self.label}: the driver is not running\n{self._recent()}")
        identifier = next(self._ids)
        reply_queue: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            self._replies[identifier] = reply_queue
        try:
            line = json.dumps({"id": identifier, "op": op, "timeout": timeout, **arguments})
            process.stdin.write(line + "\n")
            process.stdin.flush()
            try:
                reply = reply_queue.get(timeout=timeout / 1000 + COMMAND_GRACE_S)
            except queue.Empty:
                raise FirefoxError(f"{self.label}: {op} got no answer\n{self._recent()}") from None
        finally:
            with self._lock:
                self._replies.pop(identifier, None)
        if not reply["ok"]:
            raise FirefoxError(f"{self.label}: {op} failed: {reply['error']}\n{self._recent()}")
        return reply["value"]

    def _recent(self, lines: int = 60) -> str:
        recent = "\n".join(self.console[-lines:])
        driver = "\n".join(self._stderr[-20:])
        return f"--- browser console ---\n{recent}" + (f"\n--- driver stderr ---\n{driver}" if driver else "")

    def new_page(self, width: int = 360, height: int = 740) -> FirefoxPage:
        return FirefoxPage(self, int(self.command("newPage", width=width, height=height)))

    def external_requests(self) -> list[str]:
        return sorted({url for url in self.requests if not is_loopback_url(url)})

    def close(self) -> None:
        """Close Firefox through the driver; if either hangs, kill the driver and Firefox's process group."""
        process = self._process
        if process is None:
            return
        closed = True
        try:
            self.command("close", timeout=CLOSE_TIMEOUT_S * 1000)
        except FirefoxError:
            closed = False
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            closed = False
            process.kill()
            process.wait()
        if not closed and self._firefox_pid is not None and _is_firefox(self._firefox_pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._firefox_pid, signal.SIGKILL)
        self._process = None


def _is_firefox(pid: int) -> bool:
    """True if ``pid`` still runs Firefox (not a process that took the number since)."""
    try:
        return "firefox" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


@dataclass
class FirefoxPage:
    """One tab. Selectors are CSS (or puppeteer's ``::-p-aria(...)``); timeouts are in milliseconds."""

    browser: FirefoxBrowser
    id: int

    def _do(self, op: str, timeout: float = DEFAULT_TIMEOUT_MS, **arguments: Any) -> Any:
        return self.browser.command(op, page=self.id, timeout=timeout, **arguments)

    def goto(self, url: str, timeout: float = NAVIGATION_TIMEOUT_MS) -> None:
        self._do("goto", timeout, url=url)

    def reload(self, timeout: float = NAVIGATION_TIMEOUT_MS) -> None:
        self._do("reload", timeout)

    @property
    def url(self) -> str:
        return str(self._do("url"))

    def click(
        self, selector: str, *, has_text: str = "", inner: str = "", timeout: float = DEFAULT_TIMEOUT_MS
    ) -> None:
        """Click the element as a mouse does. With ``has_text``: the first match containing that text, or
        (with ``inner``) its first descendant matching ``inner``."""
        self._do("click", timeout, selector=selector, hasText=has_text, inner=inner)

    def fill(self, selector: str, value: str, timeout: float = DEFAULT_TIMEOUT_MS) -> None:
        self._do("fill", timeout, selector=selector, value=value)

    def press(self, selector: str, key: str, timeout: float = DEFAULT_TIMEOUT_MS) -> None:
        self._do("press", timeout, selector=selector, key=key)

    def upload(self, selector: str, *paths: Path, timeout: float = DEFAULT_TIMEOUT_MS) -> None:
        """Pick ``paths`` in the file input ``selector``, as the file picker does."""
        self._do("upload", timeout, selector=selector, paths=[str(path) for path in paths])

    def evaluate(self, source: str, *args: Any) -> Any:
        """Call the JavaScript function ``source`` in the page with JSON ``args``; return its result."""
        return self._do("evaluate", source=source, args=list(args))

    def wait_for(self, source: str, *args: Any, timeout: float = DEFAULT_TIMEOUT_MS) -> Any:
        """Poll the page function ``source`` until it returns ``true`` (or ``{ok: true, ...}``)."""
        return self._do("waitFor", timeout, source=source, args=list(args))

    def wait_attribute(
        self, selector: str, name: str, value: str, timeout: float = DEFAULT_TIMEOUT_MS
    ) -> None:
        """Wait until the first element matching ``selector`` has attribute ``name`` equal to ``value``."""
        self.wait_for(
            """(selector, name, value) => {
                const node = document.querySelector(selector);
                const seen = node ? node.getAttribute(name) : "(no element)";
                return seen === value || {ok: false, seen};
            }""",
            selector,
            name,
            value,
            timeout=timeout,
        )

    def wait_text(self, selector: str, text: str, timeout: float = DEFAULT_TIMEOUT_MS) -> None:
        """Wait until the first element matching ``selector`` shows exactly ``text`` (trimmed)."""
        self.wait_for(
            """(selector, text) => {
                const node = document.querySelector(selector);
                const seen = node ? node.textContent.trim() : "(no element)";
                return seen === text || {ok: false, seen};
            }""",
            selector,
            text,
            timeout=timeout,
        )

    def wait_count(
        self, selector: str, count: int, *, has_text: str = "", timeout: float = DEFAULT_TIMEOUT_MS
    ) -> None:
        """Wait until exactly ``count`` elements match ``selector`` (and contain ``has_text``)."""
        self.wait_for(
            """(selector, text, count) => {
                const seen = Array.from(document.querySelectorAll(selector))
                    .filter((node) => node.textContent.includes(text)).length;
                return seen === count || {ok: false, seen};
            }""",
            selector,
            has_text,
            count,
            timeout=timeout,
        )

    def attribute(self, selector: str, name: str) -> str | None:
        value = self.evaluate(
            "(selector, name) => { const node = document.querySelector(selector); "
            "return node ? node.getAttribute(name) : null; }",
            selector,
            name,
        )
        return None if value is None else str(value)

    def value(self, selector: str) -> str:
        return str(self.evaluate("(selector) => document.querySelector(selector).value", selector))

    def screenshot(self, name: str) -> Path:
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS_DIR / f"{name}.png"
        self._do("screenshot", path=str(path))
        return path


FirefoxFactory = Callable[[str], FirefoxBrowser]


@pytest.fixture
def firefox(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FirefoxFactory]:
    """Factory: ``firefox(origin)`` launches a headless firefox-esr with a fresh profile for ``origin``.

    Every browser is closed at teardown; the test fails if a page asked for a non-loopback host, and a
    failing test's report carries every browser's console.
    """
    require_loopback_namespace()
    launched: list[FirefoxBrowser] = []
    transcript = request.node.stash.setdefault(CONSOLE_KEY, [])

    def factory(origin: str) -> FirefoxBrowser:
        label = f"firefox {len(launched) + 1}"
        browser = FirefoxBrowser(label, origin, tmp_path / label.replace(" ", "-"), transcript=transcript)
        launched.append(browser)
        browser.launch()
        return browser

    yield factory
    external: list[str] = []
    for browser in launched:
        external.extend(browser.external_requests())
        browser.close()
    if external:
        pytest.fail(f"Firefox tried to reach non-loopback hosts: {external}", pytrace=False)
