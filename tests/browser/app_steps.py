"""What the app's browser tests share: time limits, viewports, and the steps a person takes.

The pages are the real app (``static/index.html`` booting ``pyfront.browser``); each step waits on what a
person would see (``html[data-screen]``, a message in the list), never on internal state.
"""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, ViewportSize, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.rig.browser import save_screenshot

START_MS = 120_000  # the first start of Pyodide in a fresh profile, on a loaded 2-core machine
CONNECT_MS = 60_000  # broker, ICE, DTLS and the four-layer handshake
STEP_MS = 30_000  # one screen or one message
OLDER_CLICK_MS = 3_000  # one "Show older messages" click, which the list's own paging can overtake
PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


def screen(page: Page, name: str, timeout: float = STEP_MS) -> None:
    """Wait until the app shows the screen ``name`` (onboarding, home, chat, settings, ...)."""
    expect(page.locator("html")).to_have_attribute("data-screen", name, timeout=timeout)


def onboard(page: Page, url: str, name: str, passphrase: str = "") -> None:
    """Open ``url`` in a fresh profile and create the account (with a passphrase when given)."""
    page.goto(url)
    screen(page, "onboarding", START_MS)
    page.fill("#onboarding-name", name)
    if passphrase:
        page.fill("#onboarding-passphrase", passphrase)
        page.fill("#onboarding-confirm", passphrase)
    page.click("#onboarding-submit")


def screenshots(page: Page, name: str) -> None:
    """The current screen at desktop and phone widths, as ``<name>-1280`` and ``<name>-360`` (the page is
    left at phone width)."""
    page.set_viewport_size(DESKTOP)
    save_screenshot(page, f"{name}-1280")
    page.set_viewport_size(PHONE)
    save_screenshot(page, f"{name}-360")


def read_receipts_on(page: Page) -> None:
    """Turn read receipts on in settings (they are reciprocal: both sides need them) and go home."""
    page.click("#open-settings")
    screen(page, "settings")
    page.check("#settings-receipts")
    page.click("#settings-save")
    expect(page.locator("#settings-saved")).to_have_text("Saved.", timeout=STEP_MS)
    page.click("#settings-back")
    screen(page, "home")


def message(page: Page, text: str) -> Any:
    """The message bubbles in the open chat that contain ``text``."""
    return page.locator("#messages .message", has_text=text)


def send(page: Page, text: str) -> None:
    """Type ``text`` in the open chat and press Enter; it shows in the sender's own list."""
    page.fill("#compose-text", text)
    page.press("#compose-text", "Enter")
    expect(message(page, text)).to_have_count(1, timeout=STEP_MS)


def show_whole_history(page: Page) -> None:
    """Page the open chat back to its first message (it opens on the newest page: views.conversation)."""
    older = page.locator("#messages-older")
    while older.is_visible():
        try:
            older.click(timeout=OLDER_CLICK_MS)
        except PlaywrightTimeoutError:
            # Scrolling the button into view brought the list near its top, so the list loaded the older
            # page itself (and the button moved, or went away with the first message): look again.
            continue


def expect_in_history(page: Page, selector: str, count: int, timeout: float = STEP_MS) -> None:
    """Wait until the open chat, paged back to its first message, holds ``count`` of ``selector``
    (messages stored before the chat opened show one page at a time)."""
    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        show_whole_history(page)
        if page.locator(selector).count() == count:
            return
        time.sleep(0.2)
    expect(page.locator(selector)).to_have_count(count, timeout=1)


def chat_menu(page: Page) -> None:
    """Open the chat header's menu (safety number, connect, search, disappearing messages)."""
    if page.locator("#chat-menu").is_hidden():
        page.click("#chat-menu-button")
    expect(page.locator("#chat-menu")).to_be_visible()


def message_menu(page: Page, text: str) -> Any:
    """Open the menu of the message containing ``text`` and return the message's locator."""
    bubble = message(page, text)
    bubble.locator(".msg-more").click()
    expect(bubble.locator(".msg-menu")).to_be_visible()
    return bubble


def connect_by_invite(alice: Page, bob: Page, url: str) -> None:
    """Alice creates her account at ``url``; Bob opens her invite link, creates his, and connects: his
    chat with her is ready (hers shows him as a message request)."""
    onboard(alice, url, "Alice")
    screen(alice, "home")
    expect(alice.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)
    onboard(bob, alice.locator("#invite-link").input_value(), "Bob")
    screen(bob, "invite")
    bob.click("#invite-accept")
    screen(bob, "chat")
    expect(bob.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
