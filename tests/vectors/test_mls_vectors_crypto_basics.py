"""RFC 9420 crypto-basics test vectors (mlswg/mls-implementations ``crypto-basics.json``).

Only the cipher suite 1 case is selected (the file holds one case per suite). Each helper is checked
both ways where it has two directions: deterministic outputs must match byte for byte; signatures must
verify and Ed25519 signing must reproduce them; HPKE ciphertexts must decrypt, and our own encryption
must decrypt to the same plaintext.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError
from pyfront.mls import ciphersuite

VECTORS = Path(__file__).parent / "mls" / "crypto-basics.json"
ALL_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
CASES = [case for case in ALL_CASES if case["cipher_suite"] == ciphersuite.CIPHER_SUITE]
CHECKS = [
    "ref_hash",
    "expand_with_label",
    "derive_secret",
    "derive_tree_secret",
    "sign_with_label",
    "encrypt_with_label",
]


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def check(name: str, vector: dict[str, Any]) -> None:
    provider = NativeProvider()
    if name == "ref_hash":
        assert ciphersuite.ref_hash(vector["label"], h(vector["value"])) == h(vector["out"])
    elif name == "expand_with_label":
        out = ciphersuite.expand_with_label(
            h(vector["secret"]), vector["label"], h(vector["context"]), vector["length"]
        )
        assert out == h(vector["out"])
    elif name == "derive_secret":
        assert ciphersuite.derive_secret(h(vector["secret"]), vector["label"]) == h(vector["out"])
    elif name == "derive_tree_secret":
        out = ciphersuite.derive_tree_secret(
            h(vector["secret"]), vector["label"], vector["generation"], vector["length"]
        )
        assert out == h(vector["out"])
    elif name == "sign_with_label":
        label, content, signature = vector["label"], h(vector["content"]), h(vector["signature"])
        pub = h(vector["pub"])
        assert asyncio.run(ciphersuite.verify_with_label(provider, pub, label, content, signature))
        ours = asyncio.run(ciphersuite.sign_with_label(provider, h(vector["priv"]), label, content))
        assert ours == signature
        assert not asyncio.run(ciphersuite.verify_with_label(provider, pub, label + "x", content, signature))
    elif name == "encrypt_with_label":
        label, context, plaintext = vector["label"], h(vector["context"]), h(vector["plaintext"])
        priv, pub = h(vector["priv"]), h(vector["pub"])
        opened = asyncio.run(
            ciphersuite.decrypt_with_label(
                provider, priv, label, context, h(vector["kem_output"]), h(vector["ciphertext"])
            )
        )
        assert opened == plaintext
        kem_output, ciphertext = asyncio.run(
            ciphersuite.encrypt_with_label(provider, pub, label, context, plaintext)
        )
        again = asyncio.run(
            ciphersuite.decrypt_with_label(provider, priv, label, context, kem_output, ciphertext)
        )
        assert again == plaintext
        with pytest.raises(AuthenticationError):
            asyncio.run(
                ciphersuite.decrypt_with_label(
                    provider, priv, label, context + b"x", h(vector["kem_output"]), h(vector["ciphertext"])
                )
            )
    else:  # pragma: no cover - the parameter list is fixed above
        raise AssertionError(name)


@pytest.mark.parametrize(
    ("case", "name"),
    [(case, name) for case in CASES for name in CHECKS],
    ids=[f"suite{case['cipher_suite']}-{name}" for case in CASES for name in CHECKS],
)
def test_crypto_basics_vector(case: dict[str, Any], name: str) -> None:
    check(name, case[name])


def test_selection() -> None:
    """Exactly one case of the file is for suite 1; the other suites are out of scope."""
    assert len(CASES) == 1
    assert len(ALL_CASES) > 1
