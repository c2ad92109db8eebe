"""The headless device: an identity file, the messenger over aiortc links, and what it prints.

``create_identity`` makes what the page's first-run screen makes (``pyfront.browser.app``): an identity
key, an Olm account, a random PeerJS rendezvous id with its broker token, default settings and the
profile, every record sealed in the identity file. ``HeadlessPeer`` loads them and runs
``pyfront.messaging.messenger.Messenger`` (the page's, unchanged) over ``PeerNetwork``, with the page's
``Courier`` for the server's mailbox (``pyfront.peer.mailbox``: what was deposited while the peer was
down is fetched before it goes online). It ticks the messenger as the page does and is its
``Listener``: each change becomes a line on the ``Console`` (a text received, a tick moving, a contact's
link changing). In echo mode every text received is sent back, once, to whoever sent it (a reply accepts
a message request, as in the page): a test peer and a demo.

The device reads a message when it prints it (its output is its screen): it marks the chat read through
``Messenger.mark_read``, as the page does when the person looks at the chat, so a read receipt is owed
when the read-receipts setting is on, never to a message request (the page's rules: receipts are
reciprocal, and a stranger does not learn when it was read). In echo mode the reply accepts a request
first, so its receipt rides in front of the echo. New identity files have receipts on
(``HEADLESS_SETTINGS``): a bot has no person whose reading time to keep private, and a sender expects
"read" once a bot has answered; ``peer settings --no-read-receipts`` turns them off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import DecodeError, InvalidStateError, ProtocolError
from pyfront.messaging.chat import ChatMessage, Direction, Kind, Status
from pyfront.messaging.contact import Contact, LinkStatus
from pyfront.messaging.courier import Courier
from pyfront.messaging.invite import Invite, parse_link
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.settings import Settings
from pyfront.messaging.signaling import new_peer_id, new_token, valid_peer_id
from pyfront.messaging.transfer.state import Transfer
from pyfront.olm import Account
from pyfront.peer.console import COMMANDS, Command, Console, parse_command
from pyfront.peer.files import PeerFiles
from pyfront.peer.mailbox import ClientHttp, PeerMailbox
from pyfront.peer.network import BrokerStatus, PeerNetwork
from pyfront.peer.store import IdentityFile
from pyfront.session.identity import Identity
from pyfront.session.session import LocalParty
from pyfront.storage.migrations import PROFILE
from pyfront.tasks import TaskSet

#: How often disappearing messages, retransmissions and held acknowledgements are looked at (the page's).
TICK_INTERVAL_S = 0.5
#: Random bytes in the broker token (the page's ``TOKEN_RANDOM_BYTES``).
TOKEN_RANDOM_BYTES = 16
#: How long ``start`` waits for the broker to accept our registration.
REGISTER_TIMEOUT_S = 15.0
#: The longest display name (the page's invite limit).
MAX_NAME_LENGTH = 64
#: A new identity file's settings: the page's defaults, with read receipts on (see the module docstring).
HEADLESS_SETTINGS = Settings(read_receipts=True)


@dataclass(frozen=True)
class Profile:
    """``profile/self``: the display name, the rendezvous id and the broker token (a secret)."""

    name: str
    peer_id: str
    token: str

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, {self.peer_id!r})"


async def create_identity(store: IdentityFile, provider: CryptoProvider, name: str) -> Profile:
    """First run, as the page's onboarding: every record a new device needs, sealed in ``store``
    (``HEADLESS_SETTINGS``: read receipts on)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise DecodeError(f"a display name of 1..{MAX_NAME_LENGTH} characters is needed")
    identity = await Identity.generate(provider)
    account = await Account.create(provider)
    profile = Profile(
        name=name,
        peer_id=new_peer_id(provider.random_bytes(16)),
        token=new_token(provider.random_bytes(TOKEN_RANDOM_BYTES)),
    )
    await store.write(
        [
            ("identity", "self", identity.to_dict()),
            ("olm", "account", account.to_dict()),
            ("settings", "main", HEADLESS_SETTINGS.to_dict()),
            ("profile", "self", PROFILE.new(name=profile.name, peer_id=profile.peer_id, token=profile.token)),
        ],
        [],
    )
    return profile


@dataclass
class LocalDevice:
    """What the identity file holds about us."""

    profile: Profile
    identity: Identity
    account: Account
    settings: Settings

    def invite(self) -> Invite:
        return Invite.for_identity(self.profile.peer_id, self.identity.public_key, self.profile.name)


