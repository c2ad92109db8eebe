"""A past epoch kept to read the other members' late application messages (RFC 9420 section 9.2, the
deletion schedule; section 15.2 leaves retention of past epochs to the application).

When a group moves to a new epoch, messages the others encrypted in the old one before they saw the
commit may still be on their way. ``Group.retire`` keeps, of the old epoch, exactly what reads them:

* the ``GroupContext`` and the public ratchet tree (every member's signature key, to verify senders);
* the ``sender_data_secret`` (it opens only the sender data: leaf index, generation, reuse guard);
* the secret tree cut down to the other members' application ratchets (``SecretTree.receive_only``): no
  tree node, handshake ratchet or sending ratchet of ours, so no key already used, and none of ours,
  can be derived from it.

Nothing else of the epoch survives (no ``init_secret``, ``encryption_secret`` or TreeKEM private key):
losing this state exposes only the late messages it was kept for. The owner decides how long to keep
it (``pyfront.layers.mls_layer``: until the peer's first message in the newer epoch). Every failure
leaves it unchanged. This module does no I/O.
"""

from __future__ import annotations

from typing import Any

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError
from pyfront.mls import framing
from pyfront.mls.key_schedule import EpochSecret
from pyfront.mls.messages import ContentType, GroupContext, MLSMessage, PrivateMessage, SenderType
from pyfront.mls.secret_tree import SecretTree
from pyfront.mls.tree import RatchetTree


class PastEpoch:
    """The receive-only remains of one epoch of a group (see the module docstring)."""

    def __init__(
        self,
        provider: CryptoProvider,
        context: GroupContext,
        tree: RatchetTree,
        *,
        sender_data_secret: bytes,
        secret_tree: SecretTree,
        my_leaf: int,
    ) -> None:
        self._provider = provider
        self._context = context
        self._tree = tree
        self._sender_data_secret = EpochSecret(sender_data_secret)
        self._secret_tree = secret_tree
        self._my_leaf = my_leaf

    def __repr__(self) -> str:
        return f"<PastEpoch epoch={self.epoch} {self._secret_tree!r}>"

    @property
    def epoch(self) -> int:
        return self._context.epoch

    @property
    def group_id(self) -> bytes:
        return self._context.group_id

    async def unprotect(self, message: bytes | MLSMessage) -> tuple[bytes, int]:
        """An application PrivateMessage of this epoch from another member: ``(data, sender_leaf)``.
        ``message`` may come decoded by ``framing.decode_message``, as for ``Group.process``."""
        if not isinstance(message, MLSMessage):
            message = framing.decode_message(message)
        body = message.body
        if not isinstance(body, PrivateMessage):
            raise DecodeError(f"past epoch: expected a PrivateMessage, got {type(body).__name__}")
        if body.group_id != self.group_id or body.epoch != self.epoch:
            raise InvalidStateError(
                f"past epoch {self.epoch}: a message of epoch {body.epoch} or of another group"
            )
        if body.content_type != ContentType.APPLICATION:
            raise InvalidStateError(f"past epoch: only application messages, got {body.content_type.name}")
        decrypted = await framing.open_private(
            self._provider, body, self._secret_tree, self._sender_data_secret
        )
        content = decrypted.authenticated.content
        sender = content.sender
        leaf = self._tree.leaf(sender.leaf_index) if 0 <= sender.leaf_index < self._tree.n_leaves else None
        if sender.sender_type != SenderType.MEMBER or sender.leaf_index == self._my_leaf or leaf is None:
            raise AuthenticationError(f"past epoch: leaf {sender.leaf_index} is not another member")
        framing.check_authenticated_data(content.authenticated_data)
        authenticated = decrypted.authenticated
        await framing.verify_content(self._provider, authenticated, self._context, leaf.signature_key)
        decrypted.consume()
        assert isinstance(content.content, bytes)
        return content.content, sender.leaf_index

    def snapshot(self) -> SecretTree:
        """A rollback point: only the secret tree changes."""
        return self._secret_tree.copy()

    def restore(self, snapshot: SecretTree) -> None:
        self._secret_tree = snapshot.copy()

    def to_dict(self) -> dict[str, Any]:
        """Part of the stored MLS layer state (``MLS_LAYER``), which carries the version."""
        return {
            "context": self._context.encode().hex(),
            "tree": self._tree.encode().hex(),
            "sender_data_secret": self._sender_data_secret.hex(),
            "secret_tree": self._secret_tree.to_dict(),
            "my_leaf": self._my_leaf,
        }

    @classmethod
    def from_dict(cls, provider: CryptoProvider, data: dict[str, Any]) -> PastEpoch:
        try:
            return cls(
                provider,
                GroupContext.decode(bytes.fromhex(data["context"])),
                RatchetTree.decode(bytes.fromhex(data["tree"])),
                sender_data_secret=bytes.fromhex(data["sender_data_secret"]),
                secret_tree=SecretTree.from_dict(data["secret_tree"]),
                my_leaf=int(data["my_leaf"]),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            raise DecodeError(f"past epoch state: {error}") from None
