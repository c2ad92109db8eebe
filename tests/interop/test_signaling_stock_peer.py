"""Our PeerJS client core against the stock npm ``peer`` server, over real WebSockets on loopback."""

from __future__ import annotations

import contextlib
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from pyfront.signaling import (
    BrokerAddress,
    Registered,
    RemoteDescription,
    SignalingClient,
    SignalingFailed,
)
from tests.rig.stock_peer import StockPeer, stock_peer_server  # noqa: F401 (fixture)

SDP = "v=0\r\na=fingerprint:sha-256 " + ":".join("0F" for _ in range(32)) + "\r\n"

pytestmark = pytest.mark.interop


@pytest.fixture
def stock_peer(stock_peer_server: StockPeer) -> BrokerAddress:  # noqa: F811 (fixture)
    return stock_peer_server.address


def _connect(address: BrokerAddress, client: SignalingClient) -> ClientConnection:
    client.connecting()
    ws = connect(address.websocket_url(client.peer_id, client.token), open_timeout=10)
    client.socket_opened(time.monotonic())
    return ws


def _close(ws: ClientConnection) -> None:
    """Close our side; the server may have closed first (it does after ID-TAKEN)."""
    with contextlib.suppress(ConnectionClosed):
        ws.close()


def _receive(ws: ClientConnection, client: SignalingClient) -> list[object]:
    frame = ws.recv(timeout=10)
    assert isinstance(frame, str), "the broker sends text frames"
    return list(client.receive(frame))


def test_register_and_relay_an_offer_through_the_stock_server(stock_peer: BrokerAddress) -> None:
    alice = SignalingClient(peer_id="palice0", token="ta")
    bob = SignalingClient(peer_id="pbob0", token="tb")
    ws_alice = _connect(stock_peer, alice)
    ws_bob = _connect(stock_peer, bob)
    try:
        assert _receive(ws_alice, alice) == [Registered("palice0")]
        assert _receive(ws_bob, bob) == [Registered("pbob0")]
        ws_alice.send(alice.offer("pbob0", "dc_x", SDP, now=time.monotonic(), metadata={"n": 1}).text)
        events = _receive(ws_bob, bob)
        assert events == [
            RemoteDescription(peer="palice0", kind="offer", sdp=SDP, connection_id="dc_x", metadata={"n": 1})
        ]
    finally:
        _close(ws_alice)
        _close(ws_bob)


def test_id_takeover_is_refused_by_the_stock_server(stock_peer: BrokerAddress) -> None:
    owner = SignalingClient(peer_id="pcarol0", token="owner")
    thief = SignalingClient(peer_id="pcarol0", token="thief")
    ws_owner = _connect(stock_peer, owner)
    try:
        assert _receive(ws_owner, owner) == [Registered("pcarol0")]
        ws_thief = _connect(stock_peer, thief)
        try:
            events = _receive(ws_thief, thief)
        finally:
            _close(ws_thief)
        assert events == [SignalingFailed("id-taken", "ID is taken")]
    finally:
        _close(ws_owner)
