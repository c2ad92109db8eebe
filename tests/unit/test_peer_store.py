"""The headless peer's identity file (pyfront.peer.store): the page's vault, sealed records in SQLite.

What a person relies on: the file opens only with its passphrase and a wrong one changes nothing; its
bytes hold no record in clear; a record moved to another slot does not open; a write is all or nothing;
two processes never run on one file; the messenger's records survive a restart and its sessions resume.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError
from pyfront.messaging.chat import Direction
from pyfront.messaging.contact import LinkStatus
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.settings import Settings
from pyfront.olm import Account
from pyfront.peer.store import FILE_FORMAT, IdentityFile, IdentityFileError
from pyfront.session.identity import Identity, invite_fingerprint
from pyfront.session.session import LocalParty
from pyfront.storage.vault import MIN_PASSPHRASE_ITERATIONS, Vault, VaultHeader
from tests.unit.test_messenger import ALICE_PEER, BOB_PEER, Clock, MemoryLink, Recorder, Wire, pump

PROVIDER = NativeProvider()
PASSPHRASE = "a long enough passphrase"
#: The vault's floor: the tests stay quick, the format is the same.
ITERATIONS = MIN_PASSPHRASE_ITERATIONS


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def every_byte(directory: Path) -> bytes:
    """The database and SQLite's WAL and index files beside it."""
    return b"".join(path.read_bytes() for path in sorted(directory.iterdir()))


def modes(directory: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()}


async def new_file(path: Path, passphrase: str | None = PASSPHRASE) -> IdentityFile:
    return await IdentityFile.create(path, PROVIDER, passphrase, iterations=ITERATIONS)


def test_records_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    async def body() -> None:
        path = tmp_path / "me.parley"
        store = await new_file(path)
        await store.put_json("profile", "self", {"version": 1, "name": "Bot"})
        await store.write(
            [("message", "p1:aa", {"text": "first"}), ("message", "p1:bb", {"text": "second"})], []
        )
        await store.write([("message", "p2:cc", {"text": "other"})], [("message", "p1:aa")])
        assert await store.keys("message") == ["p1:bb", "p2:cc"]
        assert await store.keys("message", "p1:") == ["p1:bb"]
        store.close()
        reopened = await IdentityFile.unlock(path, PROVIDER, PASSPHRASE)
        assert await reopened.get_json("profile", "self") == {"version": 1, "name": "Bot"}
        assert await reopened.get_json("message", "p1:aa") is None
        assert await reopened.get_json("message", "p1:bb") == {"text": "second"}
        await reopened.delete("message", "p1:bb")
        assert await reopened.keys("message") == ["p2:cc"]
        reopened.close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    run(body)


def test_a_wrong_passphrase_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        path = tmp_path / "me.parley"
        store = await new_file(path)
        await store.put_json("identity", "self", {"seed": "secret"})
        store.close()
        before = path.read_bytes()
        with pytest.raises(AuthenticationError, match="wrong passphrase"):
            await IdentityFile.unlock(path, PROVIDER, "not the passphrase")
        with pytest.raises(AuthenticationError):
            await IdentityFile.unlock(path, PROVIDER, None)
        assert path.read_bytes() == before
        (await IdentityFile.unlock(path, PROVIDER, PASSPHRASE)).close()  # still opens

    run(body)


def test_the_file_holds_the_pages_vault_and_no_record_in_clear(tmp_path: Path) -> None:
    async def body() -> None:
        path = tmp_path / "me.parley"
        store = await new_file(path)
        await store.put_json("message", "p1:aa", {"text": "meet me at the old mill"})
        store.close()
        raw = every_byte(tmp_path)
        assert b"old mill" not in raw and b"meet me" not in raw
        # The header is the page's VaultHeader and the record is Vault-sealed: the page's vault opens it.
        with sqlite3.connect(path) as connection:
            meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
            (sealed,) = connection.execute(
                "SELECT sealed FROM records WHERE slot = 'message/p1:aa'"
            ).fetchone()
        assert meta["format"] == FILE_FORMAT
        header = VaultHeader.from_dict(json.loads(meta["vault"]))
        assert header.passphrase is not None and header.passphrase.iterations == ITERATIONS
        vault = await Vault.unlock(PROVIDER, header, PASSPHRASE)
        assert await vault.open_json("message", "p1:aa", sealed) == {"text": "meet me at the old mill"}

    run(body)


