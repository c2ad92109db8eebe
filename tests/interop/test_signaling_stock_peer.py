"""Our PeerJS client core against the stock npm ``peer`` server, over real WebSockets on loopback."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from pyfront.messaging.signaling import (
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


@contextlib.contextmanager
def _connected(address: BrokerAddress, client: SignalingClient) -> Iterator[ClientConnection]:
    """A WebSocket to the broker for ``client``, closed on exit (the server may have closed first: it
    does after ID-TAKEN)."""
    client.connecting()
    with connect(address.websocket_url(client.peer_id, client.token), open_timeout=10) as ws:
        client.socket_opened(time.monotonic())
        try:
            yield ws
        finally:
            with contextlib.suppress(ConnectionClosed):
                ws.close()


def _receive(ws: ClientConnection, client: SignalingClient) -> list[object]:
    frame = ws.recv(timeout=10)
    assert isinstance(frame, str), "the broker sends text frames"
    return list(client.receive(frame))


def test_register_and_relay_an_offer_through_the_stock_server(stock_peer: BrokerAddress) -> None:
    alice = SignalingClient(peer_id="palice0", token="ta")
    bob = SignalingClient(peer_id="pbob0", token="tb")
    with _connected(stock_peer, alice) as ws_alice, _connected(stock_peer, bob) as ws_bob:
        assert _receive(ws_alice, alice) == [Registered("palice0")]
        assert _receive(ws_bob, bob) == [Registered("pbob0")]
        ws_alice.send(alice.offer("pbob0", "dc_x", SDP, now=time.monotonic(), metadata={"n": 1}).text)
        events = _receive(ws_bob, bob)
        assert events == [
            RemoteDescription(peer="palice0", kind="offer", sdp=SDP, connection_id="dc_x", metadata={"n": 1})
        ]


def test_id_takeover_is_refused_by_the_stock_server(stock_peer: BrokerAddress) -> None:
    owner = SignalingClient(peer_id="pcarol0", token="owner")
    thief = SignalingClient(peer_id="pcarol0", token="thief")
    with _connected(stock_peer, owner) as ws_owner:
        assert _receive(ws_owner, owner) == [Registered("pcarol0")]
        with _connected(stock_peer, thief) as ws_thief:
            assert _receive(ws_thief, thief) == [SignalingFailed("id-taken", "ID is taken")]
