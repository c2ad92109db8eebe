"""TreeKEM: creating and processing UpdatePaths (RFC 9420 sections 7.4-7.6 and 7.9).

A committer refreshes every key on its filtered direct path from one fresh ``leaf_secret``::

    path_secret[0] = DeriveSecret(leaf_secret, "path")      (the leaf itself uses leaf_secret)
    path_secret[n] = DeriveSecret(path_secret[n-1], "path")
    node_secret[n] = DeriveSecret(path_secret[n], "node")
    node_priv[n], node_pub[n] = DeriveKeyPair(node_secret[n])
    commit_secret  = DeriveSecret(path_secret[last], "path")

and encrypts each ``path_secret[n]`` with ``EncryptWithLabel(pk, "UpdatePathNode", group_context, ...)``
to every node in the resolution of the copath child (new members excluded). Receivers merge the public
part into their tree (verifying the parent-hash chain up to the signed leaf), decrypt the one
ciphertext addressed to a node whose private key they hold, and re-derive everything above it,
checking each derived public key against the UpdatePath.

``TreeKemPrivateKeys`` is one member's private view of the tree: a private key per node, each bound to
the public key it belongs to, so a key the tree has since replaced is never used. Its ``repr`` hides the
keys. This module does no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from pyfront.crypto.provider import CryptoProvider, SecretBytes, X25519PrivateKey
from pyfront.errors import AuthenticationError, InvalidStateError, ProtocolError
from pyfront.mls import ciphersuite, tree_math
from pyfront.mls.messages import (
    HPKECiphertext,
    LeafNode,
    LeafNodeSource,
    ParentNode,
    UpdatePath,
    UpdatePathNode,
)
from pyfront.mls.tree import (
    ParentHashError,
    RatchetTree,
    TreeValidationError,
    compute_parent_hash,
    sign_leaf_node,
)

UPDATE_PATH_LABEL = b"UpdatePathNode"


class UpdatePathError(ProtocolError):
    """An UpdatePath that does not fit the tree: wrong length, wrong ciphertext count, reused keys."""


class PathSecret(SecretBytes):
    """A TreeKEM path secret (section 7.4)."""


class CommitSecret(SecretBytes):
    """The commit secret an UpdatePath yields (section 8)."""


class LeafSecret(SecretBytes):
    """The fresh secret a committer derives its new leaf key and path from."""


@dataclass
class TreeKemPrivateKeys:
    """One member's private keys: ``node index -> (private key, public key it belongs to)``."""

    leaf_index: int
    _keys: dict[int, tuple[X25519PrivateKey, bytes]] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"<TreeKemPrivateKeys leaf={self.leaf_index} nodes={sorted(self._keys)}>"

    def set(self, node: int, private_key: bytes, public_key: bytes) -> None:
        self._keys[node] = (X25519PrivateKey(private_key), public_key)

    def nodes(self) -> list[int]:
        return sorted(self._keys)

    def public_key(self, node: int) -> bytes | None:
        entry = self._keys.get(node)
        return None if entry is None else entry[1]

    def key_for(self, tree: RatchetTree, node: int) -> X25519PrivateKey | None:
        """The private key of ``node`` if we hold it and it still matches the node's public key."""
        entry = self._keys.get(node)
        if entry is None or node >= len(tree):
            return None
        current = tree.node(node)
        if current is None or current.encryption_key != entry[1]:
            return None
        return entry[0]

    def prune(self, tree: RatchetTree) -> None:
        """Forget every key whose node was blanked or replaced (section 7.5, deletion of old keys)."""
        for node in list(self._keys):
            if self.key_for(tree, node) is None:
                del self._keys[node]

    def copy(self) -> TreeKemPrivateKeys:
        return TreeKemPrivateKeys(self.leaf_index, dict(self._keys))

    async def set_path_secret(self, provider: CryptoProvider, node: int, path_secret: bytes) -> bytes:
        """Store the key pair ``path_secret`` gives ``node``; returns the public key."""
        private_key, public_key = await node_key_pair(provider, path_secret)
        self.set(node, private_key, public_key)
        return public_key

    def check_against(self, tree: RatchetTree) -> None:
        """Every key we hold must belong to a non-blank node with that public key (treekem vectors)."""
        for node in self._keys:
            if self.key_for(tree, node) is None:
                raise InvalidStateError(f"private key for node {node} does not match the tree")


async def node_key_pair(provider: CryptoProvider, path_secret: bytes) -> tuple[X25519PrivateKey, bytes]:
    """``DeriveKeyPair(DeriveSecret(path_secret, "node"))`` (section 7.4)."""
    return await ciphersuite.derive_key_pair(provider, ciphersuite.derive_secret(path_secret, b"node"))


