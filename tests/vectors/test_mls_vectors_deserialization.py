"""RFC 9420 deserialization test vectors (``deserialization.json``): variable-length vector headers.

Suite-independent: every case runs. The header must decode to the length and the length must encode
(minimally) to the header.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.mls.codec import Reader, encode_varint

VECTORS = Path(__file__).parent / "mls" / "deserialization.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())


@pytest.mark.parametrize("case", CASES, ids=[f"length={case['length']}" for case in CASES])
def test_deserialization_vector(case: dict[str, Any]) -> None:
    header = bytes.fromhex(case["vlbytes_header"])
    reader = Reader(header)
    assert reader.varint() == case["length"]
    assert reader.remaining() == 0
    assert encode_varint(case["length"]) == header


def test_every_case_was_selected() -> None:
    assert len(CASES) == 14
