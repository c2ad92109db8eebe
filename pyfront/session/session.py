"""The per-contact session: connecting, handshaking, ready, resumed -- a sans-I/O state machine
(DESIGN.md section 5; docs/protocol.md section 4).

States (``SessionState``): ``CONNECTING`` (no data channel) -> ``HANDSHAKING`` -> ``READY`` ->
``CLOSED``; a lost data channel (``disconnected``) goes back to ``CONNECTING`` and keeps the inner layer
states, so the next ``connected`` resumes without a full handshake. ``_MOVES`` lists the allowed
changes and ``Session._enter`` is the one place that makes them.

Inputs are method calls carrying bytes and ``now`` (Unix time in seconds: the ML-KEM layer's rekey timer
is stored with the session, so the origin must survive restarts); outputs are lists of actions
(``pyfront.session.actions``) for the transport and the UI to carry out.

The handshake itself (``Hello``, ``Reply``, ``Finish``, ``Confirm``, each signed over the transcript that
starts with both DTLS fingerprints) is ``pyfront.session.handshake``: its phases are typestate, and the
session holds the current one and hands it each frame. What stays here is per connection: a handshake
that gets no answer is retransmitted by ``tick``; duplicates are answered idempotently; data that
overtakes the responder's ``Confirm`` is buffered.

Errors: malformed input, an unexpected frame or a message that fails any layer raises a
``ProtocolError`` and changes nothing; a well-formed handshake frame that fails authentication (signature,
confirmation, invite fingerprint) or whose signed content does not work (KeyPackage, Welcome, Olm
message) aborts the handshake (``HandshakeFailed``, state ``CLOSED``): on a DTLS-protected channel only
the party at the other end can send it. The aborting side first sends ``Refusal`` so that the other side
can say so too; a ``Refusal`` received while our own handshake waits for the peer's answer ends this
connection only (``HandshakeRefused``, back to ``CONNECTING`` with the layers kept, as a lost connection
does): it is unauthenticated, so it changes nothing else. A handshake that gets no answer for
``HANDSHAKE_TIMEOUT_SECONDS`` is not an attack but a dead connection: ``tick`` returns
``HandshakeStalled`` and goes back to ``CONNECTING`` with the inner layers kept, so the caller drops that
connection and the next one can still resume. Trust on first use: when the peer's identity key differs
from ``expected_identity`` a ``KeyChanged`` action comes out and stored layers for the old key are never
used.

This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pyfront.crypto.provider import CryptoProvider, constant_time_equal
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, LimitError, ProtocolError
from pyfront.layers.cascade import Cascade, Layer
from pyfront.layers.kem_ratchet import KemRatchet
from pyfront.layers.mls_layer import MlsLayer
from pyfront.layers.olm_layer import OlmLayer
from pyfront.layers.outer import OuterLayer
from pyfront.session.actions import (
    Action,
    Deliver,
    HandshakeFailed,
    HandshakeRefused,
    HandshakeStalled,
    KeyChanged,
    Ready,
    SendFrame,
)
from pyfront.session.content import AppMessage, decode_message, encode_message
from pyfront.session.frames import Data, decode_frame, encode_frame
from pyfront.session.handshake.frames import Confirm, Hello, Refusal
from pyfront.session.handshake.phases import (
    INNER_SESSION_LAYERS,
    AwaitConfirm,
    AwaitHello,
    Context,
    Done,
    Established,
    LocalParty,
    Phase,
    Restart,
    Step,
    Stored,
    start,
    transition,
)
from pyfront.session.handshake.transcript import RESUME_ID_LENGTH, normalise_dtls_fingerprint
from pyfront.session.identity import safety_number
from pyfront.storage.migrations import SESSION

__all__ = [
    "HANDSHAKE_RETRANSMIT_SECONDS",
    "HANDSHAKE_TIMEOUT_SECONDS",
    "INNER_SESSION_LAYERS",
    "MAX_EARLY_FRAMES",
    "Action",
    "Deliver",
    "HandshakeFailed",
    "HandshakeRefused",
    "HandshakeStalled",
    "KeyChanged",
    "LocalParty",
    "Ready",
    "SendFrame",
    "Session",
    "SessionState",
]

HANDSHAKE_RETRANSMIT_SECONDS = 1.0
"""``tick`` resends the last handshake frame when no answer came for this long."""
HANDSHAKE_TIMEOUT_SECONDS = 20.0
"""A handshake not finished after this long is given up on this connection (``HandshakeStalled``): with a
retransmission every second, that much silence means the connection is dead (a full handshake takes
about 0.15 s in Chromium here, a few seconds on a loaded machine)."""
MAX_EARLY_FRAMES = 64
"""Data frames buffered while the initiator waits for ``Confirm``."""


class SessionState(Enum):
    CONNECTING = "connecting"
    HANDSHAKING = "handshaking"
    READY = "ready"
    CLOSED = "closed"


_MOVES: dict[SessionState, frozenset[SessionState]] = {
    # connected; a lost connection again; closed
    SessionState.CONNECTING: frozenset(
        {SessionState.HANDSHAKING, SessionState.CONNECTING, SessionState.CLOSED}
    ),
    # finished; started over on the same connection; stalled or lost; failed or closed
    SessionState.HANDSHAKING: frozenset(
        {SessionState.READY, SessionState.HANDSHAKING, SessionState.CONNECTING, SessionState.CLOSED}
    ),
    # the responder takes a new Hello (the initiator starts over); lost; closed
    SessionState.READY: frozenset({SessionState.HANDSHAKING, SessionState.CONNECTING, SessionState.CLOSED}),
    SessionState.CLOSED: frozenset({SessionState.CLOSED}),
}
"""The state changes a session makes, from each state (``Session._enter`` checks them)."""


@dataclass
class _Connection:
    """One data channel: the handshake's phase on it and what answers lost or repeated frames. Never
    stored."""

    dtls: tuple[bytes, bytes]
    """(initiator's, responder's) DTLS fingerprint, as the transcript starts from them."""
    phase: Phase
    started_at: float
    received: dict[str, bytes] = field(default_factory=dict)
    """The last handshake frame of each kind taken: a repeat of it is answered again, not processed."""
    last_sent: bytes = b""
    sent_at: float = 0.0
    early: list[bytes] = field(default_factory=list)
    """Data frames that overtook the responder's ``Confirm``."""

    def send(self, frame: bytes, now: float) -> SendFrame:
        self.last_sent, self.sent_at = frame, now
        return SendFrame(frame)


