"""tests/vectors/session/mls_update.json: an MLS epoch update, receiver side (docs/protocol.md 5.2, 8).

The responder's stored MLS layer state reads the initiator's message that carries an update
(``0x01 || vec2(commit) || MLSMessage``), is then in the new epoch with the recorded epoch_authenticator
(the committer's key schedule and ours agree), and reads the committer's first message of that epoch. A
bit flipped anywhere in the commit is refused and leaves the stored state as it was. The vector is written
by tests/fixtures/make_mls_update_vector.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import ProtocolError
from pyfront.layers.mls_layer import WITH_COMMIT, MlsLayer, decode_layer_message, message_epoch
from pyfront.mls.group import Group

VECTOR = json.loads((Path(__file__).parent / "session" / "mls_update.json").read_text())
COMMIT_LENGTH = 527
"""docs/protocol.md 5.2: an empty Commit with an UpdatePath in a two-member group."""
COMMIT_OFFSET = 3
"""The commit follows the kind byte and its vec2 length."""


def load_receiver() -> MlsLayer:
    return MlsLayer.from_dict(NativeProvider(), VECTOR["receiver_state"])


def stored(layer: MlsLayer) -> dict[str, Any]:
    """What the vault would hold, through JSON as the vault writes it."""
    return dict(json.loads(json.dumps(layer.to_dict())))


def test_the_update_message_has_the_documented_layout() -> None:
    wire = bytes.fromhex(VECTOR["update_message"])
    commit, message = decode_layer_message(wire)
    assert commit is not None
    assert wire[:COMMIT_OFFSET] == bytes([WITH_COMMIT]) + COMMIT_LENGTH.to_bytes(2, "big")
    assert len(commit) == COMMIT_LENGTH and len(message) == 322  # a 160-byte bucket, section 5.2
    old_epoch = VECTOR["new_epoch"] - 1
    assert message_epoch(commit) == message_epoch(message) == old_epoch  # sent before the ack
    new_message = bytes.fromhex(VECTOR["new_epoch_message"])
    assert decode_layer_message(new_message) == (None, new_message)
    assert message_epoch(new_message) == VECTOR["new_epoch"]


def test_the_receiver_applies_the_update_and_reads_the_new_epoch() -> None:
    async def body() -> None:
        now = VECTOR["now"]
        receiver = load_receiver()
        assert stored(receiver) == VECTOR["receiver_state"]  # the stored format round-trips
        assert receiver.epoch == VECTOR["new_epoch"] - 1 and receiver.pending_commit is None
        group_before = Group.from_dict(NativeProvider(), VECTOR["receiver_state"]["group"])

        plaintext = await receiver.decrypt(bytes.fromhex(VECTOR["update_message"]), now)
        assert plaintext.hex() == VECTOR["update_plaintext"]
        assert receiver.epoch == VECTOR["new_epoch"]
        assert receiver.previous_epoch == VECTOR["new_epoch"] - 1  # the committer may still send in it
        assert receiver.group.epoch_authenticator.hex() == VECTOR["epoch_authenticator"]
        assert receiver.group.epoch_authenticator != group_before.epoch_authenticator
        assert receiver.group.members() == group_before.members()

        plaintext = await receiver.decrypt(bytes.fromhex(VECTOR["new_epoch_message"]), now)
        assert plaintext.hex() == VECTOR["new_epoch_plaintext"]
        assert receiver.epoch == VECTOR["new_epoch"]
        assert receiver.previous_epoch is None  # the committer's first message in the new epoch

    asyncio.run(body())


def test_a_flipped_bit_in_the_commit_is_refused_and_changes_nothing() -> None:
    """Every byte of the commit, one bit each (the bit moves with the offset): header, sender data,
    content and tag. The layer then still reads the genuine message."""

    async def body() -> None:
        now = VECTOR["now"]
        wire = bytes.fromhex(VECTOR["update_message"])
        receiver = load_receiver()
        before = stored(receiver)
        for offset in range(COMMIT_OFFSET, COMMIT_OFFSET + COMMIT_LENGTH):
            tampered = bytearray(wire)
            tampered[offset] ^= 1 << (offset % 8)
            with pytest.raises(ProtocolError):
                await receiver.decrypt(bytes(tampered), now)
            assert stored(receiver) == before, f"state changed by a flip at byte {offset}"
        assert (await receiver.decrypt(wire, now)).hex() == VECTOR["update_plaintext"]
        assert receiver.group.epoch_authenticator.hex() == VECTOR["epoch_authenticator"]

    asyncio.run(body())
