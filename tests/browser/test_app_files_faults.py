"""File transfers under faults, in the real app (issue 14, part 1): Chromium, our server, loopback only.

Alice sends files to Bob while the test breaks things on the way, with an init script in Alice's page
that wraps ``RTCDataChannel.prototype.send`` (it sees every frame her page sends, and counts the
``FileChunk`` frames):

* the data channel is closed mid-transfer: both sides reconnect, Bob asks for the chunks from what he
  stored, the file completes with the sent SHA-256, and far fewer chunk frames were sent than two full
  copies (it resumed, it did not start over);
* Bob's page is reloaded mid-transfer: the same, from his stored count;
* one chunk is tampered with (a flipped bit), dropped, or sent after the next one: Bob's page reports it
  ("failed authentication", "out of order"), Alice's says the file was refused as damaged, Bob has no
  Download button and his ``parley-files`` database holds no record of that file;
* Bob presses Cancel during a transfer: both sides show it cancelled, and he keeps nothing of it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.app_steps import STEP_MS, connect_by_invite, screen
from tests.browser.files_steps import (
    STORED_RECORDS,
    TRANSFER_MS,
    attachment,
    complete,
    open_request_and_accept,
    received_sha256,
)
from tests.rig.browser import BrowserContextFactory, console_log, save_screenshot
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_files_faults")]

CHUNK = 64 * 1024

#: Runs in Alice's page before any page script: counts FileChunk frames and applies ``window.__fault``.
FAULTS = """
(() => {
  window.__fault = null;
  window.__chunkFrames = 0;
  window.__channels = new Set();
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    window.__channels.add(this);
    if (data instanceof Uint8Array && data.length >= 22 && data[0] === 1 && data[1] === 7) {
      window.__chunkFrames += 1;
      const fault = window.__fault;
      const index = new DataView(data.buffer, data.byteOffset).getUint32(18);
      if (fault && fault.kind === "flip" && index === fault.index) {
        window.__fault = null;
        const copy = data.slice();
        copy[copy.length - 1] ^= 1;
        return send.call(this, copy);
      }
      if (fault && fault.kind === "drop" && index === fault.index) {
        window.__fault = null;
        return undefined;
      }
      if (fault && fault.kind === "reorder" && index === fault.index) {
        fault.held = data.slice();
        return undefined;
      }
      if (fault && fault.kind === "reorder" && index === fault.index + 1 && fault.held) {
        window.__fault = null;
        send.call(this, data);
        return send.call(this, fault.held);
      }
    }
    return send.call(this, data);
  };
})();
"""


def send_file(page: Page, tmp_path: Path, name: str, size: int) -> str:
    path = tmp_path / name
    data = os.urandom(size)
    path.write_bytes(data)
    page.set_input_files("#compose-file", str(path))
    return hashlib.sha256(data).hexdigest()


def wait_progress(page: Page, name: str, percent: int) -> None:
    page.wait_for_function(
        "([name, percent]) => [...document.querySelectorAll('#messages .attachment')].some("
        "(f) => f.textContent.includes(name) && Number(f.querySelector('.attachment-bar').value) >= percent)",
        arg=[name, percent],
        timeout=TRANSFER_MS,
    )


@pytest.mark.timeout(900)
def test_transfers_resume_after_a_closed_channel_and_a_reload_and_damage_is_refused(
    live_server: LiveServer, browser_context: BrowserContextFactory, tmp_path: Path
) -> None:
    alice_context, bob_context = browser_context(), browser_context()
    alice_context.add_init_script(FAULTS)
    alice, bob = alice_context.new_page(), bob_context.new_page()
    logs = [console_log(alice), console_log(bob)]
    connect_by_invite(alice, bob, live_server.url)
    open_request_and_accept(alice)

    # 1. The data channel closes mid-transfer.
    size = 24 * 1024 * 1024
    chunks = size // CHUNK
    sent = send_file(alice, tmp_path, "cut.bin", size)
    wait_progress(bob, "cut.bin", 25)
    resumed = int(bob.locator("#chat-status").get_attribute("data-resumed") or 0)
    alice.evaluate("() => { for (const channel of window.__channels) channel.close(); }")
    # Bob sees the link go: not ready, or (when the redial is quicker than a look) one more resumed session.
    bob.wait_for_function(
        "(before) => { const s = document.querySelector('#chat-status');"
        " return s.dataset.state !== 'ready' || Number(s.dataset.resumed) > before; }",
        arg=resumed,
        timeout=STEP_MS,
    )
    complete(bob, "cut.bin")
    complete(alice, "cut.bin")
    assert received_sha256(bob, "cut.bin", tmp_path) == sent
    frames = int(alice.evaluate("() => window.__chunkFrames"))
    assert chunks <= frames < chunks * 1.8, f"{frames} chunk frames for {chunks} chunks: it did not resume"

    # 2. The receiving page reloads mid-transfer.
    alice.evaluate("() => { window.__chunkFrames = 0; }")
    sent = send_file(alice, tmp_path, "reload.bin", size)
    wait_progress(bob, "reload.bin", 25)
    bob.reload()
    screen(bob, "home", 120_000)
    bob.locator("#contacts .contact", has_text="Alice").click()
    screen(bob, "chat")
    complete(bob, "reload.bin")
    complete(alice, "reload.bin")
    assert received_sha256(bob, "reload.bin", tmp_path) == sent
    frames = int(alice.evaluate("() => window.__chunkFrames"))
    assert chunks <= frames < chunks * 1.8, f"{frames} chunk frames for {chunks} chunks: it did not resume"
    save_screenshot(bob, "files-faults-resumed")

    # 3. A tampered, a dropped and a reordered chunk: reported, refused, nothing kept.
    for kind, words in (
        ("flip", "chunk 3 failed authentication"),
        ("drop", "chunk 4 out of order: chunk 3 is missing"),
        ("reorder", "chunk 4 out of order: chunk 3 is missing"),
    ):
        name = f"{kind}.bin"
        alice.evaluate("(kind) => { window.__fault = { kind, index: 3 }; }", kind)
        send_file(alice, tmp_path, name, 40 * CHUNK)
        figure = attachment(bob, name)
        expect(figure).to_have_attribute("data-phase", "failed", timeout=TRANSFER_MS)
        expect(figure.locator(".attachment-status")).to_contain_text(words)
        expect(figure.locator(".attachment-status")).to_have_attribute("role", "alert")
        expect(figure.locator(".attachment-download")).to_be_hidden()
        sender = attachment(alice, name)
        expect(sender).to_have_attribute("data-phase", "cancelled", timeout=STEP_MS)
        expect(sender.locator(".attachment-status")).to_contain_text("damaged in transit")
        file_id = str(figure.get_attribute("data-file-id"))
        assert bob.evaluate(STORED_RECORDS, file_id) == 0
    save_screenshot(bob, "files-faults-refused")

    # 4. Bob cancels a transfer under way: both sides say so, nothing of it stays on Bob's side. The file
    # is large enough that the transfer is still under way when the click lands (24 MiB could finish
    # between the 10% mark and a click that waits for the re-rendered button on a quiet machine).
    send_file(alice, tmp_path, "cancel.bin", 8 * size)
    wait_progress(bob, "cancel.bin", 2)
    attachment(bob, "cancel.bin").locator(".attachment-cancel").click()
    for page in (bob, alice):
        figure = attachment(page, "cancel.bin")
        expect(figure).to_have_attribute("data-phase", "cancelled", timeout=STEP_MS)
        expect(figure.locator(".attachment-status")).to_contain_text("Not transferred: cancelled")
        expect(figure.locator(".attachment-cancel")).to_be_hidden()
    file_id = str(attachment(bob, "cancel.bin").get_attribute("data-file-id"))
    bob.wait_for_timeout(2000)  # any chunk still on the way is dropped, not stored
    assert bob.evaluate(STORED_RECORDS, file_id) == 0
    save_screenshot(alice, "files-faults-sender")
    for log in logs:
        assert not [line for line in log if "Content Security Policy" in line], log
