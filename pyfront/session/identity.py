"""Long-term identity, safety numbers and invite-link fingerprints (DESIGN.md section 5, "Identity").

A contact *is* its Ed25519 identity key; everything else (PeerJS ids, mailbox addresses) is a rendezvous
address. This module gives:

* ``Identity``: the local long-term Ed25519 key pair (the seed is a ``SecretBytes`` and never prints);
* ``safety_number``: Signal's numeric fingerprint, version 0 -- for each side ``SHA-512`` iterated
  ``SAFETY_NUMBER_ITERATIONS`` (5200) times over ``version(2) || key || stable_id`` then ``hash || key``;
  the first 30 bytes give 30 digits (six 5-byte big-endian chunks mod 100000); the two 30-digit halves
  are sorted and joined to 60 digits, shown as 12 groups of 5. Both sides compute the same string.
  Our stable identifier is the identity key itself (a contact has no other stable name).
* ``safety_qr_payload`` / ``verify_safety_qr``: a compact scannable form (version byte + both 32-byte
  fingerprints, as seen by the side that shows it);
* ``invite_fingerprint``: a URL-safe 160-bit fingerprint of an identity key for invite links.

See docs/protocol.md, "Identity". This module does no I/O.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from pyfront.crypto.provider import (
    ED25519_PUBLIC_LENGTH,
    CryptoProvider,
    Ed25519Seed,
    constant_time_equal,
    require_length,
)
from pyfront.errors import AuthenticationError, DecodeError
from pyfront.storage.migrations import IDENTITY

SAFETY_NUMBER_VERSION = 0
"""Signal's ``NumericFingerprintGenerator`` version (a 2-byte big-endian prefix)."""
SAFETY_NUMBER_ITERATIONS = 5200
"""Iterations of SHA-512 per side, as Signal uses."""
SAFETY_NUMBER_DIGITS = 60
SAFETY_NUMBER_GROUP = 5
SAFETY_QR_VERSION = 1
"""First byte of the scannable payload."""
SAFETY_QR_FINGERPRINT_LENGTH = 32
SAFETY_QR_LENGTH = 1 + 2 * SAFETY_QR_FINGERPRINT_LENGTH
INVITE_FINGERPRINT_LENGTH = 20
"""Bytes of SHA-256 kept in an invite fingerprint: 160 bits, second-preimage work 2**160."""
INVITE_FINGERPRINT_LABEL = b"parley invite fingerprint v1"


@dataclass(frozen=True)
class Identity:
    """The local long-term Ed25519 identity key pair."""

    seed: Ed25519Seed
    public_key: bytes

    @classmethod
    async def generate(cls, provider: CryptoProvider) -> Identity:
        seed, public_key = await provider.ed25519_generate()
        return cls(seed, public_key)

    @classmethod
    async def from_seed(cls, provider: CryptoProvider, seed: bytes) -> Identity:
        return cls(Ed25519Seed(seed), await provider.ed25519_public_key(seed))

    async def sign(self, provider: CryptoProvider, message: bytes) -> bytes:
        return await provider.ed25519_sign(self.seed, message)

    def to_dict(self) -> dict[str, Any]:
        return IDENTITY.new(seed=self.seed.hex(), public_key=self.public_key.hex())

    @classmethod
    async def from_dict(cls, provider: CryptoProvider, data: dict[str, Any]) -> Identity:
        """Restore and check that the stored public key matches the seed."""
        data = IDENTITY.open(data)
        try:
            seed = bytes.fromhex(data["seed"])
            public_key = bytes.fromhex(data["public_key"])
        except (KeyError, TypeError, ValueError) as error:
            raise DecodeError(f"{IDENTITY.kind}: malformed ({type(error).__name__})") from None
        require_length("identity seed", seed, 32)
        identity = await cls.from_seed(provider, seed)
        if not constant_time_equal(identity.public_key, public_key):
            raise DecodeError(f"{IDENTITY.kind}: public key does not match the seed")
        return identity

    def __repr__(self) -> str:
        return f"Identity(public_key={self.public_key.hex()[:16]}..., seed={self.seed!r})"


def _fingerprint(key: bytes, stable_id: bytes, iterations: int) -> bytes:
    digest = SAFETY_NUMBER_VERSION.to_bytes(2, "big") + key + stable_id
    for _ in range(iterations):
        digest = CryptoProvider.sha512(digest + key)
    return digest


def _thirty_digits(fingerprint: bytes) -> str:
    return "".join(
        f"{int.from_bytes(fingerprint[offset : offset + 5], 'big') % 100000:05d}"
        for offset in range(0, 30, 5)
    )


