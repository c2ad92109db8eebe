"""Olm accounts: identity, one-time and fallback keys, signatures, state (pyfront/olm/account.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, KeyLengthError, LimitError
from pyfront.olm import (
    MAX_ONE_TIME_KEYS,
    Account,
    IdentityKeyMismatchError,
    PreKeyMessage,
    UnknownOneTimeKeyError,
    signed_key_payload,
    verify_signed_key,
)
from pyfront.olm.encoding import decode_base64, encode_base64

PROVIDER = NativeProvider()


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


async def first_message(
    bob: Account, one_time_key: bytes, alice: Account | None = None
) -> tuple[Account, PreKeyMessage]:
    alice = alice or await Account.create(PROVIDER)
    session = await alice.create_outbound_session(bob.identity_keys[0], one_time_key)
    message = await session.encrypt(b"hi")
    assert isinstance(message, PreKeyMessage)
    return alice, message


def test_identity_keys_and_signature() -> None:
    async def scenario() -> None:
        account = await Account.create(PROVIDER)
        curve_key, signing_key = account.identity_keys
        assert len(curve_key) == 32 and len(signing_key) == 32
        signature = await account.sign(b"message")
        assert len(signature) == 64
        assert await PROVIDER.ed25519_verify(signing_key, b"message", signature)
        assert not await PROVIDER.ed25519_verify(signing_key, b"other", signature)

    run(scenario)


def test_one_time_keys_ids_publishing_and_cap() -> None:
    async def scenario() -> None:
        account = await Account.create(PROVIDER)
        await account.generate_one_time_keys(3)
        assert list(account.one_time_keys) == ["AAAAAQ", "AAAAAg", "AAAAAw"]  # libolm's key ids
        account.mark_keys_as_published()
        assert account.one_time_keys == {}
        await account.generate_one_time_keys(1)
        assert list(account.one_time_keys) == ["AAAABA"]
        await account.generate_one_time_keys(MAX_ONE_TIME_KEYS)
        held = account.to_dict()["one_time_keys"]
        assert len(held) == MAX_ONE_TIME_KEYS
        assert held[0]["key_id"] == 5  # the four oldest were forgotten
        for count in (-1, MAX_ONE_TIME_KEYS + 1):
            with pytest.raises(LimitError):
                await account.generate_one_time_keys(count)

    run(scenario)


def test_one_time_key_is_removed_once_used() -> None:
    async def scenario() -> None:
        bob = await Account.create(PROVIDER)
        await bob.generate_one_time_keys(2)
        keys = list(bob.one_time_keys.values())
        alice, message = await first_message(bob, keys[0])
        session, plaintext = await bob.create_inbound_session(alice.identity_keys[0], message)
        assert plaintext == b"hi"
        assert list(bob.one_time_keys.values()) == [keys[1]]
        with pytest.raises(UnknownOneTimeKeyError):
            await bob.create_inbound_session(alice.identity_keys[0], message)
        assert session.session_id

    run(scenario)


def test_failed_first_message_consumes_nothing() -> None:
    async def scenario() -> None:
        bob = await Account.create(PROVIDER)
        await bob.generate_one_time_keys(1)
        (key,) = bob.one_time_keys.values()
        alice, message = await first_message(bob, key)
        data = bytearray(message.to_bytes())
        data[-1] ^= 1
        before = bob.to_dict()
        with pytest.raises(IdentityKeyMismatchError):
            await bob.create_inbound_session(bytes(32), message)
        with pytest.raises(AuthenticationError, match="MAC"):
            await bob.create_inbound_session(alice.identity_keys[0], PreKeyMessage.from_bytes(bytes(data)))
        assert bob.to_dict() == before
        await bob.create_inbound_session(alice.identity_keys[0], message)

    run(scenario)


def test_fallback_keys() -> None:
    async def scenario() -> None:
        bob = await Account.create(PROVIDER)
        assert bob.fallback_key == {}
        await bob.generate_fallback_key()
        ((key_id, fallback),) = bob.fallback_key.items()
        assert key_id == "AAAAAQ"
        bob.mark_keys_as_published()
        assert bob.fallback_key == {}
        # A fallback key is not removed when used: two peers can use it.
        for _ in range(2):
            alice, message = await first_message(bob, fallback)
            await bob.create_inbound_session(alice.identity_keys[0], message)
        # After rotation the previous one still works until it is forgotten.
        await bob.generate_fallback_key()
        alice, message = await first_message(bob, fallback)
        await bob.create_inbound_session(alice.identity_keys[0], message)
        bob.forget_old_fallback_key()
        alice, message = await first_message(bob, fallback)
        with pytest.raises(UnknownOneTimeKeyError):
            await bob.create_inbound_session(alice.identity_keys[0], message)

    run(scenario)


def test_outbound_session_checks_key_lengths() -> None:
    async def scenario() -> None:
        alice = await Account.create(PROVIDER)
        with pytest.raises(KeyLengthError):
            await alice.create_outbound_session(bytes(31), bytes(32))
        with pytest.raises(KeyLengthError):
            await alice.create_outbound_session(bytes(32), bytes(33))

    run(scenario)


def test_state_round_trip_keeps_keys_usable() -> None:
    async def scenario() -> None:
        bob = await Account.create(PROVIDER)
        await bob.generate_one_time_keys(2)
        await bob.generate_fallback_key()
        await bob.generate_fallback_key()
        bob.mark_keys_as_published()
        keys = [*bob.to_dict()["one_time_keys"]]
        restored = Account.from_dict(PROVIDER, json.loads(json.dumps(bob.to_dict())))
        assert restored.to_dict() == bob.to_dict()
        assert restored.identity_keys == bob.identity_keys
        assert await restored.sign(b"x") == await bob.sign(b"x")
        one_time_key = decode_base64(keys[1]["public_key"])
        alice, message = await first_message(restored, one_time_key)
        _, plaintext = await restored.create_inbound_session(alice.identity_keys[0], message)
        assert plaintext == b"hi"
        await restored.generate_one_time_keys(1)
        assert list(restored.one_time_keys) == ["AAAABQ"]  # the id counter survived

    run(scenario)


def test_malformed_state_raises_decode_error() -> None:
    async def scenario() -> None:
        account = await Account.create(PROVIDER)
        await account.generate_one_time_keys(1)
        state = account.to_dict()
        key = state["one_time_keys"][0]
        for mutated in (
            None,
            {**state, "kind": "olm-session"},
            {**state, "version": 0},
            {**state, "signing_seed": encode_base64(bytes(31))},
            {**state, "one_time_keys": "x"},
            {**state, "one_time_keys": [key] * (MAX_ONE_TIME_KEYS + 1)},
            {**state, "one_time_keys": [{**key, "published": "yes"}]},
            {**state, "one_time_keys": [{**key, "key_id": 1 << 32}]},
            {**state, "next_key_id": -1},
            {**state, "fallback_key": 3},
        ):
            with pytest.raises(DecodeError):
                Account.from_dict(PROVIDER, mutated)

    run(scenario)


def test_repr_shows_no_secrets() -> None:
    async def scenario() -> None:
        account = await Account.create(PROVIDER)
        state = account.to_dict()
        for secret in (state["identity_private_key"], state["signing_seed"]):
            assert secret not in repr(account)
        assert repr(account) == f"<olm.Account {state['identity_key']}>"

    run(scenario)


def test_signed_keys() -> None:
    async def scenario() -> None:
        account = await Account.create(PROVIDER)
        await account.generate_one_time_keys(1)
        (key,) = account.one_time_keys.values()
        signing_key = account.identity_keys[1]
        assert signed_key_payload(key) == b'{"key":"' + encode_base64(key).encode() + b'"}'
        assert signed_key_payload(key, fallback=True).startswith(b'{"fallback":true,"key":"')
        signature = await account.sign_key(key)
        await verify_signed_key(PROVIDER, signing_key, key, signature)
        bad = bytes([signature[0] ^ 1]) + signature[1:]
        for arguments in (
            (signing_key, key, bad),
            (signing_key, bytes(32), signature),
            (signing_key, key, signature[:63]),
            (signing_key[:31], key, signature),
            (signing_key, key[:31], signature),
        ):
            with pytest.raises(AuthenticationError):
                await verify_signed_key(PROVIDER, *arguments)

    run(scenario)
