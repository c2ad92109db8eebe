"""The native provider's hot-path shortcuts give exactly the plain ``cryptography`` results
(pyfront/crypto/native.py): hand-made PKCS#7 for AES-CBC, the Ed25519 signing-key cache and the
X25519 key handed from ``x25519_generate`` to the agreement that follows it."""

from __future__ import annotations

import asyncio
import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pyfront.crypto import native
from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError

KEY = bytes(range(32))
IV = bytes(range(16))


def _raw_cbc(data: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 100])
def test_cbc_padding_matches_the_library_padder(length: int) -> None:
    plaintext = os.urandom(length)
    padder = padding.PKCS7(128).padder()
    expected = _raw_cbc(padder.update(plaintext) + padder.finalize())
    provider = NativeProvider()
    assert asyncio.run(provider.aes_cbc_encrypt(KEY, IV, plaintext)) == expected
    assert asyncio.run(provider.aes_cbc_decrypt(KEY, IV, expected)) == plaintext


@pytest.mark.parametrize(
    "last_block",
    [
        bytes(15) + b"\x00",  # pad byte 0
        bytes(15) + b"\x11",  # pad byte 17 > block
        bytes(14) + b"\x01\x02",  # 2 claimed, the byte before is not 2
        b"\x10" * 15 + b"\x0f",  # 15 claimed, one of them differs
        b"\x0f" * 15 + b"\x10",  # 16 claimed, first byte differs
    ],
)
def test_cbc_bad_padding_is_an_authentication_error(last_block: bytes) -> None:
    with pytest.raises(AuthenticationError, match="padding"):
        asyncio.run(NativeProvider().aes_cbc_decrypt(KEY, IV, _raw_cbc(bytes(16) + last_block)))


def test_signing_key_cache_signs_like_a_fresh_key_and_is_bounded() -> None:
    async def scenario() -> None:
        provider = NativeProvider()
        seeds = [os.urandom(32) for _ in range(native.SIGNING_KEY_CACHE_ENTRIES + 3)]
        for _ in range(2):
            for seed in seeds:
                expected = ed25519.Ed25519PrivateKey.from_private_bytes(seed).sign(b"message")
                assert await provider.ed25519_sign(seed, b"message") == expected
        assert len(provider._signing_keys) == native.SIGNING_KEY_CACHE_ENTRIES
        assert all(seed not in provider._signing_keys for seed in seeds)  # keyed by a hash only
        provider.clear_key_cache()
        assert not provider._signing_keys

    asyncio.run(scenario())


def test_generated_x25519_key_is_handed_over_once_and_agrees_like_a_fresh_key() -> None:
    async def scenario() -> None:
        provider = NativeProvider()
        peer = x25519.X25519PrivateKey.generate()
        peer_public = peer.public_key().public_bytes_raw()
        private, public = await provider.x25519_generate()
        assert public == x25519.X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
        assert len(provider._generated) == 1
        first = await provider.x25519(private, peer_public)
        assert not provider._generated  # used once, then no cache keeps the ratchet key
        assert first == await provider.x25519(private, peer_public)  # rebuilt from the bytes
        assert first == peer.exchange(x25519.X25519PublicKey.from_public_bytes(public))
        for _ in range(native.GENERATED_KEY_HANDOFF_ENTRIES + 5):
            await provider.x25519_generate()
        assert len(provider._generated) == native.GENERATED_KEY_HANDOFF_ENTRIES

    asyncio.run(scenario())
