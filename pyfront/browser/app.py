"""The messenger app in the page: start-up, first run, unlock, and the screens after it (issue 8).

``run(root_hash)`` is called by ``pyfront.browser.main.start`` once Python is up. It remembers an invite
link's fragment (``#invite?...``, never sent to the server) and removes it from the address bar, opens
IndexedDB (``storage``) and:

* with no vault yet: the first-run screen (``views.onboarding``): a display name, an optional
  passphrase, optionally a passkey (``passkey_unlock.create``); the identity key, the Olm account, a
  random PeerJS rendezvous id and default ``Settings`` are created on this device and stored sealed, and
  the browser is asked to keep the site's storage (``persistence``);
* with a protected vault: the unlock screen (``views.unlock``, with ``views.passkeys.unlock_option`` when
  passkeys are registered); a wrong passphrase or passkey is refused and nothing changes;
* with an unprotected vault: straight in, with a visible warning;
* then the messenger (``messenger.Messenger``) loads every contact and chat, the network
  (``network.Network``) registers at the broker, and the home screen (``views.home``) shows the chats;
  an invite link opened on the way asks "connect to ...?" first (connecting shows the contact our
  address, so it is the person's decision).

A QR code scanned with the camera (``views.scan``) is either an invite, which goes through the same
"connect to ...?" prompt as an opened link, or, from the safety screen, the contact's safety code, which
marks the contact verified only if ``verify_safety_qr`` finds it matches both identity keys.

Notifications (off by default, ``Settings.notifications``): turning them on asks the browser's
permission (refused: the setting is not saved); then, only while the tab is hidden, a new message shows
"New message from <name>", never its text (notifications appear on lock screens and in other apps); a
message request's shows only "New message request" (its name is whatever the stranger chose).

Message requests (``messenger`` docstring): the home screen lists them apart; their chat offers Accept
and Delete and block; Settings lists the blocked peer ids with Unblock.

Screens (``<html data-screen=...>``): onboarding, unlock, home, invite, scan, chat, safety, settings.
Stored records (all sealed): ``profile/self`` (name, peer id, broker token), ``identity/self``,
``olm/account``, ``settings/main``, ``notice/backup`` (the backup prompt, ``notices``), and the
messenger's ``contact/*``, ``chat/*``, ``message/*``, ``block/list``.

Settings also lists the passkeys (add, remove: ``views.passkeys``) and the storage's persistence, with
what clearing site data does (``views.safekeeping``); home and chat show the backup prompt once there is
a contact, until a backup is exported or the person says "not now".
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import js

from pyfront.browser import appearance, layout, notices, passkey_unlock, persistence, site, ui, warm, webauthn
from pyfront.browser.js_values import js_object
from pyfront.browser.storage import IndexedDb, SealedStorage
from pyfront.browser.views import (
    invite_prompt,
    onboarding,
    passkeys,
    protection,
    safekeeping,
    safety,
    scan,
    unlock,
)
from pyfront.browser.views import settings as settings_view
from pyfront.crypto.provider import CryptoProvider
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, ProtocolError
from pyfront.messaging.chat import Direction, Kind
from pyfront.messaging.deployment import Deployment
from pyfront.messaging.invite import Invite, parse_fragment, parse_link
from pyfront.messaging.settings import Settings
from pyfront.messaging.signaling import new_peer_id, new_token, valid_peer_id
from pyfront.session.identity import Identity, safety_number, safety_qr_payload, verify_safety_qr
from pyfront.storage.migrations import PROFILE
from pyfront.storage.vault import Vault
from pyfront.storage.vault_header import PasskeyWrap, VaultHeader
from pyfront.tasks import TaskSet

if TYPE_CHECKING:  # the protocol stack loads after the first screen (warm.import_protocol_stack)
    from pyfront.browser.files import PageTransfers
    from pyfront.browser.mailbox import MailboxLoop
    from pyfront.browser.manual_screen import ManualScreen
    from pyfront.browser.network import Network
    from pyfront.browser.views import home
    from pyfront.browser.views.conversation import ConversationView
    from pyfront.messaging.messenger import Messenger
    from pyfront.messaging.transfer.state import Transfer

APP_CONTAINER_ID = "messenger"
TOKEN_RANDOM_BYTES = 16
#: How often disappearing messages, handshake retransmissions and "typing…" are looked at.
TICK_INTERVAL_S = 0.5
BACKUP_FILE_NAME = "parley-backup.parley"
NOTIFICATION_TITLE = "Parley"


class App:
    """The running app: one database, one provider, one screen at a time."""

    def __init__(self, provider: CryptoProvider, database: IndexedDb, root_hash: str) -> None:
        self.provider = provider
        self.database = database
        self.root_hash = root_hash
        self.storage: SealedStorage | None = None
        self.identity: Identity | None = None
        self.profile: dict[str, Any] = {}
        self.settings = Settings()
        #: The broker, TURN and mailbox this bundle was exported for (``browser/site.py`` reads it).
        self.deployment = Deployment()
        self.messenger: Messenger | None = None
        self.network: Network | None = None
        self.mailbox: MailboxLoop | None = None
        self.files: PageTransfers | None = None
        self.pending_invite: Invite | None = None
        self.invite_error = ""
        self.screen = ""
        self.open_peer = ""
        self._home: home.HomeView | None = None
        self._chat: ConversationView | None = None
        self._scanner: scan.ScanView | None = None
        self.manual: ManualScreen | None = None
        self._notified: set[str] = set()
        self._passkey_choice: passkeys.PasskeyChoice | None = None
        self._handlers = ui.Handlers()
        self._tasks = TaskSet("app")
        self.layout = layout.Layout(js.document.getElementById("app"), APP_CONTAINER_ID)
        self.container = self.layout.main
        self.theme = "system"
        self._page = ui.Handlers()  # page-wide listeners that outlive the screens
        appearance.follow_visual_viewport(self._page)

    def _screen(self, name: str) -> Any:
        """Clear the main pane for the screen ``name``; the chat list beside it stays (``layout``)."""
        if self._scanner is not None:  # leaving the scan screen turns the camera off
            self._scanner.stop()
            self._scanner = None
        self._handlers.clear()
        self._chat = None
        if name not in layout.BESIDE_THE_LIST:
            self._home = None
            self.layout.clear_list()
        self.container.replaceChildren()
        self.screen = name
        js.document.documentElement.dataset.screen = name
        self.layout.shown(name)
        return self.container

    def _new_network(self, messenger: Messenger, settings: Settings) -> Network:
        from pyfront.browser.network import Network  # noqa: PLC0415  (after the first screen: warm.py)

        return Network(
            messenger,
            settings,
            page_url=str(js.location.href),
            deployment_broker=self.deployment.broker,
            peer_id=self.profile["peer_id"],
            token=self.profile["token"],
            random_bytes=self.provider.random_bytes,
            on_status=self._broker_changed,
        )

    def show_failure(self, error: Exception) -> None:
        """Starting failed (storage unreadable, a stored record refused): say so instead of a blank page."""
        js.console.error("".join(traceback.format_exception(error)))
        panel = ui.element("section", classes="panel", id="app-error", role="alert")
        ui.append(
            panel,
            ui.element("h2", "Parley could not open your data"),
            ui.element("p", f"{type(error).__name__}: {error}", id="app-error-text"),
        )
        self._screen("error").append(panel)

    def take_invite_from_address(self) -> None:
        """Read ``#invite?...`` once and clear it from the address bar (a reload must not re-ask)."""
        fragment = str(js.location.hash)
        if not fragment.startswith("#invite?"):
            return
        try:
            self.pending_invite = parse_fragment(fragment)
        except ProtocolError as error:
            self.invite_error = f"This invite link is not valid: {error}"
        js.history.replaceState(js.undefined, "", str(js.location.pathname))

    async def start(self) -> None:
        header = await SealedStorage.read_header(self.database)
        if header is None:
            await self.show_onboarding()
        elif header.protected:
            await self._show_unlock(header)
        else:
            await self.unlock(None)

    async def _show_unlock(self, header: VaultHeader) -> None:
        unsupported = await webauthn.unsupported_reason() if header.passkeys else None
        has_passphrase = header.passphrase is not None
        container = self._screen("unlock")  # before any handler: a new screen clears them
        option = None
        if header.passkeys:
            option = passkeys.unlock_option(
                self._handlers,
                self.unlock_with_passkey,
                unsupported=unsupported,
                has_passphrase=has_passphrase,
            )
        unlock.render(
            container, self._handlers, self.unlock, has_passphrase=has_passphrase, passkey_option=option
        )

    async def show_onboarding(self) -> None:
        unsupported = await webauthn.unsupported_reason()
        container = self._screen("onboarding")
        self._passkey_choice = passkeys.onboarding_choice(unsupported)

        async def about() -> None:
            self.show_about(self.show_onboarding)

        onboarding.render(
            container,
            self._handlers,
            self.create_identity,
            passkey_choice=self._passkey_choice,
            on_about=about,
        )

    def show_about(self, back_to: Callable[[], Awaitable[None]] | None = None) -> None:
        """ "How Parley protects you"; back returns to ``back_to`` (a screen), else to settings."""

        async def back() -> None:
            await (back_to or self.show_settings)()

        protection.render(self._screen("about"), self._handlers, on_back=back)
        if back_to is None:
            self._ensure_home()

    async def create_identity(self, name: str, passphrase: str | None) -> None:
        from pyfront.olm import Account  # noqa: PLC0415  (loaded after the first screen: warm.py)

        if self._passkey_choice is not None and self._passkey_choice.chosen():
            storage = await passkey_unlock.create(
                self.database, self.provider, passphrase, user_name=name, now=time.time()
            )
        else:
            storage = await SealedStorage.create(self.database, self.provider, passphrase)
        self._tasks.spawn(persistence.request())  # first run: ask the browser to keep this site's data
        identity = await Identity.generate(self.provider)
        account = await Account.create(self.provider)
        profile = PROFILE.new(
            name=name,
            peer_id=new_peer_id(self.provider.random_bytes(16)),
            token=new_token(self.provider.random_bytes(TOKEN_RANDOM_BYTES)),
        )
        await storage.put_json("identity", "self", identity.to_dict())
        await storage.put_json("olm", "account", account.to_dict())
        await storage.put_json("settings", "main", self.deployment.initial_settings().to_dict())
        await storage.put_json("profile", "self", profile)
        await self._enter(storage)

    async def unlock(self, passphrase: str | None) -> None:
        """Open the vault (``AuthenticationError`` for a wrong passphrase) and load the profile."""
        await self._enter(await SealedStorage.unlock(self.database, self.provider, passphrase))

    async def unlock_with_passkey(self) -> None:
        """Open the vault with one of its passkeys (``PasskeyError`` says why not; nothing changes)."""
        await self._enter(await passkey_unlock.unlock(self.database, self.provider))

    async def _enter(self, storage: SealedStorage) -> None:
        # The protocol stack, loaded after the first screen (warm.import_protocol_stack) or here if not yet.
        from pyfront.messaging.messenger import Messenger  # noqa: PLC0415
        from pyfront.olm import Account  # noqa: PLC0415
        from pyfront.session.session import LocalParty  # noqa: PLC0415

        identity_state = await storage.get_json("identity", "self")
        profile = PROFILE.open(await storage.get_json("profile", "self"))
        self.identity = await Identity.from_dict(self.provider, identity_state)
        self.settings = Settings.from_dict(await storage.get_json("settings", "main"))
        account_state = await storage.get_json("olm", "account")
        if account_state is None:  # a vault made before accounts were stored
            account = await Account.create(self.provider)
            await storage.put_json("olm", "account", account.to_dict())
        else:
            account = Account.from_dict(self.provider, account_state)
        self.storage, self.profile = storage, profile
        try:
            self.theme = appearance.theme_from_record(
                await storage.get_json(appearance.APPEARANCE_STORE, appearance.APPEARANCE_KEY)
            )
        except DecodeError as error:
            js.console.warn(f"stored appearance skipped: {error}")
        appearance.apply_theme(self.theme)
        self.messenger = Messenger(
            self.provider,
            storage,
            LocalParty(self.identity, account),
            display_name=profile["name"],
            settings=self.settings,
            listener=self,
            clock=time.time,
        )
        await self.messenger.load()
        for problem in self.messenger.load_problems:
            js.console.warn(f"stored record skipped: {problem}")
        from pyfront.browser.files import PageTransfers  # noqa: PLC0415  (see above)
        from pyfront.crypto.webcrypto import WebCryptoProvider  # noqa: PLC0415

        assert isinstance(self.provider, WebCryptoProvider)
        try:
            self.files = await PageTransfers.create(
                self.provider, self.messenger, storage, self._file_changed
            )
        except ProtocolError as error:  # texts still work; the chat shows no file button
            js.console.error(f"file transfers are off: {error}")
        self.network = self._new_network(self.messenger, self.settings)
        self.mailbox = await self._new_mailbox(self.messenger, storage)
        self._tasks.spawn(self._start_network(self.network, self.mailbox))
        self._tasks.spawn(self._tick_forever())
        self._handlers_page()
        if self.pending_invite is not None or self.invite_error:
            self.show_invite()
        else:
            self.show_home()

    async def _new_mailbox(self, messenger: Messenger, storage: SealedStorage) -> MailboxLoop:
        from pyfront.browser.mailbox import FetchHttp, MailboxLoop  # noqa: PLC0415
        from pyfront.messaging.courier import Courier  # noqa: PLC0415

        base_url = self.settings.mailbox_base(str(js.location.href), self.deployment.mailbox)
        courier = Courier(messenger, storage, FetchHttp(), self.provider, base_url=base_url, clock=time.time)
        await courier.load()
        for problem in courier.load_problems:
            js.console.warn(f"stored record skipped: {problem}")
        return MailboxLoop(courier)

    async def _start_network(self, network: Network, mailbox: MailboxLoop) -> None:
        """Messages queued in the mailbox are read first, then the contacts are called (docs/mailbox.md)."""
        await mailbox.first_fetch()
        network.start()
        mailbox.start()

    def _handlers_page(self) -> None:
        """Page-wide listeners that outlive the screens."""
        from pyodide.ffi import create_proxy  # noqa: PLC0415

        def visible(_event: Any) -> None:
            self._read_if_looking()

        self._visibility = create_proxy(visible)
        js.document.addEventListener("visibilitychange", self._visibility)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL_S)
            if self.messenger is not None:
                try:
                    await self.messenger.tick()
                except ProtocolError as error:
                    js.console.warn(f"tick: {error}")
            if self.files is not None:
                self.files.tick(time.time(), self.files.ready)

    # --- messenger.Listener ----------------------------------------------------------------------

    def contacts_changed(self) -> None:
        if self._home is not None and self.messenger is not None:
            self._home.show_contacts(self.messenger.ordered_contacts())

    def _file_changed(self, transfer: Transfer) -> None:
        if self._chat is not None and self.open_peer == transfer.peer_id:
            self._chat.refresh_file(transfer.file_id.hex())

    def messages_changed(self, peer_id: str, changed: list[str], removed: list[str]) -> None:
        if self.files is not None:
            self.files.page_messages_changed(peer_id, changed, removed)
        if self._chat is not None and self.open_peer == peer_id:
            self._chat.update(changed, removed)
            self._read_if_looking()
        self._notify(peer_id, changed)

    def _notify(self, peer_id: str, changed: list[str]) -> None:
        """A new message while the tab is hidden, with notifications on: say who wrote, never what."""
        messenger = self.messenger
        if not self.settings.notifications or messenger is None:
            return
        if str(js.document.visibilityState) != "hidden":
            return
        contact = messenger.contacts.get(peer_id)
        if contact is None:
            return
        fresh = []
        for message_id in changed:
            message = contact.conversation.messages.get(message_id)
            if message is None or message_id in self._notified or message.read_by_me:
                continue
            if message.direction is Direction.INCOMING and message.kind in (Kind.TEXT, Kind.FILE):
                fresh.append(message_id)
        notification = _notification_api()
        if not fresh or not notification or str(notification.permission) != "granted":
            return
        self._notified.update(fresh)
        body = "New message request" if contact.request else f"New message from {contact.name or 'a contact'}"
        options = {"body": body, "tag": f"parley-{peer_id}"}

        notification.new(NOTIFICATION_TITLE, js_object(options))

    def contact_status_changed(self, peer_id: str) -> None:
        contact = self.messenger.contacts.get(peer_id) if self.messenger is not None else None
        if self.files is not None and contact is not None:
            from pyfront.messaging.contact import LinkStatus  # noqa: PLC0415

            self.files.link_status(peer_id, contact.status is LinkStatus.READY)
        if self._chat is not None and self.open_peer == peer_id:
            self._chat.refresh_status()
        self.contacts_changed()

    def _broker_changed(self) -> None:
        if self._home is not None and self.network is not None:
            self._home.show_broker(self.network.status.value, self.network.status_detail)

    def _read_if_looking(self) -> None:
        """The open chat is on the screen: its messages are read."""
        messenger = self.messenger
        if self._chat is None or messenger is None or str(js.document.visibilityState) != "visible":
            return
        contact = messenger.contacts.get(self.open_peer)
        if contact is not None and contact.conversation.unread:
            self._tasks.spawn(messenger.mark_read(self.open_peer))

    # --- screens ---------------------------------------------------------------------------------

    def invite_link(self) -> str:
        assert self.identity is not None
        invite = Invite.for_identity(self.profile["peer_id"], self.identity.public_key, self.profile["name"])
        return invite.link(str(js.location.origin) + "/")

    def show_home(self) -> None:
        left = self.open_peer
        self.open_peer = ""
        layout.render_placeholder(self._screen("home"))
        self._ensure_home()
        assert self._home is not None
        self._home.focus(left)
        self._tasks.spawn(self._offer_backup("home"))

    def _ensure_home(self) -> None:
        """The chat list in its pane (built once per visit, then only refreshed), the open chat marked."""
        assert self.storage is not None and self.messenger is not None
        if self._home is not None:
            self._home.selected = self.open_peer
            self._home.show_contacts(self.messenger.ordered_contacts())
            return
        from pyfront.browser.views import home  # noqa: PLC0415  (after the first screen: warm.py)

        self._home = home.HomeView(
            self.layout.list,
            self.layout.list_handlers,
            name=self.profile["name"],
            peer_id=self.profile["peer_id"],
            invite_link=self.invite_link(),
            protected=self.storage.vault.protected,
            on_open_chat=self.open_chat,
            on_connect=self.connect_to,
            on_settings=self.show_settings,
            on_scan=self.scan_invite,
            on_manual=self.show_manual,
        )
        self._home.selected = self.open_peer
        self._home.show_contacts(self.messenger.ordered_contacts())
        self._broker_changed()

    def show_invite(self) -> None:
        invite, error = self.pending_invite, self.invite_error
        self.pending_invite, self.invite_error = None, ""

        async def accept() -> None:
            assert invite is not None
            await self.accept_invite(invite)

        async def decline() -> None:
            self.show_home()

        invite_prompt.render(
            self._screen("invite"), self._handlers, invite, error, on_accept=accept, on_decline=decline
        )

    def _show_scanner(self, title: str, hint: str, on_code: scan.OnCode, on_cancel: Any) -> None:
        self._scanner = scan.ScanView(
            self._screen("scan"), self._handlers, title=title, hint=hint, on_code=on_code, on_cancel=on_cancel
        )
        self._tasks.spawn(self._scanner.start())

    async def scan_invite(self) -> None:
        """The camera reads someone's invite QR code; it is then asked about like an opened link."""

        async def taken(payload: bytes) -> str | None:
            try:
                invite = parse_link(payload.decode("utf-8"))
            except (UnicodeDecodeError, ProtocolError) as error:
                return f"This QR code is not a Parley invite ({error})."
            self.pending_invite = invite
            self.show_invite()
            return None

        self._show_scanner(
            "Scan an invite",
            "Hold your contact's invite QR code (on their home screen) in front of the camera.",
            taken,
            self._back_home,
        )

    async def scan_safety(self, peer_id: str) -> None:
        """The camera reads the contact's safety QR code; only a match marks them verified."""
        messenger, identity = self.messenger, self.identity
        assert messenger is not None and identity is not None
        contact = messenger.contact(peer_id)
        remote_key = contact.identity_key
        if remote_key is None:
            raise InvalidStateError("no identity key to verify yet: connect first")
        name = contact.name or "this contact"

        async def taken(payload: bytes) -> str | None:
            try:
                verify_safety_qr(payload, identity.public_key, remote_key)
            except AuthenticationError:
                self.show_safety(
                    peer_id,
                    (
                        False,
                        f"The scanned code does NOT match your safety number with {name}: someone may be "
                        f"in the middle of this chat, or this is another person's code. {name} was not "
                        "marked as verified.",
                    ),
                )
                return None
            except DecodeError as error:
                return f"This QR code is not a Parley safety number ({error})."
            await messenger.mark_verified(peer_id, True)
            self.show_safety(peer_id, (True, f"The codes match: {name} is verified."))
            return None

        async def cancel() -> None:
            self.show_safety(peer_id)

        self._show_scanner(
            f"Scan {name}'s safety code",
            f"Ask {name} to open the safety number of your chat and hold its QR code in front of the camera.",
            taken,
            cancel,
        )
        self.open_peer = peer_id

    async def accept_invite(self, invite: Invite) -> None:
        assert self.messenger is not None and self.network is not None
        if invite.peer_id == self.profile["peer_id"]:
            raise InvalidStateError("this is your own invite link")
        await self.messenger.add_contact(
            invite.peer_id, name=invite.name, invite_fingerprint=invite.fingerprint
        )
        await self.open_chat(invite.peer_id)
        await self.network.dial_now(invite.peer_id)

    async def connect_to(self, text: str) -> None:
        """The home screen's "connect": an invite link, or a bare peer id (trust on first use)."""
        if "#" in text:
            await self.accept_invite(parse_link(text))
            return
        if not valid_peer_id(text):
            raise DecodeError("Paste an invite link, or a peer id (letters, digits, - and _).")
        if text == self.profile["peer_id"]:
            raise InvalidStateError("That is your own peer id.")
        assert self.messenger is not None and self.network is not None
        await self.messenger.add_contact(text)
        await self.open_chat(text)
        await self.network.dial_now(text)

    async def open_chat(self, peer_id: str) -> None:
        messenger, network = self.messenger, self.network
        assert messenger is not None and network is not None
        contact = messenger.contact(peer_id)

        async def back() -> None:
            self.show_home()

        async def send(text: str) -> None:
            await messenger.send_text(peer_id, text)

        async def typing(active: bool) -> None:
            await messenger.typing(peer_id, active)

        async def set_timer(seconds: int) -> None:
            await messenger.set_timer(peer_id, seconds)

        async def delete(message_id: str) -> None:
            await messenger.delete_for_everyone(peer_id, message_id)

        async def delete_for_me(message_id: str) -> None:
            await messenger.delete_for_me(peer_id, message_id)

        async def show_safety() -> None:
            self.show_safety(peer_id)

        async def connect() -> None:
            await network.dial_now(peer_id)

        async def accept() -> None:
            await messenger.accept(peer_id)

        async def block() -> None:
            await messenger.delete_and_block(peer_id)
            self.show_home()

        async def page_in(message_ids: list[str]) -> list[str]:
            return await messenger.page_in(peer_id, message_ids)

        container = self._screen("chat")
        self.open_peer = peer_id
        from pyfront.browser.views.attachments import Attachments  # noqa: PLC0415
        from pyfront.browser.views.conversation import ConversationView  # noqa: PLC0415  (see show_home)

        def file_error(text: str) -> None:
            if self._chat is not None:
                self._chat.error.textContent = text
                self._chat.error.hidden = False

        attachments = (
            None if self.files is None else Attachments(self.files, self._handlers, peer_id, file_error)
        )
        self._chat = ConversationView(
            container,
            self._handlers,
            contact,
            on_back=back,
            on_send=send,
            on_typing=typing,
            on_timer=set_timer,
            on_delete=delete,
            on_safety=show_safety,
            on_connect=connect,
            on_accept=accept,
            on_block=block,
            on_delete_for_me=delete_for_me,
            on_page_in=page_in,
            attachments=attachments,
        )
        self._ensure_home()
        self._read_if_looking()
        self._tasks.spawn(self._offer_backup("chat"))

    def show_safety(self, peer_id: str, scan_result: tuple[bool, str] | None = None) -> None:
        messenger = self.messenger
        assert messenger is not None and self.identity is not None
        contact = messenger.contact(peer_id)

        async def back() -> None:
            await self.open_chat(peer_id)

        async def verify(verified: bool) -> None:
            await messenger.mark_verified(peer_id, verified)
            self.show_safety(peer_id)

        async def scan_code() -> None:
            await self.scan_safety(peer_id)

        container = self._screen("safety")
        self.open_peer = peer_id
        self._ensure_home()
        if contact.identity_key is None:
            safety.render_none(container, self._handlers, contact, on_back=back)
            return
        digits = safety_number(self.identity.public_key, contact.identity_key)
        payload = safety_qr_payload(self.identity.public_key, contact.identity_key)
        safety.render(
            container,
            self._handlers,
            contact,
            digits,
            payload,
            on_back=back,
            on_verify=verify,
            on_scan=scan_code,
            scan_result=scan_result,
        )

    async def show_manual(self) -> None:
        """Connect without a server (``views.manual``); the connection outlives a trip to the scanner."""
        from pyfront.browser.manual_screen import AppPort, ManualScreen  # noqa: PLC0415  (see show_home)

        assert self.identity is not None and self.messenger is not None and self.network is not None
        port = AppPort(
            self.provider,
            self.identity,
            self.profile["peer_id"],
            self.profile["name"],
            self.messenger,
            self.network,
            relay_only=lambda: self.settings.relay_only,
            screen=self._screen,
            handlers=self._handlers,
            current_screen=lambda: self.screen,
            show_scanner=self._show_scanner,
            open_chat=self.open_chat,
            show_home=self.show_home,
            spawn=self._tasks.spawn,
        )
        self.manual = ManualScreen(port)
        self.manual.show()

    async def show_settings(self) -> None:
        storage, messenger = self.storage, self.messenger
        assert storage is not None and messenger is not None
        actions = settings_view.SettingsActions(
            save=self.save_settings,
            change_passphrase=self.change_passphrase,
            export_backup=self.export_backup,
            import_backup=self.import_backup,
            back=self._back_home,
            fetch_statics=_fetch_statics,
            unblock=messenger.unblock,
        )
        self.open_peer = ""
        container = self._screen("settings")
        storage_section, fill_storage = safekeeping.storage_section(
            self._handlers, current=persistence.state, ask=persistence.request, usage=persistence.usage
        )
        settings_view.render(
            container,
            self._handlers,
            self.settings,
            root_hash=self.root_hash,
            has_passphrase=storage.vault.has_passphrase,
            blocked=messenger.blocked,
            actions=actions,
            extra_sections=[
                await self._passkeys_section(storage),
                storage_section,
                *self._settings_extras(),
            ],
        )
        self._tasks.spawn(fill_storage)
        self._ensure_home()

    async def _passkeys_section(self, storage: SealedStorage) -> Any:
        async def add(name: str) -> tuple[PasskeyWrap, ...]:
            return await passkey_unlock.add(
                storage, self.provider, name=name, user_name=self.profile["name"], now=time.time()
            )

        async def remove(credential_id: bytes) -> tuple[PasskeyWrap, ...]:
            return await passkey_unlock.remove(storage, credential_id)

        return passkeys.settings_section(
            self._handlers,
            storage.vault.passkeys,
            unsupported=await webauthn.unsupported_reason(),
            on_add=add,
            on_remove=remove,
        )

    async def _offer_backup(self, screen: str) -> None:
        """The backup prompt, once there is a contact to lose, until a backup or "not now"; at the top of
        the chat list on the home screen, of the main pane on a chat."""
        storage, messenger = self.storage, self.messenger
        if storage is None or messenger is None:
            return
        if not any(not contact.request for contact in messenger.contacts.values()):
            return
        if await notices.backup_notice(storage) is not None or self.screen != screen:
            return  # (the person may have moved on while the record was read)
        if js.document.getElementById("backup-prompt"):
            return

        async def export() -> None:
            await self.show_settings()
            field = js.document.getElementById("backup-passphrase")
            if field:
                field.scrollIntoView()
                field.focus()

        async def dismiss() -> None:
            await notices.remember(storage, notices.BackupNotice.DISMISSED)

        prompt = safekeeping.backup_prompt(
            self._handlers, on_export=export, on_dismiss=dismiss, compact=screen != "home"
        )
        (self.layout.list if screen == "home" else self.container).prepend(prompt)

    def _settings_extras(self) -> list[Any]:
        """The settings screen's Appearance section and its way to "How Parley protects you"."""

        async def theme_chosen(theme: str) -> None:
            assert self.storage is not None
            record = appearance.theme_record(theme)  # DecodeError for a value never offered
            self.theme = theme
            appearance.apply_theme(theme)  # at once; stored right after
            await self.storage.put_json(appearance.APPEARANCE_STORE, appearance.APPEARANCE_KEY, record)

        theme = appearance.settings_section(self._handlers, self.theme, theme_chosen)
        about = ui.element(
            "button", "How Parley protects you", id="settings-about", type="button", classes="secondary"
        )
        section = ui.element("section", classes="settings-form", id="about-section")
        ui.append(section, ui.element("h3", "Your protection"), about)

        async def about_clicked(_event: Any) -> None:
            self.show_about()

        self._handlers.on_async(about, "click", about_clicked)
        return [theme, section]

    async def _back_home(self) -> None:
        self.show_home()

    async def save_settings(self, settings: Settings) -> None:
        """Store new settings; the messenger uses them at once, a new broker means a new registration."""
        assert self.storage is not None and self.messenger is not None and self.network is not None
        if settings.notifications and not self.settings.notifications:
            await _allow_notifications()  # before anything is stored: refused means not saved
        await self.storage.put_json("settings", "main", settings.to_dict())
        broker_changed = (settings.broker_url, settings.broker_key) != (
            self.settings.broker_url,
            self.settings.broker_key,
        )
        self.settings = settings
        self.messenger.settings = settings
        self.network.settings = settings
        if self.mailbox is not None:
            self.mailbox.courier.settings_changed(
                settings.mailbox_base(str(js.location.href), self.deployment.mailbox)
            )
        if broker_changed:
            self.network.close()
            self.network = self._new_network(self.messenger, settings)
            self.network.start()

    async def change_passphrase(self, current: str, new: str | None) -> None:
        storage = self.storage
        assert storage is not None
        if storage.vault.has_passphrase:
            await Vault.unlock(self.provider, storage.vault.header, current)  # AuthenticationError if wrong
        if new is not None and len(new) < onboarding.MIN_PASSPHRASE_LENGTH:
            raise DecodeError(f"a passphrase needs at least {onboarding.MIN_PASSPHRASE_LENGTH} characters")
        await storage.change_passphrase(new)

    async def export_backup(self, passphrase: str) -> str:
        """Download the encrypted backup, files included (``pyfront.browser.backup``); says what it holds."""
        from pyfront.browser import backup  # noqa: PLC0415  (the protocol stack loads after the first screen)

        assert self.storage is not None
        if len(passphrase) < onboarding.MIN_PASSPHRASE_LENGTH:
            raise DecodeError(
                f"a backup passphrase needs at least {onboarding.MIN_PASSPHRASE_LENGTH} characters"
            )
        files = self.files
        stored, left_out = (
            ([], 0) if files is None else backup.files_to_back_up(files.transfers, files.sizes())
        )
        exported = await backup.export_backup(
            self.provider, self.storage, stored, passphrase, left_out=left_out, name=BACKUP_FILE_NAME
        )
        await notices.remember(self.storage, notices.BackupNotice.EXPORTED)
        return backup.exported_text(exported)

    async def import_backup(self, file: Any, passphrase: str) -> str:
        """Replace everything here by the backup in ``file`` (a picked ``File``), all or nothing."""
        from pyfront.browser import backup  # noqa: PLC0415  (as above)

        assert self.storage is not None
        old_files = [] if self.files is None else list(self.files.transfers)
        imported = await backup.import_backup(
            self.provider, self.storage, file, passphrase, old_files=old_files
        )
        return backup.imported_text(imported)


