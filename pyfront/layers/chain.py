"""The symmetric KDF chain shared by the ML-KEM layer and the outer layer (docs/protocol.md, "Chains").

``message_key = HMAC-SHA-256(chain_key, 0x01)`` and ``next_chain_key = HMAC-SHA-256(chain_key, 0x02)``
(the Double Ratchet's chain step, Signal spec section 5.2). A receiving chain keeps the keys of skipped
counters, bounded by the caller, so messages reordered within a window still decrypt. This module does
no I/O.
"""

from __future__ import annotations

from pyfront.crypto.provider import CryptoProvider, SymmetricKey

MESSAGE_KEY_CONSTANT = b"\x01"
CHAIN_KEY_CONSTANT = b"\x02"


def message_key(chain_key: bytes) -> SymmetricKey:
    return SymmetricKey(CryptoProvider.hmac("sha256", chain_key, MESSAGE_KEY_CONSTANT))


def next_chain_key(chain_key: bytes) -> SymmetricKey:
    return SymmetricKey(CryptoProvider.hmac("sha256", chain_key, CHAIN_KEY_CONSTANT))


def walk(chain_key: bytes, start: int, target: int) -> tuple[SymmetricKey, dict[int, SymmetricKey]]:
    """From ``chain_key`` at counter ``start``, return the chain key at ``target`` and the skipped keys.

    Pure: the caller commits the result only after the message authenticates."""
    skipped: dict[int, SymmetricKey] = {}
    current = SymmetricKey(chain_key)
    for counter in range(start, target):
        skipped[counter] = message_key(current)
        current = next_chain_key(current)
    return current, skipped
