"""Invite links (pyfront.messaging.invite): round trips, one spelling per invite, hostile links refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyfront.errors import DecodeError, LimitError, ProtocolError
from pyfront.messaging.invite import (
    MAX_INVITE_FRAGMENT_LENGTH,
    MAX_INVITE_NAME_LENGTH,
    Invite,
    parse_fragment,
    parse_link,
)
from pyfront.session.identity import invite_fingerprint

ALICE_KEY = bytes(range(32))
MALLORY_KEY = bytes(range(1, 33))
FINGERPRINT = invite_fingerprint(ALICE_KEY)
PEER = "p" + "ab" * 16


def test_link_round_trip_and_exact_format() -> None:
    invite = Invite.for_identity(PEER, ALICE_KEY, name="Alice")
    link = invite.link("http://127.0.0.1:8000/")
    assert link == f"http://127.0.0.1:8000/#invite?v=1&peer={PEER}&fp={FINGERPRINT}&name=Alice"
    assert parse_link(link) == invite
    assert parse_fragment("#" + invite.fragment()) == invite
    assert parse_fragment(invite.fragment()) == invite


def test_name_is_optional_and_percent_encoded() -> None:
    assert Invite(PEER, FINGERPRINT).fragment() == f"invite?v=1&peer={PEER}&fp={FINGERPRINT}"
    invite = Invite(PEER, FINGERPRINT, "Zoë & Bob/=?#")
    fragment = invite.fragment()
    assert "&name=Zo%C3%AB%20%26%20Bob%2F%3D%3F%23" in fragment
    assert parse_fragment(fragment) == invite


def test_peer_ids_with_spaces_and_dashes_survive() -> None:
    invite = Invite("my peer-id_1", FINGERPRINT)
    assert "peer=my%20peer-id_1" in invite.fragment()
    assert parse_fragment(invite.fragment()).peer_id == "my peer-id_1"


def test_fingerprint_check_accepts_the_inviter_only() -> None:
    invite = parse_link(Invite.for_identity(PEER, ALICE_KEY).link("https://parley.example/app"))
    assert invite.matches(ALICE_KEY)
    assert not invite.matches(MALLORY_KEY)


def test_link_keeps_the_app_path_and_refuses_relative_urls() -> None:
    invite = Invite(PEER, FINGERPRINT)
    assert invite.link("https://h.example/chat/").startswith("https://h.example/chat/#invite?")
    assert invite.link("https://h.example").startswith("https://h.example/#invite?")
    with pytest.raises(DecodeError):
        invite.link("/relative")
    with pytest.raises(DecodeError):
        invite.link("javascript:alert(1)")


GOOD = f"invite?v=1&peer={PEER}&fp={FINGERPRINT}"


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("", "must start with"),
        ("chat/123", "must start with"),
        (f"invite?v=2&peer={PEER}&fp={FINGERPRINT}", "version 1 expected"),
        (f"invite?peer={PEER}&fp={FINGERPRINT}", "missing field"),
        (f"invite?v=1&fp={FINGERPRINT}", "missing field"),
        (f"invite?v=1&peer={PEER}", "missing field"),
        (GOOD + "&v=1", "appears twice"),
        (GOOD + f"&peer={PEER}", "appears twice"),
        (GOOD + "&relay=turn:evil", "unknown field"),
        (GOOD + "&name", "not key=value"),
        (GOOD + "&", "not key=value"),
        (f"invite?v=1&peer=bad.id&fp={FINGERPRINT}", "not a peer id"),
        (f"invite?v=1&peer=%70{PEER[1:]}&fp={FINGERPRINT}", "canonical"),  # 'p' needlessly escaped
        (f"invite?v=1&peer={PEER}&fp={FINGERPRINT[:-1]}", "27 URL-safe"),
        (f"invite?v=1&peer={PEER}&fp={FINGERPRINT[:-1]}+", "canonical|27 URL-safe"),
        (GOOD + "&name=%FF", "UTF-8"),
        (GOOD + "&name=a%0Ab", "control"),
        (GOOD + "&name=%E2%80%AEevil", "control or format"),  # right-to-left override
        (GOOD + "&name=a+b", "canonical"),
    ],
)
def test_malformed_fragments_are_refused(fragment: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        parse_fragment(fragment)


def test_limits() -> None:
    with pytest.raises(LimitError):
        parse_fragment("invite?" + "a" * MAX_INVITE_FRAGMENT_LENGTH)
    with pytest.raises(LimitError):
        Invite(PEER, FINGERPRINT, "n" * (MAX_INVITE_NAME_LENGTH + 1))
    assert Invite(PEER, FINGERPRINT, "n" * MAX_INVITE_NAME_LENGTH).name
    with pytest.raises(DecodeError, match="no '#'"):
        parse_link("https://h.example/?invite=1")


@given(st.text(max_size=300))
def test_arbitrary_fragments_raise_only_protocol_errors(fragment: str) -> None:
    try:
        invite = parse_fragment(fragment)
    except ProtocolError:
        return
    assert parse_fragment(invite.fragment()) == invite
    assert invite.fragment() == fragment.removeprefix("#")  # one spelling per invite


@given(st.text(max_size=MAX_INVITE_NAME_LENGTH).filter(lambda s: s.isprintable()))
def test_printable_names_round_trip(name: str) -> None:
    invite = Invite(PEER, FINGERPRINT, name)
    assert parse_fragment(invite.fragment()) == invite
