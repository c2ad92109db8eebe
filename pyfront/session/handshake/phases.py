"""The handshake as typestate: one class per phase, each step a method that consumes its phase, and
``transition``, the one table of which frame moves which phase on (docs/protocol.md sections 3 and 4).

    initiator:  start -> AwaitReply --Reply--> AwaitConfirm --Confirm--> Established | Restart
    responder:  start -> AwaitHello --Hello--> AwaitFinish  --Finish---> Established | Restart

A phase holds exactly what its step needs, every field required. The step that leaves it consumes it (a
phase stepped twice raises ``InvalidStateError``) and returns a ``Step``: what follows, the frame to
send and any warning. What follows is the next phase, or ``Established``, the finished handshake that
the session turns into its READY state (the ``Done`` phase then only marks the connection), or
``Restart``: the stored layers were out of step, and a full handshake starts over on the same
connection. Steps read the session through a ``Context`` and keep nothing of it; retransmission,
duplicates and early data are the session's business (``pyfront.session.session``).

Every frame is signed over the transcript (``pyfront.session.handshake.transcript``); an error raised by
a step means the peer's frame failed, and the session aborts. This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import ClassVar

from pyfront.crypto.provider import (
    CryptoProvider,
    MlKemSeed,
    SharedSecret,
    SymmetricKey,
    X25519PrivateKey,
    constant_time_equal,
)
from pyfront.errors import AuthenticationError, InvalidStateError, ProtocolError
from pyfront.layers.cascade import CASCADE_ORDER, Cascade, Layer
from pyfront.layers.kem_ratchet import KemRatchet
from pyfront.layers.outer import OuterLayer
from pyfront.olm import Account
from pyfront.session.actions import KeyChanged
from pyfront.session.frames import encode_frame
from pyfront.session.handshake.bootstrap import (
    FreshLayers,
    ResponderOffer,
    initiator_layers,
    responder_layers,
    responder_offer,
)
from pyfront.session.handshake.frames import (
    NONCE_LENGTH,
    Confirm,
    ConfirmStatus,
    Finish,
    HandshakeFrame,
    HandshakeMode,
    Hello,
    Reply,
)
from pyfront.session.handshake.transcript import (
    SignedFrame,
    Transcript,
    check_confirmation,
    confirmation,
    confirmation_keys,
    resume_id,
)
from pyfront.session.identity import Identity, matches_invite_fingerprint

INNER_SESSION_LAYERS: tuple[str, ...] = CASCADE_ORDER[:-1]
"""The layers that persist across connections: the cascade a handshake builds (``CASCADE_ORDER``,
MLS -> Olm -> ML-KEM -> outer) but the outer layer."""


# --- what a step reads from its session ------------------------------------------------------------


@dataclass
class LocalParty:
    """What the local user brings to every session: the identity and the Olm account."""

    identity: Identity
    olm_account: Account


@dataclass(frozen=True, repr=False)
class Stored:
    """The inner layers of an earlier handshake with this contact, and the id that resumes them."""

    layers: list[Layer]
    session_id: bytes

    def __repr__(self) -> str:
        return "<Stored layers>"

    def cascade(self) -> Cascade:
        return Cascade(self.layers, order=INNER_SESSION_LAYERS)

    async def probe_reads(self, probe: bytes, expected: bytes, now: float) -> bool:
        """Whether the peer's resume probe decrypts through these layers to ``expected``. A probe that
        does not decrypt leaves the layers as they were (the cascade rolls back)."""
        try:
            plaintext = await self.cascade().decrypt(probe, now)
        except ProtocolError:
            return False
        return constant_time_equal(plaintext, expected)


@dataclass(frozen=True, repr=False)
class Context:
    """The session as a step sees it: who we are, whom we expect, and what we stored."""

    provider: CryptoProvider
    local: LocalParty
    invite_fingerprint: str | None
    expected_identity: bytes | None
    peer_identity: bytes | None
    stored: Stored | None

    def check_peer(self, identity_key: bytes) -> tuple[KeyChanged, ...]:
        """Invite fingerprint (must match) and trust on first use (warn on change)."""
        if self.invite_fingerprint is not None and not matches_invite_fingerprint(
            self.invite_fingerprint, identity_key
        ):
            raise AuthenticationError("handshake: identity key does not match the invite fingerprint")
        if self.expected_identity is not None and not constant_time_equal(
            self.expected_identity, identity_key
        ):
            return (KeyChanged(self.expected_identity, identity_key),)
        return ()

    def resumable(self, identity_key: bytes, proposed: bytes) -> Stored | None:
        """The stored layers, if the resume id ``proposed`` by ``identity_key`` names them."""
        stored = self.stored
        if (
            stored is not None
            and proposed
            and self.peer_identity is not None
            and constant_time_equal(self.peer_identity, identity_key)
            and constant_time_equal(stored.session_id, proposed)
        ):
            return stored
        return None

    async def sign(self, frame: SignedFrame, transcript: Transcript) -> tuple[SignedFrame, Transcript]:
        """Our ``frame`` signed with our identity key over ``transcript``, and the transcript after it."""
        return await transcript.sign(frame, self.provider, self.local.identity)


# --- what a step returns ---------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Established:
    """A finished handshake: the session's READY state. The phases that led here are spent."""

    peer_identity: bytes
    stored: Stored
    """The inner layers: new after a full handshake, the resumed ones otherwise."""
    outer: OuterLayer
    resumed: bool

    def __repr__(self) -> str:
        return f"<Established {'resumed' if self.resumed else 'full'}>"


