"""Tests for server/broker.py: the upstream peerjs-server 1.0.2 test cases, ported, plus the rules its suite
misses (ID-TAKEN, same-token rebind, replay after OPEN, src overwrite, one EXPIRE per pair) and bad input.

Upstream files ported (test/): models/messageQueue, models/realm, services/webSocketServer,
services/messagesExpire, services/checkBrokenConnections, messageHandler/handlers/heartbeat and
transmission. Every assertion looks at the exact actions, in order.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.broker import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_POLICY_VIOLATION,
    ERR_CONNECTION_LIMIT,
    ERR_INVALID_KEY,
    ERR_INVALID_WS_PARAMETERS,
    ERR_PARAM_TOO_LONG,
    MAX_FRAME_BYTES,
    MAX_PARAM_LENGTH,
    Action,
    Broker,
    BrokerConfig,
    Close,
    FrameError,
    FrameTooLargeError,
    Reject,
    RejectReason,
    Relay,
    Send,
    encode,
    parse_frame,
)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def query(client_id: str, token: str = "tok", key: str = "peerjs") -> dict[str, str]:
    return {"id": client_id, "token": token, "key": key}


def sends(actions: list[Action]) -> list[tuple[object, dict[str, Any]]]:
    return [(action.conn, json.loads(action.frame)) for action in actions if isinstance(action, Send)]


def only(actions: list[Action], kind: type) -> list[Any]:
    return [action for action in actions if isinstance(action, kind)]


def registered(broker: Broker, conn: object, client_id: str, now: float = 0.0, token: str = "tok") -> None:
    actions = broker.connect(conn, query(client_id, token), now)
    assert actions[0] == Send(conn, '{"type":"OPEN"}'), actions


# --- parse_frame / encode ---------------------------------------------------------------------------


def test_encode_is_compact_and_keeps_key_order() -> None:
    assert encode({"type": "OFFER", "src": "a", "dst": "b", "payload": {"x": [1, 2]}}) == (
        '{"type":"OFFER","src":"a","dst":"b","payload":{"x":[1,2]}}'
    )


def test_encode_escapes_lone_surrogates_so_the_frame_is_utf8() -> None:
    message = parse_frame('{"type":"OFFER","payload":"\\ud800"}')
    text = encode(message)
    text.encode("utf-8")
    assert json.loads(text)["payload"] == "\ud800"


def test_integral_floats_print_as_javascript_does() -> None:
    assert encode(parse_frame('{"a":1.0,"b":1.5,"c":1e3}')) == '{"a":1,"b":1.5,"c":1000}'


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{", RejectReason.INVALID_JSON),
        ("", RejectReason.INVALID_JSON),
        ('{"a":NaN}', RejectReason.INVALID_JSON),
        ("[" * 100_00 + "]" * 100_00, RejectReason.INVALID_JSON),
        (b"\xff\xfe", RejectReason.INVALID_JSON),
        ("null", RejectReason.NOT_AN_OBJECT),
        ("[1,2]", RejectReason.NOT_AN_OBJECT),
        ('"OFFER"', RejectReason.NOT_AN_OBJECT),
        ("5", RejectReason.NOT_AN_OBJECT),
    ],
)
def test_parse_frame_rejects_with_a_narrow_reason(frame: str | bytes, reason: RejectReason) -> None:
    with pytest.raises(FrameError) as info:
        parse_frame(frame)
    assert info.value.reason is reason


def test_parse_frame_limit_is_in_utf8_bytes() -> None:
    fits = '{"p":"' + "a" * (MAX_FRAME_BYTES - 8) + '"}'
    assert len(fits.encode()) == MAX_FRAME_BYTES
    parse_frame(fits)
    with pytest.raises(FrameTooLargeError):
        parse_frame(fits[:-2] + 'a"}')
    wide = '{"p":"' + "é" * (MAX_FRAME_BYTES // 2) + '"}'  # fewer chars than the limit, more bytes
    with pytest.raises(FrameTooLargeError):
        parse_frame(wide)


# --- the relay's fast codec answers exactly as the stdlib path ------------------------------------------


def _both_ways(frame: str | bytes) -> tuple[list[Action], list[Action]]:
    """``handle`` (fast codec first) and the stdlib-only path, each on a fresh broker with a and b."""
    answers = []
    for slow in (False, True):
        broker = Broker(BrokerConfig(rate_burst=10, rate_per_second=0.0))
        registered(broker, 1, "a")
        registered(broker, 2, "b")
        if slow:
            answers.append(broker._handle_slowly("a", 1, frame, 1.0))
        else:
            answers.append(broker.handle(1, frame, 1.0))
    return answers[0], answers[1]


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"OFFER","dst":"b","payload":{"a":1.0,"b":1.5,"c":1e3,"d":1e-7,"e":2.5E-3,"f":-0.0}}',
        '{"type":"OFFER","dst":"b","payload":[1e400,-1e400,1e21,99999999999999999999.5,5e-324]}',
        '{"type":"OFFER","dst":"b","payload":123456789012345678901234567890}',
        '{"type":"OFFER","dst":"b","payload":"\\ud800"}',  # lone surrogate: the stdlib path decides
        '{"type":"OFFER","dst":"b","payload":"\\ud83d\\ude00 \\u0000 \\u2028 \\/ \u00e9 \x7f"}',
        '\ufeff{"type":"OFFER","dst":"b"}',
        ' {"type" : "OFFER" ,\t"dst":"b","payload":[1,2]}\r\n',
        '{"type":"OFFER","dst":"b","dst":"a","type":"ANSWER","payload":1,"src":"x","extra":true}',
        '{"type":"OFFER","dst":"b","payload":"x\x01y"}',  # a raw control character: invalid JSON
        '{"type":"OFFER","dst":"b","payload":[1,]}',
        '{"type":1.5,"dst":"b"}',
        '{"type":"OFFER","dst":2.5}',
        '{"type":"OFFER","dst":null}',
        '{"type":"LEAVE"}',
        '{"type":"HEARTBEAT"}',
        '{"type":"HEARTBEAT","payload":1.5}',
        '{"type":"NOPE","dst":"b"}',
        '{"type":"OFFER","dst":"b","payload":NaN}',
        '{"type":"OFFER","dst":"b","payload":Infinity}',
        "[" * 100_000,
        '{"type":"OFFER","dst":"b","payload":' + "[" * 5_000 + "]" * 5_000 + "}",
        b'{"type":"OFFER","dst":"b","payload":"\xff"}',
        "null",
        "",
    ],
)
def test_fast_codec_answers_as_the_stdlib_path(frame: str | bytes) -> None:
    fast, slow = _both_ways(frame)
    assert fast == slow


def test_a_sender_id_the_fast_codec_cannot_print_goes_the_stdlib_way_and_is_queued_once() -> None:
    # msgspec refuses a lone surrogate (here in the sender's id, which becomes "src"); the stdlib encoder
    # escapes it. The refusal comes before anything is queued, so the stdlib path queues the message once.
    broker = Broker()
    registered(broker, 1, "\ud800a")
    assert broker.handle(1, '{"type":"OFFER","dst":"b","payload":1}', 1.0) == []  # b is not here yet
    frame = '{"type":"OFFER","src":"\\ud800a","dst":"b","payload":1}'
    assert broker.queued_messages("b") == [frame] and broker.queued_bytes == len(frame)
    opened = broker.connect(2, query("b"), 2.0)
    assert opened == [Send(2, '{"type":"OPEN"}'), Send(2, frame, Relay("\ud800a", "b"))]
    assert broker.queued_ids() == [] and broker.queued_bytes == 0


def test_fast_codec_prints_what_the_stdlib_encoder_prints_for_every_bmp_character() -> None:
    for first in range(0, 0x10000, 512):
        chars = "".join(chr(code) for code in range(first, first + 512) if not 0xD800 <= code < 0xE000)
        for ensure_ascii in (True, False):
            payload = json.dumps(chars, ensure_ascii=ensure_ascii)
            fast, slow = _both_ways('{"type":"OFFER","dst":"b","payload":' + payload + "}")
            assert fast == slow
            assert sends(fast)[0][1]["payload"] == chars


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    payload=_JSON_VALUES,
    kind=st.sampled_from(["OFFER", "ANSWER", "CANDIDATE", "LEAVE", "EXPIRE", "HEARTBEAT", "X"]),
    dst=st.sampled_from(["b", "nobody", None, 3]),
    ensure_ascii=st.booleans(),
)
def test_fast_codec_answers_as_the_stdlib_path_for_any_json(
    payload: Any, kind: str, dst: Any, ensure_ascii: bool
) -> None:
    frame = json.dumps({"type": kind, "dst": dst, "payload": payload}, ensure_ascii=ensure_ascii)
    fast, slow = _both_ways(frame)
    assert fast == slow


# --- models/messageQueue and models/realm -------------------------------------------------------------


def test_realm_generates_36_char_uuid4_ids_not_in_use() -> None:
    broker = Broker()
    fixed = iter([bytes(16), bytes(16), os.urandom(16)])
    first = broker.new_client_id(bytes)
    assert len(first) == 36 and UUID4.match(first)
    registered(broker, 1, first)
    second = broker.new_client_id(lambda size: next(fixed))  # two collisions, then a fresh one
    assert second != first and UUID4.match(second)


def test_realm_registry_add_and_remove() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    assert broker.peer_ids() == ["a"]
    broker.disconnect(1, 1.0)
    assert broker.peer_ids() == []


def test_queue_is_fifo_and_replayed_then_deleted() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    for index in range(3):
        assert broker.handle(1, json.dumps({"type": "CANDIDATE", "dst": "b", "payload": index}), 0.1) == []
    assert broker.queued_ids() == ["b"]
    assert [json.loads(frame)["payload"] for frame in broker.queued_messages("b")] == [0, 1, 2]
    actions = broker.connect(2, query("b"), 0.2)
    assert [
        payload["payload"] if "payload" in payload else payload["type"] for _, payload in sends(actions)
    ] == [
        "OPEN",
        0,
        1,
        2,
    ]
    assert all(action.conn == 2 for action in only(actions, Send))
    assert broker.queued_ids() == []
    assert broker.queued_bytes == 0


# --- services/webSocketServer --------------------------------------------------------------------------


def test_websocket_path_building() -> None:
    assert BrokerConfig(path="/").websocket_path == "/peerjs"
    assert BrokerConfig(path="/myapp").websocket_path == "/myapp/peerjs"
    assert BrokerConfig(path="/myapp/").websocket_path == "/myapp/peerjs"


@pytest.mark.parametrize(
    "params",
    [
        {"token": "t", "key": "peerjs"},
        {"id": "a", "key": "peerjs"},
        {"id": "a", "token": "t"},
        {"id": "", "token": "t", "key": "peerjs"},
        {},
    ],
)
def test_missing_params_get_error_and_close(params: dict[str, str]) -> None:
    broker = Broker()
    actions = broker.connect(1, params, 0.0)
    assert actions[:2] == [
        Send(1, encode({"type": "ERROR", "payload": {"msg": ERR_INVALID_WS_PARAMETERS}})),
        Close(1),
    ]
    assert only(actions, Reject)[0].reason is RejectReason.MISSING_PARAMS
    assert broker.peer_ids() == [] and broker.connection_count == 0


def test_wrong_key_gets_error_and_close() -> None:
    broker = Broker(BrokerConfig(key="secret"))
    actions = broker.connect(1, query("a", key="peerjs"), 0.0)
    assert sends(actions) == [(1, {"type": "ERROR", "payload": {"msg": ERR_INVALID_KEY}})]
    assert Close(1) in actions and broker.peer_ids() == []


def test_missing_params_are_checked_before_the_key() -> None:
    broker = Broker(BrokerConfig(key="secret"))
    actions = broker.connect(1, {"id": "a", "key": "wrong"}, 0.0)
    assert sends(actions)[0][1]["payload"]["msg"] == ERR_INVALID_WS_PARAMETERS


def test_concurrent_limit_then_free_slot_is_reused() -> None:
    broker = Broker(BrokerConfig(concurrent_limit=2))
    registered(broker, 1, "a")
    registered(broker, 2, "b")
    actions = broker.connect(3, query("c"), 0.0)
    assert sends(actions) == [(3, {"type": "ERROR", "payload": {"msg": ERR_CONNECTION_LIMIT}})]
    assert Close(3) in actions and broker.peer_ids() == ["a", "b"]
    broker.disconnect(1, 1.0)
    registered(broker, 4, "c", now=1.0)
    assert broker.peer_ids() == ["b", "c"]


# --- the rules upstream does not test ------------------------------------------------------------------


def test_id_taken_with_a_different_token_leaves_the_holder_alone() -> None:
    broker = Broker()
    registered(broker, 1, "a", token="right")
    actions = broker.connect(2, query("a", token="wrong"), 1.0)
    assert actions[:2] == [Send(2, '{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}'), Close(2)]
    assert only(actions, Reject)[0].reason is RejectReason.ID_TAKEN
    # The holder still gets its messages; the intruder's later close changes nothing.
    broker.disconnect(2, 1.1)
    registered(broker, 3, "b")
    assert sends(broker.handle(3, '{"type":"OFFER","dst":"a","payload":1}', 1.2)) == [
        (1, {"type": "OFFER", "src": "b", "dst": "a", "payload": 1})
    ]


def test_same_token_rebinds_without_open_and_old_close_is_ignored() -> None:
    broker = Broker()
    registered(broker, 1, "a", token="t")
    assert broker.connect(2, query("a", token="t"), 1.0) == []  # no OPEN
    registered(broker, 3, "b")
    assert sends(broker.handle(3, '{"type":"OFFER","dst":"a"}', 1.1)) == [
        (2, {"type": "OFFER", "src": "b", "dst": "a"})
    ]
    broker.disconnect(1, 1.2)  # the old socket closing does not remove the client
    assert broker.peer_ids() == ["a", "b"]
    broker.disconnect(2, 1.3)
    assert broker.peer_ids() == ["b"]


def test_same_token_rebind_replays_the_queue() -> None:
    broker = Broker()
    registered(broker, 1, "a", token="t")
    registered(broker, 2, "b")
    broker.disconnect(1, 0.5)
    broker.handle(2, '{"type":"OFFER","dst":"a","payload":"x"}', 0.6)
    registered(broker, 3, "a", now=0.7, token="t")
    assert broker.queued_ids() == []


def test_queued_messages_are_sent_after_open_in_order() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    broker.handle(1, '{"type":"OFFER","dst":"b","payload":"o"}', 0.1)
    broker.handle(1, '{"type":"CANDIDATE","dst":"b","payload":"c"}', 0.2)
    actions = broker.connect(2, query("b"), 0.3)
    assert actions == [
        Send(2, '{"type":"OPEN"}'),
        Send(2, '{"type":"OFFER","src":"a","dst":"b","payload":"o"}', Relay("a", "b")),
        Send(2, '{"type":"CANDIDATE","src":"a","dst":"b","payload":"c"}', Relay("a", "b")),
    ]


def test_src_is_overwritten_and_extra_fields_dropped() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    registered(broker, 2, "b")
    frame = '{"type":"ANSWER","src":"mallory","dst":"b","payload":{"sdp":"v=0"},"extra":1}'
    assert broker.handle(1, frame, 0.1) == [
        Send(2, '{"type":"ANSWER","src":"a","dst":"b","payload":{"sdp":"v=0"}}', Relay("a", "b"))
    ]


def test_null_payload_is_kept_and_absent_payload_omitted() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    registered(broker, 2, "b")
    assert only(broker.handle(1, '{"type":"OFFER","dst":"b","payload":null}', 0.1), Send)[0].frame == (
        '{"type":"OFFER","src":"a","dst":"b","payload":null}'
    )
    assert only(broker.handle(1, '{"type":"OFFER","dst":"b"}', 0.1), Send)[0].frame == (
        '{"type":"OFFER","src":"a","dst":"b"}'
    )


def test_sending_to_oneself_is_relayed_like_upstream() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    assert sends(broker.handle(1, '{"type":"OFFER","dst":"a"}', 0.1)) == [
        (1, {"type": "OFFER", "src": "a", "dst": "a"})
    ]


# --- messageHandler/handlers: heartbeat, transmission -----------------------------------------------


def test_heartbeat_updates_last_ping_and_sends_nothing() -> None:
    broker = Broker()
    registered(broker, 1, "a", now=10.0)
    assert broker.last_ping("a") == 10.0
    assert broker.handle(1, '{"type":"HEARTBEAT"}', 12.5) == []
    assert broker.last_ping("a") == 12.5


def test_offer_to_offline_destination_is_queued() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    assert broker.handle(1, '{"type":"OFFER","dst":"b","payload":1}', 0.1) == []
    assert broker.queued_messages("b") == ['{"type":"OFFER","src":"a","dst":"b","payload":1}']


@pytest.mark.parametrize("kind", ["LEAVE", "EXPIRE"])
def test_leave_and_expire_to_offline_destination_are_not_queued(kind: str) -> None:
    broker = Broker()
    registered(broker, 1, "a")
    assert broker.handle(1, json.dumps({"type": kind, "dst": "b"}), 0.1) == []
    assert broker.queued_ids() == []


def test_connected_destination_gets_the_message() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    registered(broker, 2, "b")
    assert broker.handle(1, '{"type":"CANDIDATE","dst":"b","payload":{"candidate":"c"}}', 0.1) == [
        Send(2, '{"type":"CANDIDATE","src":"a","dst":"b","payload":{"candidate":"c"}}', Relay("a", "b"))
    ]


def test_failed_send_closes_destination_and_sender_gets_leave() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    registered(broker, 2, "b")
    (relayed,) = broker.handle(1, '{"type":"OFFER","dst":"b"}', 0.1)
    assert isinstance(relayed, Send)
    assert broker.send_failed(relayed, 0.2) == [
        Close(2),
        Send(1, '{"type":"LEAVE","src":"b","dst":"a"}', Relay("b", "a")),
    ]


def test_leave_without_destination_removes_the_sender() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    assert broker.handle(1, '{"type":"LEAVE"}', 0.1) == []
    assert broker.peer_ids() == []


def test_offer_without_destination_is_dropped() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    actions = broker.handle(1, '{"type":"OFFER","payload":1}', 0.1)
    assert [action.reason for action in only(actions, Reject)] == [RejectReason.NO_DESTINATION]
    assert only(actions, Send) == [] and broker.queued_ids() == []


# --- services/messagesExpire ---------------------------------------------------------------------------


def test_queue_expires_with_one_expire_per_distinct_pair() -> None:
    broker = Broker(BrokerConfig(expire_timeout=5.0))
    registered(broker, 1, "a")
    registered(broker, 2, "c")
    broker.tick(0.0)
    for frame in [
        '{"type":"OFFER","dst":"b"}',
        '{"type":"CANDIDATE","dst":"b"}',
        '{"type":"CANDIDATE","dst":"b"}',
    ]:
        broker.handle(1, frame, 1.0)
    broker.handle(2, '{"type":"OFFER","dst":"b"}', 1.0)
    broker.handle(1, '{"type":"OFFER","dst":"z"}', 1.0)
    assert broker.tick(5.5) == []  # 4.5 s unread: kept
    actions = broker.tick(6.5)
    assert sorted(sends(actions), key=str) == sorted(
        [
            (1, {"type": "EXPIRE", "src": "b", "dst": "a"}),
            (2, {"type": "EXPIRE", "src": "b", "dst": "c"}),
            (1, {"type": "EXPIRE", "src": "z", "dst": "a"}),
        ],
        key=str,
    )
    assert broker.queued_ids() == [] and broker.queued_bytes == 0


def test_expire_for_an_offline_sender_is_dropped() -> None:
    broker = Broker(BrokerConfig(expire_timeout=5.0))
    registered(broker, 1, "a")
    broker.tick(0.0)
    broker.handle(1, '{"type":"OFFER","dst":"b"}', 0.0)
    broker.disconnect(1, 0.5)
    assert broker.tick(6.0) == []
    assert broker.queued_ids() == []


def test_expiry_runs_at_the_cleanup_interval() -> None:
    broker = Broker(BrokerConfig(expire_timeout=1.0))
    registered(broker, 1, "a")
    broker.handle(1, '{"type":"OFFER","dst":"b"}', 0.0)
    broker.tick(0.9)  # cleanup ran at 0.9: 0.9 s old, kept
    assert broker.tick(1.5) == [] and broker.queued_ids() == ["b"]  # < 1 s since last cleanup: not run
    assert sends(broker.tick(2.0)) == [(1, {"type": "EXPIRE", "src": "b", "dst": "a"})]


# --- services/checkBrokenConnections -----------------------------------------------------------------


def test_reaper_closes_clients_without_heartbeat() -> None:
    broker = Broker(BrokerConfig(alive_timeout=0.5))
    registered(broker, 1, "a", now=0.0)
    registered(broker, 2, "b", now=0.0)
    broker.handle(2, '{"type":"OFFER","dst":"x"}', 0.0)
    broker.handle(1, '{"type":"OFFER","dst":"zz"}', 0.0)
    registered(broker, 3, "zz", now=0.1)  # replay empties zz's queue
    broker.handle(2, '{"type":"OFFER","dst":"a"}', 0.1)  # a is connected: delivered, not queued
    broker.handle(1, '{"type":"HEARTBEAT"}', 0.3)
    assert broker.tick(0.45) == []
    assert broker.tick(0.5) == [Close(2)]  # b: 0.5 s since its last ping
    assert broker.tick(0.6) == [Close(3)]  # zz: registered at 0.1
    assert broker.peer_ids() == ["a"]
    assert broker.tick(0.79) == []
    assert broker.tick(0.8) == [Close(1)]
    assert broker.peer_ids() == []


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", RejectReason.INVALID_JSON),
        ("[]", RejectReason.NOT_AN_OBJECT),
        ("{}", RejectReason.BAD_FIELD),
        ('{"type":5,"dst":"b"}', RejectReason.BAD_FIELD),
        ('{"type":"OFFER","dst":5}', RejectReason.BAD_FIELD),
        ('{"type":"OFFER","dst":["b"]}', RejectReason.BAD_FIELD),
        ('{"type":"HELLO","dst":"b"}', RejectReason.UNKNOWN_TYPE),
        ('{"type":"OPEN","dst":"b"}', RejectReason.UNKNOWN_TYPE),
        ('{"type":"ID-TAKEN","dst":"b"}', RejectReason.UNKNOWN_TYPE),
    ],
)
def test_malformed_frames_are_rejected_without_state_change(frame: str, reason: RejectReason) -> None:
    broker = Broker()
    registered(broker, 1, "a")
    registered(broker, 2, "b")
    actions = broker.handle(1, frame, 0.1)
    assert [(action.conn, action.reason) for action in actions if isinstance(action, Reject)] == [(1, reason)]
    assert only(actions, Send) == [] and only(actions, Close) == []
    assert broker.peer_ids() == ["a", "b"] and broker.queued_ids() == []


def test_oversized_frame_closes_with_1009() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    frame = json.dumps({"type": "OFFER", "dst": "b", "payload": "x" * MAX_FRAME_BYTES})
    actions = broker.handle(1, frame, 0.1)
    assert actions[0] == Close(1, CLOSE_MESSAGE_TOO_BIG, "frame too large")
    assert only(actions, Reject)[0].reason is RejectReason.FRAME_TOO_LARGE
    assert broker.queued_ids() == []


def test_long_query_params_are_refused() -> None:
    broker = Broker()
    actions = broker.connect(1, query("a" * (MAX_PARAM_LENGTH + 1)), 0.0)
    assert sends(actions) == [(1, {"type": "ERROR", "payload": {"msg": ERR_PARAM_TOO_LONG}})]
    assert broker.peer_ids() == []


def test_frames_on_unknown_connections_are_rejected() -> None:
    broker = Broker()
    broker.connect(1, query("a", key="wrong"), 0.0)
    actions = broker.handle(1, '{"type":"OFFER","dst":"b"}', 0.1)
    assert [action.reason for action in only(actions, Reject)] == [RejectReason.UNKNOWN_CONNECTION]
    assert broker.queued_ids() == []


def test_flood_is_closed_with_1008_after_the_burst_and_rate_refills() -> None:
    broker = Broker(BrokerConfig(rate_burst=10, rate_per_second=5.0))
    registered(broker, 1, "a")
    for _ in range(10):
        assert broker.handle(1, '{"type":"HEARTBEAT"}', 1.0) == []
    actions = broker.handle(1, '{"type":"HEARTBEAT"}', 1.0)
    assert actions[0] == Close(1, CLOSE_POLICY_VIOLATION, "rate limit exceeded")
    assert only(actions, Reject)[0].reason is RejectReason.RATE_LIMITED
    # Another connection at a sustained 5 frames/s is never limited.
    registered(broker, 2, "b")
    for step in range(100):
        assert broker.handle(2, '{"type":"HEARTBEAT"}', 2.0 + step * 0.2) == []


def test_queue_cap_per_destination() -> None:
    broker = Broker(BrokerConfig(max_queue_messages=3))
    registered(broker, 1, "a")
    results = [
        broker.handle(1, json.dumps({"type": "OFFER", "dst": "b", "payload": n}), 0.1) for n in range(5)
    ]
    assert results[:3] == [[], [], []]
    assert [action.reason for action in only(results[3] + results[4], Reject)] == [
        RejectReason.QUEUE_FULL
    ] * 2
    assert len(broker.queued_messages("b")) == 3


def test_total_queued_bytes_cap() -> None:
    broker = Broker(BrokerConfig(max_queued_bytes_total=200))
    registered(broker, 1, "a")
    for dst in itertools.islice(itertools.count(), 20):
        broker.handle(1, json.dumps({"type": "OFFER", "dst": f"d{dst}", "payload": "x" * 20}), 0.1)
    assert 0 < broker.queued_bytes <= 200
    assert len(broker.queued_ids()) < 20


def test_takeover_attempts_never_receive_the_holders_messages() -> None:
    broker = Broker()
    registered(broker, 1, "victim", token="secret-token")
    registered(broker, 2, "peer")
    for attempt in range(50):
        actions = broker.connect(100 + attempt, query("victim", token=f"guess{attempt}"), 1.0)
        assert Close(100 + attempt) in actions
        broker.disconnect(100 + attempt, 1.0)
    assert sends(broker.handle(2, '{"type":"OFFER","dst":"victim"}', 1.1)) == [
        (1, {"type": "OFFER", "src": "peer", "dst": "victim"})
    ]
    assert broker.connection_count == 2


def test_connecting_the_same_connection_twice_is_a_programming_error() -> None:
    broker = Broker()
    registered(broker, 1, "a")
    with pytest.raises(ValueError, match="already connected"):
        broker.connect(1, query("b"), 0.0)


def test_config_from_mapping_uses_milliseconds_and_refuses_typos() -> None:
    config = BrokerConfig.from_mapping(
        {"expire_timeout": 2500, "alive_timeout": 60000, "cors_origins": ["x"]}
    )
    assert config.expire_timeout == 2.5 and config.alive_timeout == 60.0 and config.cors_origins == ("x",)
    with pytest.raises(ValueError, match="unknown broker settings"):
        BrokerConfig.from_mapping({"expire_timeuot": 1})


def test_ten_thousand_connect_disconnect_cycles_leave_nothing_behind() -> None:
    broker = Broker(BrokerConfig(expire_timeout=1.0))
    registered(broker, "stay", "stay")
    now = 0.0
    for cycle in range(10_000):
        now += 0.001
        conn = ("c", cycle)
        peer_id = f"p{cycle % 97}"
        broker.connect(conn, query(peer_id, token=str(cycle)), now)
        broker.handle(conn, json.dumps({"type": "OFFER", "dst": f"gone{cycle % 13}"}), now)
        broker.handle(conn, json.dumps({"type": "OFFER", "dst": "stay"}), now)
        broker.handle(conn, "garbage", now)
        broker.disconnect(conn, now)
        broker.tick(now)
        broker.handle("stay", '{"type":"HEARTBEAT"}', now)
    broker.tick(now + 2.0)
    assert broker.peer_ids() == ["stay"]
    assert broker.queued_ids() == [] and broker.queued_bytes == 0
    assert broker.connection_count == 1
    broker.disconnect("stay", now + 3.0)
    assert broker.peer_ids() == [] and broker.connection_count == 0
