"""MLS cipher suite 0x0001: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (RFC 9420 sections 5.1-5.3).

The labelled helpers every other MLS module builds on. Hash, KDF and HMAC are synchronous (the
provider's standard-library statics); signatures, HPKE and AEAD are ``async`` on a ``CryptoProvider``.

Public API:

* constants ``CIPHER_SUITE`` (1), ``NH`` (32, hash/KDF output), ``NK`` (16, AEAD key), ``NN`` (12, nonce),
  ``NT`` (16, tag), ``SIGNATURE_LENGTH``, ``SIGNATURE_PUBLIC_KEY_LENGTH``, ``HPKE_PUBLIC_KEY_LENGTH``.
* ``hash(data)``, ``mac(key, data)``, ``extract(salt, ikm)``, ``expand(secret, info, length)``.
* ``expand_with_label(secret, label, context, length)``, ``derive_secret(secret, label)``,
  ``derive_tree_secret(secret, label, generation, length)`` (section 5.1.2 / 9).
* ``ref_hash(label, value)``, ``make_key_package_ref(kp)``, ``make_proposal_ref(authenticated_content)``
  (section 5.2).
* ``async sign_with_label(provider, signature_key, label, content)`` and
  ``async verify_with_label(provider, public_key, label, content, signature) -> bool`` (section 5.1.2).
* ``async encrypt_with_label(provider, public_key, label, context, plaintext) -> (kem_output, ct)`` and
  ``async decrypt_with_label(provider, private_key, label, context, kem_output, ct)`` (section 5.1.3).
* ``async derive_key_pair(provider, secret)``: HPKE DeriveKeyPair (used for tree node keys).
* ``async aead_encrypt(provider, key, nonce, plaintext, aad)`` / ``aead_decrypt`` (AES-128-GCM).

This module does no I/O.
"""

from __future__ import annotations

import functools

from pyfront.crypto.provider import CryptoProvider, X25519PrivateKey, require_length
from pyfront.errors import KeyLengthError
from pyfront.mls import hpke
from pyfront.mls.codec import encode_varint

CIPHER_SUITE = 0x0001
NH = 32
NK = 16
NN = 12
NT = 16
SIGNATURE_LENGTH = 64
SIGNATURE_PUBLIC_KEY_LENGTH = 32
SIGNATURE_PRIVATE_KEY_LENGTH = 32
HPKE_PUBLIC_KEY_LENGTH = hpke.N_PK
HPKE_PRIVATE_KEY_LENGTH = hpke.N_SK

_LABEL_PREFIX = b"MLS 1.0 "


def _opaque(data: bytes) -> bytes:
    return encode_varint(len(data)) + data


def hash(data: bytes) -> bytes:
    return CryptoProvider.sha256(data)


def mac(key: bytes, data: bytes) -> bytes:
    return CryptoProvider.hmac("sha256", key, data)


def extract(salt: bytes, ikm: bytes) -> bytes:
    """KDF.Extract. MLS passes explicit zero-length salts; HKDF turns those into ``NH`` zero bytes."""
    return CryptoProvider.hkdf_extract("sha256", salt, ikm)


def expand(secret: bytes, info: bytes, length: int) -> bytes:
    return CryptoProvider.hkdf_expand("sha256", secret, info, length)


@functools.lru_cache(maxsize=128)
def _kdf_label_head(length: int, label: str | bytes) -> bytes:
    """``uint16 length || label<V>`` of a KDFLabel (the labels are a few constants, so this is cached)."""
    label_bytes = label.encode() if isinstance(label, str) else label
    return length.to_bytes(2, "big") + _opaque(_LABEL_PREFIX + label_bytes)


def expand_with_label(secret: bytes, label: str | bytes, context: bytes, length: int) -> bytes:
    """ExpandWithLabel (RFC 9420 section 8): KDFLabel = {uint16 length; label<V>; context<V>}."""
    info = _kdf_label_head(length, label) + _opaque(context)
    return expand(secret, info, length)


def derive_secret(secret: bytes, label: str | bytes) -> bytes:
    return expand_with_label(secret, label, b"", NH)


