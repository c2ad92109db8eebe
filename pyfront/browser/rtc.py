"""WebRTC from Python: one ``RTCPeerConnection`` carrying one reliable, ordered data channel of bytes.

DESIGN.md section 3 ("WebRTC on this machine") and section 6. The rules of a link (its states, remote
candidates held until the remote description, ``on_open`` only once both DTLS fingerprints are known,
``bufferedamountlow`` backpressure, text frames dropped and counted) are
``pyfront.network.link.DataChannelLink``, shared with the headless peer; this module makes its calls into
the page's WebRTC, and adds what only the page does:

* builds the peer connection from ``Settings.rtc_configuration()`` (ICE servers with credentials, and
  ``iceTransportPolicy: "relay"`` in relay-only mode);
* trickles local ICE candidates (``on_candidate``; the SDP strings and candidates are carried by
  ``pyfront.browser.transport`` through the broker), or waits for all of them (``gathered_sdp``, for
  manual signaling);
* in relay-only mode, says why no relay address came (``relay_problem``) and closes the link then;
* keeps the sender under Chromium's limit: it closes a channel whose queue reaches 16 MiB
  (``BROWSER_QUEUE_LIMIT_BYTES``), and ``send`` waits above ``HIGH_WATER_BYTES``.

It is browser glue (imports ``js``/``pyodide``), so it is tested in Chromium: ``tests/browser/
test_app_rtc.py``; ``tests/unit/test_rtc.py`` runs it over a fake browser whose events it orders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import js
from pyodide.ffi import create_proxy

from pyfront.browser.js_values import js_object, uint8
from pyfront.errors import InvalidStateError
from pyfront.network.link import (
    DATA_CHANNEL_LABEL,
    HIGH_WATER_BYTES,
    LOW_WATER_BYTES,
    MAX_MESSAGE_BYTES,
    DataChannelLink,
    LinkState,
)

__all__ = ["HIGH_WATER_BYTES", "MAX_MESSAGE_BYTES", "LinkCallbacks", "LinkState", "RtcLink"]

#: Chromium closes a data channel whose send queue reaches this (``bufferedAmount``).
BROWSER_QUEUE_LIMIT_BYTES = 16 * 1024 * 1024
#: ICE candidate errors kept for the message a failed relay-only link shows (``relay_problem``).
MAX_ICE_ERRORS = 8
#: How often ``gathered_sdp`` looks whether gathering has finished.
GATHER_POLL_S = 0.05
#: Called with each data channel before the link listens to it: the page's file transfers
#: (``pyfront.browser.files``) take their ``FileChunk`` frames off the channel first, in JavaScript.
CHANNEL_HOOKS: list[Callable[[Any], None]] = []


@dataclass
class LinkCallbacks:
    """What the link tells its owner. Every callback runs on the page's event loop."""

    on_candidate: Callable[[dict[str, Any]], None]
    on_open: Callable[[], None]
    on_message: Callable[[bytes], None]
    on_closed: Callable[[str], None]


def _destroy_all(listeners: list[tuple[Any, str, Any]]) -> None:
    for _target, _event, proxy in listeners:
        proxy.destroy()


