"""The CPython provider, on the ``cryptography`` package (>= 48 for ML-KEM-768).

The methods are ``async`` to match the interface; they complete without awaiting anything.

Hot-path costs (bench/cascade.py): building an X25519 or Ed25519 private key object from its bytes
computes the public key (a scalar multiplication, as costly as the operation itself), so

* Ed25519 signing keys are kept as objects, ``SIGNING_KEY_CACHE_ENTRIES`` of them (least recently used
  dropped first): they are long-lived (identity, MLS signature keys) and sign every MLS message;
* the X25519 key object made by ``x25519_generate`` is handed to the next ``x25519`` with that private
  key and then dropped (``GENERATED_KEY_HANDOFF_ENTRIES`` at most wait): a Double Ratchet step generates a
  key and uses it at once, and no ratchet key outlives its use in a cache (forward secrecy).

Both caches are keyed by a SHA-256 of the key bytes, never the bytes; ``clear_key_cache`` empties them.
AES-CBC's PKCS#7 padding is done here on bytes rather than with a padder object per call.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from pyfront.crypto.provider import (
    AES_BLOCK,
    AES_GCM_NONCE_LENGTH,
    AES_GCM_TAG_LENGTH,
    ED25519_PUBLIC_LENGTH,
    ED25519_SEED_LENGTH,
    ED25519_SIGNATURE_LENGTH,
    MLKEM768_CIPHERTEXT_LENGTH,
    MLKEM768_ENCAPS_RANDOMNESS_LENGTH,
    MLKEM768_ENCAPSULATION_KEY_LENGTH,
    MLKEM768_SEED_LENGTH,
    X25519_KEY_LENGTH,
    CryptoProvider,
    SharedSecret,
    SymmetricKey,
    X25519PrivateKey,
    require_argon2id_parameters,
    require_length,
    require_pbkdf2_parameters,
)
from pyfront.errors import AuthenticationError, CryptoError

SIGNING_KEY_CACHE_ENTRIES = 16
"""Ed25519 private key objects kept per provider (0 disables the cache)."""
GENERATED_KEY_HANDOFF_ENTRIES = 8
"""X25519 key objects from ``x25519_generate`` waiting for their first ``x25519`` (oldest dropped)."""


def _slot(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


class NativeProvider(CryptoProvider):
    name = "native"

    def __init__(self, random_bytes: Callable[[int], bytes] | None = None) -> None:
        super().__init__(random_bytes)
        self._signing_keys: OrderedDict[bytes, ed25519.Ed25519PrivateKey] = OrderedDict()
        self._generated: OrderedDict[bytes, x25519.X25519PrivateKey] = OrderedDict()

    def clear_key_cache(self) -> None:
        """Drop every cached key object (e.g. when the app locks)."""
        self._signing_keys.clear()
        self._generated.clear()

    def _system_random(self, length: int) -> bytes:
        return os.urandom(length)

    async def aes_gcm_encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        require_length("AES-GCM key", key, 16, 32)
        require_length("AES-GCM nonce", nonce, AES_GCM_NONCE_LENGTH)
        return AESGCM(key).encrypt(nonce, plaintext, aad)

    async def aes_gcm_decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        require_length("AES-GCM key", key, 16, 32)
        require_length("AES-GCM nonce", nonce, AES_GCM_NONCE_LENGTH)
        if len(ciphertext) < AES_GCM_TAG_LENGTH:
            raise AuthenticationError("AES-GCM: ciphertext shorter than its tag")
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise AuthenticationError("AES-GCM: tag does not verify") from None

    async def aes_cbc_encrypt(self, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
        require_length("AES-CBC key", key, 32)
        require_length("AES-CBC iv", iv, AES_BLOCK)
        pad = AES_BLOCK - len(plaintext) % AES_BLOCK
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return encryptor.update(plaintext + bytes((pad,)) * pad) + encryptor.finalize()

    async def aes_cbc_decrypt(self, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        require_length("AES-CBC key", key, 32)
        require_length("AES-CBC iv", iv, AES_BLOCK)
        if not ciphertext or len(ciphertext) % AES_BLOCK:
            raise AuthenticationError("AES-CBC: ciphertext is not a whole number of blocks")
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        pad = padded[-1]
        # Olm verifies its MAC before it decrypts, so a padding check never sees a forged ciphertext.
        if not 1 <= pad <= AES_BLOCK or not hmac.compare_digest(padded[-pad:], bytes((pad,)) * pad):
            raise AuthenticationError("AES-CBC: invalid padding")
        return padded[:-pad]

    async def x25519_public_key(self, private_key: bytes) -> bytes:
        require_length("X25519 private key", private_key, X25519_KEY_LENGTH)
        return x25519.X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()

    async def x25519_generate(self) -> tuple[X25519PrivateKey, bytes]:
        private_key = X25519PrivateKey(self.random_bytes(X25519_KEY_LENGTH))
        key_object = x25519.X25519PrivateKey.from_private_bytes(private_key)
        if GENERATED_KEY_HANDOFF_ENTRIES > 0:
            self._generated[_slot(private_key)] = key_object
            while len(self._generated) > GENERATED_KEY_HANDOFF_ENTRIES:
                self._generated.popitem(last=False)
        return private_key, key_object.public_key().public_bytes_raw()

    async def x25519(self, private_key: bytes, public_key: bytes) -> SharedSecret:
        require_length("X25519 private key", private_key, X25519_KEY_LENGTH)
        require_length("X25519 public key", public_key, X25519_KEY_LENGTH)
        ours = self._generated.pop(_slot(private_key), None) if self._generated else None
        if ours is None:
            ours = x25519.X25519PrivateKey.from_private_bytes(private_key)
        try:
            shared = ours.exchange(x25519.X25519PublicKey.from_public_bytes(public_key))
        except ValueError:
            raise CryptoError("X25519: all-zero shared secret (low-order public key)") from None
        return SharedSecret(shared)

    async def ed25519_public_key(self, seed: bytes) -> bytes:
        require_length("Ed25519 seed", seed, ED25519_SEED_LENGTH)
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()

    async def ed25519_sign(self, seed: bytes, message: bytes) -> bytes:
        require_length("Ed25519 seed", seed, ED25519_SEED_LENGTH)
        if SIGNING_KEY_CACHE_ENTRIES <= 0:
            return ed25519.Ed25519PrivateKey.from_private_bytes(seed).sign(message)
        slot = _slot(seed)
        key_object = self._signing_keys.get(slot)
        if key_object is None:
            key_object = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
            self._signing_keys[slot] = key_object
            if len(self._signing_keys) > SIGNING_KEY_CACHE_ENTRIES:
                self._signing_keys.popitem(last=False)
        else:
            self._signing_keys.move_to_end(slot)
        return key_object.sign(message)

    async def ed25519_verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_key) != ED25519_PUBLIC_LENGTH or len(signature) != ED25519_SIGNATURE_LENGTH:
            return False
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    async def mlkem768_public_key(self, seed: bytes) -> bytes:
        require_length("ML-KEM-768 seed", seed, MLKEM768_SEED_LENGTH)
        return mlkem.MLKEM768PrivateKey.from_seed_bytes(seed).public_key().public_bytes_raw()

    async def mlkem768_encapsulate(
        self, encapsulation_key: bytes, randomness: bytes | None = None
    ) -> tuple[bytes, SharedSecret]:
        require_length("ML-KEM-768 encapsulation key", encapsulation_key, MLKEM768_ENCAPSULATION_KEY_LENGTH)
        if randomness is not None:
            require_length("ML-KEM-768 randomness", randomness, MLKEM768_ENCAPS_RANDOMNESS_LENGTH)
            # `cryptography` draws m itself; pinned randomness is for known-answer vectors only.
            raise CryptoError("native provider: ML-KEM encapsulation with explicit randomness unsupported")
        try:
            public = mlkem.MLKEM768PublicKey.from_public_bytes(encapsulation_key)
        except ValueError:
            raise CryptoError("ML-KEM-768: malformed encapsulation key") from None
        shared, ciphertext = public.encapsulate()
        return ciphertext, SharedSecret(shared)

    async def mlkem768_decapsulate(self, seed: bytes, ciphertext: bytes) -> SharedSecret:
        require_length("ML-KEM-768 seed", seed, MLKEM768_SEED_LENGTH)
        require_length("ML-KEM-768 ciphertext", ciphertext, MLKEM768_CIPHERTEXT_LENGTH)
        private = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed)
        return SharedSecret(private.decapsulate(ciphertext))

    async def pbkdf2_sha256(self, password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
        require_pbkdf2_parameters(iterations, length)
        kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=length, salt=salt, iterations=iterations)
        return SymmetricKey(kdf.derive(password))

    @property
    def argon2id_available(self) -> bool:
        return True

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
        require_argon2id_parameters(salt, iterations, memory_kib, lanes, length)
        kdf = Argon2id(
            salt=salt,
            length=length,
            iterations=iterations,
            lanes=lanes,
            memory_cost=memory_kib,
            ad=associated_data or None,
            secret=secret or None,
        )
        return SymmetricKey(kdf.derive(password))
