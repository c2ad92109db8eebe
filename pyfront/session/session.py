"""The per-contact session: handshake, ready, resume -- a sans-I/O state machine (DESIGN.md section 5).

States (``SessionState``): ``CONNECTING`` (no data channel) -> ``HANDSHAKING`` -> ``READY`` ->
``CLOSED``; a lost data channel (``disconnected``) goes back to ``CONNECTING`` and keeps the inner layer
states, so the next ``connected`` resumes without a full handshake. All transitions happen in this class.

Inputs are method calls carrying bytes and ``now`` (Unix time in seconds: the ML-KEM layer's rekey timer
is stored with the session, so the origin must survive restarts); outputs are lists of
actions (``SendFrame``, ``Deliver``, ``Ready``, ``KeyChanged``, ``HandshakeFailed``, ``HandshakeStalled``)
for the transport and
the UI to carry out. Handshake (``pyfront.session.handshake`` for the transcript and keys,
``pyfront.session.frames`` for
the frames):

* ``Hello``   I->R: identity key, ephemeral X25519, nonce, ML-KEM-768 key, Olm identity keys, resume id.
* ``Reply``   R->I: the same for R plus an Olm one-time key and the MLS KeyPackage, or ``RESUME`` mode.
* ``Finish``  I->R: key confirmation, the first Olm (pre-key) message, the MLS Welcome.
* ``Confirm`` R->I: key confirmation. Both sides are ``READY`` only after the peer's confirmation.

Every frame is signed by the identity key over the transcript, which starts with both DTLS fingerprints.
Errors: malformed input, an unexpected frame or a message that fails any layer raises a
``ProtocolError`` and changes nothing; a well-formed handshake frame that fails authentication (signature,
confirmation, invite fingerprint) or whose signed content does not work (KeyPackage, Welcome, Olm
message) aborts the handshake (``HandshakeFailed``, state ``CLOSED``): on a DTLS-protected channel only
the party at the other end can send it. A handshake that gets no answer for ``HANDSHAKE_TIMEOUT_SECONDS``
is not an attack but a dead connection: ``tick`` returns ``HandshakeStalled`` and goes back to
``CONNECTING`` with the inner layers kept, so the caller drops that connection and the next one can still
resume. Trust on first use: when the peer's
identity key differs from ``expected_identity`` a ``KeyChanged`` action comes out and stored layers for
the old key are never used. Lost handshake frames are retransmitted by ``tick``; duplicates are answered
idempotently; data that overtakes the responder's ``Confirm`` is buffered.

This module does no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pyfront.crypto.provider import (
    CryptoProvider,
    MlKemSeed,
    SharedSecret,
    SymmetricKey,
    X25519PrivateKey,
    constant_time_equal,
)
from pyfront.errors import (
    AuthenticationError,
    DecodeError,
    InvalidStateError,
    LimitError,
    ProtocolError,
)
from pyfront.layers.cascade import CASCADE_ORDER, Cascade, Layer
from pyfront.layers.kem_ratchet import KemRatchet
from pyfront.layers.mls_layer import MlsLayer
from pyfront.layers.olm_layer import OlmLayer
from pyfront.layers.outer import OuterLayer
from pyfront.olm import Account
from pyfront.session.bootstrap import ResponderOffer, initiator_layers, responder_layers, responder_offer
from pyfront.session.content import AppMessage, decode_message, encode_message
from pyfront.session.frames import (
    Confirm,
    ConfirmStatus,
    Data,
    Finish,
    HandshakeMode,
    Hello,
    Reply,
    decode_frame,
    encode_frame,
)
from pyfront.session.handshake import (
    Transcript,
    check_confirmation,
    confirmation,
    confirmation_keys,
    normalise_dtls_fingerprint,
    resume_id,
    signature_input,
    verify_signature,
)
from pyfront.session.identity import Identity, matches_invite_fingerprint, safety_number

HANDSHAKE_RETRANSMIT_SECONDS = 1.0
"""``tick`` resends the last handshake frame when no answer came for this long."""
HANDSHAKE_TIMEOUT_SECONDS = 20.0
"""A handshake not finished after this long is given up on this connection (``HandshakeStalled``): with a
retransmission every second, that much silence means the connection is dead (a full handshake takes
about 0.15 s in Chromium here, a few seconds on a loaded machine)."""
MAX_EARLY_FRAMES = 64
"""Data frames buffered while the initiator waits for ``Confirm``."""
SESSION_STATE_VERSION = 1
SESSION_LAYERS: tuple[str, ...] = CASCADE_ORDER
"""The cascade the session builds: all four layers, MLS -> Olm -> ML-KEM -> outer."""
INNER_SESSION_LAYERS: tuple[str, ...] = SESSION_LAYERS[:-1]
"""The layers that persist across connections (everything but the outer layer)."""


class SessionState(Enum):
    CONNECTING = "connecting"
    HANDSHAKING = "handshaking"
    READY = "ready"
    CLOSED = "closed"


class _Phase(Enum):
    AWAIT_HELLO = "await-hello"
    AWAIT_REPLY = "await-reply"
    AWAIT_FINISH = "await-finish"
    AWAIT_CONFIRM = "await-confirm"
    DONE = "done"


# --- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendFrame:
    data: bytes


@dataclass(frozen=True)
class Deliver:
    message: AppMessage


@dataclass(frozen=True)
class Ready:
    peer_identity_key: bytes
    resumed: bool


@dataclass(frozen=True)
class KeyChanged:
    """The contact's identity key is not the one we trusted: warn loudly, drop the verified mark."""

    previous: bytes
    current: bytes


