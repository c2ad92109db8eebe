"""PeerJS-compatible signaling broker core. Sans-I/O: it never touches a socket, a clock or a random source.

Spec: shared/reference/peerjs-protocol.md (facts read from peerjs-server 1.0.2). The adapter
(``server/sockets.py``) reports events -- a socket opened with its query parameters, a text frame came, a
socket closed, a send failed, time passed -- and carries out the returned actions: ``Send`` a frame,
``Close`` a socket, log a ``Reject``. Timers (queue expiry, dead-connection reaper) run from ``tick(now)``;
``now`` is in seconds on any monotonic clock.

Rules that peerjs-server 1.0.2 implements are reproduced exactly (connection checks in order, OPEN only for
a new registration, same-token rebind without OPEN, queue replay after OPEN, ``src`` overwritten with the
sender's id, one EXPIRE per distinct pair, LEAVE on a failed relay). What it leaves unbounded is bounded here
by the named limits below (docs/broker.md, "Limits"); input that breaks a limit or is malformed never
changes the registry and yields a ``Reject`` that says why.
"""

from __future__ import annotations

import enum
import hmac
import json
import math
import uuid
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from pyfront.errors import DecodeError, LimitError

# --- Upstream defaults (peerjs-server 1.0.2 config.ts) ----------------------------------------------
DEFAULT_KEY: Final = "peerjs"
DEFAULT_PATH: Final = "/"
DEFAULT_EXPIRE_TIMEOUT: Final = 5.0  # seconds a queue may wait unread (upstream expire_timeout 5000 ms)
DEFAULT_ALIVE_TIMEOUT: Final = 90.0  # seconds without HEARTBEAT before the reaper closes (alive_timeout)
DEFAULT_CONCURRENT_LIMIT: Final = 5000
REAPER_INTERVAL: Final = 0.3  # upstream CheckBrokenConnections DEFAULT_CHECK_INTERVAL, 300 ms
CLEANUP_INTERVAL: Final = 1.0  # upstream cleanup_out_msgs, 1000 ms

# --- Our limits (upstream has none) ---------------------------------------------------------------
MAX_FRAME_BYTES: Final = 64 * 1024
"""A frame (UTF-8 bytes) above this closes the socket with 1009. PeerJS offers are a few KiB."""
MAX_PARAM_LENGTH: Final = 256
"""Longest id, token or key accepted in the WebSocket query; PeerJS uses 36-char UUIDs and ~11-char tokens."""
RATE_LIMIT_PER_SECOND: Final = 100.0
"""Sustained frames per second per connection (token bucket refill); PeerJS sends ~1 HEARTBEAT per 5 s."""
RATE_LIMIT_BURST: Final = 400
"""Frames a connection may send at once (bucket size): an offer plus its ICE candidates to many peers."""
MAX_QUEUE_MESSAGES: Final = 100
"""Messages held for one offline destination; more are dropped."""
MAX_QUEUED_BYTES_TOTAL: Final = 32 * 1024 * 1024
"""Bytes held in all queues together; messages beyond are dropped, so memory stays bounded."""

CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_MESSAGE_TOO_BIG: Final = 1009

# --- Wire strings (peerjs-server enums.ts) --------------------------------------------------------
ERR_INVALID_WS_PARAMETERS: Final = "No id, token, or key supplied to websocket server"
ERR_INVALID_KEY: Final = "Invalid key provided"
ERR_CONNECTION_LIMIT: Final = "Server has reached its concurrent user limit"
ERR_PARAM_TOO_LONG: Final = f"id, token or key longer than {MAX_PARAM_LENGTH} characters"
MSG_ID_TAKEN: Final = "ID is taken"


class MessageType(enum.StrEnum):
    """Frame types of the PeerJS server protocol."""

    OPEN = "OPEN"
    LEAVE = "LEAVE"
    CANDIDATE = "CANDIDATE"
    OFFER = "OFFER"
    ANSWER = "ANSWER"
    EXPIRE = "EXPIRE"
    HEARTBEAT = "HEARTBEAT"
    ID_TAKEN = "ID-TAKEN"
    ERROR = "ERROR"


RELAYED_TYPES: Final = frozenset(
    {MessageType.OFFER, MessageType.ANSWER, MessageType.CANDIDATE, MessageType.LEAVE, MessageType.EXPIRE}
)
_RELAYED: Final[dict[str, MessageType]] = {kind.value: kind for kind in RELAYED_TYPES}
_HEARTBEAT: Final = MessageType.HEARTBEAT.value  # a plain str compares faster than the enum member
NOT_QUEUED_TYPES: Final = frozenset({MessageType.LEAVE, MessageType.EXPIRE})