class RtcLink(DataChannelLink):
    """One peer connection, one data channel. Offer with ``create_offer``, or answer with ``accept_offer``."""

    def __init__(
        self, configuration: dict[str, Any], callbacks: LinkCallbacks, *, label: str = DATA_CHANNEL_LABEL
    ) -> None:
        super().__init__(callbacks)
        self._on_candidate = callbacks.on_candidate
        self._label = label
        self._pc = js.RTCPeerConnection.new(js_object(configuration))
        self._relay_only = configuration.get("iceTransportPolicy") == "relay"
        #: Candidate types gathered locally (``host``, ``srflx``, ``relay``), and the ICE servers' errors.
        self.local_candidate_types: set[str] = set()
        self.ice_errors: list[str] = []
        self._channel: Any = None
        self._listeners: list[tuple[Any, str, Any]] = []
        self._listen(self._pc, "icecandidate", self._on_icecandidate)
        self._listen(self._pc, "datachannel", self._on_datachannel)
        self._listen(self._pc, "connectionstatechange", self._on_connectionstatechange)
        self._listen(self._pc, "icecandidateerror", self._on_icecandidateerror)
        self._listen(self._pc, "icegatheringstatechange", self._on_icegatheringstatechange)

    # --- the page's WebRTC calls ---------------------------------------------------------------------

    async def _make_offer(self) -> str:
        self._adopt_channel(self._pc.createDataChannel(self._label, js_object({"ordered": True})))
        offer = await self._pc.createOffer()
        await self._pc.setLocalDescription(offer)
        return str(self._pc.localDescription.sdp)

    async def _make_answer(self) -> str:
        answer = await self._pc.createAnswer()
        await self._pc.setLocalDescription(answer)
        return str(self._pc.localDescription.sdp)

    async def _take_remote(self, kind: str, sdp: str) -> None:
        await self._pc.setRemoteDescription(js_object({"type": kind, "sdp": sdp}))

    async def _add_candidate(self, checked: dict[str, Any]) -> None:
        await self._pc.addIceCandidate(js_object(checked))

    def _buffered(self) -> int:
        return self.buffered_amount

    def _transmit(self, data: bytes) -> None:
        self._channel.send(uint8(data))

    def _release(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._pc.close()
        # Detached now (events the browser still queues, such as frames that arrived with the open, or the
        # channel's own "close", must not reach a destroyed proxy), destroyed later: this may run inside
        # one of these handlers.
        listeners, self._listeners = self._listeners, []
        for target, event, proxy in listeners:
            target.removeEventListener(event, proxy)
        asyncio.get_event_loop().call_soon(_destroy_all, listeners)

    # --- what only the page does ------------------------------------------------------------------------

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

    @property
    def channel(self) -> Any:
        """The ``RTCDataChannel`` (the file transfers' bulk path sends on it), or None before it exists."""
        return self._channel

    @property
    def buffered_amount(self) -> int:
        return int(self._channel.bufferedAmount) if self._channel is not None else 0

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
        self._listen(channel, "open", lambda _event: self._channel_opened())
        self._listen(channel, "message", self._on_message)
        self._listen(channel, "bufferedamountlow", lambda _event: self._queue_drained())
        self._listen(channel, "close", lambda _event: self.close("the data channel closed"))

    def _on_icecandidate(self, event: Any) -> None:
        if not event.candidate or not event.candidate.candidate:  # JS null arrives as falsy ``jsnull``
            return  # end of gathering: PeerJS sends nothing for it
        if event.candidate.type:
            self.local_candidate_types.add(str(event.candidate.type))
        self._on_candidate(event.candidate.toJSON().to_py())

    def _on_icecandidateerror(self, event: Any) -> None:
        if len(self.ice_errors) < MAX_ICE_ERRORS:
            text = str(event.errorText or "").strip().rstrip(".") or "no answer"
            self.ice_errors.append(f"{event.url or 'an ICE server'}: {event.errorCode} {text}")

    def _on_icegatheringstatechange(self, _event: Any) -> None:
        if str(self._pc.iceGatheringState) == "complete" and self.relay_problem:
            self.close(self.relay_problem)  # relay-only with no relay address can never connect: say so now

    def _on_datachannel(self, event: Any) -> None:
        if self._channel is not None or str(event.channel.label) != self._label:
            event.channel.close()  # one channel per link; anything else the peer opens is refused
            return
        self._adopt_channel(event.channel)
        if str(event.channel.readyState) == "open":
            self._channel_opened()

    def _on_message(self, event: Any) -> None:
        data = event.data
        self._received(data if isinstance(data, str) else bytes(data.to_bytes()))

    def _on_connectionstatechange(self, _event: Any) -> None:
        self._connection_state(str(self._pc.connectionState))
