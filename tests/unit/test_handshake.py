"""The handshake (pyfront.session.handshake): transcript, DTLS fingerprints, a deterministic Hello vector,
and the phases: each spent by its step, frames outside the table refused."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError
from pyfront.olm import Account
from pyfront.session.frames import Data, decode_frame
from pyfront.session.handshake.frames import HandshakeFrame, Hello, Refusal
from pyfront.session.handshake.phases import (
    AwaitConfirm,
    AwaitFinish,
    AwaitHello,
    AwaitReply,
    Context,
    Done,
    Established,
    Phase,
    Step,
    start,
    transition,
)
from pyfront.session.handshake.transcript import (
    Transcript,
    check_confirmation,
    confirmation,
    confirmation_keys,
    normalise_dtls_fingerprint,
)
from pyfront.session.identity import Identity
from pyfront.session.session import LocalParty, SendFrame, Session

DTLS_I = "sha-256 " + ":".join(["AA"] * 32)
DTLS_R = "sha-256 " + ":".join(["BB"] * 32)
# docs/protocol.md, "Test vectors".
VECTOR_TH0 = "1297c43c1bd9deea165100d21ffc668868a30fc76a1a2e830e31c37dd7138c5a"
VECTOR_HELLO_SHA256 = "d2ee5a82117d6505e9840570a6f75bc5eded08981815a006054c87ae623875e2"


def seeded_random(seed: bytes) -> Callable[[int], bytes]:
    """SHA-256 in counter mode: the injected random source the vectors use."""
    counter = 0

    def random_bytes(length: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < length:
            out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
        return out[:length]

    return random_bytes


def test_dtls_fingerprint_normalised() -> None:
    assert normalise_dtls_fingerprint(" SHA-256 ab:CD:0f ") == b"sha-256 AB:CD:0F"
    raw = bytes(range(32))
    text = "sha-256 " + ":".join(f"{b:02x}" for b in raw)
    assert normalise_dtls_fingerprint(raw) == normalise_dtls_fingerprint(text)
    with pytest.raises(DecodeError):
        normalise_dtls_fingerprint(raw[:31])
    for bad in ["", "sha-256", "sha-256 ABCD", "sha-256 AB:CD:", "sha 256 AB", "x" * 300]:
        with pytest.raises(DecodeError):
            normalise_dtls_fingerprint(bad)


def test_transcript_vector_and_binding() -> None:
    th0 = Transcript.start(normalise_dtls_fingerprint(DTLS_I), normalise_dtls_fingerprint(DTLS_R)).hash
    assert th0.hex() == VECTOR_TH0
    swapped = Transcript.start(normalise_dtls_fingerprint(DTLS_R), normalise_dtls_fingerprint(DTLS_I)).hash
    assert swapped != th0


def test_confirmation_keys_differ_by_direction() -> None:
    initiator, responder = confirmation_keys(bytes(32), bytes(32))
    assert initiator != responder
    tag = confirmation(initiator, b"th")
    check_confirmation(initiator, b"th", tag)
    with pytest.raises(AuthenticationError):
        check_confirmation(responder, b"th", tag)


def test_hello_vector_from_a_seeded_random_source() -> None:
    async def hello() -> bytes:
        provider = NativeProvider(seeded_random(b"parley vector hello"))
        party = LocalParty(await Identity.generate(provider), await Account.create(provider))
        session = Session(provider, party, is_initiator=True)
        actions = await session.connected(DTLS_I, DTLS_R, 0.0)
        assert isinstance(actions[0], SendFrame)
        return actions[0].data

    first, second = asyncio.run(hello()), asyncio.run(hello())
    assert first == second
    assert isinstance(decode_frame(first), Hello)
    assert hashlib.sha256(first).hexdigest() == VECTOR_HELLO_SHA256


# --- the phases (pyfront.session.handshake.phases) -------------------------------------------------


async def _two_parties() -> tuple[Context, Context, tuple[bytes, bytes]]:
    provider = NativeProvider()
    alice = LocalParty(await Identity.generate(provider), await Account.create(provider))
    bob = LocalParty(await Identity.generate(provider), await Account.create(provider))
    dtls = (normalise_dtls_fingerprint(DTLS_I), normalise_dtls_fingerprint(DTLS_R))
    return (
        Context(provider, alice, None, None, None, None),
        Context(provider, bob, None, None, None, None),
        dtls,
    )


def _frame(step: Step) -> HandshakeFrame:
    assert step.frame is not None
    frame = decode_frame(step.frame)
    assert not isinstance(frame, Data | Refusal)
    return frame


def test_each_step_spends_its_phase_and_the_last_one_establishes() -> None:
    async def body() -> None:
        initiator, responder, dtls = await _two_parties()
        await_reply, hello = await start(initiator, dtls, is_initiator=True)
        await_hello, nothing = await start(responder, dtls, is_initiator=False)
        assert isinstance(await_reply, AwaitReply) and isinstance(await_hello, AwaitHello) and nothing is None
        assert hello is not None
        hello_frame = decode_frame(hello)
        assert isinstance(hello_frame, Hello)
        replied = await transition(await_hello, hello_frame, responder, 0.0)
        assert isinstance(replied.next, AwaitFinish)
        with pytest.raises(InvalidStateError, match="already left"):
            await transition(await_hello, hello_frame, responder, 0.0)  # the same phase, used again
        finished = await transition(await_reply, _frame(replied), initiator, 0.0)
        assert isinstance(finished.next, AwaitConfirm)
        confirmed = await transition(replied.next, _frame(finished), responder, 0.0)
        done = await transition(finished.next, _frame(confirmed), initiator, 0.0)
        assert isinstance(confirmed.next, Established) and isinstance(done.next, Established)
        assert done.frame is None and not done.next.resumed and not confirmed.next.resumed
        assert done.next.peer_identity == responder.local.identity.public_key
        assert confirmed.next.peer_identity == initiator.local.identity.public_key
        assert done.next.stored.session_id == confirmed.next.stored.session_id
        with pytest.raises(InvalidStateError, match="already left"):
            await transition(finished.next, _frame(confirmed), initiator, 0.0)  # a finished handshake
        # Phases hold secrets: only their names print.
        assert [repr(x) for x in (replied.next, finished.next, done.next)] == [
            "<AwaitFinish>",
            "<AwaitConfirm>",
            "<Established full>",
        ]

    asyncio.run(body())


def test_frames_outside_the_table_are_refused_and_spend_nothing() -> None:
    async def body() -> None:
        initiator, responder, dtls = await _two_parties()
        await_reply, hello = await start(initiator, dtls, is_initiator=True)
        await_hello, _ = await start(responder, dtls, is_initiator=False)
        assert hello is not None
        hello_frame = decode_frame(hello)
        assert isinstance(hello_frame, Hello)
        replied = await transition(await_hello, hello_frame, responder, 0.0)
        assert isinstance(replied.next, AwaitFinish)
        reply_frame = _frame(replied)
        wrong: list[tuple[Phase, HandshakeFrame, Context]] = [
            (await_reply, hello_frame, initiator),  # an initiator never takes a Hello
            (replied.next, reply_frame, responder),
            (Done(), hello_frame, responder),
        ]
        for phase, frame, context in wrong:
            with pytest.raises(InvalidStateError, match="unexpected"):
                transition(phase, frame, context, 0.0)  # refused before any step runs
        finished = await transition(await_reply, reply_frame, initiator, 0.0)  # still unspent
        assert isinstance(finished.next, AwaitConfirm)

    asyncio.run(body())
