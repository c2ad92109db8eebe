"""Manual signaling between Firefox and Chromium (issue 14): the cut-down offer and answer carry either
browser's SDP to the other.

Alice uses Debian's firefox-esr (``tests/rig/firefox.py``) and makes the offer, so Firefox's SDP (its own
ufrag, password, candidate lines and max-message-size) is cut down and rebuilt for Chromium; Bob's
Chromium answers, and his answer is rebuilt for Firefox. Both chats become ready and texts go both ways.
The server runs (the offline journey is ``test_app_manual_signaling.py``, in Chromium); nothing of this
connection goes through its broker.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.app_steps import CONNECT_MS, PHONE, START_MS, STEP_MS
from tests.browser.app_steps import message as chromium_message
from tests.browser.app_steps import onboard as chromium_onboard
from tests.browser.app_steps import screen as chromium_screen
from tests.browser.app_steps import send as chromium_send
from tests.browser.firefox_steps import chat_ready, message_count, onboard, screen, send
from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.firefox import FirefoxFactory
from tests.rig.server import LiveServerFactory

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("firefox")]


def test_firefox_offers_and_chromium_answers(
    live_server_factory: LiveServerFactory, firefox: FirefoxFactory, browser_context: BrowserContextFactory
) -> None:
    server = live_server_factory()
    alice = firefox(server.url).new_page()
    bob = browser_context(viewport=PHONE).new_page()
    console_log(bob)
    onboard(alice, server.url, "Alice")
    screen(alice, "home", START_MS)
    chromium_onboard(bob, server.url, "Bob")
    chromium_screen(bob, "home", START_MS)

    alice.click("#manual-open")
    screen(alice, "manual")
    alice.click("#manual-create")
    alice.wait_for("() => document.querySelector('#manual-offer-text')?.value.length > 0")
    offer = alice.value("#manual-offer-text")

    bob.click("#manual-open")
    chromium_screen(bob, "manual")
    bob.fill("#manual-offer-input", offer)
    bob.click("#manual-offer-submit")
    answer_text = bob.locator("#manual-answer-text")
    expect(answer_text).not_to_have_value("", timeout=STEP_MS)
    answer = answer_text.input_value()

    alice.fill("#manual-answer-input", answer)
    alice.click("#manual-answer-submit")
    screen(alice, "chat", CONNECT_MS)
    chat_ready(alice)
    chromium_screen(bob, "chat", CONNECT_MS)
    expect(bob.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)

    send(alice, "hello Chromium, no broker between us")
    expect(chromium_message(bob, "hello Chromium, no broker between us")).to_have_count(1, timeout=STEP_MS)
    chromium_send(bob, "hello Firefox, none at all")
    message_count(alice, "hello Firefox, none at all", 1)
    alice.screenshot("firefox-manual-chat-360")
