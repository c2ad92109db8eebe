"""Forged invite links and unreachable peers, in the real app (issue 8: "clear errors ... handshake failed").

A forged invite (A's real peer id, someone else's identity fingerprint, as a hostile broker or a tampered
link would give) must not connect: the handshake checks the identity key A proves against the
fingerprint and fails, and B's chat says the connection could not be verified (issue 13); A, told by
B's ``Refusal``, shows the same on B's entry. A link to a peer id nobody holds says the peer is not
reachable. Both with our own server and broker, two Chromium contexts, loopback only.
"""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from pyfront.messaging.invite import Invite, parse_link
from tests.browser.app_steps import PHONE, STEP_MS, chat_menu, onboard, screen
from tests.rig.browser import BrowserContextFactory, save_screenshot
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_safety")]


def test_forged_invite_fails_the_handshake_and_says_so(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    alice = browser_context(viewport=PHONE).new_page()
    bob = browser_context(viewport=PHONE).new_page()
    onboard(alice, live_server.url, "Alice")
    screen(alice, "home")
    expect(alice.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)
    real = parse_link(alice.locator("#invite-link").input_value())
    forged = Invite.for_identity(real.peer_id, secrets.token_bytes(32), "Alice")  # not her key
    onboard(bob, forged.link(live_server.url + "/"), "Bob")
    screen(bob, "invite")
    bob.click("#invite-accept")
    screen(bob, "chat")
    status = bob.locator("#chat-status")
    expect(status).to_have_attribute("data-state", "unverified", timeout=STEP_MS)
    expect(status).to_have_text("Not verified: this connection may be intercepted")
    expect(bob.locator("#unverified-banner")).to_contain_text("Compare your safety number")
    expect(bob.locator("#chat-error")).to_contain_text("invite fingerprint")
    chat_menu(bob)
    expect(bob.locator("#chat-connect")).to_be_visible()  # the person may retry (Bob redials with back-off)
    save_screenshot(bob, "safety-forged-invite-360")
    # A never got a usable session either: no chat is "connected" on her side, and she is warned too.
    expect(alice.locator("#home .contact[data-state='ready']")).to_have_count(0)  # chats and requests
    expect(alice.locator("#requests .contact[data-state='unverified']")).to_have_count(1, timeout=STEP_MS)
    # Nothing was delivered: a message written now waits as "sending".
    bob.fill("#compose-text", "should not leave")
    bob.press("#compose-text", "Enter")
    expect(bob.locator("#messages .message")).to_have_attribute("data-status", "sending")


def test_unknown_peer_id_says_the_peer_is_unavailable(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    bob = browser_context(viewport=PHONE).new_page()
    onboard(bob, live_server.url, "Bob")
    screen(bob, "home")
    expect(bob.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)
    bob.fill("#connect-input", "pnobody" + "7" * 25)
    bob.click("#connect-submit")
    screen(bob, "chat")
    expect(bob.locator("#chat-error")).to_contain_text("peer unavailable", timeout=STEP_MS)
    expect(bob.locator("#chat-status")).not_to_have_attribute("data-state", "ready")
    save_screenshot(bob, "safety-peer-unavailable-360")