def test_a_record_moved_to_another_slot_does_not_open(tmp_path: Path) -> None:
    async def body() -> None:
        path = tmp_path / "me.parley"
        store = await new_file(path)
        await store.put_json("contact", "pmallory", {"name": "Mallory"})
        await store.put_json("contact", "palice", {"name": "Alice"})
        store.close()
        with sqlite3.connect(path) as connection:  # someone with the disk swaps two records
            (mallory,) = connection.execute(
                "SELECT sealed FROM records WHERE slot = 'contact/pmallory'"
            ).fetchone()
            connection.execute("UPDATE records SET sealed = ? WHERE slot = 'contact/palice'", (mallory,))
        reopened = await IdentityFile.unlock(path, PROVIDER, PASSPHRASE)
        with pytest.raises(AuthenticationError):
            await reopened.get_json("contact", "palice")
        assert await reopened.get_json("contact", "pmallory") == {"name": "Mallory"}
        reopened.close()

    run(body)


def test_a_write_is_all_or_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        store = await new_file(tmp_path / "me.parley")
        await store.put_json("message", "p1:aa", {"text": "kept"})
        with pytest.raises(DecodeError):  # the second slot is refused: neither put nor delete happens
            await store.write(
                [("message", "p1:bb", {"text": "new"}), ("Bad Store", "x", {})], [("message", "p1:aa")]
            )
        assert await store.keys("message") == ["p1:aa"]
        with pytest.raises(TypeError):  # a value that is not JSON: nothing written either
            await store.write([("message", "p1:cc", {"text": "new"}), ("message", "p1:dd", {1j})], [])
        assert await store.keys("message") == ["p1:aa"]
        store.close()

    run(body)


def test_one_process_at_a_time_and_no_file_is_clobbered(tmp_path: Path) -> None:
    async def body() -> None:
        path = tmp_path / "me.parley"
        store = await new_file(path)
        await store.put_json("profile", "self", {"name": "Bot"})
        with pytest.raises(IdentityFileError, match="in use by another running peer"):
            await IdentityFile.unlock(path, PROVIDER, PASSPHRASE)
        reader = await IdentityFile.unlock(path, PROVIDER, PASSPHRASE, read_only=True)  # peer invite
        assert await reader.get_json("profile", "self") == {"name": "Bot"}
        reader.close()
        before = path.read_bytes()
        with pytest.raises(IdentityFileError, match="already exists"):
            await new_file(path)
        assert path.read_bytes() == before
        store.close()
        (await IdentityFile.unlock(path, PROVIDER, PASSPHRASE)).close()  # the lock went with the close

    run(body)


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100, b"sqlite"])
def test_a_file_that_is_not_an_identity_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other"
    path.write_bytes(content)
    with pytest.raises(IdentityFileError, match="not a Parley identity file"):
        IdentityFile.read_header(path)


def test_another_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    with pytest.raises(IdentityFileError, match="not a Parley identity file"):
        IdentityFile.read_header(path)
    with pytest.raises(IdentityFileError, match="does not exist"):
        IdentityFile.read_header(tmp_path / "missing")


def test_an_unprotected_file_opens_without_a_passphrase(tmp_path: Path) -> None:
    async def body() -> None:
        path = tmp_path / "open.parley"
        store = await new_file(path, None)
        await store.put_json("settings", "main", {"x": 1})
        store.close()
        assert not IdentityFile.read_header(path).protected
        reopened = await IdentityFile.unlock(path, PROVIDER, None)
        assert await reopened.get_json("settings", "main") == {"x": 1}
        await reopened.change_passphrase(PASSPHRASE, iterations=ITERATIONS)
        reopened.close()
        with pytest.raises(AuthenticationError):
            await IdentityFile.unlock(path, PROVIDER, None)
        (await IdentityFile.unlock(path, PROVIDER, PASSPHRASE)).close()

    run(body)


# --- the messenger on identity files ------------------------------------------------------------------


async def person(store: IdentityFile, name: str, clock: Clock) -> Messenger:
    if await store.get_json("identity", "self") is None:
        await store.put_json("identity", "self", (await Identity.generate(PROVIDER)).to_dict())
        await store.put_json("olm", "account", (await Account.create(PROVIDER)).to_dict())
    identity = await Identity.from_dict(PROVIDER, await store.get_json("identity", "self"))
    account = Account.from_dict(PROVIDER, await store.get_json("olm", "account"))
    messenger = Messenger(
        PROVIDER,
        store,
        LocalParty(identity, account),
        display_name=name,
        settings=Settings(),
        listener=Recorder(),
        clock=clock,
    )
    await messenger.load()
    return messenger


