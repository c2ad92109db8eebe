"""The PeerJS client core: frames in, events out; hostile broker frames are refused without effect."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyfront.errors import DecodeError, InvalidStateError, LimitError, ProtocolError
from pyfront.messaging.signaling import (
    HEARTBEAT_INTERVAL_S,
    MAX_SERVER_FRAME_BYTES,
    BrokerAddress,
    PeerUnavailable,
    Registered,
    RemoteCandidate,
    RemoteDescription,
    SendToBroker,
    SignalingClient,
    SignalingFailed,
    SignalingState,
    dtls_fingerprint,
    new_peer_id,
    valid_peer_id,
)

FINGERPRINT = ":".join(f"{b:02X}" for b in range(32))
SDP = f"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 {FINGERPRINT}\r\n"


def opened() -> SignalingClient:
    client = SignalingClient(peer_id="palice", token="t0k")
    client.connecting()
    client.socket_opened(now=0.0)
    assert client.receive('{"type":"OPEN"}') == [Registered("palice")]
    return client


def test_urls_match_the_stock_client() -> None:
    address = BrokerAddress(host="127.0.0.1", port=9000, path="/myapp", key="k")
    assert address.websocket_url("pbob", "abc") == (
        "ws://127.0.0.1:9000/myapp/peerjs?key=k&id=pbob&token=abc&version=1.5.5"
    )
    assert address.id_url() == "http://127.0.0.1:9000/myapp/k/id"
    assert BrokerAddress(host="::1", port=1, secure=True).id_url() == "https://[::1]:1/peerjs/id"


def test_new_peer_ids_are_valid_for_stock_clients_and_carry_128_bits() -> None:
    peer_id = new_peer_id(bytes(range(16)))
    assert valid_peer_id(peer_id)
    assert len(peer_id) == 33
    with pytest.raises(LimitError):
        new_peer_id(b"short")
    assert not valid_peer_id("bad id!")
    assert not valid_peer_id("a" * 65)


def test_heartbeat_only_when_due_and_only_when_open() -> None:
    client = SignalingClient(peer_id="palice", token="t")
    assert client.tick(100.0) == []
    client = opened()
    assert client.tick(HEARTBEAT_INTERVAL_S - 0.1) == []
    assert client.tick(HEARTBEAT_INTERVAL_S) == [SendToBroker('{"type":"HEARTBEAT"}')]
    assert client.tick(HEARTBEAT_INTERVAL_S + 1) == []


def test_offer_answer_candidate_frames_round_trip() -> None:
    alice = opened()
    frame = alice.offer("pbob", "dc_1", SDP, now=1.0, metadata={"v": 1})
    sent = json.loads(frame.text)
    assert sent["type"] == "OFFER" and sent["dst"] == "pbob"
    assert sent["payload"]["connectionId"] == "dc_1"
    # what the broker relays to Bob: src set by the broker
    relayed = dict(sent, src="palice")
    bob = SignalingClient(peer_id="pbob", token="t")
    assert bob.receive(json.dumps(relayed)) == [
        RemoteDescription(peer="palice", kind="offer", sdp=SDP, connection_id="dc_1", metadata={"v": 1})
    ]
    candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}
    relayed = dict(json.loads(alice.candidate("pbob", "dc_1", candidate, now=2.0).text), src="palice")
    assert bob.receive(json.dumps(relayed)) == [RemoteCandidate("palice", "dc_1", candidate)]


def test_refusals_and_departures() -> None:
    client = SignalingClient(peer_id="palice", token="t")
    assert client.receive('{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}') == [
        SignalingFailed("id-taken", "ID is taken")
    ]
    assert client.state is SignalingState.CLOSED
    client = opened()
    assert client.receive('{"type":"EXPIRE","src":"pbob","dst":"palice"}') == [
        PeerUnavailable("pbob", "expired")
    ]
    assert client.receive('{"type":"LEAVE","src":"pbob","dst":"palice"}') == [PeerUnavailable("pbob", "left")]
    assert client.receive('{"type":"SOMETHING-NEW"}') == []


def test_cannot_send_before_the_broker_accepted_us() -> None:
    client = SignalingClient(peer_id="palice", token="t")
    with pytest.raises(InvalidStateError):
        client.offer("pbob", "dc_1", SDP, now=0.0)


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[]",
        '{"type": 5}',
        '{"type":"OFFER","src":"pbob","payload":"x"}',
        '{"type":"OFFER","src":"pbob","payload":{"sdp":{"sdp":7},"connectionId":"c"}}',
        '{"type":"OFFER","src":"bad id!","payload":{"sdp":{"sdp":""},"connectionId":"c"}}',
        '{"type":"CANDIDATE","src":"pbob","payload":{"candidate":{},"connectionId":"c"}}',
        '{"type":"ANSWER","src":"pbob","payload":{"sdp":{"sdp":""},"connectionId":""}}',
    ],
)
def test_malformed_broker_frames_are_decode_errors_without_effect(frame: str) -> None:
    client = opened()
    with pytest.raises(DecodeError):
        client.receive(frame)
    assert client.state is SignalingState.OPEN


def test_oversized_broker_frame_is_refused() -> None:
    with pytest.raises(LimitError):
        opened().receive(" " * (MAX_SERVER_FRAME_BYTES + 1))


@given(st.text(max_size=300))
def test_arbitrary_broker_text_raises_only_protocol_errors(text: str) -> None:
    client = opened()
    try:
        client.receive(text)
    except ProtocolError:
        assert client.state is SignalingState.OPEN  # a refused frame changes nothing


def test_dtls_fingerprint_is_extracted_and_must_be_unique() -> None:
    assert dtls_fingerprint(SDP) == bytes(range(32))
    other = ":".join("AA" for _ in range(32))
    with pytest.raises(DecodeError):
        dtls_fingerprint(SDP + f"a=fingerprint:sha-256 {other}\r\n")
    with pytest.raises(DecodeError):
        dtls_fingerprint("v=0\r\n")
    # the same fingerprint repeated per media section is one fingerprint
    assert dtls_fingerprint(SDP + f"a=fingerprint:sha-256 {FINGERPRINT}\r\n") == bytes(range(32))
