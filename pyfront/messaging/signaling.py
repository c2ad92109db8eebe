"""The PeerJS client side of signaling, sans-I/O: frames in, events and frames out.

Speaks the PeerJS server protocol (``shared/reference/peerjs-protocol.md``) so the app works with our
broker and with any stock ``peer`` server. The browser glue (``pyfront.browser``) and the headless peer
own the WebSocket and the timers; they feed this object the socket's events and ``now``, and carry out
what it returns.

A broker is not trusted: everything it relays is an untrusted string that is size-checked and
type-checked here, and the DTLS fingerprints it carries inside SDP are only *claims* that the session's
handshake later binds to the contacts' identity keys.

This module does no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import quote

from pyfront.errors import DecodeError, InvalidStateError, LimitError

#: Client version string sent to the server, as the stock client does (``&version=``).
PEERJS_CLIENT_VERSION = "1.5.5"
#: The stock client's heartbeat period; the server reaps clients silent for its alive timeout (60-90 s).
HEARTBEAT_INTERVAL_S = 5.0
#: The largest frame accepted from the broker (an SDP with many candidates is a few KiB).
MAX_SERVER_FRAME_BYTES = 64 * 1024
#: The largest SDP we accept or send.
MAX_SDP_BYTES = 32 * 1024
#: Ids the stock client accepts (``peerjs`` util.validateId).
PEER_ID_PATTERN = re.compile(r"^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$")
MAX_PEER_ID_LENGTH = 64
#: Random bytes in a rendezvous peer id (DESIGN.md: 128 bits or more from a CSPRNG).
PEER_ID_RANDOM_BYTES = 16
CONNECTION_ID_PREFIX = "dc_"
#: A remote ICE candidate line longer than this is refused.
MAX_CANDIDATE_BYTES = 1024
#: First reconnect delay to the broker, its growth factor and its ceiling (seconds).
BACKOFF_INITIAL_S = 0.5
BACKOFF_FACTOR = 2.0
BACKOFF_MAX_S = 30.0
#: ``SignalingFailed`` reasons that a reconnect cannot fix (the user must act).
FINAL_FAILURES = frozenset({"id-taken", "server-error"})

_FINGERPRINT_LINE = re.compile(
    r"^a=fingerprint:sha-256 ((?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})\s*$", re.MULTILINE
)


class SignalingState(Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


# --- events handed to the transport --------------------------------------------------------------------


@dataclass(frozen=True)
class SendToBroker:
    """Send this text frame on the WebSocket."""

    text: str


@dataclass(frozen=True)
class Registered:
    """The broker accepted our id (``OPEN``)."""

    peer_id: str


@dataclass(frozen=True)
class SignalingFailed:
    """The broker refused us; ``reason`` is one of ``id-taken``, ``server-error``, ``closed``."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class RemoteDescription:
    """An OFFER or ANSWER from ``peer``."""

    peer: str
    kind: str  # "offer" | "answer"
    sdp: str
    connection_id: str
    metadata: Any = None


@dataclass(frozen=True)
class RemoteCandidate:
    peer: str
    connection_id: str
    candidate: dict[str, Any]


@dataclass(frozen=True)
class PeerUnavailable:
    """The broker could not deliver to ``peer`` (``EXPIRE``) or ``peer`` left (``LEAVE``)."""

    peer: str
    reason: str  # "expired" | "left"


Event = SendToBroker | Registered | SignalingFailed | RemoteDescription | RemoteCandidate | PeerUnavailable


@dataclass
class Backoff:
    """Reconnect delays: ``BACKOFF_INITIAL_S`` doubling up to ``BACKOFF_MAX_S``; ``reset`` after success."""

    initial: float = BACKOFF_INITIAL_S
    factor: float = BACKOFF_FACTOR
    ceiling: float = BACKOFF_MAX_S
    attempts: int = 0

    def next_delay(self) -> float:
        delay = min(self.ceiling, self.initial * self.factor**self.attempts)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is: the same fields as the stock client's options."""

    host: str
    port: int
    path: str = "/"
    key: str = "peerjs"
    secure: bool = False

    def _base(self, scheme: str) -> str:
        path = self.path if self.path.endswith("/") else self.path + "/"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    def websocket_url(self, peer_id: str, token: str) -> str:
        base = self._base("wss" if self.secure else "ws")
        return (
            f"{base}peerjs?key={quote(self.key, safe='')}&id={quote(peer_id, safe='')}"
            f"&token={quote(token, safe='')}&version={PEERJS_CLIENT_VERSION}"
        )

    def id_url(self) -> str:
        return f"{self._base('https' if self.secure else 'http')}{quote(self.key, safe='')}/id"


