"""Proposal lists: validation, application order and PSK resolution (RFC 9420 sections 12.2, 12.3).

Public API (pure functions over a ratchet tree and a GroupContext; the group owns the state):

* ``ProposalItem(proposal, sender)``: a proposal and the leaf that proposed it (``-1`` for none).
* ``async validate_proposals(provider, tree, context, items, *, committer, now=None)``: the rules of
  section 12.2 for a member commit: no Update from the committer, no Remove of it, at most one Update or
  Remove per leaf, Removes of members only, every KeyPackage valid (``validate_key_package``) and every
  new leaf valid against the tree after the list's Updates, Removes and earlier Adds (section 7.3 via
  ``tree.validate_leaf_node``), PSKs unique with ``NH``-byte nonces and application usage, at most one
  GroupContextExtensions whose extensions every member supports. Members may not change their
  credential (identity) in an Update. Raises ``ProposalValidationError`` or ``AuthenticationError``.
* ``async validate_leaf(provider, tree, context, leaf, *, source, leaf_index, now=None, extensions=None)``.
* ``path_required(items)``: section 12.4 (empty lists and Update/Remove/ExternalInit/GCE need a path).
* ``apply_proposals(tree, items, extensions)``: in place, in section 12.3 order; returns the new
  GroupContext extensions and the leaves the Adds took.
* ``psk_secret(items, group_id, external_psks, resumption_psks)``: the PSK secret and the ids used.
* ``external_commit_proposals(commit)``: the proposals of an external commit and its ExternalInit.

This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import InvalidStateError
from pyfront.mls import ciphersuite as cs
from pyfront.mls import key_schedule as ks
from pyfront.mls.key_package import KeyPackageError, validate_key_package
from pyfront.mls.messages import (
    Add,
    Commit,
    Extension,
    ExtensionType,
    ExternalInit,
    GroupContext,
    GroupContextExtensions,
    LeafNode,
    LeafNodeSource,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    PSKType,
    Remove,
    ResumptionPSKUsage,
    Update,
    find_extension,
)
from pyfront.mls.tree import DEFAULT_EXTENSION_TYPES, RatchetTree, TreeValidationError, validate_leaf_node
from pyfront.mls.tree_ops import add_leaf, remove_leaf, update_leaf

PATH_REQUIRED_TYPES = (Update, Remove, GroupContextExtensions, ExternalInit)


class ProposalValidationError(InvalidStateError):
    """A proposal list that breaks section 12.2, or a commit that does not fit it."""


@dataclass(frozen=True)
class ProposalItem:
    proposal: Proposal
    sender: int


async def validate_leaf(
    provider: CryptoProvider,
    tree: RatchetTree,
    context: GroupContext,
    leaf: LeafNode,
    *,
    source: LeafNodeSource,
    leaf_index: int | None,
    now: int | None = None,
    extensions: tuple[Extension, ...] | None = None,
) -> None:
    """Section 7.3 through ``tree.validate_leaf_node`` (``extensions``: the GroupContext extensions in
    force, default the context's); content errors become ``ProposalValidationError``."""
    in_force = context.extensions if extensions is None else extensions
    try:
        await validate_leaf_node(
            provider,
            tree,
            leaf,
            expected_source=source,
            group_id=context.group_id,
            leaf_index=leaf_index,
            required_capabilities=find_extension(in_force, ExtensionType.REQUIRED_CAPABILITIES),
            now=now,
        )
    except TreeValidationError as error:
        raise ProposalValidationError(str(error)) from None


async def _check_update(
    provider: CryptoProvider,
    tree: RatchetTree,
    context: GroupContext,
    leaf: LeafNode,
    *,
    sender: int,
    now: int | None,
) -> None:
    current = tree.leaf(sender) if 0 <= sender < tree.n_leaves else None
    if current is None:
        raise ProposalValidationError(f"Update from blank leaf {sender}")
    if leaf.credential != current.credential:
        raise ProposalValidationError(f"Update of leaf {sender} changes its credential (identity)")
    await validate_leaf(
        provider, tree, context, leaf, source=LeafNodeSource.UPDATE, leaf_index=sender, now=now
    )


def _check_extensions_supported(tree: RatchetTree, extensions: tuple[Extension, ...]) -> None:
    for extension in extensions:
        kind = extension.extension_type
        if kind in DEFAULT_EXTENSION_TYPES:
            continue
        for index, leaf in tree.leaves():
            if kind not in leaf.capabilities.extensions:
                raise ProposalValidationError(f"leaf {index} does not support extension {kind}")


async def validate_proposals(
    provider: CryptoProvider,
    tree: RatchetTree,
    context: GroupContext,
    items: list[ProposalItem],
    *,
    committer: int,
    now: int | None = None,
) -> None:
    """The proposal list rules of section 12.2 (see the module docstring)."""
    touched: set[int] = set()
    psk_ids: set[bytes] = set()
    extensions_seen = False
    extensions_after = context.extensions
    adds: list[Add] = []
    for item in items:
        body = item.proposal.body
        if isinstance(body, Update):
            if item.sender == committer:
                raise ProposalValidationError("a committer must not include its own Update")
            if item.sender in touched:
                raise ProposalValidationError(f"leaf {item.sender} updated or removed twice")
            touched.add(item.sender)
            await _check_update(provider, tree, context, body.leaf_node, sender=item.sender, now=now)
        elif isinstance(body, Remove):
            if body.removed == committer:
                raise ProposalValidationError("a committer must not remove itself")
            if not 0 <= body.removed < tree.n_leaves or tree.leaf(body.removed) is None:
                raise ProposalValidationError(f"Remove of leaf {body.removed}, which is not a member")
            if body.removed in touched:
                raise ProposalValidationError(f"leaf {body.removed} updated or removed twice")
            touched.add(body.removed)
        elif isinstance(body, Add):
            adds.append(body)
        elif isinstance(body, PreSharedKey):
            psk = body.psk
            key = psk.encode()
            if key in psk_ids:
                raise ProposalValidationError("the same PSK appears twice")
            psk_ids.add(key)
            if len(psk.psk_nonce) != cs.NH:
                raise ProposalValidationError(f"PSK nonce must be {cs.NH} bytes")
            if psk.psktype == PSKType.RESUMPTION and psk.usage != ResumptionPSKUsage.APPLICATION:
                raise ProposalValidationError("resumption PSK usage must be application")
        elif isinstance(body, GroupContextExtensions):
            if extensions_seen:
                raise ProposalValidationError("more than one GroupContextExtensions proposal")
            extensions_seen = True
            extensions_after = body.extensions
            _check_extensions_supported(tree, body.extensions)
        else:
            raise ProposalValidationError(f"{item.proposal.proposal_type.name} proposals are not supported")
    if not adds:
        return
    after = tree.copy()
    for item in items:
        if isinstance(item.proposal.body, Update):
            update_leaf(after, item.sender, item.proposal.body.leaf_node)
    for item in items:
        if isinstance(item.proposal.body, Remove):
            remove_leaf(after, item.proposal.body.removed)
    for add in adds:
        try:
            await validate_key_package(provider, add.key_package, now)
        except KeyPackageError as error:
            raise ProposalValidationError(f"Add: {error}") from None
        leaf = add.key_package.leaf_node
        await validate_leaf(
            provider,
            after,
            context,
            leaf,
            source=LeafNodeSource.KEY_PACKAGE,
            leaf_index=None,
            now=now,
            extensions=extensions_after,
        )
        add_leaf(after, leaf)


def path_required(items: list[ProposalItem]) -> bool:
    return not items or any(isinstance(item.proposal.body, PATH_REQUIRED_TYPES) for item in items)


def apply_proposals(
    tree: RatchetTree, items: list[ProposalItem], extensions: tuple[Extension, ...]
) -> tuple[tuple[Extension, ...], list[int]]:
    """Apply in the order of section 12.3 (GCE, Updates, Removes, Adds); returns the new extensions and
    the added leaves. PSKs and ExternalInit do not touch the tree."""
    for item in items:
        if isinstance(item.proposal.body, GroupContextExtensions):
            extensions = item.proposal.body.extensions
    for item in items:
        if isinstance(item.proposal.body, Update):
            update_leaf(tree, item.sender, item.proposal.body.leaf_node)
    for item in items:
        if isinstance(item.proposal.body, Remove):
            remove_leaf(tree, item.proposal.body.removed)
    added = [
        add_leaf(tree, item.proposal.body.key_package.leaf_node)
        for item in items
        if isinstance(item.proposal.body, Add)
    ]
    return extensions, added


def psk_secret(
    items: list[ProposalItem],
    group_id: bytes,
    external_psks: Mapping[bytes, bytes],
    resumption_psks: Mapping[int, bytes],
) -> tuple[bytes, tuple[PreSharedKeyID, ...]]:
    """The PSK secret of the list's PreSharedKey proposals, in order (section 8.4)."""
    resolved = []
    for item in items:
        body = item.proposal.body
        if not isinstance(body, PreSharedKey):
            continue
        psk_id = body.psk
        if psk_id.psktype == PSKType.EXTERNAL:
            secret = external_psks.get(psk_id.psk_id)
        elif psk_id.psk_group_id == group_id:
            secret = resumption_psks.get(psk_id.psk_epoch)
        else:
            secret = None
        if secret is None:
            raise ProposalValidationError("the commit uses a PSK we do not have")
        resolved.append((psk_id, secret))
    return ks.compute_psk_secret(resolved), tuple(psk_id for psk_id, _ in resolved)


def external_commit_proposals(commit: Commit) -> tuple[list[ProposalItem], ExternalInit]:
    """An external commit: inline proposals only, exactly one ExternalInit, otherwise only Remove (of
    the joiner's old leaf, when resyncing) and PreSharedKey (section 12.4.3.2); a path is required."""
    if commit.path is None:
        raise ProposalValidationError("an external commit must carry an UpdatePath")
    items: list[ProposalItem] = []
    inits: list[ExternalInit] = []
    for entry in commit.proposals:
        if entry.proposal is None:
            raise ProposalValidationError("an external commit carries its proposals inline")
        body = entry.proposal.body
        if isinstance(body, ExternalInit):
            inits.append(body)
        elif isinstance(body, Remove | PreSharedKey):
            items.append(ProposalItem(entry.proposal, -1))
        else:
            raise ProposalValidationError(f"{entry.proposal.proposal_type.name} in an external commit")
    if len(inits) != 1:
        raise ProposalValidationError("an external commit carries exactly one ExternalInit")
    return items, inits[0]
