"""``pyfront.browser.manual``: what the page checks of a valid offer before it connects, under CPython.

The module runs over ``tests/unit/test_rtc.py``'s fake browser (``js`` and ``pyodide.ffi``) and a real
``Messenger`` over the in-memory store of ``tests/unit/test_messenger.py``. A packet whose signature is
good is still refused when it names a known contact's peer id with another identity key (or another
invite fingerprint), or when it is our own; nothing is added, no peer connection is made, and the
screen's wording says which case it is.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError
from pyfront.messaging.manual_signaling import Description, Kind, seal
from pyfront.session.identity import Identity, invite_fingerprint
from tests.unit.test_manual_signaling import CHROMIUM_OFFER
from tests.unit.test_messenger import ALICE_PEER, BOB_PEER, Clock, invited_pair, make_person
from tests.unit.test_rtc import rtc

__all__ = ["rtc"]

PROVIDER = NativeProvider()


@pytest.fixture
def manual(rtc: types.ModuleType) -> Iterator[types.ModuleType]:
    sys.modules.pop("pyfront.browser.manual", None)
    module = importlib.import_module("pyfront.browser.manual")
    yield module
    sys.modules.pop("pyfront.browser.manual", None)


class Events:
    def link_open(self, *_args: Any) -> None: ...
    def link_message(self, *_args: Any) -> None: ...
    def link_closed(self, *_args: Any) -> None: ...


def connection(manual: types.ModuleType, person: Any, changes: list[str]) -> Any:
    return manual.ManualConnection(
        PROVIDER,
        person.party.identity,
        peer_id=person.peer_id,
        name=person.name,
        messenger=person.messenger,
        events=Events(),
        on_change=lambda: changes.append("changed"),
    )


async def offer_from(identity: Identity, peer_id: str, name: str = "Bob") -> str:
    description = Description.from_sdp(CHROMIUM_OFFER)
    return (await seal(PROVIDER, identity, peer_id=peer_id, name=name, description=description)).text


def test_an_offer_naming_a_known_contact_with_another_key_is_refused(
    manual: types.ModuleType,
    rtc: types.ModuleType,
) -> None:
    async def body() -> None:
        alice, bob, _ = await invited_pair(Clock())
        contact = alice.messenger.contacts[BOB_PEER]
        assert contact.identity_key == bob.party.identity.public_key
        mallory = await Identity.generate(PROVIDER)
        changes: list[str] = []
        attempt = connection(manual, alice, changes)
        with pytest.raises(manual.ContactMismatch) as refused:
            await attempt.answer_offer(await offer_from(mallory, BOB_PEER))
        assert "another key than the one you know for Bob" in str(refused.value)
        assert "Compare safety numbers" in manual.refusal(refused.value, Kind.OFFER)
        assert (attempt.stage, changes, rtc.connections) == (manual.Stage.IDLE, [], [])
        assert contact.identity_key == bob.party.identity.public_key  # nothing moved
        assert contact.invite_fingerprint != invite_fingerprint(mallory.public_key)

    asyncio.run(body())


def test_an_offer_that_does_not_match_a_contacts_invite_is_refused(manual: types.ModuleType) -> None:
    """Bob holds Alice's invite but has not connected yet: an offer under her peer id with another key."""

    async def body() -> None:
        clock = Clock()
        alice = await make_person(ALICE_PEER, "Alice", clock)
        bob = await make_person(BOB_PEER, "Bob", clock)
        fingerprint = invite_fingerprint(alice.party.identity.public_key)
        await bob.messenger.add_contact(ALICE_PEER, name="Alice", invite_fingerprint=fingerprint)
        mallory = await Identity.generate(PROVIDER)
        with pytest.raises(manual.ContactMismatch, match="does not match the invite of Alice"):
            await connection(manual, bob, []).answer_offer(await offer_from(mallory, ALICE_PEER, "Alice"))
        assert bob.messenger.contacts[ALICE_PEER].invite_fingerprint == fingerprint

    asyncio.run(body())


def test_our_own_offer_is_refused(manual: types.ModuleType, rtc: types.ModuleType) -> None:
    async def body() -> None:
        alice = await make_person(ALICE_PEER, "Alice", Clock())
        own = await offer_from(alice.party.identity, ALICE_PEER, "Alice")
        with pytest.raises(DecodeError, match="your own"):
            await connection(manual, alice, []).answer_offer(own)
        assert alice.messenger.contacts == {} and rtc.connections == []

    asyncio.run(body())


def test_the_refusals_say_which_case_it_is(manual: types.ModuleType) -> None:
    damaged = manual.refusal(AuthenticationError("signature does not verify"), Kind.OFFER)
    assert damaged.startswith("This offer was changed or damaged on the way")
    other = manual.refusal(AuthenticationError("this answer was made for another offer"), Kind.ANSWER)
    assert other.startswith("This answer was made for another offer")
    assert manual.refusal(DecodeError("not base64url text"), Kind.ANSWER) == (
        "This is not a Parley connection answer (not base64url text)."
    )
