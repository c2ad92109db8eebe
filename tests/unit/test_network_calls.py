"""``pyfront.network.calls``: the broker's status as both fronts show it, and the order of link events.

The messenger here is a recorder (what it is told, in order); the real messengers over real links run in
tests/unit/test_dialing.py, tests/unit/test_peer_*.py and the browser tests.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from pyfront.messaging.messenger import Messenger
from pyfront.messaging.signaling import (
    PeerUnavailable,
    Registered,
    RemoteCandidate,
    SendToBroker,
    SignalingFailed,
)
from pyfront.network.calls import BrokerStatus, Calls
from tests.unit.test_network_link import MemoryLink

ALICE = "palice" + "1" * 26


class Recorder:
    """The messenger's side of the network: each call, in order."""

    def __init__(self, *, refuse_open: bool = False) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.contacts: dict[str, Any] = {}
        self._refuse_open = refuse_open

    async def link_open(self, peer_id: str, link: MemoryLink) -> None:
        self.calls.append(("open", peer_id))
        if self._refuse_open:
            raise RuntimeError("no handshake")

    async def link_message(self, peer_id: str, link: MemoryLink, data: bytes) -> None:
        self.calls.append(("message", peer_id, data.decode()))

    async def link_closed(self, peer_id: str, link: MemoryLink, reason: str) -> None:
        self.calls.append(("closed", peer_id, reason))

    def connection_failed(self, peer_id: str, reason: str) -> None:
        self.calls.append(("failed", peer_id, reason))


class Handled:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def dial(self, peer_id: str) -> MemoryLink:
        raise AssertionError("not dialed here")

    def handle(self, event: Any) -> None:
        self.events.append(event)


class FrontCalls(Calls[MemoryLink]):
    UNREACHABLE_DETAIL = "the front's words"
    connector: Handled

    def __init__(self, messenger: Recorder) -> None:
        super().__init__(cast(Messenger, messenger), clock=lambda: 0.0)
        self.connector = Handled()
        self.told: list[tuple[BrokerStatus, str]] = []
        self.logged: list[str] = []

    def _status_changed(self) -> None:
        self.told.append((self.status, self.status_detail))

    def _link_failed(self, peer_id: str, kind: str, reason: str) -> None:
        self.logged.append(f"{kind}: {reason}")


def test_the_broker_status_follows_its_one_table() -> None:
    assert BrokerStatus.after(Registered(ALICE)) is BrokerStatus.ONLINE
    assert BrokerStatus.after(SignalingFailed("id-taken")) is BrokerStatus.REFUSED
    assert BrokerStatus.after(SignalingFailed("server-error", "bad key")) is BrokerStatus.REFUSED
    assert BrokerStatus.after(SignalingFailed("closed")) is BrokerStatus.UNREACHABLE
    for other in (SendToBroker("{}"), PeerUnavailable(ALICE, "left"), RemoteCandidate(ALICE, "dc_1", {})):
        assert BrokerStatus.after(other) is None


def test_a_status_is_told_when_it_changes_with_the_front_s_words() -> None:
    async def body() -> None:
        messenger = Recorder()
        calls = FrontCalls(messenger)
        for event in (
            SignalingFailed("closed"),
            SignalingFailed("closed"),  # still unreachable: not told again
            Registered(ALICE),
            PeerUnavailable(ALICE, "expired"),
            SignalingFailed("server-error", "invalid key"),
        ):
            calls._on_event(event)
        assert calls.told == [
            (BrokerStatus.UNREACHABLE, "the front's words"),
            (BrokerStatus.ONLINE, ""),
            (BrokerStatus.REFUSED, "invalid key"),
        ]
        assert messenger.calls == [("failed", ALICE, "peer unavailable: the contact is not online")]
        assert len(calls.connector.events) == 5  # every event reaches the connector too

    asyncio.run(body())


def test_link_events_reach_the_messenger_in_order_and_a_failed_open_drops_its_link() -> None:
    async def body() -> None:
        messenger = Recorder(refuse_open=True)
        calls = FrontCalls(messenger)
        calls._start_calls()
        link = MemoryLink()
        await link.create_offer()
        calls.link_open(ALICE, link)
        calls.link_message(ALICE, link, b"first")
        calls.link_closed(ALICE, link, "gone")
        for _ in range(20):  # the worker takes one event a step
            await asyncio.sleep(0)
        assert calls.events_handled == 3
        calls._stop_calls()
        assert messenger.calls == [
            ("open", ALICE),
            ("failed", ALICE, "RuntimeError: no handshake"),
            ("message", ALICE, "first"),
            ("closed", ALICE, "gone"),
        ]
        assert calls.logged == ["open: RuntimeError: no handshake"]
        assert link.told == ["closed: the handshake could not start (RuntimeError: no handshake)"]

    asyncio.run(body())
