"""A man in the middle between two real pages is shown as such on both, and carries no message (issue 13,
deliverable 3; docs/protocol.md, "Refusal"; docs/security.md, "A connection that cannot be verified").

**What the attacker controls.** The broker. Both people use a PeerJS broker that the attacker runs
(``HostileBroker``, in this test process, on its own loopback port; each person set it in the settings
screen, as one would a public broker, and our server allows it in ``connect-src``). It sees and rewrites
every signalling message, and it holds real WebRTC endpoints of its own (aiortc, with its own DTLS
certificates). When Bob calls Alice it does not pass the call on: it answers Bob itself, with an SDP
whose ``a=fingerprint`` is its own certificate's, and calls Alice itself, in Bob's name, with another
certificate of its own. So each page's DTLS handshake completes, with the attacker, and the fingerprint
each app reads from the SDP as "the other's" (``RtcLink.remote_fingerprint``) is the attacker's: exactly
a rewrite of the fingerprints in the SDP that DTLS does not catch. Then it relays every data-channel
message between the two pages byte for byte, both ways. What it does not have: either identity key.

**What must happen.** Alice's session checks Bob's ``Hello`` signature over a transcript that starts
from the fingerprints she saw, which are not the ones Bob signed: it fails, she sends the ``Refusal`` and
shows that the connection could not be verified; the relayed ``Refusal`` ends Bob's handshake and his
page shows the same warning, never "offline". Both warnings lead to the safety screen. The message Bob
writes meanwhile stays "sending" (through a reload, too), and no ``Data`` frame ever crosses the
attacker's relay. When the broker stops interfering, the next call verifies: both warnings clear and the
text arrives, once.

Two Chromium contexts and our server, loopback only. aioice (aiortc's ICE) skips 127.0.0.1 when it lists
host addresses; the attacker's endpoints are given loopback, the only interface in the test namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aioice.ice
import pytest
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp
from playwright.sync_api import Page, expect
from websockets.asyncio.server import ServerConnection, serve

from pyfront.messaging.signaling import dtls_fingerprint
from tests.browser.app_steps import (
    CONNECT_MS,
    DESKTOP,
    START_MS,
    STEP_MS,
    chat_menu,
    message,
    screen,
    screenshots,
)
from tests.rig.browser import BrowserContextFactory
from tests.rig.server import LOOPBACK, LiveServerFactory, free_port

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_interception")]

BROKER_KEY = "parley"
FRAME_TYPE_NAMES = {1: "Hello", 2: "Reply", 3: "Finish", 4: "Confirm", 5: "Data", 6: "Refusal"}


@dataclass
class Interception:
    """One call the attacker took over: its two endpoints and what crossed its relay."""

    caller: str
    callee: str
    toward_caller: RTCPeerConnection
    toward_callee: RTCPeerConnection
    #: The fingerprint each side will read as the other's (the attacker's certificates).
    shown_to_caller: bytes = b""
    shown_to_callee: bytes = b""
    #: (direction, frame type name) of every relayed data-channel message, in order.
    relayed: list[tuple[str, str]] = field(default_factory=list)


class HostileBroker:
    """A PeerJS broker run by the attacker; ``serve_forever`` in its own thread and event loop."""

    def __init__(self) -> None:
        self.port = free_port()
        #: Take over every new call (False: relay signalling honestly, as our broker does).
        self.intercept = True
        self.sockets: dict[str, ServerConnection] = {}
        self.interceptions: list[Interception] = []
        self._calls: dict[str, Interception] = {}  # connection id -> the call it belongs to
        self._loop = asyncio.new_event_loop()
        self._ready: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="hostile-broker", daemon=True)

    @property
    def http_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self._ready.result(timeout=10)

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def relayed(self) -> list[tuple[str, str]]:
        return [item for call in list(self.interceptions) for item in call.relayed]

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._client, LOOPBACK, self.port):
            self._ready.set_result(None)
            await self._stop.wait()
        for call in self.interceptions:
            await call.toward_caller.close()
            await call.toward_callee.close()

    async def _client(self, socket: ServerConnection) -> None:
        query = parse_qs(urlsplit(socket.request.path if socket.request else "").query)
        peer_id = query.get("id", [""])[0]
        self.sockets[peer_id] = socket
        await socket.send(json.dumps({"type": "OPEN"}))
        async for text in socket:
            frame = json.loads(text)
            with contextlib.suppress(KeyError, TypeError):
                await self._signal(peer_id, frame)

    async def _send(self, dst: str, kind: str, src: str, payload: dict[str, Any]) -> None:
        socket = self.sockets.get(dst)
        if socket is not None:
            await socket.send(json.dumps({"type": kind, "src": src, "dst": dst, "payload": payload}))

    async def _signal(self, src: str, frame: dict[str, Any]) -> None:
        kind, payload = frame["type"], frame.get("payload") or {}
        if kind in ("OFFER", "ANSWER", "CANDIDATE") and (
            payload["connectionId"] not in self._calls and not (self.intercept and kind == "OFFER")
        ):
            await self._send(frame["dst"], kind, src, payload)  # an honest broker's work
        elif kind == "OFFER":
            await self._intercept(src, frame["dst"], payload)
        elif kind == "ANSWER":  # the callee answers what it thinks is the caller: it is us
            call = self._calls[payload["connectionId"]]
            sdp = payload["sdp"]["sdp"]
            await call.toward_callee.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        elif kind == "CANDIDATE":
            call = self._calls[payload["connectionId"]]
            endpoint = call.toward_caller if src == call.caller else call.toward_callee
            line = payload["candidate"]
            candidate = candidate_from_sdp(line["candidate"].removeprefix("candidate:"))
            candidate.sdpMid, candidate.sdpMLineIndex = line.get("sdpMid"), line.get("sdpMLineIndex")
            await endpoint.addIceCandidate(candidate)

    async def _intercept(self, caller: str, callee: str, offer: dict[str, Any]) -> None:
        """Answer ``caller`` ourselves and call ``callee`` in the caller's name, then relay."""
        call = Interception(caller, callee, RTCPeerConnection(), RTCPeerConnection())
        connection_id = offer["connectionId"]
        self._calls[connection_id] = call
        self.interceptions.append(call)
        to_callee = call.toward_callee.createDataChannel("parley", ordered=True)
        pending: list[bytes] = []

        def relay(direction: str, target: RTCDataChannel, data: bytes | str) -> None:
            raw = data if isinstance(data, bytes) else data.encode()
            name = FRAME_TYPE_NAMES.get(raw[1], "?") if len(raw) > 1 else "?"
            call.relayed.append((direction, name))
            if target.readyState == "open":
                target.send(raw)
            else:
                pending.append(raw)

        @to_callee.on("open")
        def flush() -> None:
            while pending:
                to_callee.send(pending.pop(0))

        @call.toward_caller.on("datachannel")
        def caller_channel(channel: RTCDataChannel) -> None:
            channel.on("message", lambda data: relay("caller->callee", to_callee, data))
            to_callee.on("message", lambda data: relay("callee->caller", channel, data))

        # Toward the caller: an answer with the attacker's own certificate.
        await call.toward_caller.setRemoteDescription(RTCSessionDescription(offer["sdp"]["sdp"], "offer"))
        await call.toward_caller.setLocalDescription(await call.toward_caller.createAnswer())
        answer = call.toward_caller.localDescription.sdp
        call.shown_to_caller = dtls_fingerprint(answer)
        reply = {"sdp": {"type": "answer", "sdp": answer}, "type": "data", "connectionId": connection_id}
        await self._send(caller, "ANSWER", callee, reply)
        # Toward the callee: a call "from the caller", with another certificate of the attacker's.
        await call.toward_callee.setLocalDescription(await call.toward_callee.createOffer())
        offer_sdp = call.toward_callee.localDescription.sdp
        call.shown_to_callee = dtls_fingerprint(offer_sdp)
        forged = {**offer, "sdp": {"type": "offer", "sdp": offer_sdp}}
        await self._send(callee, "OFFER", caller, forged)


