"""Connecting with no broker and no server (issue 14): a hand-carried, signed offer and answer.

Alice and Bob create their accounts while the server runs, and wait until each page's service worker
holds and serves the verified bundle. Then the server process is stopped, both pages are reloaded (the
service worker serves them; ``/healthz`` fails, so nothing else could have), and:

* Bob pastes a tampered copy of Alice's offer (one character changed): refused with the clear message,
  no contact is created;
* Bob scans Alice's offer QR code with his (fake) camera, gets his answer as text and as a QR code (the
  QR code carries exactly the text's bytes);
* Alice pastes a tampered copy of Bob's answer (refused, her offer keeps waiting), then the real one:
  both chats open and are ready (the session's handshake ran over the channel), texts go both ways, and
  a PNG goes from Alice to Bob (Bob's saved copy has the sent SHA-256, the progress reaches 100% on both
  sides).

Bob's Chromium films a video file as its camera (``tests/browser/test_app_scan.py``, ``FakeCamera``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, Page, Playwright, expect

from pyfront.messaging.manual_signaling import MANUAL_SIGNALING_VERSION
from tests.browser.app_steps import CONNECT_MS, START_MS, STEP_MS, message, onboard, screen, screenshots, send
from tests.browser.test_app_files import complete, png, received_sha256
from tests.browser.test_app_scan import FakeCamera, read_qr
from tests.rig.browser import BrowserContextFactory, console_log, require_loopback_namespace
from tests.rig.server import LiveServerFactory

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_manual")]

SW_MS = 60_000


@pytest.fixture
def fake_camera(playwright_session: Playwright, tmp_path: Path) -> Iterator[FakeCamera]:
    require_loopback_namespace()
    camera = FakeCamera(playwright_session, tmp_path / "camera.y4m")
    yield camera
    with contextlib.suppress(Exception):
        camera.browser.close()
    if camera.guard.external:
        pytest.fail(f"the page tried to reach non-loopback hosts: {camera.guard.external}", pytrace=False)


def installed(page: Page, url: str, name: str) -> None:
    """Create the account and wait until the service worker holds the bundle and controls the page."""
    onboard(page, url, name)
    screen(page, "home", START_MS)
    html = page.locator("html")
    expect(html).to_have_attribute("data-sw-state", "ready", timeout=SW_MS)
    expect(html).to_have_attribute("data-sw-controlled", "yes", timeout=SW_MS)


def reload_offline(page: Page) -> None:
    page.reload()
    screen(page, "home", START_MS)
    assert page.evaluate("fetch('/healthz').then(r => r.status, () => 'offline')") == "offline"


def tampered(text: str, index: int) -> str:
    replacement = "B" if text[index] != "B" else "C"
    return text[:index] + replacement + text[index + 1 :]


def packet(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.timeout(600)
def test_two_installed_pages_connect_with_the_server_stopped(
    live_server_factory: LiveServerFactory,
    browser_context: BrowserContextFactory,
    fake_camera: FakeCamera,
    tmp_path: Path,
) -> None:
    server = live_server_factory()
    alice = browser_context().new_page()
    bob = fake_camera.context().new_page()
    console_log(alice), console_log(bob)
    installed(alice, server.url, "Alice")
    installed(bob, server.url, "Bob")

    server.stop()
    reload_offline(alice)
    reload_offline(bob)
    expect(alice.locator("#broker-status")).to_have_attribute("data-state", "unreachable", timeout=STEP_MS)

    alice.click("#manual-open")
    screen(alice, "manual")
    alice.click("#manual-create")
    offer_text = alice.locator("#manual-offer-text")
    expect(offer_text).not_to_have_value("", timeout=STEP_MS)
    offer = offer_text.input_value()
    assert packet(offer)[0] == MANUAL_SIGNALING_VERSION
    assert len(offer) < 500  # compact enough to paste anywhere and to scan
    assert read_qr(alice, "#manual-offer-qr") == packet(offer)
    screenshots(alice, "manual-offer")

    # A changed offer is refused, plainly, and nothing is added.
    bob.click("#manual-open")
    screen(bob, "manual")
    bob.fill("#manual-offer-input", tampered(offer, len(offer) // 2))
    bob.click("#manual-offer-submit")
    error = bob.locator("#manual-error")
    expect(error).to_be_visible(timeout=STEP_MS)
    expect(error).to_contain_text("changed or damaged on the way")
    expect(bob.locator("#manual-offer-input")).to_be_visible()
    screenshots(bob, "manual-offer-tampered")

    # The real offer, scanned from Alice's screen.
    fake_camera.show(packet(offer))
    bob.click("#manual-offer-scan")
    answer_text = bob.locator("#manual-answer-text")
    expect(answer_text).not_to_have_value("", timeout=STEP_MS)
    expect(bob.locator("#manual-status")).to_contain_text("Offer from Alice checked")
    answer = answer_text.input_value()
    assert read_qr(bob, "#manual-answer-qr") == packet(answer)
    screenshots(bob, "manual-answer")

    # A changed answer is refused too, and the offer keeps waiting for the right one.
    alice.fill("#manual-answer-input", tampered(answer, len(answer) // 3))
    alice.click("#manual-answer-submit")
    expect(alice.locator("#manual-error")).to_contain_text("changed or damaged on the way", timeout=STEP_MS)
    expect(alice.locator("#manual-status")).to_have_attribute("data-state", "offered")

    alice.fill("#manual-answer-input", answer)
    alice.click("#manual-answer-submit")
    for page, other in ((alice, "Bob"), (bob, "Alice")):
        screen(page, "chat", CONNECT_MS)
        expect(page.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
        expect(page.locator("#chat-title")).to_have_text(other)

    send(alice, "Hello Bob, no server here")
    expect(message(bob, "Hello Bob, no server here")).to_have_count(1, timeout=STEP_MS)
    send(bob, "Hello Alice, none at all")
    expect(message(alice, "Hello Alice, none at all")).to_have_count(1, timeout=STEP_MS)

    # A file, still with no server: the bytes Bob saves are the bytes Alice sent.
    image = png(320, 200)
    payload: FilePayload = {"name": "offline.png", "mimeType": "image/png", "buffer": image}
    alice.set_input_files("#compose-file", files=[payload])
    for page in (alice, bob):
        complete(page, "offline.png")
    assert received_sha256(bob, "offline.png", tmp_path) == hashlib.sha256(image).hexdigest()
    screenshots(alice, "manual-chat")
