"""``pyfront.network.links.Links``: the connector rules both fronts share, over in-memory links.

Broker events go in as the ``SignalingClient`` makes them; what leaves for the broker (OFFER, ANSWER) is
recorded; the links are ``test_network_link``'s ``MemoryLink``. The real stacks run in
tests/browser/test_app_rtc_broker.py (the page) and tests/unit/test_peer_*.py (aiortc).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from pyfront.errors import InvalidStateError, LimitError, ProtocolError
from pyfront.messaging.signaling import PeerUnavailable, RemoteCandidate, RemoteDescription
from pyfront.network.link import LinkCallbacks, LinkState
from pyfront.network.links import MAX_LINKS, Links
from tests.unit.test_network_link import CANDIDATE, REMOTE_SDP, MemoryLink

ME = "pme" + "0" * 29
ALICE = "palice" + "1" * 26
MALLORY = "pmallory" + "2" * 24


class Owner:
    """The network: what it is told, in order."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str, Any]] = []

    def link_open(self, peer_id: str, link: MemoryLink) -> None:
        self.told.append(("open", peer_id, link))

    def link_message(self, peer_id: str, link: MemoryLink, data: bytes) -> None:
        self.told.append(("message", peer_id, data))

    def link_closed(self, peer_id: str, link: MemoryLink, reason: str) -> None:
        self.told.append(("closed", peer_id, reason))


class MemoryLinks(Links[MemoryLink]):
    def __init__(self, owner: Owner, *, refuse: set[str] | None = None) -> None:
        refused = refuse or set()
        numbers = itertools.count(1)  # distinct connection ids, as random bytes give
        super().__init__(
            owner,
            lambda size: next(numbers).to_bytes(size, "big"),
            accept_offer=lambda peer, _metadata: peer not in refused,
        )
        self.offers: list[tuple[str, str]] = []
        self.answers: list[tuple[str, str]] = []
        self.broker_down = False

    @property
    def own_peer_id(self) -> str:
        return ME

    def _make_link(self, peer_id: str, connection_id: str, callbacks: LinkCallbacks) -> MemoryLink:
        return MemoryLink(callbacks)

    async def _send_offer(self, peer_id: str, connection_id: str, sdp: str, metadata: Any) -> None:
        if self.broker_down:
            raise InvalidStateError("broker: the socket is not open")
        self.offers.append((peer_id, connection_id))

    async def _send_answer(self, peer_id: str, connection_id: str, sdp: str) -> None:
        self.answers.append((peer_id, connection_id))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_dialed_link_takes_only_its_own_answer_and_candidates() -> None:
    async def body() -> None:
        owner = Owner()
        links = MemoryLinks(owner)
        link = await links.dial(ALICE)
        ((peer, connection_id),) = links.offers
        assert peer == ALICE and connection_id.startswith("dc_")
        # An answer naming our connection from someone else, or naming no connection, is ignored.
        links.handle(RemoteDescription(MALLORY, "answer", REMOTE_SDP, connection_id))
        links.handle(RemoteDescription(ALICE, "answer", REMOTE_SDP, "dc_unknown"))
        links.handle(RemoteCandidate(MALLORY, connection_id, CANDIDATE))
        await settle()
        assert links.ignored_frames == 3 and link.calls == ["offer"]
        links.handle(RemoteDescription(ALICE, "answer", REMOTE_SDP, connection_id))
        links.handle(RemoteCandidate(ALICE, connection_id, CANDIDATE))
        await settle()
        assert link.calls == ["offer", "remote answer"] and len(link.added) == 1
        link._channel_opened()
        link._received(b"hi")
        assert owner.told == [("open", ALICE, link), ("message", ALICE, b"hi")]

    asyncio.run(body())


def test_offers_are_answered_unless_refused_or_over_the_limit() -> None:
    async def body() -> None:
        owner = Owner()
        links = MemoryLinks(owner, refuse={MALLORY})
        links.handle(RemoteDescription(MALLORY, "offer", REMOTE_SDP, "dc_blocked"))
        links.handle(RemoteDescription(ALICE, "offer", REMOTE_SDP, "dc_0"))
        links.handle(RemoteDescription(ALICE, "offer", REMOTE_SDP, "dc_0"))  # the same connection again
        await settle()
        assert links.answers == [(ALICE, "dc_0")] and list(links.links()) == ["dc_0"]
        assert links.ignored_frames == 2  # the blocked peer's offer got no link and no answer
        for number in range(1, MAX_LINKS + 1):
            links.handle(RemoteDescription(ALICE, "offer", REMOTE_SDP, f"dc_{number}"))
        await settle()
        assert len(links.links()) == MAX_LINKS and links.ignored_frames == 3
        with pytest.raises(LimitError):
            await links.dial(ALICE)

    asyncio.run(body())


def test_a_hostile_offer_closes_its_own_link_only() -> None:
    async def body() -> None:
        owner = Owner()
        links = MemoryLinks(owner)
        links.handle(RemoteDescription(ALICE, "offer", REMOTE_SDP, "dc_good"))
        links.handle(RemoteDescription(MALLORY, "offer", "v=0\r\n", "dc_bad"))  # no fingerprint
        await settle()
        assert list(links.links()) == ["dc_good"]
        refused = "signaling refused: SDP: exactly one sha-256 fingerprint expected, found 0"
        assert owner.told == [("closed", MALLORY, refused)]

    asyncio.run(body())


def test_a_dial_that_cannot_reach_the_broker_leaves_no_link() -> None:
    async def body() -> None:
        links = MemoryLinks(Owner())
        with pytest.raises(ProtocolError):
            await links.dial("not a peer id!")
        with pytest.raises(InvalidStateError):
            await links.dial(ME)
        links.broker_down = True
        with pytest.raises(InvalidStateError):
            await links.dial(ALICE)
        assert links.links() == {}

    asyncio.run(body())


def test_an_unavailable_peer_closes_its_links_that_are_not_open() -> None:
    async def body() -> None:
        owner = Owner()
        links = MemoryLinks(owner)
        waiting = await links.dial(ALICE)
        opened = await links.dial(ALICE)
        connection_id = list(links.links())[1]
        links.handle(RemoteDescription(ALICE, "answer", REMOTE_SDP, connection_id))
        await settle()
        opened._channel_opened()
        links.handle(PeerUnavailable(ALICE, "expired"))
        assert waiting.state is LinkState.CLOSED and opened.state is LinkState.OPEN
        assert ("closed", ALICE, "peer unavailable (expired)") in owner.told
        assert list(links.links().values()) == [opened]

    asyncio.run(body())
