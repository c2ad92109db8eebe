"""Vaults written by release d165a45 open with today's code (issue 12, "One persistence scheme").

tests/fixtures/vault-d165a45.json holds the sealed vaults of Alice, Bob and Dave as that release stored
them in the page (tests/fixtures/make_release_vault.py says how it was made). Alice and Bob talked both
ways after a full handshake, read, set a disappearing timer and let the ML-KEM ratchet re-key, then hung
up; Alice has a delete waiting for the next connection, Bob a text written offline. Alice blocked a
caller. Dave called Alice and is still a message request; their pages closed with the link up, so their
sessions are stored ready, with the outer layer. Here each vault is unlocked with its passphrase, every
record unsealed and opened by its schema (pyfront.storage.migrations), and the app's start-up is replayed
on today's messenger. The sessions then resume and talk again both ways, which only works if every
layer's state was read exactly.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from pyfront.messaging.chat import Kind, Status
from pyfront.messaging.contact import LinkStatus
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.settings import IceServer, Settings
from pyfront.olm import Account
from pyfront.session.identity import Identity
from pyfront.session.session import LocalParty, SessionState
from pyfront.storage import migrations
from pyfront.storage.records import Schema
from pyfront.storage.vault import Vault, VaultHeader
from tests.unit.test_messenger import (
    PROVIDER,
    Clock,
    MemoryStore,
    Person,
    Recorder,
    Wire,
    acks_leave,
    connect,
    pump,
)

FIXTURE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "vault-d165a45.json").read_text())
EXPECTED: dict[str, Any] = FIXTURE["expected"]
#: The schema of each store the release wrote (``<store>/<key>``).
STORE_SCHEMAS: dict[str, Schema] = {
    "identity": migrations.IDENTITY,
    "olm": migrations.OLM_ACCOUNT,
    "settings": migrations.SETTINGS,
    "profile": migrations.PROFILE,
    "contact": migrations.CONTACT,
    "chat": migrations.CHAT_META,
    "message": migrations.CHAT_MESSAGE,
    "block": migrations.BLOCK_LIST,
}


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


async def unseal(name: str) -> MemoryStore:
    """The person's vault opened with the passphrase: every record as the JSON text the vault sealed."""
    stored = FIXTURE["people"][name]
    header = VaultHeader.from_dict(json.loads(stored["meta"]["vault"]))
    vault = await Vault.unlock(PROVIDER, header, FIXTURE["passphrase"])
    store = MemoryStore()
    for slot, sealed in stored["records"].items():
        name_of_store, _, key = slot.partition("/")
        plaintext = await vault.open(name_of_store, key, base64.b64decode(sealed))
        store.records[slot] = plaintext.decode("utf-8")
    return store


async def enter(store: MemoryStore, clock: Clock) -> Person:
    """What ``App._enter`` does after the unlock (pyfront/browser/app.py), minus the page."""
    identity = await Identity.from_dict(PROVIDER, await store.get_json("identity", "self"))
    profile = migrations.PROFILE.open(await store.get_json("profile", "self"))
    settings = Settings.from_dict(await store.get_json("settings", "main"))
    account = Account.from_dict(PROVIDER, await store.get_json("olm", "account"))
    party, recorder = LocalParty(identity, account), Recorder()
    messenger = Messenger(
        PROVIDER,
        store,
        party,
        display_name=profile["name"],
        settings=settings,
        listener=recorder,
        clock=clock,
    )
    await messenger.load()
    assert messenger.load_problems == []
    return Person(profile["peer_id"], profile["name"], store, party, messenger, recorder)


async def load(name: str, clock: Clock) -> Person:
    return await enter(await unseal(name), clock)


async def talk(wire: Wire, clock: Clock, sender: Person, receiver: Person, text: str) -> None:
    """``sender`` sends ``text``; ``receiver`` decrypts and shows it, and ``sender`` sees it delivered
    (no reply comes within the acknowledgement's window, so it goes alone)."""
    clock.now += 1
    sent = await sender.messenger.send_text(receiver.peer_id, text)
    await pump(wire)
    await acks_leave(wire, clock, receiver)
    assert receiver.messenger.contact(sender.peer_id).conversation.messages[sent.message_id].text == text
    status = sender.messenger.contact(receiver.peer_id).conversation.messages[sent.message_id].status
    assert status in (Status.DELIVERED, Status.READ)


def release_clock() -> Clock:
    clock = Clock()
    clock.now = FIXTURE["now"] + 5
    return clock


#: Fields later versions of a message record added (``pyfront.storage.migrations.CHAT_MESSAGE``).
LATER_MESSAGE_FIELDS = ("version", "delivered_at", "read_at")


def as_release_wrote(message: dict[str, Any]) -> dict[str, Any]:
    """A message record without what the release's records did not carry (the version, the delivery and
    read times: unknown, ``None``, for every message the release stored)."""
    assert message.get("delivered_at") is None and message.get("read_at") is None
    return {key: value for key, value in message.items() if key not in LATER_MESSAGE_FIELDS}


def test_the_fixture_is_small_and_covers_every_kind() -> None:
    path = Path(__file__).resolve().parents[1] / "fixtures" / "vault-d165a45.json"
    assert path.stat().st_size < 1 << 20
    stores = {slot.partition("/")[0] for person in FIXTURE["people"].values() for slot in person["records"]}
    assert stores == set(STORE_SCHEMAS)
    assert sorted(FIXTURE["people"]) == sorted(EXPECTED) == ["alice", "bob", "dave"]


