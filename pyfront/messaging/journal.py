"""The contact journal: the one record a text's step writes (issue 12, deliverable 5).

A contact's state moves with every message: each of the four layers ratchets on every encrypt and
decrypt, so the session inside the contact record changes each time. Writing the contact record and the
message's own record for one text costs two seals (and used to cost three to five). Instead a step of the
steady state writes one record, ``journal/<peer id>``:

    {"version": 1, "contact": <contact record>, "messages": [<message record>, ...]}

``contact`` is exactly what ``contact/<peer id>`` holds (``Contact.to_dict``, read by the same function),
and ``messages`` are the message records written since the last *compaction*, newest state of each. On
load the journal, when there is one, is newer than the records beside it: its contact replaces the
stored contact record and its messages replace their ``message/`` records. A compaction writes the
contact record and every journaled message record and deletes the journal, in one IndexedDB transaction,
so the rule holds at every instant. It runs when the journal holds ``MAX_JOURNAL_MESSAGES`` messages,
when a message's text must leave the disk (deleted for everyone, expired), and when the contact has been
quiet for ``JOURNAL_IDLE_S``.

Its schema is ``JOURNAL`` in ``pyfront.storage.migrations``; this module does no I/O.
"""

from __future__ import annotations

from pyfront.errors import DecodeError
from pyfront.storage.migrations import JOURNAL
from pyfront.storage.records import Record

JOURNAL_STORE = "journal"
#: Journaled messages that force a compaction at the next write (bounds the record: ~300 B each); a sent
#: text that fills the journal is journaled first and compacted after its frame left, and a received
#: text's write journals up to twice this (``Messenger.send_text``, ``Messenger._receive``).
MAX_JOURNAL_MESSAGES = 32
#: A contact without any write for this long has its journal compacted by ``Messenger.tick``.
JOURNAL_IDLE_S = 5.0


def journal_record(contact: Record, messages: list[Record]) -> Record:
    """The record one step writes."""
    return JOURNAL.new(contact=contact, messages=messages)


def open_journal(data: object) -> tuple[Record, list[Record]]:
    """The contact record and message records of a stored journal (``DecodeError`` if malformed)."""
    record = JOURNAL.open(data)
    contact, messages = record.get("contact"), record.get("messages")
    if not isinstance(contact, dict):
        raise DecodeError("contact journal: contact must be an object")
    if not isinstance(messages, list) or not all(isinstance(item, dict) for item in messages):
        raise DecodeError("contact journal: messages must be a list of objects")
    return contact, messages
