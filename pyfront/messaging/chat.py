"""Conversations as a person sees them: messages, their delivery state, unread counts, disappearing timers.

The model behind the chat screens (issue 8), independent of how bytes travel: the session layer tells it
what arrived and what was acknowledged; the UI reads it and renders. Rules a user relies on:

* A message's state only moves forward: ``sending`` → ``sent`` → ``delivered`` → ``read`` (a late
  "delivered" after "read" changes nothing). ``failed`` is terminal for that copy.
* Disappearing messages: a per-chat timer that either side may set; the setting itself is a visible event
  in the chat. A message takes the timer in force when it was sent (sender's view) or as announced by the
  sender (receiver's view) and disappears ``timer`` seconds after it was *read* on the receiving side or
  *sent* on the sending side, the way Signal counts; ``expire(now)`` removes what is due and returns
  the ids, so the storage layer deletes them too.
* "Delete for everyone" removes the text on both sides and leaves a tombstone ("message deleted"), but
  only the message's author may ask for it.
* Unread counts count received messages not yet read by the user.

Limits are named constants. This module does no I/O: time is passed in as ``now`` (seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pyfront.errors import DecodeError, InvalidStateError, LimitError
from pyfront.messaging.history import HistoryIndex
from pyfront.storage.migrations import CHAT_MESSAGE, CONVERSATION

#: The longest text message accepted (UTF-8 bytes); longer content goes as a file.
MAX_TEXT_BYTES = 64 * 1024
#: Messages kept in memory per conversation; older ones stay in storage and are paged in.
MAX_LOADED_MESSAGES = 5_000
#: The disappearing-message timers offered (seconds); 0 means off. Other values are refused.
DISAPPEARING_TIMERS = (0, 30, 5 * 60, 60 * 60, 8 * 60 * 60, 24 * 60 * 60, 7 * 24 * 60 * 60, 28 * 24 * 60 * 60)
MAX_MESSAGE_ID_LENGTH = 64


class Direction(Enum):
    OUTGOING = "out"
    INCOMING = "in"


class Status(Enum):
    SENDING = "sending"
    QUEUED = "queued"  # sealed and held by the mailbox for the contact (docs/mailbox.md)
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


_STATUS_ORDER = {Status.SENDING: 0, Status.QUEUED: 1, Status.SENT: 2, Status.DELIVERED: 3, Status.READ: 4}


class Kind(Enum):
    TEXT = "text"
    TIMER_CHANGED = "timer"  # a visible event: "Alice set disappearing messages to 5 minutes"
    DELETED = "deleted"  # a tombstone after "delete for everyone"
    FILE = "file"


@dataclass
class ChatMessage:
    message_id: str
    direction: Direction
    kind: Kind
    text: str
    sent_at: float
    status: Status
    #: The disappearing timer this message carries (seconds; 0 = stays).
    timer: int = 0
    #: When it disappears; set once the countdown starts (sent, or read by us).
    expires_at: float | None = None
    read_by_me: bool = False
    #: A file's offer (``pyfront.messaging.transfer.offer``): it holds the file's key, so it never prints.
    attachment: dict[str, Any] | None = field(default=None, repr=False)
    #: When the contact's device acknowledged it (ours) or it arrived here (theirs); None: not yet.
    delivered_at: float | None = None
    #: When the contact read it (ours, with read receipts) or we did (theirs); None: not yet or not known.
    read_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return CHAT_MESSAGE.new(
            id=self.message_id,
            dir=self.direction.value,
            kind=self.kind.value,
            text=self.text,
            sent_at=self.sent_at,
            status=self.status.value,
            timer=self.timer,
            expires_at=self.expires_at,
            read=self.read_by_me,
            attachment=self.attachment,
            delivered_at=self.delivered_at,
            read_at=self.read_at,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatMessage:
        """A stored message of this or an older version (release d165a45's carry none)."""
        data = CHAT_MESSAGE.open(data)
        try:
            return cls(
                message_id=str(data["id"]),
                direction=Direction(data["dir"]),
                kind=Kind(data["kind"]),
                text=str(data["text"]),
                sent_at=float(data["sent_at"]),
                status=Status(data["status"]),
                timer=int(data["timer"]),
                expires_at=None if data["expires_at"] is None else float(data["expires_at"]),
                read_by_me=bool(data["read"]),
                attachment=data.get("attachment"),
                delivered_at=_optional_time(data["delivered_at"]),
                read_at=_optional_time(data["read_at"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DecodeError(f"stored chat message is malformed: {error}") from None


def pinned(message: ChatMessage) -> bool:
    """Is ``message`` read from storage when the vault opens, however old? A message still on its way
    out (the messenger and the courier send it again), a received one not read yet (unread counts, read
    marks), and a file (its transfer runs from it). The others are read a page at a time."""
    if message.kind is Kind.FILE:
        return True
    if message.direction is Direction.OUTGOING:
        return message.status in (Status.SENDING, Status.QUEUED, Status.SENT)
    return not message.read_by_me and message.kind is Kind.TEXT


def _optional_time(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a time must be a number or null, got {type(value).__name__}")
    return float(value)


def _check_id(message_id: str) -> None:
    if not message_id or len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise DecodeError(f"message id must be 1..{MAX_MESSAGE_ID_LENGTH} characters")


def _check_timer(timer: int) -> None:
    if timer not in DISAPPEARING_TIMERS:
        raise DecodeError(f"disappearing timer {timer!r} is not one of {DISAPPEARING_TIMERS}")


@dataclass
class Conversation:
    """One chat with one contact (or group). Mutated only through its methods.

    ``messages`` holds the messages in memory; ``index`` lists every stored one, in memory or not
    (``pyfront.messaging.history``): a duplicate is recognised, and a message expires, without being
    read from storage."""

    contact: str
    timer: int = 0
    messages: dict[str, ChatMessage] = field(default_factory=dict)
    index: HistoryIndex = field(default_factory=HistoryIndex, repr=False, compare=False)

    def known(self, message_id: str) -> bool:
        """Is ``message_id`` in this chat (in memory or only in storage)?"""
        return message_id in self.messages or message_id in self.index

    def note(self, message: ChatMessage) -> None:
        """``message`` is stored (or stored again): its index entry follows."""
        self.index.note(message.message_id, message.sent_at, message.expires_at, pinned(message))

    # --- what the user does ------------------------------------------------------------------------

    def compose(self, message_id: str, text: str, now: float) -> ChatMessage:
        """A new outgoing text, in state ``sending``, carrying the chat's current timer."""
        _check_id(message_id)
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise LimitError(f"a text message is limited to {MAX_TEXT_BYTES} bytes; send it as a file")
        if not text.strip():
            raise InvalidStateError("an empty message is not sent")
        return self._add(
            ChatMessage(message_id, Direction.OUTGOING, Kind.TEXT, text, now, Status.SENDING, self.timer)
        )

    def compose_file(self, message_id: str, name: str, attachment: dict[str, Any], now: float) -> ChatMessage:
        """A new outgoing file (its offer in ``attachment``), in state ``sending``, with the chat's timer."""
        _check_id(message_id)
        direction, status = Direction.OUTGOING, Status.SENDING
        message = ChatMessage(message_id, direction, Kind.FILE, name, now, status, self.timer)
        message.attachment = attachment
        return self._add(message)

    def receive_file(
        self, message_id: str, name: str, attachment: dict[str, Any], sent_at: float, now: float
    ) -> ChatMessage | None:
        """A file offered by the contact; a duplicate id is ignored (returns ``None``)."""
        _check_id(message_id)
        if self.known(message_id):
            return None
        message = ChatMessage(
            message_id, Direction.INCOMING, Kind.FILE, name, sent_at, Status.DELIVERED, self.timer
        )
        message.attachment = attachment
        return self._add(message)

    def set_timer(self, message_id: str, timer: int, now: float, *, by_me: bool) -> ChatMessage:
        """Either side changes the disappearing timer; the change shows in the chat for both."""
        _check_id(message_id)
        _check_timer(timer)
        self.timer = timer
        direction = Direction.OUTGOING if by_me else Direction.INCOMING
        status = Status.SENDING if by_me else Status.DELIVERED
        event = ChatMessage(message_id, direction, Kind.TIMER_CHANGED, str(timer), now, status, 0, None, True)
        return self._add(event)

    def mark_read_by_me(self, now: float) -> list[str]:
        """The user looked at the chat: received messages become read; their countdowns start.

        Returns the ids of messages whose read receipt may be sent (if receipts are on)."""
        newly_read = []
        for message in self.messages.values():
            if message.direction is Direction.INCOMING and not message.read_by_me:
                message.read_by_me = True
                message.read_at = now
                if message.timer and message.expires_at is None:
                    message.expires_at = now + message.timer
                newly_read.append(message.message_id)
        return newly_read

    # --- what the network says ---------------------------------------------------------------------

    def receive(
        self, message_id: str, text: str, sent_at: float, timer: int, now: float
    ) -> ChatMessage | None:
        """A text from the contact. A duplicate id is ignored (returns ``None``)."""
        _check_id(message_id)
        _check_timer(timer)
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise LimitError(f"incoming text exceeds {MAX_TEXT_BYTES} bytes")
        if self.known(message_id):
            return None
        message = ChatMessage(
            message_id, Direction.INCOMING, Kind.TEXT, text, sent_at, Status.DELIVERED, timer
        )
        message.delivered_at = now
        return self._add(message)

    def update_status(self, message_id: str, status: Status, now: float) -> bool:
        """Move an outgoing message forward; returns whether anything changed."""
        message = self.messages.get(message_id)
        if message is None or message.direction is not Direction.OUTGOING or message.status is Status.FAILED:
            return False
        if status is Status.FAILED:
            if message.status is not Status.SENDING:
                return False
            message.status = status
            return True
        if _STATUS_ORDER[status] <= _STATUS_ORDER[message.status]:
            return False
        message.status = status
        if status in (Status.DELIVERED, Status.READ) and message.delivered_at is None:
            message.delivered_at = now
        if status is Status.READ:
            message.read_at = now
        if message.timer and message.expires_at is None and status is not Status.SENDING:
            message.expires_at = now + message.timer
        return True

    def delete_for_everyone(self, message_id: str, *, by_me: bool) -> bool:
        """Replace a message by a tombstone. Only its author may delete it for everyone."""
        message = self.messages.get(message_id)
        if message is None or message.kind is Kind.DELETED:
            return False
        author_is_me = message.direction is Direction.OUTGOING
        if author_is_me != by_me:
            raise InvalidStateError("only a message's author can delete it for everyone")
        message.kind, message.text, message.attachment = Kind.DELETED, "", None
        return True

    def delete_for_me(self, message_id: str) -> bool:
        """Remove a message from this device only (either side's; the contact keeps their copy)."""
        known = self.known(message_id)
        self.messages.pop(message_id, None)
        self.index.remove([message_id])
        return known

    def expire(self, now: float) -> list[str]:
        """Remove every message whose disappearing time has come, in memory or only in storage; returns
        their ids."""
        due = [
            m.message_id for m in self.messages.values() if m.expires_at is not None and m.expires_at <= now
        ]
        for message_id in due:
            del self.messages[message_id]
        due += [message_id for message_id in self.index.due(now) if message_id not in due]
        for message_id in due:
            self.messages.pop(message_id, None)
        self.index.remove(due)
        return due

    # --- what the UI reads -------------------------------------------------------------------------

    @property
    def unread(self) -> int:
        return sum(
            1
            for m in self.messages.values()
            if m.direction is Direction.INCOMING and not m.read_by_me and m.kind in (Kind.TEXT, Kind.FILE)
        )

    def ordered(self) -> list[ChatMessage]:
        return sorted(self.messages.values(), key=lambda m: (m.sent_at, m.message_id))

    @property
    def last_message(self) -> ChatMessage | None:
        ordered = self.ordered()
        return ordered[-1] if ordered else None

    def next_expiry(self) -> float | None:
        times = [m.expires_at for m in self.messages.values() if m.expires_at is not None]
        return min(times) if times else None

    def _add(self, message: ChatMessage) -> ChatMessage:
        if len(self.messages) >= MAX_LOADED_MESSAGES:
            oldest = self.ordered()[0]
            del self.messages[oldest.message_id]
        self.messages[message.message_id] = message
        return message

    # --- storage ---------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return CONVERSATION.new(
            contact=self.contact, timer=self.timer, messages=[m.to_dict() for m in self.ordered()]
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        data = CONVERSATION.open(data)
        timer = data.get("timer")
        if not isinstance(timer, int):
            raise DecodeError("conversation state: timer must be an integer")
        _check_timer(timer)
        messages = data.get("messages")
        if not isinstance(messages, list):
            raise DecodeError("conversation state: messages must be a list")
        conversation = cls(contact=str(data.get("contact")), timer=timer)
        for item in messages:
            message = ChatMessage.from_dict(item)
            conversation.messages[message.message_id] = message
        return conversation
