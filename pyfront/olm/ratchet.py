"""The Olm Double Ratchet: root key, one sending chain, bounded receiving chains, skipped message keys.

libolm docs/olm.md, "The Olm Algorithm" (sections "Advancing the root key", "Advancing the chain key",
"Creating a message key", "Sending messages", "Receiving messages"), with the caps libolm and vodozemac
use for out-of-order delivery:

* ``MAX_MESSAGE_GAP`` (2000, libolm ``ratchet.cpp`` and vodozemac ``receiver_chain.rs``): the most chain
  keys one message may make us compute ahead of a chain's position.
* ``MAX_RECEIVING_CHAINS`` (5, libolm ``MAX_RECEIVER_CHAINS`` and vodozemac ``MAX_RECEIVING_CHAINS``): the
  oldest receiving chain is forgotten when a sixth arrives; its late messages can no longer be read.
* ``MAX_SKIPPED_MESSAGE_KEYS`` (40 per receiving chain, as vodozemac ``MAX_MESSAGE_KEYS``): keys of
  messages that have not arrived yet; the oldest go first.

Decryption computes every change on the side, verifies the MAC and decrypts, and only then commits:
a forged, tampered or replayed message leaves the ratchet exactly as it was. A message key is used at
most once, so a replay finds no key and raises ``ReplayError``. Calls on one ratchet are serialised by
an ``asyncio.Lock``: the provider's awaits (X25519, AES) would otherwise let two concurrent calls read
the same chain position and reuse a message key or bring back a used one. This module does no I/O.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from pyfront.crypto.provider import CryptoProvider, X25519PrivateKey
from pyfront.errors import DecodeError, InvalidStateError, LimitError, ReplayError
from pyfront.olm import cipher
from pyfront.olm.kdf import SECRET_LENGTH, ChainKey, ChainKeyBytes, MessageKey, RootKey, advance_root
from pyfront.olm.messages import KEY_LENGTH, NormalMessage
from pyfront.olm.state import State, get_bytes, get_int, get_list, get_optional, put_bytes

MAX_MESSAGE_GAP = 2000
MAX_RECEIVING_CHAINS = 5
MAX_SKIPPED_MESSAGE_KEYS = 40
#: Largest plaintext one message may carry (one below the decoder's cap once padded and framed).
MAX_PLAINTEXT_LENGTH = 4 * 1024 * 1024 - 1024


@dataclass(slots=True)
class SenderChain:
    """Our current ratchet key pair ``Ti`` and the chain key of the messages we send under it."""

    ratchet_private_key: X25519PrivateKey
    ratchet_key: bytes
    chain_key: ChainKey


@dataclass(slots=True)
class ReceiverChain:
    """A peer ratchet key ``Ti``, its chain key and the message keys of messages still to come.

    ``skipped`` maps chain index to message key, oldest first (dicts keep insertion order)."""

    ratchet_key: bytes
    chain_key: ChainKey
    skipped: dict[int, MessageKey] = field(default_factory=dict)


@dataclass(slots=True)
class _Found:
    """The result of looking up a message key, with the change to commit if the message verifies."""

    message_key: MessageKey
    chain: ReceiverChain | None  # existing chain to update, or None for a new chain
    new_chain_key: ChainKey | None  # the chain position after this message (None: key came from skipped)
    new_skipped: dict[int, MessageKey]
    new_root_key: RootKey | None = None
    new_ratchet_key: bytes = b""


@dataclass(frozen=True, slots=True)
class RatchetSnapshot:
    """An in-memory rollback point of a ``Ratchet`` (not a stored state: that is ``to_dict``)."""

    root_key: RootKey
    sender_chain: SenderChain | None
    receiver_chains: list[ReceiverChain]

    def __repr__(self) -> str:
        return f"<RatchetSnapshot {len(self.receiver_chains)} receiving chains>"


def _copy_sender(chain: SenderChain | None) -> SenderChain | None:
    if chain is None:
        return None
    return SenderChain(chain.ratchet_private_key, chain.ratchet_key, chain.chain_key)


def _copy_receivers(chains: list[ReceiverChain]) -> list[ReceiverChain]:
    return [ReceiverChain(chain.ratchet_key, chain.chain_key, dict(chain.skipped)) for chain in chains]


def _walk(chain_key: ChainKey, target: int) -> tuple[ChainKey, dict[int, MessageKey], MessageKey]:
    """Advance ``chain_key`` to ``target``; keep the last skipped keys that fit the cap.

    Returns the chain key after ``target``, the skipped keys and the message key for ``target``."""
    skipped: dict[int, MessageKey] = {}
    keep_from = target - MAX_SKIPPED_MESSAGE_KEYS
    while chain_key.index < target:
        if chain_key.index >= keep_from:
            skipped[chain_key.index] = chain_key.message_key()
        chain_key = chain_key.advance()
    return chain_key.advance(), skipped, chain_key.message_key()


class Ratchet:
    """The Double Ratchet state of one Olm session."""

    __slots__ = ("_lock", "provider", "receiver_chains", "root_key", "sender_chain")

    def __init__(
        self,
        provider: CryptoProvider,
        root_key: RootKey,
        sender_chain: SenderChain | None = None,
        receiver_chains: list[ReceiverChain] | None = None,
    ) -> None:
        self.provider = provider
        self.root_key = root_key
        self.sender_chain = sender_chain
        self.receiver_chains: list[ReceiverChain] = receiver_chains or []  # oldest first
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<Ratchet {len(self.receiver_chains)} receiving chains>"

    # --- in-memory rollback point (the cascade's) ---------------------------------------------------

    def snapshot(self) -> RatchetSnapshot:
        """Copies of the chains (keys are immutable bytes, so only the containers are copied)."""
        return RatchetSnapshot(
            self.root_key, _copy_sender(self.sender_chain), _copy_receivers(self.receiver_chains)
        )

    def restore(self, snapshot: RatchetSnapshot) -> None:
        """Put the ratchet back as it was at ``snapshot`` (which stays usable for another restore)."""
        self.root_key = snapshot.root_key
        self.sender_chain = _copy_sender(snapshot.sender_chain)
        self.receiver_chains = _copy_receivers(snapshot.receiver_chains)

    # --- stored state (pyfront/olm/state.py) -----------------------------------------------------

    def to_dict(self) -> State:
        sender = self.sender_chain
        return {
            "root_key": put_bytes(self.root_key),
            "sender_chain": None
            if sender is None
            else {
                "ratchet_private_key": put_bytes(sender.ratchet_private_key),
                "ratchet_key": put_bytes(sender.ratchet_key),
                "chain_key": put_bytes(sender.chain_key.key),
                "chain_index": sender.chain_key.index,
            },
            "receiver_chains": [
                {
                    "ratchet_key": put_bytes(chain.ratchet_key),
                    "chain_key": put_bytes(chain.chain_key.key),
                    "chain_index": chain.chain_key.index,
                    "skipped": [
                        {"chain_index": index, "message_key": put_bytes(key)}
                        for index, key in chain.skipped.items()
                    ],
                }
                for chain in self.receiver_chains
            ],
        }

    @classmethod
    def from_dict(cls, provider: CryptoProvider, data: State) -> Ratchet:
        sender_data = get_optional(data, "sender_chain")
        sender = None
        if sender_data is not None:
            sender = SenderChain(
                X25519PrivateKey(get_bytes(sender_data, "ratchet_private_key", SECRET_LENGTH)),
                get_bytes(sender_data, "ratchet_key", KEY_LENGTH),
                ChainKey(
                    ChainKeyBytes(get_bytes(sender_data, "chain_key", SECRET_LENGTH)),
                    get_int(sender_data, "chain_index"),
                ),
            )
        receivers = []
        for chain_data in get_list(data, "receiver_chains", MAX_RECEIVING_CHAINS):
            skipped = {
                get_int(entry, "chain_index"): MessageKey(get_bytes(entry, "message_key", SECRET_LENGTH))
                for entry in get_list(chain_data, "skipped", MAX_SKIPPED_MESSAGE_KEYS)
            }
            receivers.append(
                ReceiverChain(
                    get_bytes(chain_data, "ratchet_key", KEY_LENGTH),
                    ChainKey(
                        ChainKeyBytes(get_bytes(chain_data, "chain_key", SECRET_LENGTH)),
                        get_int(chain_data, "chain_index"),
                    ),
                    skipped,
                )
            )
        if sender is None and not receivers:
            raise DecodeError("ratchet state: neither a sending nor a receiving chain")
        return cls(provider, RootKey(get_bytes(data, "root_key", SECRET_LENGTH)), sender, receivers)

    # --- sending ---------------------------------------------------------------------------------

    async def encrypt(self, plaintext: bytes) -> NormalMessage:
        """Encrypt on the sending chain, starting a new one (a ratchet step) if we have none."""
        if len(plaintext) > MAX_PLAINTEXT_LENGTH:
            raise LimitError(f"Olm: plaintext of {len(plaintext)} bytes, at most {MAX_PLAINTEXT_LENGTH}")
        async with self._lock:
            return await self._encrypt(plaintext)

    async def _encrypt(self, plaintext: bytes) -> NormalMessage:
        sender_chain = self.sender_chain
        root_key = self.root_key
        if sender_chain is None:
            if not self.receiver_chains:
                raise InvalidStateError("Olm: no sending chain and no peer ratchet key to start one")
            peer_key = self.receiver_chains[-1].ratchet_key
            private_key, public_key, shared = await self.provider.x25519_generate_and_agree(peer_key)
            root_key, chain_key = advance_root(self.root_key, shared)
            sender_chain = SenderChain(private_key, public_key, chain_key)
        chain_key = sender_chain.chain_key
        message = await cipher.encrypt(
            self.provider, chain_key.message_key(), sender_chain.ratchet_key, chain_key.index, plaintext
        )
        sender_chain.chain_key = chain_key.advance()
        self.root_key = root_key
        self.sender_chain = sender_chain
        return message

    # --- receiving -------------------------------------------------------------------------------

    async def decrypt(self, message: NormalMessage) -> bytes:
        """Decrypt ``message``; the state changes only if its MAC verifies and it decrypts."""
        async with self._lock:
            found = await self._find_message_key(message)
            plaintext = await cipher.decrypt(self.provider, found.message_key, message)
            self._commit(found, message.chain_index)
            return plaintext

    def _chain_for(self, ratchet_key: bytes) -> ReceiverChain | None:
        for chain in reversed(self.receiver_chains):
            if chain.ratchet_key == ratchet_key:
                return chain
        return None

    async def _find_message_key(self, message: NormalMessage) -> _Found:
        index = message.chain_index
        chain = self._chain_for(message.ratchet_key)
        if chain is None:
            # A new peer ratchet key: they must have seen our current sending chain first.
            if self.sender_chain is None:
                raise InvalidStateError("Olm: new ratchet key before we have sent on this session")
            if index > MAX_MESSAGE_GAP:
                raise LimitError(f"Olm: chain index {index} on a new chain exceeds the gap {MAX_MESSAGE_GAP}")
            shared = await self.provider.x25519(self.sender_chain.ratchet_private_key, message.ratchet_key)
            root_key, chain_key = advance_root(self.root_key, shared)
            after, skipped, message_key = _walk(chain_key, index)
            return _Found(message_key, None, after, skipped, root_key, message.ratchet_key)
        if index < chain.chain_key.index:
            skipped_key = chain.skipped.get(index)
            if skipped_key is None:
                raise ReplayError(f"Olm: no key for chain index {index} (already used or discarded)")
            return _Found(skipped_key, chain, None, {})
        gap = index - chain.chain_key.index
        if gap > MAX_MESSAGE_GAP:
            raise LimitError(
                f"Olm: chain index {index} is {gap} ahead of the chain, at most {MAX_MESSAGE_GAP}"
            )
        after, skipped, message_key = _walk(chain.chain_key, index)
        return _Found(message_key, chain, after, skipped)

    def _commit(self, found: _Found, index: int) -> None:
        chain = found.chain
        if chain is None:
            assert found.new_root_key is not None and found.new_chain_key is not None
            chain = ReceiverChain(found.new_ratchet_key, found.new_chain_key)
            self.root_key = found.new_root_key
            self.receiver_chains.append(chain)
            del self.receiver_chains[:-MAX_RECEIVING_CHAINS]
            # Our next message starts a new sending chain against this ratchet key.
            self.sender_chain = None
        elif found.new_chain_key is None:
            del chain.skipped[index]
            return
        else:
            chain.chain_key = found.new_chain_key
        chain.skipped.update(found.new_skipped)
        while len(chain.skipped) > MAX_SKIPPED_MESSAGE_KEYS:
            del chain.skipped[next(iter(chain.skipped))]
