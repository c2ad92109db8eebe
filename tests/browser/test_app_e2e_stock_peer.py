"""The app talks to a stock ``peer`` server (npm ``peer`` 1.0.2) when configured to (issue 8).

Our server serves the app with the stock broker's origin added to ``connect-src`` (``--connect-src``);
both people set the broker URL and key in the settings screen, then B pastes A's invite link into
"Connect": the full handshake runs over a data channel negotiated through the stock server, and they
chat both ways. Two Chromium contexts, loopback only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.app_steps import DESKTOP, START_MS, STEP_MS, screen
from tests.rig.browser import BrowserContextFactory, save_screenshot
from tests.rig.server import LiveServerFactory
from tests.rig.stock_peer import StockPeer, stock_peer_server

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_e2e_stock_peer")]
__all__ = ["stock_peer_server"]  # the module-scoped fixture: the npm server on a free loopback port


def use_stock_broker(page: Page, url: str, name: str, broker: StockPeer) -> None:
    page.goto(url)
    screen(page, "onboarding", START_MS)
    page.fill("#onboarding-name", name)
    page.click("#onboarding-submit")
    screen(page, "home")
    page.click("#open-settings")
    screen(page, "settings")
    page.fill("#settings-broker-url", broker.http_url)
    page.fill("#settings-broker-key", broker.key)
    page.click("#settings-save")
    expect(page.locator("#settings-saved")).to_have_text("Saved.", timeout=STEP_MS)
    page.click("#settings-back")
    screen(page, "home")
    expect(page.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)


def test_two_people_chat_through_a_stock_peer_server(
    stock_peer_server: StockPeer,
    live_server_factory: LiveServerFactory,
    browser_context: BrowserContextFactory,
) -> None:
    origin = f"ws://{urlsplit(stock_peer_server.http_url).netloc}"
    server = live_server_factory(extra_args=("--connect-src", origin))
    alice = browser_context(viewport=DESKTOP).new_page()
    bob = browser_context(viewport=DESKTOP).new_page()
    websockets: list[str] = []
    for page in (alice, bob):
        page.on("websocket", lambda socket: websockets.append(socket.url))
    use_stock_broker(alice, server.url, "Alice", stock_peer_server)
    use_stock_broker(bob, server.url, "Bob", stock_peer_server)
    assert len([url for url in websockets if url.startswith(origin + "/peerjs?")]) >= 2  # both there

    bob.fill("#connect-input", alice.locator("#invite-link").input_value())
    bob.click("#connect-submit")
    screen(bob, "chat")
    expect(bob.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=STEP_MS)
    expect(bob.locator("#chat-title")).to_have_text("Alice")
    contact = alice.locator("#requests .contact")  # Bob called her: a message request until accepted
    expect(contact).to_have_attribute("data-state", "ready", timeout=STEP_MS)
    contact.click()
    screen(alice, "chat")
    alice.click("#request-accept")
    expect(alice.locator("#request-panel")).to_be_hidden(timeout=STEP_MS)
    for sender, receiver, text in ((bob, alice, "via the stock server"), (alice, bob, "and back")):
        sender.fill("#compose-text", text)
        sender.press("#compose-text", "Enter")
        expect(receiver.locator("#messages .message.in", has_text=text)).to_have_count(1, timeout=STEP_MS)
        expect(sender.locator("#messages .message.out", has_text=text)).to_have_attribute(
            "data-status", "delivered", timeout=STEP_MS
        )
    save_screenshot(alice, "e2e-stock-peer-chat-1280")
