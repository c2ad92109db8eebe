"""Two people use the real app end to end (issue 8): two Chromium contexts, our server, loopback only.

A creates an identity and copies her invite link; B opens it, creates his identity and connects (to A he
is a message request, which she accepts; tests/browser/test_app_requests.py covers requests); both
reach "connected" through our broker, a WebRTC data channel and the full session handshake (which binds
both DTLS fingerprints and checks the invite's identity fingerprint); both safety-number screens show the
same 60 digits; they chat both ways. With typing indicators and read receipts off (the default) nothing
is sent on the wire for them: every ``RTCDataChannel.send`` of each page is counted by an init script, so
typing adds no frame and reading adds none beyond the delivery acknowledgement. Then both turn them on
in the settings screen and the indicator and "read" show up. A disappearing message vanishes on both
sides after its timer. B reloads: the chat continues with a resumed session (no new full handshake). B's
raw IndexedDB holds none of the message texts. Screenshots of each screen at 360 and 1280 px go to
test-artifacts/.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from pyfront.messaging.invite import parse_link
from tests.browser.app_steps import (
    CONNECT_MS,
    PHONE,
    START_MS,
    STEP_MS,
    chat_menu,
    message,
    message_menu,
    onboard,
    screen,
    screenshots,
    send,
)
from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_e2e")]


#: Counts every data-channel send of the page (runs before any page script; not subject to the CSP).
WIRE_COUNTER = """
(() => {
  const send = RTCDataChannel.prototype.send;
  window.__wire = { sent: 0 };
  RTCDataChannel.prototype.send = function (data) {
    window.__wire.sent += 1;
    return send.call(this, data);
  };
})();
"""

#: Every record of the app's IndexedDB database, as hex (what someone with the disk would see).
DUMP_INDEXEDDB = """
async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("parley");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const out = [];
  for (const name of db.objectStoreNames) {
    const values = await new Promise((resolve, reject) => {
      const request = db.transaction(name).objectStore(name).getAll();
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    for (const value of values) {
      const bytes = typeof value === "string" ? new TextEncoder().encode(value) : new Uint8Array(value);
      out.push(Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""));
    }
  }
  db.close();
  return out;
}
"""


#: The safety QR code's bytes, decoded from the canvas pixels by jsQR (vendored in the bundle).
READ_QR = """
() => {
  const canvas = document.querySelector("#safety-qr");
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  const code = jsQR(pixels.data, canvas.width, canvas.height);
  return code ? Array.from(code.binaryData) : [];
}
"""


def sent_frames(page: Page) -> int:
    return int(page.evaluate("() => window.__wire.sent"))


def quiet(*pages: Page, settle_s: float = 1.5) -> list[int]:
    """Wait until no page sends for ``settle_s``; return each page's frame count."""
    counts = [sent_frames(page) for page in pages]
    while True:
        time.sleep(settle_s)
        now = [sent_frames(page) for page in pages]
        if now == counts:
            return now
        counts = now


def set_privacy(page: Page, *, typing: bool, receipts: bool) -> None:
    page.click("#chat-back")
    screen(page, "home")
    page.click("#open-settings")
    screen(page, "settings")
    page.set_checked("#settings-typing", typing)
    page.set_checked("#settings-receipts", receipts)
    page.click("#settings-save")
    expect(page.locator("#settings-saved")).to_have_text("Saved.", timeout=STEP_MS)


def open_chat(page: Page, name: str) -> None:
    page.click("#settings-back") if page.locator("#settings-back").count() else None
    screen(page, "home")
    page.locator("#contacts .contact", has_text=name).click()
    screen(page, "chat")


