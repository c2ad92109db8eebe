"""Manual signaling (pyfront.messaging.manual_signaling): round trips, tampering, wrong signers, limits."""

from __future__ import annotations

import asyncio
import base64
import zlib
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, LimitError, ProtocolError
from pyfront.messaging import manual_signaling as manual
from pyfront.messaging.manual_signaling import (
    MAX_CANDIDATES,
    MAX_PACKET_BYTES,
    MAX_TEXT_CHARS,
    Candidate,
    Description,
    Kind,
    Setup,
    Signal,
    media_id,
    open_answer,
    open_offer,
    packet_from_text,
    seal,
)
from pyfront.messaging.signaling import dtls_fingerprint
from pyfront.session.identity import Identity

PROVIDER = NativeProvider()
T = TypeVar("T")
FINGERPRINT = ":".join(f"{byte:02X}" for byte in range(0xA0, 0xC0))

#: A complete data-channel offer as Chromium writes it once gathering has finished.
CHROMIUM_OFFER = (
    "v=0\r\n"
    "o=- 4215775240449105457 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=application 46243 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=candidate:1467250027 1 udp 2122260223 127.0.0.1 46243 typ host generation 0 network-id 1\r\n"
    "a=candidate:3176471939 1 udp 2122262783 ::1 51861 typ host generation 0 network-id 2\r\n"
    "a=candidate:2c9f3f7e 1 udp 2122194687 0b5e2c36-5a0e-4f0e-9e6a-2b1f3c4d5e6f.local 40001 typ host\r\n"
    "a=candidate:1 1 udp 1686052607 203.0.113.7 40002 typ srflx raddr 0.0.0.0 rport 0\r\n"
    "a=candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0\r\n"
    "a=ice-ufrag:Zq3w\r\n"
    "a=ice-pwd:3n8mqvQm3ZzL5+zEXAMPLEpwd1\r\n"
    "a=ice-options:trickle\r\n"
    f"a=fingerprint:sha-256 {FINGERPRINT}\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n"
)
CHROMIUM_ANSWER = CHROMIUM_OFFER.replace("a=setup:actpass", "a=setup:active").replace("Zq3w", "Ab9Z")


