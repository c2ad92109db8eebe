"""Differential test: the same scripted WebSocket/HTTP sessions against our broker and the stock npm ``peer``
server (peerjs-server 1.0.2 under node), on loopback; the transcripts must be identical.

Spec: shared/reference/peerjs-protocol.md. A transcript records every HTTP status, the headers that carry
protocol meaning (content type, CORS), bodies, and every WebSocket frame as raw text plus closes with
their code, so a difference in key order, in a field, or in a close is a failure. Each session also
checks a few facts of its own (``must``), so two servers that agree on nothing happening cannot pass.
Known, deliberate differences (our limits) are tested in test_broker_limits.py, not here.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
PEER_BIN = ROOT / "node_modules" / "peer" / "dist" / "bin" / "peerjs.js"
HOST = "127.0.0.1"
MOUNT = "/peerjs"
FRAME_TIMEOUT = 5.0
QUIET = 0.15
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

pytestmark = [pytest.mark.interop, pytest.mark.xdist_group("broker-differential")]

OUR_LAUNCHER = """
import json, sys
from app import create_app
from server import serve
from server.config import Config
config = Config(host=sys.argv[1], port=int(sys.argv[2]), broker=json.loads(sys.argv[3]))
serve.run(create_app(config), host=config.host, port=config.port)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def http(self) -> str:
        return f"http://{HOST}:{self.port}{MOUNT}"

    @property
    def ws(self) -> str:
        return f"ws://{HOST}:{self.port}{MOUNT}/peerjs"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_ready(server: Server) -> Server:
    deadline = time.monotonic() + 30
    while True:
        try:
            with _OPENER.open(f"{server.http}/", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{server.name} server did not start")
        time.sleep(0.1)


def start_reference(
    *,
    expire_ms: int = 5000,
    concurrent_limit: int = 5000,
    discovery: bool = False,
    cors: tuple[str, ...] = (),
    key: str = "peerjs",
) -> Server:
    port = free_port()
    args = ["node", str(PEER_BIN), "--port", str(port), "--host", HOST, "--path", MOUNT, "--key", key]
    args += ["--expire_timeout", str(expire_ms), "--concurrent_limit", str(concurrent_limit)]
    if discovery:
        args.append("--allow_discovery")
    if cors:
        args += ["--cors", *cors]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _wait_ready(Server("reference", port, process))


def start_ours(
    *,
    expire_ms: int = 5000,
    concurrent_limit: int = 5000,
    discovery: bool = False,
    cors: tuple[str, ...] = (),
    key: str = "peerjs",
    **extra: Any,
) -> Server:
    port = free_port()
    settings: dict[str, Any] = {
        "path": MOUNT,
        "key": key,
        "expire_timeout": expire_ms,
        "concurrent_limit": concurrent_limit,
        "allow_discovery": discovery,
        **extra,
    }
    if cors:
        settings["cors_origins"] = list(cors)
    process = subprocess.Popen(
        [sys.executable, "-c", OUR_LAUNCHER, HOST, str(port), json.dumps(settings)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return _wait_ready(Server("ours", port, process))


@dataclass
class Session:
    """Drives one server and writes down everything observable."""

    server: Server
    transcript: list[Any] = field(default_factory=list)
    sockets: dict[str, ClientConnection] = field(default_factory=dict)

    def open(self, name: str, query: str) -> None:
        self.sockets[name] = connect(
            f"{self.server.ws}?{query}",
            compression=None,
            open_timeout=FRAME_TIMEOUT,
            close_timeout=0.5,
            legacy=True,
        )
        self.transcript.append(("open", name))

    def peer(self, name: str, client_id: str, token: str = "tok") -> None:
        self.open(name, f"key=peerjs&id={client_id}&token={token}&version=1.5.5")

    def send(self, name: str, message: Any) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.sockets[name].send(text)

    def expect(self, name: str, count: int) -> None:
        """Read ``count`` events (frames or a close), then anything more that comes within ``QUIET``."""
        ws = self.sockets[name]
        events: list[Any] = []
        for index in range(count + 1):
            try:
                events.append(ws.recv(timeout=FRAME_TIMEOUT if index < count else QUIET))
            except TimeoutError:
                events.append("<nothing>")
                break
            except ConnectionClosed as closed:
                events.append(("closed", closed.rcvd.code if closed.rcvd else None))
                break
        self.transcript.append((name, events))

    def close(self, name: str) -> None:
        self.sockets.pop(name).close()
        time.sleep(0.1)  # let the server see it before the script goes on

    def http(self, method: str, path: str, headers: dict[str, str] | None = None) -> None:
        request = urllib.request.Request(f"{self.server.http}{path}", method=method, headers=headers or {})
        try:
            with _OPENER.open(request, timeout=FRAME_TIMEOUT) as response:
                status, head, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, head, body = error.code, error.headers, error.read()
        text = body.decode()
        kind = (head.get("Content-Type") or "").split(";")[0]
        content: Any = text
        if kind == "application/json":
            content = json.loads(text)
        elif UUID4.match(text):
            content = "<uuid4>"
        cors = {
            name: head.get(name)
            for name in (
                "Access-Control-Allow-Origin",
                "Access-Control-Allow-Methods",
                "Access-Control-Allow-Headers",
            )
        }
        self.transcript.append(("http", method, path, status, kind, cors, content))

    def finish(self) -> list[Any]:
        for ws in self.sockets.values():
            ws.close()
        self.sockets.clear()
        return self.transcript


Script = Callable[[Session], None]
SCRIPTS: dict[str, tuple[Script, list[str]]] = {}


def script(*must: str) -> Callable[[Script], Script]:
    def register(function: Script) -> Script:
        SCRIPTS[function.__name__] = (function, list(must))
        return function

    return register


@script('"name": "PeerJS Server"', "http://a.test")
def http_root_and_cors(s: Session) -> None:
    s.http("GET", "/", {"Origin": "http://a.test"})
    s.http("GET", "/")


@script("<uuid4>", "text/html", "http://a.test")
def http_id(s: Session) -> None:
    s.http("GET", "/peerjs/id?ts=16000000000000.5&version=1.5.5", {"Origin": "http://a.test"})
    s.http("GET", "/anykey/id")


@script("401", "Unauthorized")
def http_peers_without_discovery(s: Session) -> None:
    s.http("GET", "/peerjs/peers", {"Origin": "http://a.test"})


@script("204", "GET,HEAD,PUT,PATCH,POST,DELETE", "x-custom")
def http_preflight(s: Session) -> None:
    s.http(
        "OPTIONS",
        "/peerjs/id",
        {
            "Origin": "http://a.test",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-custom",
        },
    )


@script("No id, token, or key supplied to websocket server", "1005")
def ws_missing_params(s: Session) -> None:
    for name, query in [
        ("no-id", "key=peerjs&token=t"),
        ("no-token", "key=peerjs&id=mp1"),
        ("no-key", "id=mp2&token=t"),
        ("empty-id", "key=peerjs&id=&token=t"),
    ]:
        s.open(name, query)
        s.expect(name, 2)


@script("Invalid key provided")
def ws_wrong_key(s: Session) -> None:
    s.open("a", "key=nope&id=wk1&token=t")
    s.expect("a", 2)


@script('{"type":"OPEN"}')
def ws_open_and_heartbeat(s: Session) -> None:
    s.peer("a", "hb1")
    s.expect("a", 1)
    s.send("a", {"type": "HEARTBEAT"})
    s.expect("a", 0)


@script('"src":"rl1","dst":"rl2","payload":{"sdp":{"type":"offer"', '"src":"rl2","dst":"rl1","payload":null')
def ws_relay_overwrites_src_and_drops_fields(s: Session) -> None:
    s.peer("a", "rl1")
    s.peer("b", "rl2")
    s.expect("a", 1)
    s.expect("b", 1)
    offer = {
        "sdp": {"type": "offer", "sdp": "v=0\r\n"},
        "type": "data",
        "connectionId": "dc_x",
        "reliable": True,
    }
    s.send("a", {"type": "OFFER", "src": "mallory", "dst": "rl2", "payload": offer, "extra": [1]})
    s.expect("b", 1)
    s.send("b", {"type": "ANSWER", "dst": "rl1", "payload": {"sdp": "x", "n": 1.0, "u": "é ☃ \U0001f600"}})
    s.expect("a", 1)
    s.send("b", {"type": "CANDIDATE", "dst": "rl1", "payload": None})
    s.send("b", {"type": "CANDIDATE", "dst": "rl1"})
    s.expect("a", 2)
    s.send("a", {"type": "OFFER", "dst": "rl1", "payload": "self"})
    s.expect("a", 1)


@script('"payload":"first"', '"payload":"second"')
def ws_queue_replayed_after_open(s: Session) -> None:
    s.peer("a", "qr1")
    s.expect("a", 1)
    s.send("a", {"type": "OFFER", "dst": "qr2", "payload": "first"})
    s.send("a", {"type": "CANDIDATE", "dst": "qr2", "payload": "second"})
    s.send("a", {"type": "LEAVE", "dst": "qr2"})
    s.send("a", {"type": "EXPIRE", "dst": "qr2"})
    time.sleep(0.1)
    s.peer("b", "qr2")
    s.expect("b", 3)


@script("ID is taken", '"payload":"still mine"')
def ws_id_taken(s: Session) -> None:
    s.peer("a", "it1", token="right")
    s.expect("a", 1)
    s.peer("intruder", "it1", token="wrong")
    s.expect("intruder", 2)
    s.peer("b", "it2")
    s.expect("b", 1)
    s.send("b", {"type": "OFFER", "dst": "it1", "payload": "still mine"})
    s.expect("a", 1)


@script('"payload":"to new"', '"payload":"after old closed"')
def ws_same_token_rebind(s: Session) -> None:
    s.peer("old", "rb1", token="same")
    s.expect("old", 1)
    s.peer("new", "rb1", token="same")
    s.expect("new", 0)  # no OPEN
    s.peer("b", "rb2")
    s.expect("b", 1)
    s.send("b", {"type": "OFFER", "dst": "rb1", "payload": "to new"})
    s.expect("new", 1)
    s.expect("old", 0)
    s.send("old", {"type": "OFFER", "dst": "rb2", "payload": "old socket still speaks as rb1"})
    s.expect("b", 1)
    s.close("old")
    s.send("b", {"type": "OFFER", "dst": "rb1", "payload": "after old closed"})
    s.expect("new", 1)


@script('"payload":"queued for lw1"')
def ws_leave_without_dst_unregisters(s: Session) -> None:
    s.peer("a", "lw1")
    s.peer("b", "lw2")
    s.expect("a", 1)
    s.expect("b", 1)
    s.send("a", {"type": "LEAVE"})
    time.sleep(0.1)
    s.send("b", {"type": "OFFER", "dst": "lw1", "payload": "queued for lw1"})
    s.expect("a", 0)
    s.peer("a2", "lw1", token="another")
    s.expect("a2", 2)


@script('"payload":"works"')
def ws_malformed_objects_are_ignored(s: Session) -> None:
    s.peer("a", "mf1")
    s.peer("b", "mf2")
    s.expect("a", 1)
    s.expect("b", 1)
    for frame in [
        "[1,2]",
        "{}",
        '{"type":5,"dst":"mf2"}',
        '{"type":"HELLO","dst":"mf2"}',
        '{"type":"OPEN","dst":"mf2"}',
        '{"type":"ERROR","dst":"mf2"}',
        '{"type":"offer","dst":"mf2"}',
        '{"type":"OFFER"}',
        '{"type":"HEARTBEAT","dst":"mf2"}',
    ]:
        s.send("a", frame)
    s.expect("a", 0)
    s.expect("b", 0)
    s.send("a", {"type": "OFFER", "dst": "mf2", "payload": "works"})
    s.expect("b", 1)


@script('"type":"EXPIRE","src":"ex9","dst":"ex1"', '"type":"EXPIRE","src":"ex9","dst":"ex2"')
def ws_one_expire_per_distinct_pair(s: Session) -> None:
    s.peer("a", "ex1")
    s.peer("c", "ex2")
    s.expect("a", 1)
    s.expect("c", 1)
    s.send("a", {"type": "OFFER", "dst": "ex9"})
    s.send("a", {"type": "CANDIDATE", "dst": "ex9"})
    s.send("a", {"type": "CANDIDATE", "dst": "ex9"})
    s.send("c", {"type": "OFFER", "dst": "ex9"})
    time.sleep(2.6)  # expire_timeout 1000 ms, cleanup every 1000 ms
    s.expect("a", 1)
    s.expect("c", 1)
    s.peer("late", "ex9")
    s.expect("late", 1)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    reference = start_reference(expire_ms=1000)
    try:
        ours = start_ours(expire_ms=1000)
    except RuntimeError:
        reference.stop()
        raise
    yield reference, ours
    reference.stop()
    ours.stop()


def _run(script_function: Script, server: Server) -> list[Any]:
    session = Session(server)
    try:
        script_function(session)
    finally:
        transcript = session.finish()
    return transcript


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_same_transcript_as_the_reference_server(name: str, servers: tuple[Server, Server]) -> None:
    script_function, must = SCRIPTS[name]
    reference, ours = servers
    expected = _run(script_function, reference)
    got = _run(script_function, ours)
    assert got == expected
    text = json.dumps(expected, ensure_ascii=False)
    for fact in must:
        assert fact.replace('"', '\\"') in text or fact in text, (
            f"reference transcript lacks {fact!r}: {text}"
        )


def test_concurrent_limit_then_a_free_slot_is_reused() -> None:
    def session(s: Session) -> None:
        s.peer("a", "cl1")
        s.peer("b", "cl2")
        s.expect("a", 1)
        s.expect("b", 1)
        s.peer("c", "cl3")
        s.expect("c", 2)
        s.close("a")
        s.peer("d", "cl4")
        s.expect("d", 1)

    pair = [start_reference(concurrent_limit=2), start_ours(concurrent_limit=2)]
    try:
        expected, got = (_run(session, server) for server in pair)
    finally:
        for server in pair:
            server.stop()
    assert got == expected
    assert "Server has reached its concurrent user limit" in json.dumps(expected)


def test_discovery_lists_peers_and_cors_list_restricts() -> None:
    def session(s: Session) -> None:
        s.http("GET", "/peerjs/peers")
        s.peer("a", "dp1")
        s.peer("b", "dp2")
        s.expect("a", 1)
        s.expect("b", 1)
        s.http("GET", "/peerjs/peers", {"Origin": "http://allowed.test"})
        s.http("GET", "/", {"Origin": "http://other.test"})
        s.http("GET", "/peerjs/id", {"Origin": "http://other.test"})
        s.close("a")
        s.http("GET", "/peerjs/peers")

    origins = ("http://allowed.test", "http://second.test")
    pair = [start_reference(discovery=True, cors=origins), start_ours(discovery=True, cors=origins)]
    try:
        expected, got = (_run(session, server) for server in pair)
    finally:
        for server in pair:
            server.stop()
    assert got == expected
    assert (
        "http",
        "GET",
        "/peerjs/peers",
        200,
        "application/json",
        {
            "Access-Control-Allow-Origin": "http://allowed.test",
            "Access-Control-Allow-Methods": None,
            "Access-Control-Allow-Headers": None,
        },
        ["dp1", "dp2"],
    ) in expected


@pytest.mark.parametrize("frame", ["not json", "{", "", "null", "5", '"OFFER"'])
def test_unparsable_frame_divergence(frame: str, servers: tuple[Server, Server]) -> None:
    """A frame that is not a JSON object: neither server answers or closes. The reference then ignores
    every later frame of that socket (its JSON error escapes as an unhandled 'error' event inside ``ws``'s
    receiver), so the client's signaling is silently dead; ours rejects only that frame (docs/broker.md)."""

    def session(s: Session) -> None:
        tag = abs(hash(frame)) % 10_000
        s.peer("a", f"uj{tag}a")
        s.peer("b", f"uj{tag}b")
        s.expect("a", 1)
        s.expect("b", 1)
        s.send("a", frame)
        s.expect("a", 0)
        s.expect("b", 0)
        s.send("a", {"type": "OFFER", "dst": f"uj{tag}b", "payload": "after"})
        s.expect("b", 0)

    reference, ours = servers
    expected = _run(session, reference)
    got = _run(session, ours)
    assert got[:6] == expected[:6]  # same up to and including the silence after the bad frame
    assert expected[6][1] == ["<nothing>"]  # the reference's socket is wedged
    assert json.loads(got[6][1][0])["payload"] == "after"  # ours still relays