@dataclass(frozen=True)
class HandshakeFailed:
    reason: str


@dataclass(frozen=True)
class HandshakeStalled:
    """No answer on this connection: drop it (the session waits for a new one, layers kept)."""

    reason: str


Action = SendFrame | Deliver | Ready | KeyChanged | HandshakeFailed | HandshakeStalled


# --- local long-term material ---------------------------------------------------------------------


@dataclass
class LocalParty:
    """What the local user brings to every session: the identity and the Olm account."""

    identity: Identity
    olm_account: Account


@dataclass
class _Handshake:
    """Ephemeral state of one handshake on one connection (never stored)."""

    transcript: Transcript
    started_at: float
    ephemeral_private: X25519PrivateKey
    ephemeral_public: bytes
    kem_seed: MlKemSeed
    kem_key: bytes
    phase: _Phase
    hello: Hello | None = None
    reply: Reply | None = None
    finish: Finish | None = None
    received: dict[str, bytes] = field(default_factory=dict)
    last_sent: bytes = b""
    sent_at: float = 0.0
    shared_secret: SharedSecret | None = None
    confirm_keys: tuple[SymmetricKey, SymmetricKey] | None = None
    th2: bytes = b""
    olm_layer: OlmLayer | None = None
    mls_layer: MlsLayer | None = None
    offer: ResponderOffer | None = None
    early: list[bytes] = field(default_factory=list)