def check_candidate(candidate: object) -> dict[str, Any]:
    """A remote ``RTCIceCandidateInit`` as the broker relayed it, type- and size-checked."""
    if not isinstance(candidate, dict):
        raise DecodeError("ICE candidate: an object expected")
    line = candidate.get("candidate")
    if not isinstance(line, str) or len(line) > MAX_CANDIDATE_BYTES:
        raise DecodeError(f"ICE candidate: 'candidate' must be a string of at most {MAX_CANDIDATE_BYTES}")
    mid = candidate.get("sdpMid")
    index = candidate.get("sdpMLineIndex")
    fragment = candidate.get("usernameFragment")
    if mid is not None and (not isinstance(mid, str) or len(mid) > 32):
        raise DecodeError("ICE candidate: 'sdpMid' must be a short string")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64):
        raise DecodeError("ICE candidate: 'sdpMLineIndex' must be a small integer")
    if fragment is not None and (not isinstance(fragment, str) or len(fragment) > 256):
        raise DecodeError("ICE candidate: 'usernameFragment' must be a short string")
    out: dict[str, Any] = {"candidate": line, "sdpMid": mid, "sdpMLineIndex": index}
    if fragment is not None:
        out["usernameFragment"] = fragment
    return out


def new_peer_id(random_bytes: bytes) -> str:
    """A rendezvous id from CSPRNG bytes: valid for stock clients, unlinkable to the identity key."""
    if len(random_bytes) < PEER_ID_RANDOM_BYTES:
        raise LimitError(f"peer id: at least {PEER_ID_RANDOM_BYTES} random bytes needed")
    return "p" + random_bytes.hex()


def new_token(random_bytes: bytes) -> str:
    """The per-client secret the broker uses to tell a reconnect from an id takeover."""
    return random_bytes.hex()


def valid_peer_id(peer_id: object) -> bool:
    return (
        isinstance(peer_id, str)
        and 0 < len(peer_id) <= MAX_PEER_ID_LENGTH
        and PEER_ID_PATTERN.fullmatch(peer_id) is not None
    )


def dtls_fingerprint(sdp: str) -> bytes:
    """The SHA-256 DTLS certificate fingerprint an SDP announces (RFC 8122), as 32 raw bytes.

    Raises ``DecodeError`` unless there is exactly one distinct sha-256 fingerprint: a description with
    none cannot be bound to the handshake, and one with several is ambiguous.
    """
    if len(sdp) > MAX_SDP_BYTES:
        raise LimitError(f"SDP of {len(sdp)} bytes exceeds {MAX_SDP_BYTES}")
    found = {bytes.fromhex(match.replace(":", "")) for match in _FINGERPRINT_LINE.findall(sdp)}
    if len(found) != 1:
        raise DecodeError(f"SDP: exactly one sha-256 fingerprint expected, found {len(found)}")
    return found.pop()


