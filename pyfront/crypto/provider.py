"""The one interface through which protocol code reaches cryptographic primitives.

Olm, MLS, the ML-KEM layer, the outer AEAD and storage receive a ``CryptoProvider`` and never import a
crypto library themselves (DESIGN.md section 5, STYLE.md principle 4). Two implementations exist:
``native`` (the ``cryptography`` package, CPython) and ``webcrypto`` (the browser's ``crypto.subtle``
through Pyodide's ``js`` module). Both must give identical results on the same known-answer vectors.

Calling conventions:

* Keys cross this interface as raw bytes in the encodings the specs use: X25519 private keys as the
  32-byte scalar, Ed25519 private keys as the 32-byte seed (RFC 8032), ML-KEM-768 decapsulation keys as
  the 64-byte seed ``d || z`` (FIPS 203), public keys in their raw encodings.
* Operations that WebCrypto exposes as promises are ``async`` here. Hashes, HMAC and HKDF are
  synchronous and use Python's standard library in both runtimes: they are identical everywhere, cheap,
  and an FFI round trip per HMAC would dominate the cost of the Double Ratchet in the browser.
* Randomness is synchronous and injectable (``random_bytes``), so tests and vectors are reproducible.

Errors are the project's: ``KeyLengthError`` for wrong lengths, ``AuthenticationError`` when a tag or
padding check fails, ``CryptoError`` for refused inputs (e.g. an all-zero X25519 shared secret).

This module does no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Literal, Protocol

from pyfront.errors import CryptoError, KeyLengthError

HashName = Literal["sha256", "sha512"]


class Sha256Stream(Protocol):
    """What ``CryptoProvider.sha256_stream`` returns (``hashlib``'s object, in both runtimes)."""

    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


HASH_LENGTHS: dict[str, int] = {"sha256": 32, "sha512": 64}

AES_GCM_NONCE_LENGTH = 12
AES_GCM_TAG_LENGTH = 16
AES_BLOCK = 16
X25519_KEY_LENGTH = 32
ED25519_SEED_LENGTH = 32
ED25519_PUBLIC_LENGTH = 32
ED25519_SIGNATURE_LENGTH = 64
MLKEM768_SEED_LENGTH = 64
MLKEM768_ENCAPSULATION_KEY_LENGTH = 1184
MLKEM768_CIPHERTEXT_LENGTH = 1088
MLKEM768_ENCAPS_RANDOMNESS_LENGTH = 32
MLKEM_SHARED_SECRET_LENGTH = 32
# Argon2id (RFC 9106 section 3.1) bounds: the RFC's minimums, and our own maxima so that parameters read
# from a stored vault or a peer cannot make a device allocate or loop without bound.
ARGON2ID_MIN_SALT_LENGTH = 8
ARGON2ID_MIN_OUTPUT_LENGTH = 4
ARGON2ID_MAX_OUTPUT_LENGTH = 1024
ARGON2ID_MAX_LANES = 64
ARGON2ID_MAX_MEMORY_KIB = 1 << 20  # 1 GiB
ARGON2ID_MAX_ITERATIONS = 64


class SecretBytes(bytes):
    """Bytes that never print: ``repr`` and ``str`` show a label and a length only.

    Subclasses name what the secret is, so a log line or a traceback says ``<AesKey 32 bytes>``.
    Slicing or concatenating gives plain ``bytes``; wrap the result again where it stays secret.
    """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self)} bytes>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)


class SymmetricKey(SecretBytes):
    """An AES or HMAC key."""


class X25519PrivateKey(SecretBytes):
    """A 32-byte X25519 scalar."""


class Ed25519Seed(SecretBytes):
    """A 32-byte Ed25519 private key seed (RFC 8032)."""


class MlKemSeed(SecretBytes):
    """A 64-byte ML-KEM-768 decapsulation key seed ``d || z`` (FIPS 203)."""


class SharedSecret(SecretBytes):
    """The output of a key agreement or a KEM."""


def constant_time_equal(left: bytes, right: bytes) -> bool:
    """Compare MACs, tags, keys and transcript hashes without leaking where they differ."""
    return hmac.compare_digest(left, right)


def require_length(name: str, value: bytes, *lengths: int) -> None:
    """Raise ``KeyLengthError`` unless ``len(value)`` is one of ``lengths``."""
    if len(value) not in lengths:
        expected = " or ".join(str(n) for n in lengths)
        raise KeyLengthError(f"{name}: expected {expected} bytes, got {len(value)}")


def require_pbkdf2_parameters(iterations: int, length: int) -> None:
    """Raise ``CryptoError`` for a non-positive iteration count, ``KeyLengthError`` for an empty output."""
    if iterations < 1:
        raise CryptoError(f"PBKDF2: iterations must be at least 1, got {iterations}")
    if length < 1:
        raise KeyLengthError(f"PBKDF2: output length must be at least 1 byte, got {length}")


