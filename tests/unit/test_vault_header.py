"""The vault header's key wraps (pyfront.storage.vault_header, pyfront.storage.vault): passkeys beside the
passphrase, the header MAC, the version-1 headers of release d165a45, and what may never be removed.

A passkey is simulated by what the browser hands over: its credential id and the 32-byte PRF output for
the wrap's salt (``prf`` below: HMAC of a per-authenticator secret, as CTAP2 hmac-secret computes it).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, LimitError, ProtocolError
from pyfront.storage.migrations import BACKUP
from pyfront.storage.vault import (
    MIN_PASSPHRASE_ITERATIONS,
    PrfOutput,
    Vault,
    VaultHeader,
    import_backup,
)
from pyfront.storage.vault_header import MAX_PASSKEYS, PRF_SALT_LENGTH, DeviceWrap, PasskeyWrap

FAST = MIN_PASSPHRASE_ITERATIONS
PASSPHRASE = "correct horse battery"
provider = NativeProvider()
T = TypeVar("T")
FIXTURE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "vault-d165a45.json").read_text())


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def prf(authenticator: bytes, credential_id: bytes, salt: bytes) -> bytes:
    """What an authenticator's PRF gives: a keyed function of the credential and the salt."""
    return provider.hmac("sha256", authenticator + credential_id, b"WebAuthn PRF\x00" + salt)


def stored(header: VaultHeader) -> VaultHeader:
    return VaultHeader.from_dict(json.loads(json.dumps(header.to_dict())))


class Passkey:
    def __init__(self, name: str) -> None:
        self.secret = provider.random_bytes(32)
        self.credential_id = provider.random_bytes(32)
        self.name = name

    def output(self, salt: bytes) -> bytes:
        return prf(self.secret, self.credential_id, salt)

    async def register(self, vault: Vault) -> PasskeyWrap:
        salt = provider.random_bytes(PRF_SALT_LENGTH)
        return await vault.add_passkey(
            self.credential_id, salt, self.output(salt), name=self.name, added_at=1_800_000_000
        )

    async def unlock(self, header: VaultHeader) -> Vault:
        wrap = header.passkey(self.credential_id)
        salt = wrap.prf_salt if wrap else bytes(PRF_SALT_LENGTH)
        return await Vault.unlock_with_passkey(provider, header, self.credential_id, self.output(salt))


async def vault_with_passkeys(*passkeys: Passkey, passphrase: str | None = PASSPHRASE) -> tuple[Vault, bytes]:
    vault = await Vault.create(provider, passphrase, iterations=FAST)
    sealed = await vault.seal("message", "m1", b"meet at the old mill")
    for passkey in passkeys:
        await passkey.register(vault)
    return vault, sealed


def test_a_passkey_opens_the_vault_beside_the_passphrase() -> None:
    async def body() -> None:
        phone, laptop = Passkey("phone"), Passkey("laptop")
        vault, sealed = await vault_with_passkeys(phone, laptop)
        header = stored(vault.header)
        assert [wrap.method for wrap in header.wraps] == ["passphrase", "passkey", "passkey"]
        assert [wrap.name for wrap in header.passkeys] == ["phone", "laptop"]
        for passkey in (phone, laptop):
            opened = await passkey.unlock(header)
            assert await opened.open("message", "m1", sealed) == b"meet at the old mill"
        by_passphrase = await Vault.unlock(provider, header, PASSPHRASE)
        assert await by_passphrase.open("message", "m1", sealed) == b"meet at the old mill"

    run(body())


def test_each_passkey_wrap_has_its_own_salt_and_key() -> None:
    async def body() -> None:
        passkey = Passkey("phone")
        first, _ = await vault_with_passkeys(passkey)
        second, _ = await vault_with_passkeys(passkey)
        one, two = first.header.passkeys[0], second.header.passkeys[0]
        assert one.prf_salt != two.prf_salt  # the same passkey gives another secret for every vault
        assert one.wrapped_data_key != two.wrapped_data_key

    run(body())