def next_path_secret(path_secret: bytes) -> PathSecret:
    return PathSecret(ciphersuite.derive_secret(path_secret, b"path"))


@dataclass(frozen=True)
class CreatedPath:
    """What the committer keeps from ``create_update_path``."""

    update_path: UpdatePath
    commit_secret: CommitSecret
    path_secrets: dict[int, PathSecret]  # node index -> path secret (Welcome needs the one at the LCA)
    private_keys: TreeKemPrivateKeys

    def __repr__(self) -> str:
        return f"<CreatedPath nodes={sorted(self.path_secrets)}>"

    def path_secret_for_joiner(self, sender: int, joiner: int) -> PathSecret | None:
        """The path secret a new member at ``joiner`` gets in its Welcome (section 12.4.3.1)."""
        return self.path_secrets.get(tree_math.common_ancestor(2 * sender, 2 * joiner))


@dataclass(frozen=True)
class ProcessedPath:
    """What a receiver gets from ``decrypt_update_path``."""

    commit_secret: CommitSecret
    path_secret: PathSecret  # the one decrypted (at the common ancestor with the sender)
    private_keys: TreeKemPrivateKeys

    def __repr__(self) -> str:
        return "<ProcessedPath>"


def _check_fresh_keys(tree: RatchetTree, public_keys: Iterable[bytes]) -> None:
    """No public key of an UpdatePath may already appear in the tree (section 12.4.2), and none may
    repeat within the path."""
    existing = {node.encryption_key for index in range(len(tree)) if (node := tree.node(index)) is not None}
    seen: set[bytes] = set()
    for key in public_keys:
        if len(key) != ciphersuite.HPKE_PUBLIC_KEY_LENGTH:
            raise UpdatePathError(f"an UpdatePath public key has {len(key)} bytes")
        if key in existing or key in seen:
            raise UpdatePathError("an UpdatePath public key already appears in the tree")
        seen.add(key)


def merge_update_path(tree: RatchetTree, sender: int, update_path: UpdatePath) -> None:
    """Merge the public part of ``update_path`` from leaf ``sender`` into ``tree`` (section 7.5).

    Checks the shape (one node per filtered-direct-path entry), key freshness and that the parent
    hash the sender signed in its leaf matches the chain computed here. On error ``tree`` is unchanged.
    The caller verifies the leaf node itself (signature, source ``commit``, capabilities)."""
    if not 0 <= sender < tree.n_leaves or (current := tree.leaf(sender)) is None:
        raise UpdatePathError(f"UpdatePath from leaf {sender}, which is not a member")
    leaf = update_path.leaf_node
    if leaf.leaf_node_source != LeafNodeSource.COMMIT:
        raise UpdatePathError("the UpdatePath leaf node must have leaf_node_source commit")
    if leaf.encryption_key == current.encryption_key:
        raise UpdatePathError("the UpdatePath leaf node must change the encryption key")
    path = tree.filtered_direct_path_with_copath(sender)
    if len(update_path.nodes) != len(path):
        raise UpdatePathError(
            f"UpdatePath has {len(update_path.nodes)} nodes, the filtered direct path has {len(path)}"
        )
    _check_fresh_keys(tree, [leaf.encryption_key, *(node.encryption_key for node in update_path.nodes)])
    parent_hash_above = b""
    new_parents: list[tuple[int, ParentNode]] = []
    for (parent_index, copath_child), path_node in zip(
        reversed(path), reversed(update_path.nodes), strict=True
    ):
        parent = ParentNode(
            encryption_key=path_node.encryption_key, parent_hash=parent_hash_above, unmerged_leaves=()
        )
        new_parents.append((parent_index, parent))
        parent_hash_above = compute_parent_hash(
            parent.encryption_key, parent.parent_hash, tree.tree_hash(copath_child)
        )
    if leaf.parent_hash != parent_hash_above:
        raise ParentHashError("the UpdatePath leaf node's parent_hash does not match its path")
    tree.blank_direct_path(sender)
    for parent_index, parent in new_parents:
        tree.set_parent(parent_index, parent)
    tree.set_leaf(sender, leaf)


def check_ciphertext_counts(
    tree: RatchetTree, sender: int, update_path: UpdatePath, excluded_leaves: Iterable[int] = ()
) -> None:
    """Each UpdatePathNode carries one ciphertext per resolution node of its copath child, new members
    excluded (section 7.6). Works on the tree before or after merging (copath subtrees are unchanged)."""
    excluded = list(excluded_leaves)
    path = tree.filtered_direct_path_with_copath(sender)
    if len(update_path.nodes) != len(path):
        raise UpdatePathError(
            f"UpdatePath has {len(update_path.nodes)} nodes, the filtered direct path has {len(path)}"
        )
    for (parent_index, copath_child), path_node in zip(path, update_path.nodes, strict=True):
        expected = len(tree.resolution_excluding(copath_child, excluded))
        if len(path_node.encrypted_path_secret) != expected:
            raise UpdatePathError(
                f"UpdatePath node for {parent_index}: {len(path_node.encrypted_path_secret)} ciphertexts, "
                f"expected {expected}"
            )