def test_two_people_connect_by_invite_chat_and_resume_after_reload(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    contexts = [browser_context(viewport=PHONE), browser_context(viewport=PHONE)]
    for context in contexts:
        context.add_init_script(WIRE_COUNTER)
    alice, bob = (context.new_page() for context in contexts)
    logs = [console_log(alice), console_log(bob)]

    # A: first run, home with the invite link, online at the broker.
    onboard(alice, live_server.url, "Alice")
    screen(alice, "home")
    expect(alice.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)
    link = alice.locator("#invite-link").input_value()
    invite = parse_link(link)
    assert invite.name == "Alice"
    screenshots(alice, "e2e-home-empty")

    # B opens the link: first run, then "connect to Alice?", then the chat.
    onboard(bob, link, "Bob")
    screen(bob, "invite")
    assert "#" not in bob.url  # the fragment is taken out of the address bar
    expect(bob.locator("#invite-q")).to_have_text("Alice invites you to chat")
    screenshots(bob, "e2e-invite")
    bob.click("#invite-accept")
    screen(bob, "chat")
    expect(bob.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
    expect(bob.locator("#chat-title")).to_have_text("Alice")

    # A sees Bob under message requests (he called her), connected; she accepts him.
    contact = alice.locator("#requests .contact")
    expect(contact).to_have_attribute("data-state", "ready", timeout=STEP_MS)
    expect(contact.locator(".contact-name")).to_have_text("Bob")
    screenshots(alice, "e2e-home-contacts")
    contact.click()
    screen(alice, "chat")
    expect(alice.locator("#chat-status")).to_have_attribute("data-state", "ready")
    alice.click("#request-accept")
    expect(alice.locator("#request-panel")).to_be_hidden(timeout=STEP_MS)

    # Safety numbers: the same 60 digits on both sides, 12 groups of 5; each QR code (read back with the
    # bundle's jsQR) carries the shower's fingerprint, then the other's: the two are mirror images.
    digits, codes = [], []
    for page in (alice, bob):
        chat_menu(page)
        page.click("#chat-safety")
        screen(page, "safety")
        groups = page.locator("#safety-number .group").all_inner_texts()
        assert len(groups) == 12 and all(re.fullmatch(r"\d{5}", group) for group in groups)
        digits.append("".join(groups))
        page.add_script_tag(url="/static/vendor/jsqr/jsQR.js")
        codes.append(bytes(page.evaluate(READ_QR)))
    assert digits[0] == digits[1]
    assert len(codes[0]) == 65 and codes[0][0] == codes[1][0] == 1
    assert codes[0][1:33] == codes[1][33:] and codes[0][33:] == codes[1][1:33]
    screenshots(alice, "e2e-safety")
    alice.click("#safety-verify")
    expect(alice.locator("#safety-state")).to_have_attribute("data-verified", "yes", timeout=STEP_MS)
    for page in (alice, bob):
        page.click("#safety-back")
        screen(page, "chat")

    # Typing and receipts off: typing sends nothing, reading sends nothing beyond the delivery ack.
    before_a, before_b = quiet(alice, bob)
    alice.locator("#compose-text").press_sequentially("hello Bob, this is Alice", delay=20)
    time.sleep(1.0)
    assert sent_frames(alice) == before_a, "typing was sent although typing indicators are off"
    alice.press("#compose-text", "Enter")
    expect(message(bob, "hello Bob, this is Alice")).to_have_count(1, timeout=STEP_MS)
    after_a, after_b = quiet(alice, bob)
    assert (after_a - before_a, after_b - before_b) == (1, 1)  # the text; its delivery ack
    first = message(alice, "hello Bob, this is Alice")
    expect(first).to_have_attribute("data-status", "delivered", timeout=STEP_MS)
    expect(bob.locator("#chat-typing")).to_have_text("")
    send(bob, "hi Alice")
    expect(message(alice, "hi Alice")).to_have_count(1, timeout=STEP_MS)
    expect(message(bob, "hi Alice")).to_have_attribute("data-status", "delivered", timeout=STEP_MS)
    screenshots(alice, "e2e-chat")

    # Both turn typing indicators and read receipts on: they flow.
    for page, other in ((alice, "Bob"), (bob, "Alice")):
        set_privacy(page, typing=True, receipts=True)
        screenshots(page, "e2e-settings") if page is alice else None
        open_chat(page, other)
    before_a, _ = quiet(alice, bob)
    alice.locator("#compose-text").press_sequentially("are you there", delay=20)
    expect(bob.locator("#chat-typing")).to_have_text("Alice is typing…", timeout=STEP_MS)
    assert sent_frames(alice) > before_a
    screenshots(bob, "e2e-chat-typing")
    alice.press("#compose-text", "Enter")
    expect(message(alice, "are you there")).to_have_attribute("data-status", "read", timeout=STEP_MS)

    # A disappearing timer set by B applies to both; a message vanishes on both sides.
    chat_menu(bob)
    bob.select_option("#chat-timer", "30")
    expect(alice.locator("#chat-timer")).to_have_value("30", timeout=STEP_MS)
    expect(alice.locator("#messages .event")).to_have_text(
        "Bob set disappearing messages to 30 seconds.", timeout=STEP_MS
    )
    send(alice, "this message disappears")
    expect(message(bob, "this message disappears")).to_have_count(1, timeout=STEP_MS)
    screenshots(bob, "e2e-chat-disappearing")
    for page in (alice, bob):
        expect(message(page, "this message disappears")).to_have_count(0, timeout=60_000)
    chat_menu(bob)
    bob.select_option("#chat-timer", "0")
    expect(alice.locator("#chat-timer")).to_have_value("0", timeout=STEP_MS)

    # Delete for everyone.
    send(alice, "a message Alice regrets")
    expect(message(bob, "a message Alice regrets")).to_have_count(1, timeout=STEP_MS)
    message_menu(alice, "a message Alice regrets").locator(".delete").click()
    deleted = bob.locator("#messages .message.deleted")
    expect(deleted).to_have_count(1, timeout=STEP_MS)
    expect(message(bob, "a message Alice regrets")).to_have_count(0)

    # B reloads: the chat continues over a resumed session, no new full handshake.
    bob.reload()
    screen(bob, "home", START_MS)
    bob.locator("#contacts .contact", has_text="Alice").click()
    screen(bob, "chat")
    status = bob.locator("#chat-status")
    expect(status).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
    expect(status).to_have_attribute("data-resumed", "1")
    expect(status).to_have_attribute("data-full", "0")
    expect(alice.locator("#chat-status")).to_have_attribute("data-resumed", "1", timeout=STEP_MS)
    expect(alice.locator("#chat-status")).to_have_attribute("data-full", "1")
    expect(message(bob, "hello Bob, this is Alice")).to_have_count(1)  # history survived
    send(bob, "back after a reload")
    expect(message(alice, "back after a reload")).to_have_count(1, timeout=STEP_MS)
    send(alice, "welcome back")
    expect(message(bob, "welcome back")).to_have_count(1, timeout=STEP_MS)

    # At rest: B's raw IndexedDB holds no message text.
    records = bob.evaluate(DUMP_INDEXEDDB)
    assert len(records) > 5
    raw = "".join(records)
    for text in ("hello Bob, this is Alice", "hi Alice", "back after a reload", "welcome back", "Alice"):
        assert text.encode().hex() not in raw, f"{text!r} is stored in clear"
    problems = [line for log in logs for line in log if "pageerror" in line or "Content Security" in line]
    assert not problems, problems
