"""``pyfront.browser.rtc.RtcLink`` under CPython, over a fake browser whose events the test orders.

In Chromium (tests/browser/test_app_rtc.py) the browser decides the order of its events; here the test
does, to pin the order that stalled handshakes under load (issue 13, deliverable 4; docs/protocol.md
section 4): the offerer's data channel fired ``open`` before the Python continuation after its
``setRemoteDescription(answer)`` had run. ``RtcLink`` reported the link open with no remote description,
``Messenger.link_open`` failed on ``remote_fingerprint`` after it had taken the link, the initiator never
sent its ``Hello`` and the responder gave up after ``HANDSHAKE_TIMEOUT_SECONDS``. The open is now held
until the remote description is taken.

Relay-only mode (issue 14): a link that finishes gathering with no TURN relay address closes at once and
its reason names the TURN server's error; one relay address among refusals is enough.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pyfront.errors import InvalidStateError

FINGERPRINT_LINE = "a=fingerprint:sha-256 " + ":".join(["AB"] * 32)
LOCAL_SDP = "v=0\r\n" + FINGERPRINT_LINE + "\r\n"
REMOTE_SDP = "v=0\r\na=fingerprint:sha-256 " + ":".join(["CD"] * 32) + "\r\n"


class FakeTarget:
    """An ``EventTarget``: listeners by event name; ``fire`` dispatches as the browser would."""

    def __init__(self) -> None:
        self.listeners: dict[str, list[Callable[[Any], None]]] = {}

    def addEventListener(self, event: str, listener: Callable[[Any], None]) -> None:
        self.listeners.setdefault(event, []).append(listener)

    def removeEventListener(self, event: str, listener: Callable[[Any], None]) -> None:
        self.listeners.get(event, []).remove(listener)

    def fire(self, event: str, payload: Any = None) -> None:
        for listener in list(self.listeners.get(event, [])):
            listener(payload)


class FakeChannel(FakeTarget):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label
        self.readyState = "connecting"
        self.bufferedAmount = 0
        self.sent: list[Any] = []

    def send(self, data: Any) -> None:
        self.sent.append(data)

    def close(self) -> None:
        self.readyState = "closed"


def _resolved(value: Any = None) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


class FakePeerConnection(FakeTarget):
    """The calls ``RtcLink`` makes; ``setRemoteDescription`` resolves when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.channel: FakeChannel | None = None
        self.localDescription: Any = None
        self.connectionState = "new"
        self.remote: asyncio.Future[Any] | None = None

    def createDataChannel(self, label: str, _options: Any) -> FakeChannel:
        self.channel = FakeChannel(label)
        return self.channel

    def createOffer(self) -> asyncio.Future[Any]:
        return _resolved(types.SimpleNamespace(sdp=LOCAL_SDP))

    def setLocalDescription(self, description: Any) -> asyncio.Future[Any]:
        self.localDescription = description
        return _resolved()

    def setRemoteDescription(self, _description: Any) -> asyncio.Future[Any]:
        self.remote = asyncio.get_running_loop().create_future()
        return self.remote

    def addIceCandidate(self, _candidate: Any) -> asyncio.Future[Any]:
        return _resolved()

    def close(self) -> None:
        self.connectionState = "closed"


class Proxy:
    """``pyodide.ffi.create_proxy``: a callable with ``destroy``."""

    def __init__(self, handler: Callable[[Any], None]) -> None:
        self.handler = handler

    def __call__(self, event: Any) -> None:
        self.handler(event)

    def destroy(self) -> None:
        pass


