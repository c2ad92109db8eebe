"""WebRTC from Python: one ``RTCPeerConnection`` carrying one reliable, ordered data channel of bytes.

DESIGN.md section 3 ("WebRTC on this machine") and section 6. What this module does for the app:

* builds the peer connection from ``Settings.rtc_configuration()`` (ICE servers with credentials, and
  ``iceTransportPolicy: "relay"`` in relay-only mode);
* offers or answers (SDP strings, carried by ``pyfront.browser.transport`` through the broker), trickles
  ICE candidates both ways (remote candidates that arrive before the remote description are held, not
  dropped);
* exposes both DTLS certificate fingerprints, read from the local and remote SDP with
  ``pyfront.messaging.signaling.dtls_fingerprint``, so the session's handshake can bind them into its
  transcript; ``on_open`` comes only once both are known (an offerer's channel that opens before
  ``setRemoteDescription(answer)`` has returned waits for it: docs/architecture.md, "Why handshakes
  stalled under load");
* sends bytes with ``bufferedamountlow`` backpressure: one message is at most ``MAX_MESSAGE_BYTES``
  (Chromium's SCTP limit), and a sender waits while the channel holds more than ``HIGH_WATER_BYTES``
  (Chromium closes the channel when its queue reaches 16 MiB, ``BROWSER_QUEUE_LIMIT_BYTES``).

It is browser glue (imports ``js``/``pyodide``), so it is tested in Chromium: ``tests/browser/
test_app_rtc.py``; ``tests/unit/test_rtc.py`` runs it over a fake browser whose events it orders.
Everything it receives from the network is bytes handed to the caller unchanged; text frames (which our
peers never send) are dropped and counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import js
from pyodide.ffi import create_proxy, to_js

from pyfront.errors import InvalidStateError, LimitError
from pyfront.messaging.signaling import MAX_SDP_BYTES, check_candidate, dtls_fingerprint

#: The largest message Chromium's data channel sends (its SCTP max-message-size).
MAX_MESSAGE_BYTES = 262_144
#: Chromium closes a data channel whose send queue reaches this (``bufferedAmount``).
BROWSER_QUEUE_LIMIT_BYTES = 16 * 1024 * 1024
#: ``send`` waits while more than this is queued ...
HIGH_WATER_BYTES = 4 * 1024 * 1024
#: ... until ``bufferedamountlow`` says the queue fell to this.
LOW_WATER_BYTES = 1024 * 1024
#: The data channel's label (PeerJS uses the connection id; ours is fixed, the broker never sees it).
DATA_CHANNEL_LABEL = "parley"
#: Remote candidates held until the remote description is set.
MAX_PENDING_CANDIDATES = 64
#: ICE candidate errors kept for the message a failed relay-only link shows (``relay_problem``).
MAX_ICE_ERRORS = 8
#: How often ``gathered_sdp`` looks whether gathering has finished.
GATHER_POLL_S = 0.05
#: Called with each data channel before the link listens to it: the page's file transfers
#: (``pyfront.browser.files``) take their ``FileChunk`` frames off the channel first, in JavaScript.
CHANNEL_HOOKS: list[Callable[[Any], None]] = []


class LinkState(Enum):
    NEW = "new"
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


@dataclass
class LinkCallbacks:
    """What the link tells its owner. Every callback runs on the page's event loop."""

    on_candidate: Callable[[dict[str, Any]], None]
    on_open: Callable[[], None]
    on_message: Callable[[bytes], None]
    on_closed: Callable[[str], None]


def _js_object(value: Any) -> Any:
    return to_js(value, dict_converter=js.Object.fromEntries)


def _uint8(data: bytes) -> Any:
    array = js.Uint8Array.new(len(data))
    array.assign(data)
    return array


def _destroy_all(listeners: list[tuple[Any, str, Any]]) -> None:
    for _target, _event, proxy in listeners:
        proxy.destroy()


