"""Dialing and answering peers: broker signaling events in, open ``RtcLink`` data channels out.

The glue between ``transport.BrokerTransport`` (PeerJS frames) and ``rtc.RtcLink`` (one peer connection):
``dial(peer_id)`` sends an OFFER and trickles candidates; an OFFER from someone else creates an answering
link (if ``accept_offer`` allows it); ANSWER and CANDIDATE frames go to the link with that
``connectionId``, and frames naming no link of ours (or a link of another peer) are ignored. Links are
keyed by connection id, as PeerJS does, so a peer may redial after a drop.

Nothing here is trusted: the broker's SDP and candidates are checked by ``RtcLink``, and who is on the
other end is settled by the session's handshake, which binds both DTLS fingerprints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pyfront.browser.rtc import LinkCallbacks, LinkState, RtcLink
from pyfront.browser.transport import BrokerTransport
from pyfront.errors import InvalidStateError, LimitError, ProtocolError
from pyfront.messaging.signaling import (
    CONNECTION_ID_PREFIX,
    Event,
    PeerUnavailable,
    RemoteCandidate,
    RemoteDescription,
    valid_peer_id,
)

#: Links (open or being set up) held at once; more offers are refused.
MAX_LINKS = 32
CONNECTION_ID_RANDOM_BYTES = 12


class LinkEvents(Protocol):
    """What the connector tells the app about its links."""

    def link_open(self, peer_id: str, link: RtcLink) -> None: ...
    def link_message(self, peer_id: str, link: RtcLink, data: bytes) -> None: ...
    def link_closed(self, peer_id: str, link: RtcLink, reason: str) -> None: ...


@dataclass
class _Entry:
    peer_id: str
    link: RtcLink
    outgoing: bool


class Connector:
    """One broker registration and the links made through it."""

    def __init__(
        self,
        transport: BrokerTransport,
        configuration: Callable[[], dict[str, Any]],
        events: LinkEvents,
        random_bytes: Callable[[int], bytes],
        *,
        accept_offer: Callable[[str, Any], bool] = lambda _peer, _metadata: True,
    ) -> None:
        self.transport = transport
        self._configuration = configuration
        self._events = events
        self._random_bytes = random_bytes
        self._accept_offer = accept_offer
        self._links: dict[str, _Entry] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self.ignored_frames = 0
        self.unavailable: list[PeerUnavailable] = []

    def links(self) -> dict[str, RtcLink]:
        return {connection_id: entry.link for connection_id, entry in self._links.items()}

    async def dial(self, peer_id: str, metadata: Any = None) -> RtcLink:
        """Offer a data channel to ``peer_id``; returns the link (``await link.wait_open()`` for it)."""
        if not valid_peer_id(peer_id):
            raise ProtocolError(f"{peer_id!r} is not a peer id")
        if peer_id == self.transport.peer_id:
            raise InvalidStateError("cannot connect to ourselves")
        self._check_capacity()
        connection_id = CONNECTION_ID_PREFIX + self._random_bytes(CONNECTION_ID_RANDOM_BYTES).hex()
        link = self._new_link(peer_id, connection_id, outgoing=True)
        sdp = await link.create_offer()
        self.transport.offer(peer_id, connection_id, sdp, metadata)
        return link

    def handle(self, event: Event) -> None:
        """Feed every transport event here (the transport's ``on_event``)."""
        if isinstance(event, RemoteDescription):
            self._spawn(self._description(event))
        elif isinstance(event, RemoteCandidate):
            entry = self._entry(event.connection_id, event.peer)
            if entry is not None:
                self._spawn(self._guarded(entry, entry.link.add_remote_candidate(event.candidate)))
        elif isinstance(event, PeerUnavailable):
            self.unavailable.append(event)
            for entry in list(self._links.values()):
                if entry.peer_id == event.peer and entry.link.state is not LinkState.OPEN:
                    entry.link.close(f"peer unavailable ({event.reason})")

    def _spawn(self, step: Any) -> None:
        task = asyncio.ensure_future(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
            self._new_link(event.peer, event.connection_id, outgoing=False)
            entry = self._links[event.connection_id]
            answer = await self._guarded(entry, entry.link.accept_offer(event.sdp))
            if answer is not None:
                self.transport.answer(event.peer, event.connection_id, answer)
            return
        answered = self._entry(event.connection_id, event.peer)
        if answered is None or not answered.outgoing:
            return
        await self._guarded(answered, answered.link.accept_answer(event.sdp))

    async def _guarded(self, entry: _Entry, step: Any) -> Any:
        """Run one negotiation step; a hostile or broken frame closes that link only."""
        try:
            return await step
        except ProtocolError as error:
            entry.link.close(f"signaling refused: {error}")
        except Exception as error:  # a JS error from the browser's WebRTC stack
            entry.link.close(f"negotiation failed: {error}")
        return None

    def _entry(self, connection_id: str, peer_id: str) -> _Entry | None:
        entry = self._links.get(connection_id)
        if entry is None or entry.peer_id != peer_id:
            self.ignored_frames += 1
            return None
        return entry

    def _check_capacity(self) -> None:
        if len(self._links) >= MAX_LINKS:
            raise LimitError(f"at most {MAX_LINKS} connections at once")

    def _new_link(self, peer_id: str, connection_id: str, *, outgoing: bool) -> RtcLink:
        holder: list[RtcLink] = []

        def on_candidate(candidate: dict[str, Any]) -> None:
            if self.transport.registered:
                self.transport.candidate(peer_id, connection_id, candidate)

        def on_closed(reason: str) -> None:
            self._links.pop(connection_id, None)
            self._events.link_closed(peer_id, holder[0], reason)

        callbacks = LinkCallbacks(
            on_candidate=on_candidate,
            on_open=lambda: self._events.link_open(peer_id, holder[0]),
            on_message=lambda data: self._events.link_message(peer_id, holder[0], data),
            on_closed=on_closed,
        )
        link = RtcLink(self._configuration(), callbacks)
        holder.append(link)
        self._links[connection_id] = _Entry(peer_id, link, outgoing)
        return link

    def close(self) -> None:
        for entry in list(self._links.values()):
            entry.link.close("closed locally")
        self.transport.close()