@dataclass
class SignalingClient:
    """One registration with one broker. Feed it socket events; send what it returns."""

    peer_id: str
    token: str
    state: SignalingState = SignalingState.DISCONNECTED
    _last_sent: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not valid_peer_id(self.peer_id):
            raise DecodeError(f"peer id {self.peer_id!r} is not one PeerJS accepts")

    def connecting(self) -> None:
        self.state = SignalingState.CONNECTING

    def socket_opened(self, now: float) -> list[Event]:
        self._last_sent = now
        return []

    def socket_closed(self) -> list[Event]:
        was_open = self.state in (SignalingState.OPEN, SignalingState.CONNECTING)
        self.state = SignalingState.CLOSED
        return [SignalingFailed("closed")] if was_open else []

    def tick(self, now: float) -> list[Event]:
        """Heartbeat when due; the transport calls this about once a second."""
        if self.state is SignalingState.OPEN and now - self._last_sent >= HEARTBEAT_INTERVAL_S:
            self._last_sent = now
            return [SendToBroker('{"type":"HEARTBEAT"}')]
        return []

    def receive(self, text: str) -> list[Event]:
        """One frame from the broker. Malformed frames raise ``DecodeError`` and change nothing."""
        if len(text) > MAX_SERVER_FRAME_BYTES:
            raise LimitError(f"broker frame of {len(text)} bytes exceeds {MAX_SERVER_FRAME_BYTES}")
        try:
            frame = json.loads(text)
        except ValueError:
            raise DecodeError("broker frame is not JSON") from None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise DecodeError("broker frame: an object with a string 'type' expected")
        kind = frame["type"]
        if kind == "OPEN":
            self.state = SignalingState.OPEN
            return [Registered(self.peer_id)]
        if kind == "ID-TAKEN":
            self.state = SignalingState.CLOSED
            return [SignalingFailed("id-taken", _message(frame))]
        if kind == "ERROR":
            self.state = SignalingState.CLOSED
            return [SignalingFailed("server-error", _message(frame))]
        if kind in ("LEAVE", "EXPIRE"):
            return [PeerUnavailable(_source(frame), "left" if kind == "LEAVE" else "expired")]
        if kind in ("OFFER", "ANSWER"):
            payload = _payload(frame)
            sdp = payload.get("sdp")
            if not isinstance(sdp, dict) or not isinstance(sdp.get("sdp"), str):
                raise DecodeError(f"{kind}: payload.sdp.sdp must be a string")
            if len(sdp["sdp"]) > MAX_SDP_BYTES:
                raise LimitError(f"{kind}: SDP exceeds {MAX_SDP_BYTES} bytes")
            return [
                RemoteDescription(
                    peer=_source(frame),
                    kind=kind.lower(),
                    sdp=sdp["sdp"],
                    connection_id=_connection_id(payload),
                    metadata=payload.get("metadata"),
                )
            ]
        if kind == "CANDIDATE":
            payload = _payload(frame)
            candidate = payload.get("candidate")
            if not isinstance(candidate, dict) or not isinstance(candidate.get("candidate"), str):
                raise DecodeError("CANDIDATE: payload.candidate.candidate must be a string")
            return [RemoteCandidate(_source(frame), _connection_id(payload), candidate)]
        return []  # HEARTBEAT echoes and unknown types are ignored, as the stock client does

    # --- frames we send -------------------------------------------------------------------------------

    def _frame(self, kind: str, dst: str, payload: dict[str, Any], now: float) -> SendToBroker:
        if self.state is not SignalingState.OPEN:
            raise InvalidStateError(f"signaling: cannot send {kind} while {self.state.value}")
        if not valid_peer_id(dst):
            raise DecodeError(f"peer id {dst!r} is not one PeerJS accepts")
        self._last_sent = now
        return SendToBroker(json.dumps({"type": kind, "payload": payload, "dst": dst}, separators=(",", ":")))

    def offer(self, dst: str, connection_id: str, sdp: str, now: float, metadata: Any = None) -> SendToBroker:
        _check_sdp(sdp)
        payload = {
            "sdp": {"type": "offer", "sdp": sdp},
            "type": "data",
            "connectionId": connection_id,
            "label": connection_id,
            "reliable": True,
            "serialization": "raw",
            "metadata": metadata,
        }
        return self._frame("OFFER", dst, payload, now)

    def answer(self, dst: str, connection_id: str, sdp: str, now: float) -> SendToBroker:
        _check_sdp(sdp)
        payload = {"sdp": {"type": "answer", "sdp": sdp}, "type": "data", "connectionId": connection_id}
        return self._frame("ANSWER", dst, payload, now)

    def candidate(self, dst: str, connection_id: str, candidate: dict[str, Any], now: float) -> SendToBroker:
        payload = {"candidate": candidate, "type": "data", "connectionId": connection_id}
        return self._frame("CANDIDATE", dst, payload, now)


def _check_sdp(sdp: str) -> None:
    if len(sdp) > MAX_SDP_BYTES:
        raise LimitError(f"SDP of {len(sdp)} bytes exceeds {MAX_SDP_BYTES}")


def _message(frame: dict[str, Any]) -> str:
    payload = frame.get("payload")
    if isinstance(payload, dict) and isinstance(payload.get("msg"), str):
        return str(payload["msg"])[:200]
    return ""


def _source(frame: dict[str, Any]) -> str:
    src = frame.get("src")
    if not valid_peer_id(src):
        raise DecodeError(f"{frame.get('type')}: 'src' is not a valid peer id")
    return str(src)


def _payload(frame: dict[str, Any]) -> dict[str, Any]:
    payload = frame.get("payload")
    if not isinstance(payload, dict):
        raise DecodeError(f"{frame.get('type')}: 'payload' must be an object")
    return payload


def _connection_id(payload: dict[str, Any]) -> str:
    connection_id = payload.get("connectionId")
    if not isinstance(connection_id, str) or not 0 < len(connection_id) <= MAX_PEER_ID_LENGTH:
        raise DecodeError("signaling payload: 'connectionId' must be a short string")
    return connection_id