async def decrypt_update_path(
    provider: CryptoProvider,
    tree: RatchetTree,
    sender: int,
    update_path: UpdatePath,
    *,
    private_keys: TreeKemPrivateKeys,
    group_context: bytes,
    excluded_leaves: Iterable[int] = (),
) -> ProcessedPath:
    """Decrypt and verify the path secrets of an UpdatePath already merged into ``tree`` (section 7.5).

    ``group_context`` is the encoded provisional GroupContext (with the tree hash of the merged tree).
    Returns the commit secret and the receiver's updated private keys (old path keys pruned); raises
    ``AuthenticationError``/``CryptoError`` if decryption fails and ``UpdatePathError`` if a derived
    public key does not match the UpdatePath. ``private_keys`` is not modified."""
    receiver = private_keys.leaf_index
    if receiver == sender:
        raise InvalidStateError("a member does not decrypt its own UpdatePath")
    excluded = list(excluded_leaves)
    if receiver in excluded:
        raise InvalidStateError("a member added by this commit learns the path secret from the Welcome")
    check_ciphertext_counts(tree, sender, update_path, excluded)
    path = tree.filtered_direct_path_with_copath(sender)
    ancestor = tree_math.common_ancestor(2 * sender, 2 * receiver)
    position = next((i for i, (parent, _) in enumerate(path) if parent == ancestor), None)
    if position is None:
        raise UpdatePathError(f"the common ancestor {ancestor} of {sender} and {receiver} is not on the path")
    copath_child = path[position][1]
    resolution = tree.resolution_excluding(copath_child, excluded)
    ciphertexts = update_path.nodes[position].encrypted_path_secret
    if len(ciphertexts) != len(resolution):
        raise UpdatePathError(f"{len(ciphertexts)} ciphertexts for a resolution of {len(resolution)} nodes")
    for resolution_node, ciphertext in zip(resolution, ciphertexts, strict=True):  # noqa: B007
        private_key = private_keys.key_for(tree, resolution_node)
        if private_key is not None:
            break
    else:
        raise InvalidStateError(f"leaf {receiver} holds no private key in the resolution of {copath_child}")
    secret = await ciphersuite.decrypt_with_label(
        provider, private_key, UPDATE_PATH_LABEL, group_context, ciphertext.kem_output, ciphertext.ciphertext
    )
    if len(secret) != ciphersuite.NH:
        raise UpdatePathError(f"a path secret has {ciphersuite.NH} bytes, got {len(secret)}")
    decrypted = PathSecret(secret)
    new_keys = private_keys.copy()
    path_secret = decrypted
    for index in range(position, len(path)):
        if index > position:
            path_secret = next_path_secret(path_secret)
        private_key, public_key = await node_key_pair(provider, path_secret)
        if public_key != update_path.nodes[index].encryption_key:
            raise UpdatePathError(
                f"the derived public key for node {path[index][0]} does not match the UpdatePath"
            )
        new_keys.set(path[index][0], private_key, public_key)
    new_keys.prune(tree)
    return ProcessedPath(CommitSecret(next_path_secret(path_secret)), decrypted, new_keys)


LeafSigner = Callable[[bytes, bytes], Awaitable[LeafNode]]
"""``(encryption_key, parent_hash) -> LeafNode``: builds and signs the committer's new leaf node with
``leaf_node_source = commit`` for this group and leaf index (the caller owns credentials and keys)."""


def leaf_signer(
    provider: CryptoProvider,
    template: LeafNode,
    signature_private_key: bytes,
    group_id: bytes,
    leaf_index: int,
) -> LeafSigner:
    """A ``LeafSigner`` that keeps ``template``'s credential, capabilities and extensions, sets source
    ``commit`` with the new key and parent hash, and signs for ``group_id`` and ``leaf_index``."""

    async def sign(encryption_key: bytes, parent_hash: bytes) -> LeafNode:
        leaf = dataclasses.replace(
            template,
            encryption_key=encryption_key,
            leaf_node_source=LeafNodeSource.COMMIT,
            lifetime=None,
            parent_hash=parent_hash,
            signature=b"",
        )
        return await sign_leaf_node(provider, leaf, signature_private_key, group_id, leaf_index)

    return sign


GroupContextFor = Callable[[bytes], bytes]
"""``tree_hash -> encoded provisional GroupContext`` (section 12.4.2)."""


