"""The broker's I/O adapter: HTTP endpoints, the WebSocket transport, the timer loop, CORS.

Spec: shared/reference/peerjs-protocol.md ("HTTP", "WebSocket"). All protocol decisions are in the sans-I/O
core (``server/broker.py``); this module only moves bytes and carries out its actions. Endpoints, with
``P`` the configured path (default ``/peerjs``):

* ``GET P/`` -- the server description JSON; ``GET P/{key}/id`` -- a fresh UUIDv4 (text/html);
  ``GET P/{key}/peers`` -- the ids as JSON with discovery on, else 401; all with peerjs-server's CORS.
* ``P/peerjs`` -- the WebSocket (``BrokerConfig.websocket_path``).

The WebSocket is spoken with wsproto (the protocol engine under flask-sock/simple-websocket) on the socket
the WSGI server hands over, in the request's own greenlet: one greenlet and one file descriptor per client,
no permessage-deflate (peerjs-server's ``ws`` does not enable it either), whole-frame writes with a
timeout. docs/broker.md ("Server stack") says why flask-sock's per-socket reader thread and duplicated
descriptor do not fit 10,000 clients under this machine's descriptor limit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import gevent
from flask import Flask, Response, jsonify, request
from gevent import monkey
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from server.broker import (
    MAX_FRAME_BYTES,
    REAPER_INTERVAL,
    Action,
    Broker,
    BrokerConfig,
    Close,
    Reject,
    Send,
)
from server.config import Config

log = logging.getLogger("parley.broker")

DEFAULT_MOUNT_PATH: Final = "/peerjs"
"""Where the broker lives when the config names no path (``/`` is the app's page)."""
SEND_TIMEOUT: Final = 10.0
"""Seconds one frame may take to leave; a slower destination counts as a failed send (LEAVE to sender)."""
CLOSE_TIMEOUT: Final = 10.0
"""Seconds to wait for the client's close reply before the socket is shut down."""
RECV_BYTES: Final = 16 * 1024
SERVER_INFO: Final = {
    "name": "PeerJS Server",
    "description": "A server side element to broker connections between PeerJS clients.",
    "website": "https://peerjs.com/",
}
CORS_ALLOW_METHODS: Final = "GET,HEAD,PUT,PATCH,POST,DELETE"  # the cors package's default, as upstream


def _cooperative() -> bool:
    """True when gevent has patched the socket module (the production server)."""
    return bool(monkey.is_module_patched("socket"))


@dataclass(eq=False)
class _Socket:
    """One accepted WebSocket: the raw socket, its wsproto state, a write lock, and whether it is closing."""

    conn: int
    sock: socket.socket
    ws: WSConnection
    lock: Any = field(default_factory=threading.Lock)  # looked up late: gevent's once patched
    closing_deadline: float | None = None

    def write(self, event: Any, timeout: float | None) -> None:
        """Frame ``event`` and write all of it, or raise ``OSError`` / ``LocalProtocolError``."""
        with self.lock:
            data = self.ws.send(event)
            if not data:
                return
            if timeout is None:
                self.sock.sendall(data)
                return
            with gevent.Timeout(timeout, TimeoutError(f"send took over {timeout} s")):
                self.sock.sendall(data)

    def shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class BrokerHub:
    """The broker core plus the live sockets, shared by every request of one app."""

    def __init__(self, config: BrokerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.broker = Broker(config)
        self.config = config
        self.clock = clock
        self._core_lock = threading.Lock()  # held only around core calls, which never block or yield
        self._sockets: dict[int, _Socket] = {}
        self._next_conn = 0
        self._ticker: threading.Thread | None = None
        self._send_timeout: float | None = None

    @property
    def socket_count(self) -> int:
        return len(self._sockets)

    def _call(self, method: Callable[..., list[Action]], *args: Any) -> list[Action]:
        with self._core_lock:
            return method(*args, self.clock())

    def _start_ticker(self) -> None:
        # Started on the first WebSocket, after the production server has patched threading.
        if self._ticker is None:
            self._send_timeout = SEND_TIMEOUT if _cooperative() else None
            self._ticker = threading.Thread(target=self._tick_forever, name="broker-ticker", daemon=True)
            self._ticker.start()

    def _tick_forever(self) -> None:
        while True:
            time.sleep(REAPER_INTERVAL)
            try:
                self.run(self._call(self.broker.tick))
                now = self.clock()
                for entry in list(self._sockets.values()):
                    if entry.closing_deadline is not None and now >= entry.closing_deadline:
                        entry.shutdown()
            except Exception:  # the loop must outlive any one bad action
                log.exception("broker timer failed")

    def run(self, actions: Iterable[Action]) -> None:
        """Carry out the core's actions in order; a failed send is reported back to the core."""
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            if isinstance(action, Send):
                entry = self._sockets.get(action.conn)  # type: ignore[call-overload]
                if entry is None or entry.closing_deadline is not None:
                    pending[:0] = self._call(self.broker.send_failed, action) if entry is None else []
                    continue
                try:
                    entry.write(TextMessage(data=action.frame), self._send_timeout)
                except (OSError, LocalProtocolError) as exc:
                    log.info("send to connection %s failed: %s", action.conn, exc)
                    pending[:0] = self._call(self.broker.send_failed, action)
            elif isinstance(action, Close):
                self._close(action)
            elif isinstance(action, Reject):
                log.debug("rejected on connection %s: %s (%s)", action.conn, action.reason, action.detail)

    def _close(self, action: Close) -> None:
        entry = self._sockets.get(action.conn)  # type: ignore[call-overload]
        if entry is None or entry.closing_deadline is not None:
            return
        entry.closing_deadline = self.clock() + CLOSE_TIMEOUT
        code = CloseReason(action.code) if action.code is not None else CloseReason.NO_STATUS_RCVD
        try:
            entry.write(CloseConnection(code=code, reason=action.reason or None), self._send_timeout)
        except (OSError, LocalProtocolError):
            entry.shutdown()

    def serve_websocket(self, sock: socket.socket, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        """Speak WebSocket on ``sock`` (an HTTP upgrade request already parsed) until it closes."""
        self._start_ticker()
        ws = WSConnection(ConnectionType.SERVER)
        try:
            ws.initiate_upgrade_connection(headers, path)
            upgrade = next(ws.events())
        except (RemoteProtocolError, StopIteration) as exc:
            sock.sendall(ws.send(RejectConnection(status_code=400)) if ws.state.name == "CONNECTING" else b"")
            log.info("bad WebSocket upgrade: %s", exc)
            return
        assert isinstance(upgrade, Request)
        # Small frames must leave at once (Nagle would hold them for the peer's delayed ACK); node's http
        # server sets the same option.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(ws.send(AcceptConnection()))
        with self._core_lock:
            self._next_conn += 1
            conn = self._next_conn
        entry = _Socket(conn, sock, ws)
        self._sockets[conn] = entry
        try:
            self.run(self._call(self.broker.connect, conn, _query_from_path(path)))
            self._receive_loop(entry)
        finally:
            self._sockets.pop(conn, None)
            self.run(self._call(self.broker.disconnect, conn))
            entry.shutdown()

    def _receive_loop(self, entry: _Socket) -> None:
        parts: list[Any] = []
        size = 0
        while True:
            try:
                data = entry.sock.recv(RECV_BYTES)
            except OSError:
                return
            entry.ws.receive_data(data or None)
            for event in entry.ws.events():
                if isinstance(event, (TextMessage, BytesMessage)):
                    if size <= MAX_FRAME_BYTES:  # past the limit keep only enough to prove it
                        parts.append(event.data)
                        size += len(event.data)
                    if not event.message_finished:
                        continue
                    frame: str | bytes = "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)
                    parts, size = [], 0
                    if entry.closing_deadline is None:
                        self.run(self._call(self.broker.handle, entry.conn, frame))
                elif isinstance(event, Ping):
                    self._write_quietly(entry, event.response())
                elif isinstance(event, CloseConnection):
                    if entry.ws.state.name == "REMOTE_CLOSING":
                        self._write_quietly(entry, event.response())
                    return
            if not data:
                return

    def _write_quietly(self, entry: _Socket, event: Any) -> None:
        try:
            entry.write(event, self._send_timeout)
        except (OSError, LocalProtocolError):
            entry.shutdown()


def _query_from_path(path: str) -> dict[str, str]:
    # Object.fromEntries(searchParams): the last value of a repeated name wins.
    return dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))


def _raw_socket(environ: dict[str, Any]) -> socket.socket | None:
    """The client socket under the WSGI request: gevent.pywsgi or werkzeug's development server."""
    if "werkzeug.socket" in environ:
        return environ["werkzeug.socket"]
    stream = environ.get("wsgi.input")
    stream = getattr(stream, "rfile", stream)
    raw = getattr(stream, "raw", None)
    return getattr(raw, "_sock", None)


class _Hijacked(Response):
    """The response after a WebSocket session: nothing more goes on the socket."""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if "werkzeug.socket" in environ:
            return super().__call__(environ, start_response)
        return []


def _cors(config: BrokerConfig, response: Response) -> Response:
    if request.method == "OPTIONS":
        response = Response(status=204)  # a preflight answer has no body and no content type
        response.headers.pop("Content-Type", None)
    origin = request.headers.get("Origin")
    response.headers.add("Vary", "Origin")
    if origin and (config.cors_origins is None or origin in config.cors_origins):
        response.headers["Access-Control-Allow-Origin"] = origin
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
        wanted = request.headers.get("Access-Control-Request-Headers")
        if wanted:
            response.headers["Access-Control-Allow-Headers"] = wanted
            response.headers.add("Vary", "Access-Control-Request-Headers")
    return response


def broker_config(config: Config) -> BrokerConfig:
    """The broker settings of the app config, with the app's default mount path."""
    settings = dict(config.broker)
    settings.setdefault("path", DEFAULT_MOUNT_PATH)
    return BrokerConfig.from_mapping(settings)


def register(app: Flask, config: Config) -> None:
    """Mount the broker's HTTP endpoints and WebSocket on ``app`` (called by ``create_app``)."""
    settings = broker_config(config)
    hub = BrokerHub(settings)
    app.extensions["parley.broker"] = hub
    base = settings.path.rstrip("/")

    def info() -> Response:
        body = json.dumps(SERVER_INFO, separators=(",", ":"))  # key order as upstream; jsonify sorts
        return _cors(settings, Response(body, content_type="application/json; charset=utf-8"))

    def new_id(key: str) -> Response:
        with hub._core_lock:
            client_id = hub.broker.new_client_id(os.urandom)
        return _cors(settings, Response(client_id, content_type="text/html; charset=utf-8"))

    def peers(key: str) -> Response:
        if not settings.allow_discovery:
            return _cors(
                settings, Response("Unauthorized", status=401, content_type="text/plain; charset=utf-8")
            )
        with hub._core_lock:
            ids = hub.broker.peer_ids()
        return _cors(settings, jsonify(ids))

    def websocket() -> Response:
        environ = request.environ
        if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            return _cors(settings, Response("Not Found", status=404, content_type="text/plain"))
        sock = _raw_socket(environ)
        if sock is None:
            return Response("WebSocket needs gevent.pywsgi or werkzeug", status=500)
        headers = [
            (name[5:].replace("_", "-").encode("latin-1"), str(value).encode("latin-1"))
            for name, value in environ.items()
            if name.startswith("HTTP_")
        ]
        query = environ.get("QUERY_STRING", "")
        target = request.path + (f"?{query}" if query else "")
        hub.serve_websocket(sock, target, headers)
        return _Hijacked()

    methods = ["GET", "OPTIONS"]
    app.add_url_rule(f"{base}/", "broker_info", info, methods=methods, provide_automatic_options=False)
    if base:
        app.add_url_rule(base, "broker_info_bare", info, methods=methods, provide_automatic_options=False)
    app.add_url_rule(
        f"{base}/<key>/id", "broker_id", new_id, methods=methods, provide_automatic_options=False
    )
    app.add_url_rule(
        f"{base}/<key>/peers", "broker_peers", peers, methods=methods, provide_automatic_options=False
    )
    # websocket=True: werkzeug's router matches Upgrade requests only to rules marked so.
    app.add_url_rule(settings.websocket_path, "broker_websocket", websocket, methods=["GET"], websocket=True)
