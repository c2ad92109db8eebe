"""Tests for ``pyfront.mls.key_schedule`` beyond the vectors: limits, secrecy of reprs, the epoch step."""

from __future__ import annotations

import pytest

from pyfront.mls import ciphersuite as cs
from pyfront.mls import key_schedule as ks
from pyfront.mls.messages import GroupContext, PreSharedKeyID, PSKType


def test_no_psks_give_the_zero_secret_and_order_matters() -> None:
    assert ks.compute_psk_secret([]) == bytes(32)
    first = (PreSharedKeyID(PSKType.EXTERNAL, psk_id=b"a", psk_nonce=bytes(32)), b"1" * 32)
    second = (PreSharedKeyID(PSKType.EXTERNAL, psk_id=b"b", psk_nonce=bytes(32)), b"2" * 32)
    assert ks.compute_psk_secret([first, second]) != ks.compute_psk_secret([second, first])
    with pytest.raises(ValueError, match="PSKs"):
        ks.compute_psk_secret([first] * (ks.MAX_PSKS + 1))


def test_epoch_secrets_never_print() -> None:
    joiner = ks.derive_joiner_secret(b"\x11" * 32, ks.zero_secret(), b"context")
    secrets = ks.derive_epoch_secrets(joiner, ks.zero_secret(), b"context")
    text = repr(secrets)
    for value in (secrets.encryption_secret, secrets.exporter_secret, secrets.init_secret):
        assert value.hex() not in text
    assert len({secrets.sender_data_secret, secrets.encryption_secret, secrets.membership_key}) == 3


def test_exporter_depends_on_label_context_and_length() -> None:
    secret = b"\x42" * 32
    base = ks.export_secret(secret, "label", b"context", 32)
    assert ks.export_secret(secret, "label2", b"context", 32) != base
    assert ks.export_secret(secret, "label", b"context2", 32) != base
    assert ks.export_secret(secret, "label", b"context", 16) != base[:16]


def test_entering_an_epoch_is_the_section_8_chain_and_a_joiner_reaches_the_same_epoch() -> None:
    """``enter_epoch`` is init secret -> joiner secret -> epoch secrets, and the confirmation tag over the
    new GroupContext's confirmed transcript hash; ``join_epoch`` from that joiner secret (what a Welcome
    carries) gives the same secrets and tag."""
    context = GroupContext(1, cs.CIPHER_SUITE, b"group", 3, b"\x01" * 32, b"\x02" * 32)
    init_secret, commit_secret, psk_secret = b"\x11" * 32, b"\x22" * 32, b"\x33" * 32
    secrets, tag = ks.enter_epoch(init_secret, commit_secret, psk_secret, context)
    joiner = ks.derive_joiner_secret(init_secret, commit_secret, context.encode())
    assert secrets == ks.derive_epoch_secrets(joiner, psk_secret, context.encode())
    assert tag == ks.confirmation_tag(secrets.confirmation_key, context.confirmed_transcript_hash)
    assert ks.join_epoch(joiner, psk_secret, context) == (secrets, tag)
