"""Relay mode through a real TURN server (issue 14): coturn on loopback with long-term credentials.

Alice and Bob both turn on relay-only mode with coturn as their TURN server (``tests/rig/turn.py``), Bob
first with a wrong credential:

* Bob pastes Alice's invite link: his browser gathers no relay address (coturn answers 401), and his chat says
  so plainly, naming the TURN server and the refusal, long before the dial would time out;
* Bob corrects the credential in Settings and presses Connect (unless his redial loop, which takes the new
  settings too, is already calling): the pages connect, and ``getStats`` on
  both sides shows the selected candidate pair made of relay candidates on coturn's relay ports, and no
  local candidate of any other type (relay-only means only TURN relays); coturn's log shows the
  allocations;
* texts go both ways across the relay, and a PNG from Bob to Alice (her saved copy has the sent
  SHA-256, the progress reaches 100% on both sides);
* Alice then breaks her own credential and Bob calls again: her chat (the answering side) says why too.

The test records each page's ``RTCPeerConnection``s with an init script (it runs before the page's own
scripts, so the CSP does not apply to it) to read their stats.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FilePayload, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.app_steps import (
    CONNECT_MS,
    START_MS,
    STEP_MS,
    chat_menu,
    message,
    onboard,
    screen,
    screenshots,
    send,
)
from tests.browser.test_app_files import complete, png, received_sha256
from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.server import LiveServer
from tests.rig.turn import TurnServer, turn_server

__all__ = ["turn_server"]

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_relay")]

#: Well under the dial timeout (20 s): the wrong credential is reported when gathering ends.
ERROR_MS = 19_000

RECORD_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  const made = [];
  window.__peerConnections = made;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); made.push(this); }
  };
})();
"""

#: The connected peer connection's selected pair, its configuration, and every local candidate's type.
SELECTED_PAIR = """
async () => {
  for (const pc of window.__peerConnections) {
    if (pc.connectionState !== "connected") continue;
    const stats = [...(await pc.getStats()).values()];
    const byId = Object.fromEntries(stats.map((s) => [s.id, s]));
    const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
    if (!transport) continue;
    const pair = byId[transport.selectedCandidatePairId];
    const local = byId[pair.localCandidateId], remote = byId[pair.remoteCandidateId];
    return {
      policy: pc.getConfiguration().iceTransportPolicy,
      urls: pc.getConfiguration().iceServers.flatMap((s) => [].concat(s.urls)),
      local: {type: local.candidateType, port: local.port, protocol: local.relayProtocol || ""},
      remote: {type: remote.candidateType, port: remote.port},
      localTypes: stats.filter((s) => s.type === "local-candidate").map((s) => s.candidateType),
    };
  }
  return null;
}
"""


def set_relay(page: Page, turn: TurnServer, password: str) -> None:
    """Settings: coturn as the only ICE server, relay-only on, saved."""
    page.click("#open-settings")
    screen(page, "settings")
    page.fill("#settings-ice", f"{turn.url} {turn.username} {password}")
    page.check("#settings-relay")
    page.click("#settings-save")
    expect(page.locator("#settings-saved")).to_have_text("Saved.", timeout=STEP_MS)
    page.click("#settings-back")
    screen(page, "home")


def selected_pair(page: Page) -> dict[str, Any]:
    result = page.evaluate(SELECTED_PAIR)
    assert result is not None, "no connected RTCPeerConnection on this page"
    return dict(result)


@pytest.mark.timeout(600)
def test_relay_only_through_coturn(
    live_server: LiveServer, browser_context: BrowserContextFactory, turn_server: TurnServer, tmp_path: Path
) -> None:
    pages = []
    for _ in range(2):
        context = browser_context()
        context.add_init_script(RECORD_PEER_CONNECTIONS)
        pages.append(context.new_page())
    alice, bob = pages
    console_log(alice), console_log(bob)

    onboard(alice, live_server.url, "Alice")
    screen(alice, "home", START_MS)
    expect(alice.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)
    set_relay(alice, turn_server, turn_server.password)
    onboard(bob, live_server.url, "Bob")
    screen(bob, "home", START_MS)
    set_relay(bob, turn_server, "not-the-password")

    # Wrong credential: a clear error on Bob's chat, about his TURN server, not "peer unavailable".
    bob.fill("#connect-input", alice.locator("#invite-link").input_value())
    bob.click("#connect-submit")
    screen(bob, "chat")
    error = bob.locator("#chat-error")
    expect(error).to_contain_text("Relay-only mode: the TURN server gave no relay address", timeout=ERROR_MS)
    expect(error).to_contain_text("401")
    expect(error).to_contain_text(f"127.0.0.1:{turn_server.port}")
    screenshots(bob, "relay-wrong-credentials")

    # The right credential: connected through coturn.
    bob.click("#chat-back")
    screen(bob, "home")
    set_relay(bob, turn_server, turn_server.password)
    bob.locator("#contacts .contact").click()
    screen(bob, "chat")
    chat_menu(bob)
    connect = bob.locator("#chat-connect")  # hidden while the redial loop is already calling again
    if connect.is_visible():
        with contextlib.suppress(PlaywrightTimeoutError):
            connect.click(timeout=2_000)
    expect(bob.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
    expect(bob.locator("#chat-error")).to_be_hidden()

    for page in (alice, bob):
        pair = selected_pair(page)
        assert pair["policy"] == "relay"
        assert pair["urls"] == [turn_server.url]
        assert pair["local"]["type"] == "relay" and pair["remote"]["type"] == "relay"
        assert turn_server.min_port <= pair["local"]["port"] <= turn_server.max_port
        assert turn_server.min_port <= pair["remote"]["port"] <= turn_server.max_port
        assert pair["local"]["protocol"] == "udp"
        assert set(pair["localTypes"]) == {"relay"}  # relay-only: no host or srflx candidate at all
    log = turn_server.log()
    assert "401" in log  # Bob's first, refused allocation
    assert log.count("ALLOCATE processed, success") >= 2, log[-3000:]

    contact = alice.locator("#requests .contact")
    expect(contact).to_have_attribute("data-state", "ready", timeout=STEP_MS)
    contact.click()
    screen(alice, "chat")
    send(bob, "Hello Alice, through the relay")
    expect(message(alice, "Hello Alice, through the relay")).to_have_count(1, timeout=STEP_MS)
    send(alice, "Hello Bob, relayed back")
    expect(message(bob, "Hello Bob, relayed back")).to_have_count(1, timeout=STEP_MS)

    # A file across the relay: Alice's saved copy has the SHA-256 Bob sent.
    image = png(320, 200)
    payload: FilePayload = {"name": "relayed.png", "mimeType": "image/png", "buffer": image}
    bob.set_input_files("#compose-file", files=[payload])
    for page in (alice, bob):
        complete(page, "relayed.png")
    assert received_sha256(alice, "relayed.png", tmp_path) == hashlib.sha256(image).hexdigest()
    screenshots(bob, "relay-chat")

    # The answering side with a wrong credential is told too: Alice breaks hers, Bob reloads and calls
    # again, and her chat with him says why her side could not take the call.
    alice.click("#chat-back")
    screen(alice, "home")
    set_relay(alice, turn_server, "wrong-again")
    alice.locator("#contacts .contact").click()
    screen(alice, "chat")
    bob.reload()
    screen(bob, "home", START_MS)
    error = alice.locator("#chat-error")
    expect(error).to_contain_text("the TURN server gave no relay address", timeout=CONNECT_MS)
    expect(error).to_contain_text("401")