async def create_update_path(
    provider: CryptoProvider,
    tree: RatchetTree,
    sender: int,
    *,
    sign_leaf: LeafSigner,
    group_context_for: GroupContextFor,
    excluded_leaves: Iterable[int] = (),
    leaf_secret: bytes | None = None,
) -> CreatedPath:
    """Refresh leaf ``sender``'s path in ``tree`` (in place) and encrypt the path secrets (7.4-7.6).

    ``tree`` is the tree after the commit's proposals; on return it holds the new leaf and path.
    ``excluded_leaves`` are the members this commit adds (they get the path secret from the Welcome).
    ``leaf_secret`` pins the randomness for tests; by default it comes from the provider."""
    if tree.leaf(sender) is None:
        raise InvalidStateError(f"leaf {sender} is blank and cannot commit a path")
    excluded = list(excluded_leaves)
    secret = LeafSecret(leaf_secret if leaf_secret is not None else provider.random_bytes(ciphersuite.NH))
    leaf_private, leaf_public = await node_key_pair(provider, secret)
    path = tree.filtered_direct_path_with_copath(sender)
    path_secrets: dict[int, PathSecret] = {}
    private_keys = TreeKemPrivateKeys(sender)
    private_keys.set(2 * sender, leaf_private, leaf_public)
    public_keys: list[bytes] = []
    path_secret = PathSecret(secret)
    for parent_index, _ in path:
        path_secret = next_path_secret(path_secret)
        path_secrets[parent_index] = path_secret
        private_key, public_key = await node_key_pair(provider, path_secret)
        private_keys.set(parent_index, private_key, public_key)
        public_keys.append(public_key)
    commit_secret = CommitSecret(next_path_secret(path_secret))

    tree.blank_direct_path(sender)
    parent_hash_above = b""
    for (parent_index, copath_child), public_key in zip(reversed(path), reversed(public_keys), strict=True):
        tree.set_parent(
            parent_index,
            ParentNode(encryption_key=public_key, parent_hash=parent_hash_above, unmerged_leaves=()),
        )
        parent_hash_above = compute_parent_hash(public_key, parent_hash_above, tree.tree_hash(copath_child))
    leaf = await sign_leaf(leaf_public, parent_hash_above)
    if leaf.encryption_key != leaf_public or leaf.parent_hash != parent_hash_above:
        raise InvalidStateError("sign_leaf must use the given encryption key and parent hash")
    tree.set_leaf(sender, leaf)
    group_context = group_context_for(tree.tree_hash())

    nodes: list[UpdatePathNode] = []
    for (parent_index, copath_child), public_key in zip(path, public_keys, strict=True):
        ciphertexts: list[HPKECiphertext] = []
        for resolution_node in tree.resolution_excluding(copath_child, excluded):
            recipient = tree.node(resolution_node)
            assert recipient is not None
            kem_output, ciphertext = await ciphersuite.encrypt_with_label(
                provider,
                recipient.encryption_key,
                UPDATE_PATH_LABEL,
                group_context,
                path_secrets[parent_index],
            )
            ciphertexts.append(HPKECiphertext(kem_output=kem_output, ciphertext=ciphertext))
        nodes.append(UpdatePathNode(encryption_key=public_key, encrypted_path_secret=tuple(ciphertexts)))
    return CreatedPath(
        UpdatePath(leaf_node=leaf, nodes=tuple(nodes)), commit_secret, path_secrets, private_keys
    )


async def private_keys_from_welcome(
    provider: CryptoProvider,
    tree: RatchetTree,
    my_leaf: int,
    *,
    leaf_private_key: bytes,
    sender: int,
    path_secret: bytes | None,
) -> TreeKemPrivateKeys:
    """A joiner's private keys (section 12.4.3.1): its leaf key, and, when the Welcome carries a path
    secret, the keys of the committer's filtered direct path from the common ancestor up."""
    leaf = tree.leaf(my_leaf)
    if leaf is None:
        raise InvalidStateError(f"leaf {my_leaf} is blank")
    keys = TreeKemPrivateKeys(my_leaf)
    keys.set(2 * my_leaf, leaf_private_key, leaf.encryption_key)
    if path_secret is None:
        return keys
    ancestor = tree_math.common_ancestor(2 * sender, 2 * my_leaf)
    path = [parent for parent, _ in tree.filtered_direct_path_with_copath(sender)]
    if ancestor not in path:
        raise TreeValidationError(f"the common ancestor {ancestor} is not on the committer's path")
    secret = PathSecret(path_secret)
    for index in range(path.index(ancestor), len(path)):
        if index > path.index(ancestor):
            secret = next_path_secret(secret)
        node = path[index]
        public_key = await keys.set_path_secret(provider, node, secret)
        current = tree.node(node)
        if current is None or current.encryption_key != public_key:
            raise AuthenticationError(f"the Welcome path secret does not give node {node}'s public key")
    return keys