class RtcLink:
    """One peer connection, one data channel. Offer with ``create_offer``, or answer with ``accept_offer``."""

    def __init__(
        self, configuration: dict[str, Any], callbacks: LinkCallbacks, *, label: str = DATA_CHANNEL_LABEL
    ) -> None:
        self._callbacks = callbacks
        self._label = label
        self._pc = js.RTCPeerConnection.new(_js_object(configuration))
        self._relay_only = configuration.get("iceTransportPolicy") == "relay"
        #: Candidate types gathered locally (``host``, ``srflx``, ``relay``), and the ICE servers' errors.
        self.local_candidate_types: set[str] = set()
        self.ice_errors: list[str] = []
        self._channel: Any = None
        self._listeners: list[tuple[Any, str, Any]] = []
        self._pending_candidates: list[dict[str, Any]] = []
        self._remote_set = False
        self._local_sdp = ""
        self._remote_sdp = ""
        self._opened: asyncio.Future[None] = asyncio.get_event_loop().create_future()
        #: The channel opened before the remote description was taken (``_on_open`` waits for it).
        self._open_early = False
        self._drained: asyncio.Future[None] | None = None
        self.state = LinkState.NEW
        self.dropped_text_frames = 0
        self.close_reason = ""
        self._listen(self._pc, "icecandidate", self._on_icecandidate)
        self._listen(self._pc, "datachannel", self._on_datachannel)
        self._listen(self._pc, "connectionstatechange", self._on_connectionstatechange)
        self._listen(self._pc, "icecandidateerror", self._on_icecandidateerror)
        self._listen(self._pc, "icegatheringstatechange", self._on_icegatheringstatechange)

    def __repr__(self) -> str:
        return f"<RtcLink {self.state.value}>"

    # --- negotiation ---------------------------------------------------------------------------------

    async def create_offer(self) -> str:
        """Open the data channel and return the local offer SDP (candidates trickle afterwards)."""
        self._require(LinkState.NEW)
        self.state = LinkState.CONNECTING
        self._adopt_channel(self._pc.createDataChannel(self._label, _js_object({"ordered": True})))
        offer = await self._pc.createOffer()
        await self._pc.setLocalDescription(offer)
        self._local_sdp = str(self._pc.localDescription.sdp)
        return self._local_sdp

    async def gathered_sdp(self) -> str:
        """Our local description once ICE gathering has finished, every candidate inline (manual signaling
        trickles nothing; wrap in ``asyncio.timeout`` and fall back to ``local_sdp``)."""
        if not self._local_sdp:
            raise InvalidStateError("rtc: no local description yet")
        while str(self._pc.iceGatheringState) != "complete":
            await asyncio.sleep(GATHER_POLL_S)
            self._require(LinkState.CONNECTING)
        return self.local_sdp

    @property
    def local_sdp(self) -> str:
        """Our local description as it stands now (with the candidates gathered so far)."""
        return str(self._pc.localDescription.sdp) if self._pc.localDescription else self._local_sdp

    async def accept_offer(self, sdp: str) -> str:
        """Take the remote offer and return our answer SDP; the channel arrives via ``datachannel``."""
        self._require(LinkState.NEW)
        self._check_remote_sdp(sdp)
        self.state = LinkState.CONNECTING
        await self._set_remote("offer", sdp)
        answer = await self._pc.createAnswer()
        await self._pc.setLocalDescription(answer)
        self._local_sdp = str(self._pc.localDescription.sdp)
        return self._local_sdp

    async def accept_answer(self, sdp: str) -> None:
        """Take the remote answer to our offer."""
        self._require(LinkState.CONNECTING)
        if self._remote_set or not self._local_sdp:
            raise InvalidStateError("rtc: an answer is only accepted after our own offer")
        self._check_remote_sdp(sdp)
        await self._set_remote("answer", sdp)

    async def add_remote_candidate(self, candidate: object) -> None:
        """A trickled remote candidate; held until the remote description is set."""
        checked = check_candidate(candidate)
        if self.state is LinkState.CLOSED:
            return
        if not self._remote_set:
            if len(self._pending_candidates) >= MAX_PENDING_CANDIDATES:
                raise LimitError(f"rtc: more than {MAX_PENDING_CANDIDATES} early candidates")
            self._pending_candidates.append(checked)
            return
        await self._pc.addIceCandidate(_js_object(checked))

    async def _set_remote(self, kind: str, sdp: str) -> None:
        await self._pc.setRemoteDescription(_js_object({"type": kind, "sdp": sdp}))
        self._remote_sdp = sdp
        self._remote_set = True
        if self._open_early:  # the channel opened while we awaited: report it now, fingerprints known
            self._open_early = False
            self._on_open(None)
        pending, self._pending_candidates = self._pending_candidates, []
        for candidate in pending:
            await self._pc.addIceCandidate(_js_object(candidate))

    def _check_remote_sdp(self, sdp: str) -> None:
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
        """Wait until the data channel is open (wrap in ``asyncio.timeout``); raises if the link closes."""
        await asyncio.shield(self._opened)

    async def send(self, data: bytes) -> None:
        """Queue one message; waits (``bufferedamountlow``) while more than ``HIGH_WATER_BYTES`` is queued."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise LimitError(f"rtc: a message is at most {MAX_MESSAGE_BYTES} bytes, got {len(data)}")
        self._require(LinkState.OPEN)
        while self._channel.bufferedAmount + len(data) > HIGH_WATER_BYTES:
            if self._drained is None or self._drained.done():
                self._drained = asyncio.get_event_loop().create_future()
            await self._drained
            self._require(LinkState.OPEN)
        self._channel.send(_uint8(data))

    @property
    def channel(self) -> Any:
        """The ``RTCDataChannel`` (the file transfers' bulk path sends on it), or None before it exists."""
        return self._channel

    @property
    def buffered_amount(self) -> int:
        return int(self._channel.bufferedAmount) if self._channel is not None else 0

    def close(self, reason: str = "closed locally") -> None:
        """Close the channel and the connection; idempotent. ``on_closed`` is called once."""
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.CLOSED
        self.close_reason = reason
        if self._channel is not None:
            self._channel.close()
        self._pc.close()
        for future in (self._opened, self._drained):
            if future is not None and not future.done():
                future.set_exception(InvalidStateError(f"rtc: link closed ({reason})"))
                future.exception()  # retrieved: nobody waiting is not an error worth a log line
        # Detached now (events the browser still queues, such as frames that arrived with the open, or the
        # channel's own "close", must not reach a destroyed proxy), destroyed later: this may run inside
        # one of these handlers.
        listeners, self._listeners = self._listeners, []
        for target, event, proxy in listeners:
            target.removeEventListener(event, proxy)
        asyncio.get_event_loop().call_soon(_destroy_all, listeners)
        self._callbacks.on_closed(reason)

    # --- browser events -------------------------------------------------------------------------------

    def _listen(self, target: Any, event: str, handler: Callable[[Any], None]) -> None:
        proxy = create_proxy(handler)
        self._listeners.append((target, event, proxy))
        target.addEventListener(event, proxy)

    def _adopt_channel(self, channel: Any) -> None:
        self._channel = channel
        channel.binaryType = "arraybuffer"
        channel.bufferedAmountLowThreshold = LOW_WATER_BYTES
        for hook in CHANNEL_HOOKS:
            hook(channel)
        self._listen(channel, "open", self._on_open)
        self._listen(channel, "message", self._on_message)
        self._listen(channel, "bufferedamountlow", self._on_bufferedamountlow)
        self._listen(channel, "close", self._on_channel_close)

    def _on_icecandidate(self, event: Any) -> None:
        if not event.candidate or not event.candidate.candidate:  # JS null arrives as falsy ``jsnull``
            return  # end of gathering: PeerJS sends nothing for it
        if event.candidate.type:
            self.local_candidate_types.add(str(event.candidate.type))
        self._callbacks.on_candidate(event.candidate.toJSON().to_py())

    def _on_icecandidateerror(self, event: Any) -> None:
        if len(self.ice_errors) < MAX_ICE_ERRORS:
            text = str(event.errorText or "").strip().rstrip(".") or "no answer"
            self.ice_errors.append(f"{event.url or 'an ICE server'}: {event.errorCode} {text}")

    def _on_icegatheringstatechange(self, _event: Any) -> None:
        if str(self._pc.iceGatheringState) == "complete" and self.relay_problem:
            self.close(self.relay_problem)  # relay-only with no relay address can never connect: say so now

    @property
    def relay_problem(self) -> str:
        """In relay-only mode, once gathering gave no TURN relay address: why, in words; else empty."""
        if not self._relay_only or "relay" in self.local_candidate_types:
            return ""
        if str(self._pc.iceGatheringState) != "complete" and not self.ice_errors:
            return ""
        if self.ice_errors:
            return (
                "Relay-only mode: the TURN server gave no relay address ("
                + "; ".join(self.ice_errors)
                + "). Check its address, username and credential in Settings."
            )
        return "Relay-only mode: no TURN server answered. Check the TURN servers in Settings."

    def _on_datachannel(self, event: Any) -> None:
        if self._channel is not None or str(event.channel.label) != self._label:
            event.channel.close()  # one channel per link; anything else the peer opens is refused
            return
        self._adopt_channel(event.channel)
        if str(event.channel.readyState) == "open":
            self._on_open(None)

    def _on_open(self, _event: Any) -> None:
        if self.state is not LinkState.CONNECTING:
            return
        if not self._remote_sdp:
            # The offerer's channel can open before this task's continuation after
            # setRemoteDescription(answer) has run: on a loaded page the browser runs its "open" event
            # first. The owner's handshake reads both fingerprints at once (an open reported here made
            # link_open fail, the initiator never sent Hello and the responder gave up after 20 s:
            # docs/protocol.md section 4), so the open waits for ``_set_remote``.
            self._open_early = True
            return
        self.state = LinkState.OPEN
        if not self._opened.done():
            self._opened.set_result(None)
        self._callbacks.on_open()

    def _on_message(self, event: Any) -> None:
        data = event.data
        if isinstance(data, str):
            self.dropped_text_frames += 1
            return
        self._callbacks.on_message(bytes(data.to_bytes()))

    def _on_bufferedamountlow(self, _event: Any) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _on_channel_close(self, _event: Any) -> None:
        self.close("the data channel closed")

    def _on_connectionstatechange(self, _event: Any) -> None:
        if str(self._pc.connectionState) in ("failed", "closed"):
            self.close(f"the connection {self._pc.connectionState}")

    def _require(self, state: LinkState) -> None:
        if self.state is not state:
            raise InvalidStateError(f"rtc: {state.value} expected, the link is {self.state.value}")