def test_every_record_of_the_release_opens_with_its_schema() -> None:
    """Each record, and each record nested in a contact, opens at the version this code writes."""

    async def body() -> None:
        states = []
        for name in FIXTURE["people"]:
            migrations.VAULT_HEADER.open(json.loads(FIXTURE["people"][name]["meta"]["vault"]))
            store = await unseal(name)
            for slot, text in store.records.items():
                record = STORE_SCHEMAS[slot.partition("/")[0]].open(json.loads(text))
                assert record["version"] == STORE_SCHEMAS[slot.partition("/")[0]].version, slot
                assert text == json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
                if not slot.startswith("contact/"):
                    continue
                session = migrations.SESSION.open(record["session"])
                states.append(session["state"])
                if session["state"] == SessionState.READY.value:
                    migrations.OUTER_LAYER.open(session["outer"])
                mls = migrations.MLS_LAYER.open(session["layers"]["mls"])
                assert migrations.GROUP_STATE.open(mls["group"])["version"] == 2
                olm = migrations.OLM_LAYER.open(session["layers"]["olm"])
                migrations.OLM_SESSION.open(olm["session"])
                migrations.KEM_RATCHET.open(session["layers"]["mlkem"])
        assert sorted(states) == ["connecting", "connecting", "ready", "ready"]

    run(body)


def test_the_release_vault_loads_as_the_release_showed_it() -> None:
    async def body() -> None:
        alice, bob, dave = [await load(name, release_clock()) for name in ("alice", "bob", "dave")]
        assert alice.messenger.settings == Settings(typing_indicators=True, read_receipts=True)
        assert bob.messenger.settings.ice_servers == (IceServer(("stun:stun.example.org:3478",)),)
        for person, expected in (
            (alice, EXPECTED["alice"]),
            (bob, EXPECTED["bob"]),
            (dave, EXPECTED["dave"]),
        ):
            assert person.peer_id == expected["peer_id"]
            assert person.messenger.blocked == expected["blocked"]
            assert sorted(person.messenger.contacts) == sorted(expected["chats"])
            for peer_id, chat in expected["chats"].items():
                contact = person.messenger.contact(peer_id)
                assert contact.name == chat["name"] and contact.request == chat["request"]
                assert contact.conversation.timer == chat["timer"]
                assert contact.pending_deletes == chat["pending_deletes"]
                shown = [as_release_wrote(message.to_dict()) for message in contact.conversation.ordered()]
                assert shown == chat["messages"]
                assert contact.identity_key is not None and contact.status is LinkStatus.OFFLINE
        assert len(alice.messenger.blocked) == 1
        assert alice.messenger.contact(dave.peer_id).request

    run(body)


def test_the_loaded_sessions_resume_and_talk_both_ways() -> None:
    """Bob calls: the stored sessions resume (no full handshake), the text he wrote offline and Alice's
    pending delete go out, and new texts cross both ways; after a reload from what today's code
    stored, they talk once more."""

    async def body() -> None:
        clock = release_clock()
        alice, bob = await load("alice", clock), await load("bob", clock)
        wire, _, _ = await connect(bob, alice)
        at_alice, at_bob = alice.messenger.contact(bob.peer_id), bob.messenger.contact(alice.peer_id)
        assert at_alice.status is at_bob.status is LinkStatus.READY
        assert (at_alice.resumed_handshakes, at_bob.resumed_handshakes) == (1, 1)
        assert (at_alice.full_handshakes, at_bob.full_handshakes) == (0, 0)
        # What waited for this connection arrived.
        assert at_alice.conversation.ordered()[-1].text == "Written while offline"
        (deleted_id,) = EXPECTED["alice"]["chats"][bob.peer_id]["pending_deletes"]
        assert at_bob.conversation.messages[deleted_id].kind is Kind.DELETED
        assert at_alice.pending_deletes == []
        await talk(wire, clock, alice, bob, "after the reshape")
        await talk(wire, clock, bob, alice, "reads fine")
        assert at_alice.rejected == at_bob.rejected == 0

        # Reload what today's code stored, and talk once more.
        clock.now += 60
        alice, bob = await enter(alice.store, clock), await enter(bob.store, clock)
        wire, _, _ = await connect(alice, bob)
        await talk(wire, clock, alice, bob, "and after a reload")
        await talk(wire, clock, bob, alice, "still fine")
        assert alice.messenger.contact(bob.peer_id).resumed_handshakes == 1

    run(body)


def test_sessions_stored_ready_resume_too() -> None:
    """Dave's and Alice's pages closed with the link up: their stored ready sessions resume, and the
    request stays a request until Alice replies."""

    async def body() -> None:
        clock = release_clock()
        alice, dave = await load("alice", clock), await load("dave", clock)
        wire, _, _ = await connect(dave, alice)
        at_alice = alice.messenger.contact(dave.peer_id)
        assert at_alice.resumed_handshakes == dave.messenger.contact(alice.peer_id).resumed_handshakes == 1
        await talk(wire, clock, dave, alice, "are you there?")
        assert at_alice.request
        await talk(wire, clock, alice, dave, "yes, hello Dave")
        assert not at_alice.request  # a reply accepts

    run(body)


@pytest.mark.parametrize("name", ["alice", "bob"])
def test_the_release_disappearing_timers_still_run(name: str) -> None:
    """The messages sent under the release's one-day timer disappear a day later, records and all."""

    async def body() -> None:
        clock = release_clock()
        person = await enter(await unseal(name), clock)
        chats = EXPECTED[name]["chats"]
        due = {
            message["id"]
            for chat in chats.values()
            for message in chat["messages"]
            if message["expires_at"] is not None
        }
        assert due  # the fixture has some
        clock.now = max(message["expires_at"] or 0 for chat in chats.values() for message in chat["messages"])
        await person.messenger.tick()
        left = {
            message_id
            for contact in person.messenger.contacts.values()
            for message_id in contact.conversation.messages
        }
        assert not due & left
        assert not any(slot.endswith(tuple(due)) for slot in person.store.records)

    run(body)