async def link_up(alice: Messenger, bob: Messenger) -> Wire:
    """Bob dials Alice over an in-memory link (tests/unit/test_messenger.py's)."""
    wire = Wire()
    fp_a, fp_b = PROVIDER.random_bytes(32), PROVIDER.random_bytes(32)
    link_a, link_b = MemoryLink(wire, ALICE_PEER, fp_a, fp_b), MemoryLink(wire, BOB_PEER, fp_b, fp_a)
    link_a.peer, link_b.peer = link_b, link_a
    link_a.target, link_b.target = (bob, ALICE_PEER), (alice, BOB_PEER)
    await alice.link_open(BOB_PEER, link_a)
    await bob.link_open(ALICE_PEER, link_b)
    await pump(wire)
    return wire


def test_the_messengers_records_survive_a_restart_and_the_session_resumes(tmp_path: Path) -> None:
    async def body() -> None:
        clock = Clock()
        paths = tmp_path / "alice.parley", tmp_path / "bob.parley"
        stores = [await new_file(path) for path in paths]
        alice, bob = await person(stores[0], "Alice", clock), await person(stores[1], "Bob", clock)
        identity = await Identity.from_dict(PROVIDER, await stores[0].get_json("identity", "self"))
        await bob.add_contact(
            ALICE_PEER, name="Alice", invite_fingerprint=invite_fingerprint(identity.public_key)
        )
        wire = await link_up(alice, bob)
        clock.now += 1
        await bob.send_text(ALICE_PEER, "before the restart")
        await pump(wire)
        assert [m.text for m in alice.contact(BOB_PEER).conversation.ordered()] == ["before the restart"]
        for store in stores:
            store.close()

        # Both processes start again from their files: the chat is there, and the session resumes.
        stores = [await IdentityFile.unlock(path, PROVIDER, PASSPHRASE) for path in paths]
        alice, bob = await person(stores[0], "Alice", clock), await person(stores[1], "Bob", clock)
        texts = [(m.direction, m.text) for m in alice.contact(BOB_PEER).conversation.ordered()]
        assert texts == [(Direction.INCOMING, "before the restart")]
        assert bob.contact(ALICE_PEER).identity_key == identity.public_key
        wire = await link_up(alice, bob)
        at_alice, at_bob = alice.contact(BOB_PEER), bob.contact(ALICE_PEER)
        assert at_alice.status is at_bob.status is LinkStatus.READY
        assert (at_alice.full_handshakes, at_bob.resumed_handshakes) == (0, 1)
        clock.now += 1
        await alice.send_text(BOB_PEER, "after the restart")
        await pump(wire)
        assert [m.text for m in bob.contact(ALICE_PEER).conversation.ordered()] == [
            "before the restart",
            "after the restart",
        ]
        for store in stores:
            store.close()

    run(body)


def test_the_file_is_created_with_owner_only_permissions_even_with_a_loose_umask(tmp_path: Path) -> None:
    async def body() -> None:
        old = os.umask(0)
        try:
            store = await new_file(tmp_path / "me.parley")
            await store.put_json("profile", "self", {})
        finally:
            os.umask(old)
        assert set(modes(tmp_path).values()) == {0o600}, modes(tmp_path)
        store.close()

    run(body)


WRITER = """
import asyncio, sys
from pathlib import Path
from pyfront.crypto.native import NativeProvider
from pyfront.peer.store import IdentityFile

async def main() -> None:
    store = await IdentityFile.unlock(Path(sys.argv[1]), NativeProvider(), sys.argv[2])
    index = 0
    while True:  # one transaction per step, as the messenger's writes: a message and its journal
        await store.write(
            [("message", f"p1:{index:06d}", {"text": f"text {index}"}), ("journal", "p1", {"last": index})],
            [],
        )
        print(index, flush=True)
        index += 1

asyncio.run(main())
"""


def test_a_process_killed_mid_write_loses_nothing_it_had_committed(tmp_path: Path) -> None:
    """SIGKILL while the peer writes in a loop: the file opens, every write it reported is there and
    whole, and no write is half there (the journal names the last message stored)."""
    path = tmp_path / "me.parley"

    async def create() -> None:
        (await new_file(path)).close()

    asyncio.run(create())
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), PASSPHRASE],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert writer.stdout is not None
    reported = -1
    for line in writer.stdout:
        reported = int(line)
        if reported >= 40:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait()

    async def check() -> None:
        store = await IdentityFile.unlock(path, PROVIDER, PASSPHRASE)
        keys = await store.keys("message")
        last = (await store.get_json("journal", "p1"))["last"]
        assert len(keys) == last + 1 >= reported + 1  # nothing reported as stored is missing
        assert keys == [f"p1:{index:06d}" for index in range(last + 1)]  # and no write is half there
        for key in keys:
            assert (await store.get_json("message", key))["text"] == f"text {int(key[3:])}"
        store.close()

    asyncio.run(check())
