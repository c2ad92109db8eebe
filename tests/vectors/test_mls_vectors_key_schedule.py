"""RFC 9420 key-schedule test vectors (``key-schedule.json``), suite 1 case only.

For each epoch: the GroupContext built from the vector's fields must encode to ``group_context``;
every derived secret, the external public key and the exporter output must match; the next epoch
starts from the derived ``init_secret``. The exporter ``label`` is a string (its ASCII bytes happen to
look like hex), as test-vectors.md specifies.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.mls import ciphersuite as cs
from pyfront.mls import key_schedule as ks
from pyfront.mls.messages import PROTOCOL_VERSION_MLS10, GroupContext

VECTORS = Path(__file__).parent / "mls" / "key-schedule.json"
ALL_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
CASES = [case for case in ALL_CASES if case["cipher_suite"] == cs.CIPHER_SUITE]
SECRET_FIELDS = [
    "joiner_secret",
    "welcome_secret",
    "sender_data_secret",
    "encryption_secret",
    "exporter_secret",
    "external_secret",
    "confirmation_key",
    "membership_key",
    "resumption_psk",
    "epoch_authenticator",
    "init_secret",
]


def h(value: str) -> bytes:
    return bytes.fromhex(value)


@pytest.mark.parametrize("case", CASES, ids=[f"suite{case['cipher_suite']}" for case in CASES])
def test_key_schedule_vector(case: dict[str, Any]) -> None:
    provider = NativeProvider()
    group_id = h(case["group_id"])
    init_secret = h(case["initial_init_secret"])
    for epoch, vector in enumerate(case["epochs"]):
        context = GroupContext(
            PROTOCOL_VERSION_MLS10,
            cs.CIPHER_SUITE,
            group_id,
            epoch,
            h(vector["tree_hash"]),
            h(vector["confirmed_transcript_hash"]),
        ).encode()
        assert context == h(vector["group_context"]), f"epoch {epoch}: group context"
        joiner = ks.derive_joiner_secret(init_secret, h(vector["commit_secret"]), context)
        secrets = ks.derive_epoch_secrets(joiner, h(vector["psk_secret"]), context)
        for name in SECRET_FIELDS:
            assert getattr(secrets, name) == h(vector[name]), f"epoch {epoch}: {name}"
        assert ks.welcome_secret(joiner, h(vector["psk_secret"])) == h(vector["welcome_secret"])
        _, external_pub = asyncio.run(ks.external_key_pair(provider, secrets.external_secret))
        assert external_pub == h(vector["external_pub"]), f"epoch {epoch}: external_pub"
        exporter = vector["exporter"]
        exported = ks.export_secret(
            secrets.exporter_secret, exporter["label"], h(exporter["context"]), exporter["length"]
        )
        assert exported == h(exporter["secret"]), f"epoch {epoch}: exporter"
        init_secret = secrets.init_secret
    print(f"key-schedule.json suite 1: {len(case['epochs'])} epochs passed")


def test_selection() -> None:
    assert len(CASES) == 1