def require_argon2id_parameters(
    salt: bytes, iterations: int, memory_kib: int, lanes: int, length: int
) -> None:
    """RFC 9106 section 3.1 constraints and the ``ARGON2ID_MAX_*`` limits; ``CryptoError`` otherwise."""
    require_range("Argon2id iterations", iterations, 1, ARGON2ID_MAX_ITERATIONS)
    require_range("Argon2id lanes", lanes, 1, ARGON2ID_MAX_LANES)
    require_range("Argon2id memory (KiB)", memory_kib, 8 * lanes, ARGON2ID_MAX_MEMORY_KIB)
    if len(salt) < ARGON2ID_MIN_SALT_LENGTH:
        raise KeyLengthError(f"Argon2id salt: at least {ARGON2ID_MIN_SALT_LENGTH} bytes, got {len(salt)}")
    if not ARGON2ID_MIN_OUTPUT_LENGTH <= length <= ARGON2ID_MAX_OUTPUT_LENGTH:
        raise KeyLengthError(
            f"Argon2id output: {ARGON2ID_MIN_OUTPUT_LENGTH}..{ARGON2ID_MAX_OUTPUT_LENGTH} bytes, got {length}"
        )


def require_range(name: str, value: int, lowest: int, highest: int) -> None:
    if not lowest <= value <= highest:
        raise CryptoError(f"{name}: expected {lowest}..{highest}, got {value}")