class RejectReason(enum.StrEnum):
    """Why an input was refused. Only the adapter's log sees these; the wire behaviour is in each action."""

    MISSING_PARAMS = "missing-params"
    PARAM_TOO_LONG = "param-too-long"
    INVALID_KEY = "invalid-key"
    ID_TAKEN = "id-taken"
    CONCURRENT_LIMIT = "concurrent-limit"
    UNKNOWN_CONNECTION = "unknown-connection"
    FRAME_TOO_LARGE = "frame-too-large"
    RATE_LIMITED = "rate-limited"
    INVALID_JSON = "invalid-json"
    NOT_AN_OBJECT = "not-an-object"
    BAD_FIELD = "bad-field"
    UNKNOWN_TYPE = "unknown-type"
    NO_DESTINATION = "no-destination"
    QUEUE_FULL = "queue-full"


class FrameError(DecodeError):
    """A frame that is not a PeerJS message: invalid JSON, not an object, a field of the wrong type."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class FrameTooLargeError(LimitError):
    """A frame longer than ``MAX_FRAME_BYTES``."""


Conn = Hashable
"""The adapter's handle for one socket (any hashable; the core only compares and stores it)."""


# Relay and Send are built for every relayed message: plain slotted dataclasses, because a frozen one's
# __init__ (object.__setattr__ per field) costs three times as much. Nothing changes them after creation.
@dataclass(slots=True)
class Relay:
    """Who a relayed frame is from and to, so a failed send can be answered with LEAVE."""

    src: str
    dst: str


@dataclass(slots=True)
class Send:
    """Send ``frame`` (JSON text) on ``conn``. If it fails, report it with ``Broker.send_failed``."""

    conn: Conn
    frame: str
    relay: Relay | None = None


@dataclass(frozen=True, slots=True)
class Close:
    """Close ``conn``. ``code`` None is a plain close (no status), as peerjs-server's ``socket.close()``."""

    conn: Conn
    code: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Reject:
    """An input was refused; nothing goes on the wire for this action (log it)."""

    conn: Conn | None
    reason: RejectReason
    detail: str


Action = Send | Close | Reject

_ABSENT: Final[Any] = object()


@dataclass(frozen=True)
class BrokerConfig:
    """Broker settings (peerjs-server's options, in seconds), plus our limits.

    ``cors_origins`` None reflects any Origin (upstream ``origin: true``); a tuple echoes only those.
    """

    key: str = DEFAULT_KEY
    path: str = DEFAULT_PATH
    expire_timeout: float = DEFAULT_EXPIRE_TIMEOUT
    alive_timeout: float = DEFAULT_ALIVE_TIMEOUT
    concurrent_limit: int = DEFAULT_CONCURRENT_LIMIT
    allow_discovery: bool = False
    cors_origins: tuple[str, ...] | None = None
    rate_per_second: float = RATE_LIMIT_PER_SECOND
    rate_burst: int = RATE_LIMIT_BURST
    max_queue_messages: int = MAX_QUEUE_MESSAGES
    max_queued_bytes_total: int = MAX_QUEUED_BYTES_TOTAL

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> BrokerConfig:
        """Build from the app config's ``broker`` mapping; timeouts there are in milliseconds (as upstream).

        Unknown keys raise ``ValueError`` so a typo does not silently keep a default.
        """
        known = {
            "key",
            "path",
            "expire_timeout",
            "alive_timeout",
            "concurrent_limit",
            "allow_discovery",
            "cors_origins",
            "rate_per_second",
            "rate_burst",
            "max_queue_messages",
            "max_queued_bytes_total",
        }
        unknown = set(settings) - known
        if unknown:
            raise ValueError(f"unknown broker settings: {sorted(unknown)}; expected some of {sorted(known)}")
        values: dict[str, Any] = dict(settings)
        for name in ("expire_timeout", "alive_timeout"):
            if name in values:
                values[name] = float(values[name]) / 1000.0
        if values.get("cors_origins") is not None:
            values["cors_origins"] = tuple(values["cors_origins"])
        return cls(**values)

    @property
    def websocket_path(self) -> str:
        """``path`` + ``/`` if missing + ``peerjs`` (peerjs-server webSocketServer path building)."""
        return f"{self.path}{'' if self.path.endswith('/') else '/'}peerjs"


@dataclass(slots=True)
class _Client:
    id: str
    token: str
    conn: Conn
    last_ping: float


