"""Dialing and answering peers for the headless peer: broker events in, open ``AiortcLink`` channels out.

The twin of ``pyfront.browser.connector.Connector``, with the same rules: ``dial(peer_id)`` sends an
OFFER (its SDP carries our candidates: aiortc does not trickle); an OFFER from someone else makes an
answering link if ``accept_offer`` allows it (a blocked peer's offer gets no answer and no peer
connection); ANSWER and CANDIDATE frames go to the link with that ``connectionId`` and the same peer,
anything else is ignored and counted. At most ``MAX_LINKS`` links exist at once.

Nothing here is trusted: SDPs and candidates are checked by ``AiortcLink``, and who is on the other end
is settled by the session's handshake, which binds both DTLS fingerprints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiortc import RTCConfiguration

from pyfront.errors import InvalidStateError, LimitError, ProtocolError
from pyfront.messaging.signaling import (
    CONNECTION_ID_PREFIX,
    Event,
    PeerUnavailable,
    RemoteCandidate,
    RemoteDescription,
    valid_peer_id,
)
from pyfront.peer.broker import BrokerConnection
from pyfront.peer.rtc import AiortcLink, LinkCallbacks, LinkState

#: Links (open or being set up) held at once; more offers are refused.
MAX_LINKS = 32
CONNECTION_ID_RANDOM_BYTES = 12

T = TypeVar("T")


class LinkEvents(Protocol):
    """What the connector tells its owner about its links."""

    def link_open(self, peer_id: str, link: AiortcLink) -> None: ...
    def link_message(self, peer_id: str, link: AiortcLink, data: bytes) -> None: ...
    def link_closed(self, peer_id: str, link: AiortcLink, reason: str) -> None: ...


@dataclass
class _Entry:
    peer_id: str
    link: AiortcLink
    outgoing: bool


class Connector:
    """The links made through one broker registration."""

    def __init__(
        self,
        broker: BrokerConnection,
        configuration: Callable[[], RTCConfiguration],
        events: LinkEvents,
        random_bytes: Callable[[int], bytes],
        *,
        accept_offer: Callable[[str], bool] = lambda _peer: True,
    ) -> None:
        self.broker = broker
        self._configuration = configuration
        self._events = events
        self._random_bytes = random_bytes
        self._accept_offer = accept_offer
        self._links: dict[str, _Entry] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self.ignored_frames = 0

    def links(self) -> dict[str, AiortcLink]:
        return {connection_id: entry.link for connection_id, entry in self._links.items()}

    async def dial(self, peer_id: str) -> AiortcLink:
        """Offer a data channel to ``peer_id``; returns the link (``await link.wait_open()`` for it)."""
        if not valid_peer_id(peer_id):
            raise ProtocolError(f"{peer_id!r} is not a peer id")
        if peer_id == self.broker.peer_id:
            raise InvalidStateError("cannot connect to ourselves")
        self._check_capacity()
        connection_id = CONNECTION_ID_PREFIX + self._random_bytes(CONNECTION_ID_RANDOM_BYTES).hex()
        entry = self._new_entry(peer_id, connection_id, outgoing=True)
        try:
            sdp = await entry.link.create_offer()
            await self.broker.offer(peer_id, connection_id, sdp)
        except ProtocolError:
            entry.link.close("the offer could not be sent")
            raise
        return entry.link

    def handle(self, event: Event) -> None:
        """Feed every broker event here."""
        if isinstance(event, RemoteDescription):
            self._spawn(self._description(event))
        elif isinstance(event, RemoteCandidate):
            entry = self._entry(event.connection_id, event.peer)
            if entry is not None:
                self._spawn(self._guarded(entry, entry.link.add_remote_candidate(event.candidate)))
        elif isinstance(event, PeerUnavailable):
            for entry in list(self._links.values()):
                if entry.peer_id == event.peer and entry.link.state is not LinkState.OPEN:
                    entry.link.close(f"peer unavailable ({event.reason})")

    def _spawn(self, step: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _description(self, event: RemoteDescription) -> None:
        if event.kind == "offer":
            if event.connection_id in self._links or not self._accept_offer(event.peer):
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
                await self._guarded(entry, self.broker.answer(event.peer, event.connection_id, answer))
            return
        answered = self._entry(event.connection_id, event.peer)
        if answered is None or not answered.outgoing:
            return
        await self._guarded(answered, answered.link.accept_answer(event.sdp))

    async def _guarded(self, entry: _Entry, step: Coroutine[Any, Any, T]) -> T | None:
        """Run one negotiation step; a hostile or broken frame closes that link only."""
        try:
            return await step
        except ProtocolError as error:
            entry.link.close(f"signaling refused: {error}")
        except Exception as error:  # aiortc refused the description or candidate
            entry.link.close(f"negotiation failed: {type(error).__name__}: {error}")
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

    def _new_entry(self, peer_id: str, connection_id: str, *, outgoing: bool) -> _Entry:
        holder: list[AiortcLink] = []

        def on_closed(reason: str) -> None:
            self._links.pop(connection_id, None)
            self._events.link_closed(peer_id, holder[0], reason)

        callbacks = LinkCallbacks(
            on_open=lambda: self._events.link_open(peer_id, holder[0]),
            on_message=lambda data: self._events.link_message(peer_id, holder[0], data),
            on_closed=on_closed,
        )
        link = AiortcLink(self._configuration(), callbacks)
        holder.append(link)
        entry = _Entry(peer_id, link, outgoing)
        self._links[connection_id] = entry
        return entry

    async def close(self) -> None:
        """Close every link and wait until aiortc released their sockets."""
        links = [entry.link for entry in self._links.values()]
        for link in links:
            link.close("closed locally")
        for link in links:
            await link.closed()
        for task in list(self._tasks):
            task.cancel()
