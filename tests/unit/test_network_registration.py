"""``pyfront.network.registration.Registration``: a broker registration's rules, over a recorded socket.

The fronts' sockets run in tests/unit/test_peer_cli.py and test_peer_reconnect.py (``websockets``
against a real broker and one that answers ``ID-TAKEN``) and tests/browser/test_app_rtc_broker.py (the
page's ``WebSocket``); here the sans-I/O core runs alone: the test plays the socket.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from pyfront.errors import InvalidStateError, ProtocolError
from pyfront.messaging.signaling import Backoff, BrokerAddress, Event, Registered, SignalingFailed
from pyfront.network.registration import Registration, RegistrationState

ME = "pme" + "0" * 29
OFFER = {
    "type": "OFFER",
    "src": "palice" + "1" * 26,
    "payload": {"sdp": {"sdp": "v=0"}, "connectionId": "dc_1"},
}


class Refused(ProtocolError):
    pass


class RecordedSocket(Registration):
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.written: list[str] = []
        self.now = 0.0
        super().__init__(BrokerAddress("broker.test", 443), ME, "token", self.events.append)

    def _now(self) -> float:
        return self.now

    def _send_now(self, text: str) -> None:
        self.written.append(text)

    def _refusal(self, event: SignalingFailed) -> ProtocolError:
        return Refused(event.reason)


def test_frames_go_to_the_client_and_malformed_ones_are_dropped_and_counted() -> None:
    async def body() -> None:
        socket = RecordedSocket()
        socket.client.connecting()
        socket._socket_opened()
        for bad in ("not json", b"\x00binary", json.dumps({"type": 5}), "x" * 100_000):
            socket._receive(bad)
        assert socket.dropped_frames == 4 and socket.events == []
        socket._receive(json.dumps({"type": "OPEN"}))
        socket._receive(json.dumps(OFFER))
        assert [type(event).__name__ for event in socket.events] == ["Registered", "RemoteDescription"]
        await socket._wait_registered()
        assert socket.registered
        socket.now = 5.0
        socket._emit(socket.client.tick(socket.now))  # a heartbeat is due: written by the front
        assert socket.written == ['{"type":"HEARTBEAT"}']

    asyncio.run(body())


def test_a_dropped_socket_is_retried_with_a_back_off_that_registration_resets() -> None:
    async def body() -> None:
        socket = RecordedSocket()
        delays = []
        for _ in range(3):
            socket.client.connecting()
            socket._socket_closed()
            delays.append(socket._retry_delay())
        assert delays == [0.5, 1.0, 2.0] and socket.state is RegistrationState.RUNNING
        failures = [event.reason for event in socket.events if isinstance(event, SignalingFailed)]
        assert failures == ["closed", "closed", "closed"]  # each told, none final
        socket.client.connecting()
        socket._receive(json.dumps({"type": "OPEN"}))
        assert isinstance(socket.events[-1], Registered)
        socket._socket_closed()
        assert socket._retry_delay() == Backoff().initial

    asyncio.run(body())


def test_a_refusal_is_final_and_told_to_whoever_waits() -> None:
    async def body() -> None:
        socket = RecordedSocket()
        socket.client.connecting()
        waiting = asyncio.ensure_future(socket._wait_registered())
        socket._receive(json.dumps({"type": "ID-TAKEN", "payload": {"msg": "taken"}}))
        socket._receive(json.dumps({"type": "ERROR", "payload": {"msg": "again"}}))  # still refused
        socket._socket_closed()
        assert socket.state is RegistrationState.REFUSED and socket._retry_delay() is None
        assert socket.last_failure is not None and socket.last_failure.reason == "server-error"
        with pytest.raises(Refused, match="id-taken"):
            await waiting
        socket._end("broker")
        assert socket.state is RegistrationState.CLOSED

    asyncio.run(body())


def test_a_closed_registration_is_not_retried_and_ends_the_wait() -> None:
    async def body() -> None:
        socket = RecordedSocket()
        waiting = asyncio.ensure_future(socket._wait_registered())
        assert socket._end("broker") and not socket._end("broker")
        assert socket.closed and socket._retry_delay() is None
        with pytest.raises(InvalidStateError, match="broker: closed"):
            await waiting
        with pytest.raises(InvalidStateError, match="no move from closed to refused"):
            socket._move(RegistrationState.REFUSED)

    asyncio.run(body())
