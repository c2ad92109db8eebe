"""The MLS group state machine (RFC 9420 sections 11, 12 and 14-15) for cipher suite 1.

One ``Group`` is one member's view of one epoch of a group. It is created (``Group.create``) or joined
from a Welcome (``Group.join``), sends application messages (``protect``), commits changes (``add``,
``remove``, ``update``, ``commit``) and processes what others send (``process``/``unprotect``).

Public API (all ``async`` where the provider is used)::

    key_package_bytes, kp_private = await generate_key_package(provider, identity, signature_key)
    group = await Group.create(provider, identity, signature_key, group_id=None, now=None)
    result = await group.add([key_package_bytes])     # CommitResult(commit=bytes, welcome=bytes | None)
    bob = await Group.join(provider, result.welcome, kp_private)
    await alice_peer_group.process(result.commit)      # -> Received
    wire = await group.protect(b"hello")               # PrivateMessage, always signed
    data, sender = await bob.unprotect(wire)
    await group.remove(leaf_index); await group.update()
    info = await group.export_group_info()             # for an external join:
    newcomer, commit = await Group.join_external(provider, info, identity, signature_key)
    group.export_secret(label, context, length); group.epoch_authenticator
    state = group.to_dict(); Group.from_dict(provider, state)
    point = group.snapshot(); ...; group.restore(point)   # in-memory rollback (the cascade's)
    branch = group.fork()                              # an independent copy to commit on
    past = group.retire()                              # PastEpoch: reads the others' late messages

The committer moves to the new epoch as soon as it builds a commit (no delivery service orders commits
in a peer-to-peer chat); the others move when they process it. Messages of other epochs are refused
(``EpochError``). A caller that lets a commit and the old epoch's application messages cross commits on
a ``fork`` and keeps the old epoch's ``retire``d remains (``pyfront.mls.past_epoch``) for a while, as
the MLS layer of the cascade does (``pyfront.layers.mls_layer``).

Security rules enforced here: application data travels only in PrivateMessages and every message is
signed and verified (the signature is checked before a ratchet generation is used up, so a forgery
changes nothing); PublicMessages from members carry a verified membership tag; commits are validated
fully (the proposal list rules of section 12.2 in ``proposals.py``, KeyPackages, leaf node signatures,
UpdatePath shape and parent hashes, the confirmation tag, group id and epoch); a used generation
raises ``ReplayError``; unknown or blank senders raise ``UnknownSenderError``. Every failure leaves the
group unchanged.
Limits are the named constants below. This module does no I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pyfront.crypto.provider import CryptoProvider, Ed25519Seed, constant_time_equal
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, LimitError, ProtocolError
from pyfront.mls import ciphersuite as cs
from pyfront.mls import framing, hpke, transcript
from pyfront.mls import key_schedule as ks
from pyfront.mls import proposals as proposals_module
from pyfront.mls import welcome as welcome_module
from pyfront.mls.codec import Reader, decode_all, opaque
from pyfront.mls.key_package import (
    KeyPackagePrivate,
    default_capabilities,
    generate_key_package,
    lifetime_from,
    parse_key_package,
)
from pyfront.mls.messages import (
    PROTOCOL_VERSION_MLS10,
    Add,
    AuthenticatedContent,
    Commit,
    ContentType,
    Credential,
    Extension,
    ExtensionType,
    ExternalInit,
    FramedContent,
    FramedContentAuthData,
    GroupContext,
    GroupContextExtensions,
    GroupInfo,
    KeyPackage,
    LeafNode,
    LeafNodeSource,
    MLSMessage,
    PreSharedKey,
    PreSharedKeyID,
    PrivateMessage,
    Proposal,
    ProposalOrRef,
    PSKType,
    PublicMessage,
    Remove,
    Sender,
    SenderType,
    Update,
    Welcome,
    WireFormat,
    find_extension,
)
from pyfront.mls.past_epoch import PastEpoch
from pyfront.mls.proposals import ProposalItem, ProposalValidationError
from pyfront.mls.secret_tree import SecretTree
from pyfront.mls.tree import (
    RatchetTree,
    TreeValidationError,
    sign_leaf_node,
)
from pyfront.mls.tree_ops import add_leaf
from pyfront.mls.treekem import (
    GroupContextFor,
    TreeKemPrivateKeys,
    check_ciphertext_counts,
    create_update_path,
    decrypt_update_path,
    leaf_signer,
    merge_update_path,
    private_keys_from_welcome,
)
from pyfront.storage.migrations import GROUP_STATE

__all__ = [
    "CommitResult",
    "EpochError",
    "Group",
    "GroupSnapshot",
    "KeyPackagePrivate",
    "PastEpoch",
    "ProposalValidationError",
    "Received",
    "UnknownSenderError",
    "WrongGroupError",
    "generate_key_package",
]

#: Largest MLSMessage ``process`` accepts (bytes).
MAX_MESSAGE_SIZE = framing.MAX_MESSAGE_SIZE
#: Largest application payload ``protect`` accepts (bytes).
MAX_APPLICATION_DATA = 1 << 20
#: Largest ``authenticated_data`` on any message (bytes).
MAX_AUTHENTICATED_DATA = framing.MAX_AUTHENTICATED_DATA
#: Most proposals one commit may cover, and most received proposals held for a commit.
MAX_PROPOSALS = 1024
MAX_PENDING_PROPOSALS = 256
#: How many past epochs' resumption PSKs are kept for PreSharedKey proposals.
RESUMPTION_PSK_WINDOW = 16
#: Largest group id (bytes), and the length of a generated one.
MAX_GROUP_ID_LENGTH = 256
GROUP_ID_LENGTH = 32

#: HPKE exporter label of the external init secret (section 8.3).
EXTERNAL_INIT_LABEL = b"MLS 1.0 external init secret"


class WrongGroupError(InvalidStateError):
    """A message for another group id."""


class EpochError(InvalidStateError):
    """A message from an epoch other than the current one (stale or from the future)."""


UnknownSenderError = framing.UnknownSenderError


class GroupStatus(Enum):
    ACTIVE = "active"
    REMOVED = "removed"


@dataclass(frozen=True)
class CommitResult:
    """What ``commit`` (and ``add``/``remove``/``update``) returns: the MLSMessage to send to the current
    members and, when members were added, the Welcome (an MLSMessage) to send to them."""

    commit: bytes
    welcome: bytes | None = None
    added_leaves: tuple[int, ...] = ()


@dataclass(frozen=True)
class Received:
    """The outcome of ``process``: what came, from which leaf, in which epoch."""

    content_type: ContentType
    sender: int
    epoch: int
    authenticated_data: bytes = b""
    application_data: bytes = b""
    proposal_ref: bytes | None = None
    removed_self: bool = False

    def __repr__(self) -> str:
        return f"<Received {self.content_type.name} from leaf {self.sender} in epoch {self.epoch}>"


@dataclass
class _EpochState:
    """Everything that changes together when the epoch changes."""

    context: GroupContext
    tree: RatchetTree
    keys: TreeKemPrivateKeys
    secrets: ks.EpochSecrets
    secret_tree: SecretTree
    interim_transcript_hash: bytes
    confirmation_tag: bytes

    @classmethod
    def start(
        cls,
        context: GroupContext,
        tree: RatchetTree,
        keys: TreeKemPrivateKeys,
        secrets: ks.EpochSecrets,
        confirmation_tag: bytes,
    ) -> _EpochState:
        """A new epoch: a fresh secret tree, the interim hash from the confirmed hash and the tag."""
        interim = transcript.next_interim_hash(context.confirmed_transcript_hash, confirmation_tag)
        secret_tree = SecretTree(secrets.encryption_secret, tree.n_leaves)
        return cls(context, tree, keys, secrets, secret_tree, interim, confirmation_tag)


def _next_context(
    old: GroupContext, tree_hash: bytes, confirmed_transcript_hash: bytes, extensions: tuple[Extension, ...]
) -> GroupContext:
    """The GroupContext of the epoch after ``old`` (section 8.1): the next epoch number, and the tree
    hash, confirmed transcript hash and extensions after the commit."""
    return dataclasses.replace(
        old,
        epoch=old.epoch + 1,
        tree_hash=tree_hash,
        confirmed_transcript_hash=confirmed_transcript_hash,
        extensions=extensions,
    )


def _provisional_context(old: GroupContext, extensions: tuple[Extension, ...]) -> GroupContextFor:
    """The encoded GroupContext an UpdatePath is encrypted to, given the tree hash after the path
    (section 12.4.1): the next one, but still with ``old``'s confirmed transcript hash, because the
    commit that will carry the path is not signed yet."""

    def encoded(tree_hash: bytes) -> bytes:
        return _next_context(old, tree_hash, old.confirmed_transcript_hash, extensions).encode()

    return encoded


async def _verify_group_info_and_tree(
    provider: CryptoProvider, group_info: GroupInfo, ratchet_tree: bytes | None, now: int | None
) -> RatchetTree:
    """A joiner's checks of a GroupInfo and of the ratchet tree it describes, the same for a Welcome
    (section 12.4.3.1) and an external join (12.4.3.2); returns the verified tree.

    The tree is the GroupInfo's ``ratchet_tree`` extension when it has one, else ``ratchet_tree`` (given
    out of band). A present extension is what the signer vouched for, so an empty or malformed one fails
    the join (section 12.4.3.3: its last node must be non-blank) rather than giving way to the given
    tree. The signer must be a member whose key verifies the signature, the tree's hash must be the
    GroupContext's, and the tree must pass ``RatchetTree.verify``."""
    context = group_info.group_context
    if context.version != PROTOCOL_VERSION_MLS10 or context.cipher_suite != cs.CIPHER_SUITE:
        raise InvalidStateError(
            f"GroupInfo for protocol version {context.version} and cipher suite {context.cipher_suite}, "
            f"expected {PROTOCOL_VERSION_MLS10} and {cs.CIPHER_SUITE}"
        )
    tree_data = find_extension(group_info.extensions, ExtensionType.RATCHET_TREE)
    if tree_data is None:
        tree_data = ratchet_tree
    if tree_data is None:
        raise InvalidStateError("no ratchet tree: neither in the GroupInfo nor given")
    tree = RatchetTree.decode(tree_data)
    signer = tree.leaf(group_info.signer) if group_info.signer < tree.n_leaves else None
    if signer is None:
        raise UnknownSenderError(f"GroupInfo signer {group_info.signer} is not a member")
    await welcome_module.verify_group_info(provider, group_info, signer.signature_key)
    if tree.tree_hash() != context.tree_hash:
        raise TreeValidationError("the ratchet tree does not match the GroupInfo tree hash")
    await tree.verify(provider, context.group_id, now)
    return tree


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    """An in-memory rollback point of a ``Group`` (``Group.snapshot``); not a stored state (``to_dict``).

    An ``_EpochState`` is replaced, never changed, when the epoch changes (the tree and the private keys
    are copied before a commit touches them); only its secret tree is used up in place, so the snapshot
    holds that epoch state, a copy of its secret tree and copies of the group's small dicts."""

    state: _EpochState
    secret_tree: SecretTree
    status: GroupStatus
    pending: dict[bytes, ProposalItem]
    resumption_psks: dict[int, bytes]
    external_psks: dict[bytes, bytes]

    def __repr__(self) -> str:
        return f"<GroupSnapshot epoch={self.state.context.epoch}>"


