"""Tests for server/sockets.py's HTTP side through Flask's test client (no sockets): the upstream
``api`` tests ported (root JSON, ``/id`` with CORS echo, origin list), ``/peers`` 401 versus list, the
preflight, configuration refusal, and the WebSocket route's refusal of bad upgrades. Over real socketpairs:
a failed send answered with LEAVE, and the gevent-mode writes (a full socket buffer queues frames that a
greenlet drains whole and in order, also when several frames left in one ``send``; a reader stalled past
``SEND_TIMEOUT`` is closed and the sender told); the shared epoll's batch (frames read together are relayed
in order, a failed destination answered with LEAVE, the client's close answered and its socket unwatched).
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import struct
import time
from typing import Any

import gevent.event
import gevent.socket
import pytest
from flask import Flask
from flask.testing import FlaskClient
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from app import create_app
from server.broker import MAX_FRAME_BYTES, BrokerConfig
from server.config import Config
from server.sockets import SERVER_INFO, BrokerHub, _Socket
from server.websocket import FrameDecoder

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def client(**broker: Any) -> FlaskClient:
    app: Flask = create_app(Config(broker=broker, testing=True))
    return app.test_client()


def test_root_describes_the_server_with_upstream_key_order() -> None:
    response = client().get("/peerjs/")
    assert response.status_code == 200
    assert response.content_type == "application/json; charset=utf-8"
    assert response.get_json() == SERVER_INFO
    assert response.get_data(as_text=True).startswith('{"name":"PeerJS Server","description":')


def test_id_is_a_fresh_uuid4_as_html_and_echoes_the_origin() -> None:
    http = client()
    first = http.get("/peerjs/peerjs/id?ts=1&version=1.5.5", headers={"Origin": "http://a.test"})
    second = http.get("/peerjs/anykey/id")
    assert first.status_code == 200 and first.content_type.startswith("text/html")
    assert UUID4.match(first.get_data(as_text=True)) and UUID4.match(second.get_data(as_text=True))
    assert first.get_data() != second.get_data()
    assert first.headers["Access-Control-Allow-Origin"] == "http://a.test"
    assert "Origin" in first.headers.get_all("Vary")
    assert "Access-Control-Allow-Origin" not in second.headers


def test_origin_list_restricts_the_echo() -> None:
    http = client(cors_origins=["http://allowed.test"])
    allowed = http.get("/peerjs/", headers={"Origin": "http://allowed.test"})
    other = http.get("/peerjs/", headers={"Origin": "http://other.test"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://allowed.test"
    assert "Access-Control-Allow-Origin" not in other.headers


def test_peers_is_401_without_discovery() -> None:
    response = client().get("/peerjs/peerjs/peers")
    assert response.status_code == 401 and response.get_data(as_text=True) == "Unauthorized"


def test_peers_lists_registered_ids_with_discovery() -> None:
    app = create_app(Config(broker={"allow_discovery": True}, testing=True))
    hub = app.extensions["parley.broker"]
    hub.broker.connect(1, {"id": "alice", "token": "t", "key": "peerjs"}, 0.0)
    response = app.test_client().get("/peerjs/peerjs/peers")
    assert response.status_code == 200 and response.get_json() == ["alice"]


def test_preflight() -> None:
    response = client().options(
        "/peerjs/peerjs/id",
        headers={
            "Origin": "http://a.test",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-custom",
        },
    )
    assert response.status_code == 204 and response.get_data() == b""
    assert response.headers["Access-Control-Allow-Methods"] == "GET,HEAD,PUT,PATCH,POST,DELETE"
    assert response.headers["Access-Control-Allow-Headers"] == "x-custom"
    assert response.headers["Access-Control-Allow-Origin"] == "http://a.test"


def test_custom_path() -> None:
    http = client(path="/signal/")
    assert http.get("/signal/").get_json() == SERVER_INFO
    assert http.get("/peerjs/").status_code == 404


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown broker settings"):
        client(concurent_limit=3)


def test_websocket_route_refuses_a_bad_upgrade() -> None:
    response = client().get(
        "/peerjs/peerjs?key=peerjs&id=a&token=t",
        headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "8"},
    )
    assert response.status_code == 400
    assert "Sec-WebSocket-Version 13 expected" in response.get_data(as_text=True)


def _frames(sock: socket.socket) -> list[Any]:
    """Decode the unmasked server frames waiting on ``sock`` (websockets' codec, independent of ours)."""
    sock.settimeout(1.0)
    data = b""
    with contextlib.suppress(TimeoutError, OSError):
        while chunk := sock.recv(65536):
            data += chunk
            sock.settimeout(0.2)
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames: list[Any] = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frame = done.value
            frames.append(json.loads(bytes(frame.data)) if frame.opcode is Opcode.TEXT else frame.opcode.name)
            continue
        break
    return frames


def test_failed_send_closes_the_destination_and_tells_the_sender_leave() -> None:
    hub = BrokerHub(BrokerConfig())
    pairs = {conn: socket.socketpair() for conn in (1, 2)}
    for conn, (server_end, _client_end) in pairs.items():
        hub._sockets[conn] = _Socket(conn, server_end, FrameDecoder(MAX_FRAME_BYTES))
    hub.run(hub._call(hub.broker.connect, 1, {"id": "a", "token": "t", "key": "peerjs"}))
    hub.run(hub._call(hub.broker.connect, 2, {"id": "b", "token": "t", "key": "peerjs"}))
    pairs[2][1].close()  # b's client is gone; its socket is not closed yet on our side
    hub.run(hub._call(hub.broker.handle, 1, '{"type":"OFFER","dst":"b","payload":1}'))
    assert _frames(pairs[1][1]) == [{"type": "OPEN"}, {"type": "LEAVE", "src": "b", "dst": "a"}]
    assert hub._sockets[2].close_sent
    for server_end, client_end in pairs.values():
        server_end.close()
        client_end.close()


def _nonblocking_pair(hub: BrokerHub) -> dict[int, tuple[socket.socket, socket.socket]]:
    """Sockets a (conn 1) and b (conn 2) written as under gevent: never-waiting writes, a drain greenlet."""
    hub._cooperative = True
    pairs = {conn: socket.socketpair() for conn in (1, 2)}
    for conn, (server_end, client_end) in pairs.items():
        server_end.setblocking(False)
        client_end.setblocking(False)
        hub._sockets[conn] = _Socket(conn, server_end, FrameDecoder(MAX_FRAME_BYTES), nonblocking=True)
    hub.run(hub._call(hub.broker.connect, 1, {"id": "a", "token": "t", "key": "peerjs"}))
    hub.run(hub._call(hub.broker.connect, 2, {"id": "b", "token": "t", "key": "peerjs"}))
    return pairs


def _offers(hub: BrokerHub, count: int) -> None:
    """a sends b ``count`` offers of 30 KB: far more than a socket buffer holds."""
    for index in range(count):
        frame = json.dumps({"type": "OFFER", "dst": "b", "payload": f"{index:05d}" + "x" * 30_000})
        hub.run(hub._call(hub.broker.handle, 1, frame))


@pytest.mark.parametrize("corked", [False, True], ids=["one-send-per-frame", "frames-of-one-read-together"])
def test_a_full_socket_buffer_queues_frames_that_then_leave_whole_and_in_order(corked: bool) -> None:
    hub = BrokerHub(BrokerConfig())
    pairs = _nonblocking_pair(hub)
    if corked:  # as inside _on_poll: the 40 frames are written by one send at the end of the read
        hub._corked = {}
        _offers(hub, 40)
        assert not hub._sockets[2].backlog
        hub._flush_corked()
    else:
        _offers(hub, 40)
    entry = hub._sockets[2]
    assert entry.backlog and entry.drainer is not None  # part of the stream waits; nothing was lost
    received = b""
    reader = pairs[2][1]
    deadline = time.monotonic() + 10
    while entry.drainer is not None or len(received) < 40 * 30_000:
        assert time.monotonic() < deadline
        gevent.socket.wait_read(reader.fileno(), timeout=1.0)  # lets the drain greenlet run meanwhile
        with contextlib.suppress(BlockingIOError):
            received += reader.recv(1 << 20)
    frames = _decode_all(received)
    assert frames[0] == {"type": "OPEN"}
    payloads = [frame["payload"][:5] for frame in frames[1:]]
    assert payloads == [f"{index:05d}" for index in range(40)]
    assert all(frame["src"] == "a" for frame in frames[1:])
    for server_end, client_end in pairs.values():
        server_end.close()
        client_end.close()


def test_a_reader_that_stalls_past_the_send_timeout_is_closed_and_the_sender_gets_leave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("server.sockets.SEND_TIMEOUT", 0.3)
    hub = BrokerHub(BrokerConfig())
    pairs = _nonblocking_pair(hub)
    _offers(hub, 40)  # b's client never reads
    entry = hub._sockets[2]
    assert entry.drainer is not None
    entry.drainer.join(timeout=5)
    assert entry.failed and entry.close_sent and entry.backlog is None
    pairs[1][1].setblocking(True)
    assert _frames(pairs[1][1]) == [{"type": "OPEN"}, {"type": "LEAVE", "src": "b", "dst": "a"}]
    with pytest.raises(OSError):
        entry.write([(b"more", None)])  # nothing more is accepted for a failed socket
    for server_end, client_end in pairs.values():
        server_end.close()
        client_end.close()


def _decode_all(data: bytes) -> list[Any]:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames: list[Any] = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(json.loads(bytes(done.value.data)))
    return frames


def _client_frame(opcode: Opcode, payload: bytes) -> bytes:
    """A masked client frame (websockets' codec, independent of ours)."""
    return Frame(opcode, payload).serialize(mask=True)


def _polled_pair(hub: BrokerHub) -> dict[int, tuple[socket.socket, socket.socket]]:
    """``_nonblocking_pair``, with a's server end in the hub's shared epoll as ``_read_in_loop`` puts it."""
    pairs = _nonblocking_pair(hub)
    hub._poller = select.epoll()
    entry = hub._sockets[1]
    entry.done = gevent.event.Event()
    hub._by_descriptor[entry.sock.fileno()] = entry
    hub._poller.register(entry.sock.fileno(), select.EPOLLIN)
    return pairs


def _poll_once(hub: BrokerHub) -> None:
    assert select.select([hub._poller.fileno()], [], [], 5.0)[0], "the shared epoll never became readable"
    hub._on_poll()
    assert hub._corked is None  # nothing is left held back after the batch


def _close_all(hub: BrokerHub, pairs: dict[int, tuple[socket.socket, socket.socket]]) -> None:
    hub._poller.close()
    for server_end, client_end in pairs.values():
        server_end.close()
        client_end.close()


def test_frames_read_together_are_relayed_in_order() -> None:
    hub = BrokerHub(BrokerConfig())
    pairs = _polled_pair(hub)
    messages = [{"type": "OFFER", "dst": "b", "payload": index} for index in range(3)]
    messages.append({"type": "CANDIDATE", "dst": "b", "payload": "c"})
    pairs[1][1].sendall(b"".join(_client_frame(Opcode.TEXT, json.dumps(item).encode()) for item in messages))
    _poll_once(hub)
    expected = [{**sent, "src": "a"} for sent in messages]
    assert _frames(pairs[2][1]) == [{"type": "OPEN"}, *expected]
    _close_all(hub, pairs)


def test_a_destination_that_fails_inside_the_batch_is_closed_and_the_sender_gets_leave() -> None:
    hub = BrokerHub(BrokerConfig())
    pairs = _polled_pair(hub)
    pairs[2][1].close()  # b's client is gone; its socket is not closed yet on our side
    offer = json.dumps({"type": "OFFER", "dst": "b", "payload": 1}).encode()
    pairs[1][1].sendall(_client_frame(Opcode.TEXT, offer) * 2)
    _poll_once(hub)
    assert _frames(pairs[1][1]) == [{"type": "OPEN"}, {"type": "LEAVE", "src": "b", "dst": "a"}]
    assert hub._sockets[2].close_sent
    hub._poller.close()
    pairs[1][0].close()
    pairs[1][1].close()
    pairs[2][0].close()


def test_the_clients_close_is_answered_and_its_socket_leaves_the_epoll() -> None:
    hub = BrokerHub(BrokerConfig())
    pairs = _polled_pair(hub)
    entry = hub._sockets[1]
    pairs[1][1].sendall(_client_frame(Opcode.CLOSE, struct.pack("!H", 1000)))
    _poll_once(hub)
    assert entry.done.is_set() and entry.close_sent
    assert entry.sock.fileno() not in hub._by_descriptor
    assert _frames(pairs[1][1]) == [{"type": "OPEN"}, "CLOSE"]
    _close_all(hub, pairs)