@dataclass(frozen=True)
class Restart:
    """The stored layers are out of step: drop them and run a full handshake on this connection."""


@dataclass(frozen=True)
class Step:
    """What one step did: what follows, the encoded frame to send (None: nothing) and warnings."""

    next: Phase | Established | Restart
    frame: bytes | None = None
    warnings: tuple[KeyChanged, ...] = ()


# --- the phases ------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Ephemeral:
    """This connection's own keys: X25519 for confirmation and the outer layer, ML-KEM for the ratchet."""

    private_key: X25519PrivateKey
    public_key: bytes
    kem_seed: MlKemSeed
    kem_key: bytes

    def __repr__(self) -> str:
        return "<Ephemeral keys>"

    @classmethod
    async def generate(cls, provider: CryptoProvider) -> Ephemeral:
        private_key, public_key = await provider.x25519_generate()
        kem_seed, kem_key = await provider.mlkem768_generate()
        return cls(private_key, public_key, kem_seed, kem_key)


class Phase:
    """Where a handshake stands on one connection. Holds secrets: its repr shows only its name."""

    name: ClassVar[str]
    _spent: bool = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def _consume(self) -> None:
        """Mark this phase left; a second step from it is refused (the frame it took has moved on)."""
        if self._spent:
            raise InvalidStateError(f"handshake: phase {self.name} was already left")
        self._spent = True


@dataclass(eq=False, repr=False)
class AwaitHello(Phase):
    """Responder, connected: its keys and TH0, waiting for the initiator's ``Hello``."""

    name: ClassVar[str] = "await-hello"
    ephemeral: Ephemeral
    transcript: Transcript

    @classmethod
    async def begin(cls, context: Context, dtls: tuple[bytes, bytes]) -> AwaitHello:
        return cls(await Ephemeral.generate(context.provider), Transcript.start(*dtls))

    async def receive_hello(self, hello: Hello, context: Context, now: float) -> Step:
        """Verify ``Hello``; answer with a ``Reply`` that resumes the stored layers when the initiator
        proposed them and nothing warns, or offers a KeyPackage and an Olm one-time key."""
        self._consume()
        provider, identity = context.provider, context.local.identity
        transcript = await self.transcript.verify(hello, provider, hello.identity_key)
        warnings = context.check_peer(hello.identity_key)
        stored = None if warnings else context.resumable(hello.identity_key, hello.resume_id)
        shared = await provider.x25519(self.ephemeral.private_key, hello.ephemeral_key)
        nonce = provider.random_bytes(NONCE_LENGTH)
        plan: ResponderOffer | Stored
        if stored is not None:
            plan = stored
            reply = Reply(HandshakeMode.RESUME, identity.public_key, self.ephemeral.public_key, nonce)
        else:
            account = context.local.olm_account
            plan = await responder_offer(provider, identity.public_key, account)
            olm_identity, olm_signing = account.identity_keys
            reply = Reply(
                HandshakeMode.FULL,
                identity.public_key,
                self.ephemeral.public_key,
                nonce,
                self.ephemeral.kem_key,
                olm_identity,
                olm_signing,
                plan.olm_one_time_key,
                plan.key_package,
            )
        reply, transcript = await context.sign(reply, transcript)
        keys = confirmation_keys(shared, transcript.hash)
        after = AwaitFinish(self.ephemeral, transcript, hello, shared, keys, plan)
        return Step(after, encode_frame(reply), warnings)