class Group:
    """One member's state of an MLS group (see the module docstring)."""

    def __init__(
        self,
        provider: CryptoProvider,
        state: _EpochState,
        my_leaf: int,
        signature_key: bytes,
        *,
        external_psks: dict[bytes, bytes] | None = None,
        public_handshake: bool = False,
    ) -> None:
        self._provider = provider
        self._state = state
        self._my_leaf = my_leaf
        self._signature_key = Ed25519Seed(signature_key)
        self._external_psks = dict(external_psks or {})
        self._public_handshake = public_handshake
        self._pending: dict[bytes, ProposalItem] = {}
        self._resumption_psks: dict[int, bytes] = {state.context.epoch: state.secrets.resumption_psk}
        self._status = GroupStatus.ACTIVE

    def __repr__(self) -> str:
        return (
            f"<Group epoch={self.epoch} leaf={self._my_leaf} members={self.member_count} "
            f"status={self._status.value}>"
        )

    # --- read-only views ---------------------------------------------------------------------------

    @property
    def group_id(self) -> bytes:
        return self._state.context.group_id

    @property
    def epoch(self) -> int:
        return self._state.context.epoch

    @property
    def my_leaf(self) -> int:
        return self._my_leaf

    @property
    def status(self) -> GroupStatus:
        return self._status

    @property
    def group_context(self) -> GroupContext:
        return self._state.context

    @property
    def tree(self) -> RatchetTree:
        """The public ratchet tree (a copy: changing it does not change the group)."""
        return self._state.tree.copy()

    @property
    def member_count(self) -> int:
        return self._state.tree.member_count()

    @property
    def epoch_authenticator(self) -> bytes:
        self._require_active()
        return bytes(self._state.secrets.epoch_authenticator)

    def members(self) -> dict[int, bytes]:
        """``leaf index -> identity`` (the basic credential's bytes) of every member."""
        return {index: leaf.credential.identity for index, leaf in self._state.tree.leaves()}

    def export_secret(self, label: str | bytes, context: bytes, length: int) -> bytes:
        """MLS-Exporter (section 8.5) of the current epoch."""
        self._require_active()
        return ks.export_secret(self._state.secrets.exporter_secret, label, context, length)

    def _require_active(self) -> None:
        if self._status is not GroupStatus.ACTIVE:
            raise InvalidStateError("this member was removed from the group")

    # --- creation and joining (sections 11, 12.4.3.1) ----------------------------------------------

    @classmethod
    async def create(
        cls,
        provider: CryptoProvider,
        identity: bytes,
        signature_key: bytes,
        *,
        group_id: bytes | None = None,
        now: int | None = None,
        external_psks: dict[bytes, bytes] | None = None,
        public_handshake: bool = False,
    ) -> Group:
        """A one-member group with the caller at leaf 0, in epoch 0."""
        group_id = group_id if group_id is not None else provider.random_bytes(GROUP_ID_LENGTH)
        if not 0 < len(group_id) <= MAX_GROUP_ID_LENGTH:
            raise LimitError(f"group id must be 1..{MAX_GROUP_ID_LENGTH} bytes")
        encryption_private, encryption_public = await cs.derive_key_pair(
            provider, provider.random_bytes(cs.NH)
        )
        leaf = LeafNode(
            encryption_key=encryption_public,
            signature_key=await provider.ed25519_public_key(signature_key),
            credential=Credential.basic(identity),
            capabilities=default_capabilities(),
            leaf_node_source=LeafNodeSource.KEY_PACKAGE,
            lifetime=lifetime_from(now, 90 * 24 * 3600),
        )
        leaf = await sign_leaf_node(provider, leaf, signature_key, b"", 0)
        tree = RatchetTree.one_member(leaf)
        keys = TreeKemPrivateKeys(0)
        keys.set(0, encryption_private, encryption_public)
        context = GroupContext(PROTOCOL_VERSION_MLS10, cs.CIPHER_SUITE, group_id, 0, tree.tree_hash(), b"")
        init_secret = provider.random_bytes(cs.NH)
        secrets, tag = ks.enter_epoch(init_secret, ks.zero_secret(), ks.zero_secret(), context)
        state = _EpochState.start(context, tree, keys, secrets, tag)
        return cls(
            provider, state, 0, signature_key, external_psks=external_psks, public_handshake=public_handshake
        )

    @classmethod
    async def join(
        cls,
        provider: CryptoProvider,
        welcome: bytes,
        key_package_private: KeyPackagePrivate,
        *,
        ratchet_tree: bytes | None = None,
        external_psks: dict[bytes, bytes] | None = None,
        now: int | None = None,
        public_handshake: bool = False,
    ) -> Group:
        """Join from a Welcome (an MLSMessage). The ratchet tree comes from the GroupInfo's
        ``ratchet_tree`` extension or from ``ratchet_tree``; it is validated fully."""
        if len(welcome) > MAX_MESSAGE_SIZE:
            raise LimitError(f"Welcome larger than {MAX_MESSAGE_SIZE} bytes")
        body = MLSMessage.decode(welcome).body
        if not isinstance(body, Welcome):
            raise DecodeError(f"expected a Welcome, got {type(body).__name__}")
        psks = dict(external_psks or {})

        def psk_secret_for(ids: tuple[PreSharedKeyID, ...]) -> bytes:
            resolved = []
            for psk_id in ids:
                if psk_id.psktype != PSKType.EXTERNAL or psk_id.psk_id not in psks:
                    raise InvalidStateError("the Welcome needs a pre-shared key we do not have")
                resolved.append((psk_id, psks[psk_id.psk_id]))
            return ks.compute_psk_secret(resolved)

        key_package = key_package_private.key_package
        group_secrets, group_info, psk_secret = await welcome_module.open_welcome(
            provider, body, key_package, key_package_private.init_private_key, psk_secret_for
        )
        context = group_info.group_context
        tree = await _verify_group_info_and_tree(provider, group_info, ratchet_tree, now)
        my_leaf = next(
            (index for index, leaf in tree.leaves() if leaf == key_package.leaf_node),
            None,
        )
        if my_leaf is None:
            raise InvalidStateError("our KeyPackage's leaf is not in the tree")
        secrets, tag = ks.join_epoch(group_secrets.joiner_secret, psk_secret, context)
        if not constant_time_equal(tag, group_info.confirmation_tag):
            raise AuthenticationError("GroupInfo confirmation tag does not verify")
        path_secret = group_secrets.path_secret.path_secret if group_secrets.path_secret else None
        keys = await private_keys_from_welcome(
            provider,
            tree,
            my_leaf,
            leaf_private_key=key_package_private.encryption_private_key,
            sender=group_info.signer,
            path_secret=path_secret,
        )
        state = _EpochState.start(context, tree, keys, secrets, group_info.confirmation_tag)
        return cls(
            provider,
            state,
            my_leaf,
            key_package_private.signature_private_key,
            external_psks=psks,
            public_handshake=public_handshake,
        )

    # --- application messages (section 6.3, 15.2) ---------------------------------------------------

    async def protect(self, application_data: bytes, authenticated_data: bytes = b"") -> bytes:
        """A signed, encrypted PrivateMessage (MLSMessage bytes) carrying ``application_data``."""
        self._require_active()
        if len(application_data) > MAX_APPLICATION_DATA:
            raise LimitError(f"application data larger than {MAX_APPLICATION_DATA} bytes")
        authenticated = await self._sign(application_data, authenticated_data, WireFormat.PRIVATE_MESSAGE)
        return await self._frame(authenticated)

    async def unprotect(self, message: bytes | MLSMessage) -> tuple[bytes, int]:
        """Process an application message; returns ``(application_data, sender_leaf)``."""
        received = await self.process(message, expect=ContentType.APPLICATION)
        return received.application_data, received.sender

    async def _sign(
        self, body: bytes | Proposal, authenticated_data: bytes, wire_format: WireFormat
    ) -> AuthenticatedContent:
        framing.check_authenticated_data(authenticated_data)
        state = self._state
        content = FramedContent(
            state.context.group_id,
            state.context.epoch,
            Sender.member(self._my_leaf),
            authenticated_data,
            body,
        )
        signature = await framing.sign_content(
            self._provider, wire_format, content, state.context, self._signature_key
        )
        return AuthenticatedContent(wire_format, content, FramedContentAuthData(signature))

    async def _frame(self, authenticated: AuthenticatedContent) -> bytes:
        state = self._state
        if authenticated.wire_format == WireFormat.PUBLIC_MESSAGE:
            message = framing.public_message(authenticated, state.context, state.secrets.membership_key)
            return MLSMessage(message).encode()
        private = await framing.encrypt_private(
            self._provider, authenticated, state.secret_tree, state.secrets.sender_data_secret
        )
        return MLSMessage(private).encode()

    # --- receiving (sections 6, 12.4.2) -------------------------------------------------------------

    async def process(
        self, message: bytes | MLSMessage, *, expect: ContentType | None = None, now: int | None = None
    ) -> Received:
        """Verify and apply one MLSMessage from a member: an application message, a proposal (held for
        a later commit) or a commit (moves the group to the next epoch). Raises without changing
        anything if the message is not acceptable. ``now`` (seconds since the Unix epoch) enables the
        lifetime check of KeyPackages added by a commit. ``message`` may come decoded by
        ``framing.decode_message`` (which checks its size), so a caller that read it decodes it once."""
        self._require_active()
        if not isinstance(message, MLSMessage):
            message = framing.decode_message(message)
        body = message.body
        state = self._state
        consume = None
        if isinstance(body, PublicMessage):
            content = body.content
            self._check_header(content.group_id, content.epoch)
            if content.content_type == ContentType.APPLICATION:
                raise AuthenticationError("application data must not travel in a PublicMessage")
            if content.sender.sender_type == SenderType.NEW_MEMBER_COMMIT:
                return await self._process_external_commit(body, now)
            sender_leaf = self._member_sender(content.sender)
            framing.verify_membership_tag(body, state.context, state.secrets.membership_key)
            authenticated = AuthenticatedContent(WireFormat.PUBLIC_MESSAGE, content, body.auth)
        elif isinstance(body, PrivateMessage):
            self._check_header(body.group_id, body.epoch)
            decrypted = await framing.open_private(
                self._provider, body, state.secret_tree, state.secrets.sender_data_secret
            )
            authenticated = decrypted.authenticated
            sender_leaf = self._member_sender(authenticated.content.sender)
            consume = decrypted.consume
        else:
            raise DecodeError(f"expected a PublicMessage or PrivateMessage, got {type(body).__name__}")
        content = authenticated.content
        if expect is not None and content.content_type != expect:
            raise InvalidStateError(f"expected {expect.name}, got {content.content_type.name}")
        framing.check_authenticated_data(content.authenticated_data)
        leaf = state.tree.leaf(sender_leaf)
        assert leaf is not None
        await framing.verify_content(self._provider, authenticated, state.context, leaf.signature_key)
        epoch = state.context.epoch
        if isinstance(content.content, Commit):
            if sender_leaf == self._my_leaf:
                raise InvalidStateError("a member does not process its own commit")
            # The old epoch's secret tree is replaced on success, so there is no generation to consume.
            removed, _ = await self._process_commit(authenticated, content.content, sender_leaf, now)
            return Received(
                ContentType.COMMIT, sender_leaf, epoch, content.authenticated_data, removed_self=removed
            )
        if isinstance(content.content, Proposal):
            reference = self._hold_proposal(authenticated, content.content, sender_leaf)
            if consume is not None:
                consume()
            return Received(
                ContentType.PROPOSAL, sender_leaf, epoch, content.authenticated_data, proposal_ref=reference
            )
        if consume is not None:
            consume()
        return Received(
            ContentType.APPLICATION,
            sender_leaf,
            epoch,
            content.authenticated_data,
            application_data=content.content,
        )

    def _check_header(self, group_id: bytes, epoch: int) -> None:
        if group_id != self.group_id:
            raise WrongGroupError("message for another group")
        if epoch != self.epoch:
            raise EpochError(f"message from epoch {epoch}, the group is in epoch {self.epoch}")

    def _member_sender(self, sender: Sender) -> int:
        if sender.sender_type != SenderType.MEMBER:
            raise UnknownSenderError(f"sender type {sender.sender_type.name} is not accepted")
        tree = self._state.tree
        if not 0 <= sender.leaf_index < tree.n_leaves or tree.leaf(sender.leaf_index) is None:
            raise UnknownSenderError(f"leaf {sender.leaf_index} is not a member")
        return sender.leaf_index

    def _hold_proposal(self, authenticated: AuthenticatedContent, proposal: Proposal, sender: int) -> bytes:
        if len(self._pending) >= MAX_PENDING_PROPOSALS:
            raise LimitError(f"more than {MAX_PENDING_PROPOSALS} pending proposals")
        if not isinstance(proposal.body, Add | Update | Remove | PreSharedKey | GroupContextExtensions):
            raise ProposalValidationError(f"{proposal.proposal_type.name} proposals are not supported")
        reference = cs.make_proposal_ref(authenticated.encode())
        self._pending[reference] = ProposalItem(proposal, sender)
        return reference

    # --- proposal lists (sections 12.2, 12.3) -------------------------------------------------------

    def _resolve(self, entries: tuple[ProposalOrRef, ...], committer: int) -> list[ProposalItem]:
        if len(entries) > MAX_PROPOSALS:
            raise LimitError(f"a commit covers at most {MAX_PROPOSALS} proposals")
        resolved = []
        for entry in entries:
            if entry.proposal is not None:
                resolved.append(ProposalItem(entry.proposal, committer))
            else:
                assert entry.reference is not None
                pending = self._pending.get(entry.reference)
                if pending is None:
                    raise ProposalValidationError("the commit references a proposal we have not received")
                resolved.append(pending)
        return resolved

    async def _validate(self, items: list[ProposalItem], committer: int, now: int | None = None) -> None:
        state = self._state
        await proposals_module.validate_proposals(
            self._provider, state.tree, state.context, items, committer=committer, now=now
        )

    def _psk_secret(self, items: list[ProposalItem]) -> tuple[bytes, tuple[PreSharedKeyID, ...]]:
        return proposals_module.psk_secret(items, self.group_id, self._external_psks, self._resumption_psks)

    def _install(self, state: _EpochState) -> None:
        self._state = state
        self._pending.clear()
        self._resumption_psks[state.context.epoch] = state.secrets.resumption_psk
        for old in sorted(self._resumption_psks)[:-RESUMPTION_PSK_WINDOW]:
            del self._resumption_psks[old]

    async def _process_commit(
        self, authenticated: AuthenticatedContent, commit: Commit, committer: int | None, now: int | None
    ) -> tuple[bool, int]:
        """Validate and apply a commit from another member, or an external commit (``committer`` None:
        the new member's leaf is the leftmost free one). Returns (removed us?, the committer's leaf)."""
        state = self._state
        if authenticated.auth.confirmation_tag is None:
            raise DecodeError("a commit without a confirmation tag")
        external_init: ExternalInit | None = None
        if committer is None:
            proposals, external_init = proposals_module.external_commit_proposals(commit)
            await self._validate(proposals, -1, now)
        else:
            proposals = self._resolve(commit.proposals, committer)
            await self._validate(proposals, committer, now)
        if proposals_module.path_required(proposals) and commit.path is None:
            raise ProposalValidationError("this commit requires an UpdatePath")
        tree = state.tree.copy()
        try:
            extensions, added = proposals_module.apply_proposals(tree, proposals, state.context.extensions)
            if committer is None:
                assert commit.path is not None
                # The joiner takes the leftmost free leaf; a placeholder with a key that cannot be in
                # the tree stands there until the UpdatePath replaces it.
                placeholder = dataclasses.replace(
                    commit.path.leaf_node, encryption_key=bytes(cs.HPKE_PUBLIC_KEY_LENGTH)
                )
                committer = add_leaf(tree, placeholder)
        except ProtocolError as error:
            raise ProposalValidationError(f"proposals do not apply: {error}") from None
        removed_self = any(
            isinstance(item.proposal.body, Remove) and item.proposal.body.removed == self._my_leaf
            for item in proposals
        )
        provider = self._provider
        if commit.path is not None:
            path_leaf = commit.path.leaf_node
            current_leaf = tree.leaf(committer)
            if current_leaf is None or (
                external_init is None and path_leaf.credential != current_leaf.credential
            ):
                raise ProposalValidationError(
                    "the UpdatePath leaf changes the committer's credential (identity)"
                )
            await proposals_module.validate_leaf(
                provider,
                tree,
                state.context,
                path_leaf,
                source=LeafNodeSource.COMMIT,
                leaf_index=committer,
                now=now,
                extensions=extensions,
            )
            check_ciphertext_counts(tree, committer, commit.path, added)
            merge_update_path(tree, committer, commit.path)
        if removed_self:
            # We cannot decrypt the new epoch (our leaf is blanked), so the confirmation tag cannot be
            # checked; everything up to here (signature, proposals, path shape and parent hashes) was.
            self._status = GroupStatus.REMOVED
            self._pending.clear()
            return True, committer
        if commit.path is not None:
            provisional = _provisional_context(state.context, extensions)
            processed = await decrypt_update_path(
                provider,
                tree,
                committer,
                commit.path,
                private_keys=state.keys,
                group_context=provisional(tree.tree_hash()),
                excluded_leaves=added,
            )
            commit_secret: bytes = processed.commit_secret
            keys = processed.private_keys
        else:
            commit_secret = ks.zero_secret()
            keys = state.keys.copy()
            keys.prune(tree)
        signature = authenticated.auth.signature
        confirmed = transcript.next_confirmed_hash(
            state.interim_transcript_hash, authenticated.wire_format, authenticated.content, signature
        )
        context = _next_context(state.context, tree.tree_hash(), confirmed, extensions)
        psk_secret, _ = self._psk_secret(proposals)
        init_secret: bytes = state.secrets.init_secret
        if external_init is not None:
            external_private, _ = await ks.external_key_pair(provider, state.secrets.external_secret)
            receiver = await hpke.setup_base_r(provider, external_init.kem_output, external_private, b"")
            init_secret = receiver.export(EXTERNAL_INIT_LABEL, cs.NH)
        secrets, tag = ks.enter_epoch(init_secret, commit_secret, psk_secret, context)
        if not constant_time_equal(tag, authenticated.auth.confirmation_tag):
            raise AuthenticationError("commit confirmation tag does not verify")
        self._install(_EpochState.start(context, tree, keys, secrets, tag))
        return False, committer

    async def _process_external_commit(self, message: PublicMessage, now: int | None) -> Received:
        """A new member joining by external commit (section 12.4.3.2): signed with the key of the leaf
        in its UpdatePath, no membership tag, the init secret from its ExternalInit."""
        content = message.content
        commit = content.content
        if not isinstance(commit, Commit) or commit.path is None:
            raise ProposalValidationError("a new_member_commit sender must send a Commit with a path")
        authenticated = AuthenticatedContent(WireFormat.PUBLIC_MESSAGE, content, message.auth)
        await framing.verify_content(
            self._provider, authenticated, self._state.context, commit.path.leaf_node.signature_key
        )
        epoch = self.epoch
        removed, committer = await self._process_commit(authenticated, commit, None, now)
        return Received(
            ContentType.COMMIT, committer, epoch, content.authenticated_data, removed_self=removed
        )

    async def export_group_info(self, *, with_tree: bool = True) -> bytes:
        """A signed GroupInfo (MLSMessage) of the current epoch carrying ``external_pub`` (and the ratchet
        tree), from which a new member can join with ``Group.join_external``."""
        self._require_active()
        state = self._state
        if not state.confirmation_tag:
            raise InvalidStateError(
                "state restored from format 1 has no confirmation tag: export after a commit"
            )
        _, external_pub = await ks.external_key_pair(self._provider, state.secrets.external_secret)
        extensions = [Extension(ExtensionType.EXTERNAL_PUB, opaque(external_pub))]
        if with_tree:
            extensions.append(Extension(ExtensionType.RATCHET_TREE, state.tree.encode()))
        group_info = GroupInfo(state.context, tuple(extensions), state.confirmation_tag, self._my_leaf)
        signed = await welcome_module.sign_group_info(self._provider, group_info, self._signature_key)
        return MLSMessage(signed).encode()

    @classmethod
    async def join_external(
        cls,
        provider: CryptoProvider,
        group_info: bytes,
        identity: bytes,
        signature_key: bytes,
        *,
        ratchet_tree: bytes | None = None,
        now: int | None = None,
        public_handshake: bool = False,
    ) -> tuple[Group, bytes]:
        """Join by external commit (section 12.4.3.2) from a GroupInfo with ``external_pub``; returns the
        group (already in the new epoch) and the commit (an MLSMessage) to send to the members."""
        if len(group_info) > MAX_MESSAGE_SIZE:
            raise LimitError(f"GroupInfo larger than {MAX_MESSAGE_SIZE} bytes")
        info = MLSMessage.decode(group_info).body
        if not isinstance(info, GroupInfo):
            raise DecodeError(f"expected a GroupInfo, got {type(info).__name__}")
        context = info.group_context
        external_pub_data = find_extension(info.extensions, ExtensionType.EXTERNAL_PUB)
        if external_pub_data is None:
            raise InvalidStateError("the GroupInfo has no external_pub: external joins are not offered")
        external_pub = decode_all(external_pub_data, Reader.opaque)
        tree = await _verify_group_info_and_tree(provider, info, ratchet_tree, now)
        kem_output, sender_context = await hpke.setup_base_s(provider, external_pub, b"")
        init_secret = sender_context.export(EXTERNAL_INIT_LABEL, cs.NH)
        template = LeafNode(
            encryption_key=bytes(cs.HPKE_PUBLIC_KEY_LENGTH),
            signature_key=await provider.ed25519_public_key(signature_key),
            credential=Credential.basic(identity),
            capabilities=default_capabilities(),
            leaf_node_source=LeafNodeSource.COMMIT,
        )
        my_leaf = add_leaf(tree, template)
        created = await create_update_path(
            provider,
            tree,
            my_leaf,
            sign_leaf=leaf_signer(provider, template, signature_key, context.group_id, my_leaf),
            group_context_for=_provisional_context(context, context.extensions),
        )
        commit = Commit((ProposalOrRef(proposal=Proposal(ExternalInit(kem_output))),), created.update_path)
        content = FramedContent(
            context.group_id, context.epoch, Sender(SenderType.NEW_MEMBER_COMMIT), b"", commit
        )
        signature = await framing.sign_content(
            provider, WireFormat.PUBLIC_MESSAGE, content, context, signature_key
        )
        interim = transcript.next_interim_hash(context.confirmed_transcript_hash, info.confirmation_tag)
        confirmed = transcript.next_confirmed_hash(interim, WireFormat.PUBLIC_MESSAGE, content, signature)
        new_context = _next_context(context, tree.tree_hash(), confirmed, context.extensions)
        secrets, tag = ks.enter_epoch(init_secret, created.commit_secret, ks.zero_secret(), new_context)
        message = MLSMessage(PublicMessage(content, FramedContentAuthData(signature, tag))).encode()
        state = _EpochState.start(new_context, tree, created.private_keys, secrets, tag)
        group = cls(provider, state, my_leaf, signature_key, public_handshake=public_handshake)
        return group, message

    # --- committing (section 12.4) ------------------------------------------------------------------

    async def add(
        self, key_packages: list[bytes], *, path: bool = True, now: int | None = None
    ) -> CommitResult:
        """Commit Add proposals for ``key_packages`` (MLSMessage bytes); returns the commit and Welcome."""
        proposals = [Proposal(Add(parse_key_package(data))) for data in key_packages]
        return await self.commit(proposals, path=path, now=now)

    async def remove(self, leaf_index: int) -> CommitResult:
        """Commit the removal of ``leaf_index`` (with an UpdatePath, as section 12.4 requires)."""
        return await self.commit([Proposal(Remove(leaf_index))])

    async def update(self) -> CommitResult:
        """An empty commit with an UpdatePath: fresh keys on our whole direct path."""
        return await self.commit([])

    async def propose(self, proposal: Proposal) -> bytes:
        """Send a standalone proposal; every member (we too) holds it until a commit covers it."""
        self._require_active()
        if isinstance(proposal.body, Update):
            raise ProposalValidationError("send an update as a commit (update()), not as a proposal")
        await self._validate([ProposalItem(proposal, self._my_leaf)], committer=-1)
        wire_format = WireFormat.PUBLIC_MESSAGE if self._public_handshake else WireFormat.PRIVATE_MESSAGE
        authenticated = await self._sign(proposal, b"", wire_format)
        message = await self._frame(authenticated)
        self._hold_proposal(authenticated, proposal, self._my_leaf)
        return message

    async def commit(
        self,
        proposals: list[Proposal],
        *,
        path: bool = True,
        authenticated_data: bytes = b"",
        include_pending: bool = True,
        now: int | None = None,
    ) -> CommitResult:
        """Commit ``proposals`` (inline) and, if ``include_pending``, the valid received proposals (by
        reference); ``path`` adds an UpdatePath (forced when the proposals require one). The group moves
        to the new epoch immediately."""
        self._require_active()
        state = self._state
        items = [ProposalItem(proposal, self._my_leaf) for proposal in proposals]
        references: list[bytes | None] = [None] * len(items)
        await self._validate(items, self._my_leaf, now)
        if include_pending and self._pending:
            extra = [(ref, item) for ref, item in self._pending.items()]
            try:
                await self._validate(items + [item for _, item in extra], self._my_leaf, now)
            except ProtocolError:
                extra = []
            items += [item for _, item in extra]
            references += [ref for ref, _ in extra]
        with_path = path or proposals_module.path_required(items)
        tree = state.tree.copy()
        extensions, added = proposals_module.apply_proposals(tree, items, state.context.extensions)
        provider = self._provider
        old_context = state.context
        created = None
        if with_path:
            my_leaf_node = tree.leaf(self._my_leaf)
            assert my_leaf_node is not None
            created = await create_update_path(
                provider,
                tree,
                self._my_leaf,
                sign_leaf=leaf_signer(
                    provider, my_leaf_node, self._signature_key, self.group_id, self._my_leaf
                ),
                group_context_for=_provisional_context(old_context, extensions),
                excluded_leaves=added,
            )
            commit_secret: bytes = created.commit_secret
            keys = created.private_keys
        else:
            commit_secret = ks.zero_secret()
            keys = state.keys.copy()
            keys.prune(tree)
        entries = tuple(
            ProposalOrRef(reference=ref) if ref is not None else ProposalOrRef(proposal=item.proposal)
            for item, ref in zip(items, references, strict=True)
        )
        commit = Commit(entries, created.update_path if created is not None else None)
        wire_format = WireFormat.PUBLIC_MESSAGE if self._public_handshake else WireFormat.PRIVATE_MESSAGE
        content = FramedContent(
            old_context.group_id, old_context.epoch, Sender.member(self._my_leaf), authenticated_data, commit
        )
        signature = await framing.sign_content(
            provider, wire_format, content, old_context, self._signature_key
        )
        confirmed = transcript.next_confirmed_hash(
            state.interim_transcript_hash, wire_format, content, signature
        )
        context = _next_context(old_context, tree.tree_hash(), confirmed, extensions)
        psk_secret, psk_ids = self._psk_secret(items)
        secrets, tag = ks.enter_epoch(state.secrets.init_secret, commit_secret, psk_secret, context)
        message = await self._frame(
            AuthenticatedContent(wire_format, content, FramedContentAuthData(signature, tag))
        )
        welcome_bytes = None
        if added:
            group_info = await welcome_module.sign_group_info(
                provider,
                GroupInfo(
                    context, (Extension(ExtensionType.RATCHET_TREE, tree.encode()),), tag, self._my_leaf
                ),
                self._signature_key,
            )
            recipients: list[tuple[KeyPackage, bytes | None]] = []
            add_items = [item for item in items if isinstance(item.proposal.body, Add)]
            for item, leaf_index in zip(add_items, added, strict=True):
                assert isinstance(item.proposal.body, Add)
                path_secret = created.path_secret_for_joiner(self._my_leaf, leaf_index) if created else None
                recipients.append((item.proposal.body.key_package, path_secret))
            sealed = await welcome_module.seal_welcome(
                provider, group_info, secrets.joiner_secret, psk_secret, recipients, psks=psk_ids
            )
            welcome_bytes = MLSMessage(sealed).encode()
        self._install(_EpochState.start(context, tree, keys, secrets, tag))
        return CommitResult(message, welcome_bytes, tuple(added))

    # --- branches and past epochs -----------------------------------------------------------------------

    def fork(self) -> Group:
        """An independent copy of this member's state: a commit built on it leaves this group as it
        is (the epoch states are shared, as in ``snapshot``; the secret tree is copied)."""
        branch = Group(
            self._provider,
            self._state,
            self._my_leaf,
            self._signature_key,
            external_psks=self._external_psks,
            public_handshake=self._public_handshake,
        )
        branch.restore(self.snapshot())
        return branch

    def retire(self) -> PastEpoch:
        """What of the current epoch reads the other members' application messages that are still on
        their way after it ends, and nothing more (``pyfront.mls.past_epoch``)."""
        self._require_active()
        state = self._state
        return PastEpoch(
            self._provider,
            state.context,
            state.tree.copy(),
            sender_data_secret=state.secrets.sender_data_secret,
            secret_tree=state.secret_tree.receive_only(self._my_leaf),
            my_leaf=self._my_leaf,
        )

    # --- in-memory rollback -----------------------------------------------------------------------------

    def snapshot(self) -> GroupSnapshot:
        """A rollback point for ``restore``: a few microseconds, against ~40 us for ``to_dict``."""
        state = self._state
        return GroupSnapshot(
            state,
            state.secret_tree.copy(),
            self._status,
            dict(self._pending),
            dict(self._resumption_psks),
            dict(self._external_psks),
        )

    def restore(self, snapshot: GroupSnapshot) -> None:
        """Put the group back exactly as it was at ``snapshot`` (which stays usable for another restore)."""
        self._state = dataclasses.replace(snapshot.state, secret_tree=snapshot.secret_tree.copy())
        self._status = snapshot.status
        self._pending = dict(snapshot.pending)
        self._resumption_psks = dict(snapshot.resumption_psks)
        self._external_psks = dict(snapshot.external_psks)

    # --- persistence ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-ready values (secrets included: store it encrypted)."""
        state = self._state
        keys = {
            str(node): [key.hex(), (state.keys.public_key(node) or b"").hex()]
            for node in state.keys.nodes()
            if (key := state.keys.key_for(state.tree, node)) is not None
        }
        return GROUP_STATE.new(
            status=self._status.value,
            context=state.context.encode().hex(),
            tree=state.tree.encode().hex(),
            my_leaf=self._my_leaf,
            private_keys=keys,
            signature_key=self._signature_key.hex(),
            secrets={name: getattr(state.secrets, name).hex() for name in _SECRET_FIELDS},
            secret_tree=state.secret_tree.to_dict(),
            interim_transcript_hash=state.interim_transcript_hash.hex(),
            confirmation_tag=state.confirmation_tag.hex(),
            pending={
                ref.hex(): [item.proposal.encode().hex(), item.sender] for ref, item in self._pending.items()
            },
            resumption_psks={str(epoch): psk.hex() for epoch, psk in self._resumption_psks.items()},
            external_psks={psk_id.hex(): psk.hex() for psk_id, psk in self._external_psks.items()},
            public_handshake=self._public_handshake,
        )

    @classmethod
    def from_dict(cls, provider: CryptoProvider, data: dict[str, Any]) -> Group:
        """Restore ``to_dict`` output of this or an older version (``GROUP_STATE`` in
        ``pyfront.storage.migrations``); ``DecodeError`` for an unknown version or a malformed state."""
        data = GROUP_STATE.open(data)
        try:
            context = GroupContext.decode(bytes.fromhex(data["context"]))
            tree = RatchetTree.decode(bytes.fromhex(data["tree"]))
            my_leaf = int(data["my_leaf"])
            keys = TreeKemPrivateKeys(my_leaf)
            for node, (private, public) in data["private_keys"].items():
                keys.set(int(node), bytes.fromhex(private), bytes.fromhex(public))
            secrets = ks.EpochSecrets(
                **{name: ks.EpochSecret(bytes.fromhex(data["secrets"][name])) for name in _SECRET_FIELDS}
            )
            state = _EpochState(
                context,
                tree,
                keys,
                secrets,
                SecretTree.from_dict(data["secret_tree"]),
                bytes.fromhex(data["interim_transcript_hash"]),
                bytes.fromhex(data["confirmation_tag"]),
            )
            group = cls(
                provider,
                state,
                my_leaf,
                bytes.fromhex(data["signature_key"]),
                external_psks={bytes.fromhex(k): bytes.fromhex(v) for k, v in data["external_psks"].items()},
                public_handshake=bool(data["public_handshake"]),
            )
            group._status = GroupStatus(data["status"])
            group._pending = {
                bytes.fromhex(ref): ProposalItem(Proposal.decode(bytes.fromhex(proposal)), int(sender))
                for ref, (proposal, sender) in data["pending"].items()
            }
            group._resumption_psks = {
                int(epoch): bytes.fromhex(psk) for epoch, psk in data["resumption_psks"].items()
            }
        except (KeyError, ValueError, TypeError) as error:
            raise DecodeError(f"{GROUP_STATE.kind}: {error}") from None
        return group


_SECRET_FIELDS = [field.name for field in dataclasses.fields(ks.EpochSecrets)]
