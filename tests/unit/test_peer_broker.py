"""``pyfront.peer.broker.BrokerConnection``: the headless peer's broker socket owns its background work.

Two connections register at the real broker (``app.py serve`` on loopback, ``live_server``) and talk
through it. What is checked is what the person running the peer would see: a bug in the work the
connection does in the background is in the log once, with its traceback (not lost, not repeated), and
a closed connection leaves nothing of its own running. ``test_peer_cli.py`` covers the failures the
CLI reports (unreachable, refused); ``test_network_registration.py`` the rules both fronts share.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from pyfront.messaging import signaling
from pyfront.messaging.settings import Settings
from pyfront.messaging.signaling import BrokerAddress, Event, RemoteDescription
from pyfront.network import registration
from pyfront.peer.broker import BrokerConnection, _send_unless_closing
from pyfront.tasks import TaskSet
from tests.rig.server import LiveServer

ALICE = "palice" + "1" * 26
BOB = "pbob" + "2" * 28
REGISTER_S = 10.0


@pytest.fixture(autouse=True)
def quick_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ticks and heartbeats ten times a second, so a test sees background sends within a second."""
    monkeypatch.setattr(registration, "TICK_INTERVAL_S", 0.02)
    monkeypatch.setattr(signaling, "HEARTBEAT_INTERVAL_S", 0.1)


def address_of(server: LiveServer) -> BrokerAddress:
    """The server's own broker, found as the headless peer finds it."""
    return Settings().broker_address(server.url + "/")


def connection(server: LiveServer, peer_id: str, on_event: Any) -> BrokerConnection:
    return BrokerConnection(address_of(server), peer_id, secrets.token_hex(16), on_event)


async def until(condition: Any, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {within_s} s"
        await asyncio.sleep(0.01)


def task_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "pyfront.tasks"]


def test_a_bug_in_the_connections_background_work_is_logged_once_with_its_traceback(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Alice's event handler has a bug: the OFFER Bob sends her raises in it, inside her connection's
    socket loop. The failure is in the log once, named after her registration, with the traceback; the
    loop's "exception was never retrieved" handler hears nothing; closing her connection still works."""
    unhandled: list[dict[str, Any]] = []

    def buggy_handler(event: Event) -> None:
        if isinstance(event, RemoteDescription):
            raise RuntimeError("the handler has a bug")

    async def body() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: unhandled.append(context))
        alice = connection(live_server, ALICE, buggy_handler)
        bob = connection(live_server, BOB, lambda _event: None)
        for peer in (alice, bob):
            peer.start()
        try:
            for peer in (alice, bob):
                await peer.wait_registered(REGISTER_S)
            await bob.offer(ALICE, "dc_1", "v=0")
            await until(lambda: task_failures(caplog), REGISTER_S, "log line")
            await asyncio.sleep(0.3)  # heartbeats go on meanwhile: nothing more is logged
        finally:
            for peer in (alice, bob):
                await peer.close()

    with caplog.at_level(logging.ERROR, logger="pyfront.tasks"):
        asyncio.run(body())
    failures = task_failures(caplog)
    assert [record.getMessage() for record in failures] == [
        f"broker {ALICE}: BrokerConnection._connect_forever failed: RuntimeError"
    ]
    assert failures[0].exc_info is not None and str(failures[0].exc_info[1]) == "the handler has a bug"
    assert "buggy_handler" in caplog.text  # the traceback points at the bug
    assert unhandled == []


def test_close_leaves_nothing_of_the_connection_running(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Registered, heartbeats flowing: after ``close`` no task of the connection is left (not its socket
    loop, not its ticker, not a heartbeat on its way), and closing logged no failure."""

    async def body() -> None:
        others = asyncio.all_tasks()
        alice = connection(live_server, ALICE, lambda _event: None)
        alice.start()
        await alice.wait_registered(REGISTER_S)
        assert len(alice._tasks) >= 2  # the socket loop and the ticker
        await asyncio.sleep(0.35)  # a few heartbeats went
        assert alice.registered
        await alice.close()
        assert asyncio.all_tasks() == others
        assert len(alice._tasks) == 0 and alice.closed

    with caplog.at_level(logging.DEBUG, logger="pyfront.tasks"):
        asyncio.run(body())
    assert task_failures(caplog) == []


def test_a_heartbeat_that_finds_the_socket_closed_is_dropped_without_a_log_line(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The one failure ignored on purpose: the socket closed under a heartbeat; the reconnect follows."""

    async def body() -> None:
        alice = connection(live_server, ALICE, lambda _event: None)
        alice.start()
        try:
            await alice.wait_registered(REGISTER_S)
            socket = alice._socket
            assert socket is not None
            await socket.close()
            with pytest.raises(ConnectionClosed):
                await socket.send('{"type":"HEARTBEAT"}')  # what the heartbeat meets
            tasks = TaskSet("heartbeat")
            await tasks.spawn(_send_unless_closing(socket, '{"type":"HEARTBEAT"}'))
        finally:
            await alice.close()

    with caplog.at_level(logging.DEBUG, logger="pyfront.tasks"):
        asyncio.run(body())
    assert task_failures(caplog) == []
