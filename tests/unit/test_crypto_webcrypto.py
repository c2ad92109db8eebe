"""What of the browser provider can be checked in CPython: it imports, refuses to run, and its fixed
encodings (RFC 8410 PKCS#8 wrappers, JWK base64url) match an independent implementation."""

from __future__ import annotations

import asyncio
import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from pyfront.crypto import webcrypto
from pyfront.errors import CryptoError

RAW = bytes(range(32))


def test_pkcs8_prefixes_match_cryptography_serialisation() -> None:
    x_key = x25519.X25519PrivateKey.from_private_bytes(RAW)
    ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(RAW)
    assert x_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()) == (
        webcrypto.PKCS8_X25519_PREFIX + RAW
    )
    assert ed_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()) == (
        webcrypto.PKCS8_ED25519_PREFIX + RAW
    )


@pytest.mark.parametrize("length", [0, 1, 2, 3, 31, 32, 1184])
def test_jwk_base64url_without_padding_decodes(length: int) -> None:
    data = bytes((index * 7) % 256 for index in range(length))
    text = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert webcrypto._base64url(text) == data


def test_outside_pyodide_the_provider_refuses_with_a_clear_error() -> None:
    with pytest.raises(CryptoError, match="only inside Pyodide"):
        webcrypto.WebCryptoProvider()
    with pytest.raises(CryptoError, match="only inside Pyodide"):
        asyncio.run(webcrypto.create_webcrypto_provider())


def test_limits_are_named() -> None:
    assert webcrypto.GET_RANDOM_VALUES_MAX == 65536
    assert webcrypto.KEY_CACHE_ENTRIES == 128
    assert webcrypto.MLKEM768_ALGORITHM == "ML-KEM-768"
