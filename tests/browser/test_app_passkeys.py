"""Passkey unlock (WebAuthn PRF), persistent storage and the backup prompt in the real app (issue 17, part 2).

Chromium's virtual authenticators, driven over the DevTools protocol (``WebAuthn.addVirtualAuthenticator``
with ``hasPrf``: a CTAP2.1 internal authenticator with resident keys and user verification, which
computes hmac-secret/PRF as a real one does), stand in for a phone or a security key:

* Alice registers a passkey in settings; after a reload it unlocks the vault; its PRF output is nowhere
  in IndexedDB or the console. A stored header with a renamed passkey is refused (the header MAC) by the
  passkey and the passphrase alike. With her authenticator removed and another one in its place (holding
  a passkey of its own for this site), the passkey button says plainly that no passkey of this vault
  answered; nothing changed and her passphrase opens everything. She removes the lost passkey, adds one
  on the new authenticator (adding it twice is refused) and drops the passphrase: removing that last
  passkey is refused, and after a reload only the passkey is offered and opens the vault.
* Dana creates her identity with a passkey and no passphrase: the stored header holds only the passkey
  wrap (no unprotected header is ever written); after a reload the passkey alone is offered and opens.
* An authenticator without PRF (``hasPrf: false``) gets a clear message, at first run (no vault is
  stored) and in settings (nothing is registered: the stored header still has one wrap). A browser whose
  ``getClientCapabilities()`` says it has no PRF, and a page at an IP address (where WebAuthn refuses to
  run), are told so and not offered registration at all.
* The first run asks ``navigator.storage.persist()``; settings shows whether the browser made the storage
  persistent, as ``navigator.storage.persisted()`` says, and what clearing site data does; after the
  first contact is added a backup prompt offers the export, and "Not now" is remembered across a reload.

WebAuthn needs a secure context and a domain as relying-party id: the pages use http://localhost:<port>
(a secure context; 127.0.0.1 is one too, but an IP address is no valid RP id).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from playwright.sync_api import CDPSession, Page, expect

from tests.browser.app_steps import PHONE, START_MS, STEP_MS, onboard, screen, screenshots
from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_passkeys")]

PASSPHRASE = "correct horse battery"
AUTHENTICATOR = {
    "protocol": "ctap2",
    "ctap2Version": "ctap2_1",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "hasPrf": True,
    "automaticPresenceSimulation": True,
}
# The stored vault header, as anyone with the profile could read it.
HEADER_JS = """async () => {
  const db = await new Promise((ok, fail) => {
    const request = indexedDB.open("parley");
    request.onsuccess = () => ok(request.result);
    request.onerror = () => fail(request.error);
  });
  const text = await new Promise((ok, fail) => {
    const request = db.transaction("meta", "readonly").objectStore("meta").get("vault");
    request.onsuccess = () => ok(request.result);
    request.onerror = () => fail(request.error);
  });
  db.close();
  return text;
}"""
# A passkey for this site that is not one of the vault's (another account, another app's vault).
FOREIGN_PASSKEY_JS = """async () => {
  const credential = await navigator.credentials.create({publicKey: {
    rp: {id: location.hostname, name: "someone else"},
    user: {id: crypto.getRandomValues(new Uint8Array(16)), name: "mallory", displayName: "Mallory"},
    challenge: crypto.getRandomValues(new Uint8Array(32)),
    pubKeyCredParams: [{type: "public-key", alg: -7}],
    authenticatorSelection: {residentKey: "required", userVerification: "required"},
    extensions: {prf: {}}}});
  return credential.id;
}"""


# The PRF output of the vault's passkey for its stored salt, asked of the authenticator as the app asks it.
PRF_OUTPUT_JS = """async (header) => {
  const wrap = JSON.parse(header).wraps.find(w => w.method === "passkey");
  const id = Uint8Array.from(atob(wrap.credential_id), c => c.charCodeAt(0));
  const salt = Uint8Array.from(atob(wrap.prf_salt), c => c.charCodeAt(0));
  const assertion = await navigator.credentials.get({publicKey: {
    challenge: crypto.getRandomValues(new Uint8Array(32)), rpId: location.hostname,
    allowCredentials: [{type: "public-key", id}], userVerification: "required",
    extensions: {prf: {eval: {first: salt}}}}});
  return Array.from(new Uint8Array(assertion.getClientExtensionResults().prf.results.first));
}"""
# Every record and the header, as base64 of the stored bytes (what someone with the profile could read).
STORED_JS = """async () => {
  const db = await new Promise((ok, fail) => {
    const request = indexedDB.open("parley");
    request.onsuccess = () => ok(request.result);
    request.onerror = () => fail(request.error);
  });
  const out = [];
  for (const store of db.objectStoreNames) {
    const values = await new Promise((ok, fail) => {
      const request = db.transaction(store, "readonly").objectStore(store).getAll();
      request.onsuccess = () => ok(request.result);
      request.onerror = () => fail(request.error);
    });
    for (const value of values) {
      out.push(typeof value === "string" ? value : btoa(String.fromCharCode(...value)));
    }
  }
  db.close();
  return out.join(" ");
}"""


# Replace the stored vault header (what whoever can write the profile's storage could do).
PUT_HEADER_JS = """async (text) => {
  const db = await new Promise((ok, fail) => {
    const request = indexedDB.open("parley");
    request.onsuccess = () => ok(request.result);
    request.onerror = () => fail(request.error);
  });
  await new Promise((ok, fail) => {
    const tx = db.transaction("meta", "readwrite");
    tx.objectStore("meta").put(text, "vault");
    tx.oncomplete = () => ok();
    tx.onerror = () => fail(tx.error);
  });
  db.close();
}"""


# What a browser without the PRF extension answers (WebAuthn Level 3 getClientCapabilities).
NO_PRF_BROWSER_JS = """
PublicKeyCredential.getClientCapabilities = async () => ({"extension:prf": false});
"""


# Counts the page's calls of navigator.storage.persist (the browser's own answer is unchanged).
COUNT_PERSIST_JS = """
window.persistAsked = 0;
const persist = StorageManager.prototype.persist;
StorageManager.prototype.persist = function () { window.persistAsked += 1; return persist.call(this); };
"""


def localhost(live_server: LiveServer) -> str:
    return live_server.url.replace("127.0.0.1", "localhost")


def authenticator(page: Page, **options: Any) -> tuple[CDPSession, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    created = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {**AUTHENTICATOR, **options}})
    return cdp, created["authenticatorId"]


def stored_methods(page: Page) -> list[str]:
    header = json.loads(page.evaluate(HEADER_JS))
    assert header["version"] == 2
    return [wrap["method"] for wrap in header["wraps"]]


def open_settings(page: Page) -> None:
    screen(page, "home")
    page.click("#open-settings")
    screen(page, "settings")


def add_passkey(page: Page, name: str) -> None:
    page.fill("#passkey-name", name)
    page.click("#passkey-add")


def unlock_with_passphrase(page: Page, passphrase: str) -> None:
    page.fill("#unlock-passphrase", passphrase)
    page.press("#unlock-passphrase", "Enter")


def reload_to_unlock(page: Page) -> None:
    page.reload()
    screen(page, "unlock", START_MS)


def test_register_reload_unlock_and_what_cannot_unlock(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    page = browser_context(viewport=PHONE).new_page()
    log = console_log(page)
    cdp, laptop = authenticator(page)
    onboard(page, localhost(live_server), "Alice", PASSPHRASE)
    open_settings(page)
    expect(page.locator("#passkeys-none")).to_be_visible()
    expect(page.locator("#passkey-support")).to_be_hidden()

    # Register: the passkey is listed, and the stored header wraps the data key for it beside the passphrase.
    add_passkey(page, "Laptop")
    result = page.locator("#passkey-result")
    expect(result).to_have_text(re.compile("^Added the passkey Laptop"), timeout=STEP_MS)
    expect(result).to_have_attribute("data-state", "ready")
    expect(page.locator("#passkey-list li")).to_have_count(1)
    expect(page.locator("#passkey-list li")).to_contain_text("Laptop")
    assert stored_methods(page) == ["passphrase", "passkey"]
    screenshots(page, "passkeys-registered")
    # The PRF output unlocks, so it is as secret as the passphrase: never stored, never logged.
    prf_output = bytes(page.evaluate(PRF_OUTPUT_JS, page.evaluate(HEADER_JS)))
    assert len(prf_output) == 32
    stored, logged = page.evaluate(STORED_JS), "\n".join(log)
    for form in (prf_output.hex(), base64.b64encode(prf_output).decode(), str(list(prf_output))[1:-1]):
        assert form not in stored and form not in logged

    # Reload: the passkey unlocks.
    reload_to_unlock(page)
    expect(page.locator("#unlock-passkey")).to_be_enabled()
    expect(page.locator("#unlock-passphrase")).to_be_visible()
    screenshots(page, "passkeys-unlock")
    page.click("#unlock-passkey")
    screen(page, "home")
    expect(page.locator("#home-title")).to_have_text("Hello, Alice")

    # Someone renames the passkey in the stored header: the header MAC refuses it, whichever way in.
    reload_to_unlock(page)
    original = page.evaluate(HEADER_JS)
    tampered = json.loads(original)
    tampered["wraps"][1]["name"] = "Mallory's key"
    page.evaluate(PUT_HEADER_JS, json.dumps(tampered))
    page.click("#unlock-passkey")
    refused = page.locator("#passkey-unlock-error")
    expect(refused).to_contain_text("vault header was altered", timeout=STEP_MS)
    unlock_with_passphrase(page, PASSPHRASE)
    expect(page.locator("#unlock-error")).to_contain_text("vault header was altered", timeout=STEP_MS)
    screen(page, "unlock")
    page.evaluate(PUT_HEADER_JS, original)

    # The laptop's authenticator is gone; another one holds a passkey of its own for this site.
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": laptop})
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    assert page.evaluate(FOREIGN_PASSKEY_JS)
    header_before = page.evaluate(HEADER_JS)
    page.click("#unlock-passkey")
    expect(refused).to_contain_text("No passkey of this vault answered", timeout=STEP_MS)
    expect(refused).to_contain_text("You can unlock with your passphrase.")
    screen(page, "unlock")
    screenshots(page, "passkeys-unlock-refused")
    assert page.evaluate(HEADER_JS) == header_before  # nothing changed
    unlock_with_passphrase(page, PASSPHRASE)
    screen(page, "home")
    expect(page.locator("#home-title")).to_have_text("Hello, Alice")

    # The lost laptop's passkey is removed; a new one on this authenticator, and the passphrase dropped.
    open_settings(page)
    expect(page.locator("#passkey-list li")).to_have_count(1)
    page.click("#passkey-list li .passkey-remove")
    expect(result).to_have_text(re.compile("^Removed the passkey Laptop"), timeout=STEP_MS)
    expect(page.locator("#passkeys-none")).to_be_visible()
    add_passkey(page, "Phone")
    expect(result).to_have_text(re.compile("^Added the passkey Phone"), timeout=STEP_MS)
    add_passkey(page, "Phone again")  # the same authenticator twice: the browser refuses (excludeCredentials)
    expect(result).to_contain_text("already holds a passkey for this vault", timeout=STEP_MS)
    expect(page.locator("#passkey-list li")).to_have_count(1)
    page.fill("#passphrase-current", PASSPHRASE)
    page.click("#passphrase-submit")
    expect(page.locator("#passphrase-result")).to_have_text("Passphrase changed.", timeout=STEP_MS)
    assert stored_methods(page) == ["passkey"]

    # The last way in cannot be removed.
    page.click("#passkey-list li .passkey-remove")
    expect(result).to_contain_text("only way to unlock Parley here", timeout=STEP_MS)
    expect(result).to_have_attribute("data-state", "failed")
    expect(page.locator("#passkey-list li")).to_have_count(1)
    assert stored_methods(page) == ["passkey"]

    # Only the passkey is offered now, and it opens the vault.
    reload_to_unlock(page)
    expect(page.locator("#unlock-passphrase")).to_be_hidden()
    page.click("#unlock-passkey")
    screen(page, "home")
    expect(page.locator("#home-title")).to_have_text("Hello, Alice")
    assert not [line for line in log if "pageerror" in line or "Content Security" in line]


def test_first_run_with_a_passkey_and_no_passphrase(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    """The identity is created with a passkey only: no unprotected header is ever stored, and after a
    reload the passkey alone is offered and opens the vault."""
    page = browser_context(viewport=PHONE).new_page()
    authenticator(page)
    page.goto(localhost(live_server))
    screen(page, "onboarding", START_MS)
    page.fill("#onboarding-name", "Dana")
    warning = page.locator("#onboarding-warning")
    expect(warning).to_be_visible()
    page.check("#onboarding-passkey")
    expect(warning).to_be_hidden()  # the passkey protects the data key
    page.click("#onboarding-submit")
    screen(page, "home")
    expect(page.locator("#home-unprotected")).to_be_hidden()
    assert stored_methods(page) == ["passkey"]
    reload_to_unlock(page)
    expect(page.locator("#unlock-passphrase")).to_be_hidden()
    page.click("#unlock-passkey")
    screen(page, "home")
    expect(page.locator("#home-title")).to_have_text("Hello, Dana")


def test_without_prf_nothing_is_registered_and_the_message_is_clear(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    # At an IP address WebAuthn cannot run: registration is not offered at all.
    page = browser_context(viewport=PHONE).new_page()
    page.goto(live_server.url)
    screen(page, "onboarding", START_MS)
    expect(page.locator("#onboarding-passkey")).to_be_disabled()
    expect(page.locator("#onboarding-passkey-support")).to_contain_text("IP address")
    page.fill("#onboarding-name", "Bob")
    page.click("#onboarding-submit")
    open_settings(page)
    support = page.locator("#passkey-support")
    expect(support).to_contain_text("cannot be used at an IP address", timeout=STEP_MS)
    expect(page.locator("#passkey-add")).to_be_disabled()

    # An authenticator without PRF, at a host where WebAuthn runs: at first run, nothing is created.
    page = browser_context(viewport=PHONE).new_page()
    authenticator(page, hasPrf=False)
    page.goto(localhost(live_server))
    screen(page, "onboarding", START_MS)
    page.fill("#onboarding-name", "Bob")
    page.check("#onboarding-passkey")
    page.click("#onboarding-submit")
    expect(page.locator("#onboarding-error")).to_contain_text(
        "does not support the PRF extension", timeout=STEP_MS
    )
    assert page.evaluate(HEADER_JS) is None  # no vault was stored
    page.uncheck("#onboarding-passkey")
    page.click("#onboarding-submit")
    open_settings(page)
    expect(page.locator("#passkey-add")).to_be_enabled()
    add_passkey(page, "Old key")
    result = page.locator("#passkey-result")
    expect(result).to_contain_text("does not support the PRF extension", timeout=STEP_MS)
    expect(result).to_contain_text("Nothing was registered")
    expect(result).to_have_attribute("data-state", "failed")
    expect(page.locator("#passkeys-none")).to_be_visible()
    screenshots(page, "passkeys-no-prf")
    assert stored_methods(page) == ["none"]

    # A browser that says it has no PRF at all (as getClientCapabilities reports it): not offered.
    page.add_init_script(NO_PRF_BROWSER_JS)
    page.reload()
    screen(page, "home", START_MS)  # still unprotected: straight in, with its warning
    expect(page.locator("#home-unprotected")).to_be_visible()
    open_settings(page)
    no_prf = page.locator("#passkey-support")
    expect(no_prf).to_contain_text("lacks the passkey PRF extension", timeout=STEP_MS)
    expect(page.locator("#passkey-add")).to_be_disabled()


def test_persistent_storage_state_clearing_site_data_and_the_backup_prompt(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    page = browser_context(viewport=PHONE).new_page()
    page.add_init_script(COUNT_PERSIST_JS)
    onboard(page, localhost(live_server), "Carol")
    screen(page, "home")
    expect(page.locator("#backup-prompt")).to_have_count(0)  # nothing to lose yet
    page.wait_for_function("window.persistAsked === 1", timeout=STEP_MS)  # the first run asked once

    open_settings(page)
    state = page.locator("#storage-persistence")
    persisted = page.evaluate("navigator.storage.persisted()")
    expect(state).to_have_attribute(
        "data-state", "persistent" if persisted else "best-effort", timeout=STEP_MS
    )
    expect(state).to_contain_text("Persistent:" if persisted else "Not persistent:")
    expect(page.locator("#storage-clearing")).to_contain_text("deletes all of it for good")
    expect(page.locator("#storage-usage")).to_contain_text("Parley uses")
    screenshots(page, "settings-storage")

    # The first contact: the backup prompt offers the export of the settings screen.
    page.click("#settings-back")
    screen(page, "home")
    page.fill("#connect-input", "pdave0123456789abcdef0123456789")
    page.click("#connect-submit")
    screen(page, "chat")
    prompt = page.locator("#backup-prompt")
    expect(prompt).to_contain_text("You have your first contact", timeout=STEP_MS)
    screenshots(page, "backup-prompt")
    page.click("#backup-prompt-export")
    screen(page, "settings")
    expect(page.locator("#backup-passphrase")).to_be_focused()
    page.click("#settings-back")
    screen(page, "home")
    expect(prompt).to_be_visible(timeout=STEP_MS)  # still due: no backup was written
    page.click("#backup-prompt-dismiss")
    expect(prompt).to_have_count(0)
    page.reload()
    screen(page, "home", START_MS)
    expect(page.locator("#contacts li")).to_have_count(1)
    page.wait_for_timeout(1000)
    expect(prompt).to_have_count(0)  # "Not now" is remembered