def test_a_wrong_prf_output_or_another_passkey_cannot_unlock() -> None:
    async def body() -> None:
        phone, stranger = Passkey("phone"), Passkey("stranger")
        vault, _ = await vault_with_passkeys(phone)
        header = stored(vault.header)
        before = json.dumps(header.to_dict())
        wrap = header.passkeys[0]
        wrong_outputs = [
            stranger.output(wrap.prf_salt),  # another authenticator answering for the same id
            phone.output(bytes(PRF_SALT_LENGTH)),  # the right authenticator, another salt
            bytes(32),
        ]
        for output in wrong_outputs:
            with pytest.raises(AuthenticationError, match="did not open"):
                await Vault.unlock_with_passkey(provider, header, phone.credential_id, output)
        for output in (b"", bytes(31), bytes(64)):
            with pytest.raises(AuthenticationError, match="32 bytes"):
                await Vault.unlock_with_passkey(provider, header, phone.credential_id, output)
        with pytest.raises(AuthenticationError, match="not registered"):
            await stranger.unlock(header)
        assert json.dumps(header.to_dict()) == before  # nothing changed

    run(body())


def test_a_passkey_only_vault_needs_the_passkey() -> None:
    async def body() -> None:
        phone = Passkey("phone")
        vault, sealed = await vault_with_passkeys(phone, passphrase=None)
        assert vault.protected and not vault.has_passphrase
        header = stored(vault.header)
        assert [wrap.method for wrap in header.wraps] == ["passkey"]  # the device wrap is gone
        for passphrase in (None, "", PASSPHRASE):
            with pytest.raises(AuthenticationError, match="passkey"):
                await Vault.unlock(provider, header, passphrase)
        opened = await phone.unlock(header)
        assert await opened.open("message", "m1", sealed) == b"meet at the old mill"

    run(body())


def test_removing_the_last_unlock_method_is_refused_unless_protection_is_turned_off() -> None:
    async def body() -> None:
        phone = Passkey("phone")
        vault, sealed = await vault_with_passkeys(phone)
        await vault.change_passphrase(None)  # a passkey remains: still protected
        assert vault.protected and [wrap.method for wrap in vault.header.wraps] == ["passkey"]
        before = vault.header
        with pytest.raises(InvalidStateError, match="only way to unlock"):
            await vault.remove_passkey(phone.credential_id)
        assert vault.header is before
        await vault.remove_passkey(phone.credential_id, turn_protection_off=True)
        header = stored(vault.header)
        assert not header.protected and isinstance(header.wraps[0], DeviceWrap)
        opened = await Vault.unlock(provider, header, None)
        assert await opened.open("message", "m1", sealed) == b"meet at the old mill"
        with pytest.raises(AuthenticationError, match="not registered"):
            await phone.unlock(header)

    run(body())


def test_a_removed_passkey_no_longer_unlocks_and_the_others_still_do() -> None:
    async def body() -> None:
        phone, laptop = Passkey("phone"), Passkey("laptop")
        vault, _ = await vault_with_passkeys(phone, laptop)
        await vault.remove_passkey(phone.credential_id)
        header = stored(vault.header)
        with pytest.raises(AuthenticationError, match="not registered"):
            await phone.unlock(header)
        await laptop.unlock(header)
        await Vault.unlock(provider, header, PASSPHRASE)
        with pytest.raises(InvalidStateError):
            await vault.remove_passkey(phone.credential_id)

    run(body())


def test_the_same_passkey_twice_and_more_than_the_limit_are_refused() -> None:
    async def body() -> None:
        keys = [Passkey(f"key {index}") for index in range(MAX_PASSKEYS)]
        vault, _ = await vault_with_passkeys(*keys)
        with pytest.raises(InvalidStateError, match="already registered"):
            await keys[0].register(vault)
        before = vault.header
        with pytest.raises(LimitError):
            await Passkey("one too many").register(vault)
        assert vault.header is before
        assert len(stored(vault.header).passkeys) == MAX_PASSKEYS

    run(body())


