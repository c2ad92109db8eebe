"""A chat's index of stored messages, so that a vault opens without reading every message (issue 16).

Every message of a chat stays one sealed record, ``message/<peer id>:<message id>``
(``pyfront.messaging.chat.ChatMessage``). Beside them, the chat's *index* says which messages exist, in
which order, and what must be known of them without reading them, in segments of at most
``SEGMENT_ENTRIES`` entries, ``history/<peer id>:<segment number>`` (schema ``HISTORY_SEGMENT`` in
``pyfront.storage.migrations``)::

    {"version": 1, "entries": [[message id, sent_at, expires_at or null, pinned], ...]}

* ``sent_at`` and the id give the message's place in the chat (``Conversation.ordered``);
* ``expires_at`` lets a disappearing message that was never read from storage expire on time;
* ``pinned`` says that the message is read when the vault opens, whatever its age: a text still on its
  way out (sending, queued, sent: the messenger resends it), a received one not read yet (unread counts,
  read marks), and files (the transfers run from them). ``chat.pinned`` is the rule.

A new message goes into the last segment until it holds ``SEGMENT_ENTRIES``, then a new segment starts:
a segment holds messages in the order they were first stored, and a change rewrites only its segment.
The index on disk may lag behind the messages: it is written with each *compaction*
(``pyfront.messaging.journal``), in the same transaction as the message records it describes, and the
journal holds what changed since. ``pyfront.messaging.paging`` reconciles on load: an entry without a
record is dropped, a record without an entry (a vault from before the index, or a message deleted
directly) is read and indexed.

This module does no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pyfront.errors import DecodeError
from pyfront.storage.migrations import HISTORY_SEGMENT
from pyfront.storage.records import Record

#: Entries per index segment (about 60 bytes each in JSON): a change rewrites one segment of this size.
SEGMENT_ENTRIES = 512
#: The longest segment number's digits in a record key (``history/<peer id>:<number>``).
SEGMENT_DIGITS = 6

Place = tuple[float, str]
"""A message's place in its chat: ``(sent_at, message id)``, the order of ``Conversation.ordered``."""


@dataclass
class _Entry:
    sent_at: float
    expires_at: float | None
    pinned: bool
    segment: int


