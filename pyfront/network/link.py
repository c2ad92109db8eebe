"""One peer connection carrying one reliable, ordered data channel of bytes: the rules both fronts keep.

``pyfront.browser.rtc.RtcLink`` (the page's ``RTCPeerConnection``) and ``pyfront.peer.rtc.AiortcLink``
(aiortc) subclass ``DataChannelLink`` and implement only its calls into their WebRTC stack (the methods
under "the front's WebRTC calls"). What they share, and this module decides:

* the link's states (``LinkState``) and their one table of moves (``_MOVES``): new -> connecting ->
  open -> closed, closed from anywhere, once;
* offer, answer and remote candidates: a remote SDP is refused when it is larger than ``MAX_SDP_BYTES``
  or carries no DTLS fingerprint (the handshake binds both); remote candidates are checked
  (``signaling.check_candidate``) and held, at most ``MAX_PENDING_CANDIDATES``, until the remote
  description is taken;
* ``on_open`` only once both fingerprints are known: an offerer's channel can open before
  ``setRemoteDescription(answer)`` has returned (a loaded page runs the browser's event first), and the
  owner's handshake reads both at once (docs/architecture.md, "Why handshakes stalled under load");
* ``send`` refuses a message over ``MAX_MESSAGE_BYTES`` (Chromium's SCTP limit, and aiortc's) and waits
  while more than ``HIGH_WATER_BYTES`` is queued, until the channel's ``bufferedamountlow``;
* frames reach the owner only while the link is open; text frames (our peers send none) are dropped and
  counted.

No I/O here: the front's calls do it.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from pyfront.errors import InvalidStateError, LimitError
from pyfront.messaging.signaling import MAX_SDP_BYTES, check_candidate, dtls_fingerprint

#: The largest message sent (Chromium's SCTP max-message-size, the same as aiortc's).
MAX_MESSAGE_BYTES = 262_144
#: ``send`` waits while more than this is queued ...
HIGH_WATER_BYTES = 4 * 1024 * 1024
#: ... until ``bufferedamountlow`` says the queue fell to this.
LOW_WATER_BYTES = 1024 * 1024
#: The data channel's label: each side refuses any other (PeerJS uses the connection id; the broker
#: never sees ours).
DATA_CHANNEL_LABEL = "parley"
#: Remote candidates held until the remote description is set.
MAX_PENDING_CANDIDATES = 64


class LinkState(Enum):
    NEW = "new"
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


#: The one table of a link's moves; ``DataChannelLink._move`` refuses any other.
_MOVES: dict[LinkState, frozenset[LinkState]] = {
    LinkState.NEW: frozenset({LinkState.CONNECTING, LinkState.CLOSED}),
    LinkState.CONNECTING: frozenset({LinkState.OPEN, LinkState.CLOSED}),
    LinkState.OPEN: frozenset({LinkState.CLOSED}),
    LinkState.CLOSED: frozenset(),
}


class LinkOwner(Protocol):
    """What the link tells its owner, on the event loop (each front's ``LinkCallbacks``)."""

    @property
    def on_open(self) -> Callable[[], None]: ...
    @property
    def on_message(self) -> Callable[[bytes], None]: ...
    @property
    def on_closed(self) -> Callable[[str], None]: ...


@dataclass
class LinkCallbacks:
    """What the link tells its owner, on the event loop."""

    on_open: Callable[[], None]
    on_message: Callable[[bytes], None]
    on_closed: Callable[[str], None]


class DataChannelLink(ABC):
    """One peer connection, one data channel: ``create_offer`` then ``accept_answer``, or ``accept_offer``."""

    def __init__(self, callbacks: LinkOwner) -> None:
        self._callbacks = callbacks
        self._pending_candidates: list[dict[str, Any]] = []
        self._local_sdp = ""
        self._remote_sdp = ""
        self._opened: asyncio.Future[None] = asyncio.get_event_loop().create_future()
        self._drained: asyncio.Future[None] | None = None
        #: The channel opened before the remote description was taken (reported by ``_set_remote``).
        self._open_early = False
        self.state = LinkState.NEW
        self.dropped_text_frames = 0
        self.close_reason = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state.value}>"

    # --- the front's WebRTC calls ----------------------------------------------------------------------

    @abstractmethod
    async def _make_offer(self) -> str:
        """Create our data channel (its ``open`` comes back as ``_channel_opened``), set the local offer
        and return its SDP."""

    @abstractmethod
    async def _make_answer(self) -> str:
        """Set the local answer to the remote offer and return its SDP."""

    @abstractmethod
    async def _take_remote(self, kind: str, sdp: str) -> None:
        """``setRemoteDescription`` (``kind`` is "offer" or "answer")."""

    @abstractmethod
    async def _add_candidate(self, checked: dict[str, Any]) -> None:
        """``addIceCandidate`` with a checked ``RTCIceCandidateInit``."""

    @abstractmethod
    def _buffered(self) -> int:
        """The channel's ``bufferedAmount``."""

    @abstractmethod
    def _transmit(self, data: bytes) -> None:
        """The channel's ``send``."""

    @abstractmethod
    def _release(self) -> None:
        """Close the channel and the peer connection, and stop hearing their events."""

    # --- negotiation ---------------------------------------------------------------------------------

    async def create_offer(self) -> str:
        """Open the data channel and return the local offer SDP."""
        self._require(LinkState.NEW)
        self._move(LinkState.CONNECTING)
        self._local_sdp = await self._make_offer()
        return self._local_sdp

    async def accept_offer(self, sdp: str) -> str:
        """Take the remote offer and return our answer SDP; the channel arrives from the peer."""
        self._require(LinkState.NEW)
        self._check_remote_sdp(sdp)
        self._move(LinkState.CONNECTING)
        await self._set_remote("offer", sdp)
        self._local_sdp = await self._make_answer()
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

    async def _set_remote(self, kind: str, sdp: str) -> None:
        await self._take_remote(kind, sdp)
        self._remote_sdp = sdp
        if self._open_early:  # the channel opened while we awaited: report it now, fingerprints known
            self._open_early = False
            self._channel_opened()
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
        """Queue one message; waits (``bufferedamountlow``) while more than ``HIGH_WATER_BYTES`` is queued."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise LimitError(f"rtc: a message is at most {MAX_MESSAGE_BYTES} bytes, got {len(data)}")
        self._require(LinkState.OPEN)
        while self._buffered() + len(data) > HIGH_WATER_BYTES:
            if self._drained is None or self._drained.done():
                self._drained = asyncio.get_event_loop().create_future()
            await self._drained
            self._require(LinkState.OPEN)
        self._transmit(data)

    def close(self, reason: str = "closed locally") -> None:
        """Close the channel and the connection; idempotent. ``on_closed`` is called once."""
        if self.state is LinkState.CLOSED:
            return
        self._move(LinkState.CLOSED)
        self.close_reason = reason
        for future in (self._opened, self._drained):
            if future is not None and not future.done():
                future.set_exception(InvalidStateError(f"rtc: link closed ({reason})"))
                future.exception()  # retrieved: nobody waiting is not an error worth a log line
        self._release()
        self._callbacks.on_closed(reason)

    # --- the front's events --------------------------------------------------------------------------

    def _channel_opened(self) -> None:
        """The data channel's ``open``."""
        if self.state is not LinkState.CONNECTING:
            return
        if not self._remote_sdp:  # the handshake needs both fingerprints: wait for ``_set_remote``
            self._open_early = True
            return
        self._move(LinkState.OPEN)
        if not self._opened.done():
            self._opened.set_result(None)
        self._callbacks.on_open()

    def _received(self, data: bytes | str) -> None:
        """A frame from the data channel (a ``str`` for a text frame)."""
        if self.state is not LinkState.OPEN:
            return
        if isinstance(data, str):
            self.dropped_text_frames += 1
            return
        self._callbacks.on_message(data)

    def _queue_drained(self) -> None:
        """The channel's ``bufferedamountlow``."""
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _connection_state(self, state: str) -> None:
        """The peer connection's ``connectionstatechange``."""
        if state in ("failed", "closed"):
            self.close(f"the connection {state}")

    def _move(self, state: LinkState) -> None:
        if state not in _MOVES[self.state]:
            raise InvalidStateError(f"rtc: no move from {self.state.value} to {state.value}")
        self.state = state

    def _require(self, state: LinkState) -> None:
        if self.state is not state:
            raise InvalidStateError(f"rtc: {state.value} expected, the link is {self.state.value}")
