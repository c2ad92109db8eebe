"""The outer AES-256-GCM layer: per-message keys from a symmetric chain (DESIGN.md section 5, "Outer layer").

Keyed by the handshake alone -- the ephemeral X25519 shared secret and the transcript hash -- and fresh
for every connection (a resumed session gets a new outer layer), so it is independent of the inner layers:

    prk          = HKDF-Extract(salt = transcript_hash, ikm = x25519_shared_secret)       (SHA-256)
    chain_key_0  = HKDF-Expand(prk, "parley outer v1 chain "  || direction, 32)
    header_key   = HKDF-Expand(prk, "parley outer v1 header " || direction, 32)

with ``direction`` ``i2r`` or ``r2i``. Message ``n`` uses ``key = HMAC(chain_key_n, 0x01)`` and the
12-byte nonce ``0^4 || n``; the AEAD plaintext is ``n (8 bytes) || payload`` so the counter is inside the
AEAD. On the wire the counter appears only masked, QUIC-style: ``masked = n XOR HMAC(header_key,
ciphertext[0:16])[0:8]``. Layout: ``masked_counter(8) || AES-256-GCM(ciphertext || tag)`` -- 32 bytes of
overhead.

The receiver accepts a counter at most ``OUTER_MAX_SKIP`` ahead of the next expected one and at most
``OUTER_WINDOW`` behind the highest seen; anything older, already seen or further ahead is a
``ReplayError``. State changes only after the tag verifies. This module does no I/O.
"""

from __future__ import annotations

from typing import Any

from pyfront.crypto.provider import CryptoProvider, SymmetricKey, require_length
from pyfront.errors import DecodeError, ReplayError
from pyfront.layers.chain import message_key, next_chain_key, walk
from pyfront.storage.migrations import OUTER_LAYER

OUTER_WINDOW = 256
"""How far behind the highest accepted counter a late message may still arrive."""
OUTER_MAX_SKIP = 256
"""How far ahead of the next expected counter a message may jump (bounds key derivation work)."""
COUNTER_LENGTH = 8
TAG_LENGTH = 16
OUTER_OVERHEAD = COUNTER_LENGTH + COUNTER_LENGTH + TAG_LENGTH
OUTER_AAD = b"parley outer v1"
MAX_COUNTER = (1 << 64) - 1


def _derive(prk: bytes, label: str) -> SymmetricKey:
    return SymmetricKey(CryptoProvider.hkdf_expand("sha256", prk, label.encode("ascii"), 32))


def _mask(header_key: bytes, sample: bytes) -> int:
    return int.from_bytes(CryptoProvider.hmac("sha256", header_key, sample)[:COUNTER_LENGTH], "big")


def _nonce(counter: int) -> bytes:
    return bytes(4) + counter.to_bytes(COUNTER_LENGTH, "big")


