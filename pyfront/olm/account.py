"""An Olm account: identity keys, one-time keys, fallback keys, signatures, and session creation.

libolm docs/olm.md ("Initial setup") and libolm ``account.cpp`` / vodozemac ``olm/account``: an account
holds a long-term Curve25519 identity key ``I`` and an Ed25519 signing key, plus one-time Curve25519
keys that peers fetch to start sessions with it. A fallback key stands in when the one-time keys run
out; it is not removed when used, and the previous one is kept until ``forget_old_fallback_key``.

* Key ids are libolm's: a 32-bit counter, unpadded base64 of its big-endian bytes (``AAAAAQ`` first).
* At most ``MAX_ONE_TIME_KEYS`` (100, as libolm's ``MAX_ONE_TIME_KEYS``) are held; generating more
  forgets the oldest, as libolm and vodozemac do.
* One-time and fallback keys are published with ``sign_key`` signatures (``signing.py``).
* A one-time key is removed as soon as an inbound session was created with it (the first message
  verified); a message that fails to verify consumes nothing.

This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyfront.crypto.provider import (
    ED25519_PUBLIC_LENGTH,
    ED25519_SEED_LENGTH,
    X25519_KEY_LENGTH,
    CryptoProvider,
    Ed25519Seed,
    X25519PrivateKey,
    require_length,
)
from pyfront.errors import AuthenticationError, InvalidStateError, LimitError
from pyfront.olm.encoding import encode_base64
from pyfront.olm.messages import PreKeyMessage
from pyfront.olm.session import Session, create_inbound, create_outbound
from pyfront.olm.signing import signed_key_payload
from pyfront.olm.state import (
    State,
    get_bool,
    get_bytes,
    get_int,
    get_list,
    get_optional,
    put_bytes,
)
from pyfront.storage.migrations import OLM_ACCOUNT

MAX_ONE_TIME_KEYS = 100
MAX_KEY_ID = (1 << 32) - 1


class UnknownOneTimeKeyError(InvalidStateError):
    """A pre-key message names a one-time key this account does not hold (used, forgotten or foreign)."""


class IdentityKeyMismatchError(AuthenticationError):
    """A pre-key message carries another identity key than the one the caller expects."""


def key_id_text(key_id: int) -> str:
    """libolm's key id text: unpadded base64 of the 32-bit big-endian id."""
    return encode_base64(key_id.to_bytes(4, "big"))


