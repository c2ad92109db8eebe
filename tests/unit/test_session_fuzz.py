"""Property tests: arbitrary and mutated frames fed to a READY session (pyfront.session.session)."""

from __future__ import annotations

import asyncio
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pyfront.crypto.native import NativeProvider
from pyfront.errors import ProtocolError
from pyfront.session.content import Text
from pyfront.session.session import Session, SessionState
from tests.unit.test_session_support import DTLS_A, DTLS_B, Pair, make_party

_LOOP = asyncio.new_event_loop()


async def _ready() -> tuple[Pair, list[bytes]]:
    provider = NativeProvider()
    pair = Pair(
        Session(provider, await make_party(provider), is_initiator=True),
        Session(provider, await make_party(provider), is_initiator=False),
        random.Random(1),
    )
    await pair.connect()
    await pair.pump()
    handshake = [a.data for a in pair.alice.actions + pair.bob.actions if hasattr(a, "data")]
    actions = await pair.alice.session.send(Text(bytes(16), 1, "a real message"), pair.now)
    data = [a.data for a in actions if hasattr(a, "data")]
    return pair, handshake + data


PAIR, SAMPLES = _LOOP.run_until_complete(_ready())


def _check_rejected_without_change(frame: bytes) -> None:
    session = PAIR.bob.session
    before = json.dumps(session.to_dict(), sort_keys=True)
    try:
        _LOOP.run_until_complete(session.receive(frame, 10.0))
    except ProtocolError:
        assert json.dumps(session.to_dict(), sort_keys=True) == before
        assert session.state == SessionState.READY
        return
    raise AssertionError("a forged or malformed frame was accepted")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(frame: bytes) -> None:
    _check_rejected_without_change(frame)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(range(len(SAMPLES))), st.integers(min_value=0), st.integers(min_value=1, max_value=255)
)
def test_mutated_real_frames(index: int, position: int, xor: int) -> None:
    frame = bytearray(SAMPLES[index])
    frame[position % len(frame)] ^= xor
    _check_rejected_without_change(bytes(frame))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(range(len(SAMPLES))), st.integers(min_value=0), st.binary(min_size=1, max_size=50))
def test_truncated_and_extended_real_frames(index: int, cut: int, tail: bytes) -> None:
    frame = SAMPLES[index]
    _check_rejected_without_change(frame[: cut % len(frame)])
    if index < len(SAMPLES) - 1:  # appending to a Data frame is covered by the mutation test
        _check_rejected_without_change(frame + tail)


async def _handshaking() -> tuple[Session, Session]:
    provider = NativeProvider()
    initiator = Session(provider, await make_party(provider), is_initiator=True)
    responder = Session(provider, await make_party(provider), is_initiator=False)
    await initiator.connected(DTLS_A, DTLS_B, 0.0)
    await responder.connected(DTLS_B, DTLS_A, 0.0)
    return initiator, responder


INITIATOR, RESPONDER = _LOOP.run_until_complete(_handshaking())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.booleans())
def test_arbitrary_bytes_during_the_handshake(frame: bytes, to_initiator: bool) -> None:
    session = INITIATOR if to_initiator else RESPONDER
    before = json.dumps(session.to_dict(), sort_keys=True)
    phase = session.handshake_phase
    assert phase == ("await-reply" if to_initiator else "await-hello")
    try:
        _LOOP.run_until_complete(session.receive(frame, 0.0))
    except ProtocolError:
        assert session.handshake_phase == phase
        assert json.dumps(session.to_dict(), sort_keys=True) == before
        assert session.state == SessionState.HANDSHAKING
        return
    raise AssertionError("a malformed frame was accepted during the handshake")
