"""The MLS layer of the cascade (DESIGN.md section 5, "MLS layer"; RFC 9420; docs/protocol.md 5.2).

A 1:1 chat is a two-member group: the initiator creates it and adds the responder's KeyPackage from the
handshake's ``Reply``; the Welcome travels in ``Finish``. Each message is an MLS PrivateMessage
(``MLSMessage`` bytes, always signed) from ``Group.protect``; decryption refuses messages whose sender
is our own leaf. The MLS signature key is a fresh Ed25519 key per group, its credential is the member's
identity key, and the KeyPackage is covered by the handshake's signed transcript.

**Epoch updates** (post-compromise recovery). Each side commits an empty Commit with a fresh UpdatePath
when an update is due: ``MLS_UPDATE_MESSAGES`` messages sent or ``MLS_UPDATE_SECONDS`` since its last
update took effect, or after a resume (``resumed``). The commit is built on a ``Group.fork`` and stays
*pending*: we keep sending in the current epoch, and the commit rides in front of an application
message (``0x01 || vec2(commit) || message``) on the first message after it is made, on the first
message after a resume and on every ``MLS_COMMIT_RESEND_MESSAGES``-th one until the peer acknowledges
it. Any message of the peer in the pending epoch is the acknowledgement: the pending branch becomes the
group. A lost commit frame therefore loses nothing (the messages around it are readable without it).

The peer's commit is applied when it comes, and the epoch it ended is kept as a ``PastEpoch`` (the
peer's application ratchet only): the peer goes on sending in that epoch until it sees our
acknowledgement. It is deleted at the peer's first message in the newer epoch, after which the ordered
channel (and the outer layer, new on every connection) cannot bring an older one. When both sides
commit in the same epoch, the commit of the member with the smaller identity key (then leaf index) wins:
that side ignores the other's commit; the other drops its pending commit, applies the winner's and
commits again on its next message. A commit must leave the members as they were (a pairwise group
never adds or removes).

``encrypt`` and ``decrypt`` may leave the layer changed when they fail: like every layer, it relies on
the cascade, which takes a ``snapshot`` of every layer before a message and ``restore``s them all when
it fails anywhere (``pyfront.layers.cascade.Layer``); a caller that drives the layer alone does the
same. This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyfront.codec import Reader, vec
from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import AuthenticationError, DecodeError
from pyfront.mls import framing
from pyfront.mls.group import EpochError, Group, GroupSnapshot, PastEpoch
from pyfront.mls.messages import ContentType, MLSMessage, PrivateMessage, PublicMessage
from pyfront.mls.secret_tree import SecretTree
from pyfront.storage.migrations import MLS_LAYER

MLS_UPDATE_MESSAGES = 100
"""An update (a commit with a fresh path) is due after this many messages sent since the last one..."""
MLS_UPDATE_SECONDS = 3600.0
"""...or this many seconds, whichever comes first (and on every resume)."""
MLS_COMMIT_RESEND_MESSAGES = 10
"""An unacknowledged commit rides on every this-many-th message (and on the first after a resume)."""
MAX_COMMIT = 0xFFFF
"""The largest commit the layer carries (``vec2``); a two-member update is about 600 bytes."""

WITH_COMMIT = 0x01
"""First byte of a layer message that carries a commit. A bare MLSMessage starts with 0x00 (the high
byte of its version, mls10 = 0x0001): the layout of the layer's first version, which stays valid."""


def encode_layer_message(message: bytes, commit: bytes | None = None) -> bytes:
    """The layer's output: the application ``MLSMessage``, after ``0x01 || vec2(commit)`` if any."""
    if commit is None:
        return message
    return bytes([WITH_COMMIT]) + vec(2, commit, MAX_COMMIT, "MLS commit") + message


def decode_layer_message(data: bytes) -> tuple[bytes | None, bytes]:
    """``(commit or None, application MLSMessage)``; ``DecodeError`` for anything else."""
    if not data:
        raise DecodeError("MLS layer: empty message")
    if data[0] == 0x00:
        return None, data
    if data[0] != WITH_COMMIT:
        raise DecodeError(f"MLS layer: message kind {data[0]}, expected 0 (message) or 1 (commit, message)")
    reader = Reader(data)
    reader.take(1)
    commit = reader.vec(2, MAX_COMMIT, "MLS commit")
    message = reader.rest()
    if not message or message[0] != 0x00:
        raise DecodeError("MLS layer: a commit must be followed by a message")
    return commit, message


