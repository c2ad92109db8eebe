"""Our Olm against two independent implementations: vodozemac (Rust) and libolm 3.2.16 (C, python-olm).

Every scenario runs with each of them on the other end and with either side starting the session
(issue 5, "Tests that must exist and pass"). Bytes cross as the libraries produce them (python-olm
speaks unpadded base64, which the adapter converts), so these tests prove the wire format byte for byte
as well as the key schedule. python-olm returns plaintext as text, so plaintexts here are UTF-8.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import olm
import pytest
import vodozemac

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, InvalidStateError, LimitError, ProtocolError, ReplayError
from pyfront.olm import (
    MAX_MESSAGE_GAP,
    Account,
    MessageType,
    NormalMessage,
    PreKeyMessage,
    Session,
    UnknownOneTimeKeyError,
    decode_message,
    signed_key_payload,
    verify_signed_key,
)

pytestmark = pytest.mark.interop

Wire = tuple[int, bytes]


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


class Theirs(Protocol):
    """One end of a conversation run by the other implementation."""

    name: str
    identity_key: bytes

    def new_one_time_key(self) -> bytes: ...
    def start(self, identity_key: bytes, one_time_key: bytes) -> None: ...
    def accept(self, identity_key: bytes, wire: Wire) -> bytes: ...
    def encrypt(self, plaintext: bytes) -> Wire: ...
    def decrypt(self, wire: Wire) -> bytes: ...
    def session_id(self) -> str: ...
    def save_and_restore(self) -> None: ...


class Vodozemac:
    name = "vodozemac"

    def __init__(self) -> None:
        self.account = vodozemac.Account()
        self.identity_key = self.account.curve25519_key.to_bytes()
        self.session: Any = None

    def new_one_time_key(self) -> bytes:
        self.account.generate_one_time_keys(1)
        (key,) = self.account.one_time_keys.values()
        self.account.mark_keys_as_published()
        return bytes(key.to_bytes())

    def start(self, identity_key: bytes, one_time_key: bytes) -> None:
        self.session = self.account.create_outbound_session(
            vodozemac.Curve25519PublicKey.from_bytes(identity_key),
            vodozemac.Curve25519PublicKey.from_bytes(one_time_key),
        )

    def accept(self, identity_key: bytes, wire: Wire) -> bytes:
        assert wire[0] == MessageType.PRE_KEY
        pre_key = vodozemac.AnyOlmMessage.from_parts(*wire).to_pre_key()
        assert pre_key is not None
        self.session, plaintext = self.account.create_inbound_session(
            vodozemac.Curve25519PublicKey.from_bytes(identity_key), pre_key
        )
        return bytes(plaintext)

    def encrypt(self, plaintext: bytes) -> Wire:
        message_type, data = self.session.encrypt(plaintext).to_parts()
        return message_type, bytes(data)

    def decrypt(self, wire: Wire) -> bytes:
        return bytes(self.session.decrypt(vodozemac.AnyOlmMessage.from_parts(*wire)))

    def session_id(self) -> str:
        return str(self.session.session_id)

    def save_and_restore(self) -> None:
        key = bytes(32)
        self.account = vodozemac.Account.from_pickle(self.account.pickle(key), key)
        self.session = vodozemac.Session.from_pickle(self.session.pickle(key), key)


class Libolm:
    name = "libolm"

    def __init__(self) -> None:
        self.account = olm.Account()
        self.identity_key = b64decode(self.account.identity_keys["curve25519"])
        self.session: Any = None

    def new_one_time_key(self) -> bytes:
        self.account.generate_one_time_keys(1)
        (key,) = self.account.one_time_keys["curve25519"].values()
        self.account.mark_keys_as_published()
        return b64decode(key)

    def start(self, identity_key: bytes, one_time_key: bytes) -> None:
        self.session = olm.OutboundSession(self.account, b64encode(identity_key), b64encode(one_time_key))

    @staticmethod
    def _message(wire: Wire) -> Any:
        message_type, data = wire
        if message_type == MessageType.PRE_KEY:
            return olm.OlmPreKeyMessage(b64encode(data))
        return olm.OlmMessage(b64encode(data))

    def accept(self, identity_key: bytes, wire: Wire) -> bytes:
        message = self._message(wire)
        self.session = olm.InboundSession(self.account, message, b64encode(identity_key))
        self.account.remove_one_time_keys(self.session)
        return self.session.decrypt(message, unicode_errors="strict").encode()

    def encrypt(self, plaintext: bytes) -> Wire:
        message = self.session.encrypt(plaintext.decode())
        return message.message_type, b64decode(message.ciphertext)

    def decrypt(self, wire: Wire) -> bytes:
        return self.session.decrypt(self._message(wire), unicode_errors="strict").encode()

    def session_id(self) -> str:
        return str(self.session.id)

    def save_and_restore(self) -> None:
        self.account = olm.Account.from_pickle(self.account.pickle("k"), "k")
        self.session = olm.Session.from_pickle(self.session.pickle("k"), "k")


THEIR_ERRORS = (olm.OlmSessionError, vodozemac.OlmDecryptionException, vodozemac.DecodeException)


class Ours:
    """Our account and session, driven with the same verbs as ``Theirs``."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.provider = account.provider
        self.identity_key = account.identity_keys[0]
        self.session: Session | None = None

    @classmethod
    async def create(cls) -> Ours:
        return cls(await Account.create(NativeProvider()))

    async def new_one_time_key(self) -> bytes:
        await self.account.generate_one_time_keys(1)
        (key,) = self.account.one_time_keys.values()
        self.account.mark_keys_as_published()
        return key

    async def start(self, identity_key: bytes, one_time_key: bytes) -> None:
        self.session = await self.account.create_outbound_session(identity_key, one_time_key)

    async def accept(self, identity_key: bytes, wire: Wire) -> bytes:
        message = decode_message(*wire)
        assert isinstance(message, PreKeyMessage)
        self.session, plaintext = await self.account.create_inbound_session(identity_key, message)
        return plaintext

    async def encrypt(self, plaintext: bytes) -> Wire:
        assert self.session is not None
        message = await self.session.encrypt(plaintext)
        return int(message.message_type), message.to_bytes()

    async def decrypt(self, wire: Wire) -> bytes:
        assert self.session is not None
        return await self.session.decrypt(decode_message(*wire))

    def state(self) -> dict[str, Any]:
        assert self.session is not None
        return self.session.to_dict()

    def save_and_restore(self) -> None:
        assert self.session is not None
        # Through JSON text, as the storage layer will keep it.
        stored = json.dumps({"account": self.account.to_dict(), "session": self.session.to_dict()})
        loaded = json.loads(stored)
        self.account = Account.from_dict(self.provider, loaded["account"])
        self.session = Session.from_dict(self.provider, loaded["session"])


