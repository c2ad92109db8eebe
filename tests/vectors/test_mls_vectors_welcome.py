"""RFC 9420 welcome test vectors (``welcome.json``), suite 1 case only.

The Welcome decrypts with ``init_priv`` for ``key_package``; the GroupInfo signature verifies with
``signer_pub``; the GroupInfo's confirmation tag matches the key schedule of the joined epoch.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError
from pyfront.mls import ciphersuite as cs
from pyfront.mls import key_schedule as ks
from pyfront.mls import welcome as wm
from pyfront.mls.messages import KeyPackage, MLSMessage, Welcome

VECTORS = Path(__file__).parent / "mls" / "welcome.json"
ALL_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
CASES = [case for case in ALL_CASES if case["cipher_suite"] == cs.CIPHER_SUITE]


@pytest.mark.parametrize("case", CASES, ids=["suite1"])
def test_welcome_vector(case: dict[str, Any]) -> None:
    async def run() -> None:
        provider = NativeProvider()
        welcome = MLSMessage.decode(bytes.fromhex(case["welcome"])).body
        key_package = MLSMessage.decode(bytes.fromhex(case["key_package"])).body
        assert isinstance(welcome, Welcome)
        assert isinstance(key_package, KeyPackage)
        secrets, group_info, psk_secret = await wm.open_welcome(
            provider, welcome, key_package, bytes.fromhex(case["init_priv"])
        )
        signer_pub = bytes.fromhex(case["signer_pub"])
        await wm.verify_group_info(provider, group_info, signer_pub)
        epoch = ks.derive_epoch_secrets(secrets.joiner_secret, psk_secret, group_info.group_context.encode())
        tag = ks.confirmation_tag(epoch.confirmation_key, group_info.group_context.confirmed_transcript_hash)
        assert tag == group_info.confirmation_tag
        with pytest.raises(AuthenticationError):
            await wm.verify_group_info(provider, group_info, bytes(32))

    asyncio.run(run())


def test_selection() -> None:
    assert len(CASES) == 1
