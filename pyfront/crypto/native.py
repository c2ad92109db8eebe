"""The CPython provider, on the ``cryptography`` package (>= 48 for ML-KEM-768).

The methods are ``async`` to match the interface; they complete without awaiting anything.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, padding
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
    require_argon2id_parameters,
    require_length,
    require_pbkdf2_parameters,
)
from pyfront.errors import AuthenticationError, CryptoError


class NativeProvider(CryptoProvider):
    name = "native"

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
        padder = padding.PKCS7(AES_BLOCK * 8).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return encryptor.update(padded) + encryptor.finalize()

    async def aes_cbc_decrypt(self, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        require_length("AES-CBC key", key, 32)
        require_length("AES-CBC iv", iv, AES_BLOCK)
        if not ciphertext or len(ciphertext) % AES_BLOCK:
            raise AuthenticationError("AES-CBC: ciphertext is not a whole number of blocks")
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(AES_BLOCK * 8).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise AuthenticationError("AES-CBC: invalid padding") from None

    async def x25519_public_key(self, private_key: bytes) -> bytes:
        require_length("X25519 private key", private_key, X25519_KEY_LENGTH)
        return x25519.X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()

    async def x25519(self, private_key: bytes, public_key: bytes) -> SharedSecret:
        require_length("X25519 private key", private_key, X25519_KEY_LENGTH)
        require_length("X25519 public key", public_key, X25519_KEY_LENGTH)
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
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed).sign(message)

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