LayerLoader = Callable[[CryptoProvider, dict[str, Any]], Layer]
LAYER_LOADERS: dict[str, LayerLoader] = {
    "mls": MlsLayer.from_dict,
    "olm": OlmLayer.from_dict,
    "mlkem": KemRatchet.from_dict,
}


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
        self._handshake: _Handshake | None = None
        self._dtls: tuple[bytes, bytes] | None = None

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
        return None if self._handshake is None else self._handshake.phase.value

    @property
    def can_resume(self) -> bool:
        return self._inner is not None and bool(self._session_id)

    def safety_number(self) -> str:
        if self.peer_identity is None:
            raise InvalidStateError("session: no peer identity yet")
        return safety_number(self._local.identity.public_key, self.peer_identity)

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
        self._dtls = (local_dtls, remote_dtls) if self.is_initiator else (remote_dtls, local_dtls)
        self._handshake, actions = await self._new_handshake(now)
        self.state = SessionState.HANDSHAKING
        return actions

    async def _new_handshake(self, now: float) -> tuple[_Handshake, list[Action]]:
        """Fresh ephemeral keys and transcript on this connection; the initiator's ``Hello``."""
        if self._dtls is None:
            raise InvalidStateError("session: no connection to run a handshake on")
        ephemeral_private, ephemeral_public = await self._provider.x25519_generate()
        kem_seed, kem_key = await self._provider.mlkem768_generate()
        handshake = _Handshake(
            Transcript(*self._dtls),
            now,
            ephemeral_private,
            ephemeral_public,
            kem_seed,
            kem_key,
            _Phase.AWAIT_HELLO,
        )
        actions: list[Action] = []
        if self.is_initiator:
            olm_identity, olm_signing = self._local.olm_account.identity_keys
            hello = Hello(
                self._local.identity.public_key,
                ephemeral_public,
                self._provider.random_bytes(32),
                kem_key,
                olm_identity,
                olm_signing,
                self._session_id if self.can_resume else b"",
            )
            th1 = handshake.transcript.absorb(hello.signed_part())
            hello = dataclasses.replace(hello, signature=await self._sign(th1))
            handshake.hello = hello
            handshake.phase = _Phase.AWAIT_REPLY
            actions.append(self._send_handshake(handshake, encode_frame(hello), now))
        return handshake, actions

    def _inner_cascade(self) -> Cascade:
        """The stored layers without the outer one, for the resume probes."""
        if self._inner is None:
            raise InvalidStateError("session: no stored layers to resume")
        return Cascade(self._inner, order=INNER_SESSION_LAYERS)

    async def _restart_full(self, handshake: _Handshake, now: float) -> list[Action]:
        """The stored layers are out of step: forget them and run a full handshake on this connection."""
        self._inner, self._session_id = None, b""
        fresh, actions = await self._new_handshake(now)
        fresh.received = dict(handshake.received)  # late duplicates of old frames stay recognised
        if not self.is_initiator:
            fresh.last_sent, fresh.sent_at = handshake.last_sent, now
        self._handshake, self._cascade = fresh, None
        self.state = SessionState.HANDSHAKING
        return actions

    def disconnected(self, now: float) -> list[Action]:
        """The data channel closed: keep the inner layers for a resume, drop the connection's keys."""
        if self.state == SessionState.CLOSED:
            return []
        self._handshake = None
        self._cascade = None
        self._dtls = None
        self.state = SessionState.CONNECTING
        return []

    def close(self) -> list[Action]:
        self._handshake = None
        self._cascade = None
        self.state = SessionState.CLOSED
        return []

    async def tick(self, now: float) -> list[Action]:
        """Retransmit an unanswered handshake frame; give up a connection whose handshake took too long."""
        handshake = self._handshake
        if self.state == SessionState.HANDSHAKING and handshake is not None:
            if now - handshake.started_at > HANDSHAKE_TIMEOUT_SECONDS:
                self.disconnected(now)
                return [HandshakeStalled(f"no answer to the handshake for {HANDSHAKE_TIMEOUT_SECONDS:.0f} s")]
            if handshake.last_sent and now - handshake.sent_at >= HANDSHAKE_RETRANSMIT_SECONDS:
                handshake.sent_at = now
                return [SendFrame(handshake.last_sent)]
        return []

    # --- application messages --------------------------------------------------------------------

    async def send(self, message: AppMessage, now: float) -> list[Action]:
        if self.state != SessionState.READY:
            raise InvalidStateError(f"session: cannot send while {self.state.value}")
        ciphertext = await self.cascade.encrypt(encode_message(message), now)
        return [SendFrame(encode_frame(Data(ciphertext)))]

    async def receive(self, data: bytes, now: float) -> list[Action]:
        """One frame from the data channel. Rejected input raises ``ProtocolError`` and changes nothing,
        except an authentication failure inside the handshake, which aborts it."""
        if self.state in (SessionState.CLOSED, SessionState.CONNECTING):
            raise InvalidStateError(f"session: frame received while {self.state.value}")
        frame = decode_frame(data)
        if isinstance(frame, Data):
            return await self._receive_data(frame, data, now)
        handshake = self._handshake
        if handshake is None:
            raise InvalidStateError("session: handshake frame without a handshake")
        kind = type(frame).__name__
        duplicate = constant_time_equal(handshake.received.get(kind, b""), data)
        expected = {
            _Phase.AWAIT_HELLO: Hello,
            _Phase.AWAIT_REPLY: Reply,
            _Phase.AWAIT_FINISH: Finish,
            _Phase.AWAIT_CONFIRM: Confirm,
        }.get(handshake.phase)
        if duplicate:
            # The peer did not get our answer: send it again (the last frame we sent answers this one).
            if isinstance(frame, Confirm) or handshake.last_sent == b"":
                return []
            return [SendFrame(handshake.last_sent)]
        if isinstance(frame, Hello) and not self.is_initiator and expected is not Hello:
            return await self._on_fresh_hello(frame, data, now)
        if expected is None or not isinstance(frame, expected):
            raise InvalidStateError(f"session: unexpected {kind} in phase {handshake.phase.value}")
        try:
            if isinstance(frame, Hello):
                return await self._on_hello(handshake, frame, data, now)
            if isinstance(frame, Reply):
                return await self._on_reply(handshake, frame, data, now)
            if isinstance(frame, Finish):
                return await self._on_finish(handshake, frame, data, now)
            return await self._on_confirm(handshake, frame, data, now)
        except ProtocolError as error:
            return self._abort(str(error))
        except Exception as error:
            # A well-formed, signed frame whose nested content (KeyPackage, Welcome, Olm message) made
            # a layer fail in an unforeseen way: the peer cannot crash us, the handshake just ends.
            return self._abort(f"handshake: the peer's layer bootstrap failed ({type(error).__name__})")

    async def _on_fresh_hello(self, hello: Hello, raw: bytes, now: float) -> list[Action]:
        """A new ``Hello`` on a connection whose handshake went further: the initiator found our stored
        layers out of step (its resume probe check failed) and starts over. Nothing changes unless the
        ``Hello`` verifies."""
        candidate, _ = await self._new_handshake(now)
        try:
            actions = await self._on_hello(candidate, hello, raw, now)
        except Exception as error:
            if isinstance(error, ProtocolError):
                raise
            raise AuthenticationError(f"handshake: restart refused ({type(error).__name__})") from error
        if self._resumable_with(hello.identity_key, hello.resume_id):
            # A restart that asks to resume what it just found broken would loop forever.
            raise InvalidStateError("handshake: a restarted handshake must be a full one")
        self._inner, self._session_id = None, b""
        self._handshake, self._cascade = candidate, None
        self.state = SessionState.HANDSHAKING
        return actions

    # --- handshake steps -------------------------------------------------------------------------

    async def _sign(self, transcript_hash: bytes) -> bytes:
        return await self._local.identity.sign(self._provider, signature_input(transcript_hash))

    def _send_handshake(self, handshake: _Handshake, frame: bytes, now: float) -> SendFrame:
        handshake.last_sent, handshake.sent_at = frame, now
        return SendFrame(frame)

    def _abort(self, reason: str) -> list[Action]:
        self._handshake = None
        self._cascade = None
        self.state = SessionState.CLOSED
        return [HandshakeFailed(reason)]

    def _check_peer(self, identity_key: bytes) -> list[Action]:
        """Invite fingerprint (must match) and trust on first use (warn on change)."""
        if self.invite_fingerprint is not None and not matches_invite_fingerprint(
            self.invite_fingerprint, identity_key
        ):
            raise AuthenticationError("handshake: identity key does not match the invite fingerprint")
        if self.expected_identity is not None and not constant_time_equal(
            self.expected_identity, identity_key
        ):
            return [KeyChanged(self.expected_identity, identity_key)]
        return []

    def _resumable_with(self, identity_key: bytes, proposed: bytes) -> bool:
        return (
            self.can_resume
            and bool(proposed)
            and self.peer_identity is not None
            and constant_time_equal(self.peer_identity, identity_key)
            and constant_time_equal(self._session_id, proposed)
        )

    async def _on_hello(self, handshake: _Handshake, hello: Hello, raw: bytes, now: float) -> list[Action]:
        transcript = handshake.transcript.copy()
        th1 = transcript.absorb(hello.signed_part())
        await verify_signature(self._provider, hello.identity_key, th1, hello.signature, "Hello")
        actions = self._check_peer(hello.identity_key)
        resume = not actions and self._resumable_with(hello.identity_key, hello.resume_id)
        shared = await self._provider.x25519(handshake.ephemeral_private, hello.ephemeral_key)
        nonce = self._provider.random_bytes(32)
        offer: ResponderOffer | None = None
        if resume:
            reply = Reply(
                HandshakeMode.RESUME, self._local.identity.public_key, handshake.ephemeral_public, nonce
            )
        else:
            account = self._local.olm_account
            offer = await responder_offer(self._provider, self._local.identity.public_key, account)
            olm_identity, olm_signing = account.identity_keys
            reply = Reply(
                HandshakeMode.FULL,
                self._local.identity.public_key,
                handshake.ephemeral_public,
                nonce,
                handshake.kem_key,
                olm_identity,
                olm_signing,
                offer.olm_one_time_key,
                offer.key_package,
            )
        th2 = transcript.absorb(hello.signature, reply.signed_part())
        reply = dataclasses.replace(reply, signature=await self._sign(th2))
        handshake.transcript, handshake.th2 = transcript, th2
        handshake.hello, handshake.reply = hello, reply
        handshake.shared_secret = shared
        handshake.confirm_keys = confirmation_keys(shared, th2)
        handshake.offer = offer
        handshake.received["Hello"] = raw
        handshake.phase = _Phase.AWAIT_FINISH
        return [*actions, self._send_handshake(handshake, encode_frame(reply), now)]

    async def _on_reply(self, handshake: _Handshake, reply: Reply, raw: bytes, now: float) -> list[Action]:
        assert handshake.hello is not None
        transcript = handshake.transcript.copy()
        th2 = transcript.absorb(handshake.hello.signature, reply.signed_part())
        await verify_signature(self._provider, reply.identity_key, th2, reply.signature, "Reply")
        actions = self._check_peer(reply.identity_key)
        if reply.mode == HandshakeMode.RESUME and not self._resumable_with(
            reply.identity_key, handshake.hello.resume_id
        ):
            raise InvalidStateError("handshake: peer resumes a session we did not propose")
        shared = await self._provider.x25519(handshake.ephemeral_private, reply.ephemeral_key)
        keys = confirmation_keys(shared, th2)
        olm_layer: OlmLayer | None = None
        mls_layer: MlsLayer | None = None
        if reply.mode == HandshakeMode.FULL:
            layers = await initiator_layers(
                self._provider,
                self._local.identity.public_key,
                self._local.olm_account,
                peer_identity_key=reply.identity_key,
                key_package=reply.key_package,
                peer_olm_identity_key=reply.olm_identity_key,
                peer_olm_one_time_key=reply.olm_one_time_key,
                transcript_hash=th2,
            )
            mls_layer, olm_layer = layers.mls, layers.olm
            finish = Finish(
                HandshakeMode.FULL, confirmation(keys[0], th2), layers.olm_prekey_message, layers.welcome
            )
        else:
            probe = await self._inner_cascade().encrypt(th2, now)
            finish = Finish(HandshakeMode.RESUME, confirmation(keys[0], th2), resume_probe=probe)
        th3 = transcript.absorb(reply.signature, finish.signed_part())
        finish = dataclasses.replace(finish, signature=await self._sign(th3))
        handshake.transcript, handshake.th2 = transcript, th2
        handshake.reply, handshake.finish = reply, finish
        handshake.shared_secret, handshake.confirm_keys = shared, keys
        handshake.olm_layer, handshake.mls_layer = olm_layer, mls_layer
        handshake.received["Reply"] = raw
        handshake.phase = _Phase.AWAIT_CONFIRM
        return [*actions, self._send_handshake(handshake, encode_frame(finish), now)]

    async def _on_finish(self, handshake: _Handshake, finish: Finish, raw: bytes, now: float) -> list[Action]:
        hello, reply, keys, shared = (
            handshake.hello,
            handshake.reply,
            handshake.confirm_keys,
            handshake.shared_secret,
        )
        assert hello is not None and reply is not None and keys is not None and shared is not None
        transcript = handshake.transcript.copy()
        th3 = transcript.absorb(reply.signature, finish.signed_part())
        await verify_signature(self._provider, hello.identity_key, th3, finish.signature, "Finish")
        check_confirmation(keys[0], handshake.th2, finish.confirmation)
        if finish.mode != reply.mode:
            raise InvalidStateError("handshake: Finish mode differs from Reply mode")
        olm_layer: OlmLayer | None = None
        mls_layer: MlsLayer | None = None
        if finish.mode == HandshakeMode.FULL:
            assert handshake.offer is not None
            mls_layer, olm_layer = await responder_layers(
                self._provider,
                self._local.identity.public_key,
                self._local.olm_account,
                peer_identity_key=hello.identity_key,
                peer_olm_identity_key=hello.olm_identity_key,
                key_package_private=handshake.offer.key_package_private,
                welcome=finish.welcome,
                olm_prekey_message=finish.olm_prekey_message,
                transcript_hash=handshake.th2,
            )
            confirm = Confirm(confirmation(keys[1], th3))
        elif await self._probe_reads(finish.resume_probe, handshake.th2, now):
            probe = await self._inner_cascade().encrypt(th3, now)
            confirm = Confirm(confirmation(keys[1], th3), ConfirmStatus.OK, probe)
        else:
            confirm = Confirm(confirmation(keys[1], th3), ConfirmStatus.RESUME_FAILED)
        th4 = transcript.absorb(finish.signature, confirm.signed_part())
        confirm = dataclasses.replace(confirm, signature=await self._sign(th4))
        handshake.received["Finish"] = raw
        frame = self._send_handshake(handshake, encode_frame(confirm), now)
        if confirm.status == ConfirmStatus.RESUME_FAILED:
            return [frame, *await self._restart_full(handshake, now)]
        self._establish(
            handshake,
            peer_identity=hello.identity_key,
            peer_kem_key=hello.kem_encapsulation_key,
            olm_layer=olm_layer,
            mls_layer=mls_layer,
            shared=shared,
            th4=th4,
        )
        return [frame, Ready(hello.identity_key, resumed=olm_layer is None)]

    async def _on_confirm(
        self, handshake: _Handshake, confirm: Confirm, raw: bytes, now: float
    ) -> list[Action]:
        reply, finish, keys, shared = (
            handshake.reply,
            handshake.finish,
            handshake.confirm_keys,
            handshake.shared_secret,
        )
        assert reply is not None and finish is not None and keys is not None and shared is not None
        transcript = handshake.transcript.copy()  # at TH3 since Finish was sent
        th3 = transcript.hash
        th4 = transcript.absorb(finish.signature, confirm.signed_part())
        await verify_signature(self._provider, reply.identity_key, th4, confirm.signature, "Confirm")
        check_confirmation(keys[1], th3, confirm.confirmation)
        handshake.received["Confirm"] = raw
        if finish.mode == HandshakeMode.RESUME:
            if confirm.status == ConfirmStatus.RESUME_FAILED or not await self._probe_reads(
                confirm.resume_probe, th3, now
            ):
                return await self._restart_full(handshake, now)
        elif confirm.status != ConfirmStatus.OK:
            raise AuthenticationError("handshake: a full handshake cannot fail a resume")
        self._establish(
            handshake,
            peer_identity=reply.identity_key,
            peer_kem_key=reply.kem_encapsulation_key,
            olm_layer=handshake.olm_layer,
            mls_layer=handshake.mls_layer,
            shared=shared,
            th4=th4,
        )
        actions: list[Action] = [Ready(reply.identity_key, resumed=handshake.olm_layer is None)]
        early, handshake.early = handshake.early, []
        for frame in early:
            try:
                actions.extend(await self.receive(frame, now))
            except ProtocolError:
                continue  # rejected like any other bad frame
        return actions

    async def _probe_reads(self, probe: bytes, expected: bytes, now: float) -> bool:
        """Whether the peer's resume probe decrypts through our stored layers to ``expected``. A probe
        that does not decrypt leaves the layers as they were (the cascade rolls back)."""
        try:
            plaintext = await self._inner_cascade().decrypt(probe, now)
        except ProtocolError:
            return False
        return constant_time_equal(plaintext, expected)

    def _establish(
        self,
        handshake: _Handshake,
        *,
        peer_identity: bytes,
        peer_kem_key: bytes,
        olm_layer: OlmLayer | None,
        mls_layer: MlsLayer | None,
        shared: bytes,
        th4: bytes,
    ) -> None:
        if olm_layer is not None and mls_layer is not None:
            kem = KemRatchet.from_handshake(
                self._provider,
                is_initiator=self.is_initiator,
                transcript_hash=th4,
                own_seed=handshake.kem_seed,
                own_encapsulation_key=handshake.kem_key,
                peer_encapsulation_key=peer_kem_key,
            )
            self._inner = [mls_layer, olm_layer, kem]
            self._session_id = resume_id(th4)
        assert self._inner is not None
        outer = OuterLayer.from_handshake(
            self._provider, shared_secret=shared, transcript_hash=th4, is_initiator=self.is_initiator
        )
        self._cascade = Cascade([*self._inner, outer], order=SESSION_LAYERS)
        self.peer_identity = peer_identity
        self.expected_identity = peer_identity
        handshake.phase = _Phase.DONE
        self.state = SessionState.READY

    async def _receive_data(self, frame: Data, raw: bytes, now: float) -> list[Action]:
        handshake = self._handshake
        if self.state == SessionState.HANDSHAKING:
            if handshake is not None and handshake.phase == _Phase.AWAIT_CONFIRM:
                if len(handshake.early) >= MAX_EARLY_FRAMES:
                    raise LimitError(f"session: more than {MAX_EARLY_FRAMES} early frames")
                handshake.early.append(raw)
                return []
            raise InvalidStateError("session: data before the handshake finished")
        message = await self.cascade.decrypt_with(frame.ciphertext, now, decode_message)
        return [Deliver(message)]

    # --- stored state ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Versioned, JSON-able. A handshake in progress is not stored: it restores as ``CONNECTING``."""
        ready = self.state == SessionState.READY and self._cascade is not None
        state = self.state if self.state != SessionState.HANDSHAKING else SessionState.CONNECTING
        return {
            "version": SESSION_STATE_VERSION,
            "is_initiator": self.is_initiator,
            "state": state.value,
            "expected_identity": None if self.expected_identity is None else self.expected_identity.hex(),
            "invite_fingerprint": self.invite_fingerprint,
            "peer_identity": None if self.peer_identity is None else self.peer_identity.hex(),
            "session_id": self._session_id.hex(),
            "layers": None if self._inner is None else {layer.name: layer.to_dict() for layer in self._inner},
            "outer": self.cascade.layer("outer").to_dict() if ready else None,
        }

    @classmethod
    def from_dict(cls, provider: CryptoProvider, local: LocalParty, data: dict[str, Any]) -> Session:
        try:
            if data["version"] != SESSION_STATE_VERSION:
                raise DecodeError(f"session state: unknown version {data['version']!r}")
            session = cls(
                provider,
                local,
                is_initiator=bool(data["is_initiator"]),
                expected_identity=_optional_hex(data["expected_identity"]),
                invite_fingerprint=data["invite_fingerprint"],
            )
            state = SessionState(data["state"])
            session.peer_identity = _optional_hex(data["peer_identity"])
            session._session_id = bytes.fromhex(data["session_id"])
            layers = data["layers"]
            outer = data["outer"]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DecodeError(f"session state: malformed ({type(error).__name__})") from None
        if layers is not None:
            # Layers are loaded by name in cascade order: a store may sort the keys (the vault does).
            if not isinstance(layers, dict) or set(layers) != set(INNER_SESSION_LAYERS):
                raise DecodeError(f"session state: expected layers {INNER_SESSION_LAYERS}")
            session._inner = [LAYER_LOADERS[name](provider, layers[name]) for name in INNER_SESSION_LAYERS]
        if state == SessionState.READY:
            if outer is None or session._inner is None:
                raise DecodeError("session state: READY without its layers")
            layer = OuterLayer.from_dict(provider, outer)
            session._cascade = Cascade([*session._inner, layer], order=SESSION_LAYERS)
        session.state = state
        return session


def _optional_hex(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecodeError("session state: expected hex text")
    return bytes.fromhex(value)
