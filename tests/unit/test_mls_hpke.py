"""Tests for ``pyfront.mls.hpke`` (RFC 9180 base mode), including interop with ``cryptography``'s HPKE."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives import hpke as cryptography_hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, KeyLengthError
from pyfront.mls import hpke

PROVIDER = NativeProvider()
SUITE = cryptography_hpke.Suite(
    cryptography_hpke.KEM.X25519, cryptography_hpke.KDF.HKDF_SHA256, cryptography_hpke.AEAD.AES_128_GCM
)


def test_rfc9180_a1_derive_key_pair() -> None:
    """RFC 9180 appendix A.1.1 (DHKEM(X25519), HKDF-SHA256, AES-128-GCM, base): ikmR -> skR, pkR."""
    ikm_r = bytes.fromhex("6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037")
    private_key, public_key = asyncio.run(hpke.derive_key_pair(PROVIDER, ikm_r))
    assert private_key.hex() == "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8"
    assert public_key.hex() == "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d"
    assert "4612" not in repr(private_key)


def test_rfc9180_a1_base_seal_sequence_zero() -> None:
    """RFC 9180 appendix A.1.1: the ephemeral key from ikmE, then the first encryption (seq 0)."""
    ikm_e = bytes.fromhex("7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234")
    pk_r = bytes.fromhex("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d")
    sk_r = bytes.fromhex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8")
    info = bytes.fromhex("4f6465206f6e2061204772656369616e2055726e")
    plaintext = bytes.fromhex("4265617574792069732074727574682c20747275746820626561757479")
    aad = bytes.fromhex("436f756e742d30")
    expected = "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"
    shared_secret, enc = asyncio.run(hpke.encap(PROVIDER, pk_r, ikm_e))
    assert shared_secret.hex() == "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc"
    enc, ciphertext = asyncio.run(hpke.seal_base(PROVIDER, pk_r, info, aad, plaintext, ikm_e=ikm_e))
    assert enc.hex() == "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"
    assert ciphertext.hex() == expected
    assert asyncio.run(hpke.open_base(PROVIDER, enc, sk_r, info, aad, ciphertext)) == plaintext


def test_interop_we_seal_cryptography_opens() -> None:
    recipient = x25519.X25519PrivateKey.generate()
    public_key = recipient.public_key().public_bytes_raw()
    enc, ciphertext = asyncio.run(hpke.seal_base(PROVIDER, public_key, b"info", b"", b"hello mls"))
    assert SUITE.decrypt(enc + ciphertext, recipient, info=b"info") == b"hello mls"


def test_interop_cryptography_seals_we_open() -> None:
    private_key, public_key = asyncio.run(hpke.generate_key_pair(PROVIDER))
    sealed = SUITE.encrypt(b"from cryptography", x25519.X25519PublicKey.from_public_bytes(public_key), b"i")
    enc, ciphertext = sealed[: hpke.N_ENC], sealed[hpke.N_ENC :]
    assert (
        asyncio.run(hpke.open_base(PROVIDER, enc, private_key, b"i", b"", ciphertext)) == b"from cryptography"
    )


def test_context_sequence_and_export() -> None:
    async def run() -> None:
        private_key, public_key = await hpke.generate_key_pair(PROVIDER)
        enc, sender = await hpke.setup_base_s(PROVIDER, public_key, b"ctx")
        receiver = await hpke.setup_base_r(PROVIDER, enc, private_key, b"ctx")
        first = await sender.seal(b"a", b"one")
        second = await sender.seal(b"a", b"two")
        assert first[:3] != second[:3] or first != second
        assert await receiver.open(b"a", first) == b"one"
        assert await receiver.open(b"a", second) == b"two"
        assert sender.export(b"e", 40) == receiver.export(b"e", 40)
        with pytest.raises(AuthenticationError):
            await receiver.open(b"a", second)  # sequence moved on: the nonce no longer matches

    asyncio.run(run())


def test_tampering_and_bad_lengths() -> None:
    async def run() -> None:
        private_key, public_key = await hpke.generate_key_pair(PROVIDER)
        enc, ciphertext = await hpke.seal_base(PROVIDER, public_key, b"", b"aad", b"x" * 20)
        flipped = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
        with pytest.raises(AuthenticationError):
            await hpke.open_base(PROVIDER, enc, private_key, b"", b"aad", flipped)
        with pytest.raises(AuthenticationError):
            await hpke.open_base(PROVIDER, enc, private_key, b"", b"other aad", ciphertext)
        with pytest.raises(KeyLengthError):
            await hpke.seal_base(PROVIDER, public_key[:31], b"", b"", b"x")
        with pytest.raises(KeyLengthError):
            await hpke.open_base(PROVIDER, enc[:31], private_key, b"", b"aad", ciphertext)

    asyncio.run(run())
