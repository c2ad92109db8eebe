"""Our broker's limits over real WebSockets (``python app.py serve``'s stack on loopback): where the stock
server has none, ours closes with a documented code and stays healthy.

Spec: docs/broker.md ("Limits"); the constants live in server/broker.py. The stock server is not run
here: these are the deliberate differences that test_broker_differential.py leaves out.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server.broker import MAX_FRAME_BYTES, MAX_PARAM_LENGTH, RATE_LIMIT_BURST
from tests.interop.test_broker_differential import _OPENER, Server, start_ours

pytestmark = [pytest.mark.interop, pytest.mark.xdist_group("broker-limits")]


@pytest.fixture(scope="module")
def ours() -> Iterator[Server]:
    server = start_ours(expire_ms=1000, discovery=True)
    yield server
    server.stop()


def _peer(server: Server, client_id: str, token: str = "tok") -> ClientConnection:
    ws = connect(
        f"{server.ws}?key=peerjs&id={client_id}&token={token}", compression=None, close_timeout=1, legacy=True
    )
    assert json.loads(ws.recv(timeout=5)) == {"type": "OPEN"}
    return ws


def _close_code(ws: ClientConnection) -> int | None:
    try:
        while True:
            ws.recv(timeout=5)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def _peers(server: Server) -> list[str]:
    with _OPENER.open(f"{server.http}/peerjs/peers", timeout=5) as response:
        ids: list[str] = json.loads(response.read())
        return ids


def _relays(server: Server, sender: ClientConnection, receiver: ClientConnection, receiver_id: str) -> bool:
    sender.send(json.dumps({"type": "OFFER", "dst": receiver_id, "payload": "ping"}))
    return bool(json.loads(receiver.recv(timeout=5))["payload"] == "ping")


def test_oversized_frame_is_closed_with_1009_and_others_are_unaffected(ours: Server) -> None:
    big, small = _peer(ours, "big1"), _peer(ours, "small1")
    big.send(json.dumps({"type": "OFFER", "dst": "small1", "payload": "x" * MAX_FRAME_BYTES}))
    assert _close_code(big) == 1009
    other = _peer(ours, "other1")
    assert _relays(ours, other, small, "small1")
    assert "big1" not in _peers(ours)
    for ws in (small, other):
        ws.close()


def test_fragmented_frame_over_the_limit_is_closed_with_1009(ours: Server) -> None:
    ws = _peer(ours, "frag1")
    chunk = "y" * (MAX_FRAME_BYTES // 4)
    try:
        ws.send(iter(['{"type":"OFFER","dst":"x","payload":"', *[chunk] * 5, '"}']))  # five+ fragments
    except ConnectionClosed as closed:  # the server may close before the last fragment is sent
        assert closed.rcvd is not None and closed.rcvd.code == 1009
        return
    assert _close_code(ws) == 1009


def test_flood_is_closed_with_1008(ours: Server) -> None:
    flooder, calm = _peer(ours, "flood1"), _peer(ours, "calm1")
    for _ in range(RATE_LIMIT_BURST + 50):
        try:
            flooder.send('{"type":"HEARTBEAT"}')
        except ConnectionClosed:
            break
    assert _close_code(flooder) == 1008
    assert _relays(ours, calm, calm, "calm1")
    calm.close()


def test_takeover_attempts_fail_and_the_holder_keeps_its_id(ours: Server) -> None:
    holder, friend = _peer(ours, "hold1", token="secret"), _peer(ours, "friend1")
    for attempt in range(20):
        intruder = connect(
            f"{ours.ws}?key=peerjs&id=hold1&token=guess{attempt}", compression=None, legacy=True
        )
        assert json.loads(intruder.recv(timeout=5))["type"] == "ID-TAKEN"
        assert _close_code(intruder) == 1005
    assert _relays(ours, friend, holder, "hold1")
    for ws in (holder, friend):
        ws.close()


def test_overlong_id_is_refused(ours: Server) -> None:
    ws = connect(
        f"{ours.ws}?key=peerjs&id={'a' * (MAX_PARAM_LENGTH + 1)}&token=t", compression=None, legacy=True
    )
    assert json.loads(ws.recv(timeout=5))["type"] == "ERROR"
    assert _close_code(ws) == 1005


def test_connect_disconnect_cycles_leave_the_registry_empty(ours: Server) -> None:
    cycles, parallel = 1000, 50

    async def one(index: int) -> None:
        async with async_connect(
            f"{ours.ws}?key=peerjs&id=cy{index}&token=t{index}", compression=None, close_timeout=2
        ) as ws:
            assert json.loads(await ws.recv()) == {"type": "OPEN"}
            await ws.send(json.dumps({"type": "OFFER", "dst": f"offline{index % 7}", "payload": index}))
            await ws.send("garbage")

    async def run_all() -> None:
        for start in range(0, cycles, parallel):
            await asyncio.gather(*(one(index) for index in range(start, start + parallel)))

    asyncio.run(run_all())
    deadline = time.monotonic() + 5
    while [peer for peer in _peers(ours) if peer.startswith("cy")] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [peer for peer in _peers(ours) if peer.startswith("cy")] == []
    survivor, other = _peer(ours, "after-cycles"), _peer(ours, "after-cycles-2")
    assert _relays(ours, survivor, other, "after-cycles-2")