def run(step: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(step)


@pytest.fixture(scope="module")
def alice() -> Identity:
    return run(Identity.from_seed(PROVIDER, bytes([1]) * 32))


@pytest.fixture(scope="module")
def bob() -> Identity:
    return run(Identity.from_seed(PROVIDER, bytes([2]) * 32))


@pytest.fixture(scope="module")
def offer(alice: Identity) -> Signal:
    description = Description.from_sdp(CHROMIUM_OFFER)
    return run(seal(PROVIDER, alice, peer_id="p" + "a" * 32, name="Alice ✓", description=description))


@pytest.fixture(scope="module")
def answer(bob: Identity, offer: Signal) -> Signal:
    description = Description.from_sdp(CHROMIUM_ANSWER)
    return run(seal(PROVIDER, bob, peer_id="p" + "b" * 32, name="Bob", description=description, offer=offer))


def test_description_keeps_what_the_data_channel_needs() -> None:
    description = Description.from_sdp(CHROMIUM_OFFER)
    assert description.ice_ufrag == "Zq3w"
    assert description.ice_pwd == "3n8mqvQm3ZzL5+zEXAMPLEpwd1"
    assert description.fingerprint == dtls_fingerprint(CHROMIUM_OFFER)
    assert description.setup is Setup.ACTPASS
    assert description.max_message_size == 262144
    # UDP host candidates only: the srflx and the TCP candidate are dropped
    assert description.candidates == (
        Candidate("127.0.0.1", 46243),
        Candidate("::1", 51861),
        Candidate("0b5e2c36-5a0e-4f0e-9e6a-2b1f3c4d5e6f.local", 40001),
    )


def test_rebuilt_sdp_reads_back_to_the_same_description() -> None:
    description = Description.from_sdp(CHROMIUM_OFFER)
    sdp = description.to_sdp(Kind.OFFER, "0")
    assert Description.from_sdp(sdp) == description
    assert "a=mid:0\r\n" in sdp and "a=group:BUNDLE 0\r\n" in sdp
    assert dtls_fingerprint(sdp) == description.fingerprint
    assert media_id(CHROMIUM_OFFER) == "0"


def test_round_trip_as_text_and_as_bytes(
    offer: Signal, answer: Signal, alice: Identity, bob: Identity
) -> None:
    for data in (offer.text, offer.packet):
        opened = run(open_offer(PROVIDER, data))
        assert opened == offer
        assert opened.identity_key == alice.public_key
        assert opened.name == "Alice ✓" and opened.peer_id == "p" + "a" * 32
    opened_answer = run(open_answer(PROVIDER, answer.text, offer))
    assert opened_answer == answer
    assert opened_answer.identity_key == bob.public_key
    assert opened_answer.offer_digest == offer.digest
    assert opened_answer.description.setup is Setup.ACTIVE


def test_text_is_compact_and_survives_line_breaks(offer: Signal, answer: Signal) -> None:
    assert len(offer.packet) < 300 and len(answer.packet) < 330
    wrapped = "\n".join(offer.text[i : i + 40] for i in range(0, len(offer.text), 40))
    assert run(open_offer(PROVIDER, f"  {wrapped}\n")) == offer


def test_every_bit_flip_of_the_packet_is_refused(offer: Signal, answer: Signal) -> None:
    for signal, opener in ((offer, lambda data: open_offer(PROVIDER, data)), (answer, None)):
        for index in range(len(signal.packet)):
            for bit in range(8):
                tampered = bytearray(signal.packet)
                tampered[index] ^= 1 << bit
                step = opener(bytes(tampered)) if opener else open_answer(PROVIDER, bytes(tampered), offer)
                with pytest.raises(ProtocolError):
                    run(step)


def test_a_changed_body_is_an_authentication_error(offer: Signal) -> None:
    tampered = bytearray(offer.packet)
    tampered[40] ^= 0x01  # inside the compressed body
    with pytest.raises(AuthenticationError, match="signature does not verify"):
        run(open_offer(PROVIDER, bytes(tampered)))


def test_a_changed_character_of_the_text_is_refused(offer: Signal) -> None:
    for index in range(0, len(offer.text)):
        char = offer.text[index]
        replacement = "A" if char != "A" else "B"
        with pytest.raises(ProtocolError):
            run(open_offer(PROVIDER, offer.text[:index] + replacement + offer.text[index + 1 :]))


def test_wrong_signer_is_refused(offer: Signal, bob: Identity) -> None:
    """Bob's key in Alice's packet (or Alice's body re-signed under Bob's name) does not verify."""
    forged = offer.packet[:1] + bob.public_key + offer.packet[33:]
    with pytest.raises(AuthenticationError):
        run(open_offer(PROVIDER, forged))
    compressed = offer.packet[33:-64]
    signature = run(bob.sign(PROVIDER, manual._signed_part(bob.public_key, compressed)))
    resigned = offer.packet[:1] + bob.public_key + compressed + signature
    opened = run(open_offer(PROVIDER, resigned))
    assert opened.identity_key == bob.public_key  # valid, but it names Bob's key: the contact pins Bob


def test_offer_and_answer_are_not_interchangeable(offer: Signal, answer: Signal) -> None:
    with pytest.raises(DecodeError, match="an offer was expected"):
        run(open_offer(PROVIDER, answer.text))
    with pytest.raises(DecodeError, match="an answer was expected"):
        run(open_answer(PROVIDER, offer.text, offer))


def test_answer_to_another_offer_is_refused(alice: Identity, answer: Signal) -> None:
    other = run(
        seal(
            PROVIDER,
            alice,
            peer_id="p" + "a" * 32,
            name="Alice",
            description=Description.from_sdp(CHROMIUM_OFFER.replace("Zq3w", "Yy7y")),
        )
    )
    with pytest.raises(AuthenticationError, match="another offer"):
        run(open_answer(PROVIDER, answer.text, other))


def test_our_own_answer_is_refused(alice: Identity, offer: Signal) -> None:
    mine = run(
        seal(
            PROVIDER,
            alice,
            peer_id="p" + "a" * 32,
            name="Alice",
            description=Description.from_sdp(CHROMIUM_ANSWER),
            offer=offer,
        )
    )
    with pytest.raises(DecodeError, match="our own"):
        run(open_answer(PROVIDER, mine.text, offer))


def test_setup_roles_are_checked(alice: Identity, offer: Signal) -> None:
    with pytest.raises(DecodeError, match="actpass"):
        run(
            seal(
                PROVIDER, alice, peer_id="palice", name="", description=Description.from_sdp(CHROMIUM_ANSWER)
            )
        )
    with pytest.raises(DecodeError, match="active or passive"):
        run(
            seal(
                PROVIDER,
                alice,
                peer_id="palice",
                name="",
                description=Description.from_sdp(CHROMIUM_OFFER),
                offer=offer,
            )
        )


def test_limits_are_enforced(alice: Identity, offer: Signal) -> None:
    with pytest.raises(LimitError):
        packet_from_text("A" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(LimitError):
        run(open_offer(PROVIDER, bytes(MAX_PACKET_BYTES + 1)))
    with pytest.raises(DecodeError, match="too short"):
        run(open_offer(PROVIDER, offer.packet[:80]))
    many = "".join(
        f"a=candidate:{port} 1 udp 1 10.0.0.{port % 250 + 1} {port} typ host\r\n"
        for port in range(1000, 1020)
    )
    description = Description.from_sdp(CHROMIUM_OFFER.replace("a=ice-ufrag", many + "a=ice-ufrag", 1))
    assert len(description.candidates) == MAX_CANDIDATES
    with pytest.raises(LimitError):
        run(seal(PROVIDER, alice, peer_id="palice", name="x" * 200, description=description))


def test_a_decompression_bomb_signed_by_its_sender_is_refused(alice: Identity) -> None:
    """A valid signature over a body that inflates beyond MAX_BODY_BYTES: refused while inflating."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = compressor.compress(bytes(500_000)) + compressor.flush()
    signature = run(alice.sign(PROVIDER, manual._signed_part(alice.public_key, compressed)))
    packet = bytes([manual.MANUAL_SIGNALING_VERSION]) + alice.public_key + compressed + signature
    assert len(packet) <= MAX_PACKET_BYTES
    with pytest.raises(DecodeError, match="at most"):
        run(open_offer(PROVIDER, packet))


def test_malformed_text_is_refused() -> None:
    for text in ("", "not base64!", "AAA=", "ñ"):
        with pytest.raises(DecodeError):
            packet_from_text(text)
    canonical = base64.urlsafe_b64encode(b"\x01\x02").rstrip(b"=").decode()
    assert packet_from_text(canonical) == b"\x01\x02"
    with pytest.raises(DecodeError, match="non-canonical"):
        packet_from_text(canonical[:-1] + "R")  # same bytes, other unused bits


def test_sdp_without_host_candidates_or_credentials_is_refused() -> None:
    no_host = "\r\n".join(line for line in CHROMIUM_OFFER.split("\r\n") if "typ host" not in line)
    with pytest.raises(DecodeError, match="no host candidate"):
        Description.from_sdp(no_host)
    with pytest.raises(DecodeError, match="ice-pwd"):
        Description.from_sdp(CHROMIUM_OFFER.replace("a=ice-pwd", "a=x-pwd"))
    with pytest.raises(DecodeError):
        Candidate("host.example.org", 1)
    with pytest.raises(DecodeError):
        Candidate("127.0.0.1", 0)