def numeric_fingerprint(
    local_key: bytes,
    local_id: bytes,
    remote_key: bytes,
    remote_id: bytes,
    iterations: int = SAFETY_NUMBER_ITERATIONS,
) -> str:
    """Signal's displayable fingerprint: 60 digits, the two sides' 30-digit halves in sorted order.

    Generic over the key encoding so that Signal's own known-answer vector applies unchanged."""
    local = _thirty_digits(_fingerprint(local_key, local_id, iterations))
    remote = _thirty_digits(_fingerprint(remote_key, remote_id, iterations))
    return local + remote if local <= remote else remote + local


def safety_number(local_key: bytes, remote_key: bytes) -> str:
    """The 60-digit safety number of two Ed25519 identity keys (stable identifier = the key itself)."""
    require_length("local identity key", local_key, ED25519_PUBLIC_LENGTH)
    require_length("remote identity key", remote_key, ED25519_PUBLIC_LENGTH)
    return numeric_fingerprint(local_key, local_key, remote_key, remote_key)


def format_safety_number(digits: str) -> str:
    """12 groups of 5 digits separated by spaces."""
    if len(digits) != SAFETY_NUMBER_DIGITS or not digits.isdigit():
        raise DecodeError(f"safety number: expected {SAFETY_NUMBER_DIGITS} digits")
    return " ".join(
        digits[i : i + SAFETY_NUMBER_GROUP] for i in range(0, SAFETY_NUMBER_DIGITS, SAFETY_NUMBER_GROUP)
    )


def safety_qr_payload(local_key: bytes, remote_key: bytes) -> bytes:
    """What the local side shows as a QR code: version, its own fingerprint, then the remote one."""
    require_length("local identity key", local_key, ED25519_PUBLIC_LENGTH)
    require_length("remote identity key", remote_key, ED25519_PUBLIC_LENGTH)
    local = _fingerprint(local_key, local_key, SAFETY_NUMBER_ITERATIONS)[:SAFETY_QR_FINGERPRINT_LENGTH]
    remote = _fingerprint(remote_key, remote_key, SAFETY_NUMBER_ITERATIONS)[:SAFETY_QR_FINGERPRINT_LENGTH]
    return bytes([SAFETY_QR_VERSION]) + local + remote


def verify_safety_qr(scanned: bytes, local_key: bytes, remote_key: bytes) -> None:
    """Check a payload scanned from the contact's screen; raise ``AuthenticationError`` on mismatch.

    The contact shows (their fingerprint, ours), so it must equal our payload with the halves swapped."""
    if len(scanned) != SAFETY_QR_LENGTH:
        raise DecodeError(f"safety QR: expected {SAFETY_QR_LENGTH} bytes, got {len(scanned)}")
    if scanned[0] != SAFETY_QR_VERSION:
        raise DecodeError(f"safety QR: unknown version {scanned[0]}")
    ours = safety_qr_payload(local_key, remote_key)
    half = 1 + SAFETY_QR_FINGERPRINT_LENGTH
    expected = bytes([SAFETY_QR_VERSION]) + ours[half:] + ours[1:half]
    if not constant_time_equal(scanned, expected):
        raise AuthenticationError("safety QR: fingerprints do not match these identity keys")


def invite_fingerprint(identity_key: bytes) -> str:
    """URL-safe base64 (no padding) of the first 20 bytes of SHA-256(label || key): 27 characters."""
    require_length("identity key", identity_key, ED25519_PUBLIC_LENGTH)
    digest = CryptoProvider.sha256(INVITE_FINGERPRINT_LABEL + identity_key)[:INVITE_FINGERPRINT_LENGTH]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def decode_invite_fingerprint(text: str) -> bytes:
    """Strictly decode an invite fingerprint; ``DecodeError`` for anything but 27 URL-safe characters."""
    expected_chars = (INVITE_FINGERPRINT_LENGTH * 8 + 5) // 6
    if len(text) != expected_chars or not all(c.isascii() and (c.isalnum() or c in "-_") for c in text):
        raise DecodeError(f"invite fingerprint: expected {expected_chars} URL-safe base64 characters")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise DecodeError("invite fingerprint: not base64") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise DecodeError("invite fingerprint: non-canonical encoding")
    return raw


def matches_invite_fingerprint(text: str, identity_key: bytes) -> bool:
    """True when ``identity_key`` is the key the invite fingerprint names (constant-time compare)."""
    decode_invite_fingerprint(text)
    return constant_time_equal(text.encode("ascii"), invite_fingerprint(identity_key).encode("ascii"))