@pytest.fixture
def hostile_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileBroker]:
    host_addresses = aioice.ice.get_host_addresses
    monkeypatch.setattr(
        aioice.ice,
        "get_host_addresses",
        lambda use_ipv4, use_ipv6: [*host_addresses(use_ipv4, use_ipv6), LOOPBACK] if use_ipv4 else [],
    )
    broker = HostileBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def use_broker(page: Page, url: str, name: str, broker: HostileBroker) -> None:
    """Create an account at ``url`` and set ``broker`` in the settings (as for any third-party broker)."""
    page.goto(url)
    screen(page, "onboarding", START_MS)
    page.fill("#onboarding-name", name)
    page.click("#onboarding-submit")
    screen(page, "home")
    page.click("#open-settings")
    screen(page, "settings")
    page.fill("#settings-broker-url", broker.http_url)
    page.fill("#settings-broker-key", BROKER_KEY)
    page.click("#settings-save")
    expect(page.locator("#settings-saved")).to_have_text("Saved.", timeout=STEP_MS)
    page.click("#settings-back")
    screen(page, "home")
    expect(page.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)


def expect_warning(page: Page) -> None:
    """The chat shows the connection as not verified, never as offline, with a way to the safety screen."""
    status = page.locator("#chat-status")
    expect(status).to_have_attribute("data-state", "unverified", timeout=CONNECT_MS)
    banner = page.locator("#unverified-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("could not verify the connection")
    expect(banner).to_contain_text("intercepting")
    expect(banner).to_contain_text("safety number")


def test_a_man_in_the_middle_is_shown_on_both_pages_and_carries_no_message(
    hostile_broker: HostileBroker,
    live_server_factory: LiveServerFactory,
    browser_context: BrowserContextFactory,
) -> None:
    server = live_server_factory(extra_args=("--connect-src", f"ws://{LOOPBACK}:{hostile_broker.port}"))
    alice = browser_context(viewport=DESKTOP).new_page()
    bob = browser_context(viewport=DESKTOP).new_page()
    use_broker(alice, server.url, "Alice", hostile_broker)
    use_broker(bob, server.url, "Bob", hostile_broker)

    # Bob pastes Alice's invite link: his call goes through the attacker's broker.
    bob.fill("#connect-input", alice.locator("#invite-link").input_value())
    bob.click("#connect-submit")
    screen(bob, "chat")
    bob.fill("#compose-text", "meet me at noon")
    bob.press("#compose-text", "Enter")
    expect(message(bob, "meet me at noon")).to_have_count(1, timeout=STEP_MS)

    # Bob (who called) sees the warning, not "offline".
    expect_warning(bob)
    call = hostile_broker.interceptions[0]
    assert call.shown_to_caller and call.shown_to_callee and call.shown_to_caller != call.shown_to_callee
    # Alice (who was called, and caught it) sees it on the caller's entry, and in the chat.
    contact = alice.locator("#requests .contact")
    expect(contact).to_have_attribute("data-state", "unverified", timeout=CONNECT_MS)
    expect(contact.locator(".contact-state")).to_contain_text("not verified")
    contact.click()
    screen(alice, "chat")
    expect_warning(alice)
    screenshots(alice, "interception-chat-alice")

    # The warning leads to the safety screen, which repeats it (no digits yet: no connection verified).
    bob.click("#unverified-safety")
    screen(bob, "safety")
    expect(bob.locator("#safety-unverified")).to_contain_text("could not be verified")
    screenshots(bob, "interception-safety-bob")

    # Across the attacker's relay went handshake frames and the Refusal; never a Data frame. Bob's text
    # is still waiting, Alice has no message, and Bob keeps calling (the attacker answers each time).
    relayed = hostile_broker.relayed()
    assert ("caller->callee", "Hello") in relayed and ("callee->caller", "Refusal") in relayed
    assert not [item for item in relayed if item[1] == "Data"], relayed
    assert alice.locator("#messages .message").count() == 0
    expect(alice.locator("#chat-status")).to_have_attribute("data-state", "unverified")
    bob.goto(server.url)  # a reload: Bob's text is stored, still unsent, and he is warned again
    screen(bob, "home", START_MS)
    bob.locator("#contacts .contact").click()
    screen(bob, "chat")
    expect(message(bob, "meet me at noon")).to_have_attribute("data-status", "sending")
    expect_warning(bob)
    assert alice.locator("#messages .message").count() == 0
    assert not [item for item in hostile_broker.relayed() if item[1] == "Data"]

    # The attacker gives up: Bob's next call verifies, both warnings go, the text arrives once.
    hostile_broker.intercept = False
    chat_menu(bob)
    bob.click("#chat-connect")
    for page in (alice, bob):
        expect(page.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
        expect(page.locator("#unverified-banner")).to_be_hidden()
    expect(message(alice, "meet me at noon")).to_have_count(1, timeout=STEP_MS)
    expect(message(bob, "meet me at noon")).to_have_attribute("data-status", "delivered", timeout=STEP_MS)
    chat_menu(bob)
    bob.click("#chat-safety")
    screen(bob, "safety")
    expect(bob.locator("#safety-number")).to_be_visible()
    assert bob.locator("#safety-unverified").count() == 0
