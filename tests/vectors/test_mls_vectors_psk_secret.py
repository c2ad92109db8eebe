"""RFC 9420 psk_secret test vectors (``psk_secret.json``), suite 1 cases only (external PSKs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.mls import ciphersuite as cs
from pyfront.mls import key_schedule as ks
from pyfront.mls.messages import PreSharedKeyID, PSKType

VECTORS = Path(__file__).parent / "mls" / "psk_secret.json"
ALL_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
CASES = [case for case in ALL_CASES if case["cipher_suite"] == cs.CIPHER_SUITE]


@pytest.mark.parametrize(
    "case", CASES, ids=[f"suite1-{len(case['psks'])}psks-{i}" for i, case in enumerate(CASES)]
)
def test_psk_secret_vector(case: dict[str, Any]) -> None:
    psks = [
        (
            PreSharedKeyID(
                PSKType.EXTERNAL,
                psk_id=bytes.fromhex(psk["psk_id"]),
                psk_nonce=bytes.fromhex(psk["psk_nonce"]),
            ),
            bytes.fromhex(psk["psk"]),
        )
        for psk in case["psks"]
    ]
    assert ks.compute_psk_secret(psks) == bytes.fromhex(case["psk_secret"])


def test_selection() -> None:
    assert len(CASES) == 11