@dataclass(slots=True)
class OneTimeKey:
    """A Curve25519 one-time (or fallback) key pair with its id and whether it has been published."""

    key_id: int
    private_key: X25519PrivateKey
    public_key: bytes
    published: bool = False

    def to_dict(self) -> State:
        return {
            "key_id": self.key_id,
            "private_key": put_bytes(self.private_key),
            "public_key": put_bytes(self.public_key),
            "published": self.published,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OneTimeKey:
        return cls(
            get_int(data, "key_id", MAX_KEY_ID),
            X25519PrivateKey(get_bytes(data, "private_key", X25519_KEY_LENGTH)),
            get_bytes(data, "public_key", X25519_KEY_LENGTH),
            get_bool(data, "published"),
        )


class Account:
    """An Olm account. Create with ``await Account.create(provider)`` or restore with ``from_dict``."""

    __slots__ = (
        "_fallback_key",
        "_identity_private_key",
        "_next_key_id",
        "_one_time_keys",
        "_previous_fallback_key",
        "_signing_seed",
        "identity_keys",
        "provider",
    )

    def __init__(
        self,
        provider: CryptoProvider,
        *,
        identity_private_key: X25519PrivateKey,
        identity_key: bytes,
        signing_seed: Ed25519Seed,
        signing_key: bytes,
        one_time_keys: list[OneTimeKey] | None = None,
        next_key_id: int = 0,
        fallback_key: OneTimeKey | None = None,
        previous_fallback_key: OneTimeKey | None = None,
    ) -> None:
        self.provider = provider
        self._identity_private_key = identity_private_key
        self._signing_seed = signing_seed
        #: ``(curve25519 public key, ed25519 public key)``, raw 32 bytes each.
        self.identity_keys: tuple[bytes, bytes] = (identity_key, signing_key)
        self._one_time_keys: list[OneTimeKey] = one_time_keys or []  # oldest first
        self._next_key_id = next_key_id
        self._fallback_key = fallback_key
        self._previous_fallback_key = previous_fallback_key

    @classmethod
    async def create(cls, provider: CryptoProvider) -> Account:
        identity_private_key, identity_key = await provider.x25519_generate()
        signing_seed, signing_key = await provider.ed25519_generate()
        return cls(
            provider,
            identity_private_key=identity_private_key,
            identity_key=identity_key,
            signing_seed=signing_seed,
            signing_key=signing_key,
        )

    def __repr__(self) -> str:
        return f"<olm.Account {encode_base64(self.identity_keys[0])}>"

    # --- signatures ------------------------------------------------------------------------------

    async def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature by the account's signing key."""
        return await self.provider.ed25519_sign(self._signing_seed, message)

    async def sign_key(self, public_key: bytes, *, fallback: bool = False) -> bytes:
        """The signature that publishes a one-time (or fallback) key (``signing.signed_key_payload``)."""
        return await self.sign(signed_key_payload(public_key, fallback=fallback))

    # --- one-time and fallback keys --------------------------------------------------------------

    def _new_key_id(self) -> int:
        if self._next_key_id >= MAX_KEY_ID:
            raise LimitError(f"Olm account: key ids exhausted ({MAX_KEY_ID})")
        self._next_key_id += 1
        return self._next_key_id

    async def generate_one_time_keys(self, count: int) -> None:
        """Add ``count`` unpublished one-time keys, forgetting the oldest beyond ``MAX_ONE_TIME_KEYS``."""
        if not 0 <= count <= MAX_ONE_TIME_KEYS:
            raise LimitError(f"Olm account: asked for {count} one-time keys, 0..{MAX_ONE_TIME_KEYS} allowed")
        for _ in range(count):
            private_key, public_key = await self.provider.x25519_generate()
            self._one_time_keys.append(OneTimeKey(self._new_key_id(), private_key, public_key))
        del self._one_time_keys[:-MAX_ONE_TIME_KEYS]

    @property
    def one_time_keys(self) -> dict[str, bytes]:
        """Unpublished one-time keys: key id text -> raw Curve25519 public key."""
        return {key_id_text(key.key_id): key.public_key for key in self._one_time_keys if not key.published}

    @property
    def fallback_key(self) -> dict[str, bytes]:
        """The current fallback key if it is unpublished (empty otherwise), like ``one_time_keys``."""
        key = self._fallback_key
        if key is None or key.published:
            return {}
        return {key_id_text(key.key_id): key.public_key}

    def mark_keys_as_published(self) -> None:
        """Mark every one-time key and the current fallback key as published."""
        for key in self._one_time_keys:
            key.published = True
        if self._fallback_key is not None:
            self._fallback_key.published = True

    async def generate_fallback_key(self) -> None:
        """Make a new fallback key; the current one is kept as the previous one."""
        private_key, public_key = await self.provider.x25519_generate()
        self._previous_fallback_key = self._fallback_key
        self._fallback_key = OneTimeKey(self._new_key_id(), private_key, public_key)

    def forget_old_fallback_key(self) -> None:
        """Drop the previous fallback key (once peers have had time to stop using it)."""
        self._previous_fallback_key = None

    # --- sessions --------------------------------------------------------------------------------

    async def create_outbound_session(self, identity_key: bytes, one_time_key: bytes) -> Session:
        """A session to the account with Curve25519 ``identity_key`` using its ``one_time_key``."""
        require_length("Olm identity key", identity_key, X25519_KEY_LENGTH)
        require_length("Olm one-time key", one_time_key, X25519_KEY_LENGTH)
        return await create_outbound(
            self.provider, self._identity_private_key, self.identity_keys[0], identity_key, one_time_key
        )

    async def create_inbound_session(
        self, identity_key: bytes, message: PreKeyMessage
    ) -> tuple[Session, bytes]:
        """The session a peer with ``identity_key`` started with ``message``, and its first plaintext.

        The one-time key the message used is removed once the message has verified. Raises
        ``IdentityKeyMismatchError``, ``UnknownOneTimeKeyError``, or as ``Session.decrypt``."""
        if message.identity_key != identity_key:
            raise IdentityKeyMismatchError("Olm: pre-key message is from another identity key")
        one_time_key = next(
            (key for key in self._one_time_keys if key.public_key == message.one_time_key), None
        )
        used = one_time_key
        if used is None:
            used = next(
                (
                    key
                    for key in (self._fallback_key, self._previous_fallback_key)
                    if key is not None and key.public_key == message.one_time_key
                ),
                None,
            )
        if used is None:
            raise UnknownOneTimeKeyError(
                "Olm: pre-key message uses a one-time key this account does not hold"
            )
        session, plaintext = await create_inbound(
            self.provider, self._identity_private_key, used.private_key, message
        )
        if one_time_key is not None:
            self._one_time_keys.remove(one_time_key)
        return session, plaintext

    # --- stored state ----------------------------------------------------------------------------

    def to_dict(self) -> State:
        """The account as a JSON-able dict (secret keys included: store it encrypted, never log it)."""
        return OLM_ACCOUNT.new(
            identity_private_key=put_bytes(self._identity_private_key),
            identity_key=put_bytes(self.identity_keys[0]),
            signing_seed=put_bytes(self._signing_seed),
            signing_key=put_bytes(self.identity_keys[1]),
            one_time_keys=[key.to_dict() for key in self._one_time_keys],
            next_key_id=self._next_key_id,
            fallback_key=None if self._fallback_key is None else self._fallback_key.to_dict(),
            previous_fallback_key=None
            if self._previous_fallback_key is None
            else self._previous_fallback_key.to_dict(),
        )

    @classmethod
    def from_dict(cls, provider: CryptoProvider, data: object) -> Account:
        state = OLM_ACCOUNT.open(data)
        fallback = get_optional(state, "fallback_key")
        previous = get_optional(state, "previous_fallback_key")
        return cls(
            provider,
            identity_private_key=X25519PrivateKey(
                get_bytes(state, "identity_private_key", X25519_KEY_LENGTH)
            ),
            identity_key=get_bytes(state, "identity_key", X25519_KEY_LENGTH),
            signing_seed=Ed25519Seed(get_bytes(state, "signing_seed", ED25519_SEED_LENGTH)),
            signing_key=get_bytes(state, "signing_key", ED25519_PUBLIC_LENGTH),
            one_time_keys=[
                OneTimeKey.from_dict(key) for key in get_list(state, "one_time_keys", MAX_ONE_TIME_KEYS)
            ],
            next_key_id=get_int(state, "next_key_id", MAX_KEY_ID),
            fallback_key=None if fallback is None else OneTimeKey.from_dict(fallback),
            previous_fallback_key=None if previous is None else OneTimeKey.from_dict(previous),
        )