def message_epoch(message: bytes | MLSMessage) -> int:
    """The epoch in an MLSMessage's clear header (PrivateMessage or PublicMessage)."""
    body = (message if isinstance(message, MLSMessage) else MLSMessage.decode(message)).body
    if isinstance(body, PrivateMessage):
        return body.epoch
    if isinstance(body, PublicMessage):
        return body.content.epoch
    raise DecodeError(f"MLS layer: expected a PrivateMessage or PublicMessage, got {type(body).__name__}")


@dataclass
class _Pending:
    """Our commit that the peer has not acknowledged yet, and the branch in the epoch it starts."""

    branch: Group
    commit: bytes
    sends: int = 0
    """Messages sent since it was made (it rides on every ``MLS_COMMIT_RESEND_MESSAGES``-th)."""


@dataclass(frozen=True)
class _Snapshot:
    group: Group
    group_point: GroupSnapshot
    pending: _Pending | None
    pending_point: GroupSnapshot | None
    previous: PastEpoch | None
    previous_point: SecretTree | None
    counters: tuple[int, float | None, bool, bool]

    def __repr__(self) -> str:
        return f"<MlsLayer snapshot epoch={self.group_point.state.context.epoch}>"


class MlsLayer:
    name = "mls"

    def __init__(self, provider: CryptoProvider, group: Group) -> None:
        self._provider = provider
        self._group = group
        self._pending: _Pending | None = None
        self._previous: PastEpoch | None = None
        self._sent = 0
        """Messages sent since our last update took effect."""
        self._updated_at: float | None = None
        """When our last update took effect (set on the first message when unknown)."""
        self._update_due = False
        """An update is owed whatever the counters say: after a resume, or a commit that lost a race."""
        self._resend = False
        """The pending commit rides on the next message (after a resume)."""

    @property
    def group(self) -> Group:
        return self._group

    @property
    def epoch(self) -> int:
        return self._group.epoch

    @property
    def pending_commit(self) -> bytes | None:
        return None if self._pending is None else self._pending.commit

    @property
    def previous_epoch(self) -> int | None:
        return None if self._previous is None else self._previous.epoch

    def __repr__(self) -> str:
        pending = "" if self._pending is None else f" pending={self._pending.branch.epoch}"
        return f"MlsLayer({self._group!r}{pending})"

    def resumed(self) -> None:
        """The session resumed these stored layers on a new connection: an update is due, and a pending
        commit rides on the next message (the frame that carried it may be lost with the old one)."""
        self._update_due = self._resend = True

    # --- sending ---------------------------------------------------------------------------------

    def _update_is_due(self, now: float) -> bool:
        assert self._updated_at is not None
        return (
            self._update_due
            or self._sent >= MLS_UPDATE_MESSAGES
            or now - self._updated_at >= MLS_UPDATE_SECONDS
        )

    async def encrypt(self, plaintext: bytes, now: float) -> bytes:
        if self._updated_at is None:
            self._updated_at = now
        if self._pending is None and self._update_is_due(now):
            branch = self._group.fork()
            self._pending = _Pending(branch, (await branch.update()).commit)
            self._update_due = False
        commit = None
        if self._pending is not None:
            if self._resend or self._pending.sends % MLS_COMMIT_RESEND_MESSAGES == 0:
                commit = self._pending.commit
            self._pending.sends += 1
            self._resend = False
        # Until the peer has our commit, we stay in the epoch it can read.
        message = await self._group.protect(plaintext)
        self._sent += 1
        return encode_layer_message(message, commit)

    # --- receiving -------------------------------------------------------------------------------

    async def decrypt(self, ciphertext: bytes, now: float) -> bytes:
        commit, message = decode_layer_message(ciphertext)
        if commit is not None:
            await self._take_commit(commit, now)
        return await self._open(message, now)

    def _peer_reached(self, epoch: int, now: float) -> None:
        """The peer sent in ``epoch``: if that is our pending one, it has our commit (the acknowledgement);
        if it is the current one, nothing of an older epoch can follow."""
        pending = self._pending
        if pending is not None and epoch == pending.branch.epoch:
            self._group, self._pending = pending.branch, None
            self._sent, self._updated_at = 0, now
        if epoch == self._group.epoch:
            self._previous = None

    def _wins(self) -> bool:
        """Concurrent commits in one epoch: the one of the smaller identity key (bytewise) wins; the
        leaf index breaks a tie (the same identity on both leaves), so exactly one side wins."""
        my_leaf = self._group.my_leaf
        members = self._group.members()
        ours = (members[my_leaf], my_leaf)
        return all(ours < (identity, leaf) for leaf, identity in members.items() if leaf != my_leaf)

    async def _take_commit(self, data: bytes, now: float) -> None:
        commit = framing.decode_message(data)  # decoded once: the group processes it as it is
        epoch = message_epoch(commit)
        self._peer_reached(epoch, now)
        group = self._group
        if epoch < group.epoch:
            return  # a copy of a commit we applied, or one that lost to ours: already settled
        if epoch > group.epoch:
            raise EpochError(f"MLS layer: a commit of epoch {epoch}, we are in epoch {group.epoch}")
        if self._pending is not None:
            if self._wins():
                return  # the peer drops its commit when ours arrives, and commits again later
            self._pending, self._update_due = None, True
        members = group.members()
        past = group.retire()
        await group.process(commit, expect=ContentType.COMMIT)
        if group.members() != members:
            raise AuthenticationError("MLS layer: a commit that changes the members of a pairwise group")
        self._previous = past

    async def _open(self, data: bytes, now: float) -> bytes:
        message = framing.decode_message(data)  # decoded once: the group or past epoch opens it as it is
        epoch = message_epoch(message)
        self._peer_reached(epoch, now)
        if epoch == self._group.epoch:
            data, sender = await self._group.unprotect(message)
        elif self._previous is not None and epoch == self._previous.epoch:
            data, sender = await self._previous.unprotect(message)
        else:
            raise EpochError(f"MLS layer: a message of epoch {epoch}, we are in epoch {self._group.epoch}")
        if sender == self._group.my_leaf:
            raise AuthenticationError("MLS layer: a message from our own leaf")
        return data

    # --- rollback and storage --------------------------------------------------------------------

    def snapshot(self) -> object:
        # In memory (Group.snapshot: the epoch state and a copy of its secret tree), not to_dict.
        pending, previous = self._pending, self._previous
        return _Snapshot(
            self._group,
            self._group.snapshot(),
            None if pending is None else _Pending(pending.branch, pending.commit, pending.sends),
            None if pending is None else pending.branch.snapshot(),
            previous,
            None if previous is None else previous.snapshot(),
            (self._sent, self._updated_at, self._update_due, self._resend),
        )

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, _Snapshot)
        self._group = snapshot.group
        self._group.restore(snapshot.group_point)
        pending = snapshot.pending
        if pending is not None:
            assert snapshot.pending_point is not None
            pending.branch.restore(snapshot.pending_point)
            pending = _Pending(pending.branch, pending.commit, pending.sends)
        self._pending = pending
        self._previous = snapshot.previous
        if self._previous is not None:
            assert snapshot.previous_point is not None
            self._previous.restore(snapshot.previous_point)
        self._sent, self._updated_at, self._update_due, self._resend = snapshot.counters

    def to_dict(self) -> dict[str, Any]:
        pending = self._pending
        return MLS_LAYER.new(
            group=self._group.to_dict(),
            pending=None
            if pending is None
            else {"group": pending.branch.to_dict(), "commit": pending.commit.hex(), "sends": pending.sends},
            previous=None if self._previous is None else self._previous.to_dict(),
            sent=self._sent,
            updated_at=self._updated_at,
            update_due=self._update_due,
            resend=self._resend,
        )

    @classmethod
    def from_dict(cls, provider: CryptoProvider, data: dict[str, Any]) -> MlsLayer:
        data = MLS_LAYER.open(data)
        group = data.get("group")
        if not isinstance(group, dict):
            raise DecodeError(f"{MLS_LAYER.kind}: group missing")
        layer = cls(provider, Group.from_dict(provider, group))
        try:
            pending, previous = data["pending"], data["previous"]
            if pending is not None:
                branch = Group.from_dict(provider, pending["group"])
                layer._pending = _Pending(branch, bytes.fromhex(pending["commit"]), int(pending["sends"]))
            if previous is not None:
                layer._previous = PastEpoch.from_dict(provider, previous)
            layer._sent = int(data["sent"])
            updated_at = data["updated_at"]
            layer._updated_at = None if updated_at is None else float(updated_at)
            layer._update_due = bool(data["update_due"])
            layer._resend = bool(data["resend"])
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            raise DecodeError(f"{MLS_LAYER.kind}: {error}") from None
        if layer._pending is not None and layer._pending.branch.epoch != layer._group.epoch + 1:
            raise DecodeError(f"{MLS_LAYER.kind}: the pending commit is not for the next epoch")
        previous = layer._previous
        if previous is not None and (
            previous.epoch != layer._group.epoch - 1 or previous.group_id != layer._group.group_id
        ):
            raise DecodeError(f"{MLS_LAYER.kind}: the past epoch is not the one before the group's")
        return layer
