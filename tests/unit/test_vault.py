"""The vault: passphrase wrapping, sealed records bound to their slot, backups. Native provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, LimitError
from pyfront.storage.vault import (
    MIN_PASSPHRASE_ITERATIONS,
    Vault,
    VaultHeader,
    export_backup,
    import_backup,
)

FAST = MIN_PASSPHRASE_ITERATIONS  # the lowest count the format accepts keeps the tests quick
provider = NativeProvider()
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def stored(header: VaultHeader) -> VaultHeader:
    """What a reload sees: the header after a JSON round trip through storage."""
    return VaultHeader.from_dict(json.loads(json.dumps(header.to_dict())))


def test_passphrase_vault_reopens_with_the_right_passphrase_only() -> None:
    vault = run(Vault.create(provider, "correct horse", iterations=FAST))
    sealed = run(vault.seal("messages", "m1", b"hello Bob"))
    header = stored(vault.header)

    reopened = run(Vault.unlock(provider, header, "correct horse"))
    assert run(reopened.open("messages", "m1", sealed)) == b"hello Bob"

    with pytest.raises(AuthenticationError, match="wrong passphrase"):
        run(Vault.unlock(provider, header, "correct hose"))
    with pytest.raises(AuthenticationError):
        run(Vault.unlock(provider, header, None))


def test_sealed_record_hides_its_text_and_is_bound_to_its_slot() -> None:
    vault = run(Vault.create(provider, None))
    sealed = run(vault.seal("messages", "m1", b"meet at noon"))
    assert b"meet at noon" not in sealed
    with pytest.raises(AuthenticationError):
        run(vault.open("messages", "m2", sealed))
    with pytest.raises(AuthenticationError):
        run(vault.open("contacts", "m1", sealed))


@pytest.mark.parametrize("index", [0, 1, 5, 13, 20, -1])
def test_any_flipped_bit_fails(index: int) -> None:
    vault = run(Vault.create(provider, None))
    sealed = bytearray(run(vault.seal("s", "k", b"payload")))
    sealed[index] ^= 0x01
    with pytest.raises((AuthenticationError, DecodeError)):
        run(vault.open("s", "k", bytes(sealed)))


def test_header_without_passphrase_says_so_and_holds_no_secret_in_repr() -> None:
    vault = run(Vault.create(provider, None))
    assert not vault.has_passphrase and not vault.protected
    assert [wrap["method"] for wrap in vault.header.to_dict()["wraps"]] == ["none"]
    device_key = vault.header.to_dict()["wraps"][0]["device_key"]
    assert "device_key" not in repr(vault.header) and device_key not in repr(vault.header)


def test_changing_the_passphrase_keeps_records_readable() -> None:
    vault = run(Vault.create(provider, None))
    sealed = run(vault.seal_json("settings", "ui", {"typing": False}))
    run(vault.change_passphrase("new secret", iterations=FAST))
    header = stored(vault.header)
    assert header.protected and header.passphrase is not None
    reopened = run(Vault.unlock(provider, header, "new secret"))
    assert run(reopened.open_json("settings", "ui", sealed)) == {"typing": False}


def test_downgraded_iteration_count_in_storage_is_refused() -> None:
    vault = run(Vault.create(provider, "pw", iterations=FAST))
    data = vault.header.to_dict()
    data["wraps"][0]["iterations"] = 1
    with pytest.raises(DecodeError, match="iterations"):
        VaultHeader.from_dict(data)


def test_tampered_header_fails_closed() -> None:
    vault = run(Vault.create(provider, "pw", iterations=FAST))
    data = vault.header.to_dict()
    data["wraps"][0]["iterations"] = FAST + 1  # an attacker with write access changes the KDF cost
    with pytest.raises(AuthenticationError):
        run(Vault.unlock(provider, VaultHeader.from_dict(data), "pw"))


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"version": 3},
        {"version": 1, "protection": "rot13"},
        {"version": 1, "protection": "none"},
        {"version": 2, "wraps": [], "mac": ""},
        {"version": 2, "wraps": [{"method": "rot13"}], "mac": ""},
    ],
)
def test_malformed_headers_are_decode_errors(bad: object) -> None:
    with pytest.raises(DecodeError):
        VaultHeader.from_dict(bad)


def test_oversized_record_is_refused() -> None:
    vault = run(Vault.create(provider, None))
    from pyfront.storage.vault import MAX_RECORD_BYTES

    with pytest.raises(LimitError):
        run(vault.seal("s", "k", bytes(MAX_RECORD_BYTES + 1)))


def test_backup_round_trip_and_wrong_passphrase() -> None:
    records = {"contacts": {"alice": b"\x01\x02"}, "messages": {"m1": b"hi", "m2": b"there"}}
    document = run(export_backup(provider, records, "backup pw", iterations=FAST))
    assert b"there" not in document
    assert run(import_backup(provider, document, "backup pw")) == records
    with pytest.raises(AuthenticationError):
        run(import_backup(provider, document, "guess"))
    with pytest.raises(DecodeError):
        run(import_backup(provider, b"not json", "backup pw"))
    for other_file in (b'{"vault": {}}', b"[1, 2]", b'{"format": "something else"}'):
        with pytest.raises(DecodeError, match="not a Parley backup"):
            run(import_backup(provider, other_file, "backup pw"))


def test_backup_with_a_swapped_record_is_refused_whole() -> None:
    records = {"messages": {"m1": b"first", "m2": b"second"}}
    parsed = json.loads(run(export_backup(provider, records, "pw", iterations=FAST)))
    parsed["records"]["messages"]["m1"], parsed["records"]["messages"]["m2"] = (
        parsed["records"]["messages"]["m2"],
        parsed["records"]["messages"]["m1"],
    )
    with pytest.raises(AuthenticationError):
        run(import_backup(provider, json.dumps(parsed).encode(), "pw"))