@pytest.fixture
def rtc(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """``pyfront.browser.rtc`` imported over the fake ``js`` and ``pyodide.ffi`` (and forgotten after)."""
    connections: list[FakePeerConnection] = []

    def new_connection(_configuration: Any) -> FakePeerConnection:
        connections.append(FakePeerConnection())
        return connections[-1]

    fake_js = types.ModuleType("js")
    fake_js.RTCPeerConnection = types.SimpleNamespace(new=new_connection)  # type: ignore[attr-defined]
    fake_js.Object = types.SimpleNamespace(fromEntries=dict)  # type: ignore[attr-defined]
    fake_ffi = types.ModuleType("pyodide.ffi")
    fake_ffi.create_proxy = Proxy  # type: ignore[attr-defined]
    fake_ffi.to_js = lambda value, **_options: value  # type: ignore[attr-defined]
    fake_pyodide = types.ModuleType("pyodide")
    fake_pyodide.ffi = fake_ffi  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "js", fake_js)
    monkeypatch.setitem(sys.modules, "pyodide", fake_pyodide)
    monkeypatch.setitem(sys.modules, "pyodide.ffi", fake_ffi)
    monkeypatch.delitem(sys.modules, "pyfront.browser.rtc", raising=False)
    module = importlib.import_module("pyfront.browser.rtc")
    module.connections = connections  # type: ignore[attr-defined]
    yield module
    sys.modules.pop("pyfront.browser.rtc", None)


def test_an_open_before_the_remote_description_is_taken_waits_for_it(rtc: types.ModuleType) -> None:
    """The order a loaded page showed: the channel's ``open`` fires while ``accept_answer`` still
    awaits ``setRemoteDescription``. The owner hears of the open once, when both fingerprints are
    known (before the fix it heard at once, and ``remote_fingerprint`` raised)."""

    async def body() -> None:
        opened: list[tuple[bytes, bytes]] = []
        failures: list[str] = []
        link: Any = None

        def on_open() -> None:  # what Messenger.link_open reads first
            try:
                opened.append((link.local_fingerprint, link.remote_fingerprint))
            except InvalidStateError as error:
                failures.append(str(error))

        callbacks = rtc.LinkCallbacks(
            on_candidate=lambda _candidate: None,
            on_open=on_open,
            on_message=lambda _data: None,
            on_closed=lambda _reason: None,
        )
        link = rtc.RtcLink({}, callbacks)
        await link.create_offer()
        answering = asyncio.ensure_future(link.accept_answer(REMOTE_SDP))
        await asyncio.sleep(0)  # accept_answer now awaits setRemoteDescription
        connection = rtc.connections[-1]
        assert connection.remote is not None and not connection.remote.done()
        channel = connection.channel
        channel.readyState = "open"
        channel.fire("open")  # the browser's open task ran first
        waiting = asyncio.ensure_future(link.wait_open())
        await asyncio.sleep(0)
        assert (opened, failures) == ([], [])
        assert link.state is rtc.LinkState.CONNECTING and not waiting.done()
        connection.remote.set_result(None)  # now the continuation runs
        await answering
        await waiting
        assert failures == []
        assert opened == [(bytes([0xAB] * 32), bytes([0xCD] * 32))]
        assert link.state is rtc.LinkState.OPEN
        channel.fire("open")  # a late duplicate changes nothing
        assert len(opened) == 1

    asyncio.run(body())


def test_an_open_after_the_remote_description_is_reported_at_once(rtc: types.ModuleType) -> None:
    async def body() -> None:
        opened: list[bytes] = []
        link: Any = None
        callbacks = rtc.LinkCallbacks(
            on_candidate=lambda _candidate: None,
            on_open=lambda: opened.append(link.remote_fingerprint),
            on_message=lambda _data: None,
            on_closed=lambda _reason: None,
        )
        link = rtc.RtcLink({}, callbacks)
        await link.create_offer()
        answering = asyncio.ensure_future(link.accept_answer(REMOTE_SDP))
        await asyncio.sleep(0)
        connection = rtc.connections[-1]
        connection.remote.set_result(None)
        await answering
        connection.channel.readyState = "open"
        connection.channel.fire("open")
        assert opened == [bytes([0xCD] * 32)] and link.state is rtc.LinkState.OPEN

    asyncio.run(body())


