"""One contact's mailboxes: the ones we fetch for it (our keys) and the one it granted us (docs/mailbox.md).

Each contact gets mailboxes of its own (pairwise capabilities): an envelope found in one came from that
contact's session, so it is opened there and nowhere else. We hand the newest one's address to the
contact in a ``MailboxGrant`` inside the encrypted session, on every connection. A mailbox is replaced
(*rotated*) after ``ROTATE_AFTER_S``, or when the mailbox server changes; a replaced one is still
fetched until ``RETIRED_KEPT_S`` (the server's expiry and a day) have passed, then forgotten.

Stored sealed as ``mailbox/<peer id>`` (schema ``MAILBOXES``). This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyfront.crypto.provider import CryptoProvider, Ed25519Seed
from pyfront.errors import DecodeError
from pyfront.messaging.mailbox_wire import ADDRESS_LENGTH, PUBLIC_KEY_LENGTH, address_of
from pyfront.session.content import ID_LENGTH, MAILBOX_ADDRESS_LENGTH, MAILBOX_PROTOCOL_VERSION, MailboxGrant
from pyfront.storage.migrations import MAILBOXES

DAY_S = 86_400
ROTATE_AFTER_S = 7 * DAY_S
"""A contact's mailbox is replaced by a fresh one (a new address) after this long."""
RETIRED_KEPT_S = 15 * DAY_S
"""A replaced mailbox is still fetched this long (the server's default expiry, 14 days, and a day)."""
MAX_OWN_MAILBOXES = 4
"""Mailboxes kept per contact; the oldest retired one goes first."""
MAILBOX_STORE = "mailbox"


@dataclass
class OwnMailbox:
    """A mailbox we fetch: its key (a secret), where it lives, the id of the grant that handed it out."""

    seed: Ed25519Seed = field(repr=False)
    public_key: bytes
    url: str
    grant_id: bytes
    created_at: float
    retired_at: float | None = None
    #: The highest sequence number read and not acknowledged yet (in memory only).
    after: int = 0

    def __repr__(self) -> str:
        retired = self.retired_at is not None
        return f"OwnMailbox(url={self.url!r}, created_at={self.created_at}, retired={retired})"

    @property
    def address(self) -> bytes:
        return address_of(self.public_key)

    def grant(self) -> MailboxGrant:
        return MailboxGrant(MAILBOX_PROTOCOL_VERSION, self.grant_id, self.address, self.url)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed.hex(),
            "public_key": self.public_key.hex(),
            "url": self.url,
            "grant_id": self.grant_id.hex(),
            "created_at": self.created_at,
            "retired_at": self.retired_at,
        }

    @classmethod
    def from_dict(cls, data: Any) -> OwnMailbox:
        try:
            mailbox = cls(
                seed=Ed25519Seed(bytes.fromhex(data["seed"])),
                public_key=bytes.fromhex(data["public_key"]),
                url=str(data["url"]),
                grant_id=bytes.fromhex(data["grant_id"]),
                created_at=float(data["created_at"]),
                retired_at=None if data["retired_at"] is None else float(data["retired_at"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DecodeError(f"mailbox record: malformed own mailbox ({type(error).__name__})") from None
        if (
            len(mailbox.public_key) != PUBLIC_KEY_LENGTH
            or len(mailbox.seed) != 32
            or len(mailbox.grant_id) != ID_LENGTH
        ):
            raise DecodeError("mailbox record: a key or grant id of the wrong length")
        return mailbox


@dataclass(frozen=True)
class Deposit:
    """Where we deposit for the contact: what its latest grant said."""

    grant_id: bytes
    address: bytes = field(repr=False)
    url: str


@dataclass
class ContactMailboxes:
    """Everything mailbox about one contact."""

    peer_id: str
    own: list[OwnMailbox] = field(default_factory=list)
    theirs: Deposit | None = None

    def __repr__(self) -> str:
        return f"ContactMailboxes({self.peer_id!r}, own={len(self.own)}, theirs={self.theirs is not None})"

    @property
    def current(self) -> OwnMailbox | None:
        """The newest mailbox, the one the contact deposits into."""
        return self.own[-1] if self.own and self.own[-1].retired_at is None else None

    def needs_new(self, url: str, now: float) -> bool:
        """Is a fresh mailbox due (none yet, the current one is old, or it lives on another server)?"""
        current = self.current
        return current is None or current.url != url or now - current.created_at >= ROTATE_AFTER_S

    async def rotate(self, provider: CryptoProvider, url: str, now: float) -> OwnMailbox:
        """Make a fresh mailbox at ``url`` and retire the current one (still fetched for a while)."""
        seed, public_key = await provider.ed25519_generate()
        mailbox = OwnMailbox(seed, public_key, url, provider.random_bytes(ID_LENGTH), now)
        for old in self.own:
            if old.retired_at is None:
                old.retired_at = now
        self.own.append(mailbox)
        self.prune(now)
        return mailbox

    def retire_all(self, now: float) -> bool:
        """The user turned the mailbox off: no mailbox is current (the old ones are still emptied)."""
        changed = False
        for old in self.own:
            if old.retired_at is None:
                old.retired_at, changed = now, True
        return changed

    def prune(self, now: float) -> None:
        """Forget retired mailboxes whose envelopes have all expired, and any beyond the most kept."""
        self.own = [m for m in self.own if m.retired_at is None or now - m.retired_at < RETIRED_KEPT_S]
        while len(self.own) > MAX_OWN_MAILBOXES:
            self.own.pop(0)

    def take_grant(self, grant: MailboxGrant) -> bool:
        """The contact granted (or withdrew) its mailbox; whether anything changed. A grant for a mailbox
        protocol we do not speak is ignored."""
        if grant.version != MAILBOX_PROTOCOL_VERSION:
            return False
        if grant.withdrawn:
            changed, self.theirs = self.theirs is not None, None
            return changed
        if len(grant.address) != MAILBOX_ADDRESS_LENGTH or not grant.url:
            return False
        deposit = Deposit(grant.grant_id, grant.address, grant.url)
        changed, self.theirs = self.theirs != deposit, deposit
        return changed

    def to_dict(self) -> dict[str, Any]:
        theirs = self.theirs
        return MAILBOXES.new(
            peer_id=self.peer_id,
            own=[mailbox.to_dict() for mailbox in self.own],
            theirs=None
            if theirs is None
            else {"grant_id": theirs.grant_id.hex(), "address": theirs.address.hex(), "url": theirs.url},
        )

    @classmethod
    def from_dict(cls, data: object) -> ContactMailboxes:
        record = MAILBOXES.open(data)
        try:
            own = [OwnMailbox.from_dict(item) for item in record["own"]]
            theirs = record["theirs"]
            deposit = None
            if theirs is not None:
                deposit = Deposit(
                    bytes.fromhex(theirs["grant_id"]), bytes.fromhex(theirs["address"]), str(theirs["url"])
                )
                if len(deposit.address) != ADDRESS_LENGTH:
                    raise DecodeError("mailbox record: a deposit address of the wrong length")
            return cls(str(record["peer_id"]), own, deposit)
        except (KeyError, TypeError, ValueError) as error:
            raise DecodeError(f"mailbox record: malformed ({type(error).__name__})") from None
