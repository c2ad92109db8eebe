"""Firefox and Chromium talk to each other (issue 16, item 8): mixed ML-KEM providers, one conversation.

Alice uses Debian's firefox-esr (tests/rig/firefox.py), with a passphrase; Bob uses Debian's Chromium
(Playwright, tests/rig/browser.py). Bob opens her invite link and connects (Chromium makes the WebRTC
offer, Firefox answers; his chat then offers a backup, and that prompt's buttons fit his 360 px screen);
she accepts his request; they write both ways. Firefox's ML-KEM runs on noble,
Chromium's on WebCrypto (``html[data-mlkem]``), so every ML-KEM ratchet step of this chat crosses the two
implementations. A picture goes each way, picked with the file button, and the receiver's Download
saves the very bytes that were sent. Alice reloads and unlocks: Firefox now dials Chromium (the offer
the other way round), the session resumes, and they write both ways again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, expect

from tests.browser.app_steps import CONNECT_MS, PHONE, STEP_MS
from tests.browser.app_steps import message as chromium_message
from tests.browser.app_steps import onboard as chromium_onboard
from tests.browser.app_steps import screen as chromium_screen
from tests.browser.app_steps import send as chromium_send
from tests.browser.files_steps import complete, png, received_sha256, stored_encrypted_on_disk
from tests.browser.firefox_steps import (
    OUTSIDE_VIEWPORT,
    accept_request,
    attachment_complete,
    download,
    invite_link,
    message_count,
    message_status,
    reload_and_resume,
    script_problems,
    send,
)
from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.firefox import FirefoxFactory
from tests.rig.server import LiveServerFactory

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("firefox")]

PASSPHRASE = "correct horse battery"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_firefox_and_chromium_chat_both_ways_with_noble_and_webcrypto_ml_kem(
    live_server_factory: LiveServerFactory,
    firefox: FirefoxFactory,
    browser_context: BrowserContextFactory,
    tmp_path: Path,
) -> None:
    server = live_server_factory()
    alice_browser = firefox(server.url)
    alice = alice_browser.new_page()
    bob = browser_context(viewport=PHONE).new_page()
    bob_log = console_log(bob)

    link = invite_link(alice, server.url, "Alice", PASSPHRASE)

    chromium_onboard(bob, link, "Bob")
    chromium_screen(bob, "invite")
    bob.click("#invite-accept")
    chromium_screen(bob, "chat")
    expect(bob.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
    # With a contact and no backup, the chat offers one; at phone width its buttons are on the screen.
    expect(bob.locator("#backup-prompt button")).to_have_count(2, timeout=STEP_MS)
    outside = bob.evaluate(OUTSIDE_VIEWPORT, "#backup-prompt, #backup-prompt button")
    assert not outside, outside

    accept_request(alice, "Bob")
    assert alice.attribute("html", "data-mlkem") == "noble"
    expect(bob.locator("html")).to_have_attribute("data-mlkem", "webcrypto")

    send(alice, "hello Chromium, this is Firefox")
    expect(chromium_message(bob, "hello Chromium, this is Firefox")).to_have_count(1, timeout=STEP_MS)
    chromium_send(bob, "hello Firefox, Chromium here")
    message_count(alice, "hello Firefox, Chromium here", 1)
    message_status(alice, "hello Chromium, this is Firefox", "delivered")
    expect(chromium_message(bob, "hello Firefox, Chromium here")).to_have_attribute(
        "data-status", "delivered", timeout=STEP_MS
    )
    alice.screenshot("firefox-chromium-chat-360")

    # A picture each way, picked with the file button; each side saves the other's with its Download
    # button and gets the same bytes (File, Blob and download paths differ between the two browsers).
    from_firefox, from_chromium = png(320, 200), png(200, 120)
    (tmp_path / "from-firefox.png").write_bytes(from_firefox)
    alice.upload("#compose-file", tmp_path / "from-firefox.png")
    complete(bob, "from-firefox.png")
    assert received_sha256(bob, "from-firefox.png", tmp_path) == sha256(from_firefox)
    picked: FilePayload = {"name": "from-chromium.png", "mimeType": "image/png", "buffer": from_chromium}
    bob.set_input_files("#compose-file", files=[picked])
    attachment_complete(alice, "from-chromium.png")
    assert sha256(download(alice_browser, alice, "from-chromium.png", len(from_chromium))) == sha256(
        from_chromium
    )
    attachment_complete(alice, "from-firefox.png")  # her own side says sent, 100%
    # Firefox keeps the received picture as ciphertext in its Origin Private File System.
    received_id = alice.evaluate(
        """(name) => [...document.querySelectorAll(".attachment")]
            .find((node) => node.textContent.includes(name)).getAttribute("data-file-id")""",
        "from-chromium.png",
    )
    stored_encrypted_on_disk(alice.evaluate, str(received_id), from_chromium)

    # Alice reloads Firefox and unlocks; Firefox dials Chromium this time and the session resumes.
    reload_and_resume(alice, PASSPHRASE, "Bob")
    message_count(alice, "hello Firefox, Chromium here", 1)  # history survived the reload
    send(alice, "Firefox is back")
    expect(chromium_message(bob, "Firefox is back")).to_have_count(1, timeout=STEP_MS)
    chromium_send(bob, "welcome back, Firefox")
    message_count(alice, "welcome back, Firefox", 1)

    assert not script_problems(alice_browser), script_problems(alice_browser)
    problems = [line for line in bob_log if "pageerror" in line or "Content Security" in line]
    assert not problems, problems
