"""Message requests in the real app: someone A does not know calls with her invite link.

Two Chromium contexts, our server and broker, loopback only. B opens A's invite and writes; A sees him
under "Message requests", apart from her chats, opens the request (his message and the Accept / Delete
and block choices) and:

* accepts: he moves to her chats and the chat goes on as any other;
* or, with another B, deletes and blocks: the chat disappears, B's automatic redials reach her browser
  (each one a new ``RTCPeerConnection`` there, counted by an init script) and are refused (no contact
  appears, her IndexedDB keeps the same number of records); Settings lists his peer id, "Unblock" takes
  it off the list, and his next call arrives as a request again.

Screenshots go to test-artifacts/ (``requests-*``).
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.app_steps import (
    CONNECT_MS,
    PHONE,
    START_MS,
    STEP_MS,
    connect_by_invite,
    message,
    screen,
    screenshots,
    send,
)
from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_requests")]

#: How long A's page is watched for B's next offer after the block (his first redial comes after about 2 s).
REFUSED_WATCH_S = 30.0

#: Counts the page's RTCPeerConnections (A builds one to answer each call she takes) and the OFFER frames
#: the broker brings it (every call made to her, taken or not).
CALL_COUNTER = r"""
(() => {
  const Original = window.RTCPeerConnection;
  window.__calls = 0;
  const Counted = function (...args) {
    window.__calls += 1;
    return new Original(...args);
  };
  Counted.prototype = Original.prototype;
  window.RTCPeerConnection = Counted;
  window.__offers = 0;
  const OriginalSocket = window.WebSocket;
  const CountedSocket = function (...args) {
    const socket = new OriginalSocket(...args);
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string" && /"type"\s*:\s*"OFFER"/.test(event.data)) window.__offers += 1;
    });
    return socket;
  };
  CountedSocket.prototype = OriginalSocket.prototype;
  Object.assign(CountedSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = CountedSocket;
})();
"""

#: How many records A's IndexedDB holds (sealed: only their number is visible).
COUNT_RECORDS = """
async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("parley");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const count = await new Promise((resolve, reject) => {
    const request = db.transaction("records").objectStore("records").count();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  db.close();
  return count;
}
"""


def stranger_writes(
    live_server: LiveServer, browser_context: BrowserContextFactory, text: str
) -> tuple[Page, Page, list[list[str]]]:
    """A on her home screen; B opens her invite, connects and writes ``text``."""
    alice_context = browser_context(viewport=PHONE)
    alice_context.add_init_script(CALL_COUNTER)
    alice, bob = alice_context.new_page(), browser_context(viewport=PHONE).new_page()
    logs = [console_log(alice), console_log(bob)]
    connect_by_invite(alice, bob, live_server.url)
    send(bob, text)
    expect(message(bob, text)).to_have_attribute("data-status", "delivered", timeout=STEP_MS)
    return alice, bob, logs


def open_request(alice: Page, text: str) -> str:
    """A sees B under message requests only, opens it; returns B's peer id."""
    request = alice.locator("#requests .contact")
    expect(request).to_have_count(1, timeout=STEP_MS)
    expect(request).to_have_attribute("data-request", "yes")
    expect(request.locator(".contact-state")).to_contain_text("Message request")
    expect(request.locator(".unread")).to_have_text("1")
    expect(alice.locator("#requests-title")).to_have_text("Message requests (1)")
    expect(alice.locator("#contacts .contact")).to_have_count(0)
    peer_id = str(request.get_attribute("data-peer"))
    request.click()
    screen(alice, "chat")
    expect(message(alice, text)).to_have_count(1)
    expect(alice.locator("#request-panel")).to_be_visible()
    expect(alice.locator("#request-text")).to_contain_text(peer_id)
    return peer_id


def no_page_errors(logs: list[list[str]]) -> None:
    problems = [line for log in logs for line in log if "pageerror" in line or "Content Security" in line]
    assert not problems, problems


def test_a_stranger_is_a_message_request_until_accepted(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    alice, bob, logs = stranger_writes(live_server, browser_context, "hello, we met at the conference")
    screenshots(alice, "requests-home")
    open_request(alice, "hello, we met at the conference")
    screenshots(alice, "requests-chat")
    # Reading a request sends no read receipt, whatever the settings (here: off by default anyway).
    expect(message(bob, "hello, we met at the conference")).to_have_attribute("data-status", "delivered")

    alice.click("#request-accept")
    expect(alice.locator("#request-panel")).to_be_hidden(timeout=STEP_MS)
    send(alice, "hi Bob, welcome")
    expect(message(bob, "hi Bob, welcome")).to_have_count(1, timeout=STEP_MS)
    alice.click("#chat-back")
    screen(alice, "home")
    expect(alice.locator("#requests-section")).to_be_hidden()
    chat = alice.locator("#contacts .contact")
    expect(chat).to_have_attribute("data-request", "no")
    expect(chat.locator(".contact-name")).to_have_text("Bob")

    # Accepted survives a reload.
    alice.reload()
    screen(alice, "home", START_MS)
    expect(alice.locator("#contacts .contact", has_text="Bob")).to_have_count(1)
    expect(alice.locator("#requests-section")).to_be_hidden()
    no_page_errors(logs)


def test_delete_and_block_refuses_the_next_call_until_unblocked(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    alice, bob, logs = stranger_writes(live_server, browser_context, "buy cheap watches")
    peer_id = open_request(alice, "buy cheap watches")
    alice.click("#request-block")
    expect(alice.locator("#request-confirm")).to_be_visible()
    screenshots(alice, "requests-block-confirm")
    alice.click("#request-block-confirm")
    screen(alice, "home")
    expect(alice.locator("#home .contact")).to_have_count(0)
    expect(alice.locator("#requests-section")).to_be_hidden()
    expect(bob.locator("#chat-status")).not_to_have_attribute("data-state", "ready", timeout=STEP_MS)

    # B's browser keeps calling (he opened the invite, so his side redials): A's page receives his offers
    # and leaves them unanswered, with no RTCPeerConnection made and nothing stored.
    records = alice.evaluate(COUNT_RECORDS)
    calls, offers = alice.evaluate("() => [window.__calls, window.__offers]")
    deadline = time.monotonic() + REFUSED_WATCH_S
    while alice.evaluate("() => window.__offers") < offers + 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert alice.evaluate("() => window.__offers") >= offers + 1, "B did not call again"
    time.sleep(1.0)
    assert alice.evaluate("() => window.__calls") == calls
    expect(alice.locator("#home .contact")).to_have_count(0)
    assert alice.evaluate(COUNT_RECORDS) == records
    assert bob.locator("#chat-status").get_attribute("data-state") != "ready"

    # Settings: his peer id is blocked; unblocking lets his next call in, as a request again.
    alice.click("#open-settings")
    screen(alice, "settings")
    blocked = alice.locator("#blocked li")
    expect(blocked).to_have_count(1)
    expect(blocked.locator("code")).to_have_text(peer_id)
    expect(alice.locator("#blocked-none")).to_be_hidden()
    screenshots(alice, "requests-settings-blocked")
    blocked.locator(".unblock").click()
    expect(alice.locator("#blocked-result")).to_contain_text("Unblocked", timeout=STEP_MS)
    expect(alice.locator("#blocked li")).to_have_count(0)
    expect(alice.locator("#blocked-none")).to_be_visible()
    alice.click("#settings-back")
    screen(alice, "home")
    expect(alice.locator("#requests .contact")).to_have_count(1, timeout=CONNECT_MS)
    expect(bob.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
    no_page_errors(logs)