def _notification_api() -> Any:
    try:
        return js.globalThis.Notification
    except AttributeError:  # no Notification API in this browser
        return None


async def _allow_notifications() -> None:
    """Ask the browser's permission to notify (the Save click is the user gesture it needs)."""
    notification = _notification_api()
    if not notification:
        raise InvalidStateError("this browser cannot show notifications")
    permission = str(notification.permission)
    if permission == "default":
        permission = str(await notification.requestPermission())
    if permission != "granted":
        raise InvalidStateError("the browser does not allow notifications for this site")


def _fetch_statics() -> None:
    """The shell's "fetch latest statics" control (static/js/loader.js and the service worker own it)."""
    button = js.document.getElementById("update-check")
    if button:
        button.click()


async def run(root_hash: str) -> App:
    """Build the app into the page's ``#app`` container and show the first screen."""
    ui.ensure_stylesheet()
    ready = js.document.getElementById("ready")
    if ready:  # falsy jsnull when the shell has no ready panel
        ready.hidden = True  # the shell's "Python is running" panel; the app takes its place
    provider = await create_webcrypto_provider()
    # Which ML-KEM-768 implementation this browser got (WebCrypto's or noble's); docs/browsers.md.
    js.document.documentElement.dataset.mlkem = provider.mlkem_backend
    app = App(provider, await IndexedDb.open(), root_hash)
    app.deployment = await site.fetch_deployment()
    app.take_invite_from_address()
    try:
        await app.start()
    except Exception as error:  # the shell already said "ready": the app reports its own failure
        app.show_failure(error)
        raise
    app._tasks.spawn(warm.import_protocol_stack())  # while the person reads the first screen
    return app