IMPLEMENTATIONS: dict[str, Callable[[], Theirs]] = {"vodozemac": Vodozemac, "libolm": Libolm}


def inner(wire: Wire) -> NormalMessage:
    """The normal message of ``wire``, unwrapped from its pre-key message if it has one."""
    message = decode_message(*wire)
    return message.message if isinstance(message, PreKeyMessage) else message


def run(scenario: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
    asyncio.run(scenario(*args))


async def establish(theirs: Theirs, ours_first: bool) -> Ours:
    """A session between us and them; the initiator's first (pre-key) message is delivered."""
    ours = await Ours.create()
    if ours_first:
        await ours.start(theirs.identity_key, theirs.new_one_time_key())
        wire = await ours.encrypt(b"hello from ours")
        assert wire[0] == MessageType.PRE_KEY
        assert theirs.accept(ours.identity_key, wire) == b"hello from ours"
    else:
        theirs.start(ours.identity_key, await ours.new_one_time_key())
        wire = theirs.encrypt(b"hello from theirs")
        assert wire[0] == MessageType.PRE_KEY
        assert await ours.accept(theirs.identity_key, wire) == b"hello from theirs"
    assert ours.session is not None
    assert ours.session.session_id == theirs.session_id()
    return ours


async def ours_to_theirs(ours: Ours, theirs: Theirs, text: str) -> Wire:
    wire = await ours.encrypt(text.encode())
    assert theirs.decrypt(wire) == text.encode()
    return wire


async def theirs_to_ours(ours: Ours, theirs: Theirs, text: str) -> Wire:
    wire = theirs.encrypt(text.encode())
    assert await ours.decrypt(wire) == text.encode()
    return wire


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def theirs(request: pytest.FixtureRequest) -> Theirs:
    return IMPLEMENTATIONS[request.param]()


ours_first = pytest.mark.parametrize("ours_first", [True, False], ids=["ours-outbound", "theirs-outbound"])


@ours_first
def test_pre_key_messages_until_first_reply_then_normal(theirs: Theirs, ours_first: bool) -> None:
    async def scenario() -> None:
        ours = await establish(theirs, ours_first)
        # The initiator keeps sending pre-key messages while it has heard nothing back.
        for number in range(3):
            if ours_first:
                wire = await ours_to_theirs(ours, theirs, f"still pre-key {number} ✓")
            else:
                wire = await theirs_to_ours(ours, theirs, f"still pre-key {number} ✓")
            assert wire[0] == MessageType.PRE_KEY
        # The responder answers with a normal message; after it, the initiator sends normal ones.
        if ours_first:
            assert (await theirs_to_ours(ours, theirs, "first reply"))[0] == MessageType.NORMAL
            assert (await ours_to_theirs(ours, theirs, "now normal"))[0] == MessageType.NORMAL
        else:
            assert (await ours_to_theirs(ours, theirs, "first reply"))[0] == MessageType.NORMAL
            assert (await theirs_to_ours(ours, theirs, "now normal"))[0] == MessageType.NORMAL

    run(scenario)


@ours_first
def test_alternating_directions_every_message_a_ratchet_step(theirs: Theirs, ours_first: bool) -> None:
    async def scenario() -> None:
        ours = await establish(theirs, ours_first)
        seen_ratchet_keys: set[bytes] = set()
        for number in range(25):
            for wire in (
                await ours_to_theirs(ours, theirs, f"ours {number}"),
                await theirs_to_ours(ours, theirs, f"theirs {number}"),
            ):
                seen_ratchet_keys.add(inner(wire).ratchet_key)
        # Every turn of the conversation moved to a fresh ratchet key (the first one may repeat once).
        assert len(seen_ratchet_keys) >= 49

    run(scenario)


@ours_first
def test_long_one_way_runs(theirs: Theirs, ours_first: bool) -> None:
    async def scenario() -> None:
        ours = await establish(theirs, ours_first)
        for number in range(150):
            wire = await ours_to_theirs(ours, theirs, f"ours one-way {number}")
            # Still pre-key messages if we started and have heard nothing back yet.
            assert wire[0] == (MessageType.PRE_KEY if ours_first else MessageType.NORMAL)
            assert inner(wire).chain_index == (number + 1 if ours_first else number)
        for number in range(150):
            wire = await theirs_to_ours(ours, theirs, f"theirs one-way {number}")
            assert wire[0] == MessageType.NORMAL
            assert inner(wire).chain_index == number  # a new chain for them either way
        for number in range(150):
            await ours_to_theirs(ours, theirs, f"ours again {number}")

    run(scenario)


@ours_first
def test_out_of_order_and_dropped_messages(theirs: Theirs, ours_first: bool) -> None:
    async def scenario() -> None:
        ours = await establish(theirs, ours_first)
        await ours_to_theirs(ours, theirs, "sync 1")
        await theirs_to_ours(ours, theirs, "sync 2")
        order = [3, 1, 0, 7, 2, 9, 6]  # 4, 5 and 8 are dropped
        # Theirs -> ours, delivered out of order with gaps.
        sent = [theirs.encrypt(f"t{number}".encode()) for number in range(10)]
        for number in order:
            assert await ours.decrypt(sent[number]) == f"t{number}".encode()
        # Ours -> theirs, the same pattern: our message keys and indices match theirs.
        ours_sent = [await ours.encrypt(f"o{number}".encode()) for number in range(10)]
        for number in order:
            assert theirs.decrypt(ours_sent[number]) == f"o{number}".encode()
        # A late message from an older chain still decrypts after the ratchet moved on.
        await theirs_to_ours(ours, theirs, "new chain")
        assert await ours.decrypt(sent[5]) == b"t5"
        await ours_to_theirs(ours, theirs, "still fine")

    run(scenario)


@ours_first
def test_replayed_message_is_rejected(theirs: Theirs, ours_first: bool) -> None:
    async def scenario() -> None:
        ours = await establish(theirs, ours_first)
        await ours_to_theirs(ours, theirs, "ping")
        first = await theirs_to_ours(ours, theirs, "pong")
        second = theirs.encrypt(b"skips one")
        third = theirs.encrypt(b"out of order")
        assert await ours.decrypt(third) == b"out of order"
        assert await ours.decrypt(second) == b"skips one"
        for replay in (first, second, third):
            before = ours.state()
            with pytest.raises(ReplayError):
                await ours.decrypt(replay)
            assert ours.state() == before
        await theirs_to_ours(ours, theirs, "still works")

    run(scenario)


def test_replayed_pre_key_message_does_not_open_a_second_session(theirs: Theirs) -> None:
    async def scenario() -> None:
        ours = await Ours.create()
        theirs.start(ours.identity_key, await ours.new_one_time_key())
        wire = theirs.encrypt(b"once")
        assert await ours.accept(theirs.identity_key, wire) == b"once"
        with pytest.raises(UnknownOneTimeKeyError):
            await ours.accept(theirs.identity_key, wire)

    run(scenario)


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


@ours_first
def test_tampered_mac_ciphertext_and_header_are_rejected_and_session_survives(
    theirs: Theirs, ours_first: bool
) -> None:
    async def scenario() -> None:
        ours = await establish(theirs, ours_first)
        await ours_to_theirs(ours, theirs, "ping")
        await theirs_to_ours(ours, theirs, "pong")
        await ours_to_theirs(ours, theirs, "ratchet")
        message_type, data = theirs.encrypt(b"the genuine message")  # a new chain for us
        assert message_type == MessageType.NORMAL
        positions = {
            "mac": len(data) - 1,
            "ciphertext": len(data) - 8 - 3,
            "ratchet key": 5,
            "chain index": 1 + 2 + 32 + 1,
            "version": 0,
        }
        for where, position in positions.items():
            before = ours.state()
            with pytest.raises(ProtocolError) as raised:
                await ours.decrypt((message_type, _flip(data, position)))
            assert ours.state() == before, where
            if where in ("mac", "ciphertext"):
                assert isinstance(raised.value, AuthenticationError), where
        assert await ours.decrypt((message_type, data)) == b"the genuine message"
        await ours_to_theirs(ours, theirs, "and back")
        # Tampering with a message on an existing chain is rejected the same way.
        message_type, data = theirs.encrypt(b"second on the chain")
        for position in (len(data) - 1, len(data) - 12, 6):
            before = ours.state()
            with pytest.raises(ProtocolError):
                await ours.decrypt((message_type, _flip(data, position)))
            assert ours.state() == before
        assert await ours.decrypt((message_type, data)) == b"second on the chain"
        # And our messages, tampered, are rejected by them while the genuine one still decrypts.
        message_type, data = await ours.encrypt(b"ours genuine")
        for position in (len(data) - 1, len(data) - 12):
            with pytest.raises(THEIR_ERRORS):
                theirs.decrypt((message_type, _flip(data, position)))
        assert theirs.decrypt((message_type, data)) == b"ours genuine"

    run(scenario)


def test_tampered_pre_key_message_consumes_no_one_time_key(theirs: Theirs) -> None:
    async def scenario() -> None:
        ours = await Ours.create()
        theirs.start(ours.identity_key, await ours.new_one_time_key())
        message_type, data = theirs.encrypt(b"first contact")
        account_before = ours.account.to_dict()
        base_key_byte = 1 + 2 + 32 + 2 + 3
        for position in (base_key_byte, len(data) - 1, len(data) - 12):
            with pytest.raises(AuthenticationError):
                await ours.accept(theirs.identity_key, (message_type, _flip(data, position)))
            assert ours.account.to_dict() == account_before
        with pytest.raises(ProtocolError):
            await ours.accept(_flip(theirs.identity_key, 0), (message_type, data))
        assert await ours.accept(theirs.identity_key, (message_type, data)) == b"first contact"
        assert ours.account.to_dict() != account_before  # now the one-time key is gone
        await ours_to_theirs(ours, theirs, "reply")

    run(scenario)


@ours_first
def test_state_saved_and_restored_mid_conversation(theirs: Theirs, ours_first: bool) -> None:
    async def scenario() -> None:
        ours = await establish(theirs, ours_first)
        await ours_to_theirs(ours, theirs, "before save")
        await theirs_to_ours(ours, theirs, "before save too")
        pending = [theirs.encrypt(f"pending {number}".encode()) for number in range(4)]
        assert await ours.decrypt(pending[3]) == b"pending 3"  # keys 0..2 stay skipped
        ours.save_and_restore()
        theirs.save_and_restore()
        for number in (1, 0, 2):
            assert await ours.decrypt(pending[number]) == f"pending {number}".encode()
        for number in range(5):
            await ours_to_theirs(ours, theirs, f"after restore {number}")
            ours.save_and_restore()
            await theirs_to_ours(ours, theirs, f"after restore reply {number}")
            theirs.save_and_restore()

    run(scenario)


def test_message_gap_cap_matches_theirs(theirs: Theirs) -> None:
    async def scenario() -> None:
        ours = await establish(theirs, ours_first=True)
        await theirs_to_ours(ours, theirs, "sync")
        sent = [theirs.encrypt(b"x") for _ in range(MAX_MESSAGE_GAP + 2)]
        before = ours.state()
        with pytest.raises(LimitError):
            await ours.decrypt(sent[-1])  # index MAX_MESSAGE_GAP + 2: one step beyond the gap
        assert ours.state() == before
        assert await ours.decrypt(sent[-2]) == b"x"  # exactly at the gap: accepted

    run(scenario)


def test_new_chain_before_we_sent_is_refused(theirs: Theirs) -> None:
    async def scenario() -> None:
        # A message on an unknown ratchet key, while we have no sending chain, cannot be ours.
        ours = await establish(theirs, ours_first=False)
        other = type(theirs)()
        peer = await establish(other, ours_first=True)
        await ours_to_theirs(peer, other, "x")
        await theirs_to_ours(peer, other, "y")
        stray = other.encrypt(b"z")
        await ours_to_theirs(ours, theirs, "we speak")
        await theirs_to_ours(ours, theirs, "they answer: our sending chain is gone")
        with pytest.raises(InvalidStateError):
            await ours.decrypt(stray)

    run(scenario)


def test_signed_one_time_keys_verify_across_implementations() -> None:
    async def scenario() -> None:
        provider = NativeProvider()
        ours = await Account.create(provider)
        await ours.generate_one_time_keys(1)
        await ours.generate_fallback_key()
        ((_, one_time_key),) = ours.one_time_keys.items()
        ((_, fallback_key),) = ours.fallback_key.items()
        signing_key = ours.identity_keys[1]
        for key, fallback in ((one_time_key, False), (fallback_key, True)):
            signature = await ours.sign_key(key, fallback=fallback)
            payload = signed_key_payload(key, fallback=fallback)
            # vodozemac and libolm accept our signature over the Matrix payload ...
            vodozemac.Ed25519PublicKey.from_base64(b64encode(signing_key)).verify_signature(
                payload, vodozemac.Ed25519Signature.from_base64(b64encode(signature))
            )
            olm.ed25519_verify(b64encode(signing_key), payload.decode(), b64encode(signature))
            # ... and a signature over another key, or as the other kind, does not verify here.
            with pytest.raises(AuthenticationError):
                await verify_signed_key(provider, signing_key, key, signature, fallback=not fallback)
            await verify_signed_key(provider, signing_key, key, signature, fallback=fallback)
        # Their signatures over their keys verify with ours.
        theirs = vodozemac.Account()
        theirs.generate_one_time_keys(1)
        (their_key,) = theirs.one_time_keys.values()
        payload = signed_key_payload(their_key.to_bytes())
        assert payload == b'{"key":"' + their_key.to_base64().encode() + b'"}'
        signature = b64decode(theirs.sign(payload).to_base64())
        await verify_signed_key(
            provider, b64decode(theirs.ed25519_key.to_base64()), their_key.to_bytes(), signature
        )
        libolm_account = olm.Account()
        libolm_account.generate_one_time_keys(1)
        (libolm_key,) = libolm_account.one_time_keys["curve25519"].values()
        libolm_signature = b64decode(libolm_account.sign(signed_key_payload(b64decode(libolm_key))))
        await verify_signed_key(
            provider,
            b64decode(libolm_account.identity_keys["ed25519"]),
            b64decode(libolm_key),
            libolm_signature,
        )
        with pytest.raises(AuthenticationError):
            await verify_signed_key(provider, signing_key, b64decode(libolm_key), libolm_signature)

    run(scenario)


def test_their_sessions_to_our_fallback_key(theirs: Theirs) -> None:
    async def scenario() -> None:
        ours = await Ours.create()
        await ours.account.generate_fallback_key()
        ((_, fallback_key),) = ours.account.fallback_key.items()
        ours.account.mark_keys_as_published()
        # Two sessions from them on the same fallback key: it is not consumed.
        for number in range(2):
            theirs.start(ours.identity_key, fallback_key)
            wire = theirs.encrypt(b"via fallback %d" % number)
            assert await ours.accept(theirs.identity_key, wire) == b"via fallback %d" % number
            await ours_to_theirs(ours, theirs, "reply")
            await theirs_to_ours(ours, theirs, "normal")

    run(scenario)
