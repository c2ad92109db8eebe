"""Files between two real app pages (issue 14, part 1): Chromium, our server and broker, loopback only.

A PNG (picked with the file button) and a 50 MB file (dropped on the chat) go from Bob to Alice; an
animated GIF (pasted into the composer) and a WebM video (recorded in the page by MediaRecorder from a
canvas, picked) go from Alice to Bob. For each: the received bytes' SHA-256 equals the sent file's
(read back from the receiver's own preview or download), the progress shows 100% on both sides, images
and the GIF render (``naturalWidth``), and the video plays (``currentTime`` advances). The sender's page
stores its own encrypted copy once its sends end: after Alice reloads, the GIF she sent still shows and
downloads with the same bytes. Screenshots go to test-artifacts/ (``files-*``).
"""

from __future__ import annotations

import hashlib
import re
import struct
import time
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, expect

from tests.browser.app_steps import STEP_MS, connect_by_invite, screen
from tests.browser.files_steps import (
    STORED_RECORDS,
    TRANSFER_MS,
    complete,
    noise_png,
    open_request_and_accept,
    png,
    received_sha256,
    stored_encrypted_on_disk,
)
from tests.rig.browser import BrowserContextFactory, console_log, save_screenshot
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_files")]

BIG_BYTES = 50 * 1000 * 1000
BLOB_URL = re.compile(r"^blob:")


def gif() -> bytes:
    """An animated GIF, two 16x16 frames (red, blue) looping, 0.2 s each."""
    palette = bytes((255, 0, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255))  # 4 colours (2-bit)
    out = b"GIF89a" + struct.pack("<HHBBB", 16, 16, 0xF1, 0, 0) + palette
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for colour in (0, 1):
        out += b"\x21\xf9\x04\x00" + struct.pack("<H", 20) + b"\x00\x00"
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 16, 16, 0)
        out += b"\x02" + _sub_blocks(_lzw_solid(colour, 256)) + b"\x00"
    return out + b"\x3b"


