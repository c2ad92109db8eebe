"""Tests for ``pyfront.mls.secret_tree``: out-of-order limits, replay, deletion, no-change peeks."""

from __future__ import annotations

import pytest

from pyfront.errors import DecodeError, LimitError, ReplayError
from pyfront.mls.secret_tree import (
    MAX_FORWARD_DISTANCE,
    OUT_OF_ORDER_TOLERANCE,
    HashRatchet,
    RatchetKind,
    SecretTree,
)

SECRET = bytes(range(32))


def test_sender_and_receiver_agree_in_any_order() -> None:
    sender = SecretTree(SECRET, 4)
    receiver = SecretTree(SECRET, 4)
    sent = [sender.ratchet(2, RatchetKind.APPLICATION).next_key() for _ in range(5)]
    for generation, key, nonce in reversed(sent):
        assert receiver.peek(2, RatchetKind.APPLICATION, generation) == (key, nonce)
        receiver.consume(2, RatchetKind.APPLICATION, generation)
    handshake = sender.ratchet(2, RatchetKind.HANDSHAKE).next_key()
    assert handshake[1] != sent[0][1]  # separate chains


def test_used_generation_is_a_replay() -> None:
    tree = SecretTree(SECRET, 2)
    tree.consume(1, RatchetKind.APPLICATION, 3)
    for generation in (3,):
        with pytest.raises(ReplayError):
            tree.peek(1, RatchetKind.APPLICATION, generation)
    for skipped in (0, 1, 2):  # kept for out-of-order arrival, then gone once used
        tree.peek(1, RatchetKind.APPLICATION, skipped)
        tree.consume(1, RatchetKind.APPLICATION, skipped)
        with pytest.raises(ReplayError):
            tree.peek(1, RatchetKind.APPLICATION, skipped)


def test_forward_distance_limit() -> None:
    ratchet = HashRatchet(SECRET)
    ratchet.peek(MAX_FORWARD_DISTANCE)
    with pytest.raises(LimitError):
        ratchet.peek(MAX_FORWARD_DISTANCE + 1)
    with pytest.raises(LimitError):
        ratchet.consume(MAX_FORWARD_DISTANCE + 1)
    assert ratchet.generation == 0


def test_skipped_keys_are_capped() -> None:
    ratchet = HashRatchet(SECRET)
    ratchet.consume(OUT_OF_ORDER_TOLERANCE + 10)
    with pytest.raises(ReplayError):
        ratchet.peek(0)  # the oldest skipped keys were dropped
    ratchet.peek(OUT_OF_ORDER_TOLERANCE + 9)
    assert len(ratchet.to_dict()["skipped"]) == OUT_OF_ORDER_TOLERANCE


def test_peek_changes_nothing_and_consume_deletes_parent_secrets() -> None:
    tree = SecretTree(SECRET, 8)
    before = tree.to_dict()
    tree.peek(5, RatchetKind.HANDSHAKE, 7)
    assert tree.to_dict() == before
    tree.consume(5, RatchetKind.HANDSHAKE, 0)
    nodes = tree.to_dict()["nodes"]
    assert "7" not in nodes  # the root secret is gone once split
    assert "10" not in nodes  # so is the leaf's own secret (only its ratchets remain)
    with pytest.raises(LimitError):
        tree.peek(8, RatchetKind.HANDSHAKE, 0)


def test_state_round_trip_and_repr() -> None:
    tree = SecretTree(SECRET, 4)
    tree.consume(1, RatchetKind.APPLICATION, 2)
    restored = SecretTree.from_dict(tree.to_dict())
    assert restored.to_dict() == tree.to_dict()
    assert restored.peek(1, RatchetKind.APPLICATION, 0) == tree.peek(1, RatchetKind.APPLICATION, 0)
    assert SECRET.hex() not in repr(tree) and SECRET.hex() not in repr(
        tree.ratchet(1, RatchetKind.APPLICATION)
    )
    with pytest.raises(DecodeError):
        SecretTree.from_dict({"n_leaves": 4})
