"""The broker's I/O adapter: HTTP endpoints, the WebSocket transport, the timer loop, CORS.

Spec: shared/reference/peerjs-protocol.md ("HTTP", "WebSocket"). All protocol decisions are in the sans-I/O
core (``server/broker.py``); this module only moves bytes and carries out its actions. Endpoints, with
``P`` the configured path (default ``/peerjs``):

* ``GET P/`` -- the server description JSON; ``GET P/{key}/id`` -- a fresh UUIDv4 (text/html);
  ``GET P/{key}/peers`` -- the ids as JSON with discovery on, else 401; all with peerjs-server's CORS.
* ``P/peerjs`` -- the WebSocket (``BrokerConfig.websocket_path``).

The WebSocket is spoken with ``server/websocket.py`` (RFC 6455 handshake and frame codec) on the socket the
WSGI server hands over: one parked greenlet and one file descriptor per client, no permessage-deflate
(peerjs-server's ``ws`` does not enable it either), whole-frame writes with a timeout. Under gevent the
reads come from one epoll shared by all WebSockets and served from gevent's loop (``_on_poll``).
docs/broker.md ("Server stack") says why flask-sock's per-socket reader thread and duplicated
descriptor do not fit 10,000 clients under this machine's descriptor limit.
"""

from __future__ import annotations

import _socket
import contextlib
import json
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl

import gevent
import gevent.event
import gevent.socket
from flask import Flask, Response, jsonify, request
from gevent import monkey

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
from server.websocket import (
    OP_PONG,
    CloseFrame,
    Event,
    FrameDecoder,
    FrameProtocolError,
    HandshakeError,
    Message,
    Ping,
    encode_close,
    encode_frame,
    encode_text,
    handshake_response,
)

log = logging.getLogger("parley.broker")

