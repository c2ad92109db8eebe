"""The steps of ``app_steps`` for a Firefox page (``tests/rig/firefox.py``): same ids, same waits.

Each step waits on what a person would see (``html[data-screen]``, a message in the list), never on
internal state, with the time limits of ``app_steps``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.browser.app_steps import CONNECT_MS, START_MS, STEP_MS
from tests.rig.firefox import FirefoxBrowser, FirefoxPage

TRANSFER_MS = 120_000  # a small file over the data channel, on a loaded machine

#: What Firefox ESR 153 prints (on its console and stderr) while Pyodide's wasm module loads: Pyodide
#: 314 is built with the legacy wasm exception-handling proposal (``try``), which Firefox deprecates in
#: favour of ``try_table``. Harmless today; docs/browsers.md says what to expect.
WASM_TRY_DEPRECATION = re.compile(
    r"WebAssembly exception handling 'try' instruction is deprecated.*'try_table'"
)

#: Firefox's own report of a page's script problem on its stderr ("JavaScript warning: ...", "JavaScript
#: error: ..."); the browser's own modules (resource://, chrome://) are not the app's.
FIREFOX_SCRIPT_REPORT = re.compile(r"firefox: JavaScript (warning|error): (?!resource:|chrome:)")


def screen(page: FirefoxPage, name: str, timeout: float = STEP_MS) -> None:
    """Wait until the app shows the screen ``name`` (onboarding, home, chat, unlock, ...)."""
    page.wait_attribute("html", "data-screen", name, timeout=timeout)


def onboard(page: FirefoxPage, url: str, name: str, passphrase: str = "") -> None:
    """Open ``url`` in a fresh profile and create the account (with a passphrase when given)."""
    page.goto(url)
    screen(page, "onboarding", START_MS)
    page.fill("#onboarding-name", name)
    if passphrase:
        page.fill("#onboarding-passphrase", passphrase)
        page.fill("#onboarding-confirm", passphrase)
    page.click("#onboarding-submit")


def unlock(page: FirefoxPage, passphrase: str) -> None:
    """On the unlock screen (after a reload), type the passphrase and press Enter: home opens."""
    screen(page, "unlock", START_MS)
    page.fill("#unlock-passphrase", passphrase)
    page.press("#unlock-passphrase", "Enter")
    screen(page, "home")


def message_count(page: FirefoxPage, text: str, count: int, timeout: float = STEP_MS) -> None:
    """Wait until ``count`` message bubbles of the open chat contain ``text``."""
    page.wait_count("#messages .message", count, has_text=text, timeout=timeout)


def message_status(page: FirefoxPage, text: str, status: str, timeout: float = STEP_MS) -> None:
    """Wait until the open chat's message containing ``text`` shows ``status`` (sent, delivered, read)."""
    page.wait_for(
        """(text, status) => {
            const node = Array.from(document.querySelectorAll("#messages .message"))
                .find((message) => message.textContent.includes(text));
            const seen = node ? node.dataset.status : "(no message)";
            return seen === status || {ok: false, seen};
        }""",
        text,
        status,
        timeout=timeout,
    )


def send(page: FirefoxPage, text: str) -> None:
    """Type ``text`` in the open chat and press Enter; it shows in the sender's own list."""
    page.fill("#compose-text", text)
    page.press("#compose-text", "Enter")
    message_count(page, text, 1)


def attachment_complete(page: FirefoxPage, name: str, timeout: float = TRANSFER_MS) -> None:
    """Wait until the open chat's file ``name`` is complete (sent or received, 100%)."""
    page.wait_for(
        """(name) => {
            const node = Array.from(document.querySelectorAll("#messages .attachment"))
                .find((item) => item.textContent.includes(name));
            const seen = node ? node.dataset.phase : "(no attachment)";
            return seen === "complete" || {ok: false, seen};
        }""",
        name,
        timeout=timeout,
    )


def download(browser: FirefoxBrowser, page: FirefoxPage, name: str, size: int) -> bytes:
    """Press the Download button of the open chat's file ``name``; return the bytes Firefox saved."""
    page.click("#messages .attachment", has_text=name, inner=".attachment-download")
    saved: Path = browser.downloads / name
    deadline = time.monotonic() + STEP_MS / 1000
    while time.monotonic() < deadline:
        if saved.exists() and saved.stat().st_size == size:
            return saved.read_bytes()
        time.sleep(0.2)
    found = sorted(path.name for path in browser.downloads.iterdir())
    raise AssertionError(f"{name} ({size} bytes) was not downloaded; the folder holds {found}")


def open_chat(page: FirefoxPage, name: str) -> None:
    """From home, open the chat with ``name`` (a contact, not a request)."""
    screen(page, "home")
    page.click("#contacts .contact", has_text=name)
    screen(page, "chat")


def chat_ready(page: FirefoxPage, timeout: float = CONNECT_MS) -> None:
    page.wait_attribute("#chat-status", "data-state", "ready", timeout=timeout)


#: The elements matching a selector that do not fit inside the viewport's width (as boxes).
OUTSIDE_VIEWPORT = """(selector) => Array.from(document.querySelectorAll(selector))
    .map((node) => [node, node.getBoundingClientRect()])
    .filter(([, box]) => box.left < 0 || box.right > document.documentElement.clientWidth)
    .map(([node, box]) => `${node.id || node.tagName} ${box.left}..${box.right}`)"""


def script_problems(browser: FirefoxBrowser) -> list[str]:
    """Page errors, console errors and Firefox's script warnings, except the known wasm deprecation."""
    return [
        line
        for line in browser.console
        if ("pageerror" in line or "] error: " in line or FIREFOX_SCRIPT_REPORT.search(line))
        and not WASM_TRY_DEPRECATION.search(line)
    ]


def wasm_deprecation_seen(browser: FirefoxBrowser) -> bool:
    return any(WASM_TRY_DEPRECATION.search(line) for line in browser.console)


def invite_link(page: FirefoxPage, url: str, name: str, passphrase: str = "") -> str:
    """Create the account ``name`` at ``url``; once home shows the broker online, return the invite link."""
    onboard(page, url, name, passphrase)
    screen(page, "home")
    page.wait_attribute("#broker-status", "data-state", "online")
    return page.value("#invite-link")


def accept_request(page: FirefoxPage, name: str) -> None:
    """Open the message request of ``name``; once the chat is ready, accept it."""
    page.click("#requests .contact", has_text=name)
    screen(page, "chat")
    chat_ready(page)
    page.click("#request-accept")


def reload_and_resume(page: FirefoxPage, passphrase: str, name: str) -> None:
    """Reload, unlock with ``passphrase`` and open the chat with ``name``: it is ready over a resumed
    session (no new full handshake)."""
    page.reload()
    unlock(page, passphrase)
    open_chat(page, name)
    chat_ready(page)
    assert page.attribute("#chat-status", "data-resumed") == "1"
    assert page.attribute("#chat-status", "data-full") == "0"
