"""Tests for ``pyfront.mls.proposals``: path rules, external commit shape, PSK resolution."""

from __future__ import annotations

import pytest

from pyfront.mls.messages import (
    Capabilities,
    Commit,
    Credential,
    ExternalInit,
    LeafNode,
    LeafNodeSource,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    ProposalOrRef,
    PSKType,
    Remove,
    UpdatePath,
)
from pyfront.mls.proposals import (
    ProposalItem,
    ProposalValidationError,
    external_commit_proposals,
    path_required,
    psk_secret,
)

LEAF = LeafNode(bytes(32), bytes(32), Credential.basic(b"x"), Capabilities(), LeafNodeSource.COMMIT)
PATH = UpdatePath(LEAF, ())
PSK = PreSharedKeyID(PSKType.EXTERNAL, psk_id=b"id", psk_nonce=bytes(32))


def item(proposal: Proposal) -> ProposalItem:
    return ProposalItem(proposal, 0)


def test_path_required() -> None:
    assert path_required([])
    assert path_required([item(Proposal(Remove(1)))])
    assert not path_required([item(Proposal(PreSharedKey(PSK)))])


def test_external_commit_shape() -> None:
    init = ProposalOrRef(proposal=Proposal(ExternalInit(b"k")))
    items, external_init = external_commit_proposals(Commit((init,), PATH))
    assert items == [] and external_init == ExternalInit(b"k")
    with pytest.raises(ProposalValidationError, match="UpdatePath"):
        external_commit_proposals(Commit((init,), None))
    with pytest.raises(ProposalValidationError, match="exactly one"):
        external_commit_proposals(Commit((init, init), PATH))
    with pytest.raises(ProposalValidationError, match="inline"):
        external_commit_proposals(Commit((init, ProposalOrRef(reference=b"r")), PATH))


def test_psk_resolution() -> None:
    items = [item(Proposal(PreSharedKey(PSK)))]
    secret, ids = psk_secret(items, b"g", {b"id": b"k" * 32}, {})
    assert ids == (PSK,) and secret != bytes(32)
    with pytest.raises(ProposalValidationError, match="PSK we do not have"):
        psk_secret(items, b"g", {}, {})
    resumption = PreSharedKeyID(PSKType.RESUMPTION, psk_group_id=b"other", psk_epoch=1, psk_nonce=bytes(32))
    with pytest.raises(ProposalValidationError):
        psk_secret([item(Proposal(PreSharedKey(resumption)))], b"g", {}, {1: b"r" * 32})
