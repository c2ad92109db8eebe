"""Tests for ``pyfront.mls.ciphersuite`` beyond crypto-basics: narrow failures on bad lengths."""

from __future__ import annotations

import asyncio

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import KeyLengthError
from pyfront.mls import ciphersuite as cs

PROVIDER = NativeProvider()


def test_verify_with_label_is_false_for_malformed_inputs() -> None:
    async def run() -> None:
        seed, public = await PROVIDER.ed25519_generate()
        signature = await cs.sign_with_label(PROVIDER, seed, "L", b"content")
        assert await cs.verify_with_label(PROVIDER, public, "L", b"content", signature)
        assert not await cs.verify_with_label(PROVIDER, public[:31], "L", b"content", signature)
        assert not await cs.verify_with_label(PROVIDER, public, "L", b"content", signature[:63])
        assert not await cs.verify_with_label(PROVIDER, public, "M", b"content", signature)
        with pytest.raises(KeyLengthError):
            await cs.sign_with_label(PROVIDER, seed[:16], "L", b"content")

    asyncio.run(run())


def test_aead_refuses_wrong_key_lengths() -> None:
    with pytest.raises(KeyLengthError):
        asyncio.run(cs.aead_encrypt(PROVIDER, bytes(32), bytes(12), b"x", b""))
    with pytest.raises(KeyLengthError):
        asyncio.run(cs.aead_decrypt(PROVIDER, bytes(15), bytes(12), bytes(17), b""))


def test_labels_separate_domains() -> None:
    secret = bytes(32)
    assert cs.expand_with_label(secret, "a", b"", 32) != cs.expand_with_label(secret, "b", b"", 32)
    assert cs.derive_secret(secret, "x") == cs.expand_with_label(secret, "x", b"", cs.NH)
    assert cs.make_key_package_ref(b"v") != cs.make_proposal_ref(b"v")