DEFAULT_MOUNT_PATH: Final = "/peerjs"
"""Where the broker lives when the config names no path (``/`` is the app's page)."""
SEND_TIMEOUT: Final = 10.0
"""Seconds one frame may take to leave; a slower destination counts as a failed send (LEAVE to sender)."""
CLOSE_TIMEOUT: Final = 10.0
"""Seconds to wait for the client's close reply before the socket is shut down."""
RECV_BYTES: Final = 16 * 1024
POLL_BATCH: Final = 1024
"""Most ready sockets taken from the shared epoll per loop wake-up; the rest come on the next one."""
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
    """One accepted WebSocket: the raw socket, its frame decoder, and its write state.

    Two ways to write. Under gevent (``nonblocking``, set by ``BrokerHub.serve_websocket``) a write never
    waits, since it may run inside gevent's event loop: what the socket buffer does not take is queued in
    ``backlog`` and a greenlet drains it, each frame within ``SEND_TIMEOUT``; the frames of one ``write`` go
    in one ``send``. Otherwise (threads, tests on plain sockets) a write is a blocking ``sendall``
    under ``lock``.
    """

    conn: int
    sock: _socket.socket  # under gevent: a plain non-blocking socket object on the same descriptor
    decoder: FrameDecoder
    lock: Any = field(default_factory=threading.Lock)  # looked up late: gevent's once patched
    closing_deadline: float | None = None
    close_sent: bool = False
    nonblocking: bool = False
    broken: bool = False  # after a framing error the rest of the stream is unreadable: drain until EOF
    failed: bool = False  # a queued frame could not be delivered: no more writes
    backlog: list[tuple[bytes, Send | None]] | None = None
    drainer: Any = None  # the greenlet draining ``backlog``
    done: Any = None  # gevent Event: reading has ended

    def write(self, frames: list[tuple[bytes, Send | None]]) -> bool:
        """Write whole frames, in order, or raise ``OSError``; False when some of them wait in ``backlog``.

        Non-blocking: one ``send`` for all of them; what it did not take is queued, the first frame from where
        it stopped, and while a backlog waits new frames go behind it. Each frame comes with the ``Send`` it
        carries out (None for the adapter's own frames), so that a failure can be answered.
        """
        if not self.nonblocking:
            with self.lock:
                for data, _action in frames:
                    self.sock.sendall(data)
            return True
        if self.failed:
            raise BrokenPipeError("an earlier frame could not be delivered")
        if self.backlog is not None:
            self.backlog += frames
            return False
        data = frames[0][0] if len(frames) == 1 else b"".join([frame for frame, _action in frames])
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return True
        rest: list[tuple[bytes, Send | None]] = []
        for frame, action in frames:  # the frames that did not leave, the first one from where it stopped
            if sent >= len(frame):
                sent -= len(frame)
            else:
                rest.append((frame[sent:], action))
                sent = 0
        self.backlog = rest
        return False

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
        self._cooperative = False
        self._poller: Any = None  # under gevent: one epoll holding every WebSocket (see _read_in_loop)
        self._poll_watcher: Any = None  # gevent's loop watcher on the epoll's own descriptor
        self._by_descriptor: dict[int, _Socket] = {}
        self._corked: dict[_Socket, list[tuple[bytes, Send | None]]] | None = None

    @property
    def socket_count(self) -> int:
        return len(self._sockets)

    def _call(self, method: Callable[..., list[Action]], *args: Any) -> list[Action]:
        if self._cooperative:
            # Greenlets switch only where they wait, and core calls never wait: no lock needed (and gevent's
            # loop, where reads are handled, must not wait on one).
            return method(*args, self.clock())
        with self._core_lock:
            return method(*args, self.clock())

    def _start_ticker(self) -> None:
        # Started on the first WebSocket, after the production server has patched threading.
        if self._ticker is None:
            self._cooperative = _cooperative()
            if self._cooperative:
                # gevent's patch removes select.epoll (its calls would block the loop); ours never waits.
                self._poller = monkey.get_original("select", "epoll")()
                self._poll_watcher = gevent.get_hub().loop.io(self._poller.fileno(), 1)
                self._poll_watcher.start(self._on_poll)
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
        pending.reverse()
        while pending:
            action = pending.pop()
            if type(action) is Send:
                answer = self._send(action)
                if answer:
                    pending += reversed(answer)
            elif type(action) is Close:
                entry = self._sockets.get(action.conn)  # type: ignore[call-overload]
                if entry is not None:
                    self._close(entry, action.code, action.reason)
            elif type(action) is Reject:
                log.debug("rejected on connection %s: %s (%s)", action.conn, action.reason, action.detail)

    def _send(self, action: Send) -> list[Action]:
        """One ``Send``; returns the core's answer when it failed (else nothing to do)."""
        entry = self._sockets.get(action.conn)  # type: ignore[call-overload]
        if entry is None:
            return self._call(self.broker.send_failed, action)
        if entry.close_sent:
            return []
        return self._write(entry, encode_text(action.frame), action)

    def _write_control(self, entry: _Socket, data: bytes) -> None:
        """Write a frame of the adapter's own (close, pong); a failure only shuts the socket."""
        self._write(entry, data, None)

    def _write(self, entry: _Socket, data: bytes, action: Send | None) -> list[Action]:
        """Write one frame on ``entry``, or hold it back while a read is corked (``_flush_corked``)."""
        corked = self._corked
        if corked is not None and entry.nonblocking:
            held = corked.get(entry)
            if held is None:
                corked[entry] = [(data, action)]
            else:
                held.append((data, action))
            return []
        return self._write_frames(entry, [(data, action)])

    def _write_frames(self, entry: _Socket, frames: list[tuple[bytes, Send | None]]) -> list[Action]:
        """``entry.write(frames)``, queued frames drained later; the core's answer if it failed."""
        try:
            if not entry.write(frames):
                self._drain_later(entry)
        except OSError as exc:
            return self._write_failed(entry, frames, exc)
        return []

    def _write_failed(
        self, entry: _Socket, frames: list[tuple[bytes, Send | None]], exc: OSError
    ) -> list[Action]:
        """``frames`` did not reach ``entry``'s client: the core's answer to the first relayed one.

        The core closes that socket and tells the sender its peer left; with no relayed frame among them the
        socket is only shut.
        """
        log.info("send to connection %s failed: %s", entry.conn, exc)
        failed = next((action for _data, action in frames if action is not None), None)
        if failed is None:
            entry.shutdown()
            return []
        return self._call(self.broker.send_failed, failed)

    def _drain_later(self, entry: _Socket) -> None:
        if entry.drainer is None:
            entry.drainer = gevent.spawn(self._drain, entry)

    def _drain(self, entry: _Socket) -> None:
        """Write out ``entry.backlog``, each frame within ``SEND_TIMEOUT``; the core answers a failure."""
        backlog = entry.backlog
        try:
            while backlog:
                data = backlog[0][0]
                try:
                    with gevent.Timeout(SEND_TIMEOUT, TimeoutError(f"send took over {SEND_TIMEOUT} s")):
                        view = memoryview(data)
                        while view:
                            gevent.socket.wait_write(entry.sock.fileno())
                            try:
                                view = view[entry.sock.send(view) :]
                            except BlockingIOError:
                                continue
                except OSError as exc:
                    entry.failed = True
                    answer = self._write_failed(entry, backlog, exc)
                    backlog.clear()
                    self.run(answer)
                    return
                backlog.pop(0)
        finally:
            entry.backlog = None
            entry.drainer = None

    def _close(self, entry: _Socket, code: int | None, reason: str) -> None:
        if entry.close_sent:
            return
        entry.close_sent = True
        entry.closing_deadline = self.clock() + CLOSE_TIMEOUT
        self._write_control(entry, encode_close(code, reason))

    def serve_websocket(self, sock: socket.socket, query: dict[str, str]) -> None:
        """Speak WebSocket on ``sock`` (the 101 answer already sent) until it closes."""
        self._start_ticker()
        # Small frames must leave at once (Nagle would hold them for the peer's delayed ACK); node's http
        # server sets the same option.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._core_lock:
            self._next_conn += 1
            conn = self._next_conn
        if self._cooperative:
            # gevent's socket methods are Python wrappers that may wait; the loop callback wants the plain C
            # calls, which raise BlockingIOError instead. Same descriptor (gevent made it non-blocking),
            # detached below so that gevent's socket stays the one that closes it.
            raw = _socket.socket(sock.family, sock.type, sock.proto, sock.fileno())
            raw.setblocking(False)
            entry = _Socket(conn, raw, FrameDecoder(MAX_FRAME_BYTES), nonblocking=True)
        else:
            entry = _Socket(conn, sock, FrameDecoder(MAX_FRAME_BYTES))
        self._sockets[conn] = entry
        try:
            self.run(self._call(self.broker.connect, conn, query))
            if self._cooperative:
                self._read_in_loop(entry)
            else:
                self._receive_loop(entry)
        finally:
            self._sockets.pop(conn, None)
            self.run(self._call(self.broker.disconnect, conn))
            entry.shutdown()
            if entry.sock is not sock:
                entry.sock.detach()

    def _read_in_loop(self, entry: _Socket) -> None:
        """Under gevent: read and relay from gevent's event loop, as node does, for all sockets at once.

        Every WebSocket is in one ``epoll`` (``_poller``); gevent's loop watches only that epoll's
        descriptor and calls ``_on_poll``, which takes every ready socket in one batch. No greenlet switch,
        no failed ``recv``, no per-socket loop callback per message; the request's greenlet only waits for
        the end. Writes never wait (``_Socket.write``).
        """
        entry.done = gevent.event.Event()
        descriptor = entry.sock.fileno()
        self._by_descriptor[descriptor] = entry
        self._poller.register(descriptor, select.EPOLLIN)
        try:
            entry.done.wait()
            if entry.drainer is not None:
                entry.drainer.join()  # what was queued for this client leaves before the socket is shut
        finally:
            self._stop_reading(entry)

    def _stop_reading(self, entry: _Socket) -> None:
        descriptor = entry.sock.fileno()
        if self._by_descriptor.get(descriptor) is entry:
            del self._by_descriptor[descriptor]
            with contextlib.suppress(OSError, ValueError):
                self._poller.unregister(descriptor)
        entry.done.set()

    def _on_poll(self) -> None:
        """The shared epoll is readable: serve each ready socket (level-triggered: unread bytes come back)."""
        try:
            ready = self._poller.poll(0, POLL_BATCH)
        except OSError:
            return
        by_descriptor = self._by_descriptor
        for descriptor, _events in ready:
            entry = by_descriptor.get(descriptor)
            if entry is None:
                continue
            try:
                try:
                    data = entry.sock.recv(RECV_BYTES)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data or not self._received(entry, data):
                    self._stop_reading(entry)
            except Exception:  # never let one socket's error reach the event loop
                log.exception("broker socket %s failed", entry.conn)
                self._stop_reading(entry)

    def _flush_corked(self) -> None:
        """Write what ``run`` held back in ``_corked``: all frames for one socket in one ``send``."""
        corked, self._corked = self._corked, None
        if not corked:
            return
        for entry, frames in corked.items():
            answer = self._write_frames(entry, frames)
            if answer:
                self.run(answer)

    def _receive_loop(self, entry: _Socket) -> None:
        while True:
            try:
                data = entry.sock.recv(RECV_BYTES)
            except OSError:
                return
            if not data or not self._received(entry, data):
                return

    def _received(self, entry: _Socket, data: bytes) -> bool:
        """Handle bytes from the client; False once the conversation is over (the client's close came)."""
        if entry.broken:
            return True
        try:
            events = entry.decoder.feed(data)
        except FrameProtocolError as exc:
            log.debug("framing error on connection %s: %s", entry.conn, exc)
            entry.broken = True
            self._close(entry, exc.code, str(exc))
            # The client's close reply cannot be found in what follows: end our side now (FIN after the
            # close frame) and read until the client closes too.
            with contextlib.suppress(OSError):
                if entry.backlog is None:
                    entry.sock.shutdown(socket.SHUT_WR)
            return True
        if len(events) > 1 and entry.nonblocking:
            # Frames that arrived together leave together: what they relay is held back (``_corked``) and
            # written when they are all handled, one ``send`` per destination, in order.
            self._corked = {}
            try:
                return self._handle_events(entry, events)
            finally:
                self._flush_corked()
        return self._handle_events(entry, events)

    def _handle_events(self, entry: _Socket, events: list[Event]) -> bool:
        for event in events:
            if type(event) is Message:
                if not entry.close_sent:
                    if self._cooperative:  # _call without its lock and its extra call
                        actions = self.broker.handle(entry.conn, event.data, self.clock())
                    else:
                        actions = self._call(self.broker.handle, entry.conn, event.data)
                    if len(actions) == 1 and type(actions[0]) is Send:  # the relay's case, without run's list
                        answer = self._send(actions[0])
                        if answer:
                            self.run(answer)
                    elif actions:
                        self.run(actions)
            elif type(event) is Ping:
                self._write_control(entry, encode_frame(OP_PONG, event.payload))
            elif type(event) is CloseFrame:
                if not entry.close_sent:
                    entry.close_sent = True
                    self._write_control(entry, encode_close(event.code))
                return False
        return True


