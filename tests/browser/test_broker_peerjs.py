"""Real-client test: the stock npm ``peerjs`` 1.5.5 client in two Chromium pages registers with our broker
(``python app.py serve``), opens a data connection and exchanges messages both ways.

Spec: shared/reference/peerjs-protocol.md ("Client payloads"). The test page and ``peerjs.min.js`` come
from a separate loopback origin, so the broker's CORS answers are exercised too; the peerjs config
overrides host, port, path and ICE servers so nothing leaves loopback (the request guard fails the test
otherwise). Run: ``./dev pytest tests/browser/test_broker_peerjs.py -n 0``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.conftest import BrowserContextFactory, LiveServer, save_screenshot

ROOT = Path(__file__).resolve().parents[2]
PEERJS_DIST = ROOT / "node_modules" / "peerjs" / "dist"
TIMEOUT_MS = 20_000

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>peerjs against our broker</title>
<script src="/peerjs.min.js"></script></head>
<body><pre id="log"></pre>
<script>
window.received = [];
window.errors = [];
function log(line) { document.getElementById("log").textContent += line + "\\n"; }
window.register = (port) => new Promise((resolve, reject) => {
  const peer = new Peer({host: "127.0.0.1", port, path: "/peerjs", key: "peerjs", secure: false,
                         config: {iceServers: []}, debug: 0});
  window.peer = peer;
  peer.on("error", (error) => { window.errors.push(String(error.type)); reject(String(error.type)); });
  peer.on("connection", (conn) => {
    window.conn = conn;
    conn.on("data", (data) => { window.received.push(data); log("got " + data); conn.send("echo:" + data); });
  });
  peer.on("open", (id) => { log("registered as " + id); resolve(id); });
});
window.dial = (remoteId) => new Promise((resolve, reject) => {
  const conn = window.peer.connect(remoteId, {reliable: true});
  window.conn = conn;
  conn.on("data", (data) => { window.received.push(data); log("got " + data); });
  conn.on("error", (error) => reject(String(error)));
  conn.on("open", () => { log("open to " + remoteId); resolve(true); });
});
</script></body></html>
"""


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path in {"/", "/index.html"}:
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def page_origin() -> Iterator[str]:
    """A second loopback origin that serves the test page and the stock peerjs bundle."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(PEERJS_DIST)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _wait_for(page: Page, expression: str) -> None:
    page.wait_for_function(expression, timeout=TIMEOUT_MS)


@pytest.mark.browser
def test_stock_peerjs_clients_connect_through_our_broker(
    live_server: LiveServer, page_origin: str, browser_context: BrowserContextFactory
) -> None:
    alice = browser_context().new_page()
    bob = browser_context().new_page()
    for person in (alice, bob):
        person.goto(page_origin)
    bob_id = bob.evaluate("port => window.register(port)", live_server.port)
    alice_id = alice.evaluate("port => window.register(port)", live_server.port)
    assert len(bob_id) == 36 and len(alice_id) == 36 and bob_id != alice_id  # ids from GET /peerjs/peerjs/id

    assert alice.evaluate("id => window.dial(id)", bob_id) is True
    alice.evaluate("window.conn.send('hello from alice')")
    _wait_for(bob, "window.received.includes('hello from alice')")
    _wait_for(alice, "window.received.includes('echo:hello from alice')")

    _wait_for(bob, "window.conn && window.conn.open")
    bob.evaluate("window.conn.send('hello from bob')")
    _wait_for(alice, "window.received.includes('hello from bob')")
    assert bob.evaluate("window.conn.peer") == alice_id
    assert alice.evaluate("window.errors") == [] and bob.evaluate("window.errors") == []
    save_screenshot(bob, "broker-peerjs-bob")
    assert "got hello from alice" in bob.inner_text("#log")
