"""Tests for ``pyfront.mls.key_schedule`` beyond the official vectors: limits and secrecy of reprs."""

from __future__ import annotations

import pytest

from pyfront.mls import key_schedule as ks
from pyfront.mls.messages import PreSharedKeyID, PSKType


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