class HistoryIndex:
    """Every stored message of one chat, by place, whether or not it is in memory."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._order: list[Place] = []
        self._segments: dict[int, set[str]] = {}
        self._expiring: dict[str, float] = {}
        self._dirty: set[int] = set()

    def __repr__(self) -> str:
        return f"<HistoryIndex {len(self._entries)} messages, {len(self._segments)} segments>"

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    # --- changes -----------------------------------------------------------------------------------

    def note(self, message_id: str, sent_at: float, expires_at: float | None, pinned: bool) -> None:
        """A message was stored or changed (its segment is written with the next compaction)."""
        entry = self._entries.get(message_id)
        if entry is None:
            segment = self._open_segment()
            self._entries[message_id] = _Entry(sent_at, expires_at, pinned, segment)
            self._segments.setdefault(segment, set()).add(message_id)
            bisect.insort(self._order, (sent_at, message_id))
            self._dirty.add(segment)
        elif (entry.sent_at, entry.expires_at, entry.pinned) != (sent_at, expires_at, pinned):
            if entry.sent_at != sent_at:
                self._order.remove((entry.sent_at, message_id))
                bisect.insort(self._order, (sent_at, message_id))
            entry.sent_at, entry.expires_at, entry.pinned = sent_at, expires_at, pinned
            self._dirty.add(entry.segment)
        if expires_at is None:
            self._expiring.pop(message_id, None)
        else:
            self._expiring[message_id] = expires_at

    def remove(self, message_ids: Iterable[str]) -> None:
        """Messages deleted (for me, expired, the whole chat)."""
        for message_id in message_ids:
            entry = self._entries.pop(message_id, None)
            if entry is None:
                continue
            place = (entry.sent_at, message_id)
            index = bisect.bisect_left(self._order, place)
            if index < len(self._order) and self._order[index] == place:
                del self._order[index]
            self._segments[entry.segment].discard(message_id)
            self._expiring.pop(message_id, None)
            self._dirty.add(entry.segment)

    def _open_segment(self) -> int:
        last = max(self._segments, default=0)
        if len(self._segments.get(last, ())) >= SEGMENT_ENTRIES:
            return last + 1
        return last

    # --- what the chat asks -----------------------------------------------------------------------

    def place(self, message_id: str) -> Place | None:
        entry = self._entries.get(message_id)
        return None if entry is None else (entry.sent_at, message_id)

    def before(self, place: Place, count: int) -> list[str]:
        """The ids of up to ``count`` messages just older than ``place``, oldest first."""
        end = bisect.bisect_left(self._order, place)
        return [message_id for _, message_id in self._order[max(0, end - count) : end]]

    def after(self, place: Place, count: int) -> list[str]:
        """The ids of up to ``count`` messages just newer than ``place``, oldest first."""
        start = bisect.bisect_right(self._order, place)
        return [message_id for _, message_id in self._order[start : start + count]]

    def newest(self, count: int) -> list[str]:
        return [message_id for _, message_id in self._order[-count:]] if count > 0 else []

    def newest_first(self) -> list[str]:
        return [message_id for _, message_id in reversed(self._order)]

    def pinned(self) -> list[str]:
        return [message_id for message_id, entry in self._entries.items() if entry.pinned]

    def due(self, now: float) -> list[str]:
        """The messages whose disappearing time has come."""
        return [message_id for message_id, when in self._expiring.items() if when <= now]

    # --- storage ----------------------------------------------------------------------------------

    def absorb(self, segment: int, data: object) -> None:
        """A stored segment, read on load (``DecodeError`` if malformed: nothing of it is taken)."""
        record = HISTORY_SEGMENT.open(data)
        entries = record.get("entries")
        if not isinstance(entries, list):
            raise DecodeError(f"{HISTORY_SEGMENT.kind}: entries must be a list")
        parsed = [_parse_entry(item) for item in entries]
        ids: set[str] = self._segments.setdefault(segment, set())
        for message_id, sent_at, expires_at, pinned in parsed:
            if message_id in self._entries:
                continue  # listed twice (a crash between two segment writes cannot do it, but be safe)
            self._entries[message_id] = _Entry(sent_at, expires_at, pinned, segment)
            ids.add(message_id)
            self._order.append((sent_at, message_id))
            if expires_at is not None:
                self._expiring[message_id] = expires_at
        self._order.sort()

    def changes(self) -> tuple[dict[int, Record], list[int]]:
        """The segments changed since the last call: records to write, and emptied ones to delete."""
        puts: dict[int, Record] = {}
        deletes: list[int] = []
        for segment in sorted(self._dirty):
            ids = self._segments.get(segment, set())
            if not ids:
                deletes.append(segment)
                self._segments.pop(segment, None)
                continue
            listed = sorted((self._entries[message_id].sent_at, message_id) for message_id in ids)
            entries = [
                [message_id, sent_at, self._entries[message_id].expires_at, self._entries[message_id].pinned]
                for sent_at, message_id in listed
            ]
            puts[segment] = HISTORY_SEGMENT.new(entries=entries)
        self._dirty.clear()
        return puts, deletes

    def mark_all_dirty(self) -> None:
        self._dirty.update(self._segments)


def segment_key(peer_id: str, segment: int) -> str:
    return f"{peer_id}:{segment:0{SEGMENT_DIGITS}d}"


def segment_number(key: str) -> int:
    number = key.rpartition(":")[2]
    if not number.isdigit() or len(number) > SEGMENT_DIGITS:
        raise DecodeError(f"{HISTORY_SEGMENT.kind}: bad key {key!r}")
    return int(number)


def _parse_entry(item: object) -> tuple[str, float, float | None, bool]:
    if not isinstance(item, list) or len(item) != 4:
        raise DecodeError(f"{HISTORY_SEGMENT.kind}: an entry must be [id, sent_at, expires_at, pinned]")
    message_id, sent_at, expires_at, pinned = item
    if not isinstance(message_id, str) or not message_id:
        raise DecodeError(f"{HISTORY_SEGMENT.kind}: an entry's id must be a string")
    if isinstance(sent_at, bool) or not isinstance(sent_at, int | float):
        raise DecodeError(f"{HISTORY_SEGMENT.kind}: an entry's sent_at must be a number")
    if expires_at is not None and (isinstance(expires_at, bool) or not isinstance(expires_at, int | float)):
        raise DecodeError(f"{HISTORY_SEGMENT.kind}: an entry's expires_at must be a number or null")
    if not isinstance(pinned, bool):
        raise DecodeError(f"{HISTORY_SEGMENT.kind}: an entry's pinned must be true or false")
    return message_id, float(sent_at), None if expires_at is None else float(expires_at), pinned
