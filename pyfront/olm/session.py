"""An Olm session: the triple-DH handshake, the session id and the pre-key/normal message framing.

libolm docs/olm.md, "Initial setup": Alice (outbound) has identity key ``IA`` and a fresh base key
``EA``; Bob has identity key ``IB`` and published one-time key ``EB``. Both compute
``S = ECDH(IA, EB) || ECDH(EA, IB) || ECDH(EA, EB)`` and ``R0 || C0,0 = HKDF(0, S, "OLM_ROOT", 64)``.
Alice's first sending chain uses a second fresh key, her ratchet key ``T0`` (libolm ``session.cpp``
``new_outbound_session``); Bob's first receiving chain is keyed by the ``T0`` in her first message.

Alice sends pre-key messages (the session keys ``EB``, ``EA``, ``IA`` around a normal message) until she
has decrypted a message from Bob, then normal messages. The session id is
``base64(SHA-256(IA || EA || EB))``, the same as libolm's and vodozemac's. This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import DecodeError, InvalidStateError
from pyfront.olm.encoding import encode_base64
from pyfront.olm.kdf import initial_root
from pyfront.olm.messages import KEY_LENGTH, NormalMessage, OlmMessage, PreKeyMessage
from pyfront.olm.ratchet import Ratchet, RatchetSnapshot, ReceiverChain, SenderChain
from pyfront.olm.state import State, get_bool, get_bytes, put_bytes
from pyfront.storage.migrations import OLM_SESSION


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The public keys that name a session: Alice's identity key, her base key, Bob's one-time key."""

    identity_key: bytes
    base_key: bytes
    one_time_key: bytes

    @property
    def session_id(self) -> str:
        digest = CryptoProvider.sha256(self.identity_key + self.base_key + self.one_time_key)
        return encode_base64(digest)


class Session:
    """One end of an Olm conversation. Built by ``Account.create_outbound_session`` or
    ``Account.create_inbound_session``; restored by ``Session.from_dict``."""

    __slots__ = ("_ratchet", "provider", "received_message", "session_keys")

    def __init__(
        self, provider: CryptoProvider, session_keys: SessionKeys, ratchet: Ratchet, received_message: bool
    ) -> None:
        self.provider = provider
        self.session_keys = session_keys
        self._ratchet = ratchet
        self.received_message = received_message

    @property
    def session_id(self) -> str:
        return self.session_keys.session_id

    def __repr__(self) -> str:
        return f"<olm.Session {self.session_id}>"

    def matches(self, message: PreKeyMessage) -> bool:
        """True if ``message`` carries this session's keys (it belongs to this session)."""
        keys = self.session_keys
        return (
            message.identity_key == keys.identity_key
            and message.base_key == keys.base_key
            and message.one_time_key == keys.one_time_key
        )

    async def encrypt(self, plaintext: bytes) -> OlmMessage:
        """A pre-key message until we have decrypted one from the peer, then normal messages."""
        message = await self._ratchet.encrypt(plaintext)
        if self.received_message:
            return message
        keys = self.session_keys
        return PreKeyMessage(keys.one_time_key, keys.base_key, keys.identity_key, message)

    async def decrypt(self, message: OlmMessage) -> bytes:
        """Decrypt a message of this session. On any error the session is left exactly as it was.

        Raises ``AuthenticationError`` (bad MAC or padding), ``ReplayError`` (key already used or
        discarded), ``LimitError`` (too big a gap), ``InvalidStateError`` (a pre-key message of another
        session, or a new chain before we have sent)."""
        if isinstance(message, PreKeyMessage):
            if not self.matches(message):
                raise InvalidStateError("Olm: pre-key message belongs to another session")
            inner: NormalMessage = message.message
        elif isinstance(message, NormalMessage):
            inner = message
        else:
            raise TypeError(f"Olm: expected a NormalMessage or PreKeyMessage, got {type(message).__name__}")
        plaintext = await self._ratchet.decrypt(inner)
        self.received_message = True
        return plaintext

    # --- in-memory rollback point (the cascade's) ---------------------------------------------------

    def snapshot(self) -> tuple[bool, RatchetSnapshot]:
        """A rollback point for ``restore``; far cheaper than ``to_dict`` (nothing is encoded)."""
        return self.received_message, self._ratchet.snapshot()

    def restore(self, snapshot: tuple[bool, RatchetSnapshot]) -> None:
        """Put the session back as it was at ``snapshot`` (which stays usable for another restore)."""
        self.received_message, ratchet = snapshot
        self._ratchet.restore(ratchet)

    # --- stored state ----------------------------------------------------------------------------

    def to_dict(self) -> State:
        """The session as a JSON-able dict (secret keys included: store it encrypted, never log it)."""
        keys = self.session_keys
        return OLM_SESSION.new(
            identity_key=put_bytes(keys.identity_key),
            base_key=put_bytes(keys.base_key),
            one_time_key=put_bytes(keys.one_time_key),
            received_message=self.received_message,
            ratchet=self._ratchet.to_dict(),
        )

    @classmethod
    def from_dict(cls, provider: CryptoProvider, data: object) -> Session:
        state = OLM_SESSION.open(data)
        keys = SessionKeys(
            get_bytes(state, "identity_key", KEY_LENGTH),
            get_bytes(state, "base_key", KEY_LENGTH),
            get_bytes(state, "one_time_key", KEY_LENGTH),
        )
        ratchet_data = state.get("ratchet")
        if not isinstance(ratchet_data, dict):
            raise DecodeError(f"{OLM_SESSION.kind}: ratchet missing")
        return cls(
            provider, keys, Ratchet.from_dict(provider, ratchet_data), get_bool(state, "received_message")
        )