def test_a_link_closed_while_its_open_waits_never_reports_it(rtc: types.ModuleType) -> None:
    async def body() -> None:
        events: list[str] = []
        callbacks = rtc.LinkCallbacks(
            on_candidate=lambda _candidate: None,
            on_open=lambda: events.append("open"),
            on_message=lambda _data: None,
            on_closed=lambda reason: events.append(f"closed: {reason}"),
        )
        link = rtc.RtcLink({}, callbacks)
        await link.create_offer()
        answering = asyncio.ensure_future(link.accept_answer(REMOTE_SDP))
        await asyncio.sleep(0)
        connection = rtc.connections[-1]
        connection.channel.readyState = "open"
        connection.channel.fire("open")
        link.close("gone")
        connection.remote.set_result(None)
        await answering
        assert events == ["closed: gone"]

    asyncio.run(body())


def _candidate_event(kind: str) -> Any:
    line = f"candidate:1 1 udp 1 127.0.0.1 40000 typ {kind}"
    candidate = types.SimpleNamespace(
        candidate=line, type=kind, toJSON=lambda: types.SimpleNamespace(to_py=dict)
    )
    return types.SimpleNamespace(candidate=candidate)


def _relay_link(rtc: types.ModuleType, closed: list[str]) -> tuple[Any, Any]:
    callbacks = rtc.LinkCallbacks(
        on_candidate=lambda _candidate: None,
        on_open=lambda: None,
        on_message=lambda _data: None,
        on_closed=closed.append,
    )
    configuration = {"iceServers": [{"urls": ["turn:127.0.0.1:3478"]}], "iceTransportPolicy": "relay"}
    link = rtc.RtcLink(configuration, callbacks)
    connection = rtc.connections[-1]
    connection.iceGatheringState = "gathering"
    return link, connection


def test_relay_only_without_a_relay_address_closes_and_says_why(rtc: types.ModuleType) -> None:
    """The TURN server refused the credential: when gathering ends, the link closes with its words."""

    async def body() -> None:
        closed: list[str] = []
        link, connection = _relay_link(rtc, closed)
        await link.create_offer()
        error = types.SimpleNamespace(url="turn:127.0.0.1:3478", errorCode=401, errorText="Unauthorized.")
        connection.fire("icecandidateerror", error)
        assert closed == [] and link.state is rtc.LinkState.CONNECTING  # gathering goes on
        connection.iceGatheringState = "complete"
        connection.fire("icegatheringstatechange")
        assert link.state is rtc.LinkState.CLOSED
        assert closed == [
            "Relay-only mode: the TURN server gave no relay address (turn:127.0.0.1:3478: 401 Unauthorized). "
            "Check its address, username and credential in Settings."
        ]
        assert link.relay_problem == closed[0]

    asyncio.run(body())


def test_relay_only_with_a_relay_address_is_not_a_problem(rtc: types.ModuleType) -> None:
    """One TURN server refused, another gave a relay address: the link goes on."""

    async def body() -> None:
        closed: list[str] = []
        link, connection = _relay_link(rtc, closed)
        await link.create_offer()
        connection.fire("icecandidateerror", types.SimpleNamespace(url="turn:a", errorCode=401, errorText=""))
        connection.fire("icecandidate", _candidate_event("relay"))
        connection.iceGatheringState = "complete"
        connection.fire("icegatheringstatechange")
        assert (closed, link.relay_problem, link.state) == ([], "", rtc.LinkState.CONNECTING)

    asyncio.run(body())


def test_relay_only_with_no_answer_at_all_says_so(rtc: types.ModuleType) -> None:
    async def body() -> None:
        closed: list[str] = []
        link, connection = _relay_link(rtc, closed)
        await link.create_offer()
        connection.iceGatheringState = "complete"
        connection.fire("icegatheringstatechange")
        assert closed == ["Relay-only mode: no TURN server answered. Check the TURN servers in Settings."]

    asyncio.run(body())
