"""Known-answer vectors against ``NativeProvider`` through the shared runner (``crypto_runner``).

The same runner runs inside Chromium against ``WebCryptoProvider`` (tests/browser/test_crypto_webcrypto.py).
Each file must pass every check, and the checks that prove each primitive must all be present.
"""

from __future__ import annotations

import asyncio

import pytest

from pyfront.crypto.native import NativeProvider
from tests.vectors.crypto_runner import (
    ALL_FILES,
    FileResult,
    load_vector_files,
    run_error_contract,
    run_file,
    run_tamper,
)

EXPECTED_CHECKS = {
    "crypto/hkdf_rfc5869.json": {"extract": 3, "expand": 3, "hkdf": 3},
    "crypto/aes_gcm_nist.json": {"encrypt": 209, "decrypt": 209, "reject_forgery": 91},
    "crypto/aes_cbc_nist.json": {"encrypt": 126, "decrypt": 126},
    "crypto/x25519_rfc7748.json": {"scalarmult": 5, "iterated": 2, "public": 2, "reject_zero": 7},
    "crypto/ed25519_rfc8032.json": {
        "public_key": 128,
        "sign": 128,
        "verify": 128,
        "reject_bad_signature": 128,
        "reject_other_message": 128,
    },
    # cryptography draws m itself: encapsulation is proven by round trip here, by KAT in Chromium (noble).
    "crypto/mlkem768_fips203.json": {
        "keygen": 25,
        "decapsulate": 25,
        "implicit_rejection": 25,
        "encapsulate_roundtrip": 25,
    },
    "crypto/pbkdf2_sha256.json": {"pbkdf2_sha256": 7},
    "crypto/argon2id_rfc9106.json": {"argon2id": 6},
    "mls/crypto-basics.json": {
        "ref_hash": 1,
        "sign_with_label_public": 1,
        "sign_with_label_sign": 1,
        "sign_with_label_verify": 1,
        "encrypt_with_label_x25519_public": 1,
    },
}

# One check per changed part (each covers every bit of that part), per key size.
EXPECTED_TAMPER_CHECKS = {
    "gcm_untampered": 2,
    "gcm_flip_key": 2,
    "gcm_flip_nonce": 2,
    "gcm_flip_ciphertext": 2,
    "gcm_flip_tag": 2,
    "gcm_flip_aad": 2,
    "gcm_truncated": 2,
    "ed25519_flip_public_key": 1,
    "ed25519_flip_message": 1,
    "ed25519_flip_signature": 1,
}

DOCUMENTS = load_vector_files()


@pytest.mark.parametrize("name", ALL_FILES)
def test_native_provider_passes_vector_file(name: str) -> None:
    result: FileResult = asyncio.run(run_file(NativeProvider(), name, DOCUMENTS[name]))
    print(f"{name}: {result.passed} passed, {result.failed} failed {result.checks}")
    assert result.failures == []
    assert result.checks == EXPECTED_CHECKS[name]


def test_every_vector_file_has_expectations() -> None:
    assert set(EXPECTED_CHECKS) == set(ALL_FILES)


def test_native_provider_fails_authentication_on_every_bit_flip() -> None:
    result = asyncio.run(run_tamper(NativeProvider()))
    print(f"tamper: {result.passed} passed, {result.failed} failed {result.checks}")
    assert result.failures == []
    assert result.checks == EXPECTED_TAMPER_CHECKS


def test_native_provider_keeps_the_error_contract() -> None:
    result = asyncio.run(run_error_contract(NativeProvider()))
    assert result.failures == []
    assert result.checks == {"narrow_error": 29, "verify_false": 2}
