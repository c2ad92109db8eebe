"""HPKE base mode (RFC 9180) for DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-128-GCM.

This is the HPKE of MLS cipher suite 0x0001 (RFC 9420 section 5.1). Only ``mode_base`` is provided:
MLS uses no PSK or authenticated HPKE modes.

Public API (all on a ``CryptoProvider``; ``async`` where X25519 or AES-GCM is used):

* ``derive_key_pair(provider, ikm) -> (X25519PrivateKey, public)``: RFC 9180 section 7.1.3.
* ``generate_key_pair(provider)``: ``derive_key_pair`` on 32 fresh random bytes.
* ``setup_base_s(provider, pk_r, info, ikm_e=None) -> (enc, SenderContext)``; ``ikm_e`` pins the
  ephemeral key for known-answer tests.
* ``setup_base_r(provider, enc, sk_r, info) -> RecipientContext``.
* ``SenderContext.seal(aad, pt)``, ``RecipientContext.open(aad, ct)``, ``Context.export(ctx, length)``.
* ``seal_base(provider, pk_r, info, aad, pt) -> (enc, ct)`` and ``open_base(provider, enc, sk_r, info,
  aad, ct) -> pt``: the single-shot API (RFC 9180 section 6.1).

A failed ``open`` raises ``AuthenticationError``; a wrong-length key raises ``KeyLengthError``;
a low-order peer key raises ``CryptoError``. This module does no I/O.
"""

from __future__ import annotations

from pyfront.crypto.provider import (
    CryptoProvider,
    SharedSecret,
    SymmetricKey,
    X25519PrivateKey,
    require_length,
)
from pyfront.errors import LimitError

KEM_ID = 0x0020  # DHKEM(X25519, HKDF-SHA256)
KDF_ID = 0x0001  # HKDF-SHA256
AEAD_ID = 0x0001  # AES-128-GCM

N_SECRET = 32
N_ENC = 32
N_PK = 32
N_SK = 32
N_H = 32
N_K = 16
N_N = 12
N_T = 16

MODE_BASE = 0x00

#: Largest sequence number before the nonce would repeat (RFC 9180 section 5.2: 2**(8*Nn) - 1).
MAX_SEQUENCE = (1 << (8 * N_N)) - 1

_VERSION = b"HPKE-v1"
_KEM_SUITE_ID = b"KEM" + KEM_ID.to_bytes(2, "big")
_HPKE_SUITE_ID = b"HPKE" + KEM_ID.to_bytes(2, "big") + KDF_ID.to_bytes(2, "big") + AEAD_ID.to_bytes(2, "big")


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return CryptoProvider.hkdf_extract("sha256", salt, _VERSION + suite_id + label + ikm)


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled_info = length.to_bytes(2, "big") + _VERSION + suite_id + label + info
    return CryptoProvider.hkdf_expand("sha256", prk, labeled_info, length)


async def derive_key_pair(provider: CryptoProvider, ikm: bytes) -> tuple[X25519PrivateKey, bytes]:
    """DeriveKeyPair for X25519 (RFC 9180 section 7.1.3)."""
    dkp_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"dkp_prk", ikm)
    private_key = X25519PrivateKey(_labeled_expand(_KEM_SUITE_ID, dkp_prk, b"sk", b"", N_SK))
    return private_key, await provider.x25519_public_key(private_key)


async def generate_key_pair(provider: CryptoProvider) -> tuple[X25519PrivateKey, bytes]:
    return await derive_key_pair(provider, provider.random_bytes(N_SK))


def _extract_and_expand(dh: bytes, kem_context: bytes) -> SharedSecret:
    eae_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"eae_prk", dh)
    return SharedSecret(_labeled_expand(_KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, N_SECRET))


async def encap(
    provider: CryptoProvider, pk_r: bytes, ikm_e: bytes | None = None
) -> tuple[SharedSecret, bytes]:
    """DHKEM Encap: ``(shared_secret, enc)``."""
    require_length("HPKE recipient public key", pk_r, N_PK)
    if ikm_e is None:
        sk_e, pk_e = await generate_key_pair(provider)
    else:
        sk_e, pk_e = await derive_key_pair(provider, ikm_e)
    dh = await provider.x25519(sk_e, pk_r)
    return _extract_and_expand(dh, pk_e + pk_r), pk_e


