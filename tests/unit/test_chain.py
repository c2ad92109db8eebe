"""The symmetric KDF chain of the ML-KEM and outer layers (pyfront.layers.chain)."""

import hashlib
import hmac

from pyfront.layers.chain import message_key, next_chain_key, walk

CHAIN = bytes(range(32))


def test_steps_are_the_double_ratchet_chain_step() -> None:
    assert message_key(CHAIN) == hmac.new(CHAIN, b"\x01", hashlib.sha256).digest()
    assert next_chain_key(CHAIN) == hmac.new(CHAIN, b"\x02", hashlib.sha256).digest()
    assert message_key(CHAIN) != next_chain_key(CHAIN)
    assert "00010203" not in repr(message_key(CHAIN))  # typed secrets never print


def test_walk_returns_the_chain_at_target_and_the_skipped_keys() -> None:
    chain_at, skipped = walk(CHAIN, 5, 8)
    assert sorted(skipped) == [5, 6, 7]
    assert skipped[5] == message_key(CHAIN)
    assert skipped[6] == message_key(next_chain_key(CHAIN))
    assert chain_at == next_chain_key(next_chain_key(next_chain_key(CHAIN)))
    assert walk(CHAIN, 3, 3) == (CHAIN, {})
