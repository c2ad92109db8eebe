"""What the file-transfer tests share: test files, the steps on a chat's file bubbles, a look at storage.

Each step waits on what a person would see (a bubble's phase, its progress bar, its Download button).
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.browser.app_steps import STEP_MS, screen

TRANSFER_MS = 180_000
#: The chunk size the page sends (``transfer/stream.py`` ``CHUNK_SIZE``).
CHUNK = 64 * 1024

#: Where the page holds anything of one file id: ``{"indexedDb": records in the ``parley-files``
#: database, "opfs": bytes of ``parley-files/<file id>`` in the Origin Private File System or null when
#: there is no such file (-1 while the app has it open), "head": its first 64 bytes in hex}``. Read
#: straight from the browser's storage, not through the app's modules.
STORED = """async (fileId) => {
  // Opening a database that does not exist would make an empty one, which the app would then not set up.
  const exists = (await indexedDB.databases()).some((database) => database.name === "parley-files");
  const db = exists ? await new Promise((resolve, reject) => {
    const request = indexedDB.open("parley-files");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  }) : null;
  let records = 0;
  if (db !== null && db.objectStoreNames.contains("chunks")) {
    const range = IDBKeyRange.bound(fileId + "/", fileId + "/\\uffff");
    records = await new Promise((resolve) => {
      const request = db.transaction("chunks").objectStore("chunks").getAllKeys(range);
      request.onsuccess = () => resolve(request.result.length);
    });
  }
  db?.close();
  let opfs = null;
  let head = "";
  try {
    // (A test that takes OPFS away from the app keeps the original in globalThis.__getDirectory.)
    const root = await (globalThis.__getDirectory ?? navigator.storage.getDirectory).call(navigator.storage);
    const folder = await root.getDirectoryHandle("parley-files");
    const file = await (await folder.getFileHandle(fileId)).getFile().catch(() => null);
    opfs = file === null ? -1 : file.size;
    if (file !== null) {
      const bytes = new Uint8Array(await file.slice(0, 64).arrayBuffer());
      head = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    }
  } catch (error) {
    if (error.name !== "NotFoundError") throw error;
  }
  return { indexedDb: records, opfs, head };
}"""

#: How many places (IndexedDB records, plus 1 for an OPFS file) hold anything of one file id.
STORED_RECORDS = f"""async (fileId) => {{
  const stored = await ({STORED})(fileId);
  return stored.indexedDb + (stored.opfs === null ? 0 : 1);
}}"""


def stored_encrypted_on_disk(evaluate: Callable[..., Any], file_id: str, plain: bytes) -> None:
    """The page (``evaluate``: a page's evaluate) holds ``plain``'s file in the Origin Private File System
    only, as its chunk ciphertexts end to end (each chunk 16 bytes longer), not as the plaintext."""
    chunks = max(1, -(-len(plain) // CHUNK))
    deadline = time.monotonic() + STEP_MS / 1000
    stored = evaluate(STORED, file_id)
    while stored["opfs"] == -1 and time.monotonic() < deadline:  # the app is reading it just now
        time.sleep(0.1)
        stored = evaluate(STORED, file_id)
    assert stored["indexedDb"] == 0, stored
    assert stored["opfs"] == len(plain) + 16 * chunks, stored
    head = bytes.fromhex(stored["head"])
    assert len(head) == 64 and plain[:16] not in head, stored


def _png(width: int, height: int, rows: bytes) -> bytes:
    """A PNG of RGB scanlines (``rows``: each a filter byte and ``width`` pixels), zlib-compressed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png(width: int, height: int) -> bytes:
    """A real PNG: an RGB gradient."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )
    return _png(width, height, rows)


def noise_png(side: int) -> bytes:
    """A PNG of random pixels (it does not compress: about 3 bytes a pixel)."""
    return _png(side, side, b"".join(b"\x00" + os.urandom(side * 3) for _ in range(side)))


def attachment(page: Page, name: str) -> Locator:
    """The open chat's file bubble ``name``."""
    return page.locator("#messages .attachment").filter(has_text=name)


def complete(page: Page, name: str) -> None:
    """Wait until the open chat's file ``name`` is complete (sent or received), its bar at 100."""
    item = attachment(page, name)
    expect(item).to_have_attribute("data-phase", "complete", timeout=TRANSFER_MS)
    expect(item.locator(".attachment-bar")).to_have_attribute("value", "100")


def received_sha256(page: Page, name: str, tmp_path: Path) -> str:
    """The SHA-256 of the file as the receiver saves it (its Download button: decrypted from storage)."""
    with page.expect_download(timeout=TRANSFER_MS) as download_info:
        attachment(page, name).locator(".attachment-download").click()
    target = tmp_path / f"received-{name}"
    download_info.value.save_as(target)
    return hashlib.sha256(target.read_bytes()).hexdigest()


def open_request_and_accept(alice: Page) -> None:
    """Alice opens the message request of the one who called her and accepts it: the chat is ready."""
    alice.locator("#requests .contact").click()
    screen(alice, "chat")
    alice.click("#request-accept")
    expect(alice.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=STEP_MS)