async def decap(provider: CryptoProvider, enc: bytes, sk_r: bytes) -> SharedSecret:
    """DHKEM Decap."""
    require_length("HPKE enc", enc, N_ENC)
    require_length("HPKE recipient private key", sk_r, N_SK)
    dh = await provider.x25519(sk_r, enc)
    pk_r = await provider.x25519_public_key(sk_r)
    return _extract_and_expand(dh, enc + pk_r)


class Context:
    """The HPKE encryption context (RFC 9180 section 5.2): key, base nonce, sequence, exporter secret."""

    __slots__ = ("_base_nonce", "_exporter_secret", "_key", "_provider", "_sequence")

    def __init__(
        self, provider: CryptoProvider, key: bytes, base_nonce: bytes, exporter_secret: bytes
    ) -> None:
        self._provider = provider
        self._key = SymmetricKey(key)
        self._base_nonce = base_nonce
        self._exporter_secret = SymmetricKey(exporter_secret)
        self._sequence = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} seq={self._sequence}>"

    def _next_nonce(self) -> bytes:
        if self._sequence >= MAX_SEQUENCE:
            raise LimitError("HPKE: message limit reached")
        nonce = (int.from_bytes(self._base_nonce, "big") ^ self._sequence).to_bytes(N_N, "big")
        return nonce

    def export(self, exporter_context: bytes, length: int) -> bytes:
        return _labeled_expand(_HPKE_SUITE_ID, self._exporter_secret, b"sec", exporter_context, length)


class SenderContext(Context):
    async def seal(self, aad: bytes, plaintext: bytes) -> bytes:
        ciphertext = await self._provider.aes_gcm_encrypt(self._key, self._next_nonce(), plaintext, aad)
        self._sequence += 1
        return ciphertext


class RecipientContext(Context):
    async def open(self, aad: bytes, ciphertext: bytes) -> bytes:
        plaintext = await self._provider.aes_gcm_decrypt(self._key, self._next_nonce(), ciphertext, aad)
        self._sequence += 1
        return plaintext


def _key_schedule(shared_secret: bytes, info: bytes) -> tuple[bytes, bytes, bytes]:
    psk_id_hash = _labeled_extract(_HPKE_SUITE_ID, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(_HPKE_SUITE_ID, b"", b"info_hash", info)
    key_schedule_context = bytes((MODE_BASE,)) + psk_id_hash + info_hash
    secret = _labeled_extract(_HPKE_SUITE_ID, shared_secret, b"secret", b"")
    key = _labeled_expand(_HPKE_SUITE_ID, secret, b"key", key_schedule_context, N_K)
    base_nonce = _labeled_expand(_HPKE_SUITE_ID, secret, b"base_nonce", key_schedule_context, N_N)
    exporter_secret = _labeled_expand(_HPKE_SUITE_ID, secret, b"exp", key_schedule_context, N_H)
    return key, base_nonce, exporter_secret


async def setup_base_s(
    provider: CryptoProvider, pk_r: bytes, info: bytes, ikm_e: bytes | None = None
) -> tuple[bytes, SenderContext]:
    shared_secret, enc = await encap(provider, pk_r, ikm_e)
    return enc, SenderContext(provider, *_key_schedule(shared_secret, info))


async def setup_base_r(provider: CryptoProvider, enc: bytes, sk_r: bytes, info: bytes) -> RecipientContext:
    shared_secret = await decap(provider, enc, sk_r)
    return RecipientContext(provider, *_key_schedule(shared_secret, info))


async def seal_base(
    provider: CryptoProvider,
    pk_r: bytes,
    info: bytes,
    aad: bytes,
    plaintext: bytes,
    *,
    ikm_e: bytes | None = None,
) -> tuple[bytes, bytes]:
    """Single-shot encryption: ``(enc, ciphertext)``."""
    enc, context = await setup_base_s(provider, pk_r, info, ikm_e)
    return enc, await context.seal(aad, plaintext)


async def open_base(  # noqa: PLR0917 - RFC 9180's OpenBase parameter list
    provider: CryptoProvider, enc: bytes, sk_r: bytes, info: bytes, aad: bytes, ciphertext: bytes
) -> bytes:
    """Single-shot decryption; raises ``AuthenticationError`` if the ciphertext does not verify."""
    context = await setup_base_r(provider, enc, sk_r, info)
    return await context.open(aad, ciphertext)
