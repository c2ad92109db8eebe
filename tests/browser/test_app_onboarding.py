"""First run, reload and unlock, as a person does it in the real page served by ``app.py serve``.

A creates an identity with a passphrase; the home screen shows an invite link naming her identity; a
reload asks for the passphrase, refuses a wrong one and opens with the right one, showing the same
invite (so the identity survived in IndexedDB). Without a passphrase the plain warning is shown and a
reload goes straight in. Screenshots at 360 px and 1280 px are saved to test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from pyfront.messaging.invite import parse_link
from tests.browser.app_steps import DESKTOP, PHONE
from tests.rig.browser import BrowserContextFactory, console_log, save_screenshot
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_onboarding")]

START_TIMEOUT_MS = 120_000
UNLOCK_TIMEOUT_MS = 30_000


def open_app(page: Page, url: str, screen: str) -> None:
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("data-screen", screen, timeout=START_TIMEOUT_MS)


def test_first_run_with_passphrase_then_reload_asks_for_it(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    page = browser_context(viewport=PHONE).new_page()
    log = console_log(page)
    open_app(page, live_server.url, "onboarding")
    expect(page.locator("#onboarding-name")).to_be_focused()
    expect(page.locator("#onboarding-warning")).to_be_visible()
    # static/app.css is applied (a class-only stylesheet: the CSP forbids inline styles)
    expect(page.locator("#onboarding")).to_have_css("border-radius", "10px")
    save_screenshot(page, "app-onboarding-360")
    page.set_viewport_size(DESKTOP)
    save_screenshot(page, "app-onboarding-1280")
    page.set_viewport_size(PHONE)

    page.fill("#onboarding-name", "Alice")
    page.fill("#onboarding-passphrase", "short")
    expect(page.locator("#onboarding-warning")).to_be_hidden()
    page.fill("#onboarding-confirm", "short")
    page.click("#onboarding-submit")
    expect(page.locator("#onboarding-error")).to_have_text(re.compile("at least 8 characters"))
    page.fill("#onboarding-passphrase", "correct horse battery")
    page.fill("#onboarding-confirm", "correct horse batteyr")
    page.keyboard.press("Enter")
    expect(page.locator("#onboarding-error")).to_have_text("The two passphrases differ.")
    page.fill("#onboarding-confirm", "correct horse battery")
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("data-screen", "home", timeout=UNLOCK_TIMEOUT_MS)
    expect(page.locator("#home-title")).to_have_text("Hello, Alice")
    expect(page.locator("#home-unprotected")).to_have_count(0)
    link = page.locator("#invite-link").input_value()
    invite = parse_link(link)
    assert link.startswith(live_server.url + "/#invite?v=1&peer=p")
    assert invite.name == "Alice"
    save_screenshot(page, "app-home-360")
    page.set_viewport_size(DESKTOP)
    save_screenshot(page, "app-home-1280")

    open_app(page, live_server.url, "unlock")
    expect(page.locator("#unlock-passphrase")).to_be_focused()
    save_screenshot(page, "app-unlock-1280")
    page.fill("#unlock-passphrase", "wrong horse battery")
    page.keyboard.press("Enter")
    expect(page.locator("#unlock-error")).to_have_text(
        "That passphrase is not the right one.", timeout=UNLOCK_TIMEOUT_MS
    )
    expect(page.locator("html")).to_have_attribute("data-screen", "unlock")
    page.set_viewport_size(PHONE)
    save_screenshot(page, "app-unlock-wrong-360")
    page.fill("#unlock-passphrase", "correct horse battery")
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("data-screen", "home", timeout=UNLOCK_TIMEOUT_MS)
    assert page.locator("#invite-link").input_value() == link  # same identity, same peer id
    assert not [line for line in log if "Content Security Policy" in line or "pageerror" in line]


def test_first_run_without_passphrase_warns_and_reload_goes_straight_in(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    page = browser_context(viewport=DESKTOP).new_page()
    open_app(page, live_server.url, "onboarding")
    page.fill("#onboarding-name", "Bob")
    page.keyboard.press("Tab")  # keyboard only from here: Tab to the button, Enter
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#onboarding-submit")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("data-screen", "home", timeout=UNLOCK_TIMEOUT_MS)
    expect(page.locator("#home-unprotected")).to_be_visible()
    link = page.locator("#invite-link").input_value()
    assert parse_link(link).name == "Bob"
    open_app(page, live_server.url, "home")
    assert page.locator("#invite-link").input_value() == link