def derive_tree_secret(secret: bytes, label: str | bytes, generation: int, length: int) -> bytes:
    return expand_with_label(secret, label, generation.to_bytes(4, "big"), length)


def ref_hash(label: str | bytes, value: bytes) -> bytes:
    """RefHash (section 5.2): Hash(RefHashInput{label<V>; value<V>}); the label has no prefix added."""
    label_bytes = label.encode() if isinstance(label, str) else label
    return hash(_opaque(label_bytes) + _opaque(value))


def make_key_package_ref(key_package: bytes) -> bytes:
    return ref_hash(b"MLS 1.0 KeyPackage Reference", key_package)


def make_proposal_ref(authenticated_content: bytes) -> bytes:
    return ref_hash(b"MLS 1.0 Proposal Reference", authenticated_content)


def _sign_content(label: str | bytes, content: bytes) -> bytes:
    label_bytes = label.encode() if isinstance(label, str) else label
    return _opaque(_LABEL_PREFIX + label_bytes) + _opaque(content)


async def sign_with_label(
    provider: CryptoProvider, signature_key: bytes, label: str | bytes, content: bytes
) -> bytes:
    """SignWithLabel (section 5.1.2): Ed25519 over SignContent{label<V>; content<V>}."""
    require_length("MLS signature private key", signature_key, SIGNATURE_PRIVATE_KEY_LENGTH)
    return await provider.ed25519_sign(signature_key, _sign_content(label, content))


async def verify_with_label(
    provider: CryptoProvider, public_key: bytes, label: str | bytes, content: bytes, signature: bytes
) -> bool:
    """VerifyWithLabel: False for a bad signature, a wrong-length signature or a malformed key."""
    if len(public_key) != SIGNATURE_PUBLIC_KEY_LENGTH or len(signature) != SIGNATURE_LENGTH:
        return False
    return await provider.ed25519_verify(public_key, _sign_content(label, content), signature)


def _encrypt_context(label: str | bytes, context: bytes) -> bytes:
    label_bytes = label.encode() if isinstance(label, str) else label
    return _opaque(_LABEL_PREFIX + label_bytes) + _opaque(context)


async def encrypt_with_label(
    provider: CryptoProvider,
    public_key: bytes,
    label: str | bytes,
    context: bytes,
    plaintext: bytes,
    *,
    ikm_e: bytes | None = None,
) -> tuple[bytes, bytes]:
    """EncryptWithLabel (section 5.1.3): HPKE SealBase with info = EncryptContext; ``(kem_output, ct)``."""
    info = _encrypt_context(label, context)
    return await hpke.seal_base(provider, public_key, info, b"", plaintext, ikm_e=ikm_e)


async def decrypt_with_label(  # noqa: PLR0917 - RFC 9420's DecryptWithLabel parameters
    provider: CryptoProvider,
    private_key: bytes,
    label: str | bytes,
    context: bytes,
    kem_output: bytes,
    ciphertext: bytes,
) -> bytes:
    """DecryptWithLabel; raises ``AuthenticationError`` (tag) or ``CryptoError`` (bad key share)."""
    return await hpke.open_base(
        provider, kem_output, private_key, _encrypt_context(label, context), b"", ciphertext
    )


async def derive_key_pair(provider: CryptoProvider, secret: bytes) -> tuple[X25519PrivateKey, bytes]:
    """The HPKE key pair of a tree node secret (section 7.4: DeriveKeyPair(node_secret))."""
    return await hpke.derive_key_pair(provider, secret)


async def aead_encrypt(
    provider: CryptoProvider, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes
) -> bytes:
    if len(key) != NK:
        raise KeyLengthError(f"MLS AEAD key: expected {NK} bytes, got {len(key)}")
    return await provider.aes_gcm_encrypt(key, nonce, plaintext, aad)


async def aead_decrypt(
    provider: CryptoProvider, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes
) -> bytes:
    if len(key) != NK:
        raise KeyLengthError(f"MLS AEAD key: expected {NK} bytes, got {len(key)}")
    return await provider.aes_gcm_decrypt(key, nonce, ciphertext, aad)
