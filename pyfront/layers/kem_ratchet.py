"""The ML-KEM-768 layer: a KEM ratchet, not a per-message encapsulation (DESIGN.md section 5).

Each direction has its own root key and a sequence of *epochs*. To open an epoch the sender encapsulates
to the peer's newest ML-KEM-768 encapsulation key (never one it used before) and mixes the secret into
the direction's root:

    root_0                  = HKDF(salt = transcript_hash, ikm = "", info = "parley kem v1 root " || dir, 32)
    root_{e+1} || chain_0   = HKDF(salt = root_e, ikm = mlkem_shared_secret,
                                   info = "parley kem v1 epoch " || dir || epoch(4), 64)

Inside an epoch, per-message AES-256-GCM keys come from the symmetric chain (``pyfront.layers.chain``), nonce
``0^4 || epoch(4) || counter(4)``, AAD = the header. Header (all integers big-endian):

    flags(1) epoch(4) counter(4) ack_epochs(4) ack_key_id(4)
    [flags & 1] key_id(4) kem_ciphertext(1088)        -- the epoch's encapsulation (an announcement)
    [flags & 2] new_key_id(4) encapsulation_key(1184) -- our fresh key (an announcement)

``ack_epochs`` is how many of the peer's epochs we have opened and ``ack_key_id`` the newest peer key we
hold: acknowledgements ride on every message. An announcement the peer has not acknowledged rides on the
first frame after it appears and then on every ``KEM_ANNOUNCE_INTERVAL``-th frame, never on every frame:
the data channel is reliable and ordered, so within a connection the first copy arrives before any frame
that needs it, and the repeats only cover frames lost when a connection closes (``reannounce`` covers
them at once when the caller knows a new connection started). A one-way stream therefore pays at most
one 1,088-byte ciphertext per ``KEM_ANNOUNCE_INTERVAL`` frames, however late the peer answers, and a
steady-state message costs 17 + 16 bytes. The receiver deletes a decapsulation key as soon as an epoch
opened with it (forward secrecy) and generates the next one. A sender opens a new epoch after
``KEM_REKEY_MESSAGES`` messages or ``KEM_REKEY_SECONDS`` seconds, once the peer has acknowledged the
current epoch and announced a fresh key; a stream whose receiver never sends keeps its epoch (the chain
still ratchets).

Reordering: the previous ``KEM_RECEIVE_EPOCHS`` epochs stay open, with at most ``KEM_MAX_SKIP`` skipped
keys each. A frame of an epoch whose ciphertext has not arrived yet is refused (``InvalidStateError``,
nothing changes); once a later frame opens the epoch, its key is kept as a skipped key, so the refused
frame decrypts if it comes again. Verify before mutate: decryption works on locals and commits only after
the tag verifies. This module does no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from pyfront.codec import Reader
from pyfront.crypto.provider import (
    MLKEM768_CIPHERTEXT_LENGTH,
    MLKEM768_ENCAPSULATION_KEY_LENGTH,
    CryptoProvider,
    MlKemSeed,
    SymmetricKey,
    require_length,
)
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, ReplayError
from pyfront.layers.chain import message_key, next_chain_key, walk
from pyfront.storage.migrations import KEM_RATCHET

KEM_REKEY_MESSAGES = 50
"""Open a new sending epoch (fresh encapsulation) after this many messages in the current one..."""
KEM_REKEY_SECONDS = 600.0
"""...or after this many seconds (10 minutes), whichever comes first."""
KEM_MAX_SKIP = 256
"""Skipped message keys kept per receiving epoch (bounds work and memory for reordered messages)."""
KEM_RECEIVE_EPOCHS = 2
"""Receiving epochs kept open for late messages."""
KEM_ANNOUNCE_INTERVAL = 16
"""An unacknowledged announcement (the epoch's ciphertext, our newest key) rides on the first frame after
it appears and then on every 16th frame until the peer acknowledges it (docs/protocol.md 5.4)."""
FLAG_CIPHERTEXT = 0x01
FLAG_ENCAPSULATION_KEY = 0x02
HEADER_FIXED = struct.Struct(">BIIII")
TAG_LENGTH = 16
MAX_U32 = 0xFFFFFFFF


@dataclass
class _ReceiveChain:
    chain_key: SymmetricKey
    next_counter: int
    skipped: dict[int, SymmetricKey] = field(default_factory=dict)

    def copy(self) -> _ReceiveChain:
        return _ReceiveChain(self.chain_key, self.next_counter, dict(self.skipped))


@dataclass(frozen=True)
class KemHeader:
    flags: int
    epoch: int
    counter: int
    ack_epochs: int
    ack_key_id: int
    key_id: int = 0
    kem_ciphertext: bytes = b""
    new_key_id: int = 0
    encapsulation_key: bytes = b""

    def encode(self) -> bytes:
        out = HEADER_FIXED.pack(self.flags, self.epoch, self.counter, self.ack_epochs, self.ack_key_id)
        if self.flags & FLAG_CIPHERTEXT:
            out += self.key_id.to_bytes(4, "big") + self.kem_ciphertext
        if self.flags & FLAG_ENCAPSULATION_KEY:
            out += self.new_key_id.to_bytes(4, "big") + self.encapsulation_key
        return out

    @classmethod
    def parse(cls, reader: Reader) -> KemHeader:
        flags, epoch, counter, ack_epochs, ack_key_id = HEADER_FIXED.unpack(reader.take(HEADER_FIXED.size))
        if flags & ~(FLAG_CIPHERTEXT | FLAG_ENCAPSULATION_KEY):
            raise DecodeError(f"ML-KEM layer: unknown flags {flags:#x}")
        key_id, ciphertext, new_key_id, ek = 0, b"", 0, b""
        if flags & FLAG_CIPHERTEXT:
            key_id = reader.u32()
            ciphertext = reader.take(MLKEM768_CIPHERTEXT_LENGTH)
        if flags & FLAG_ENCAPSULATION_KEY:
            new_key_id = reader.u32()
            ek = reader.take(MLKEM768_ENCAPSULATION_KEY_LENGTH)
        return cls(flags, epoch, counter, ack_epochs, ack_key_id, key_id, ciphertext, new_key_id, ek)


def _nonce(epoch: int, counter: int) -> bytes:
    return bytes(4) + epoch.to_bytes(4, "big") + counter.to_bytes(4, "big")


def _count_down(repeat_in: int, carried: bool) -> int:
    """Frames before an announcement rides again, after one frame that did or did not carry it."""
    return KEM_ANNOUNCE_INTERVAL - 1 if carried else max(repeat_in - 1, 0)


class KemRatchet:
    """One side of the ML-KEM-768 layer between two peers."""

    name = "mlkem"

    def __init__(self, provider: CryptoProvider, is_initiator: bool, state: dict[str, Any]) -> None:
        self._provider = provider
        self._is_initiator = is_initiator
        self._load(state)

    def _load(self, state: dict[str, Any]) -> None:
        self._send_root: SymmetricKey = state["send_root"]
        self._receive_root: SymmetricKey = state["receive_root"]
        self._own_keys: dict[int, tuple[MlKemSeed, bytes]] = state["own_keys"]
        self._peer_key_id: int = state["peer_key_id"]
        self._peer_key: bytes = state["peer_key"]
        self._peer_acked_key_id: int = state["peer_acked_key_id"]
        self._peer_acked_epochs: int = state["peer_acked_epochs"]
        self._send_epoch: int = state["send_epoch"]
        self._send_chain_key: SymmetricKey = state["send_chain_key"]
        self._send_counter: int = state["send_counter"]
        self._send_key_id: int = state["send_key_id"]
        self._send_ciphertext: bytes = state["send_ciphertext"]
        self._send_started_at: float = state["send_started_at"]
        self._receive_epochs: dict[int, _ReceiveChain] = state["receive_epochs"]
        self._opened_epochs: int = state["opened_epochs"]
        # Frames still to send before an unacknowledged announcement rides again (0: the next one).
        self._ciphertext_repeat_in: int = state["ciphertext_repeat_in"]
        self._key_repeat_in: int = state["key_repeat_in"]

    @classmethod
    def from_handshake(
        cls,
        provider: CryptoProvider,
        *,
        is_initiator: bool,
        transcript_hash: bytes,
        own_seed: bytes,
        own_encapsulation_key: bytes,
        peer_encapsulation_key: bytes,
    ) -> KemRatchet:
        """Both sides' key 0 was exchanged (and signed) in the handshake."""
        require_length("ML-KEM transcript hash", transcript_hash, 32)
        require_length("ML-KEM peer key", peer_encapsulation_key, MLKEM768_ENCAPSULATION_KEY_LENGTH)
        ours, theirs = cls._directions(is_initiator)
        state = {
            "send_root": cls._root(provider, transcript_hash, ours),
            "receive_root": cls._root(provider, transcript_hash, theirs),
            "own_keys": {0: (MlKemSeed(own_seed), own_encapsulation_key)},
            "peer_key_id": 0,
            "peer_key": peer_encapsulation_key,
            "peer_acked_key_id": 0,
            "peer_acked_epochs": 0,
            "send_epoch": -1,
            "send_chain_key": SymmetricKey(bytes(32)),
            "send_counter": 0,
            "send_key_id": -1,
            "send_ciphertext": b"",
            "send_started_at": 0.0,
            "receive_epochs": {},
            "opened_epochs": 0,
            "ciphertext_repeat_in": 0,
            "key_repeat_in": 0,
        }
        return cls(provider, is_initiator, state)

    @staticmethod
    def _directions(is_initiator: bool) -> tuple[str, str]:
        return ("i2r", "r2i") if is_initiator else ("r2i", "i2r")

    @staticmethod
    def _root(provider: CryptoProvider, transcript_hash: bytes, direction: str) -> SymmetricKey:
        info = f"parley kem v1 root {direction}".encode("ascii")
        return SymmetricKey(provider.hkdf("sha256", transcript_hash, b"", info, 32))

    def _epoch_keys(self, root: bytes, secret: bytes, direction: str, epoch: int) -> tuple[SymmetricKey, ...]:
        info = f"parley kem v1 epoch {direction}".encode("ascii") + epoch.to_bytes(4, "big")
        derived = self._provider.hkdf("sha256", root, secret, info, 64)
        return SymmetricKey(derived[:32]), SymmetricKey(derived[32:])

    def __repr__(self) -> str:
        return (
            f"KemRatchet(send_epoch={self._send_epoch}, send_counter={self._send_counter}, "
            f"opened_epochs={self._opened_epochs})"
        )

    def _state(self) -> dict[str, Any]:
        return {
            "send_root": self._send_root,
            "receive_root": self._receive_root,
            "own_keys": dict(self._own_keys),
            "peer_key_id": self._peer_key_id,
            "peer_key": self._peer_key,
            "peer_acked_key_id": self._peer_acked_key_id,
            "peer_acked_epochs": self._peer_acked_epochs,
            "send_epoch": self._send_epoch,
            "send_chain_key": self._send_chain_key,
            "send_counter": self._send_counter,
            "send_key_id": self._send_key_id,
            "send_ciphertext": self._send_ciphertext,
            "send_started_at": self._send_started_at,
            "receive_epochs": {epoch: chain.copy() for epoch, chain in self._receive_epochs.items()},
            "opened_epochs": self._opened_epochs,
            "ciphertext_repeat_in": self._ciphertext_repeat_in,
            "key_repeat_in": self._key_repeat_in,
        }

    def snapshot(self) -> object:
        """Everything ``encrypt``/``decrypt`` can change (the cascade's rollback point)."""
        return self._state()

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, dict)
        self._load(snapshot)
        # Leave the snapshot reusable: the loaded containers must not be the snapshot's own.
        self._own_keys = dict(self._own_keys)
        self._receive_epochs = {epoch: chain.copy() for epoch, chain in self._receive_epochs.items()}

    @property
    def send_epoch(self) -> int:
        return self._send_epoch

    def reannounce(self) -> None:
        """A new connection starts: the next frame carries every announcement the peer has not
        acknowledged. Frames in flight when the previous connection closed are lost, and the one that
        carried the current epoch's ciphertext may be among them; without this, the peer could read
        nothing of the epoch until the next scheduled repeat (at most ``KEM_ANNOUNCE_INTERVAL - 1``
        frames later). Costs one announcement per connection."""
        self._ciphertext_repeat_in = self._key_repeat_in = 0

    def _rekey_due(self, now: float) -> bool:
        if self._send_epoch < 0:
            return True
        due = self._send_counter >= KEM_REKEY_MESSAGES or now - self._send_started_at >= KEM_REKEY_SECONDS
        acknowledged = self._peer_acked_epochs > self._send_epoch
        return due and acknowledged and self._peer_key_id > self._send_key_id

    async def encrypt(self, plaintext: bytes, now: float) -> bytes:
        ours, _ = self._directions(self._is_initiator)
        epoch, chain_key, counter = self._send_epoch, self._send_chain_key, self._send_counter
        root, key_id, kem_ciphertext, started_at = (
            self._send_root,
            self._send_key_id,
            self._send_ciphertext,
            self._send_started_at,
        )
        ciphertext_repeat_in = self._ciphertext_repeat_in
        if self._rekey_due(now):
            if epoch + 1 > MAX_U32:
                raise InvalidStateError("ML-KEM layer: epoch counter exhausted")
            kem_ciphertext, secret = await self._provider.mlkem768_encapsulate(self._peer_key)
            epoch, key_id, counter, started_at = epoch + 1, self._peer_key_id, 0, now
            root, chain_key = self._epoch_keys(root, secret, ours, epoch)
            ciphertext_repeat_in = 0  # the epoch's first frame carries its ciphertext
        if counter > MAX_U32:
            raise InvalidStateError("ML-KEM layer: message counter exhausted")
        newest_own = max(self._own_keys)
        flags = 0
        if self._peer_acked_epochs <= epoch and ciphertext_repeat_in == 0:
            flags |= FLAG_CIPHERTEXT
        if self._peer_acked_key_id < newest_own and self._key_repeat_in == 0:
            flags |= FLAG_ENCAPSULATION_KEY
        header = KemHeader(
            flags,
            epoch,
            counter,
            self._opened_epochs,
            self._peer_key_id,
            key_id,
            kem_ciphertext if flags & FLAG_CIPHERTEXT else b"",
            newest_own,
            self._own_keys[newest_own][1] if flags & FLAG_ENCAPSULATION_KEY else b"",
        ).encode()
        body = await self._provider.aes_gcm_encrypt(
            message_key(chain_key), _nonce(epoch, counter), plaintext, header
        )
        self._send_root, self._send_epoch, self._send_key_id = root, epoch, key_id
        self._send_ciphertext, self._send_started_at = kem_ciphertext, started_at
        self._send_chain_key, self._send_counter = next_chain_key(chain_key), counter + 1
        self._ciphertext_repeat_in = _count_down(ciphertext_repeat_in, bool(flags & FLAG_CIPHERTEXT))
        self._key_repeat_in = _count_down(self._key_repeat_in, bool(flags & FLAG_ENCAPSULATION_KEY))
        return header + body

    async def decrypt(self, ciphertext: bytes, now: float) -> bytes:
        _, theirs = self._directions(self._is_initiator)
        reader = Reader(ciphertext)
        header = KemHeader.parse(reader)
        header_bytes = ciphertext[: len(ciphertext) - len(body := reader.rest())]
        if len(body) < TAG_LENGTH:
            raise DecodeError("ML-KEM layer: ciphertext shorter than its tag")
        if header.ack_epochs > self._send_epoch + 1 or header.ack_key_id > max(self._own_keys):
            # Possible only if forged; the AEAD below would fail too, but reject before any work.
            raise AuthenticationError("ML-KEM layer: acknowledgement of something never sent")
        new_root: SymmetricKey | None = None
        chain = self._receive_epochs.get(header.epoch)
        if chain is None:
            if header.epoch < self._opened_epochs:
                raise ReplayError(f"ML-KEM layer: epoch {header.epoch} is closed")
            if header.epoch > self._opened_epochs:
                raise InvalidStateError(f"ML-KEM layer: epoch {header.epoch} before {self._opened_epochs}")
            if not header.flags & FLAG_CIPHERTEXT:
                # Its carrier was lost (a connection closed with it in flight): a later frame of the
                # epoch brings the ciphertext again (docs/protocol.md 5.4).
                raise InvalidStateError(
                    f"ML-KEM layer: epoch {header.epoch} is not open and frame {header.counter} does not "
                    "carry its ciphertext"
                )
            own = self._own_keys.get(header.key_id)
            if own is None:
                raise InvalidStateError(f"ML-KEM layer: no decapsulation key {header.key_id}")
            secret = await self._provider.mlkem768_decapsulate(own[0], header.kem_ciphertext)
            new_root, chain_key = self._epoch_keys(self._receive_root, secret, theirs, header.epoch)
            chain = _ReceiveChain(chain_key, 0)
        if header.counter < chain.next_counter:
            key = chain.skipped.get(header.counter)
            if key is None:
                raise ReplayError(f"ML-KEM layer: message {header.epoch}/{header.counter} already received")
            advanced = None
            skipped: dict[int, SymmetricKey] = {}
        else:
            if header.counter - chain.next_counter > KEM_MAX_SKIP:
                raise ReplayError(f"ML-KEM layer: counter {header.counter} is too far ahead")
            chain_at, skipped = walk(chain.chain_key, chain.next_counter, header.counter)
            key = message_key(chain_at)
            advanced = next_chain_key(chain_at)
        plaintext = await self._provider.aes_gcm_decrypt(
            key, _nonce(header.epoch, header.counter), body, header_bytes
        )
        fresh_key: tuple[MlKemSeed, bytes] | None = None
        if new_root is not None and max(self._own_keys) <= header.key_id:
            fresh_key = await self._provider.mlkem768_generate()
        # Authenticated: commit.
        if new_root is not None:
            self._receive_root = new_root
            self._receive_epochs[header.epoch] = chain
            self._opened_epochs = header.epoch + 1
            for old in [
                epoch for epoch in self._receive_epochs if epoch <= header.epoch - KEM_RECEIVE_EPOCHS
            ]:
                del self._receive_epochs[old]
            for used in [key_id for key_id in self._own_keys if key_id <= header.key_id]:
                del self._own_keys[used]
            if fresh_key is not None:
                self._own_keys[header.key_id + 1] = fresh_key
                self._key_repeat_in = 0  # announce it on our next frame
        if advanced is None:
            del chain.skipped[header.counter]
        else:
            chain.chain_key, chain.next_counter = advanced, header.counter + 1
            chain.skipped.update(skipped)
            if len(chain.skipped) > KEM_MAX_SKIP:
                for old in sorted(chain.skipped)[: len(chain.skipped) - KEM_MAX_SKIP]:
                    del chain.skipped[old]
        self._peer_acked_epochs = max(self._peer_acked_epochs, header.ack_epochs)
        self._peer_acked_key_id = max(self._peer_acked_key_id, header.ack_key_id)
        if header.flags & FLAG_ENCAPSULATION_KEY and header.new_key_id > self._peer_key_id:
            self._peer_key_id, self._peer_key = header.new_key_id, header.encapsulation_key
        return plaintext

    # --- serialisation -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return KEM_RATCHET.new(
            is_initiator=self._is_initiator,
            send_root=self._send_root.hex(),
            receive_root=self._receive_root.hex(),
            own_keys={str(key_id): [seed.hex(), ek.hex()] for key_id, (seed, ek) in self._own_keys.items()},
            peer_key_id=self._peer_key_id,
            peer_key=self._peer_key.hex(),
            peer_acked_key_id=self._peer_acked_key_id,
            peer_acked_epochs=self._peer_acked_epochs,
            send_epoch=self._send_epoch,
            send_chain_key=self._send_chain_key.hex(),
            send_counter=self._send_counter,
            send_key_id=self._send_key_id,
            send_ciphertext=self._send_ciphertext.hex(),
            send_started_at=self._send_started_at,
            receive_epochs={
                str(epoch): {
                    "chain_key": chain.chain_key.hex(),
                    "next_counter": chain.next_counter,
                    "skipped": {str(n): key.hex() for n, key in chain.skipped.items()},
                }
                for epoch, chain in self._receive_epochs.items()
            },
            opened_epochs=self._opened_epochs,
            ciphertext_repeat_in=self._ciphertext_repeat_in,
            key_repeat_in=self._key_repeat_in,
        )

    @classmethod
    def from_dict(cls, provider: CryptoProvider, data: dict[str, Any]) -> KemRatchet:
        data = KEM_RATCHET.open(data)
        try:
            state: dict[str, Any] = {
                "send_root": SymmetricKey(bytes.fromhex(data["send_root"])),
                "receive_root": SymmetricKey(bytes.fromhex(data["receive_root"])),
                "own_keys": {
                    int(key_id): (MlKemSeed(bytes.fromhex(seed)), bytes.fromhex(ek))
                    for key_id, (seed, ek) in data["own_keys"].items()
                },
                "peer_key_id": int(data["peer_key_id"]),
                "peer_key": bytes.fromhex(data["peer_key"]),
                "peer_acked_key_id": int(data["peer_acked_key_id"]),
                "peer_acked_epochs": int(data["peer_acked_epochs"]),
                "send_epoch": int(data["send_epoch"]),
                "send_chain_key": SymmetricKey(bytes.fromhex(data["send_chain_key"])),
                "send_counter": int(data["send_counter"]),
                "send_key_id": int(data["send_key_id"]),
                "send_ciphertext": bytes.fromhex(data["send_ciphertext"]),
                "send_started_at": float(data["send_started_at"]),
                "receive_epochs": {
                    int(epoch): _ReceiveChain(
                        SymmetricKey(bytes.fromhex(chain["chain_key"])),
                        int(chain["next_counter"]),
                        {int(n): SymmetricKey(bytes.fromhex(key)) for n, key in chain["skipped"].items()},
                    )
                    for epoch, chain in data["receive_epochs"].items()
                },
                "opened_epochs": int(data["opened_epochs"]),
                "ciphertext_repeat_in": _repeat_in(data["ciphertext_repeat_in"]),
                "key_repeat_in": _repeat_in(data["key_repeat_in"]),
            }
            is_initiator = data["is_initiator"]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DecodeError(f"{KEM_RATCHET.kind}: malformed ({type(error).__name__})") from None
        if not isinstance(is_initiator, bool) or not state["own_keys"]:
            raise DecodeError(f"{KEM_RATCHET.kind}: malformed")
        peer_key: bytes = state["peer_key"]
        require_length("ML-KEM peer key", peer_key, MLKEM768_ENCAPSULATION_KEY_LENGTH)
        return cls(provider, is_initiator, state)


def _repeat_in(value: object) -> int:
    """A stored countdown, within what this code's ``KEM_ANNOUNCE_INTERVAL`` schedules."""
    if type(value) is not int or value < 0:
        raise ValueError("repeat_in")
    return min(value, KEM_ANNOUNCE_INTERVAL - 1)
