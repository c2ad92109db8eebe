"""Backups carry the files (docs/security.md, "Backups"; pyfront/browser/backup.py), in Chromium.

Alice sends Bob a picture, Bob sends Alice a file of a few MB; Bob exports a backup (it says it holds 2
files, and neither file's plaintext is in it):

* a fresh profile (an onboarded identity with its own passphrase) imports it, reloads, unlocks: it is
  Bob, the picture shows, each file's Download gives the bytes that were sent, and the received picture
  is stored as ciphertext in its Origin Private File System;
* the same backup with one byte flipped in a file section, cut short in the middle of one, and whole
  but with the browser granting less storage than its files need, is each refused with a clear message
  by Alice's profile, which holds those very files: her vault and her stored files are unchanged byte
  for byte afterwards and nothing is left staged;
* a backup in the previous format (the bare JSON document, no file sections: made from Bob's exactly as
  ``export_backup`` wrote it before version 2) still imports: the chat is there, and its file bubbles
  say the file is not on this device.

Chromium contexts of the rig's browser, our server, loopback only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FilePayload, Page, expect

from tests.browser.app_steps import START_MS, STEP_MS, connect_by_invite, onboard, screen
from tests.browser.files_steps import (
    TRANSFER_MS,
    attachment,
    complete,
    open_request_and_accept,
    png,
    received_sha256,
    stored_encrypted_on_disk,
)
from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("backup_files")]

BACKUP_PASSPHRASE = "bob's backup, files and all"
PHONE_PASSPHRASE = "the new phone's own"
HEAD = 13  # MAGIC (8), version (1), u32 document length (pyfront/storage/backup_container.py)

#: Resolves once this page has stored its own copy of every file it sent, and Python recorded it.
SENDER_COPIES_STORED = """
async () => {
  const files = await import("/static/js/files.js");
  while (files.busy() > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 500));
}
"""

#: Every file in the page's OPFS folders ``parley-files`` and ``parley-staging``: name -> [size, SHA-256]
#: (null while the app holds the file open).
OPFS_FILES = """
async () => {
  const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  const root = await navigator.storage.getDirectory();
  const out = {};
  for (const name of ["parley-files", "parley-staging"]) {
    out[name] = {};
    let folder;
    try {
      folder = await root.getDirectoryHandle(name);
    } catch (error) {
      if (error.name === "NotFoundError") continue;
      throw error;
    }
    for await (const [entry, handle] of folder.entries()) {
      const file = await handle.getFile().catch(() => null);
      out[name][entry] = file === null ? null
        : [file.size, hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()))];
    }
  }
  return out;
}
"""


def opfs_files(page: Page) -> dict[str, Any]:
    deadline = time.monotonic() + STEP_MS / 1000
    while True:
        found = page.evaluate(OPFS_FILES)
        busy = any(value is None for folder in found.values() for value in folder.values())
        if not busy or time.monotonic() > deadline:
            return dict(found)
        time.sleep(0.2)


def open_settings(page: Page) -> None:
    screen(page, "home")
    page.click("#open-settings")
    screen(page, "settings")


def import_backup(page: Page, path: Path, passphrase: str) -> Any:
    page.set_input_files("#backup-file", str(path))
    page.fill("#backup-passphrase", passphrase)
    page.click("#backup-import")
    return page.locator("#backup-result")


def open_chat(page: Page, name: str) -> None:
    page.locator("#contacts .contact", has_text=name).click()
    screen(page, "chat")


@pytest.mark.timeout(600)
def test_a_backup_carries_the_files_and_a_damaged_one_changes_nothing(
    live_server: LiveServer, browser_context: BrowserContextFactory, tmp_path: Path
) -> None:
    alice = browser_context(accept_downloads=True).new_page()
    bob = browser_context(accept_downloads=True).new_page()
    logs = [console_log(alice), console_log(bob)]
    connect_by_invite(alice, bob, live_server.url)
    open_request_and_accept(alice)

    picture = png(640, 400)
    big = os.urandom(3 * 1024 * 1024 + 12345)
    sent_picture: FilePayload = {"name": "gradient.png", "mimeType": "image/png", "buffer": picture}
    sent_big: FilePayload = {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": big}
    alice.set_input_files("#compose-file", files=[sent_picture])
    bob.set_input_files("#compose-file", files=[sent_big])
    for page in (alice, bob):
        complete(page, "gradient.png")
        complete(page, "big.bin")
    for page in (alice, bob):
        page.evaluate(SENDER_COPIES_STORED)
    picture_id = str(attachment(bob, "gradient.png").get_attribute("data-file-id"))
    big_id = str(attachment(bob, "big.bin").get_attribute("data-file-id"))

    # Bob exports: the backup holds both files (one received, one sent), sealed.
    bob.click("#chat-back")
    open_settings(bob)
    bob.fill("#backup-passphrase", BACKUP_PASSPHRASE)
    with bob.expect_download(timeout=TRANSFER_MS) as download_info:
        bob.click("#backup-export")
    backup = tmp_path / "bob.parley"
    download_info.value.save_as(backup)
    expect(bob.locator("#backup-result")).to_have_text(
        "Backup written with 2 files (check your downloads).", timeout=TRANSFER_MS
    )
    raw = backup.read_bytes()
    assert raw.startswith(b"PARLEY\x00B\x02")
    document_length = int.from_bytes(raw[9:HEAD], "big")
    sections = raw[HEAD + document_length :]
    # Each file's section is its stored ciphertext: as long, and no plaintext of either file in it.
    assert len(sections) == sum(len(plain) + 16 * -(-len(plain) // 65536) for plain in (picture, big))
    for plain in (picture, big):
        for offset in (0, len(plain) // 2, len(plain) - 64):
            assert plain[offset : offset + 64] not in raw

    # Damaged copies: one byte flipped in the middle of the last file section, or cut short in it.
    flipped = bytearray(raw)
    flipped[len(raw) - 1000] ^= 0x01
    (tmp_path / "flipped.parley").write_bytes(bytes(flipped))
    (tmp_path / "cut.parley").write_bytes(raw[: len(raw) - 5000])

    # Alice holds those very files: the damaged backups are refused and change nothing of hers.
    alice.click("#chat-back")
    open_settings(alice)
    before = opfs_files(alice)
    assert set(before["parley-files"]) == {picture_id, big_id}, before
    result = import_backup(alice, tmp_path / "flipped.parley", BACKUP_PASSPHRASE)
    expect(result).to_contain_text("does not match the backup's manifest", timeout=TRANSFER_MS)
    expect(result).to_contain_text("Nothing was imported")
    expect(result).to_have_attribute("data-state", "failed")
    result = import_backup(alice, tmp_path / "cut.parley", BACKUP_PASSPHRASE)
    expect(result).to_contain_text("cut short", timeout=TRANSFER_MS)
    expect(result).to_have_attribute("data-state", "failed")
    # Storage full: the browser grants no more (a quota of 1 byte, over the DevTools protocol).
    cdp = alice.context.new_cdp_session(alice)
    origin = str(alice.evaluate("location.origin")) + "/"
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": 1})
    result = import_backup(alice, backup, BACKUP_PASSPHRASE)
    expect(result).to_contain_text("could not be read or stored", timeout=TRANSFER_MS)
    expect(result).to_contain_text("QuotaExceededError")
    expect(result).to_contain_text("Nothing was imported")
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin})
    assert opfs_files(alice) == {**before, "parley-staging": {}}
    alice.reload()
    screen(alice, "home", START_MS)
    expect(alice.locator("#home-title")).to_have_text("Hello, Alice")
    open_chat(alice, "Bob")
    complete(alice, "big.bin")
    assert received_sha256(alice, "big.bin", tmp_path) == hashlib.sha256(big).hexdigest()
    assert received_sha256(alice, "gradient.png", tmp_path) == hashlib.sha256(picture).hexdigest()

    # A new device: an onboarded identity with its own passphrase imports Bob's backup.
    phone = browser_context(accept_downloads=True).new_page()
    logs.append(console_log(phone))
    onboard(phone, live_server.url, "Temporary", PHONE_PASSPHRASE)
    open_settings(phone)
    result = import_backup(phone, backup, BACKUP_PASSPHRASE)
    expect(result).to_have_text(
        re.compile(r"^Imported \d+ records and 2 files\. Reload the page"), timeout=TRANSFER_MS
    )
    assert opfs_files(phone)["parley-staging"] == {}
    phone.reload()
    phone.fill("#unlock-passphrase", PHONE_PASSPHRASE)
    phone.press("#unlock-passphrase", "Enter")
    screen(phone, "home", START_MS)
    expect(phone.locator("#home-title")).to_have_text("Hello, Bob")
    open_chat(phone, "Alice")
    shown = attachment(phone, "gradient.png").locator("img")
    expect(shown).to_have_js_property("naturalWidth", 640, timeout=STEP_MS)
    assert received_sha256(phone, "gradient.png", tmp_path) == hashlib.sha256(picture).hexdigest()
    assert received_sha256(phone, "big.bin", tmp_path) == hashlib.sha256(big).hexdigest()
    stored_encrypted_on_disk(phone.evaluate, picture_id, picture)
    stored_encrypted_on_disk(phone.evaluate, big_id, big)

    # The previous format: the bare document, as export_backup wrote it before version 2.
    document = json.loads(raw[HEAD : HEAD + document_length])
    assert document["version"] == 2 and document["files"]
    del document["files"]
    document["version"] = 1
    old = tmp_path / "old.parley"
    old.write_bytes(json.dumps(document, separators=(",", ":"), sort_keys=True).encode())
    tablet = browser_context().new_page()
    onboard(tablet, live_server.url, "Tablet")
    open_settings(tablet)
    result = import_backup(tablet, old, BACKUP_PASSPHRASE)
    expect(result).to_have_text(re.compile(r"^Imported \d+ records\. Reload the page"), timeout=STEP_MS)
    tablet.reload()
    screen(tablet, "home", START_MS)
    expect(tablet.locator("#home-title")).to_have_text("Hello, Bob")
    open_chat(tablet, "Alice")
    for name in ("gradient.png", "big.bin"):
        item = attachment(tablet, name)
        expect(item.locator(".attachment-status")).to_have_text(
            "This file is not on this device.", timeout=STEP_MS
        )
        expect(item.locator(".attachment-download")).to_be_hidden()
    for log in logs:
        assert not [line for line in log if "Content Security Policy" in line], log