@dataclass(slots=True)
class _Connection:
    client_id: str | None
    tokens: float
    refilled_at: float


@dataclass(slots=True)
class _Queued:
    frame: str
    src: str
    dst: str
    size: int


@dataclass(slots=True)
class _Queue:
    last_read_at: float
    messages: deque[_Queued] = field(default_factory=deque)


def _frame_size(frame: str | bytes) -> int:
    if isinstance(frame, bytes):
        return len(frame)
    # Characters are at most 4 UTF-8 bytes: skip the encode when the bound already decides.
    if len(frame) * 4 <= MAX_FRAME_BYTES:
        return len(frame)
    return len(frame.encode("utf-8", "surrogatepass"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_INTEGRAL_BELOW: Final = 1e21
"""Below this magnitude JavaScript prints an integral number without an exponent."""


def _parse_float(text: str) -> float | int:
    # JavaScript has one number type: 1.0 parses and prints back as 1. Keep integral floats integral so the
    # re-serialised frame is the one JSON.stringify would send.
    value = float(text)
    if value.is_integer() and math.isfinite(value) and abs(value) < _INTEGRAL_BELOW:
        return int(value)
    return value


# One encoder and one decoder for the process: building them per call costs more than the work itself.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ASCII_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float)


def _raw_float(text: str) -> int | msgspec.Raw:
    # The fast path's float literal: integral ones as ints (as _parse_float), the rest kept as the exact text
    # the stdlib encoder would print for them, so the relayed frame is byte for byte the slow path's.
    value = float(text)
    if -_INTEGRAL_BELOW < value < _INTEGRAL_BELOW:  # finite, and as _parse_float sees it
        if value.is_integer():
            return int(value)
        return msgspec.Raw(float.__repr__(value).encode("ascii"))  # as the stdlib encoder's floatstr
    return msgspec.Raw(_ENCODER.encode(_parse_float(text)).encode("ascii"))  # huge, or "Infinity"


# The relay's fast path: msgspec's compiled JSON codec. It accepts exactly what the stdlib decoder accepts
# and prints what the stdlib encoder prints (tests/unit/test_broker.py checks both over edge cases and every
# BMP character); anything it refuses (a lone surrogate escape, say) goes the stdlib way, which decides.
_FAST_DECODER: Final = msgspec.json.Decoder(float_hook=_raw_float)
_FAST_ENCODER: Final = msgspec.json.Encoder()


class _FastCodecRefusedError(Exception):
    """The fast codec cannot print this message (a lone surrogate in the sender's id, say): ask the stdlib."""


def _encode_fast(message: Mapping[str, Any]) -> str:
    """``encode``'s text by msgspec, for a message from ``_parse_fast``; else ``_FastCodecRefusedError``."""
    try:
        return _FAST_ENCODER.encode(message).decode("utf-8")
    except (TypeError, ValueError):
        raise _FastCodecRefusedError from None


def encode(message: Mapping[str, Any]) -> str:
    """Serialise like ``JSON.stringify``: compact, key order kept, always encodable as UTF-8."""
    text = _ENCODER.encode(message)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate escape ("\\ud800") parses to an unencodable str; JSON.stringify escapes it.
        text = _ASCII_ENCODER.encode(message)
    return text


def _parse_fast(frame: str | bytes) -> dict[str, Any] | None:
    """``parse_frame``'s answer by the fast codec, or None when only the stdlib path can give it.

    Non-integral floats come back as ``msgspec.Raw``; such a dict is only for ``_FAST_ENCODER``. None also
    when ``type`` or ``dst`` is not a string or null, so the Reject that follows names the stdlib type.
    """
    if len(frame) * 4 > MAX_FRAME_BYTES and _frame_size(frame) > MAX_FRAME_BYTES:
        return None
    try:
        value = _FAST_DECODER.decode(frame)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    if type(value) is not dict:
        return None
    kind = value.get("type")
    dst = value.get("dst")
    if type(kind) is not str or (dst is not None and type(dst) is not str):
        return None
    return value


def parse_frame(frame: str | bytes) -> dict[str, Any]:
    """Decode one inbound frame into a JSON object, or raise ``FrameTooLargeError`` / ``FrameError``."""
    size = _frame_size(frame)
    if size > MAX_FRAME_BYTES:
        raise FrameTooLargeError(f"frame of {size} bytes, limit {MAX_FRAME_BYTES}")
    if isinstance(frame, bytes):
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FrameError(RejectReason.INVALID_JSON, f"frame is not UTF-8: {exc.reason}") from None
    try:
        value = _DECODER.decode(frame)
    except (ValueError, RecursionError) as exc:
        raise FrameError(RejectReason.INVALID_JSON, f"frame is not JSON: {str(exc)[:80]}") from None
    if not isinstance(value, dict):
        raise FrameError(RejectReason.NOT_AN_OBJECT, f"expected a JSON object, got {type(value).__name__}")
    return value


def _forwarded(kind: str, sender_id: str, message: Mapping[str, Any]) -> dict[str, Any]:
    # Forward exactly {type, src, dst, payload} in that order; src is always the sender (no spoofing).
    forwarded: dict[str, Any] = {"type": kind, "src": sender_id}
    dst = message.get("dst", _ABSENT)
    if dst is not _ABSENT:
        forwarded["dst"] = dst
    payload = message.get("payload", _ABSENT)
    if payload is not _ABSENT:
        forwarded["payload"] = payload
    return forwarded


class Broker:
    """The registry, message queues and timers of one PeerJS realm.

    Every method takes the event and ``now`` and returns the actions to carry out, in order.
    """

    def __init__(self, config: BrokerConfig | None = None) -> None:
        self.config = config or BrokerConfig()
        self._clients: dict[str, _Client] = {}
        self._connections: dict[Conn, _Connection] = {}
        self._queues: dict[str, _Queue] = {}
        self._queued_bytes = 0
        self._last_cleanup: float | None = None
        self._rate_burst = float(self.config.rate_burst)
        self._rate_per_second = float(self.config.rate_per_second)

    # --- Inspection (HTTP endpoints, tests, metrics) --------------------------------------------------

    def peer_ids(self) -> list[str]:
        """Ids of registered clients, in registration order (``/peers`` with discovery on)."""
        return list(self._clients)

    def queued_ids(self) -> list[str]:
        """Destinations that have queued messages."""
        return list(self._queues)

    def queued_messages(self, client_id: str) -> list[str]:
        """The frames waiting for ``client_id``, oldest first."""
        queue = self._queues.get(client_id)
        return [] if queue is None else [item.frame for item in queue.messages]

    @property
    def connection_count(self) -> int:
        """Sockets the core knows of (registered or rebound-over ones)."""
        return len(self._connections)

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def last_ping(self, client_id: str) -> float | None:
        client = self._clients.get(client_id)
        return None if client is None else client.last_ping

    def new_client_id(self, random_bytes: Callable[[int], bytes]) -> str:
        """A fresh UUIDv4 (36 chars) not in use (``GET {path}/{key}/id``)."""
        while True:
            candidate = str(uuid.UUID(bytes=random_bytes(16), version=4))
            if candidate not in self._clients:
                return candidate

    # --- Events ----------------------------------------------------------------------------------------

    def connect(self, conn: Conn, query: Mapping[str, str], now: float) -> list[Action]:
        """A WebSocket opened with query parameters ``query`` (``id``, ``token``, ``key``)."""
        if conn in self._connections:
            raise ValueError(f"connection {conn!r} already connected")
        client_id = query.get("id") or ""
        token = query.get("token") or ""
        key = query.get("key") or ""
        if not client_id or not token or not key:
            return self._error_and_close(conn, RejectReason.MISSING_PARAMS, ERR_INVALID_WS_PARAMETERS)
        if max(len(client_id), len(token), len(key)) > MAX_PARAM_LENGTH:
            return self._error_and_close(conn, RejectReason.PARAM_TOO_LONG, ERR_PARAM_TOO_LONG)
        if not hmac.compare_digest(key.encode(), self.config.key.encode()):
            return self._error_and_close(conn, RejectReason.INVALID_KEY, ERR_INVALID_KEY)
        client = self._clients.get(client_id)
        if client is not None:
            if not hmac.compare_digest(token.encode(), client.token.encode()):
                return [
                    Send(conn, encode({"type": MessageType.ID_TAKEN, "payload": {"msg": MSG_ID_TAKEN}})),
                    Close(conn),
                    Reject(conn, RejectReason.ID_TAKEN, f"id {client_id!r} is held with another token"),
                ]
            # Same token: this socket replaces the old one, no OPEN; the old one stays open, its close
            # is ignored (peerjs-server _configureWS).
            client.conn = conn
            self._connections[conn] = _Connection(client_id, float(self.config.rate_burst), now)
            return self._replay_queue(client)
        if len(self._clients) >= self.config.concurrent_limit:
            return self._error_and_close(conn, RejectReason.CONCURRENT_LIMIT, ERR_CONNECTION_LIMIT)
        client = _Client(client_id, token, conn, now)
        self._clients[client_id] = client
        self._connections[conn] = _Connection(client_id, float(self.config.rate_burst), now)
        return [Send(conn, encode({"type": MessageType.OPEN})), *self._replay_queue(client)]

    def handle(self, conn: Conn, frame: str | bytes, now: float) -> list[Action]:
        """A frame arrived on ``conn``."""
        connection = self._connections.get(conn)
        if connection is None or connection.client_id is None:
            return [Reject(conn, RejectReason.UNKNOWN_CONNECTION, "frame on a socket that is not registered")]
        if not self._take_token(connection, now):
            return [
                Close(conn, CLOSE_POLICY_VIOLATION, "rate limit exceeded"),
                Reject(
                    conn,
                    RejectReason.RATE_LIMITED,
                    f"more than {self.config.rate_burst} frames at once or "
                    f"{self.config.rate_per_second:g} per second sustained",
                ),
            ]
        message = _parse_fast(frame)
        if message is not None:
            try:
                return self._route(connection.client_id, conn, message, now, _encode_fast)
            except _FastCodecRefusedError:  # raised before any state changed
                pass
        return self._handle_slowly(connection.client_id, conn, frame, now)

    def _handle_slowly(self, sender_id: str, conn: Conn, frame: str | bytes, now: float) -> list[Action]:
        """``handle`` by the stdlib codec: every refusal, and whatever the fast codec could not take."""
        try:
            message = parse_frame(frame)
        except FrameTooLargeError as exc:
            return [
                Close(conn, CLOSE_MESSAGE_TOO_BIG, "frame too large"),
                Reject(conn, RejectReason.FRAME_TOO_LARGE, str(exc)),
            ]
        except FrameError as exc:
            return [Reject(conn, exc.reason, str(exc))]
        return self._route(sender_id, conn, message, now, encode)

    def _route(
        self,
        sender_id: str,
        conn: Conn,
        message: dict[str, Any],
        now: float,
        serialise: Callable[[Mapping[str, Any]], str],
    ) -> list[Action]:
        """Answer one parsed frame: a HEARTBEAT, a message to relay, or a Reject that says why not.

        ``message`` comes from the codec whose ``serialise`` prints the forwarded frame: the fast one
        (``_parse_fast``, ``_encode_fast``) or the stdlib one (``parse_frame``, ``encode``).
        """
        kind = message.get("type")
        if type(kind) is not str:
            return [
                Reject(conn, RejectReason.BAD_FIELD, f"'type' must be a string, got {type(kind).__name__}")
            ]
        if kind == _HEARTBEAT:
            sender = self._clients.get(sender_id)
            if sender is not None:
                sender.last_ping = now
            return []
        relayed = _RELAYED.get(kind)
        if relayed is None:
            return [Reject(conn, RejectReason.UNKNOWN_TYPE, f"type {kind[:40]!r} is not relayed")]
        dst = message.get("dst")
        if dst is not None and type(dst) is not str:
            return [Reject(conn, RejectReason.BAD_FIELD, f"'dst' must be a string, got {type(dst).__name__}")]
        frame = serialise(_forwarded(kind, sender_id, message))
        target = dst or ""
        destination = self._clients.get(target) if target else None
        if destination is not None:  # the relay's common case, without a call
            return [Send(destination.conn, frame, Relay(sender_id, target))]
        return self._deliver(relayed, sender_id, target, frame, origin=conn, now=now)

    def disconnect(self, conn: Conn, now: float) -> list[Action]:
        """``conn`` closed. The client goes only if this was its current socket; its queue stays."""
        connection = self._connections.pop(conn, None)
        if connection is None or connection.client_id is None:
            return []
        client = self._clients.get(connection.client_id)
        if client is not None and client.conn == conn:
            del self._clients[client.id]
        return []

    def send_failed(self, failed: Send, now: float) -> list[Action]:
        """A ``Send`` could not be delivered: close that socket and tell the sender its peer left."""
        actions: list[Action] = [Close(failed.conn)]
        if failed.relay is not None:
            relay = failed.relay
            leave = encode({"type": MessageType.LEAVE, "src": relay.dst, "dst": relay.src})
            actions += self._deliver(MessageType.LEAVE, relay.dst, relay.src, leave, origin=None, now=now)
        return actions

    def tick(self, now: float) -> list[Action]:
        """Run the timers: dead-connection reaper, then (every ``CLEANUP_INTERVAL``) queue expiry."""
        actions = self._reap(now)
        if self._last_cleanup is None or now - self._last_cleanup >= CLEANUP_INTERVAL:
            self._last_cleanup = now
            actions += self._expire_queues(now)
        return actions

    # --- Internals ---------------------------------------------------------------------------------------

    def _error_and_close(self, conn: Conn, reason: RejectReason, msg: str) -> list[Action]:
        return [
            Send(conn, encode({"type": MessageType.ERROR, "payload": {"msg": msg}})),
            Close(conn),
            Reject(conn, reason, msg),
        ]

    def _take_token(self, connection: _Connection, now: float) -> bool:
        elapsed = now - connection.refilled_at
        connection.refilled_at = now
        tokens = connection.tokens
        if elapsed > 0.0:
            tokens += elapsed * self._rate_per_second
            tokens = min(tokens, self._rate_burst)
        if tokens < 1.0:
            connection.tokens = tokens
            return False
        connection.tokens = tokens - 1.0
        return True

    def _deliver(
        self, kind: MessageType, src: str, dst: str, frame: str, *, origin: Conn | None, now: float
    ) -> list[Action]:
        """Send ``frame``, a ``kind`` message from ``src``, to ``dst``; else queue it, drop it or unregister.

        What happens without a connected ``dst`` is upstream's rule. ``origin`` is the socket the message
        came on, None for the broker's own LEAVE and EXPIRE.
        """
        destination = self._clients.get(dst) if dst else None
        if destination is not None:
            return [Send(destination.conn, frame, Relay(src, dst))]
        if kind in NOT_QUEUED_TYPES or not dst:
            if kind is MessageType.LEAVE and not dst:
                sender = self._clients.get(src)
                if sender is not None:
                    del self._clients[src]
                return []
            if not dst and origin is not None:
                return [Reject(origin, RejectReason.NO_DESTINATION, f"{kind} without 'dst' dropped")]
            return []
        return self._enqueue(dst, _Queued(frame, src, dst, len(frame)), origin=origin, now=now)

    def _enqueue(self, dst: str, item: _Queued, *, origin: Conn | None, now: float) -> list[Action]:
        queue = self._queues.get(dst)
        held = 0 if queue is None else len(queue.messages)
        if held >= self.config.max_queue_messages:
            return [Reject(origin, RejectReason.QUEUE_FULL, f"{held} messages already held for {dst[:40]!r}")]
        if self._queued_bytes + item.size > self.config.max_queued_bytes_total:
            return [
                Reject(
                    origin,
                    RejectReason.QUEUE_FULL,
                    f"queues hold {self._queued_bytes} bytes, limit {self.config.max_queued_bytes_total}",
                )
            ]
        if queue is None:
            # lastReadAt starts at the queue's creation and is only read again on replay, which drops it.
            queue = self._queues[dst] = _Queue(last_read_at=now)
        queue.messages.append(item)
        self._queued_bytes += item.size
        return []

    def _replay_queue(self, client: _Client) -> list[Action]:
        queue = self._drop_queue(client.id)
        if queue is None:
            return []
        return [Send(client.conn, item.frame, Relay(item.src, item.dst)) for item in queue.messages]

    def _drop_queue(self, client_id: str) -> _Queue | None:
        queue = self._queues.pop(client_id, None)
        if queue is not None:
            self._queued_bytes -= sum(item.size for item in queue.messages)
        return queue

    def _reap(self, now: float) -> list[Action]:
        actions: list[Action] = []
        dead = [
            client for client in self._clients.values() if now - client.last_ping >= self.config.alive_timeout
        ]
        for client in dead:
            actions.append(Close(client.conn))
            self._drop_queue(client.id)
            del self._clients[client.id]
        return actions

    def _expire_queues(self, now: float) -> list[Action]:
        actions: list[Action] = []
        expired = [
            dst
            for dst, queue in self._queues.items()
            if now - queue.last_read_at >= self.config.expire_timeout
        ]
        for dst in expired:
            queue = self._drop_queue(dst)
            if queue is None:
                continue
            seen: set[tuple[str, str]] = set()
            for item in queue.messages:
                if (item.src, item.dst) in seen:
                    continue
                seen.add((item.src, item.dst))
                notice = encode({"type": MessageType.EXPIRE, "src": item.dst, "dst": item.src})
                actions += self._deliver(MessageType.EXPIRE, item.dst, item.src, notice, origin=None, now=now)
        return actions
