"""RFC 9420 transcript-hashes test vectors (``transcript-hashes.json``), suite 1 case only.

The commit's confirmation tag must verify under ``confirmation_key``, and both transcript hashes after
it must match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.mls import ciphersuite as cs
from pyfront.mls import key_schedule as ks
from pyfront.mls import transcript
from pyfront.mls.messages import AuthenticatedContent

VECTORS = Path(__file__).parent / "mls" / "transcript-hashes.json"
ALL_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
CASES = [case for case in ALL_CASES if case["cipher_suite"] == cs.CIPHER_SUITE]


@pytest.mark.parametrize("case", CASES, ids=["suite1"])
def test_transcript_hashes_vector(case: dict[str, Any]) -> None:
    content = AuthenticatedContent.decode(bytes.fromhex(case["authenticated_content"]))
    confirmed = transcript.next_confirmed_hash(
        bytes.fromhex(case["interim_transcript_hash_before"]),
        content.wire_format,
        content.content,
        content.auth.signature,
    )
    assert confirmed == bytes.fromhex(case["confirmed_transcript_hash_after"])
    assert content.auth.confirmation_tag == ks.confirmation_tag(
        bytes.fromhex(case["confirmation_key"]), confirmed
    )
    interim = transcript.next_interim_hash(confirmed, content.auth.confirmation_tag)
    assert interim == bytes.fromhex(case["interim_transcript_hash_after"])


def test_selection() -> None:
    assert len(CASES) == 1
