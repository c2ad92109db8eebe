"""Files in a browser without the Origin Private File System (some private windows), in the app.

Bob's page has no ``navigator.storage.getDirectory`` (taken away before the app loads); Alice's has it.
A picture of two segments goes each way: Bob's page keeps what he received, and his own copy of what he
sent, in IndexedDB (one record per 1 MiB segment), Alice's in OPFS; each side shows the picture the
other sent and its Download gives the very bytes sent; after Bob reloads, his page still shows the
picture from IndexedDB. (static/js/chunk_store.js; docs/files.md, "Storage".)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, expect

from tests.browser.app_steps import STEP_MS, connect_by_invite, screen
from tests.browser.files_steps import (
    STORED,
    attachment,
    complete,
    noise_png,
    open_request_and_accept,
    received_sha256,
    stored_encrypted_on_disk,
)
from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_files_no_opfs")]

#: The app finds no OPFS; the test's own look at storage keeps the original (files_steps.STORED).
NO_OPFS = (
    "globalThis.__getDirectory = StorageManager.prototype.getDirectory;"
    " delete StorageManager.prototype.getDirectory;"
)


SENDER_COPY_STORED = """async () => {
  const files = await import("/static/js/files.js");
  while (files.busy() > 0) await new Promise((resolve) => setTimeout(resolve, 50));
}"""


def test_without_opfs_files_are_kept_in_indexeddb_and_shown_after_a_reload(
    live_server: LiveServer, browser_context: BrowserContextFactory, tmp_path: Path
) -> None:
    contexts = [browser_context(), browser_context()]
    contexts[1].add_init_script(NO_OPFS)
    alice, bob = (context.new_page() for context in contexts)
    logs = [console_log(alice), console_log(bob)]
    connect_by_invite(alice, bob, live_server.url)
    open_request_and_accept(alice)

    to_bob, to_alice = noise_png(700), noise_png(650)  # about 1.5 and 1.3 MB: two segments each
    alice.set_input_files(
        "#compose-file", files=[FilePayload(name="to-bob.png", mimeType="image/png", buffer=to_bob)]
    )
    bob.set_input_files(
        "#compose-file", files=[FilePayload(name="to-alice.png", mimeType="image/png", buffer=to_alice)]
    )
    for page in (alice, bob):
        complete(page, "to-bob.png")
        complete(page, "to-alice.png")
    assert received_sha256(bob, "to-bob.png", tmp_path) == hashlib.sha256(to_bob).hexdigest()
    assert received_sha256(alice, "to-alice.png", tmp_path) == hashlib.sha256(to_alice).hexdigest()
    expect(attachment(bob, "to-bob.png").locator("img")).to_have_js_property(
        "naturalWidth", 700, timeout=STEP_MS
    )

    received = str(attachment(bob, "to-bob.png").get_attribute("data-file-id"))
    sent = str(attachment(bob, "to-alice.png").get_attribute("data-file-id"))
    bob.evaluate(SENDER_COPY_STORED)  # his own copy of what he sent is stored once its send ended
    for file_id in (received, sent):
        stored = bob.evaluate(STORED, file_id)
        assert stored == {"indexedDb": 2, "opfs": None, "head": ""}, (file_id, stored)
    stored_encrypted_on_disk(alice.evaluate, received, to_bob)  # Alice's page has OPFS

    bob.reload()
    screen(bob, "home", 120_000)
    bob.locator("#contacts .contact").first.click()
    expect(attachment(bob, "to-bob.png").locator("img")).to_have_js_property(
        "naturalWidth", 700, timeout=STEP_MS
    )
    assert received_sha256(bob, "to-bob.png", tmp_path) == hashlib.sha256(to_bob).hexdigest()
    for log in logs:
        assert not [line for line in log if "pageerror" in line or "Content Security" in line], log