async def load_device(store: IdentityFile, provider: CryptoProvider) -> LocalDevice:
    """Read our profile, identity key, Olm account and settings (``DecodeError`` if one is missing)."""
    records = {}
    for store_name, key in (
        ("profile", "self"),
        ("identity", "self"),
        ("olm", "account"),
        ("settings", "main"),
    ):
        records[store_name] = await store.get_json(store_name, key)
        if records[store_name] is None:
            raise DecodeError(f"the identity file has no {store_name}/{key} record")
    profile = PROFILE.open(records["profile"])
    try:
        local = Profile(str(profile["name"]), str(profile["peer_id"]), str(profile["token"]))
    except KeyError as error:
        raise DecodeError(f"{PROFILE.kind}: {error} missing") from None
    if not valid_peer_id(local.peer_id):
        raise DecodeError(f"{PROFILE.kind}: {local.peer_id!r} is not a peer id")
    return LocalDevice(
        profile=local,
        identity=await Identity.from_dict(provider, records["identity"]),
        account=Account.from_dict(provider, records["olm"]),
        settings=Settings.from_dict(records["settings"]),
    )


def app_url(server_url: str) -> str:
    """The page's address on ``server_url`` (invite links point at it)."""
    return server_url if server_url.endswith("/") else server_url + "/"


