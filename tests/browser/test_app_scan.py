"""Scanning QR codes with the camera in the real app (issue 8): an invite, then the safety number.

Bob's Chromium has a fake camera that films a video file: ``--use-fake-device-for-media-stream
--use-fake-ui-for-media-stream --use-file-for-fake-video-capture=<file.y4m>``. The test writes that file
(YUV4MPEG2: a text header, then raw 4:2:0 frames, written with the standard library) from a QR code made
with ``segno`` of bytes read back from Alice's screen (her home's invite QR and her safety QR, decoded
from their canvases with the bundle's jsQR), and rewrites it between scans: Chromium opens the file
each time the page starts the camera. Alice runs in the rig's shared browser; Bob's browser is launched
here with the rig's flags plus the camera ones (the shared fixture is left as it is).

Bob scans a QR code that is no invite (a clear message, scanning goes on, Back leaves), then Alice's
invite: the same "connect to Alice?" prompt as a link, and they connect. On the safety screen he scans
a code that is not a safety number (refused, not verified), a safety code made for other keys (a clear
"does NOT match", still not verified), and Alice's real code: verified. Screenshots at 360 and 1280 px.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Request,
    expect,
)

from pyfront.messaging.invite import parse_link
from pyfront.session.identity import SAFETY_QR_LENGTH, SAFETY_QR_VERSION
from tests.browser.app_steps import CONNECT_MS, PHONE, STEP_MS, chat_menu, onboard, screen, screenshots
from tests.rig.browser import (
    CHROMIUM_ARGS,
    CHROMIUM_PATH,
    BrowserContextFactory,
    RequestGuard,
    console_log,
    require_loopback_namespace,
)
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_scan")]

JSQR_URL = "/static/vendor/jsqr/jsQR.js"

#: The fake camera's picture: 640x480 (Chromium's default capture size), 10 frames a second.
VIDEO_WIDTH, VIDEO_HEIGHT, VIDEO_FPS, VIDEO_FRAMES = 640, 480, 10, 4
#: Luma of dark and light QR modules (video range), and neutral chroma.
DARK, LIGHT, NEUTRAL = 16, 235, 128

#: The bytes of a QR code drawn on a canvas of the page, decoded by jsQR (as a person's camera would).
READ_QR = """
(selector) => {
  const canvas = document.querySelector(selector);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  const code = jsQR(pixels.data, canvas.width, canvas.height);
  return code ? Array.from(code.binaryData) : [];
}
"""


def y4m_of_qr(payload: bytes) -> bytes:
    """A short YUV4MPEG2 video (4:2:0) whose every frame shows ``payload`` as a QR code on white."""
    code = segno.make(payload, micro=False)
    rows = [[bool(module) for module in row] for row in code.matrix_iter(border=4)]
    scale = min(VIDEO_WIDTH, VIDEO_HEIGHT) * 9 // 10 // len(rows)
    side = len(rows) * scale
    left, top = (VIDEO_WIDTH - side) // 2, (VIDEO_HEIGHT - side) // 2
    luma = bytearray([LIGHT]) * (VIDEO_WIDTH * VIDEO_HEIGHT)
    for y, row in enumerate(rows):
        line = bytes(DARK if dark else LIGHT for dark in row for _ in range(scale))
        for dy in range(scale):
            start = (top + y * scale + dy) * VIDEO_WIDTH + left
            luma[start : start + side] = line
    chroma = bytes([NEUTRAL]) * ((VIDEO_WIDTH // 2) * (VIDEO_HEIGHT // 2))
    header = f"YUV4MPEG2 W{VIDEO_WIDTH} H{VIDEO_HEIGHT} F{VIDEO_FPS}:1 Ip A1:1 C420jpeg\n".encode()
    return header + (b"FRAME\n" + bytes(luma) + chroma + chroma) * VIDEO_FRAMES


class FakeCamera:
    """A Chromium whose camera films ``video``; ``show(payload)`` changes what the next scan sees."""

    def __init__(self, playwright: Playwright, video: Path) -> None:
        self.video = video
        self.show(b"nothing to see yet")
        self.browser: Browser = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH,
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
            headless=True,
        )
        self.guard = RequestGuard()

    def show(self, payload: bytes) -> None:
        staging = self.video.with_suffix(".tmp")
        staging.write_bytes(y4m_of_qr(payload))
        os.replace(staging, self.video)  # never a half-written file under Chromium's nose

    def _record(self, request: Request) -> None:
        self.guard.check(request.url)

    def context(self, **kwargs: object) -> BrowserContext:
        context = self.browser.new_context(**kwargs)  # type: ignore[arg-type]
        context.grant_permissions(["camera"])
        self.guard.install(context)
        context.on("request", self._record)
        return context


@pytest.fixture
def fake_camera(playwright_session: Playwright, tmp_path: Path) -> Iterator[FakeCamera]:
    require_loopback_namespace()
    camera = FakeCamera(playwright_session, tmp_path / "camera.y4m")
    yield camera
    with contextlib.suppress(Exception):
        camera.browser.close()
    if camera.guard.external:
        pytest.fail(f"the page tried to reach non-loopback hosts: {camera.guard.external}", pytrace=False)


def test_y4m_frames_have_the_declared_size() -> None:
    video = y4m_of_qr(b"x")
    header, _, body = video.partition(b"\n")
    assert header == b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg"
    frame = len(b"FRAME\n") + VIDEO_WIDTH * VIDEO_HEIGHT * 3 // 2
    assert len(body) == frame * VIDEO_FRAMES and body.startswith(b"FRAME\n")
    luma = body[6 : 6 + VIDEO_WIDTH * VIDEO_HEIGHT]
    assert set(luma) == {DARK, LIGHT}


def onboard_online(page: Page, url: str, name: str) -> None:
    """Create the account, then wait for home with the broker online."""
    onboard(page, url, name)
    screen(page, "home")
    expect(page.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)


def read_qr(page: Page, selector: str) -> bytes:
    page.add_script_tag(url=JSQR_URL)
    return bytes(page.evaluate(READ_QR, selector))


def scan(page: Page, button: str, camera: FakeCamera, payload: bytes) -> None:
    """Put ``payload`` in front of the camera and press ``button`` (a good code leaves "scan" at once)."""
    camera.show(payload)
    page.click(button)


def test_scan_an_invite_then_the_safety_number(
    live_server: LiveServer, browser_context: BrowserContextFactory, fake_camera: FakeCamera
) -> None:
    alice = browser_context(viewport=PHONE).new_page()
    bob = fake_camera.context(viewport=PHONE).new_page()
    logs = [console_log(alice), console_log(bob)]
    onboard_online(alice, live_server.url, "Alice")
    onboard_online(bob, live_server.url, "Bob")

    # Alice's home shows her invite link as a QR code too.
    link = alice.locator("#invite-link").input_value()
    invite_code = read_qr(alice, "#invite-qr")
    assert invite_code == link.encode()
    assert parse_link(invite_code.decode()).name == "Alice"

    # A QR code that is no invite: said so, the camera keeps looking; Back leaves the camera screen.
    scan(bob, "#scan-open", fake_camera, b"https://example.org/not-an-invite")
    expect(bob.locator("#scan-state")).to_have_attribute("data-state", "scanning", timeout=STEP_MS)
    expect(bob.locator("#scan-error")).to_contain_text("not a Parley invite", timeout=STEP_MS)
    screenshots(bob, "scan-invite-refused")
    bob.click("#scan-cancel")
    screen(bob, "home")

    # Alice's invite code: the same prompt as an opened link, then a connection checked end to end.
    scan(bob, "#scan-open", fake_camera, invite_code)
    screen(bob, "invite")
    expect(bob.locator("#invite-q")).to_have_text("Alice invites you to chat")
    bob.click("#invite-accept")
    screen(bob, "chat")
    expect(bob.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
    contact = alice.locator("#requests .contact")  # Bob called her: a message request (safety works too)
    expect(contact).to_have_attribute("data-state", "ready", timeout=STEP_MS)
    contact.click()
    screen(alice, "chat")
    chat_menu(alice)
    alice.click("#chat-safety")
    screen(alice, "safety")
    safety_code = read_qr(alice, "#safety-qr")
    assert len(safety_code) == SAFETY_QR_LENGTH

    chat_menu(bob)
    bob.click("#chat-safety")
    screen(bob, "safety")
    verified = bob.locator("#safety-state")
    expect(verified).to_have_attribute("data-verified", "no")

    # Not a safety code at all (her invite): refused on the camera screen, scanning goes on.
    scan(bob, "#safety-scan", fake_camera, invite_code)
    expect(bob.locator("#scan-error")).to_contain_text("not a Parley safety number", timeout=STEP_MS)
    screenshots(bob, "scan-safety-camera")
    bob.click("#scan-cancel")
    screen(bob, "safety")
    expect(verified).to_have_attribute("data-verified", "no")

    # A well-formed safety code for other keys: a clear mismatch, and Bob is not marked verified.
    forged = bytes([SAFETY_QR_VERSION]) + secrets.token_bytes(SAFETY_QR_LENGTH - 1)
    scan(bob, "#safety-scan", fake_camera, forged)
    screen(bob, "safety")
    result = bob.locator("#safety-scan-result")
    expect(result).to_have_attribute("data-state", "failed")
    expect(result).to_contain_text("does NOT match")
    expect(verified).to_have_attribute("data-verified", "no")
    screenshots(bob, "scan-safety-mismatch")

    # Alice's real code: it matches, and only now is she verified.
    scan(bob, "#safety-scan", fake_camera, safety_code)
    screen(bob, "safety")
    expect(result).to_have_attribute("data-state", "ready")
    expect(result).to_have_text("The codes match: Alice is verified.")
    expect(verified).to_have_attribute("data-verified", "yes")
    screenshots(bob, "scan-safety-match")
    # Verification is Bob's own statement: Alice's side is unchanged until she checks too.
    expect(alice.locator("#safety-state")).to_have_attribute("data-verified", "no")

    problems = [line for log in logs for line in log if "pageerror" in line or "Content Security" in line]
    assert not problems, problems


def test_no_camera_says_so_and_the_link_still_works(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    """The rig's shared Chromium has no camera at all: the scan screen says so instead of hanging."""
    page = browser_context(viewport=PHONE).new_page()
    onboard_online(page, live_server.url, "Dana")
    page.click("#scan-open")
    screen(page, "scan")
    expect(page.locator("#scan-state")).to_have_attribute("data-state", "failed", timeout=STEP_MS)
    expect(page.locator("#scan-error")).to_have_text(
        "No camera was found on this device. Paste the link instead.", timeout=STEP_MS
    )
    expect(page.locator("#scan-video")).to_be_hidden()
    screenshots(page, "scan-no-camera")
    page.click("#scan-cancel")
    screen(page, "home")
