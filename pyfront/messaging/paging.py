"""Reading a chat's messages from storage a page at a time (issue 16, "Long histories").

When the vault opens, ``load_history`` reads, for each chat, its index (``pyfront.messaging.history``:
one record per ``SEGMENT_ENTRIES`` messages), the newest ``FIRST_PAGE`` messages and the *pinned* ones
(``chat.pinned``: on their way out, unread, files), instead of every message record. Older messages are
read when they are asked for: ``read_messages`` (the chat view scrolled up, a search, a receipt or a
deletion naming a message not read yet: ``wanted_by``). What stays in storage still counts: a duplicate
is recognised by the index, and a disappearing message expires from its index entry
(``Conversation.expire``).

The index is reconciled with the message records on every load, so a vault written before the index
(release d165a45 and later, until this module) opens as before: each message record without an entry is
read once and indexed, and the rebuilt index is written at once; an entry whose record is gone is dropped.

It does I/O only through the ``Store`` port (``pyfront.messaging.contact``), as the messenger does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import Any

from pyfront.errors import DecodeError
from pyfront.messaging.chat import ChatMessage, Conversation
from pyfront.messaging.contact import Store, hex_id
from pyfront.messaging.history import segment_key, segment_number
from pyfront.session.content import AppMessage, Delete, DeliveryAck, DisappearingTimer, ReadReceipt

MESSAGE_STORE = "message"
HISTORY_STORE = "history"
#: Messages of each chat read when the vault opens (the newest; the chat view's first page).
FIRST_PAGE = 40
#: Message records requested from the store at once (their reads and unsealing overlap).
READ_BATCH = 64
#: The largest batch a search reads from storage before it looks at what it read (``search_batches``).
SEARCH_BATCH = 512


async def load_history(
    store: Store, peer_id: str, conversation: Conversation, journaled: list[ChatMessage], problems: list[str]
) -> None:
    """Read ``peer_id``'s index, reconcile it with the stored records, and read the messages the chat
    needs at once: the journal's (``journaled``, newer than their records), the pinned ones and the
    newest page. An unreadable index segment is noted in ``problems`` and rebuilt from the records."""
    index = conversation.index
    stored = {key.partition(":")[2] for key in await store.keys(MESSAGE_STORE, f"{peer_id}:")}
    unreadable: list[tuple[str, str]] = []
    for key in await store.keys(HISTORY_STORE, f"{peer_id}:"):
        try:
            index.absorb(segment_number(key), await store.get_json(HISTORY_STORE, key))
        except DecodeError as error:
            problems.append(f"{HISTORY_STORE}/{key}: {error}; rebuilt from the messages")
            unreadable.append((HISTORY_STORE, key))
    in_journal = {message.message_id for message in journaled}
    stale = [message_id for message_id in index if message_id not in stored and message_id not in in_journal]
    index.remove(stale)
    unindexed = sorted(message_id for message_id in stored if message_id not in index)
    await read_messages(store, peer_id, conversation, unindexed)
    for message in journaled:
        conversation.messages[message.message_id] = message
        conversation.note(message)
    wanted = dict.fromkeys(index.pinned() + index.newest(FIRST_PAGE))
    await read_messages(store, peer_id, conversation, [i for i in wanted if i not in conversation.messages])
    if stale or unindexed or unreadable:
        puts, deletes = index_writes(peer_id, conversation)
        await store.write(puts, deletes + [key for key in unreadable if key not in deletes])


async def read_messages(
    store: Store, peer_id: str, conversation: Conversation, message_ids: Iterable[str]
) -> list[str]:
    """Read the stored messages ``message_ids`` of the chat that are not in memory yet; returns the ids
    read. A record gone meanwhile (deleted, expired) leaves the index."""
    wanted = [message_id for message_id in message_ids if message_id not in conversation.messages]
    read: list[str] = []
    for start in range(0, len(wanted), READ_BATCH):
        chunk = wanted[start : start + READ_BATCH]
        records = await asyncio.gather(*(store.get_json(MESSAGE_STORE, f"{peer_id}:{i}") for i in chunk))
        for message_id, record in zip(chunk, records, strict=True):
            if record is None:
                conversation.index.remove([message_id])
                continue
            if message_id in conversation.messages:
                continue  # changed in memory while we read: that state is newer
            message = ChatMessage.from_dict(record)
            conversation.messages[message.message_id] = message
            conversation.note(message)
            read.append(message.message_id)
    return read


def search_batches(message_ids: list[str]) -> Iterator[list[str]]:
    """``message_ids`` (a chat's messages not in memory, newest first) in the batches a search reads and
    looks through: ``READ_BATCH`` first, each next one twice the last, up to ``SEARCH_BATCH``. The newest
    matches show after one batch of reads, while a long chat is still read in few large batches (each
    batch costs a turn of the contact's lock and a new look at the matches so far); every id comes once,
    in order."""
    size, start = READ_BATCH, 0
    while start < len(message_ids):
        yield message_ids[start : start + size]
        start += size
        size = min(2 * size, SEARCH_BATCH)


def wanted_by(conversation: Conversation, messages: Iterable[AppMessage]) -> list[str]:
    """The stored messages not in memory that ``messages`` from the contact act on (an acknowledgement,
    a receipt, a deletion, a timer change sent again): read them before applying ``messages``."""
    ids: list[bytes] = []
    for message in messages:
        if isinstance(message, DeliveryAck | ReadReceipt):
            ids += message.message_ids
        elif isinstance(message, Delete):
            ids += message.target_ids
        elif isinstance(message, DisappearingTimer):
            ids.append(message.message_id)
    found = (hex_id(raw) for raw in ids)
    return [i for i in found if i in conversation.index and i not in conversation.messages]


def index_writes(
    peer_id: str, conversation: Conversation
) -> tuple[list[tuple[str, str, Any]], list[tuple[str, str]]]:
    """The chat's index segments changed since the last write: puts and deletes for ``Store.write``."""
    changed, emptied = conversation.index.changes()
    puts = [(HISTORY_STORE, segment_key(peer_id, number), record) for number, record in changed.items()]
    deletes = [(HISTORY_STORE, segment_key(peer_id, number)) for number in emptied]
    return puts, deletes


async def forget_history(store: Store, peer_id: str) -> None:
    """Delete the chat's index (its messages are deleted by the messenger)."""
    for key in await store.keys(HISTORY_STORE, f"{peer_id}:"):
        await store.delete(HISTORY_STORE, key)