class HeadlessPeer:
    """One running device. ``start``, then ``serve`` until stopped; ``close`` on the way out."""

    def __init__(
        self,
        provider: CryptoProvider,
        store: IdentityFile,
        device: LocalDevice,
        *,
        server_url: str,
        console: Console,
        save_dir: Path,
        echo: bool = False,
    ) -> None:
        self.provider = provider
        self.store = store
        self.device = device
        self.server_url = server_url
        self.console = console
        self.echo = echo
        self.current = ""  # the contact plain lines go to
        self.messenger = Messenger(
            provider,
            store,
            LocalParty(device.identity, device.account),
            display_name=device.profile.name,
            settings=device.settings,
            listener=self,
            clock=time.time,
        )
        self.courier = Courier(
            self.messenger,
            store,
            ClientHttp(),
            provider,
            base_url=device.settings.mailbox_base(app_url(server_url)),
            clock=time.time,
        )
        self.mailbox = PeerMailbox(self.courier, lambda kind, detail: self.console.event(kind, detail=detail))
        self.files = PeerFiles(
            provider,
            self.messenger,
            store,
            save_dir,
            on_progress=self._file_progress,
            on_saved=self._file_saved,
            on_problem=lambda detail: self.console.event("error", detail=detail),
        )
        self._was_online = False
        address = device.settings.broker_address(app_url(server_url))
        self.network = PeerNetwork(
            self.messenger,
            device.settings,
            address,
            peer_id=device.profile.peer_id,
            token=device.profile.token,
            random_bytes=provider.random_bytes,
            on_status=self._broker_changed,
            on_link_error=self._link_error,
        )
        self._shown: dict[str, tuple[str, str]] = {}  # peer id -> the status line last printed
        self._reported: dict[str, Status] = {}  # message id -> the status last printed (or seen)
        self._known: set[str] = set()  # contacts printed (a new one from a caller is a request)
        self._tasks = TaskSet("headless peer")
        self.stopped = asyncio.Event()

    def __repr__(self) -> str:
        return f"<HeadlessPeer {self.device.profile.peer_id}>"

    def invite_link(self) -> str:
        return self.device.invite().link(app_url(self.server_url))

    # --- running --------------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read every contact and chat (``DecodeError`` for a damaged record, as in the page)."""
        await self.messenger.load()
        await self.courier.load()
        for problem in self.messenger.load_problems + self.courier.load_problems:
            self.console.event("error", detail=f"stored record skipped: {problem}")
        await self.files.load()
        for peer_id, contact in self.messenger.contacts.items():
            self._known.add(peer_id)
            for message in contact.conversation.messages.values():
                self._reported[message.message_id] = message.status
            if contact.conversation.unread:  # printed by an earlier run that did not mark it (a crash)
                await self.messenger.mark_read(peer_id)

    async def start(self, register_timeout: float = REGISTER_TIMEOUT_S) -> None:
        """Read the mailbox (what waited while we were down), register at the broker
        (``BrokerUnreachable`` or ``BrokerRefused`` when it has not accepted us within
        ``register_timeout``), then tick and run the courier."""
        await self.mailbox.first_fetch()
        self.network.start()
        await self.network.broker.wait_registered(register_timeout)
        self.mailbox.start()
        self.files.start()
        self._tasks.spawn(self._tick_forever())

    async def serve(self, lines: AsyncIterator[str] | None) -> None:
        """Carry out the commands read from ``lines`` (stdin) until ``/quit`` or ``stop``; the end of
        ``lines`` ends only the input (an always-on device runs with stdin closed)."""
        if lines is not None:
            self._tasks.spawn(self._read(lines))
        await self.stopped.wait()

    def stop(self) -> None:
        self.stopped.set()

    async def close(self) -> None:
        self._tasks.cancel_all()
        await self.mailbox.close()
        await self.files.close()
        await self.network.close()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL_S)
            try:
                await self.messenger.tick()
            except ProtocolError as error:
                self.console.event("error", detail=f"tick: {error}")

    async def _read(self, lines: AsyncIterator[str]) -> None:
        async for line in lines:
            if not line.strip():
                continue
            try:
                await self.run_command(parse_command(line))
            except ProtocolError as error:
                self.console.event("error", detail=str(error))

    # --- commands -------------------------------------------------------------------------------------

    async def run_command(self, command: Command) -> None:
        """One command typed to the peer (``console.parse_command``); errors raise ``ProtocolError``."""
        if command.name == "quit":
            self.stop()
        elif command.name == "help":
            for usage in COMMANDS.values():
                self.console.event("info", detail=usage)
        elif command.name == "invite":
            self.console.event("invite", link=self.invite_link())
        elif command.name == "contacts":
            for contact in self.messenger.ordered_contacts():
                self._print_contact(contact)
        elif command.name == "connect":
            await self.connect(command.contact)
        elif command.name == "accept":
            await self.messenger.accept(self.find(command.contact))
        elif command.name == "to":
            self.current = self.find(command.contact)
            self.console.event("info", self.current, detail="plain lines go to this contact now")
        elif command.name == "msg":
            await self.send(self.find(command.contact), command.text)
        elif command.name == "send":
            peer_id = self.find(command.contact)
            message = await self.files.send_path(peer_id, command.text, time.time())
            self.current = peer_id
            self._report(peer_id, message.message_id)
        else:
            if not self.current:
                raise InvalidStateError("no contact chosen yet: /to CONTACT, or /msg CONTACT TEXT")
            await self.send(self.current, command.text)

    def find(self, name_or_id: str) -> str:
        """A contact's peer id from its peer id or a name only one contact has."""
        if name_or_id in self.messenger.contacts:
            return name_or_id
        named = [peer for peer, contact in self.messenger.contacts.items() if contact.name == name_or_id]
        if len(named) == 1:
            return named[0]
        if named:
            raise InvalidStateError(f"{len(named)} contacts are named {name_or_id!r}: use a peer id")
        raise InvalidStateError(f"no contact {name_or_id!r} (/contacts lists them)")

    async def connect(self, link_or_peer: str) -> str:
        """Add the contact an invite link (or a bare peer id: trust on first use) names, and call it."""
        if "#" in link_or_peer:
            invite = parse_link(link_or_peer)
            peer_id, name, fingerprint = invite.peer_id, invite.name, invite.fingerprint
        elif valid_peer_id(link_or_peer):
            peer_id, name, fingerprint = link_or_peer, "", None
        else:
            raise DecodeError("give an invite link, or a peer id (letters, digits, - and _)")
        if peer_id == self.device.profile.peer_id:
            raise InvalidStateError("this is our own invite link")
        await self.messenger.add_contact(peer_id, name=name, invite_fingerprint=fingerprint)
        self._known.add(peer_id)
        self.current = self.current or peer_id
        self._tasks.spawn(self.network.dial_now(peer_id))
        return peer_id

    async def send(self, peer_id: str, text: str) -> None:
        message = await self.messenger.send_text(peer_id, text)
        self.current = peer_id
        self._report(peer_id, message.message_id)

    # --- messenger.Listener ---------------------------------------------------------------------------

    def contacts_changed(self) -> None:
        for peer_id, contact in self.messenger.contacts.items():
            if peer_id not in self._known:
                self._known.add(peer_id)
                kind = "request" if contact.request else "contact"
                self.console.event(kind, peer_id, name=contact.name)

    def messages_changed(self, peer_id: str, changed: list[str], removed: list[str]) -> None:
        for message_id in changed:
            self._report(peer_id, message_id)
        for message_id in removed:
            self._reported.pop(message_id, None)

    def contact_status_changed(self, peer_id: str) -> None:
        contact = self.messenger.contacts.get(peer_id)
        if contact is None:
            return
        self.files.link_status(peer_id, contact.status is LinkStatus.READY)
        shown = (contact.status.value, contact.error)
        if self._shown.get(peer_id) == shown:
            return
        self._shown[peer_id] = shown
        self.console.event("status", peer_id, state=contact.status.value, detail=contact.error)

    def _report(self, peer_id: str, message_id: str) -> None:
        contact = self.messenger.contacts.get(peer_id)
        message = None if contact is None else contact.conversation.messages.get(message_id)
        if contact is None or message is None or self._reported.get(message_id) is message.status:
            return
        previous = self._reported.get(message_id)
        first = previous is None
        self._reported[message_id] = message.status
        if first and message.kind is Kind.FILE:
            self._print_file(peer_id, contact, message)
        if message.direction is Direction.INCOMING:
            if first and message.kind is Kind.TEXT:
                self.console.event("message", peer_id, id=message_id, name=contact.name, text=message.text)
                if self.current == "":
                    self.current = peer_id
            if first and message.kind in (Kind.TEXT, Kind.FILE):  # printed: read
                echo = message.text if self.echo and message.kind is Kind.TEXT else None
                self._tasks.spawn(self._printed(peer_id, echo))
            return
        if message.kind in (Kind.TEXT, Kind.FILE):
            if message.status is Status.READ and previous is not Status.DELIVERED:
                # A receipt that came with the acknowledgement: read means delivered, and a script that
                # waits for "delivered" still sees it.
                self.console.event(Status.DELIVERED.value, peer_id, id=message_id)
            self.console.event(message.status.value, peer_id, id=message_id)

    async def _printed(self, peer_id: str, echo: str | None) -> None:
        """A message of ``peer_id`` was printed: the chat is read (a receipt is owed if the setting is on
        and the contact is not a request), then ``echo``, if any, goes back; a reply accepts a request
        first, so the receipt rides in front of it."""
        try:
            if echo is not None:
                await self.messenger.accept(peer_id)
            await self.messenger.mark_read(peer_id)
            if echo is not None:
                await self.messenger.send_text(peer_id, echo)
        except ProtocolError as error:
            what = "echo" if echo is not None else "marking read"
            self.console.event("error", peer_id, detail=f"{what} failed: {error}")

    def _print_file(self, peer_id: str, contact: Contact, message: ChatMessage) -> None:
        attachment = message.attachment if isinstance(message.attachment, dict) else {}
        self.console.event(
            "file",
            peer_id,
            id=message.message_id,
            direction=message.direction.value,
            size=str(attachment.get("size", "")),
            name=contact.name,
            file=str(attachment.get("name", "")),
        )

    def _file_progress(self, transfer: Transfer, detail: str) -> None:
        self.console.event(
            "progress",
            transfer.peer_id,
            id=transfer.file_id.hex(),
            state=transfer.phase.value,
            done=f"{transfer.done}/{transfer.chunks}",
            percent=f"{int(transfer.progress * 100)}%",
            detail=detail,
        )

    def _file_saved(self, transfer: Transfer, path: Path) -> None:
        self.console.event("saved", transfer.peer_id, id=transfer.file_id.hex(), path=str(path))

    def _print_contact(self, contact: Contact) -> None:
        state = "request" if contact.request else contact.status.value
        self.console.event("contact", contact.peer_id, name=contact.name, state=state)

    def _broker_changed(self, status: BrokerStatus, detail: str) -> None:
        if status is BrokerStatus.ONLINE:
            self.console.event("online", self.device.profile.peer_id)
            if self._was_online:  # back after a loss: what waited in the mailbox meanwhile
                self.mailbox.back_online()
            self._was_online = True
        else:
            self.console.event("broker", state=status.value, detail=detail)

    def _link_error(self, peer_id: str, detail: str) -> None:
        self.console.event("error", peer_id, detail=detail)
