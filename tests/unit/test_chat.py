"""The conversation model: delivery states, unread counts, disappearing messages, delete for everyone."""

from __future__ import annotations

import pytest

from pyfront.errors import DecodeError, InvalidStateError, LimitError
from pyfront.messaging.chat import (
    MAX_TEXT_BYTES,
    Conversation,
    Direction,
    Kind,
    Status,
)


def test_outgoing_states_only_move_forward() -> None:
    chat = Conversation("bob")
    chat.compose("m1", "hello", now=10)
    assert chat.messages["m1"].status is Status.SENDING
    assert chat.update_status("m1", Status.SENT, now=11)
    assert chat.update_status("m1", Status.READ, now=12)
    assert not chat.update_status("m1", Status.DELIVERED, now=13)  # late receipt changes nothing
    assert chat.messages["m1"].status is Status.READ
    assert not chat.update_status("m1", Status.FAILED, now=14)
    assert not chat.update_status("nope", Status.SENT, now=14)


def test_unread_count_and_last_message() -> None:
    chat = Conversation("bob")
    chat.compose("m1", "hi Bob", now=1)
    chat.receive("r1", "hi Alice", sent_at=2, timer=0, now=2)
    chat.receive("r2", "how are you?", sent_at=3, timer=0, now=3)
    assert chat.unread == 2
    assert chat.last_message is not None and chat.last_message.text == "how are you?"
    assert chat.receive("r2", "how are you?", sent_at=3, timer=0, now=4) is None  # duplicate delivery
    assert chat.mark_read_by_me(now=5) == ["r1", "r2"]
    assert chat.unread == 0
    assert chat.mark_read_by_me(now=6) == []


def test_disappearing_messages_vanish_after_their_timer() -> None:
    alice = Conversation("bob")
    alice.set_timer("t1", 30, now=0, by_me=True)
    alice.compose("m1", "self-destructs", now=1)
    assert alice.messages["m1"].timer == 30
    alice.update_status("m1", Status.SENT, now=2)
    assert alice.next_expiry() == 32
    assert alice.expire(now=31) == []
    assert alice.expire(now=32) == ["m1"]
    assert "m1" not in alice.messages

    bob = Conversation("alice")
    bob.set_timer("t1", 30, now=0, by_me=False)
    bob.receive("m1", "self-destructs", sent_at=1, timer=30, now=3)
    assert bob.expire(now=1000) == []  # the countdown starts when Bob reads it
    bob.mark_read_by_me(now=1000)
    assert bob.expire(now=1030) == ["m1"]


def test_timer_change_is_a_visible_event_and_only_known_values_are_accepted() -> None:
    chat = Conversation("bob")
    event = chat.set_timer("t1", 300, now=5, by_me=False)
    assert event.kind is Kind.TIMER_CHANGED and event.direction is Direction.INCOMING
    assert chat.timer == 300
    with pytest.raises(DecodeError):
        chat.set_timer("t2", 17, now=6, by_me=True)
    assert chat.timer == 300


def test_delete_for_everyone_only_by_the_author() -> None:
    chat = Conversation("bob")
    chat.compose("m1", "oops", now=1)
    chat.receive("r1", "theirs", sent_at=2, timer=0, now=2)
    with pytest.raises(InvalidStateError):
        chat.delete_for_everyone("r1", by_me=True)
    with pytest.raises(InvalidStateError):
        chat.delete_for_everyone("m1", by_me=False)
    assert chat.delete_for_everyone("m1", by_me=True)
    assert chat.messages["m1"].kind is Kind.DELETED and chat.messages["m1"].text == ""
    assert chat.delete_for_everyone("r1", by_me=False)
    assert not chat.delete_for_everyone("r1", by_me=False)


def test_limits_on_text() -> None:
    chat = Conversation("bob")
    with pytest.raises(LimitError):
        chat.compose("m1", "x" * (MAX_TEXT_BYTES + 1), now=1)
    with pytest.raises(InvalidStateError):
        chat.compose("m1", "   ", now=1)
    with pytest.raises(LimitError):
        chat.receive("r1", "x" * (MAX_TEXT_BYTES + 1), sent_at=1, timer=0, now=1)
    assert chat.messages == {}


def test_state_round_trips_and_rejects_bad_versions() -> None:
    chat = Conversation("bob")
    chat.set_timer("t", 60 * 60, now=0, by_me=True)
    chat.compose("m1", "kept", now=1)
    chat.receive("r1", "also kept", sent_at=2, timer=3600, now=2)
    chat.mark_read_by_me(now=3)
    restored = Conversation.from_dict(chat.to_dict())
    assert restored.to_dict() == chat.to_dict()
    assert restored.unread == 0
    with pytest.raises(DecodeError):
        Conversation.from_dict({**chat.to_dict(), "version": 99})
    with pytest.raises(DecodeError):
        Conversation.from_dict({**chat.to_dict(), "messages": [{"id": "x"}]})