class OuterLayer:
    """One connection's outer layer for one side. ``name`` identifies it in the cascade."""

    name = "outer"

    def __init__(
        self,
        provider: CryptoProvider,
        *,
        send_chain_key: bytes,
        send_header_key: bytes,
        send_counter: int,
        receive_chain_key: bytes,
        receive_header_key: bytes,
        receive_next: int,
        receive_highest: int,
        skipped: dict[int, SymmetricKey],
    ) -> None:
        self._provider = provider
        self._send_chain_key = SymmetricKey(send_chain_key)
        self._send_header_key = SymmetricKey(send_header_key)
        self._send_counter = send_counter
        self._receive_chain_key = SymmetricKey(receive_chain_key)
        self._receive_header_key = SymmetricKey(receive_header_key)
        self._receive_next = receive_next
        self._receive_highest = receive_highest
        self._skipped = skipped

    @classmethod
    def from_handshake(
        cls, provider: CryptoProvider, *, shared_secret: bytes, transcript_hash: bytes, is_initiator: bool
    ) -> OuterLayer:
        require_length("outer layer shared secret", shared_secret, 32)
        require_length("outer layer transcript hash", transcript_hash, 32)
        prk = provider.hkdf_extract("sha256", transcript_hash, shared_secret)
        ours, theirs = ("i2r", "r2i") if is_initiator else ("r2i", "i2r")
        return cls(
            provider,
            send_chain_key=_derive(prk, f"parley outer v1 chain {ours}"),
            send_header_key=_derive(prk, f"parley outer v1 header {ours}"),
            send_counter=0,
            receive_chain_key=_derive(prk, f"parley outer v1 chain {theirs}"),
            receive_header_key=_derive(prk, f"parley outer v1 header {theirs}"),
            receive_next=0,
            receive_highest=-1,
            skipped={},
        )

    def __repr__(self) -> str:
        return f"OuterLayer(sent={self._send_counter}, received_next={self._receive_next})"

    def snapshot(self) -> object:
        """Everything ``encrypt``/``decrypt`` can change (the cascade's rollback point)."""
        return (
            self._send_chain_key,
            self._send_counter,
            self._receive_chain_key,
            self._receive_next,
            self._receive_highest,
            dict(self._skipped),
        )

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, tuple)
        (
            self._send_chain_key,
            self._send_counter,
            self._receive_chain_key,
            self._receive_next,
            self._receive_highest,
            skipped,
        ) = snapshot
        self._skipped = dict(skipped)

    async def encrypt(self, plaintext: bytes, now: float) -> bytes:
        counter = self._send_counter
        if counter >= MAX_COUNTER:
            raise ReplayError("outer layer: send counter exhausted; reconnect for a fresh key")
        body = await self._provider.aes_gcm_encrypt(
            message_key(self._send_chain_key),
            _nonce(counter),
            counter.to_bytes(COUNTER_LENGTH, "big") + plaintext,
            OUTER_AAD,
        )
        masked = counter ^ _mask(self._send_header_key, body[:16])
        self._send_chain_key = next_chain_key(self._send_chain_key)
        self._send_counter = counter + 1
        return masked.to_bytes(COUNTER_LENGTH, "big") + body

    async def decrypt(self, ciphertext: bytes, now: float) -> bytes:
        if len(ciphertext) < OUTER_OVERHEAD:
            raise DecodeError(f"outer layer: {len(ciphertext)} bytes is shorter than the overhead")
        body = ciphertext[COUNTER_LENGTH:]
        counter = int.from_bytes(ciphertext[:COUNTER_LENGTH], "big") ^ _mask(
            self._receive_header_key, body[:16]
        )
        new_chain: SymmetricKey | None = None
        skipped: dict[int, SymmetricKey] = {}
        if counter < self._receive_next:
            key = self._skipped.get(counter)
            if key is None:
                if counter < self._receive_highest - OUTER_WINDOW:
                    raise ReplayError(f"outer layer: counter {counter} is outside the window")
                raise ReplayError(f"outer layer: counter {counter} was already received")
        else:
            if counter - self._receive_next > OUTER_MAX_SKIP:
                raise ReplayError(f"outer layer: counter {counter} is too far ahead")
            chain_at, skipped = walk(self._receive_chain_key, self._receive_next, counter)
            key = message_key(chain_at)
            new_chain = next_chain_key(chain_at)
        inner = await self._provider.aes_gcm_decrypt(key, _nonce(counter), body, OUTER_AAD)
        if int.from_bytes(inner[:COUNTER_LENGTH], "big") != counter:
            raise DecodeError("outer layer: counter inside the AEAD does not match")
        # Authenticated: commit.
        if new_chain is None:
            del self._skipped[counter]
        else:
            self._receive_chain_key = new_chain
            self._receive_next = counter + 1
            self._receive_highest = counter
            self._skipped.update(skipped)
            floor = self._receive_highest - OUTER_WINDOW
            for old in [n for n in self._skipped if n < floor]:
                del self._skipped[old]
        return inner[COUNTER_LENGTH:]

    def to_dict(self) -> dict[str, Any]:
        return OUTER_LAYER.new(
            send_chain_key=self._send_chain_key.hex(),
            send_header_key=self._send_header_key.hex(),
            send_counter=self._send_counter,
            receive_chain_key=self._receive_chain_key.hex(),
            receive_header_key=self._receive_header_key.hex(),
            receive_next=self._receive_next,
            receive_highest=self._receive_highest,
            skipped={str(counter): key.hex() for counter, key in self._skipped.items()},
        )

    @classmethod
    def from_dict(cls, provider: CryptoProvider, data: dict[str, Any]) -> OuterLayer:
        data = OUTER_LAYER.open(data)
        try:
            keys = [
                bytes.fromhex(data[name])
                for name in ("send_chain_key", "send_header_key", "receive_chain_key", "receive_header_key")
            ]
            counters = [int(data[name]) for name in ("send_counter", "receive_next", "receive_highest")]
            skipped = {
                int(counter): SymmetricKey(bytes.fromhex(key)) for counter, key in data["skipped"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DecodeError(f"{OUTER_LAYER.kind}: malformed ({type(error).__name__})") from None
        for key in [*keys, *skipped.values()]:
            require_length("outer layer key", key, 32)
        if len(skipped) > OUTER_WINDOW + OUTER_MAX_SKIP:
            raise DecodeError(f"{OUTER_LAYER.kind}: too many skipped keys")
        return cls(
            provider,
            send_chain_key=keys[0],
            send_header_key=keys[1],
            send_counter=counters[0],
            receive_chain_key=keys[2],
            receive_header_key=keys[3],
            receive_next=counters[1],
            receive_highest=counters[2],
            skipped=skipped,
        )
