"""The courier: the messenger's mail through the server's mailbox while a contact is unreachable
(DESIGN.md section 5, "Offline delivery"; docs/mailbox.md).

* **Grants.** Whenever a contact's session is ready on a new link, we send it a ``MailboxGrant`` with
  the link's first messages (the messenger's ready hook; a step sends any still owed, after a settings
  change): the address of the mailbox we fetch for that contact (made, or rotated, first:
  ``ContactMailboxes``) and the mailbox server's URL; with the mailbox turned off in the settings, a
  withdrawal. Grants received are stored in ``mailbox/<peer id>``.
* **Deposits.** A text (or a timer change) still ``sending`` ``MAILBOX_AFTER_S`` after it was written,
  to a contact with no link, is sealed on the contact's session (``Session.seal_offline``: all four
  layers, the Data frame a data channel would carry) and deposited at the address the contact granted;
  it then shows ``queued``. Delivery acknowledgements owed to an unreachable contact go the same way.
  The layer states are stored before any envelope leaves; an envelope whose deposit failed is sealed
  again next time (the receiver's layers skip the lost one).
* **Fetches** (``fetch_all``: on start, when back online, when a contact connects, and every
  ``POLL_INTERVAL_S`` for every contact): each of our mailboxes, oldest first, is read in
  deposit order; each batch is opened on that contact's session (``Session.open_offline_batch``: the
  layers as a pipeline, or one by one if any envelope is refused) and each envelope applied as if it
  came over the data channel; the batch is stored in one write, shown, and only then
  acknowledged (the server deletes it).
  A crash before the acknowledgement fetches the batch again: its frames fail the outer layer's replay
  check (or, decrypted again, are duplicates by message id), so nothing shows twice. An envelope that
  cannot be opened is acknowledged too (counted in ``rejected``); the sender's text stays ``queued``
  and goes again over the next direct connection.

All HTTP goes through the ``MailboxHttp`` port (``pyfront.browser.mailbox`` in the page; the headless
peer brings its own). The courier works on the messenger's contacts under their locks and uses the
messenger's own steps for applying and storing messages. This module does no I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import DecodeError, ProtocolError
from pyfront.messaging.chat import Direction, Kind, Status
from pyfront.messaging.contact import Contact, Store
from pyfront.messaging.mailbox_wire import (
    MAX_ACK_COUNT,
    MailboxError,
    ack_body,
    deposit_body,
    fetch_body,
    parse_error,
    parse_fetch,
)
from pyfront.messaging.mailboxes import MAILBOX_STORE, ContactMailboxes, OwnMailbox
from pyfront.messaging.messenger import Messenger
from pyfront.session.content import (
    ID_LENGTH,
    MAILBOX_ADDRESS_LENGTH,
    MAILBOX_PROTOCOL_VERSION,
    MAX_IDS,
    AppMessage,
    DeliveryAck,
    MailboxGrant,
)
from pyfront.session.session import SessionState

MAILBOX_AFTER_S = 2.0
"""A message waits this long for a connection before it is deposited."""
DEPOSIT_BATCH = 64
"""Envelopes sealed and deposited per contact per step."""
POLL_INTERVAL_S = 30.0
"""How often every mailbox is fetched (also a connected contact's: what it left just as it connected)."""
_DEPOSITABLE = (Kind.TEXT, Kind.TIMER_CHANGED)


class MailboxHttp(Protocol):
    """One HTTP ``POST`` of a binary body: the status and the answer's bytes. Raises ``MailboxError``
    (code ``unreachable``) when no answer comes."""

    async def post(self, url: str, body: bytes) -> tuple[int, bytes]: ...


class Courier:
    """Grants, deposits and fetches for every contact of one messenger."""

    def __init__(
        self,
        messenger: Messenger,
        store: Store,
        http: MailboxHttp,
        provider: CryptoProvider,
        *,
        base_url: str,
        clock: Callable[[], float],
    ) -> None:
        self.messenger = messenger
        self.base_url = base_url
        self._store = store
        self._http = http
        self._provider = provider
        self._clock = clock
        self._offset_ms = 0
        self.boxes: dict[str, ContactMailboxes] = {}
        self._granted: dict[str, Any] = {}
        self._grants: list[tuple[str, MailboxGrant]] = []
        self._connected: set[str] = set()  # granted as they became ready: their mailboxes are read next step
        self._fetching = asyncio.Lock()
        self.polled_at = 0.0
        #: The last error (shown in the log), and counts for tests and the benchmark.
        self.error = ""
        self.deposited = 0
        self.fetched = 0
        self.rejected = 0
        self.load_problems: list[str] = []
        #: Seconds spent opening, storing and showing fetched batches, and waiting for HTTP (benchmark).
        self.spent: dict[str, float] = {}
        messenger.message_hooks.append(self._on_message)
        messenger.ready_hooks.append(self._on_ready)

    def __repr__(self) -> str:
        return f"<Courier {len(self.boxes)} contacts, {self.deposited} deposited, {self.fetched} fetched>"

    @property
    def enabled(self) -> bool:
        return self.messenger.settings.mailbox

    async def load(self) -> None:
        """Read every ``mailbox/<peer id>`` record; a malformed one is skipped (``load_problems``)."""
        for peer_id in await self._store.keys(MAILBOX_STORE):
            try:
                self.boxes[peer_id] = ContactMailboxes.from_dict(
                    await self._store.get_json(MAILBOX_STORE, peer_id)
                )
            except DecodeError as error:
                self.load_problems.append(f"{error}; ignored")

    def settings_changed(self, base_url: str) -> None:
        """The mailbox was turned on or off or pointed elsewhere: every ready contact gets a new grant
        (or the withdrawal) at the next step."""
        self.base_url = base_url
        self._granted.clear()

    def _on_message(self, contact: Contact, message: AppMessage) -> None:
        if isinstance(message, MailboxGrant):
            self._grants.append((contact.peer_id, message))

    async def _save(self, box: ContactMailboxes) -> None:
        await self._store.put_json(MAILBOX_STORE, box.peer_id, box.to_dict())

    def _box(self, peer_id: str) -> ContactMailboxes:
        return self.boxes.setdefault(peer_id, ContactMailboxes(peer_id))

    # --- one step: grants in and out, deposits ----------------------------------------------------

    async def step(self) -> None:
        """Store the grants received, send ours to contacts still owed one, read the mailboxes of those
        just connected, deposit what is due."""
        now = self._clock()
        await self._take_grants()
        connected, self._connected = self._connected, set()
        connected.update(await self._grant_ready(now))
        if connected:  # what they left while away is read now, not at the next poll
            await self.fetch_all(peers=connected)
        if self.enabled:
            await self._deposit_due(now)

    async def _take_grants(self) -> None:
        grants, self._grants = self._grants, []
        for peer_id, grant in grants:
            if peer_id in self.messenger.contacts and self._box(peer_id).take_grant(grant):
                await self._save(self._box(peer_id))

    async def _on_ready(self, contact: Contact) -> None:
        """The messenger's ready hook (under the contact's lock): our grant leaves with the connection's
        first messages, so that a connection, however short, gives the contact somewhere to deposit."""
        if self._grant_owed(contact) and await self._send_grant(contact, self._clock()):
            self._connected.add(contact.peer_id)

    def _grant_owed(self, contact: Contact) -> bool:
        link = contact.link
        return (
            contact.session.state is SessionState.READY
            and link is not None
            and self._granted.get(contact.peer_id) is not link
        )

    async def _grant_ready(self, now: float) -> list[str]:
        """Send a grant (or the withdrawal) to each contact ready on a link it has none on (the settings
        changed since, or its grant could not leave when it became ready); returns them."""
        connected = []
        for peer_id, contact in list(self.messenger.contacts.items()):
            if not self._grant_owed(contact):
                continue
            async with contact.lock:
                if self._grant_owed(contact) and await self._send_grant(contact, now):
                    connected.append(peer_id)
        return connected

    async def _send_grant(self, contact: Contact, now: float) -> bool:
        """Under the contact's lock: send our grant, or with the mailbox turned off the withdrawal (a new
        mailbox first when one is due: its key is stored before its address leaves)."""
        box = self._box(contact.peer_id)
        if self.enabled:
            if box.needs_new(self.base_url, now):
                await box.rotate(self._provider, self.base_url, now)
                await self._save(box)
            current = box.current
            assert current is not None
            grant = current.grant()
        else:
            if box.retire_all(now):
                await self._save(box)
            grant = MailboxGrant(
                MAILBOX_PROTOCOL_VERSION,
                self._provider.random_bytes(ID_LENGTH),
                bytes(MAILBOX_ADDRESS_LENGTH),
                "",
            )
        link = contact.link
        if not await self.messenger._send(contact, grant):
            return False
        self._granted[contact.peer_id] = link
        return True

    async def _deposit_due(self, now: float) -> None:
        for peer_id, contact in list(self.messenger.contacts.items()):
            theirs = self.boxes.get(peer_id, ContactMailboxes(peer_id)).theirs
            if theirs is None or contact.link is not None or not contact.session.can_seal_offline:
                continue
            waiting = [  # one pass over the chat each second; only what waits is sorted
                message
                for message in contact.conversation.messages.values()
                if message.status is Status.SENDING
                and message.direction is Direction.OUTGOING
                and message.kind in _DEPOSITABLE
                and now - message.sent_at >= MAILBOX_AFTER_S
            ]
            due = sorted(waiting, key=lambda message: (message.sent_at, message.message_id))[:DEPOSIT_BATCH]
            if not due and not contact.unacked:
                continue
            try:
                await self._deposit(contact, theirs.url, theirs.address, due, now)
            except MailboxError as error:
                self.error = str(error)

    async def _deposit(self, contact: Contact, url: str, address: bytes, due: list[Any], now: float) -> None:
        messenger = self.messenger
        async with contact.lock:
            if contact.link is not None or not contact.session.can_seal_offline:
                return  # connected while we waited for the lock: the messenger sends directly
            sealed: list[tuple[list[bytes], str | None, bytes]] = []
            owed, contact.unacked = contact.unacked, []
            for start in range(0, len(owed), MAX_IDS):
                chunk = owed[start : start + MAX_IDS]
                sealed.append(
                    (chunk, None, await contact.session.seal_offline(DeliveryAck(tuple(chunk)), now))
                )
            for message in due:
                frame = await contact.session.seal_offline(messenger._wire_message(message), now)
                sealed.append(([], message.message_id, frame))
            await messenger._save_contact(contact)  # the layers moved: stored before anything leaves
            queued: list[str] = []
            try:
                for index, (_, message_id, frame) in enumerate(sealed):
                    try:
                        await self._post(f"{url}/deposit", deposit_body(address, frame))
                    except MailboxError:
                        for unsent, _, _ in sealed[index:]:  # still owed, next time
                            contact.unacked = unsent + contact.unacked
                        raise
                    self.deposited += 1
                    if message_id is not None and contact.conversation.update_status(
                        message_id, Status.QUEUED, now
                    ):
                        messenger._save_message(contact, contact.conversation.messages[message_id])
                        queued.append(message_id)
            finally:
                if queued:
                    await messenger._save_contact(contact)
                    messenger._listener.messages_changed(contact.peer_id, queued, [])

    # --- fetching ---------------------------------------------------------------------------------

    def poll_due(self) -> bool:
        """Is the periodic fetch of every mailbox due (``POLL_INTERVAL_S`` after the last one began)?"""
        return self.enabled and self._clock() - self.polled_at >= POLL_INTERVAL_S

    async def fetch_all(self, *, peers: Collection[str] | None = None) -> int:
        """Fetch, open, store, show and acknowledge the envelopes in every mailbox we hold (of ``peers``
        only, when given); the number of messages newly shown. Mailboxes are read even with the mailbox
        turned off (what is there was left before). One fetch at a time.

        Only a fetch of every mailbox counts as the poll (``polled_at``): a contact's own fetch when it
        connects must not put off reading the others, nor what that contact leaves once it was read."""
        async with self._fetching:
            if peers is None:
                self.polled_at = self._clock()
            shown = 0
            for peer_id, box in list(self.boxes.items()):
                contact = self.messenger.contacts.get(peer_id)
                if contact is None or (peers is not None and peer_id not in peers):
                    continue
                box.prune(self._clock())
                for own in list(box.own):
                    try:
                        shown += await self._fetch_mailbox(contact, own)
                    except MailboxError as error:
                        self.error = str(error)
            await self._take_grants()
            return shown

    async def _fetch_mailbox(self, contact: Contact, own: OwnMailbox) -> int:
        shown = 0
        after = 0
        provider, seed, key = self._provider, own.seed, own.public_key
        while True:

            def fetch(time_ms: int, after: int = after) -> Awaitable[bytes]:
                return fetch_body(provider, seed, key, time_ms=time_ms, after=after)

            fetched = parse_fetch(await self._signed(f"{own.url}/fetch", fetch))
            if not fetched.envelopes:
                return shown
            shown += await self._open(contact, [envelope for _, envelope in fetched.envelopes])
            seqs = [seq for seq, _ in fetched.envelopes]
            for start in range(0, len(seqs), MAX_ACK_COUNT):

                def ack(
                    time_ms: int, chunk: list[int] = seqs[start : start + MAX_ACK_COUNT]
                ) -> Awaitable[bytes]:
                    return ack_body(provider, seed, key, time_ms=time_ms, seqs=chunk)

                await self._signed(f"{own.url}/ack", ack)
            after = seqs[-1]
            if not fetched.more:
                return shown

    async def _open(self, contact: Contact, envelopes: list[bytes]) -> int:
        """Open a batch in order and apply it: one write, then the screens are told."""
        messenger = self.messenger
        changed: dict[str, None] = {}
        async with contact.lock:
            timer = compact = False
            started = self._clock()
            try:
                opened_all = await contact.session.open_offline_batch(envelopes, self._clock())
                for message in opened_all:
                    if isinstance(message, ProtocolError):
                        self.rejected += 1  # already read (a fetch repeated after a crash), or not for us
                        continue
                    self.fetched += 1
                    ids, urgency = messenger._delivered(contact, message)
                    changed.update(dict.fromkeys(ids))
                    timer = timer or urgency.value == "timer"
                    compact = compact or urgency.value == "compact"
            finally:  # what was opened is stored even if the batch stops half-way (its frames read)
                opened = self._clock()
                if timer:
                    await messenger._save_chat_meta(contact)
                await messenger._save_contact(contact, compact=compact)
                stored = self._clock()
                self._spend("open", opened - started)
                self._spend("store", stored - opened)
        if changed:
            messenger._listener.messages_changed(contact.peer_id, list(changed), [])
            messenger._listener.contacts_changed()
            self._spend("show", self._clock() - stored)
        messages = contact.conversation.messages
        return len([i for i in changed if i in messages and messages[i].direction is Direction.INCOMING])

    def _spend(self, phase: str, seconds: float) -> None:
        self.spent[phase] = self.spent.get(phase, 0.0) + seconds

    # --- HTTP -------------------------------------------------------------------------------------

    async def _post(self, url: str, body: bytes) -> bytes:
        status, answer = await self._http.post(url, body)
        if status != 200:
            raise parse_error(status, answer)
        return answer

    async def _signed(self, url: str, make: Callable[[int], Awaitable[bytes]]) -> bytes:
        """A signed request, made again once with the server's time if our clock is off."""
        for attempt in range(2):
            body = await make(int(self._clock() * 1000) + self._offset_ms)
            started = self._clock()
            status, answer = await self._http.post(url, body)
            self._spend("http", self._clock() - started)
            if status == 200:
                return answer
            error = parse_error(status, answer)
            if error.code == "clock" and error.server_time_ms is not None and attempt == 0:
                self._offset_ms = error.server_time_ms - int(self._clock() * 1000)
                continue
            raise error
        raise MailboxError(0, "clock", "the mailbox server's clock could not be matched")
