"""WebRTC with aiortc: one ``RTCPeerConnection`` carrying one reliable, ordered data channel of bytes.

The headless twin of ``pyfront.browser.rtc.RtcLink``, and the messenger's ``Link`` the same way:

* the configuration comes from ``Settings`` (ICE servers with credentials; relay-only as
  ``iceTransportPolicy`` relay);
* aiortc gathers every local candidate in ``setLocalDescription`` and writes them into the SDP, so our
  offers and answers carry their candidates and we trickle none; the browser's trickled candidates are
  checked (``signaling.check_candidate``) and added, held until the remote description is set;
* both DTLS certificate fingerprints are read from the SDPs (``signaling.dtls_fingerprint``) for the
  session's handshake to bind; ``on_open`` comes once the channel is open, when both are known;
* ``send`` refuses a message over ``MAX_MESSAGE_BYTES`` (Chromium's SCTP limit, and aiortc's own) and
  waits while more than ``HIGH_WATER_BYTES`` is queued, until ``bufferedamountlow``;
* a data channel with another label, text frames, and a connection that fails close or are dropped
  and counted, as in the page.

**Loopback.** aioice (aiortc's ICE agent) lists host addresses with ``aioice.ice.get_host_addresses``,
which leaves out 127.0.0.1: two processes on one machine without another interface (a test namespace,
a container with only ``lo``) then gather no candidate at all. ``allow_loopback()`` (the CLI's
``--allow-loopback``) wraps that function to add 127.0.0.1 to the IPv4 list; nothing else changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp

from pyfront.errors import DecodeError, InvalidStateError, LimitError
from pyfront.messaging.settings import Settings
from pyfront.messaging.signaling import MAX_SDP_BYTES, check_candidate, dtls_fingerprint

#: The largest message sent (Chromium's SCTP max-message-size, the same as aiortc's).
MAX_MESSAGE_BYTES = 262_144
#: ``send`` waits while more than this is queued ...
HIGH_WATER_BYTES = 4 * 1024 * 1024
#: ... until ``bufferedamountlow`` says the queue fell to this.
LOW_WATER_BYTES = 1024 * 1024
#: The data channel's label: the page refuses any other (``pyfront.browser.rtc.DATA_CHANNEL_LABEL``).
DATA_CHANNEL_LABEL = "parley"
#: Remote candidates held until the remote description is set.
MAX_PENDING_CANDIDATES = 64
LOOPBACK_IPV4 = "127.0.0.1"


def allow_loopback() -> None:
    """Let aioice offer 127.0.0.1 as a host candidate (it skips it by default). Idempotent."""
    original = aioice.ice.get_host_addresses
    if getattr(original, "parley_loopback", False):
        return

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = original(use_ipv4, use_ipv6)
        if use_ipv4 and LOOPBACK_IPV4 not in addresses:
            addresses = [*addresses, LOOPBACK_IPV4]
        return addresses

    with_loopback.parley_loopback = True  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = with_loopback


def rtc_configuration(settings: Settings) -> RTCConfiguration:
    """The aiortc form of ``Settings.rtc_configuration()``."""
    servers = [
        RTCIceServer(list(server.urls), server.username or None, server.credential or None)
        for server in settings.ice_servers
    ]
    policy = RTCIceTransportPolicy.RELAY if settings.relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


class LinkState(Enum):
    NEW = "new"
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


@dataclass
class LinkCallbacks:
    """What the link tells its owner, on the event loop."""

    on_open: Callable[[], None]
    on_message: Callable[[bytes], None]
    on_closed: Callable[[str], None]


class AiortcLink:
    """One peer connection, one data channel: ``create_offer`` then ``accept_answer``, or ``accept_offer``."""

    def __init__(self, configuration: RTCConfiguration, callbacks: LinkCallbacks) -> None:
        self._callbacks = callbacks
        self._pc = RTCPeerConnection(configuration)
        self._channel: RTCDataChannel | None = None
        self._pending_candidates: list[dict[str, Any]] = []
        self._local_sdp = ""
        self._remote_sdp = ""
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drained: asyncio.Future[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        #: The channel opened before the remote description was taken (reported by ``_set_remote``).
        self._open_early = False
        self.state = LinkState.NEW
        self.dropped_text_frames = 0
        self.close_reason = ""
        self._pc.on("datachannel", self._on_datachannel)
        self._pc.on("connectionstatechange", self._on_connectionstatechange)

    def __repr__(self) -> str:
        return f"<AiortcLink {self.state.value}>"

    # --- negotiation ---------------------------------------------------------------------------------

    async def create_offer(self) -> str:
        """Open the data channel and return the offer SDP, with every local candidate in it."""
        self._require(LinkState.NEW)
        self.state = LinkState.CONNECTING
        self._adopt_channel(self._pc.createDataChannel(DATA_CHANNEL_LABEL, ordered=True))
        await self._pc.setLocalDescription(await self._pc.createOffer())
        self._local_sdp = self._pc.localDescription.sdp
        return self._local_sdp

    async def accept_offer(self, sdp: str) -> str:
        """Take the remote offer and return our answer SDP; the channel arrives via ``datachannel``."""
        self._require(LinkState.NEW)
        self._check_remote_sdp(sdp)
        self.state = LinkState.CONNECTING
        await self._set_remote("offer", sdp)
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        self._local_sdp = self._pc.localDescription.sdp
        return self._local_sdp

    async def accept_answer(self, sdp: str) -> None:
        """Take the remote answer to our offer."""
        self._require(LinkState.CONNECTING)
        if self._remote_sdp or not self._local_sdp:
            raise InvalidStateError("rtc: an answer is only accepted after our own offer")
        self._check_remote_sdp(sdp)
        await self._set_remote("answer", sdp)

    async def add_remote_candidate(self, candidate: object) -> None:
        """A trickled remote candidate (``RTCIceCandidateInit``); held until the remote description is set."""
        checked = check_candidate(candidate)
        if self.state is LinkState.CLOSED:
            return
        if not self._remote_sdp:
            if len(self._pending_candidates) >= MAX_PENDING_CANDIDATES:
                raise LimitError(f"rtc: more than {MAX_PENDING_CANDIDATES} early candidates")
            self._pending_candidates.append(checked)
            return
        await self._add_candidate(checked)

    async def _add_candidate(self, checked: dict[str, Any]) -> None:
        line = str(checked["candidate"]).removeprefix("candidate:")
        if not line:
            return  # an end-of-candidates marker: aiortc needs none
        try:
            candidate = candidate_from_sdp(line)
        except (ValueError, IndexError):
            raise DecodeError("ICE candidate: not an SDP candidate line") from None
        candidate.sdpMid = checked.get("sdpMid")
        candidate.sdpMLineIndex = checked.get("sdpMLineIndex")
        await self._pc.addIceCandidate(candidate)

    async def _set_remote(self, kind: str, sdp: str) -> None:
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp, kind))
        self._remote_sdp = sdp
        if self._open_early:
            self._open_early = False
            self._on_open()
        pending, self._pending_candidates = self._pending_candidates, []
        for candidate in pending:
            await self._add_candidate(candidate)

    @staticmethod
    def _check_remote_sdp(sdp: str) -> None:
        if not isinstance(sdp, str) or len(sdp) > MAX_SDP_BYTES:
            raise LimitError(f"rtc: remote SDP must be a string of at most {MAX_SDP_BYTES} bytes")
        dtls_fingerprint(sdp)  # refuse a description that cannot be bound to the handshake

    # --- fingerprints ---------------------------------------------------------------------------------

    @property
    def local_fingerprint(self) -> bytes:
        """SHA-256 of our DTLS certificate, from our SDP (32 bytes)."""
        if not self._local_sdp:
            raise InvalidStateError("rtc: no local description yet")
        return dtls_fingerprint(self._local_sdp)

    @property
    def remote_fingerprint(self) -> bytes:
        """SHA-256 of the peer's DTLS certificate, as its SDP claims (the handshake verifies the claim)."""
        if not self._remote_sdp:
            raise InvalidStateError("rtc: no remote description yet")
        return dtls_fingerprint(self._remote_sdp)

    # --- data ---------------------------------------------------------------------------------------

    async def wait_open(self) -> None:
        """Until the data channel is open (wrap in ``asyncio.timeout``); raises if the link closes first."""
        await asyncio.shield(self._opened)

    async def send(self, data: bytes) -> None:
        """Queue one message; waits while more than ``HIGH_WATER_BYTES`` is queued."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise LimitError(f"rtc: a message is at most {MAX_MESSAGE_BYTES} bytes, got {len(data)}")
        self._require(LinkState.OPEN)
        channel = self._channel
        assert channel is not None
        while channel.bufferedAmount + len(data) > HIGH_WATER_BYTES:
            if self._drained is None or self._drained.done():
                self._drained = asyncio.get_running_loop().create_future()
            await self._drained
            self._require(LinkState.OPEN)
        channel.send(data)

    def close(self, reason: str = "closed locally") -> None:
        """Close the channel and the connection; idempotent. ``on_closed`` is called once."""
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.CLOSED
        self.close_reason = reason
        for future in (self._opened, self._drained):
            if future is not None and not future.done():
                future.set_exception(InvalidStateError(f"rtc: link closed ({reason})"))
                future.exception()  # retrieved: nobody waiting is not an error worth a log line
        self._closing = asyncio.ensure_future(self._pc.close())
        self._callbacks.on_closed(reason)

    async def closed(self) -> None:
        """Until aiortc has released the connection's sockets (after ``close``)."""
        if self._closing is not None:
            with contextlib.suppress(Exception):
                await self._closing

    # --- aiortc events --------------------------------------------------------------------------------

    def _adopt_channel(self, channel: RTCDataChannel) -> None:
        self._channel = channel
        channel.bufferedAmountLowThreshold = LOW_WATER_BYTES
        channel.on("open", self._on_open)
        channel.on("message", self._on_message)
        channel.on("bufferedamountlow", self._on_bufferedamountlow)
        channel.on("close", self._on_channel_close)

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if self._channel is not None or channel.label != DATA_CHANNEL_LABEL:
            channel.close()  # one channel per link; anything else the peer opens is refused
            return
        self._adopt_channel(channel)
        if channel.readyState == "open":
            self._on_open()

    def _on_open(self) -> None:
        if self.state is not LinkState.CONNECTING:
            return
        if not self._remote_sdp:  # the handshake needs both fingerprints: wait for ``_set_remote``
            self._open_early = True
            return
        self.state = LinkState.OPEN
        if not self._opened.done():
            self._opened.set_result(None)
        self._callbacks.on_open()

    def _on_message(self, data: bytes | str) -> None:
        if self.state is not LinkState.OPEN:
            return
        if isinstance(data, str):
            self.dropped_text_frames += 1
            return
        self._callbacks.on_message(bytes(data))

    def _on_bufferedamountlow(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _on_channel_close(self) -> None:
        self.close("the data channel closed")

    def _on_connectionstatechange(self) -> None:
        if self._pc.connectionState in ("failed", "closed"):
            self.close(f"the connection {self._pc.connectionState}")

    def _require(self, state: LinkState) -> None:
        if self.state is not state:
            raise InvalidStateError(f"rtc: {state.value} expected, the link is {self.state.value}")
