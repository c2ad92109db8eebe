"""Dialing and answering peers: broker events in, open data-channel links out. The rules of both fronts.

``pyfront.browser.connector.Connector`` and ``pyfront.peer.connector.Connector`` subclass ``Links`` and
give it only their link class and their broker's ``offer`` and ``answer``:

* ``dial(peer_id)`` makes a link, sends its OFFER (a link whose offer cannot leave is closed);
* an OFFER from someone else makes an answering link if ``accept_offer`` allows it (a blocked peer's
  offer gets no answer and no peer connection), at most ``MAX_LINKS`` at once; more are ignored;
* ANSWER and CANDIDATE frames go to the link with that ``connectionId`` and the same peer (links are
  keyed by connection id, as PeerJS does, so a peer may redial after a drop); frames naming no link of
  ours, or a link of another peer, are ignored and counted (``ignored_frames``);
* ``PeerUnavailable`` closes that peer's links that are not open yet.

Nothing here is trusted: SDPs and candidates are checked by the link (``pyfront.network.link``), and
who is on the other end is settled by the session's handshake, which binds both DTLS fingerprints. A
hostile or broken frame closes its own link only. No I/O here: the front's link and broker do it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pyfront.errors import InvalidStateError, LimitError, ProtocolError
from pyfront.messaging.signaling import (
    CONNECTION_ID_PREFIX,
    Event,
    PeerUnavailable,
    RemoteCandidate,
    RemoteDescription,
    valid_peer_id,
)
from pyfront.network.link import DataChannelLink, LinkCallbacks, LinkState
from pyfront.tasks import TaskSet

#: Links (open or being set up) held at once; more offers are refused.
MAX_LINKS = 32
CONNECTION_ID_RANDOM_BYTES = 12

L = TypeVar("L", bound=DataChannelLink)
L_contra = TypeVar("L_contra", bound=DataChannelLink, contravariant=True)
T = TypeVar("T")


class LinkEvents(Protocol[L_contra]):
    """What the connector tells its owner about its links."""

    def link_open(self, peer_id: str, link: L_contra) -> None: ...
    def link_message(self, peer_id: str, link: L_contra, data: bytes) -> None: ...
    def link_closed(self, peer_id: str, link: L_contra, reason: str) -> None: ...


@dataclass
class _Entry(Generic[L]):
    peer_id: str
    link: L
    outgoing: bool


class Links(ABC, Generic[L]):
    """The links made through one broker registration."""

    def __init__(
        self,
        events: LinkEvents[L],
        random_bytes: Callable[[int], bytes],
        *,
        accept_offer: Callable[[str, Any], bool] = lambda _peer, _metadata: True,
    ) -> None:
        self._events = events
        self._random_bytes = random_bytes
        self._accept_offer = accept_offer
        self._links: dict[str, _Entry[L]] = {}
        self._tasks = TaskSet(type(self).__name__)
        self.ignored_frames = 0

    # --- the front's calls ---------------------------------------------------------------------------

    @property
    @abstractmethod
    def own_peer_id(self) -> str:
        """Our id at the broker."""

    @abstractmethod
    def _make_link(self, peer_id: str, connection_id: str, callbacks: LinkCallbacks) -> L:
        """A new link of the front's kind that tells ``callbacks``."""

    @abstractmethod
    async def _send_offer(self, peer_id: str, connection_id: str, sdp: str, metadata: Any) -> None:
        """The OFFER through the broker."""

    @abstractmethod
    async def _send_answer(self, peer_id: str, connection_id: str, sdp: str) -> None:
        """The ANSWER through the broker."""

    def _describe(self, error: Exception) -> str:
        """A refusal of the front's WebRTC stack, for the link's close reason."""
        return f"{type(error).__name__}: {error}"

    # --- links ---------------------------------------------------------------------------------------

    def links(self) -> dict[str, L]:
        return {connection_id: entry.link for connection_id, entry in self._links.items()}

    async def dial(self, peer_id: str, metadata: Any = None) -> L:
        """Offer a data channel to ``peer_id``; returns the link (``await link.wait_open()`` for it)."""
        if not valid_peer_id(peer_id):
            raise ProtocolError(f"{peer_id!r} is not a peer id")
        if peer_id == self.own_peer_id:
            raise InvalidStateError("cannot connect to ourselves")
        self._check_capacity()
        connection_id = CONNECTION_ID_PREFIX + self._random_bytes(CONNECTION_ID_RANDOM_BYTES).hex()
        entry = self._new_entry(peer_id, connection_id, outgoing=True)
        try:
            sdp = await entry.link.create_offer()
            await self._send_offer(peer_id, connection_id, sdp, metadata)
        except ProtocolError:
            entry.link.close("the offer could not be sent")
            raise
        return entry.link

    def handle(self, event: Event) -> None:
        """Feed every broker event here."""
        if isinstance(event, RemoteDescription):
            self._tasks.spawn(self._description(event))
        elif isinstance(event, RemoteCandidate):
            entry = self._entry(event.connection_id, event.peer)
            if entry is not None:
                self._tasks.spawn(self._guarded(entry, entry.link.add_remote_candidate(event.candidate)))
        elif isinstance(event, PeerUnavailable):
            for entry in list(self._links.values()):
                if entry.peer_id == event.peer and entry.link.state is not LinkState.OPEN:
                    entry.link.close(f"peer unavailable ({event.reason})")

    async def _description(self, event: RemoteDescription) -> None:
        if event.kind == "offer":
            if event.connection_id in self._links or not self._accept_offer(event.peer, event.metadata):
                self.ignored_frames += 1
                return
            try:
                self._check_capacity()
            except LimitError:
                self.ignored_frames += 1
                return
            entry = self._new_entry(event.peer, event.connection_id, outgoing=False)
            answer = await self._guarded(entry, entry.link.accept_offer(event.sdp))
            if answer is not None:
                await self._guarded(entry, self._send_answer(event.peer, event.connection_id, answer))
            return
        answered = self._entry(event.connection_id, event.peer)
        if answered is None or not answered.outgoing:
            return
        await self._guarded(answered, answered.link.accept_answer(event.sdp))

    async def _guarded(self, entry: _Entry[L], step: Coroutine[Any, Any, T]) -> T | None:
        """Run one negotiation step; a hostile or broken frame closes that link only."""
        try:
            return await step
        except ProtocolError as error:
            entry.link.close(f"signaling refused: {error}")
        except Exception as error:  # the WebRTC stack refused the description or candidate
            entry.link.close(f"negotiation failed: {self._describe(error)}")
        return None

    def _entry(self, connection_id: str, peer_id: str) -> _Entry[L] | None:
        entry = self._links.get(connection_id)
        if entry is None or entry.peer_id != peer_id:
            self.ignored_frames += 1
            return None
        return entry

    def _check_capacity(self) -> None:
        if len(self._links) >= MAX_LINKS:
            raise LimitError(f"at most {MAX_LINKS} connections at once")

    def _new_entry(self, peer_id: str, connection_id: str, *, outgoing: bool) -> _Entry[L]:
        holder: list[L] = []

        def on_closed(reason: str) -> None:
            self._links.pop(connection_id, None)
            self._events.link_closed(peer_id, holder[0], reason)

        callbacks = LinkCallbacks(
            on_open=lambda: self._events.link_open(peer_id, holder[0]),
            on_message=lambda data: self._events.link_message(peer_id, holder[0], data),
            on_closed=on_closed,
        )
        link = self._make_link(peer_id, connection_id, callbacks)
        holder.append(link)
        entry = _Entry(peer_id, link, outgoing)
        self._links[connection_id] = entry
        return entry

    def _close_links(self) -> list[L]:
        """Close every link ("closed locally"); returns them."""
        links = [entry.link for entry in self._links.values()]
        for link in links:
            link.close("closed locally")
        return links

    def _stop_tasks(self) -> None:
        self._tasks.cancel_all()
