"""The settings screen's actions in the real app (issue 8): passphrase, ICE servers, relay-only, backups.

* Changing the passphrase: a wrong current passphrase or two different new ones change nothing; after
  a change, a reload asks for the passphrase, refuses the old one and opens with the new one.
* Relay-only mode without a TURN server is refused with a clear message and nothing is stored; ICE
  servers (with TURN credentials) and relay-only are saved and come back after a reload.
* A backup exported by Bob (who has a conversation with Alice) is imported into a fresh profile on
  another "device": a wrong backup passphrase is refused and changes nothing; with the right one, after
  a reload, that device is Bob, with his chat with Alice and its messages, and it talks to Alice again.

Two or three Chromium contexts of the rig's browser, our server, loopback only. Screenshots of the
settings screen's results at 360 and 1280 px go to test-artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.app_steps import (
    CONNECT_MS,
    PHONE,
    START_MS,
    STEP_MS,
    connect_by_invite,
    onboard,
    screen,
    screenshots,
    send,
)
from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_settings")]

OLD_PASSPHRASE = "correct horse battery"
NEW_PASSPHRASE = "staple tuning fork 42"
BACKUP_PASSPHRASE = "backup of bob's phone"
ICE_LINES = "stun:stun.example.org:3478\nturn:turn.example.org:3478,turns:turn.example.org:5349 bob s3cret"


def open_settings(page: Page) -> None:
    screen(page, "home")
    page.click("#open-settings")
    screen(page, "settings")


def change_passphrase(page: Page, current: str, new: str, again: str) -> None:
    page.fill("#passphrase-current", current)
    page.fill("#passphrase-new", new)
    page.fill("#passphrase-again", again)
    page.click("#passphrase-submit")


def unlock(page: Page, passphrase: str) -> None:
    page.fill("#unlock-passphrase", passphrase)
    page.press("#unlock-passphrase", "Enter")


def test_passphrase_change_then_reload_refuses_the_old_one(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    page = browser_context(viewport=PHONE).new_page()
    log = console_log(page)
    onboard(page, live_server.url, "Alice", OLD_PASSPHRASE)
    open_settings(page)
    result = page.locator("#passphrase-result")

    change_passphrase(page, OLD_PASSPHRASE, NEW_PASSPHRASE, NEW_PASSPHRASE + "x")
    expect(result).to_have_text("The two new passphrases differ.")
    expect(result).to_have_attribute("data-state", "failed")
    change_passphrase(page, "not my passphrase", NEW_PASSPHRASE, NEW_PASSPHRASE)
    expect(result).to_contain_text("Not changed", timeout=STEP_MS)
    change_passphrase(page, OLD_PASSPHRASE, "short", "short")
    expect(result).to_contain_text("at least 8 characters", timeout=STEP_MS)
    change_passphrase(page, OLD_PASSPHRASE, NEW_PASSPHRASE, NEW_PASSPHRASE)
    expect(result).to_have_text("Passphrase changed.", timeout=STEP_MS)
    expect(result).to_have_attribute("data-state", "ready")
    expect(page.locator("#passphrase-current")).to_have_value("")  # nothing is left in the form
    screenshots(page, "settings-passphrase-changed")

    page.reload()
    screen(page, "unlock", START_MS)
    unlock(page, OLD_PASSPHRASE)
    refused = page.locator("#unlock-error")
    expect(refused).to_have_text("That passphrase is not the right one.", timeout=STEP_MS)
    screen(page, "unlock")
    unlock(page, NEW_PASSPHRASE)
    screen(page, "home")
    expect(page.locator("#home-title")).to_have_text("Hello, Alice")
    assert not [line for line in log if "pageerror" in line or "Content Security" in line]


def test_relay_only_needs_turn_and_ice_servers_survive_a_reload(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    page = browser_context(viewport=PHONE).new_page()
    onboard(page, live_server.url, "Carol")
    open_settings(page)
    saved = page.locator("#settings-saved")
    ice = page.locator("#settings-ice")
    expect(ice).to_have_value("")

    # Relay-only with no TURN server: refused, and nothing was stored (a reload shows it off).
    page.set_checked("#settings-relay", True)
    page.click("#settings-save")
    expect(saved).to_have_text(re.compile("^Not saved: .*needs at least one TURN server"), timeout=STEP_MS)
    expect(saved).to_have_attribute("data-state", "failed")
    screenshots(page, "settings-relay-refused")
    page.reload()
    open_settings(page)
    expect(page.locator("#settings-relay")).not_to_be_checked()

    # A malformed line is refused too.
    ice.fill("http://not-an-ice-server.example")
    page.click("#settings-save")
    expect(saved).to_contain_text("Not saved", timeout=STEP_MS)

    # STUN + TURN (two URLs, with credentials) and relay-only: saved, and back after a reload.
    ice.fill(ICE_LINES)
    page.set_checked("#settings-relay", True)
    page.click("#settings-save")
    expect(saved).to_have_text("Saved.", timeout=STEP_MS)
    page.reload()
    open_settings(page)
    expect(page.locator("#settings-ice")).to_have_value(ICE_LINES)
    expect(page.locator("#settings-relay")).to_be_checked()


def test_backup_export_then_import_into_a_fresh_profile(
    live_server: LiveServer, browser_context: BrowserContextFactory, tmp_path: Path
) -> None:
    alice = browser_context(viewport=PHONE).new_page()
    bob_context = browser_context(viewport=PHONE, accept_downloads=True)
    bob = bob_context.new_page()
    connect_by_invite(alice, bob, live_server.url)
    send(bob, "hello from Bob's old phone")
    contact = alice.locator("#requests .contact")  # Bob called her: a message request (her reply accepts)
    expect(contact).to_have_attribute("data-state", "ready", timeout=STEP_MS)
    contact.click()
    screen(alice, "chat")
    expect(alice.locator("#messages .message", has_text="hello from Bob's old phone")).to_have_count(
        1, timeout=STEP_MS
    )
    send(alice, "hi Bob")
    expect(bob.locator("#messages .message", has_text="hi Bob")).to_have_count(1, timeout=STEP_MS)

    # Bob exports: a short backup passphrase is refused; then the file is downloaded.
    bob.click("#chat-back")
    open_settings(bob)
    result = bob.locator("#backup-result")
    bob.fill("#backup-passphrase", "short")
    bob.click("#backup-export")
    expect(result).to_contain_text("at least 8 characters", timeout=STEP_MS)
    bob.fill("#backup-passphrase", BACKUP_PASSPHRASE)
    with bob.expect_download(timeout=STEP_MS) as download_info:
        bob.click("#backup-export")
    download = download_info.value
    assert download.suggested_filename == "parley-backup.parley"
    backup = tmp_path / "bob.parley"
    download.save_as(backup)
    expect(result).to_have_text("Backup written (check your downloads).", timeout=STEP_MS)
    raw = backup.read_bytes()
    for secret in (b"hello from Bob's old phone", b"hi Bob", b"Alice"):
        assert secret not in raw  # the backup is sealed
    bob_context.close()  # the old phone is gone

    # A new device: a fresh profile imports the backup. A wrong passphrase changes nothing.
    phone = browser_context(viewport=PHONE).new_page()
    onboard(phone, live_server.url, "Temporary")
    open_settings(phone)
    phone.set_input_files("#backup-file", str(backup))
    result = phone.locator("#backup-result")
    phone.fill("#backup-passphrase", "not the backup passphrase")
    phone.click("#backup-import")
    expect(result).to_contain_text("Not imported", timeout=STEP_MS)
    expect(result).to_have_attribute("data-state", "failed")
    phone.reload()
    screen(phone, "home", START_MS)
    expect(phone.locator("#home-title")).to_have_text("Hello, Temporary")

    phone.click("#open-settings")
    screen(phone, "settings")
    phone.set_input_files("#backup-file", str(backup))
    phone.fill("#backup-passphrase", BACKUP_PASSPHRASE)
    phone.click("#backup-import")
    expect(result).to_have_text(re.compile(r"^Imported \d+ records\. Reload the page"), timeout=STEP_MS)
    screenshots(phone, "settings-backup-imported")

    # After a reload the new device is Bob: his chat with Alice and its messages are back.
    phone.reload()
    screen(phone, "home", START_MS)
    expect(phone.locator("#home-title")).to_have_text("Hello, Bob")
    phone.locator("#contacts .contact", has_text="Alice").click()
    screen(phone, "chat")
    expect(phone.locator("#messages .message", has_text="hello from Bob's old phone")).to_have_count(1)
    expect(phone.locator("#messages .message", has_text="hi Bob")).to_have_count(1)
    # ... and the restored sessions still talk to Alice.
    expect(phone.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
    send(phone, "Bob again, on a new phone")
    expect(alice.locator("#messages .message", has_text="Bob again, on a new phone")).to_have_count(
        1, timeout=STEP_MS
    )