def _query(query_string: str) -> dict[str, str]:
    # Object.fromEntries(searchParams): the last value of a repeated name wins.
    return dict(parse_qsl(query_string, keep_blank_values=True))


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


def origin_allowed(config: BrokerConfig, origin: str | None) -> bool:
    """Whether a WebSocket upgrade from a page at ``origin`` is accepted (``cors_origins``, docs/broker.md).

    Browsers always send ``Origin`` on a WebSocket upgrade, so a configured list keeps other sites' pages
    from using this broker; a client that sends none (not a browser: the headless peer) is not a page on
    another site, and is let in.
    """
    return origin is None or config.cors_origins is None or origin in config.cors_origins


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
        headers = {
            name[5:].replace("_", "-").lower(): str(value)
            for name, value in environ.items()
            if name.startswith("HTTP_")
        }
        if not origin_allowed(settings, headers.get("origin")):
            return Response("Origin not allowed", status=403, content_type="text/plain")
        try:
            answer = handshake_response(headers)
        except HandshakeError as exc:
            return Response(f"Bad WebSocket upgrade: {exc}", status=400, content_type="text/plain")
        sock = _raw_socket(environ)
        if sock is None:
            return Response("WebSocket needs gevent.pywsgi or werkzeug", status=500)
        sock.sendall(answer)
        hub.serve_websocket(sock, _query(environ.get("QUERY_STRING", "")))
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