@dataclass(eq=False, repr=False)
class AwaitReply(Phase):
    """Initiator, ``Hello`` sent: its keys, TH1 and the ``Hello``, waiting for the ``Reply``."""

    name: ClassVar[str] = "await-reply"
    ephemeral: Ephemeral
    transcript: Transcript
    hello: Hello

    @classmethod
    async def begin(cls, context: Context, dtls: tuple[bytes, bytes]) -> tuple[AwaitReply, bytes]:
        """Fresh keys and a signed ``Hello`` (encoded), proposing to resume the stored layers if any."""
        provider, identity = context.provider, context.local.identity
        ephemeral = await Ephemeral.generate(provider)
        olm_identity, olm_signing = context.local.olm_account.identity_keys
        hello = Hello(
            identity.public_key,
            ephemeral.public_key,
            provider.random_bytes(NONCE_LENGTH),
            ephemeral.kem_key,
            olm_identity,
            olm_signing,
            b"" if context.stored is None else context.stored.session_id,
        )
        hello, transcript = await context.sign(hello, Transcript.start(*dtls))
        return cls(ephemeral, transcript, hello), encode_frame(hello)

    async def receive_reply(self, reply: Reply, context: Context, now: float) -> Step:
        """Verify ``Reply``; answer with a ``Finish`` that sets up new MLS and Olm layers (full) or
        proves through the stored layers that they are in step (resume)."""
        self._consume()
        provider = context.provider
        transcript = await self.transcript.verify(reply, provider, reply.identity_key)
        th2 = transcript.hash
        warnings = context.check_peer(reply.identity_key)
        resumed: Stored | None = None
        if reply.mode == HandshakeMode.RESUME:
            resumed = context.resumable(reply.identity_key, self.hello.resume_id)
            if resumed is None:
                raise InvalidStateError("handshake: peer resumes a session we did not propose")
        shared = await provider.x25519(self.ephemeral.private_key, reply.ephemeral_key)
        initiator_key, responder_key = confirmation_keys(shared, th2)
        plan: FreshLayers | Stored
        if resumed is None:
            bootstrap = await initiator_layers(
                provider,
                context.local.identity.public_key,
                context.local.olm_account,
                peer_identity_key=reply.identity_key,
                key_package=reply.key_package,
                peer_olm_identity_key=reply.olm_identity_key,
                peer_olm_one_time_key=reply.olm_one_time_key,
                transcript_hash=th2,
            )
            plan = bootstrap.layers
            finish = Finish(
                HandshakeMode.FULL,
                confirmation(initiator_key, th2),
                bootstrap.olm_prekey_message,
                bootstrap.welcome,
            )
        else:
            plan = resumed
            probe = await resumed.cascade().encrypt(th2, now)
            finish = Finish(HandshakeMode.RESUME, confirmation(initiator_key, th2), resume_probe=probe)
        finish, transcript = await context.sign(finish, transcript)
        after = AwaitConfirm(self.ephemeral, transcript, reply, shared, responder_key, plan)
        return Step(after, encode_frame(finish), warnings)


@dataclass(eq=False, repr=False)
class AwaitFinish(Phase):
    """Responder, ``Reply`` sent: TH2, the peer's ``Hello``, the shared secret, both confirmation keys,
    and what the ``Reply`` offered: a KeyPackage (full) or the stored layers (resume)."""

    name: ClassVar[str] = "await-finish"
    ephemeral: Ephemeral
    transcript: Transcript
    hello: Hello
    shared: SharedSecret
    confirmation_keys: tuple[SymmetricKey, SymmetricKey]
    plan: ResponderOffer | Stored

    async def receive_finish(self, finish: Finish, context: Context, now: float) -> Step:
        """Verify ``Finish`` and its key confirmation; join the MLS group and open the Olm session
        (full) or read the initiator's probe (resume); answer with ``Confirm``. A probe that does not
        read fails the resume: ``Restart``."""
        self._consume()
        provider, local = context.provider, context.local
        th2 = self.transcript.hash
        transcript = await self.transcript.verify(finish, provider, self.hello.identity_key)
        th3 = transcript.hash
        initiator_key, responder_key = self.confirmation_keys
        check_confirmation(initiator_key, th2, finish.confirmation)
        offered = HandshakeMode.RESUME if isinstance(self.plan, Stored) else HandshakeMode.FULL
        if finish.mode != offered:
            raise InvalidStateError("handshake: Finish mode differs from Reply mode")
        layers: FreshLayers | Stored
        if isinstance(self.plan, ResponderOffer):
            layers = await responder_layers(
                provider,
                local.identity.public_key,
                local.olm_account,
                peer_identity_key=self.hello.identity_key,
                peer_olm_identity_key=self.hello.olm_identity_key,
                key_package_private=self.plan.key_package_private,
                welcome=finish.welcome,
                olm_prekey_message=finish.olm_prekey_message,
                transcript_hash=th2,
            )
            confirm = Confirm(confirmation(responder_key, th3))
        else:
            layers = self.plan
            if await layers.probe_reads(finish.resume_probe, th2, now):
                probe = await layers.cascade().encrypt(th3, now)
                confirm = Confirm(confirmation(responder_key, th3), ConfirmStatus.OK, probe)
            else:
                confirm = Confirm(confirmation(responder_key, th3), ConfirmStatus.RESUME_FAILED)
        confirm, transcript = await context.sign(confirm, transcript)
        if confirm.status == ConfirmStatus.RESUME_FAILED:
            return Step(Restart(), encode_frame(confirm))
        established = _establish(
            provider,
            is_initiator=False,
            ephemeral=self.ephemeral,
            peer_identity=self.hello.identity_key,
            peer_kem_key=self.hello.kem_encapsulation_key,
            layers=layers,
            shared=self.shared,
            th4=transcript.hash,
        )
        return Step(established, encode_frame(confirm))


