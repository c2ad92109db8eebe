"""The provider interface's own behaviour: typed secrets never print, lengths and limits are checked."""

from __future__ import annotations

import asyncio

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.crypto.provider import (
    Ed25519Seed,
    MlKemSeed,
    SecretBytes,
    SharedSecret,
    SymmetricKey,
    X25519PrivateKey,
    require_length,
    require_pbkdf2_parameters,
)
from pyfront.errors import CryptoError, KeyLengthError, ProtocolError

SECRET = bytes.fromhex("deadbeef" * 8)


@pytest.mark.parametrize(
    "kind", [SecretBytes, SymmetricKey, X25519PrivateKey, Ed25519Seed, MlKemSeed, SharedSecret]
)
def test_secret_types_never_show_their_bytes(kind: type[SecretBytes]) -> None:
    secret = kind(SECRET)
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret]), repr({"k": secret})]
    for text in shown:
        assert "dead" not in text.lower()
        assert "\\xde" not in text
    assert repr(secret) == f"<{kind.__name__} 32 bytes>"
    assert secret == SECRET  # still the bytes for the code that uses them


def test_shared_secret_from_provider_is_typed() -> None:
    async def agree() -> SharedSecret:
        provider = NativeProvider()
        ours, _ = await provider.x25519_generate()
        _, theirs = await provider.x25519_generate()
        return await provider.x25519(ours, theirs)

    shared = asyncio.run(agree())
    assert isinstance(shared, SharedSecret)
    assert shared.hex() not in repr(shared)


def test_require_length_names_what_was_expected() -> None:
    require_length("nonce", bytes(12), 12)
    with pytest.raises(KeyLengthError, match=r"AES key: expected 16 or 32 bytes, got 24"):
        require_length("AES key", bytes(24), 16, 32)


def test_errors_sit_under_the_project_root() -> None:
    assert issubclass(KeyLengthError, CryptoError)
    assert issubclass(CryptoError, ProtocolError)


def test_pbkdf2_parameters_are_checked() -> None:
    require_pbkdf2_parameters(1, 1)
    with pytest.raises(CryptoError, match="iterations"):
        require_pbkdf2_parameters(0, 32)
    with pytest.raises(KeyLengthError, match="output length"):
        require_pbkdf2_parameters(1, 0)


def test_injected_randomness_is_used_and_its_length_checked() -> None:
    provider = NativeProvider(random_bytes=lambda n: bytes(range(n)))
    assert provider.random_bytes(4) == bytes([0, 1, 2, 3])
    seed, public = asyncio.run(provider.ed25519_generate())
    assert seed == bytes(range(32)) and isinstance(seed, Ed25519Seed) and len(public) == 32
    short = NativeProvider(random_bytes=lambda n: bytes(n - 1))
    with pytest.raises(KeyLengthError, match="random source"):
        short.random_bytes(8)


def test_system_randomness_differs_between_calls() -> None:
    provider = NativeProvider()
    assert provider.random_bytes(32) != provider.random_bytes(32)
    assert len(provider.random_bytes(0)) == 0


def test_hkdf_expand_refuses_more_than_255_blocks() -> None:
    assert len(NativeProvider.hkdf_expand("sha256", bytes(32), b"", 255 * 32)) == 255 * 32
    with pytest.raises(KeyLengthError, match="at most 8160"):
        NativeProvider.hkdf_expand("sha256", bytes(32), b"", 255 * 32 + 1)


def test_native_mlkem_round_trip_and_no_pinned_randomness() -> None:
    async def exchange() -> tuple[bytes, bytes, bool]:
        provider = NativeProvider()
        seed, public = await provider.mlkem768_generate()
        ciphertext, sent = await provider.mlkem768_encapsulate(public)
        return (
            sent,
            await provider.mlkem768_decapsulate(seed, ciphertext),
            provider.mlkem768_explicit_randomness,
        )

    sent, received, pinned = asyncio.run(exchange())
    assert sent == received and len(sent) == 32
    assert pinned is False


def test_runtime_picks_the_native_provider_in_cpython() -> None:
    from pyfront.crypto.runtime import create_provider, in_browser

    provider = asyncio.run(create_provider())
    assert not in_browser()
    assert isinstance(provider, NativeProvider) and provider.name == "native"


def test_derived_keys_are_typed_secrets() -> None:
    async def derive() -> list[bytes]:
        provider = NativeProvider()
        return [
            await provider.pbkdf2_sha256(b"pw", b"salt", 1, 32),
            await provider.argon2id(b"pw", bytes(16), iterations=1, memory_kib=8, lanes=1, length=32),
        ]

    for derived in asyncio.run(derive()):
        assert isinstance(derived, SymmetricKey)
        assert repr(derived) == "<SymmetricKey 32 bytes>"