async def _triple_dh(
    provider: CryptoProvider, pairs: tuple[tuple[bytes, bytes], tuple[bytes, bytes], tuple[bytes, bytes]]
) -> bytes:
    parts = [await provider.x25519(private_key, public_key) for private_key, public_key in pairs]
    return b"".join(parts)


async def create_outbound(
    provider: CryptoProvider,
    identity_private_key: bytes,
    identity_key: bytes,
    their_identity_key: bytes,
    their_one_time_key: bytes,
) -> Session:
    """Alice's side: a fresh base key and ratchet key, the triple DH, the first sending chain."""
    base_private_key, base_key = await provider.x25519_generate()
    ratchet_private_key, ratchet_key = await provider.x25519_generate()
    secret = await _triple_dh(
        provider,
        (
            (identity_private_key, their_one_time_key),
            (base_private_key, their_identity_key),
            (base_private_key, their_one_time_key),
        ),
    )
    root_key, chain_key = initial_root(secret)
    ratchet = Ratchet(provider, root_key, SenderChain(ratchet_private_key, ratchet_key, chain_key))
    return Session(provider, SessionKeys(identity_key, base_key, their_one_time_key), ratchet, False)


async def create_inbound(
    provider: CryptoProvider, identity_private_key: bytes, one_time_private_key: bytes, message: PreKeyMessage
) -> tuple[Session, bytes]:
    """Bob's side: the triple DH from the pre-key message, then decrypt its first message.

    Raises as ``Session.decrypt``; no session exists unless the first message verifies."""
    secret = await _triple_dh(
        provider,
        (
            (one_time_private_key, message.identity_key),
            (identity_private_key, message.base_key),
            (one_time_private_key, message.base_key),
        ),
    )
    root_key, chain_key = initial_root(secret)
    ratchet = Ratchet(provider, root_key, None, [ReceiverChain(message.message.ratchet_key, chain_key)])
    keys = SessionKeys(message.identity_key, message.base_key, message.one_time_key)
    session = Session(provider, keys, ratchet, False)
    plaintext = await session.decrypt(message)
    return session, plaintext