class CryptoProvider(ABC):
    """Primitives used by every layer. Implementations: ``NativeProvider``, ``WebCryptoProvider``."""

    name: ClassVar[str] = "abstract"

    def __init__(self, random_bytes: Callable[[int], bytes] | None = None) -> None:
        self._random = random_bytes

    # --- randomness ---------------------------------------------------------------------------------

    def random_bytes(self, length: int) -> bytes:
        """``length`` bytes from the CSPRNG, or from the injected source (tests, vectors)."""
        if self._random is not None:
            out = self._random(length)
            if len(out) != length:
                raise KeyLengthError(f"random source: expected {length} bytes, got {len(out)}")
            return out
        return self._system_random(length)

    @abstractmethod
    def _system_random(self, length: int) -> bytes: ...

    # --- hashes, HMAC, HKDF (standard library, synchronous, identical in both runtimes) ---------------

    @staticmethod
    def hash(name: HashName, data: bytes) -> bytes:
        return hashlib.new(name, data).digest()

    @staticmethod
    def sha256(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    @staticmethod
    def sha256_stream() -> Sha256Stream:
        """An incremental SHA-256 (``update(data)``, ``digest()``): a file's digest, chunk by chunk."""
        return hashlib.sha256()

    @staticmethod
    def sha512(data: bytes) -> bytes:
        return hashlib.sha512(data).digest()

    # ``hmac.digest`` is the one-shot form (no HMAC object is built); the ratchets call it tens of times
    # per message.

    @staticmethod
    def hmac(name: HashName, key: bytes, data: bytes) -> bytes:
        return hmac.digest(key, data, name)

    @staticmethod
    def hkdf_extract(name: HashName, salt: bytes, ikm: bytes) -> bytes:
        """RFC 5869 section 2.2. An empty salt means ``HashLen`` zero bytes."""
        return hmac.digest(salt or bytes(HASH_LENGTHS[name]), ikm, name)

    @staticmethod
    def hkdf_expand(name: HashName, prk: bytes, info: bytes, length: int) -> bytes:
        """RFC 5869 section 2.3."""
        hash_length = HASH_LENGTHS[name]
        if length <= hash_length:  # one block, the common case (keys, nonces, chain secrets)
            return hmac.digest(prk, info + b"\x01", name)[:length]
        if length > 255 * hash_length:
            raise KeyLengthError(f"hkdf_expand: at most {255 * hash_length} bytes, asked for {length}")
        blocks = []
        block = b""
        for counter in range(1, -(-length // hash_length) + 1):
            block = hmac.digest(prk, block + info + bytes((counter,)), name)
            blocks.append(block)
        return b"".join(blocks)[:length]

    @classmethod
    def hkdf(cls, name: HashName, salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
        return cls.hkdf_expand(name, cls.hkdf_extract(name, salt, ikm), info, length)

    # --- symmetric encryption ----------------------------------------------------------------------

    @abstractmethod
    async def aes_gcm_encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """AES-GCM with a 16-byte (AES-128) or 32-byte (AES-256) key and a 12-byte nonce.

        Returns ``ciphertext || tag`` (16-byte tag)."""

    @abstractmethod
    async def aes_gcm_decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """Inverse of ``aes_gcm_encrypt``; raises ``AuthenticationError`` if the tag does not verify."""

    @abstractmethod
    async def aes_cbc_encrypt(self, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
        """AES-256-CBC with PKCS#7 padding (as Olm uses it)."""

    @abstractmethod
    async def aes_cbc_decrypt(self, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        """Inverse of ``aes_cbc_encrypt``; raises ``AuthenticationError`` on bad padding."""

    # --- X25519 ------------------------------------------------------------------------------------

    @abstractmethod
    async def x25519_public_key(self, private_key: bytes) -> bytes:
        """The 32-byte public key of a 32-byte scalar."""

    @abstractmethod
    async def x25519(self, private_key: bytes, public_key: bytes) -> SharedSecret:
        """RFC 7748 X25519; raises ``CryptoError`` when the result is all zeros."""

    async def x25519_generate(self) -> tuple[X25519PrivateKey, bytes]:
        private_key = X25519PrivateKey(self.random_bytes(X25519_KEY_LENGTH))
        return private_key, await self.x25519_public_key(private_key)

    async def x25519_generate_and_agree(
        self, public_key: bytes
    ) -> tuple[X25519PrivateKey, bytes, SharedSecret]:
        """A fresh key pair and its agreement with ``public_key`` (a Double Ratchet step): exactly
        ``x25519_generate`` then ``x25519``; the browser provider does both in one promise."""
        private_key, own_public_key = await self.x25519_generate()
        return private_key, own_public_key, await self.x25519(private_key, public_key)

    # --- Ed25519 -----------------------------------------------------------------------------------

    @abstractmethod
    async def ed25519_public_key(self, seed: bytes) -> bytes:
        """The 32-byte public key of a 32-byte seed."""

    @abstractmethod
    async def ed25519_sign(self, seed: bytes, message: bytes) -> bytes:
        """A 64-byte RFC 8032 signature (deterministic)."""

    @abstractmethod
    async def ed25519_verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True if the signature verifies; False for any bad signature or malformed key."""

    async def ed25519_generate(self) -> tuple[Ed25519Seed, bytes]:
        seed = Ed25519Seed(self.random_bytes(ED25519_SEED_LENGTH))
        return seed, await self.ed25519_public_key(seed)

    # --- ML-KEM-768 (FIPS 203) ---------------------------------------------------------------------

    @property
    def mlkem768_explicit_randomness(self) -> bool:
        """True when ``mlkem768_encapsulate`` honours pinned ``randomness`` (FIPS 203 KATs).

        Backends that draw ``m`` themselves (``cryptography``, WebCrypto) raise ``CryptoError`` when
        given randomness; vectors then prove encapsulation by a round trip instead."""
        return False

    @abstractmethod
    async def mlkem768_public_key(self, seed: bytes) -> bytes:
        """The 1184-byte encapsulation key of a 64-byte seed ``d || z``."""

    @abstractmethod
    async def mlkem768_encapsulate(
        self, encapsulation_key: bytes, randomness: bytes | None = None
    ) -> tuple[bytes, SharedSecret]:
        """Returns ``(ciphertext, shared_secret)``. ``randomness`` (32 bytes) pins ``m`` for vectors."""

    @abstractmethod
    async def mlkem768_decapsulate(self, seed: bytes, ciphertext: bytes) -> SharedSecret:
        """The shared secret for ``ciphertext`` (implicit rejection gives a pseudorandom secret)."""

    async def mlkem768_generate(self) -> tuple[MlKemSeed, bytes]:
        seed = MlKemSeed(self.random_bytes(MLKEM768_SEED_LENGTH))
        return seed, await self.mlkem768_public_key(seed)

    # --- password-based key derivation (storage at rest) --------------------------------------------

    @abstractmethod
    async def pbkdf2_sha256(self, password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
        """PBKDF2-HMAC-SHA-256 (RFC 8018); implementations return a ``SymmetricKey``."""

    @property
    def argon2id_available(self) -> bool:
        """True when ``argon2id`` works in this runtime (native: ``cryptography``; browser: noble)."""
        return False

    async def argon2id(
        self,
        password: bytes,
        salt: bytes,
        *,
        iterations: int,
        memory_kib: int,
        lanes: int,
        length: int,
        secret: bytes = b"",
        associated_data: bytes = b"",
    ) -> bytes:
        """Argon2id version 0x13 (RFC 9106) as a ``SymmetricKey``; ``CryptoError`` where unavailable."""
        require_argon2id_parameters(salt, iterations, memory_kib, lanes, length)
        raise CryptoError(f"{self.name} provider: Argon2id is not available in this runtime")
