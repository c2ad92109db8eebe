"""Every screen, in both layouts and both colour schemes, checked by axe-core and saved as a screenshot.

Bob goes through the whole app: the first-run screen and "How Parley protects you" from it, Alice's
invite, the chat (with messages both ways; first with the backup prompt a first contact brings), its
menu, a message's menu with its details, search in the chat, the safety number, the chat list,
settings, "How Parley protects you" from settings, the QR scanner, connecting without a server, the
bundle panel, and, after a reload, the unlock screen. On each: 360x740 and 1280x800, light and dark
(``prefers-color-scheme``), a screenshot ``test-artifacts/a11y-<screen>-<width>-<scheme>.png`` and an
axe-core run (node_modules, pinned, injected by the test only). The test fails on any serious or
critical violation, listing them all: contrast (WCAG AA), names of controls, labels, ARIA use.
"""

from __future__ import annotations

from typing import Literal

import pytest
from playwright.sync_api import Page, expect

from tests.browser.app_steps import (
    CONNECT_MS,
    DESKTOP,
    PHONE,
    START_MS,
    STEP_MS,
    chat_menu,
    message_menu,
    onboard,
    screen,
    send,
)
from tests.browser.ux_steps import axe_violations
from tests.rig.browser import BrowserContextFactory, save_screenshot
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_a11y")]

PASSPHRASE = "a long enough passphrase"
SCHEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")


class Walk:
    """The screens seen so far and the violations axe found on them."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.seen: list[str] = []
        self.violations: list[str] = []

    def check(self, name: str) -> None:
        page = self.page
        for viewport in (PHONE, DESKTOP):
            page.set_viewport_size(viewport)
            for scheme in SCHEMES:
                page.emulate_media(color_scheme=scheme)
                save_screenshot(page, f"a11y-{name}-{viewport['width']}-{scheme}")
                found = axe_violations(page)
                self.violations += [f"{name} {viewport['width']} {scheme}: {item}" for item in found]
        page.set_viewport_size(PHONE)
        page.emulate_media(color_scheme="light")
        self.seen.append(name)


def test_every_screen_has_no_serious_accessibility_violation(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    alice = browser_context(viewport=PHONE).new_page()
    bob = browser_context(viewport=PHONE).new_page()
    onboard(alice, live_server.url, "Alice")
    screen(alice, "home")
    expect(alice.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)
    walk = Walk(bob)

    bob.goto(alice.locator("#invite-link").input_value())
    screen(bob, "onboarding", START_MS)
    walk.check("onboarding")
    bob.click("#onboarding-about")
    screen(bob, "about")
    expect(bob.locator("#protection-diagram")).to_be_visible()
    walk.check("protection-first-run")
    bob.keyboard.press("Escape")
    screen(bob, "onboarding")
    bob.fill("#onboarding-name", "Bob")
    bob.fill("#onboarding-passphrase", PASSPHRASE)
    bob.fill("#onboarding-confirm", PASSPHRASE)
    bob.click("#onboarding-submit")
    screen(bob, "invite")
    walk.check("invite")
    bob.click("#invite-accept")
    screen(bob, "chat")
    expect(bob.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
    send(bob, "Hello Alice, this is Bob")
    alice.click("#requests .contact")
    screen(alice, "chat")
    send(alice, "Hi Bob! Good to hear from you.")
    expect(bob.locator("#messages .message.in")).to_have_count(1, timeout=STEP_MS)
    expect(bob.locator("#chat-announce")).to_have_text("Alice: Hi Bob! Good to hear from you.")
    expect(bob.locator("#backup-prompt")).to_be_visible(timeout=STEP_MS)  # a first contact to lose
    walk.check("chat-backup-prompt")
    bob.click("#backup-prompt-dismiss")
    expect(bob.locator("#backup-prompt")).to_have_count(0)
    walk.check("chat")

    chat_menu(bob)
    walk.check("chat-menu")
    bob.keyboard.press("Escape")
    expect(bob.locator("#chat-menu")).to_be_hidden()
    bubble = message_menu(bob, "Hello Alice")
    bubble.get_by_role("button", name="Details").click()
    walk.check("message-menu")
    bob.keyboard.press("Escape")
    chat_menu(bob)
    bob.click("#chat-search-open")
    bob.fill("#chat-search-text", "alice")
    bob.press("#chat-search-text", "Enter")
    expect(bob.locator("#chat-search-status")).to_contain_text("Match 1 of 1")
    walk.check("chat-search")
    chat_menu(bob)
    bob.click("#chat-safety")
    screen(bob, "safety")
    walk.check("safety")
    bob.keyboard.press("Escape")
    screen(bob, "chat")
    bob.keyboard.press("Escape")
    screen(bob, "home")
    walk.check("home")
    bob.click("#open-settings")
    screen(bob, "settings")
    walk.check("settings")
    bob.click("#settings-about")
    screen(bob, "about")
    walk.check("protection")
    bob.keyboard.press("Escape")
    screen(bob, "settings")
    bob.keyboard.press("Escape")
    screen(bob, "home")
    bob.click("#scan-open")
    screen(bob, "scan")
    walk.check("scan")
    bob.keyboard.press("Escape")
    screen(bob, "home")
    bob.click("#manual-open")
    screen(bob, "manual")
    walk.check("manual-signaling")
    bob.keyboard.press("Escape")
    screen(bob, "home")
    bob.click("#bundle-badge")
    expect(bob.locator("#update-panel")).to_be_visible()
    walk.check("bundle-panel")
    bob.click("#update-dismiss")

    bob.reload()
    screen(bob, "unlock", START_MS)
    walk.check("unlock")

    assert walk.seen == [
        "onboarding",
        "protection-first-run",
        "invite",
        "chat-backup-prompt",
        "chat",
        "chat-menu",
        "message-menu",
        "chat-search",
        "safety",
        "home",
        "settings",
        "protection",
        "scan",
        "manual-signaling",
        "bundle-panel",
        "unlock",
    ]
    assert not walk.violations, "\n".join(walk.violations)

    # The check can fail: a button without a name, added to this screen, is reported as critical.
    bob.evaluate("document.getElementById('unlock').append(document.createElement('button'))")
    assert any(item.startswith("button-name (critical)") for item in axe_violations(bob))