def _lzw_solid(colour: int, count: int) -> bytes:
    """LZW (min code size 2) of ``count`` pixels of ``colour``: clear, the pixels as literals, end."""
    codes = [4] + [colour] * count + [5]
    bits, width, table = 0, 3, 6
    value = 0
    for index, code in enumerate(codes):
        value |= code << bits
        bits += width
        if 0 < index < len(codes) - 1:
            table += 1
            if table == (1 << width) and width < 12:
                width += 1
    return value.to_bytes((bits + 7) // 8, "little")


def _sub_blocks(data: bytes) -> bytes:
    return b"".join(bytes((len(data[i : i + 255]),)) + data[i : i + 255] for i in range(0, len(data), 255))


#: A WebM recorded in the page: a canvas animation through MediaRecorder (no download, no fixture).
RECORD_WEBM = """
async (ms) => {
  const canvas = document.createElement("canvas");
  canvas.width = 160; canvas.height = 120;
  const context = canvas.getContext("2d");
  const stream = canvas.captureStream(25);
  const recorder = new MediaRecorder(stream, { mimeType: "video/webm;codecs=vp8" });
  const parts = [];
  recorder.ondataavailable = (event) => parts.push(event.data);
  let frame = 0;
  const timer = setInterval(() => {
    context.fillStyle = `hsl(${(frame * 12) % 360} 80% 50%)`;
    context.fillRect(0, 0, 160, 120);
    context.fillStyle = "white";
    context.fillRect((frame * 4) % 160, 40, 30, 30);
    frame += 1;
  }, 40);
  recorder.start();
  await new Promise((resolve) => setTimeout(resolve, ms));
  await new Promise((resolve) => { recorder.onstop = resolve; recorder.stop(); });
  clearInterval(timer);
  const blob = new Blob(parts, { type: "video/webm" });
  const bytes = new Uint8Array(await blob.arrayBuffer());
  window.__webm = new File([bytes], "clip.webm", { type: "video/webm" });
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
"""

#: A 50 MB file of random bytes made in the page, dropped on the chat as a person would drag it in.
DROP_BIG = """
async (size) => {
  const parts = [];
  for (let done = 0; done < size; done += 65536) {
    const piece = new Uint8Array(Math.min(65536, size - done));
    crypto.getRandomValues(piece);
    parts.push(piece);
  }
  const file = new File(parts, "big.bin", { type: "application/octet-stream" });
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
  const transfer = new DataTransfer();
  transfer.items.add(file);
  const drop = new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true });
  document.querySelector("#chat").dispatchEvent(drop);
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
"""

#: Paste a file into the composer (a ClipboardEvent carrying it, as the browser builds one).
PASTE_FILE = """
([bytes, name, type]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([new Uint8Array(bytes)], name, { type }));
  document.querySelector("#compose-text").dispatchEvent(
    new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true }));
}
"""


#: Resolves once this page has stored its own copy of every file it sent (static/js/files.js ``busy()``,
#: the app's module instance: imported by the same URL), and its Python side has recorded it.
SENDER_COPIES_STORED = """
async () => {
  const files = await import("/static/js/files.js");
  while (files.busy() > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 500));
}
"""

#: Records every image source a file bubble takes in this page (the thumbnail first, then the full image).
IMAGE_SOURCES = """
(() => {
  window.__sources = [];
  new MutationObserver((records) => {
    for (const record of records) {
      const node = record.target;
      if (record.type === "attributes" && node.matches && node.matches(".attachment img")) {
        window.__sources.push(node.getAttribute("src").slice(0, 24));
      }
      for (const added of record.addedNodes || []) {
        if (added.nodeType !== 1) continue;
        for (const image of added.querySelectorAll(".attachment img[src]")) {
          window.__sources.push(image.getAttribute("src").slice(0, 24));
        }
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["src"] });
})();
"""


@pytest.mark.timeout(600)
def test_files_images_gif_video_and_50_mb_both_ways(
    live_server: LiveServer, browser_context: BrowserContextFactory, tmp_path: Path
) -> None:
    contexts = [browser_context(), browser_context()]
    contexts[0].add_init_script(IMAGE_SOURCES)
    alice, bob = (context.new_page() for context in contexts)
    logs = [console_log(alice), console_log(bob)]
    connect_by_invite(alice, bob, live_server.url)
    open_request_and_accept(alice)

    # Bob -> Alice: a PNG with the file button, then 50 MB dropped on the chat.
    image = png(640, 400)
    payload: FilePayload = {"name": "gradient.png", "mimeType": "image/png", "buffer": image}
    bob.set_input_files("#compose-file", files=[payload])
    big_sha = str(bob.evaluate(DROP_BIG, BIG_BYTES))
    for page in (alice, bob):
        complete(page, "gradient.png")
    picture = alice.locator(".attachment").filter(has_text="gradient.png").locator("img")
    expect(picture).to_have_js_property("naturalWidth", 640, timeout=STEP_MS)
    assert received_sha256(alice, "gradient.png", tmp_path) == hashlib.sha256(image).hexdigest()
    for page in (alice, bob):
        complete(page, "big.bin")
    assert received_sha256(alice, "big.bin", tmp_path) == big_sha
    save_screenshot(alice, "files-alice-received")

    # Alice -> Bob: an animated GIF pasted into the composer, a WebM recorded in her page.
    animation = gif()
    alice.evaluate(PASTE_FILE, [list(animation), "spin.gif", "image/gif"])
    webm_sha = str(alice.evaluate(RECORD_WEBM, 2000))
    alice.evaluate(
        "() => { const t = new DataTransfer(); t.items.add(window.__webm);"
        " const input = document.querySelector('#compose-file'); input.files = t.files;"
        " input.dispatchEvent(new Event('change')); }"
    )
    for page in (alice, bob):
        complete(page, "spin.gif")
        complete(page, "clip.webm")
    assert received_sha256(bob, "spin.gif", tmp_path) == hashlib.sha256(animation).hexdigest()
    assert received_sha256(bob, "clip.webm", tmp_path) == webm_sha
    gif_node = bob.locator(".attachment").filter(has_text="spin.gif").locator("img")
    expect(gif_node).to_have_js_property("naturalWidth", 16, timeout=STEP_MS)
    video = bob.locator(".attachment").filter(has_text="clip.webm").locator("video")
    expect(video).to_have_js_property("controls", True)
    video.evaluate("(v) => { v.muted = true; return v.play(); }")
    bob.wait_for_function("(v) => v.currentTime > 0.3", arg=video.element_handle(), timeout=STEP_MS)
    save_screenshot(bob, "files-bob-received")

    # Alice reloads: what she sent is still hers (her page stored its own encrypted copy once no send
    # ran): the GIF shows from that copy and downloads with the same bytes.
    alice.evaluate(SENDER_COPIES_STORED)
    alice.reload()
    screen(alice, "home", 120_000)
    alice.locator("#contacts .contact", has_text="Bob").click()
    screen(alice, "chat")
    sent_gif = alice.locator(".attachment").filter(has_text="spin.gif").locator("img")
    expect(sent_gif).to_have_js_property("naturalWidth", 16, timeout=TRANSFER_MS)
    assert received_sha256(alice, "spin.gif", tmp_path) == hashlib.sha256(animation).hexdigest()
    # Bob's page redials her (the backoff, under load): the next file waits for the session anyway.
    expect(alice.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=TRANSFER_MS)

    # Bob -> Alice: a large image shows first as the thumbnail his page made, then in full.
    photo = noise_png(420)
    assert len(photo) > 256 * 1024
    large: FilePayload = {"name": "photo.png", "mimeType": "image/png", "buffer": photo}
    bob.set_input_files("#compose-file", files=[large])
    for page in (alice, bob):
        complete(page, "photo.png")
    full = alice.locator(".attachment").filter(has_text="photo.png").locator("img")
    expect(full).to_have_js_property("naturalWidth", 420, timeout=STEP_MS)
    sources = alice.evaluate("() => window.__sources")
    thumbnail = [n for n, src in enumerate(sources) if src.startswith("data:image/jpeg;base64,")]
    blobs = [n for n, src in enumerate(sources) if src.startswith("blob:")]
    assert thumbnail and blobs and thumbnail[0] < blobs[-1], sources

    # Bob deletes it for everyone: both bubbles become tombstones and both pages' stored chunks go.
    file_id = str(alice.locator(".attachment").filter(has_text="photo.png").get_attribute("data-file-id"))
    bob.evaluate(SENDER_COPIES_STORED)  # the sender stores its copy once its send ended
    # Both sides keep it as ciphertext in the Origin Private File System (their profiles' storage).
    stored_encrypted_on_disk(alice.evaluate, file_id, photo)
    stored_encrypted_on_disk(bob.evaluate, file_id, photo)
    bob.locator(f"#messages .message[data-id='{file_id}'] .msg-more").click()
    bob.locator(f"#messages .message[data-id='{file_id}'] .msg-delete-all").click()
    for page in (alice, bob):
        expect(page.locator(f"#messages .message[data-id='{file_id}']")).to_contain_text(
            "This message was deleted.", timeout=STEP_MS
        )
    for page in (alice, bob):
        deadline = time.monotonic() + STEP_MS / 1000
        while page.evaluate(STORED_RECORDS, file_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert page.evaluate(STORED_RECORDS, file_id) == 0
    save_screenshot(alice, "files-alice-sent")
    for log in logs:
        assert not [line for line in log if "Content Security Policy" in line], log
