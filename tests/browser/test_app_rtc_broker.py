"""Two people connect through a broker, as the app does: ``BrokerTransport`` (WebSocket, PeerJS protocol)
+ ``Connector`` + ``RtcLink``, all Python in Pyodide in two Chromium contexts. Run against our own broker
(``app.py serve``) and against the stock npm ``peer`` server, over loopback only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.pyodide_harness import PyodideRunner, pyodide_pages
from tests.rig.server import LiveServer
from tests.rig.stock_peer import StockPeer, stock_peer_server  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_rtc_broker")]

ALICE = "palice" + "0" * 26
BOB = "pbob" + "1" * 28
STATE = "import sys\nstate = sys.modules['broker_test_state']\n"

SETUP = """
import asyncio, secrets, sys, types
from pyfront.browser.connector import Connector
from pyfront.browser.transport import BrokerTransport
from pyfront.messaging.settings import Settings

state = types.ModuleType("broker_test_state")
sys.modules["broker_test_state"] = state

class Events:
    def __init__(self):
        self.log, self.received, self.links = [], [], {}
    def link_open(self, peer, link):
        self.log.append(["open", peer])
        self.links[peer] = link
    def link_message(self, peer, link, data):
        self.received.append(data)
    def link_closed(self, peer, link, reason):
        self.log.append(["closed", peer, reason])

state.events = Events()
state.settings = Settings(broker_url=%(url)r, broker_key=%(key)r)
state.signaling = []
def on_event(event):
    state.signaling.append(type(event).__name__)
    state.connector.handle(event)
transport = BrokerTransport(state.settings.broker_address(""), %(peer)r, secrets.token_hex(16), on_event)
state.connector = Connector(transport, state.settings.rtc_configuration, state.events, secrets.token_bytes)
transport.start()
async with asyncio.timeout(15):
    await transport.wait_registered()
state.signaling
"""


def run(runner: PyodideRunner, code: str) -> Any:
    return runner.run(STATE + code)


def wait_until(runner: PyodideRunner, condition: str, timeout_s: float = 20.0) -> None:
    run(
        runner,
        f"import asyncio\nasync with asyncio.timeout({timeout_s}):\n"
        f"    while not ({condition}):\n        await asyncio.sleep(0.01)\n",
    )


@pytest.fixture(scope="module")
def stock_peer_url(stock_peer_server: StockPeer) -> str:  # noqa: F811 (fixture)
    return stock_peer_server.http_url


@pytest.fixture(scope="module")
def two_pages(chromium: Any) -> Iterator[tuple[PyodideRunner, PyodideRunner]]:
    """Two Pyodide pages in two contexts (two people), camera+microphone granted for ICE gathering."""
    with pyodide_pages(chromium) as (alice, bob):
        yield alice, bob


@pytest.fixture(params=["our-broker", "stock-peer"])
def broker(request: pytest.FixtureRequest, live_server: LiveServer) -> tuple[str, str]:
    """(broker URL, key): our server's broker at /peerjs, or the npm ``peer`` server at /."""
    if request.param == "our-broker":
        return f"{live_server.url}/peerjs", "peerjs"
    return request.getfixturevalue("stock_peer_url"), "parley"


def connect(pages: tuple[PyodideRunner, PyodideRunner], url: str, key: str) -> None:
    alice, bob = pages
    for runner, peer in ((alice, ALICE), (bob, BOB)):
        if runner.run("import sys\n'broker_test_state' in sys.modules"):
            run(runner, "state.connector.close()")
        assert runner.run(SETUP % {"url": url, "key": key, "peer": peer}) == ["Registered"]


def test_two_people_connect_through_the_broker_and_exchange_bytes(
    two_pages: tuple[PyodideRunner, PyodideRunner], broker: tuple[str, str]
) -> None:
    alice, bob = two_pages
    connect(two_pages, *broker)
    run(alice, f"state.link = await state.connector.dial({BOB!r})\nawait state.link.wait_open()")
    bob_link = f"state.events.links[{ALICE!r}]"
    wait_until(bob, f"{ALICE!r} in state.events.links and {bob_link}.state.value == 'open'")
    run(alice, "await state.link.send(b'hello bob')")
    run(bob, f"await state.events.links[{ALICE!r}].send(b'hello alice')")
    wait_until(bob, "len(state.events.received) == 1")
    wait_until(alice, "len(state.events.received) == 1")
    assert run(bob, "state.events.received") == [b"hello bob".hex()]
    assert run(alice, "state.events.received") == [b"hello alice".hex()]
    alice_fp = run(alice, "[state.link.local_fingerprint.hex(), state.link.remote_fingerprint.hex()]")
    bob_fp = run(bob, f"[{bob_link}.local_fingerprint.hex(), {bob_link}.remote_fingerprint.hex()]")
    assert alice_fp == bob_fp[::-1]
    # The broker carried offer, answer and candidates: both sides saw the other's SDP through it.
    assert "RemoteDescription" in run(alice, "state.signaling")
    assert "RemoteCandidate" in run(bob, "state.signaling")
    assert run(alice, "state.connector.transport.dropped_frames") == 0


def test_dialing_an_absent_peer_reports_it_unavailable(
    two_pages: tuple[PyodideRunner, PyodideRunner], broker: tuple[str, str]
) -> None:
    alice, _bob = two_pages
    connect(two_pages, *broker)
    run(alice, "state.link = await state.connector.dial('pnobody')")
    wait_until(alice, "state.link.state.value == 'closed'", timeout_s=30)
    assert run(alice, "state.link.close_reason") == "peer unavailable (expired)"
    assert run(alice, "[u.peer for u in state.connector.unavailable]") == ["pnobody"]


def test_a_taken_id_is_refused_and_not_retried(
    two_pages: tuple[PyodideRunner, PyodideRunner], live_server: LiveServer
) -> None:
    _alice, bob = two_pages
    connect(two_pages, f"{live_server.url}/peerjs", "peerjs")
    outcome = bob.run(
        "import asyncio, secrets\nfrom pyfront.browser.transport import BrokerTransport\n"
        "from pyfront.messaging.settings import Settings\nseen = []\n"
        f"address = Settings(broker_url={live_server.url + '/peerjs'!r}).broker_address('')\n"
        f"transport = BrokerTransport(address, {ALICE!r}, secrets.token_hex(16), seen.append)\n"
        "transport.start()\ntry:\n    async with asyncio.timeout(10):\n"
        "        await transport.wait_registered()\n"
        "    outcome = 'registered'\nexcept Exception as error:\n    outcome = str(error)\n"
        "await asyncio.sleep(1.5)\ntransport.close()\n"
        "[outcome, [e.reason for e in seen], transport.reconnects]",
    )
    assert outcome == ["broker refused us: id-taken", ["id-taken"], 0]