LayerLoader = Callable[[CryptoProvider, dict[str, Any]], Layer]
LAYER_LOADERS: dict[str, LayerLoader] = dict(
    zip(INNER_SESSION_LAYERS, (MlsLayer.from_dict, OlmLayer.from_dict, KemRatchet.from_dict), strict=True)
)
"""How each inner layer is loaded, keyed by ``INNER_SESSION_LAYERS`` (MLS, Olm, ML-KEM)."""


class Session:
    """One conversation with one contact over successive connections."""

    def __init__(
        self,
        provider: CryptoProvider,
        local: LocalParty,
        *,
        is_initiator: bool,
        expected_identity: bytes | None = None,
        invite_fingerprint: str | None = None,
    ) -> None:
        self._provider = provider
        self._local = local
        self.is_initiator = is_initiator
        self.expected_identity = expected_identity
        self.invite_fingerprint = invite_fingerprint
        self.state = SessionState.CONNECTING
        self.peer_identity: bytes | None = None
        self._session_id: bytes = b""
        self._inner: list[Layer] | None = None
        self._cascade: Cascade | None = None
        self._connection: _Connection | None = None
        #: The outer layer of the last connection that closed: mailbox envelopes (``seal_offline``,
        #: ``open_offline``) go under it, so they are the very Data frames a data channel would carry.
        self._mailbox_outer: OuterLayer | None = None

    def __repr__(self) -> str:
        role = "initiator" if self.is_initiator else "responder"
        return f"Session({role}, {self.state.value})"

    @property
    def cascade(self) -> Cascade:
        if self._cascade is None:
            raise InvalidStateError(f"session: no cascade in state {self.state.value}")
        return self._cascade

    @property
    def handshake_phase(self) -> str | None:
        """Which handshake frame we wait for (``await-hello`` ... ``done``), or None without a handshake."""
        return None if self._connection is None else self._connection.phase.name

    @property
    def can_resume(self) -> bool:
        return self._inner is not None and bool(self._session_id)

    def safety_number(self) -> str:
        if self.peer_identity is None:
            raise InvalidStateError("session: no peer identity yet")
        return safety_number(self._local.identity.public_key, self.peer_identity)

    def _enter(self, state: SessionState) -> None:
        if state not in _MOVES[self.state]:
            raise InvalidStateError(f"session: no way from {self.state.value} to {state.value}")
        self.state = state

    def _context(self) -> Context:
        """What the handshake's steps may read of this session."""
        stored = None
        if self.can_resume and self._inner is not None:  # the second test only narrows the type
            stored = Stored(self._inner, self._session_id)
        return Context(
            self._provider,
            self._local,
            self.invite_fingerprint,
            self.expected_identity,
            self.peer_identity,
            stored,
        )

    # --- transport events ------------------------------------------------------------------------

    async def connected(
        self, local_dtls_fingerprint: str | bytes, remote_dtls_fingerprint: str | bytes, now: float
    ) -> list[Action]:
        """The data channel is open. The fingerprints come from the local and the remote SDP: either the
        ``a=fingerprint`` values (``sha-256 AB:CD:...``) or raw SHA-256 digests
        (``pyfront.messaging.signaling.dtls_fingerprint``)."""
        if self.state != SessionState.CONNECTING:
            raise InvalidStateError(f"session: connected while {self.state.value}")
        local_dtls = normalise_dtls_fingerprint(local_dtls_fingerprint)
        remote_dtls = normalise_dtls_fingerprint(remote_dtls_fingerprint)
        dtls = (local_dtls, remote_dtls) if self.is_initiator else (remote_dtls, local_dtls)
        phase, hello = await start(self._context(), dtls, is_initiator=self.is_initiator)
        self._connection = connection = _Connection(dtls, phase, now)
        self._enter(SessionState.HANDSHAKING)
        return [] if hello is None else [connection.send(hello, now)]

    def disconnected(self, now: float) -> list[Action]:
        """The data channel closed: keep the inner layers for a resume, drop the connection's keys."""
        if self.state == SessionState.CLOSED:
            return []
        if self._cascade is not None and isinstance(outer := self._cascade.layer("outer"), OuterLayer):
            self._mailbox_outer = outer
        self._connection = None
        self._cascade = None
        for layer in self._inner or ():
            if isinstance(layer, KemRatchet):
                layer.reannounce()  # frames in flight are lost: the next one repeats the epoch's ciphertext
        self._enter(SessionState.CONNECTING)
        return []

    def close(self) -> list[Action]:
        self._connection = None
        self._cascade = None
        self._enter(SessionState.CLOSED)
        return []

    async def tick(self, now: float) -> list[Action]:
        """Retransmit an unanswered handshake frame; give up a connection whose handshake took too long."""
        connection = self._connection
        if self.state == SessionState.HANDSHAKING and connection is not None:
            if now - connection.started_at > HANDSHAKE_TIMEOUT_SECONDS:
                self.disconnected(now)
                return [HandshakeStalled(f"no answer to the handshake for {HANDSHAKE_TIMEOUT_SECONDS:.0f} s")]
            if connection.last_sent and now - connection.sent_at >= HANDSHAKE_RETRANSMIT_SECONDS:
                return [connection.send(connection.last_sent, now)]
        return []

    # --- application messages --------------------------------------------------------------------

    async def send(self, message: AppMessage, now: float) -> list[Action]:
        if self.state != SessionState.READY:
            raise InvalidStateError(f"session: cannot send while {self.state.value}")
        ciphertext = await self.cascade.encrypt(encode_message(message), now)
        return [SendFrame(encode_frame(Data(ciphertext)))]

    # --- the mailbox: the same Data frames, while no data channel is open (docs/mailbox.md) ---------

    @property
    def can_seal_offline(self) -> bool:
        """Can a message be sealed for the mailbox now (no connection, and a past one's layers kept)?"""
        return self.state is SessionState.CONNECTING and self._mailbox_cascade() is not None

    def _mailbox_cascade(self) -> Cascade | None:
        if self._inner is None or self._mailbox_outer is None:
            return None
        return Cascade([*self._inner, self._mailbox_outer])

    async def seal_offline(self, message: AppMessage, now: float) -> bytes:
        """The Data frame that carries ``message`` through all four layers, for the mailbox: the inner
        layers as on a data channel, the outer layer of the last connection. Store the session before
        the frame leaves (its layers moved)."""
        cascade = self._mailbox_cascade()
        if self.state is not SessionState.CONNECTING or cascade is None:
            raise InvalidStateError(f"session: cannot seal for the mailbox while {self.state.value}")
        kems = [layer for layer in self._inner or () if isinstance(layer, KemRatchet)]
        epochs = [kem.send_epoch for kem in kems]
        frame = encode_frame(Data(await cascade.encrypt(encode_message(message), now)))
        for kem, epoch in zip(kems, epochs, strict=True):
            if kem.send_epoch != epoch:
                kem.reannounce()  # the next frame (mailbox or channel) repeats the new epoch's key
        return frame

    async def open_offline(self, data: bytes, now: float) -> AppMessage:
        """One Data frame fetched from the mailbox, in the order it was deposited. Rejected input raises
        ``ProtocolError`` and changes nothing (a frame already read fails the outer layer's replay check).

        The peer sealed it under the outer layer of the last connection *it* saw close. That is ours
        too, unless its side of the current connection closed before ours did: then it is the current
        connection's, which is tried second (each attempt is all four layers' checks, rolled back if
        any fails)."""
        frame = decode_frame(data)
        cascades = [self._mailbox_cascade(), self._cascade if self.state is SessionState.READY else None]
        tried = [cascade for cascade in cascades if cascade is not None]
        if not isinstance(frame, Data) or not tried or self.state is SessionState.CLOSED:
            raise InvalidStateError("session: no mailbox frame can be opened now")
        refused: ProtocolError | None = None
        for cascade in tried:
            try:
                message: AppMessage = await cascade.decrypt_with(frame.ciphertext, now, decode_message)
            except ProtocolError as error:
                refused = refused or error  # the usual key's reason is the one worth reporting
                continue
            return message
        assert refused is not None
        raise refused

    async def open_offline_batch(
        self, frames: Sequence[bytes], now: float
    ) -> list[AppMessage | ProtocolError]:
        """``open_offline`` for consecutive frames of one fetch, in order: each a message, or the error
        that refused it. First all at once through the layers' pipeline (``Cascade.decrypt_batch_with``:
        the same checks, their waits overlapping); if any frame is refused there, the layers are as
        before the batch and each frame is opened on its own, so the results, and the layers' state,
        are exactly those of ``open_offline`` frame by frame."""
        cascade = self._mailbox_cascade()
        if len(frames) > 1 and cascade is not None and self.state is not SessionState.CLOSED:
            try:
                ciphertexts = []
                for data in frames:
                    frame = decode_frame(data)
                    if not isinstance(frame, Data):
                        raise DecodeError("session: a mailbox frame that is not a Data frame")
                    ciphertexts.append(frame.ciphertext)
                return list(await cascade.decrypt_batch_with(ciphertexts, now, decode_message))
            except ProtocolError:
                pass  # rolled back: one by one below
        results: list[AppMessage | ProtocolError] = []
        for data in frames:
            try:
                results.append(await self.open_offline(data, now))
            except ProtocolError as error:
                results.append(error)
        return results

    async def receive(self, data: bytes, now: float) -> list[Action]:
        """One frame from the data channel. Rejected input raises ``ProtocolError`` and changes nothing,
        except an authentication failure inside the handshake, which aborts it."""
        if self.state in (SessionState.CLOSED, SessionState.CONNECTING):
            raise InvalidStateError(f"session: frame received while {self.state.value}")
        frame = decode_frame(data)
        if isinstance(frame, Data):
            return await self._receive_data(frame, data, now)
        connection = self._connection
        if connection is None:
            raise InvalidStateError("session: handshake frame without a handshake")
        if isinstance(frame, Refusal):
            return self._refused(connection, now)
        kind = type(frame).__name__
        if constant_time_equal(connection.received.get(kind, b""), data):
            # The peer did not get our answer: send it again (the last frame we sent answers this one).
            if isinstance(frame, Confirm) or connection.last_sent == b"":
                return []
            return [SendFrame(connection.last_sent)]
        if isinstance(frame, Hello) and not (self.is_initiator or isinstance(connection.phase, AwaitHello)):
            return await self._restart_on_hello(connection, frame, data, now)
        step_taking = transition(connection.phase, frame, self._context(), now)
        try:
            step = await step_taking
        except ProtocolError as error:
            return self._abort(str(error))
        except Exception as error:
            # A well-formed, signed frame whose nested content (KeyPackage, Welcome, Olm message) made
            # a layer fail in an unforeseen way: the peer cannot crash us, the handshake just ends.
            return self._abort(f"handshake: the peer's layer bootstrap failed ({type(error).__name__})")
        connection.received[kind] = data
        return await self._take(step, connection, now)

    async def _receive_data(self, frame: Data, raw: bytes, now: float) -> list[Action]:
        if self.state == SessionState.HANDSHAKING:
            connection = self._connection
            # The responder is READY once it sent Confirm, and may send before that Confirm arrives.
            if connection is not None and isinstance(connection.phase, AwaitConfirm):
                if len(connection.early) >= MAX_EARLY_FRAMES:
                    raise LimitError(f"session: more than {MAX_EARLY_FRAMES} early frames")
                connection.early.append(raw)
                return []
            raise InvalidStateError("session: data before the handshake finished")
        message = await self.cascade.decrypt_with(frame.ciphertext, now, decode_message)
        return [Deliver(message)]

    # --- where the handshake leads -----------------------------------------------------------------

    async def _take(self, step: Step, connection: _Connection, now: float) -> list[Action]:
        """Carry out one handshake step: its warnings, its frame, then what follows it."""
        actions: list[Action] = [*step.warnings]
        if step.frame is not None:
            actions.append(connection.send(step.frame, now))
        match step.next:
            case Established() as established:
                actions.extend(await self._establish(established, connection, now))
            case Restart():
                actions.extend(await self._restart(connection, now))
            case Phase() as phase:
                connection.phase = phase
        return actions

    async def _establish(self, established: Established, connection: _Connection, now: float) -> list[Action]:
        """The handshake finished: its layers become the session's, then the data that overtook it."""
        self._inner, self._session_id = established.stored.layers, established.stored.session_id
        self._cascade = Cascade([*self._inner, established.outer])
        if established.resumed and isinstance(mls := self._cascade.layer("mls"), MlsLayer):
            mls.resumed()  # an MLS epoch update is due on every resume (docs/protocol.md 5.2)
        self.peer_identity = self.expected_identity = established.peer_identity
        connection.phase = Done()
        self._enter(SessionState.READY)
        actions: list[Action] = [Ready(established.peer_identity, resumed=established.resumed)]
        early, connection.early = connection.early, []
        for frame in early:
            try:
                actions.extend(await self.receive(frame, now))
            except ProtocolError:
                continue  # rejected like any other bad frame
        return actions

    def _forget_layers(self) -> None:
        """The stored layers are out of step, or the peer starts over: the next handshake is a full one."""
        self._inner, self._session_id = None, b""
        self._cascade = None
        self._mailbox_outer = None

    async def _restart(self, connection: _Connection, now: float) -> list[Action]:
        """A resume failed: forget the stored layers and run a full handshake on this connection. Frames
        seen so far stay recognised as duplicates; the responder's last frame stays the answer."""
        self._forget_layers()
        phase, hello = await start(self._context(), connection.dtls, is_initiator=self.is_initiator)
        connection.phase, connection.started_at, connection.early = phase, now, []
        self._enter(SessionState.HANDSHAKING)
        return [] if hello is None else [connection.send(hello, now)]

    async def _restart_on_hello(
        self, connection: _Connection, hello: Hello, raw: bytes, now: float
    ) -> list[Action]:
        """A new ``Hello`` on a connection whose handshake went further: the initiator found our stored
        layers out of step (its resume probe check failed) and starts over. Nothing changes unless the
        ``Hello`` verifies."""
        context = self._context()
        candidate = await AwaitHello.begin(context, connection.dtls)
        try:
            step = await transition(candidate, hello, context, now)
        except Exception as error:
            if isinstance(error, ProtocolError):
                raise
            raise AuthenticationError(f"handshake: restart refused ({type(error).__name__})") from error
        if context.resumable(hello.identity_key, hello.resume_id) is not None:
            # A restart that asks to resume what it just found broken would loop forever.
            raise InvalidStateError("handshake: a restarted handshake must be a full one")
        self._forget_layers()
        self._connection = fresh = _Connection(connection.dtls, candidate, now, received={"Hello": raw})
        self._enter(SessionState.HANDSHAKING)
        return await self._take(step, fresh, now)

    def _abort(self, reason: str) -> list[Action]:
        """A frame failed authentication: tell the peer (``Refusal``, once, unsigned) and stop."""
        self._connection = None
        self._cascade = None
        self._enter(SessionState.CLOSED)
        return [SendFrame(encode_frame(Refusal())), HandshakeFailed(reason)]

    def _refused(self, connection: _Connection, now: float) -> list[Action]:
        """The peer says it could not verify our handshake. Taken only while our handshake waits for the
        peer's answer to a frame we sent (the initiator after ``Hello`` or ``Finish``, the responder after
        ``Reply``); anywhere else it is unsolicited and refused. Unauthenticated, so it does exactly what
        a lost connection does: the inner layers stay, nothing is forgotten or downgraded."""
        if self.state != SessionState.HANDSHAKING or not connection.last_sent:
            raise InvalidStateError(f"session: unsolicited Refusal in phase {connection.phase.name}")
        self.disconnected(now)
        return [HandshakeRefused("the peer could not verify this connection")]

    # --- stored state ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Versioned, JSON-able. A handshake in progress is not stored: it restores as ``CONNECTING``."""
        ready = self.state == SessionState.READY and self._cascade is not None
        state = self.state if self.state != SessionState.HANDSHAKING else SessionState.CONNECTING
        return SESSION.new(
            is_initiator=self.is_initiator,
            state=state.value,
            expected_identity=None if self.expected_identity is None else self.expected_identity.hex(),
            invite_fingerprint=self.invite_fingerprint,
            peer_identity=None if self.peer_identity is None else self.peer_identity.hex(),
            session_id=self._session_id.hex(),
            layers=None if self._inner is None else {layer.name: layer.to_dict() for layer in self._inner},
            outer=self.cascade.layer("outer").to_dict() if ready else self._stored_mailbox_outer(),
        )

    def _stored_mailbox_outer(self) -> dict[str, Any] | None:
        """Out of a connection, the outer layer the mailbox uses (absent after a full handshake's failure
        or before the first connection)."""
        if self.state is SessionState.CLOSED or self._mailbox_outer is None:
            return None
        return self._mailbox_outer.to_dict()

    @classmethod
    def from_dict(cls, provider: CryptoProvider, local: LocalParty, data: dict[str, Any]) -> Session:
        data = SESSION.open(data)
        try:
            is_initiator = data["is_initiator"]
            invite = data["invite_fingerprint"]
            session = cls(
                provider,
                local,
                is_initiator=is_initiator,
                expected_identity=_optional_hex(data["expected_identity"]),
                invite_fingerprint=invite,
            )
            state = SessionState(data["state"])
            session.peer_identity = _optional_hex(data["peer_identity"])
            session._session_id = bytes.fromhex(data["session_id"])
            layers = data["layers"]
            outer = data["outer"]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DecodeError(f"session state: malformed ({type(error).__name__})") from None
        # Only what to_dict writes: a handshake is never stored, the flag is a bool, the id empty or full.
        if state == SessionState.HANDSHAKING:
            raise DecodeError("session state: a handshake in progress is never stored")
        if not isinstance(is_initiator, bool):
            raise DecodeError("session state: is_initiator must be a boolean")
        if invite is not None and not isinstance(invite, str):
            raise DecodeError("session state: invite_fingerprint must be text or null")
        if len(session._session_id) not in (0, RESUME_ID_LENGTH):
            raise DecodeError(f"session state: session_id must be empty or {RESUME_ID_LENGTH} bytes")
        if layers is not None:
            # Layers are loaded by name in cascade order: a store may sort the keys (the vault does).
            if not isinstance(layers, dict) or set(layers) != set(INNER_SESSION_LAYERS):
                raise DecodeError(f"session state: expected layers {INNER_SESSION_LAYERS}")
            session._inner = [LAYER_LOADERS[name](provider, layers[name]) for name in INNER_SESSION_LAYERS]
        if state == SessionState.READY:
            if outer is None or session._inner is None:
                raise DecodeError("session state: READY without its layers")
            layer = OuterLayer.from_dict(provider, outer)
            session._cascade = Cascade([*session._inner, layer])
        elif state == SessionState.CONNECTING and outer is not None and session._inner is not None:
            session._mailbox_outer = OuterLayer.from_dict(provider, outer)  # the mailbox's (seal_offline)
        session.state = state
        return session


def _optional_hex(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecodeError("session state: expected hex text")
    return bytes.fromhex(value)