def tampered_headers(header: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every field of every wrap changed (a bit flipped in bytes, a number moved, a name renamed), the
    MAC flipped or stripped, a wrap dropped, two wraps swapped."""
    out = []
    for index, wrap in enumerate(header["wraps"]):
        for field, value in wrap.items():
            if field == "method":
                continue
            changed = copy.deepcopy(header)
            if isinstance(value, int):
                changed["wraps"][index][field] = value + 1
            elif field == "name":
                changed["wraps"][index][field] = value + "!"
            else:
                raw = bytearray(base64.b64decode(value))
                raw[len(raw) // 2] ^= 0x01
                changed["wraps"][index][field] = base64.b64encode(bytes(raw)).decode()
            out.append((f"wraps[{index}].{field}", changed))
    mac = bytearray(base64.b64decode(header["mac"]))
    mac[0] ^= 0x80
    out.append(("mac flipped", {**header, "mac": base64.b64encode(bytes(mac)).decode()}))
    out.append(("mac stripped", {**header, "mac": ""}))
    out.append(("a wrap dropped", {**header, "wraps": header["wraps"][:-1]}))
    out.append(("wraps swapped", {**header, "wraps": list(reversed(header["wraps"]))}))
    return out


def test_a_tampered_header_is_refused_whichever_method_unlocks() -> None:
    """Changing any wrap, even one that is not used to unlock, is caught by the header MAC."""

    async def body() -> None:
        phone, laptop = Passkey("phone"), Passkey("laptop")
        vault, _ = await vault_with_passkeys(phone, laptop)
        cases = tampered_headers(vault.header.to_dict())
        assert len(cases) == 3 + 5 + 5 + 4
        for what, data in cases:
            try:
                header = VaultHeader.from_dict(data)
            except DecodeError:
                continue  # refused as it was read
            attempts = [
                Vault.unlock(provider, header, PASSPHRASE),
                phone.unlock(header),
                laptop.unlock(header),
            ]
            for attempt in attempts:
                with pytest.raises(AuthenticationError):
                    await attempt
                    pytest.fail(f"opened with {what}")

    run(body())


def test_a_wrap_copied_from_another_vault_is_refused() -> None:
    """Whoever can write the storage adds a passkey wrap of their own vault: the MAC refuses it."""

    async def body() -> None:
        mine, theirs = Passkey("mine"), Passkey("theirs")
        vault, _ = await vault_with_passkeys(mine)
        other, _ = await vault_with_passkeys(theirs)
        data = vault.header.to_dict()
        data["wraps"].append(other.header.to_dict()["wraps"][1])
        header = VaultHeader.from_dict(data)
        for attempt in (
            mine.unlock(header),
            theirs.unlock(header),
            Vault.unlock(provider, header, PASSPHRASE),
        ):
            with pytest.raises(AuthenticationError, match=r"altered|did not open"):
                await attempt

    run(body())


def test_headers_that_break_the_rules_are_refused_as_read() -> None:
    async def body() -> None:
        phone = Passkey("phone")
        vault, _ = await vault_with_passkeys(phone)
        data = vault.header.to_dict()
        device = (await Vault.create(provider, None)).header.to_dict()["wraps"][0]
        bad = [
            {**data, "wraps": [*data["wraps"], data["wraps"][1]]},  # the same passkey twice
            {**data, "wraps": [*data["wraps"], data["wraps"][0]]},  # two passphrases
            {**data, "wraps": [*data["wraps"], device]},  # unprotected beside protected
            {**data, "wraps": [data["wraps"][1]], "mac": ""},  # a passkey without a MAC
            {**data, "wraps": [{**data["wraps"][1], "prf_salt": base64.b64encode(bytes(8)).decode()}]},
            {**data, "wraps": [{**data["wraps"][1], "credential_id": ""}]},
            {**data, "wraps": [{**data["wraps"][1], "name": "x" * 65}]},
            {**data, "wraps": data["wraps"] * 9},
            {**data, "mac": base64.b64encode(bytes(16)).decode()},
        ]
        for case in bad:
            with pytest.raises((DecodeError, LimitError)):
                VaultHeader.from_dict(case)

    run(body())


def test_secrets_never_show_in_repr_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        caplog.set_level(logging.DEBUG)
        phone = Passkey("phone")
        vault, _ = await vault_with_passkeys(phone)
        wrap = vault.header.passkeys[0]
        output = phone.output(wrap.prf_salt)
        data_key = vault._data_key
        secrets = [output, data_key, phone.secret]
        shown = [repr(vault), str(vault), repr(vault.header), repr(wrap), repr(PrfOutput(output))]
        shown.append(f"{PrfOutput(output)}")
        for failing in (
            Vault.unlock_with_passkey(provider, vault.header, phone.credential_id, bytes(32)),
            Vault.unlock(provider, vault.header, "not it"),
        ):
            with pytest.raises(ProtocolError) as caught:
                await failing
            shown.append(str(caught.value))
        shown.append(caplog.text)
        text = "\n".join(shown)
        for secret in secrets:
            for form in (secret.hex(), base64.b64encode(secret).decode(), repr(bytes(secret))):
                assert form not in text
        assert "PrfOutput 32 bytes" in repr(PrfOutput(output))

    run(body())


# --- vaults and backups written by release d165a45 (version-1 headers) -------------------------------------


def release_header(name: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(FIXTURE["people"][name]["meta"]["vault"])
    return header


def test_a_release_header_opens_unchanged_and_takes_a_passkey() -> None:
    async def body() -> None:
        data = release_header("alice")
        assert data["version"] == 1 and data["protection"] == "passphrase"
        header = VaultHeader.from_dict(data)
        assert header.legacy and [wrap.method for wrap in header.wraps] == ["passphrase"]
        vault = await Vault.unlock(provider, header, FIXTURE["passphrase"])
        sealed = base64.b64decode(FIXTURE["people"]["alice"]["records"]["profile/self"])
        profile = await vault.open_json("profile", "self", sealed)
        assert profile["peer_id"] == FIXTURE["expected"]["alice"]["peer_id"]
        with pytest.raises(AuthenticationError, match="wrong passphrase"):
            await Vault.unlock(provider, header, "not the passphrase")

        phone = Passkey("phone")
        await phone.register(vault)
        upgraded = stored(vault.header)
        assert upgraded.to_dict()["version"] == 2 and not upgraded.legacy
        assert upgraded.passphrase == header.passphrase  # the release's wrap is kept as it was
        for opened in (
            await phone.unlock(upgraded),
            await Vault.unlock(provider, upgraded, FIXTURE["passphrase"]),
        ):
            assert (await opened.open_json("profile", "self", sealed))["name"] == profile["name"]

    run(body())


def test_a_release_header_with_a_changed_field_is_refused() -> None:
    """A version-1 header has no MAC; its wrap's associated data still binds salt and iteration count."""

    async def body() -> None:
        data = release_header("bob")
        for field, value in (("iterations", data["iterations"] + 1), ("protection", "none")):
            try:
                header = VaultHeader.from_dict({**data, field: value})
            except DecodeError:
                continue
            with pytest.raises(AuthenticationError):
                await Vault.unlock(provider, header, FIXTURE["passphrase"])

    run(body())


def test_a_backup_with_a_release_header_still_imports() -> None:
    """A backup is the vault construction in one document: one with a version-1 header (as the
    release exported) imports, and one holding a passkey wrap is refused (a backup needs its passphrase)."""

    async def body() -> None:
        person = FIXTURE["people"]["dave"]
        document = BACKUP.new(
            vault=release_header("dave"),
            records={"profile": {"self": person["records"]["profile/self"]}},
        )
        records = await import_backup(provider, json.dumps(document).encode(), FIXTURE["passphrase"])
        assert json.loads(records["profile"]["self"])["peer_id"] == FIXTURE["expected"]["dave"]["peer_id"]

        vault, _ = await vault_with_passkeys(Passkey("phone"))
        with_passkey = BACKUP.new(vault=vault.header.to_dict(), records={})
        with pytest.raises(DecodeError, match="passphrase alone"):
            await import_backup(provider, json.dumps(with_passkey).encode(), PASSPHRASE)

    run(body())
