"""The session state machine over an in-memory channel (pyfront.session.session)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import DecodeError, InvalidStateError, ProtocolError, ReplayError
from pyfront.layers.kem_ratchet import KEM_REKEY_MESSAGES
from pyfront.session.content import Text, Typing
from pyfront.session.frames import decode_frame, encode_frame
from pyfront.session.handshake.frames import Confirm, Finish, Hello, Refusal, Reply
from pyfront.session.identity import invite_fingerprint
from pyfront.session.session import (
    HANDSHAKE_TIMEOUT_SECONDS,
    LAYER_LOADERS,
    Deliver,
    HandshakeFailed,
    HandshakeRefused,
    HandshakeStalled,
    KeyChanged,
    LocalParty,
    Ready,
    SendFrame,
    Session,
    SessionState,
)
from tests.unit.test_session_support import DTLS_A, DTLS_B, Pair, make_party


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def sent(action: object) -> bytes:
    """The bytes of a ``SendFrame`` action (fails the test for any other action)."""
    assert isinstance(action, SendFrame), action
    return action.data


def text(n: int, body: str = "") -> Text:
    return Text(n.to_bytes(16, "big"), 1_700_000_000_000 + n, body or f"message {n}")


async def ready_pair(seed: int = 1, **channel: float | bool) -> tuple[Pair, LocalParty, LocalParty]:
    provider = NativeProvider()
    alice, bob = await make_party(provider), await make_party(provider)
    pair = Pair(
        Session(provider, alice, is_initiator=True),
        Session(provider, bob, is_initiator=False),
        random.Random(seed),
        **channel,
    )
    await pair.connect()
    await pair.pump()
    assert pair.alice.session.state == SessionState.READY
    assert pair.bob.session.state == SessionState.READY
    return pair, alice, bob


def test_handshake_ready_and_safety_numbers_equal() -> None:
    async def body() -> None:
        pair, alice, bob = await ready_pair()
        ready_a = [a for a in pair.alice.actions if isinstance(a, Ready)]
        ready_b = [a for a in pair.bob.actions if isinstance(a, Ready)]
        assert ready_a == [Ready(bob.identity.public_key, resumed=False)]
        assert ready_b == [Ready(alice.identity.public_key, resumed=False)]
        assert pair.alice.session.safety_number() == pair.bob.session.safety_number()
        assert pair.alice.rejected == pair.bob.rejected == []

    run(body)


def test_long_conversation_over_a_lossy_channel() -> None:
    async def body() -> None:
        pair, _, _ = await ready_pair(seed=5, drop=0.1, duplicate=0.1, reorder=True)
        sent_a, sent_b = [], []
        for n in range(150):
            message = text(n)
            await pair.send(pair.alice, message)
            sent_a.append(message)
            if n % 3:
                reply = text(10_000 + n, "reply " * (n % 7))
                await pair.send(pair.bob, reply)
                sent_b.append(reply)
            await pair.pump(rounds=2)
        await pair.pump()
        got_b, got_a = pair.bob.delivered(), pair.alice.delivered()
        # Everything delivered was sent, nothing twice, and only dropped frames are missing.
        assert len(set(got_b)) == len(got_b) and set(got_b) <= set(sent_a)
        assert len(set(got_a)) == len(got_a) and set(got_a) <= set(sent_b)
        assert len(got_b) > 0.8 * len(sent_a) and len(got_a) > 0.8 * len(sent_b)
        # The only rejections are the channel's duplicates, reported as replays.
        assert pair.bob.rejected and all(isinstance(e, ReplayError) for e in pair.bob.rejected)
        assert all(isinstance(e, ReplayError) for e in pair.alice.rejected)
        kem = pair.alice.session.cascade.layer("mlkem").to_dict()
        assert kem["send_epoch"] >= 1  # the KEM ratchet re-encapsulated during the conversation

    run(body)


def test_handshake_survives_loss_by_retransmission() -> None:
    async def body() -> None:
        pair, _, _ = await ready_pair(seed=11, drop=0.4, duplicate=0.3, reorder=True)
        await pair.send(pair.alice, text(1))
        await pair.send(pair.alice, text(2))
        await pair.pump()
        assert set(pair.bob.delivered()) <= {text(1), text(2)}

    run(body)


def test_dtls_fingerprint_mismatch_aborts() -> None:
    async def body() -> None:
        provider = NativeProvider()
        pair = Pair(
            Session(provider, await make_party(provider), is_initiator=True),
            Session(provider, await make_party(provider), is_initiator=False),
            random.Random(1),
        )
        await pair.connect(seen_by_bob="sha-256 " + ":".join(["CC"] * 32))
        await pair.pump()
        assert pair.bob.session.state == SessionState.CLOSED
        failures = [a for a in pair.bob.actions if isinstance(a, HandshakeFailed)]
        assert failures and "signature" in failures[0].reason
        assert pair.alice.session.state != SessionState.READY

    run(body)


def test_changed_identity_key_raises_key_changed() -> None:
    async def body() -> None:
        provider = NativeProvider()
        alice, bob, old_bob = (
            await make_party(provider),
            await make_party(provider),
            await make_party(provider),
        )
        pair = Pair(
            Session(provider, alice, is_initiator=True, expected_identity=old_bob.identity.public_key),
            Session(provider, bob, is_initiator=False, expected_identity=alice.identity.public_key),
            random.Random(1),
        )
        await pair.connect()
        await pair.pump()
        changed = [a for a in pair.alice.actions if isinstance(a, KeyChanged)]
        assert changed == [KeyChanged(old_bob.identity.public_key, bob.identity.public_key)]
        assert not [a for a in pair.bob.actions if isinstance(a, KeyChanged)]
        assert (
            pair.alice.session.expected_identity == bob.identity.public_key
        )  # pinned again after the warning

    run(body)


def test_invite_fingerprint_checked() -> None:
    async def body() -> None:
        provider = NativeProvider()
        alice, bob, eve = await make_party(provider), await make_party(provider), await make_party(provider)
        good = Pair(
            Session(
                provider,
                alice,
                is_initiator=True,
                invite_fingerprint=invite_fingerprint(bob.identity.public_key),
            ),
            Session(provider, bob, is_initiator=False),
            random.Random(1),
        )
        await good.connect()
        await good.pump()
        assert good.alice.session.state == SessionState.READY
        bad = Pair(
            Session(
                provider,
                alice,
                is_initiator=True,
                invite_fingerprint=invite_fingerprint(eve.identity.public_key),
            ),
            Session(provider, bob, is_initiator=False),
            random.Random(1),
        )
        await bad.connect()
        await bad.pump()
        assert bad.alice.session.state == SessionState.CLOSED
        assert any(isinstance(a, HandshakeFailed) and "invite" in a.reason for a in bad.alice.actions)

    run(body)


def test_replays_rejected_without_state_change() -> None:
    async def body() -> None:
        pair, _, _ = await ready_pair()
        frames: list[bytes] = []
        actions = await pair.alice.session.send(text(1), pair.now)
        frames.extend(a.data for a in actions if hasattr(a, "data"))
        await pair.bob.session.receive(frames[0], pair.now)
        before = json.dumps(pair.bob.session.to_dict(), sort_keys=True)
        with pytest.raises(ReplayError):
            await pair.bob.session.receive(frames[0], pair.now)
        assert json.dumps(pair.bob.session.to_dict(), sort_keys=True) == before

    run(body)


def test_ciphertext_sizes_depend_only_on_the_bucket() -> None:
    async def body() -> None:
        pair, _, _ = await ready_pair()
        for n in range(3):  # warm up: both sides' KEM epochs and keys acknowledged
            await pair.send(pair.alice, text(n))
            await pair.send(pair.bob, text(100 + n))
            await pair.pump()
        sizes = set()
        for n, length in enumerate([0, 1, 7, 40, 90, 110, 120]):
            actions = await pair.alice.session.send(Text(bytes(16), n, "x" * length), pair.now)
            sizes.add(len(sent(actions[0])))
            pair.alice.take_actions(actions)
            await pair.send(pair.bob, Typing(True))
            await pair.pump()
        assert len(sizes) == 1, sizes
        big = await pair.alice.session.send(Text(bytes(16), 9, "x" * 200), pair.now)
        assert len(sent(big[0])) > sizes.pop()

    run(body)


def test_resume_without_full_handshake() -> None:
    async def body() -> None:
        pair, _, _ = await ready_pair()
        await pair.send(pair.alice, text(1))
        await pair.send(pair.bob, text(2))
        await pair.pump()
        for peer in (pair.alice, pair.bob):
            peer.session.disconnected(pair.now)
            peer.actions.clear()
        await pair.connect()
        await pair.pump()
        assert pair.alice.resumed()
        assert pair.bob.resumed()
        await pair.send(pair.alice, text(3))
        await pair.send(pair.bob, text(4))
        await pair.pump()
        assert pair.bob.delivered() == [text(3)] and pair.alice.delivered() == [text(4)]

    run(body)


def test_resume_after_restore_from_storage_with_roles_swapped() -> None:
    async def body() -> None:
        provider = NativeProvider()
        pair, alice, bob = await ready_pair()
        await pair.send(pair.alice, text(1))
        await pair.pump()
        # stored as the vault stores JSON: with sorted keys (layer order must not depend on key order)
        stored_a = json.loads(json.dumps(pair.alice.session.to_dict(), sort_keys=True))
        stored_b = json.loads(json.dumps(pair.bob.session.to_dict(), sort_keys=True))
        stored_a["is_initiator"], stored_b["is_initiator"] = False, True
        stored_a["state"] = stored_b["state"] = "connecting"
        stored_a["outer"] = stored_b["outer"] = None
        again = Pair(
            Session.from_dict(provider, bob, stored_b),
            Session.from_dict(provider, alice, stored_a),
            random.Random(2),
        )
        await again.connect()
        await again.pump()
        assert again.alice.resumed()
        await again.send(again.alice, text(7))
        await again.send(again.bob, text(8))
        await again.pump()
        assert again.bob.delivered() == [text(7)] and again.alice.delivered() == [text(8)]

    run(body)


def test_fallback_to_full_handshake_when_one_side_lost_state() -> None:
    async def body() -> None:
        provider = NativeProvider()
        pair, _, bob = await ready_pair()
        pair.alice.session.disconnected(pair.now)
        pair.alice.actions.clear()
        pair.bob.session = Session(provider, bob, is_initiator=False)  # Bob lost everything
        await pair.connect()
        await pair.pump()
        ready = [a for a in pair.alice.actions if isinstance(a, Ready)]
        assert ready and not ready[0].resumed
        await pair.send(pair.alice, text(5))
        await pair.pump()
        assert pair.bob.delivered() == [text(5)]

    run(body)


def test_every_state_serialises_and_restores() -> None:
    async def body() -> None:
        provider = NativeProvider()
        pair, alice, bob = await ready_pair()
        for n in range(4):
            await pair.send(pair.alice, text(n))
            await pair.send(pair.bob, text(50 + n))
            await pair.pump()
        pair.alice.session = Session.from_dict(
            provider, alice, json.loads(json.dumps(pair.alice.session.to_dict()))
        )
        pair.bob.session = Session.from_dict(
            provider, bob, json.loads(json.dumps(pair.bob.session.to_dict()))
        )
        assert pair.alice.session.state == SessionState.READY
        await pair.send(pair.alice, text(99))
        await pair.send(pair.bob, text(98))
        await pair.pump()
        assert pair.bob.delivered()[-1] == text(99) and pair.alice.delivered()[-1] == text(98)
        # Handshaking and closed states too.
        fresh = Session(provider, alice, is_initiator=True)
        await fresh.connected(DTLS_A, DTLS_A, 0.0)
        restored = Session.from_dict(provider, alice, fresh.to_dict())
        assert restored.state == SessionState.CONNECTING
        fresh.close()
        assert Session.from_dict(provider, alice, fresh.to_dict()).state == SessionState.CLOSED
        with pytest.raises(ProtocolError):
            Session.from_dict(provider, alice, {**fresh.to_dict(), "version": 99})

    run(body)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("state", "handshaking"),  # to_dict stores a handshake in progress as connecting
        ("is_initiator", "false"),
        ("is_initiator", 1),
        ("invite_fingerprint", 42),
        ("invite_fingerprint", ["sha-256 AB"]),
        ("session_id", "ab" * 31),
        ("session_id", "ab" * 33),
    ],
)
def test_from_dict_refuses_what_to_dict_never_writes(
    field: str, value: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body() -> None:
        provider = NativeProvider()
        pair, alice, _ = await ready_pair()
        stored = json.loads(json.dumps(pair.alice.session.to_dict()))
        bad = {**stored, field: value}
        before = json.dumps(bad, sort_keys=True, default=repr)
        loaded: list[str] = []
        for name, loader in list(LAYER_LOADERS.items()):

            def recording(p: Any, d: Any, name: str = name, loader: Any = loader) -> Any:
                loaded.append(name)
                return loader(p, d)

            monkeypatch.setitem(LAYER_LOADERS, name, recording)
        with pytest.raises(DecodeError):
            Session.from_dict(provider, alice, bad)
        assert loaded == []  # refused before any layer was loaded: nothing half-loaded
        assert json.dumps(bad, sort_keys=True, default=repr) == before  # the stored state is untouched
        assert Session.from_dict(provider, alice, stored).state == SessionState.READY
        assert loaded == ["mls", "olm", "mlkem"]

    run(body)


def test_wrong_state_operations() -> None:
    async def body() -> None:
        provider = NativeProvider()
        session = Session(provider, await make_party(provider), is_initiator=True)
        with pytest.raises(InvalidStateError):
            await session.send(text(1), 0.0)
        with pytest.raises(InvalidStateError):
            await session.receive(b"\x01\x05", 0.0)
        frames = await session.connected(DTLS_A, DTLS_A, 0.0)
        hello = sent(frames[0])
        assert decode_frame(hello)
        with pytest.raises(InvalidStateError):
            await session.receive(hello, 0.0)  # an initiator never accepts a Hello
        with pytest.raises(InvalidStateError):
            await session.connected(DTLS_A, DTLS_A, 0.0)

    run(body)


def test_state_changes_outside_the_table_are_refused() -> None:
    async def body() -> None:
        provider = NativeProvider()
        session = Session(provider, await make_party(provider), is_initiator=True)
        with pytest.raises(InvalidStateError):
            session._enter(SessionState.READY)  # only a finished handshake leads there
        session.close()
        for state in (SessionState.CONNECTING, SessionState.HANDSHAKING, SessionState.READY):
            with pytest.raises(InvalidStateError):
                session._enter(state)  # closed stays closed
        assert session.disconnected(0.0) == [] and session.state == SessionState.CLOSED

    run(body)


def test_handshake_timeout() -> None:
    async def body() -> None:
        provider = NativeProvider()
        session = Session(provider, await make_party(provider), is_initiator=True)
        await session.connected(DTLS_A, DTLS_A, 0.0)
        assert await session.tick(0.5) == []
        assert len(await session.tick(1.0)) == 1  # retransmission
        at_limit = await session.tick(HANDSHAKE_TIMEOUT_SECONDS)  # not yet: only a retransmission
        assert [type(action) for action in at_limit] == [SendFrame]
        stalled = await session.tick(HANDSHAKE_TIMEOUT_SECONDS + 0.5)
        assert [type(action) for action in stalled] == [HandshakeStalled]
        assert session.state == SessionState.CONNECTING  # waits for another connection, not CLOSED
        assert (await session.connected(DTLS_A, DTLS_B, 30.0))[0]  # which starts a new handshake

    run(body)


def test_a_stalled_resume_keeps_the_layers_and_resumes_on_the_next_connection() -> None:
    async def body() -> None:
        pair, _, _ = await ready_pair()
        alice, bob = pair.alice.session, pair.bob.session
        for session in (alice, bob):
            session.disconnected(pair.now)
        # A connection that carries nothing: Alice's Hello and its retransmissions never arrive.
        await alice.connected(DTLS_A, DTLS_B, pair.now)
        retransmitted = await alice.tick(pair.now + 1.0)
        assert [type(action) for action in retransmitted] == [SendFrame]
        stalled = await alice.tick(pair.now + HANDSHAKE_TIMEOUT_SECONDS + 1.0)
        assert [type(action) for action in stalled] == [HandshakeStalled]
        assert alice.state == SessionState.CONNECTING and alice.can_resume
        # The next connection resumes what both kept: no full handshake, and messages flow.
        pair.now += HANDSHAKE_TIMEOUT_SECONDS + 2.0
        pair.alice.actions.clear()
        pair.bob.actions.clear()
        await pair.connect()
        await pair.pump()
        assert pair.alice.resumed()
        assert pair.bob.resumed()
        await pair.send(pair.alice, text(7))
        await pair.pump()
        assert pair.bob.delivered() == [text(7)]

    run(body)


def test_exact_order_of_actions() -> None:
    async def body() -> None:
        provider = NativeProvider()
        alice_party, bob_party = await make_party(provider), await make_party(provider)
        alice = Session(provider, alice_party, is_initiator=True)
        bob = Session(provider, bob_party, is_initiator=False)
        assert await bob.connected(DTLS_B, DTLS_A, 0.0) == []
        (hello,) = await alice.connected(DTLS_A, DTLS_B, 0.0)
        assert isinstance(hello, SendFrame) and isinstance(decode_frame(sent(hello)), Hello)
        (reply,) = await bob.receive(sent(hello), 0.0)
        assert isinstance(reply, SendFrame) and isinstance(decode_frame(sent(reply)), Reply)
        (finish,) = await alice.receive(sent(reply), 0.0)
        assert isinstance(finish, SendFrame) and isinstance(decode_frame(sent(finish)), Finish)
        assert alice.state == bob.state == SessionState.HANDSHAKING
        confirm, ready_bob = await bob.receive(sent(finish), 0.0)
        assert isinstance(confirm, SendFrame) and isinstance(decode_frame(sent(confirm)), Confirm)
        assert ready_bob == Ready(alice_party.identity.public_key, resumed=False)
        assert bob.state == SessionState.READY and alice.state == SessionState.HANDSHAKING
        assert await alice.receive(sent(confirm), 0.0) == [
            Ready(bob_party.identity.public_key, resumed=False)
        ]
        assert alice.state == SessionState.READY

    run(body)


def test_data_overtaking_confirm_is_buffered() -> None:
    async def body() -> None:
        provider = NativeProvider()
        alice = Session(provider, await make_party(provider), is_initiator=True)
        bob = Session(provider, await make_party(provider), is_initiator=False)
        await bob.connected(DTLS_B, DTLS_A, 0.0)
        (hello,) = await alice.connected(DTLS_A, DTLS_B, 0.0)
        (reply,) = await bob.receive(sent(hello), 0.0)
        (finish,) = await alice.receive(sent(reply), 0.0)
        confirm, _ = await bob.receive(sent(finish), 0.0)
        early = [(await bob.send(text(n), 0.0))[0] for n in range(3)]
        for frame in early:
            assert await alice.receive(sent(frame), 0.0) == []
        actions = await alice.receive(sent(confirm), 0.0)
        assert isinstance(actions[0], Ready)
        assert [a.message for a in actions[1:] if isinstance(a, Deliver)] == [text(0), text(1), text(2)]

    run(body)


def test_duplicated_handshake_frames_are_answered_again() -> None:
    async def body() -> None:
        provider = NativeProvider()
        alice = Session(provider, await make_party(provider), is_initiator=True)
        bob = Session(provider, await make_party(provider), is_initiator=False)
        await bob.connected(DTLS_B, DTLS_A, 0.0)
        (hello,) = await alice.connected(DTLS_A, DTLS_B, 0.0)
        (reply,) = await bob.receive(sent(hello), 0.0)
        assert await bob.receive(sent(hello), 0.0) == [reply]  # same Reply, no new keys
        (finish,) = await alice.receive(sent(reply), 0.0)
        assert await alice.receive(sent(reply), 0.0) == [finish]
        confirm, _ = await bob.receive(sent(finish), 0.0)
        assert await bob.receive(sent(finish), 0.0) == [confirm]  # READY, the Confirm was lost: resend
        await alice.receive(sent(confirm), 0.0)
        assert await alice.receive(sent(confirm), 0.0) == []
        assert alice.state == bob.state == SessionState.READY

    run(body)


def test_unexpected_frames_change_nothing() -> None:
    async def body() -> None:
        provider = NativeProvider()
        alice = Session(provider, await make_party(provider), is_initiator=True)
        bob = Session(provider, await make_party(provider), is_initiator=False)
        await bob.connected(DTLS_B, DTLS_A, 0.0)
        (hello,) = await alice.connected(DTLS_A, DTLS_B, 0.0)
        (reply,) = await bob.receive(sent(hello), 0.0)
        before = bob.to_dict()
        for wrong in (sent(reply), b"\x01\x05" + bytes(40)):
            with pytest.raises(InvalidStateError):
                await bob.receive(wrong, 0.0)
        assert bob.to_dict() == before and bob.state == SessionState.HANDSHAKING
        (finish,) = await alice.receive(sent(reply), 0.0)
        confirm, _ = await bob.receive(sent(finish), 0.0)
        assert isinstance(confirm, SendFrame)

    run(body)


def test_resume_refused_after_key_change_falls_back_to_full() -> None:
    async def body() -> None:
        provider = NativeProvider()
        pair, alice, _ = await ready_pair()
        pair.alice.session.disconnected(pair.now)
        pair.bob.session.disconnected(pair.now)
        impostor = await make_party(provider)
        pair.alice.actions.clear()
        # Bob's device was replaced: same conversation, a new identity key, no stored layers.
        pair.bob.session = Session(
            provider, impostor, is_initiator=False, expected_identity=alice.identity.public_key
        )
        await pair.connect()
        await pair.pump()
        changed = [a for a in pair.alice.actions if isinstance(a, KeyChanged)]
        assert changed and changed[0].current == impostor.identity.public_key
        assert not pair.alice.resumed()

    run(body)


def test_signed_but_broken_layer_bootstrap_aborts() -> None:
    """A Reply correctly signed by the peer but carrying a garbage KeyPackage ends the handshake."""
    import dataclasses

    from pyfront.session.frames import encode_frame
    from pyfront.session.handshake.transcript import Transcript, normalise_dtls_fingerprint, signature_input

    async def body() -> None:
        provider = NativeProvider()
        bob_party = await make_party(provider)
        alice = Session(provider, await make_party(provider), is_initiator=True)
        bob = Session(provider, bob_party, is_initiator=False)
        await bob.connected(DTLS_B, DTLS_A, 0.0)
        (hello,) = await alice.connected(DTLS_A, DTLS_B, 0.0)
        (reply,) = await bob.receive(sent(hello), 0.0)
        hello_frame, reply_frame = decode_frame(sent(hello)), decode_frame(sent(reply))
        assert isinstance(hello_frame, Hello) and isinstance(reply_frame, Reply)
        forged = dataclasses.replace(reply_frame, key_package=b"\x00\x01garbage")
        transcript = Transcript.start(normalise_dtls_fingerprint(DTLS_A), normalise_dtls_fingerprint(DTLS_B))
        th2 = transcript.absorb(hello_frame).absorb(forged).hash
        signature = await bob_party.identity.sign(provider, signature_input(th2))
        actions = await alice.receive(encode_frame(dataclasses.replace(forged, signature=signature)), 0.0)
        assert actions[0] == SendFrame(encode_frame(Refusal()))  # the peer hears that we gave up
        assert len(actions) == 2 and isinstance(actions[1], HandshakeFailed)
        assert alice.state == SessionState.CLOSED

    run(body)


def test_secrets_never_print() -> None:
    async def body() -> None:
        pair, alice, bob = await ready_pair()
        await pair.send(pair.alice, text(1))
        await pair.pump()
        state = json.dumps(pair.alice.session.to_dict())
        # Every long hex value in the stored state (keys, chains, seeds) and the identity seed; public keys
        # included, which is stricter than needed but keeps the check simple.
        public = {alice.identity.public_key.hex(), bob.identity.public_key.hex()}  # shown on purpose in Ready
        secrets = [
            alice.identity.seed.hex(),
            *[v for v in _hex_values(state) if len(v) == 64 and v not in public],
        ]
        shown = " ".join(
            repr(x) for x in (pair.alice.session, alice, *pair.alice.actions, pair.alice.session.cascade)
        )
        shown += " ".join(
            repr(pair.alice.session.cascade.layer(name)) for name in pair.alice.session.cascade.names
        )
        forms = [*secrets, *(repr(bytes.fromhex(secret))[2:-1] for secret in secrets)]
        assert not [form for form in forms if form in shown]
        assert repr(bytes.fromhex(secrets[0]))[2:-1] not in shown  # the identity seed in bytes-repr form

    run(body)


def _hex_values(text: str) -> list[str]:
    import re

    return re.findall(r'"([0-9a-f]{64,})"', text)


def test_fallback_when_the_initiator_lost_its_state() -> None:
    async def body() -> None:
        provider = NativeProvider()
        pair, alice, _ = await ready_pair()
        await pair.send(pair.bob, text(1))
        await pair.pump()
        pair.bob.session.disconnected(pair.now)
        assert pair.bob.session.can_resume
        pair.alice.session = Session(provider, alice, is_initiator=True)  # Alice reinstalled, same identity
        pair.alice.actions.clear()
        pair.bob.actions.clear()
        await pair.connect()
        await pair.pump()
        assert not pair.bob.resumed()
        await pair.send(pair.bob, text(2))
        await pair.send(pair.alice, text(3))
        await pair.pump()
        assert pair.alice.delivered() == [text(2)] and pair.bob.delivered() == [text(3)]

    run(body)


def _stored(session: Session) -> dict[str, object]:
    """What storage would hold after the connection closed (no outer layer)."""
    state = json.loads(json.dumps(session.to_dict()))
    state["state"], state["outer"] = "connecting", None
    return state


@pytest.mark.parametrize("stale", ["initiator", "responder"])
def test_resume_with_a_stale_stored_state_falls_back_to_full(stale: str) -> None:
    """One side restored an older copy of its layers (it sent messages it then forgot): the resume probes
    catch it, both sides drop the stored layers and a full handshake runs on the same connection."""

    async def body() -> None:
        provider = NativeProvider()
        pair, alice, bob = await ready_pair()
        await pair.send(pair.alice, text(1))
        await pair.send(pair.bob, text(2))
        await pair.pump()
        stale_peer, party = (pair.alice, alice) if stale == "initiator" else (pair.bob, bob)
        old = _stored(stale_peer.session)
        for n in range(3):  # sent, delivered, then forgotten by the stale side
            await pair.send(stale_peer, text(10 + n))
        await pair.pump()
        for peer in (pair.alice, pair.bob):
            peer.session.disconnected(pair.now)
            peer.actions.clear()
            peer.rejected.clear()
        stale_peer.session = Session.from_dict(provider, party, old)
        await pair.connect()
        await pair.pump()
        assert pair.alice.session.state == pair.bob.session.state == SessionState.READY
        final = [a for a in pair.alice.actions if isinstance(a, Ready)]
        assert final and not final[-1].resumed
        await pair.send(pair.alice, text(20))
        await pair.send(pair.bob, text(21))
        await pair.pump()
        assert pair.bob.delivered() == [text(20)] and pair.alice.delivered() == [text(21)]
        assert pair.alice.rejected == pair.bob.rejected == []

    run(body)


def test_resume_probe_consumes_nothing_when_states_agree() -> None:
    async def body() -> None:
        pair, _, _ = await ready_pair()
        for _ in range(3):
            for peer in (pair.alice, pair.bob):
                peer.session.disconnected(pair.now)
                peer.actions.clear()
            await pair.connect()
            await pair.pump()
            assert pair.bob.resumed()
            assert pair.alice.resumed()
        await pair.send(pair.alice, text(1))
        await pair.pump()
        assert pair.bob.delivered() == [text(1)]

    run(body)


# --- the Refusal (docs/protocol.md, "Refusal"; issue 13, deliverable 3) -------------------------------

REFUSAL = encode_frame(Refusal())


def test_a_fingerprint_swap_is_refused_and_the_initiator_hears_of_it() -> None:
    async def body() -> None:
        provider = NativeProvider()
        pair = Pair(
            Session(provider, await make_party(provider), is_initiator=True),
            Session(provider, await make_party(provider), is_initiator=False),
            random.Random(1),
        )
        await pair.connect(seen_by_bob="sha-256 " + ":".join(["CC"] * 32))
        await pair.pump()
        # Bob's Hello check fails: the Refusal goes out, then the failure; his session is closed.
        assert [type(a).__name__ for a in pair.bob.actions] == ["SendFrame", "HandshakeFailed"]
        assert sent(pair.bob.actions[0]) == REFUSAL
        # Alice takes it as what it is, a hint: this connection ends, as a lost one would.
        refused = [a for a in pair.alice.actions if isinstance(a, HandshakeRefused)]
        assert len(refused) == 1 and pair.alice.session.state == SessionState.CONNECTING
        assert not [a for a in pair.alice.actions if isinstance(a, HandshakeStalled | Ready)]
        assert pair.alice.session.handshake_phase is None

    run(body)


def test_the_responder_hears_the_initiators_refusal() -> None:
    async def body() -> None:
        provider = NativeProvider()
        alice, bob, eve = await make_party(provider), await make_party(provider), await make_party(provider)
        pair = Pair(
            Session(
                provider,
                alice,
                is_initiator=True,
                invite_fingerprint=invite_fingerprint(eve.identity.public_key),
            ),
            Session(provider, bob, is_initiator=False),
            random.Random(1),
        )
        await pair.connect()
        await pair.pump()
        assert pair.alice.session.state == SessionState.CLOSED
        assert REFUSAL in [a.data for a in pair.alice.actions if isinstance(a, SendFrame)]
        assert pair.bob.session.state == SessionState.CONNECTING  # was waiting for Finish
        assert [a for a in pair.bob.actions if isinstance(a, HandshakeRefused)]

    run(body)


def test_a_refusal_keeps_the_layers_so_the_next_connection_resumes() -> None:
    async def body() -> None:
        pair, _, _ = await ready_pair()
        for peer in (pair.alice, pair.bob):
            peer.session.disconnected(pair.now)
        stored = json.dumps(pair.alice.session.to_dict(), sort_keys=True)
        hello = await pair.alice.session.connected(DTLS_A, DTLS_B, pair.now)
        assert decode_frame(sent(hello[0])).resume_id  # type: ignore[union-attr]
        # A forged Refusal (anyone at the other end of the channel can send one) while Alice waits.
        actions = await pair.alice.session.receive(REFUSAL, pair.now)
        assert actions == [HandshakeRefused("the peer could not verify this connection")]
        assert pair.alice.session.state == SessionState.CONNECTING
        assert json.dumps(pair.alice.session.to_dict(), sort_keys=True) == stored  # nothing forgotten
        assert pair.alice.session.can_resume
        pair.alice.actions.clear()
        pair.bob.actions.clear()
        await pair.connect()
        await pair.pump()
        assert pair.alice.resumed() and pair.bob.resumed()

    run(body)


def test_an_unsolicited_refusal_is_refused_and_changes_nothing() -> None:
    async def body() -> None:
        pair, _, _ = await ready_pair()
        for peer in (pair.alice, pair.bob):  # READY: the handshake verified, the peer cannot refuse it
            stored = json.dumps(peer.session.to_dict(), sort_keys=True)
            with pytest.raises(InvalidStateError):
                await peer.session.receive(REFUSAL, pair.now)
            assert peer.session.state == SessionState.READY
            assert json.dumps(peer.session.to_dict(), sort_keys=True) == stored
        await pair.send(pair.alice, text(1))
        await pair.pump()
        assert pair.bob.delivered() == [text(1)]
        # A responder that has sent nothing yet (waiting for Hello) has nothing to be refused.
        provider = NativeProvider()
        responder = Session(provider, await make_party(provider), is_initiator=False)
        with pytest.raises(InvalidStateError):  # no connection at all
            await responder.receive(REFUSAL, 0.0)
        assert await responder.connected(DTLS_B, DTLS_A, 0.0) == []
        with pytest.raises(InvalidStateError):
            await responder.receive(REFUSAL, 0.0)
        assert responder.state == SessionState.HANDSHAKING and responder.handshake_phase == "await-hello"

    run(body)


def test_a_kem_ciphertext_lost_with_the_connection_is_repeated_so_the_next_connection_resumes() -> None:
    """The frame that opened a new ML-KEM epoch dies with its connection: the next connection's first
    frame (the resume probe) repeats the epoch's ciphertext, so the session resumes (no full handshake)
    and the peer reads every message after it (docs/protocol.md 5.4)."""

    async def body() -> None:
        pair, _, _ = await ready_pair()
        for n in range(KEM_REKEY_MESSAGES):
            await pair.send(pair.alice, text(n))
        await pair.pump()
        await pair.send(pair.bob, text(1000))  # acknowledges Alice's epoch: her next frame opens a new one
        await pair.pump()
        await pair.send(pair.alice, text(2000))
        assert len(pair.alice.outbox.in_flight) == 1
        pair.alice.outbox.in_flight.clear()  # lost as the data channel closes
        for peer in (pair.alice, pair.bob):
            peer.session.disconnected(pair.now)
            peer.actions.clear()
        await pair.connect()
        await pair.pump()
        assert pair.alice.resumed() and pair.bob.resumed()
        await pair.send(pair.alice, text(3000))
        await pair.pump()
        assert pair.bob.delivered() == [text(3000)]

    run(body)
