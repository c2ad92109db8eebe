"""The secret tree and its per-sender hash ratchets (RFC 9420 section 9).

The tree starts as ``encryption_secret`` at the root; a node secret is replaced by its two children
("tree", "left"/"right") the first time a leaf below it is needed, and a leaf secret by its handshake
and application ratchets (section 9.1). Each ratchet hands out ``(key, nonce)`` per generation and
forgets a generation's key once used (section 9.2). Keys for skipped generations are kept for
out-of-order arrival, up to ``OUT_OF_ORDER_TOLERANCE`` per ratchet; a generation more than
``MAX_FORWARD_DISTANCE`` ahead is refused.

Public API:

* ``SecretTree(encryption_secret, n_leaves)``; ``.ratchet(leaf_index, RatchetKind) -> HashRatchet``
  (for sending); ``.peek(leaf_index, kind, generation)`` (no state change at all) and
  ``.consume(leaf_index, kind, generation)`` for receiving; ``to_dict()``/``from_dict()`` (a part of the
  stored group state, which carries the version: ``GROUP_STATE`` in ``pyfront.storage.migrations``);
  ``copy()`` (an independent copy, the group's in-memory rollback point); ``receive_only(our_leaf)``
  (the others' application ratchets alone, kept to read a past epoch's late messages).
* ``HashRatchet``: ``next_key() -> (generation, key, nonce)`` for sending; ``peek(generation)`` (no state
  change, raises ``ReplayError``/``LimitError``) and ``consume(generation)`` for receiving, so a message
  that fails to authenticate leaves the ratchet untouched.
* ``RatchetKind.HANDSHAKE`` / ``RatchetKind.APPLICATION``.

This module does no I/O.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pyfront.crypto.provider import SecretBytes
from pyfront.errors import DecodeError, LimitError, ReplayError
from pyfront.mls import ciphersuite as cs
from pyfront.mls import tree_math

#: Largest jump forward a received generation may make (keys derived and held for the gap).
MAX_FORWARD_DISTANCE = 1000
#: Most keys of skipped generations held per ratchet for out-of-order messages; older ones are dropped.
OUT_OF_ORDER_TOLERANCE = 128
#: The largest generation a ratchet may reach (a uint32 on the wire).
MAX_GENERATION = (1 << 32) - 1


class RatchetSecret(SecretBytes):
    """A secret-tree node or ratchet secret."""


class RatchetKind(Enum):
    HANDSHAKE = "handshake"
    APPLICATION = "application"


def _key_nonce(secret: bytes, generation: int) -> tuple[RatchetSecret, bytes]:
    key = RatchetSecret(cs.derive_tree_secret(secret, "key", generation, cs.NK))
    return key, cs.derive_tree_secret(secret, "nonce", generation, cs.NN)


def _next_secret(secret: bytes, generation: int) -> RatchetSecret:
    return RatchetSecret(cs.derive_tree_secret(secret, "secret", generation, cs.NH))


class HashRatchet:
    """One sender's handshake or application ratchet."""

    __slots__ = ("_generation", "_secret", "_skipped")

    def __init__(self, secret: bytes, generation: int = 0) -> None:
        self._secret = RatchetSecret(secret)
        self._generation = generation
        self._skipped: dict[int, tuple[RatchetSecret, bytes]] = {}

    def __repr__(self) -> str:
        return f"<HashRatchet generation={self._generation} skipped={len(self._skipped)}>"

    @property
    def generation(self) -> int:
        """The next generation this ratchet has not yet handed out."""
        return self._generation

    def next_key(self) -> tuple[int, RatchetSecret, bytes]:
        """The key and nonce for sending at the next generation; that generation is then used up."""
        generation = self._generation
        if generation > MAX_GENERATION:
            raise LimitError("secret tree ratchet exhausted")
        key, nonce = _key_nonce(self._secret, generation)
        self._secret = _next_secret(self._secret, generation)
        self._generation = generation + 1
        return generation, key, nonce

    def peek(self, generation: int) -> tuple[RatchetSecret, bytes]:
        """The key and nonce for a received ``generation``, without changing any state."""
        if generation in self._skipped:
            return self._skipped[generation]
        self._check_ahead(generation)
        secret = self._secret
        for step in range(self._generation, generation):
            secret = _next_secret(secret, step)
        return _key_nonce(secret, generation)

    def _check_ahead(self, generation: int) -> None:
        """Raise unless ``generation`` is the next one or at most ``MAX_FORWARD_DISTANCE`` ahead of it."""
        if generation < self._generation:
            raise ReplayError(f"generation {generation} already used or expired")
        if generation - self._generation > MAX_FORWARD_DISTANCE:
            raise LimitError(
                f"generation {generation} is more than {MAX_FORWARD_DISTANCE} ahead of {self._generation}"
            )

    def consume(self, generation: int) -> None:
        """Forget ``generation``'s key (after its message verified); keep keys of skipped generations."""
        if self._skipped.pop(generation, None) is not None:
            return
        self._check_ahead(generation)  # the same checks as peek, without deriving the key again
        secret = self._secret
        for step in range(self._generation, generation):
            self._skipped[step] = _key_nonce(secret, step)
            secret = _next_secret(secret, step)
        self._secret = _next_secret(secret, generation)
        self._generation = generation + 1
        while len(self._skipped) > OUT_OF_ORDER_TOLERANCE:
            del self._skipped[min(self._skipped)]

    def copy(self) -> HashRatchet:
        """An independent copy (keys are immutable bytes, so only the containers are new)."""
        ratchet = HashRatchet.__new__(HashRatchet)
        ratchet._secret = self._secret
        ratchet._generation = self._generation
        ratchet._skipped = dict(self._skipped)
        return ratchet

    def to_dict(self) -> dict[str, Any]:
        return {
            "secret": self._secret.hex(),
            "generation": self._generation,
            "skipped": {str(g): [key.hex(), nonce.hex()] for g, (key, nonce) in self._skipped.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HashRatchet:
        ratchet = cls(bytes.fromhex(data["secret"]), int(data["generation"]))
        for generation, (key, nonce) in data["skipped"].items():
            ratchet._skipped[int(generation)] = (RatchetSecret(bytes.fromhex(key)), bytes.fromhex(nonce))
        return ratchet


class SecretTree:
    """The secret tree of one epoch (section 9)."""

    __slots__ = ("_n_leaves", "_nodes", "_ratchets")

    def __init__(self, encryption_secret: bytes, n_leaves: int) -> None:
        tree_math.check_leaf_count(n_leaves)
        self._n_leaves = n_leaves
        self._nodes: dict[int, RatchetSecret] = {tree_math.root(n_leaves): RatchetSecret(encryption_secret)}
        self._ratchets: dict[tuple[int, RatchetKind], HashRatchet] = {}

    def __repr__(self) -> str:
        return f"<SecretTree leaves={self._n_leaves} ratchets={len(self._ratchets)}>"

    @property
    def n_leaves(self) -> int:
        return self._n_leaves

    def ratchet(self, leaf_index: int, kind: RatchetKind) -> HashRatchet:
        found = self._ratchets.get((leaf_index, kind))
        if found is not None:
            return found
        if not 0 <= leaf_index < self._n_leaves:
            raise LimitError(f"leaf {leaf_index} outside a tree of {self._n_leaves} leaves")
        self._derive_leaf(leaf_index)
        return self._ratchets[(leaf_index, kind)]

    def peek(self, leaf_index: int, kind: RatchetKind, generation: int) -> tuple[RatchetSecret, bytes]:
        """The key and nonce of ``generation`` for a received message, changing no state at all (not
        even the lazy derivation of tree nodes); ``consume`` uses the generation up afterwards."""
        ratchet = self._ratchets.get((leaf_index, kind))
        if ratchet is None:
            if not 0 <= leaf_index < self._n_leaves:
                raise LimitError(f"leaf {leaf_index} outside a tree of {self._n_leaves} leaves")
            secret = self._leaf_secret_preview(leaf_index)
            ratchet = HashRatchet(cs.expand_with_label(secret, kind.value, b"", cs.NH))
        return ratchet.peek(generation)

    def consume(self, leaf_index: int, kind: RatchetKind, generation: int) -> None:
        self.ratchet(leaf_index, kind).consume(generation)

    def _leaf_secret_preview(self, leaf_index: int) -> bytes:
        target = tree_math.leaf_to_node(leaf_index)
        path = [target, *tree_math.direct_path(target, self._n_leaves)]
        start = next((index for index, node in enumerate(path) if node in self._nodes), None)
        if start is None:
            raise ReplayError(f"the secrets of leaf {leaf_index} were already consumed")
        secret: bytes = self._nodes[path[start]]
        for position in range(start, 0, -1):
            child = path[position - 1]
            side = b"left" if child == tree_math.left(path[position]) else b"right"
            secret = cs.expand_with_label(secret, "tree", side, cs.NH)
        return secret

    def _derive_leaf(self, leaf_index: int) -> None:
        target = tree_math.leaf_to_node(leaf_index)
        path = [target, *tree_math.direct_path(target, self._n_leaves)]
        # Find the lowest node on the path whose secret we still hold, and split downwards.
        start = next((index for index, node in enumerate(path) if node in self._nodes), None)
        if start is None:
            raise ReplayError(f"the secrets of leaf {leaf_index} were already consumed")
        for node in reversed(path[1 : start + 1]):
            secret = self._nodes.pop(node)
            self._nodes[tree_math.left(node)] = RatchetSecret(
                cs.expand_with_label(secret, "tree", b"left", cs.NH)
            )
            self._nodes[tree_math.right(node)] = RatchetSecret(
                cs.expand_with_label(secret, "tree", b"right", cs.NH)
            )
        leaf_secret = self._nodes.pop(target)
        for kind in RatchetKind:
            ratchet_secret = cs.expand_with_label(leaf_secret, kind.value, b"", cs.NH)
            self._ratchets[(leaf_index, kind)] = HashRatchet(ratchet_secret)

    def receive_only(self, excluded_leaf: int) -> SecretTree:
        """A copy holding nothing but the application ratchets of every leaf except ``excluded_leaf``
        (ours): what reads the other members' messages of a past epoch. No tree node, handshake ratchet
        or ratchet of ours stays in it, so it can derive no key it was not kept for (forward secrecy)."""
        tree = self.copy()
        for leaf_index in range(self._n_leaves):
            if leaf_index != excluded_leaf and (leaf_index, RatchetKind.APPLICATION) not in tree._ratchets:
                try:
                    tree._derive_leaf(leaf_index)
                except ReplayError:
                    continue  # this leaf's secrets are gone already: nothing to keep for it
        tree._nodes = {}
        tree._ratchets = {
            (leaf_index, kind): ratchet
            for (leaf_index, kind), ratchet in tree._ratchets.items()
            if kind is RatchetKind.APPLICATION and leaf_index != excluded_leaf
        }
        return tree

    def copy(self) -> SecretTree:
        """An independent copy: using a generation up in one does not touch the other."""
        tree = SecretTree.__new__(SecretTree)
        tree._n_leaves = self._n_leaves
        tree._nodes = dict(self._nodes)
        tree._ratchets = {slot: ratchet.copy() for slot, ratchet in self._ratchets.items()}
        return tree

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_leaves": self._n_leaves,
            "nodes": {str(node): secret.hex() for node, secret in self._nodes.items()},
            "ratchets": [
                {"leaf": leaf, "kind": kind.value, "ratchet": ratchet.to_dict()}
                for (leaf, kind), ratchet in self._ratchets.items()
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecretTree:
        try:
            tree = cls(bytes(cs.NH), int(data["n_leaves"]))
            tree._nodes = {
                int(node): RatchetSecret(bytes.fromhex(secret)) for node, secret in data["nodes"].items()
            }
            for entry in data["ratchets"]:
                key = (int(entry["leaf"]), RatchetKind(entry["kind"]))
                tree._ratchets[key] = HashRatchet.from_dict(entry["ratchet"])
        except (KeyError, ValueError, TypeError) as error:
            raise DecodeError(f"secret tree state: {error}") from None
        return tree