@dataclass(eq=False, repr=False)
class AwaitConfirm(Phase):
    """Initiator, ``Finish`` sent: TH3, the peer's ``Reply``, the shared secret, the responder's
    confirmation key, and the layers: the new MLS and Olm ones (full) or the stored ones (resume)."""

    name: ClassVar[str] = "await-confirm"
    ephemeral: Ephemeral
    transcript: Transcript
    reply: Reply
    shared: SharedSecret
    responder_key: SymmetricKey
    layers: FreshLayers | Stored

    async def receive_confirm(self, confirm: Confirm, context: Context, now: float) -> Step:
        """Verify ``Confirm`` and its key confirmation; after a resume, read the responder's probe. A
        resume that failed on either side: ``Restart``."""
        self._consume()
        th3 = self.transcript.hash
        transcript = await self.transcript.verify(confirm, context.provider, self.reply.identity_key)
        check_confirmation(self.responder_key, th3, confirm.confirmation)
        if isinstance(self.layers, Stored):
            if confirm.status == ConfirmStatus.RESUME_FAILED or not await self.layers.probe_reads(
                confirm.resume_probe, th3, now
            ):
                return Step(Restart())
        elif confirm.status != ConfirmStatus.OK:
            raise AuthenticationError("handshake: a full handshake cannot fail a resume")
        established = _establish(
            context.provider,
            is_initiator=True,
            ephemeral=self.ephemeral,
            peer_identity=self.reply.identity_key,
            peer_kem_key=self.reply.kem_encapsulation_key,
            layers=self.layers,
            shared=self.shared,
            th4=transcript.hash,
        )
        return Step(established)


class Done(Phase):
    """The handshake on this connection is over; it takes no frame (the session answers duplicates)."""

    name: ClassVar[str] = "done"


def _establish(
    provider: CryptoProvider,
    *,
    is_initiator: bool,
    ephemeral: Ephemeral,
    peer_identity: bytes,
    peer_kem_key: bytes,
    layers: FreshLayers | Stored,
    shared: SharedSecret,
    th4: bytes,
) -> Established:
    """The layers keyed from TH4: a full handshake adds the ML-KEM ratchet to its new MLS and Olm layers
    and names them with a resume id; both kinds get a new outer layer."""
    if isinstance(layers, FreshLayers):
        kem = KemRatchet.from_handshake(
            provider,
            is_initiator=is_initiator,
            transcript_hash=th4,
            own_seed=ephemeral.kem_seed,
            own_encapsulation_key=ephemeral.kem_key,
            peer_encapsulation_key=peer_kem_key,
        )
        stored, resumed = Stored([layers.mls, layers.olm, kem], resume_id(th4)), False
    else:
        stored, resumed = layers, True
    outer = OuterLayer.from_handshake(
        provider, shared_secret=shared, transcript_hash=th4, is_initiator=is_initiator
    )
    return Established(peer_identity, stored, outer, resumed)


# --- the table -------------------------------------------------------------------------------------


async def start(
    context: Context, dtls: tuple[bytes, bytes], *, is_initiator: bool
) -> tuple[AwaitReply | AwaitHello, bytes | None]:
    """The first phase of a handshake on a new connection, and the frame to send: the initiator's
    ``Hello``; None for the responder, which waits for it. ``dtls`` = (initiator's, responder's)
    fingerprint."""
    if is_initiator:
        return await AwaitReply.begin(context, dtls)
    return await AwaitHello.begin(context, dtls), None


def transition(phase: Phase, frame: HandshakeFrame, context: Context, now: float) -> Awaitable[Step]:
    """The step that takes ``frame`` in ``phase``, ready to be awaited: the one place where the
    handshake moves on. ``InvalidStateError`` at once, and nothing changes, for a frame the phase does
    not take."""
    match phase, frame:
        case AwaitHello(), Hello():  # -> AwaitFinish
            return phase.receive_hello(frame, context, now)
        case AwaitReply(), Reply():  # -> AwaitConfirm
            return phase.receive_reply(frame, context, now)
        case AwaitFinish(), Finish():  # -> Established | Restart
            return phase.receive_finish(frame, context, now)
        case AwaitConfirm(), Confirm():  # -> Established | Restart
            return phase.receive_confirm(frame, context, now)
    raise InvalidStateError(f"session: unexpected {type(frame).__name__} in phase {phase.name}")
