"""The messenger app in the page: start-up, first run, unlock, and the home screen (issue 8).

``run(root_hash)`` is called by ``pyfront.browser.main.start`` once Python is up. It opens IndexedDB
(``storage``) and:

* with no vault yet: the first-run screen (``views.onboarding``): a display name, an optional
  passphrase; the identity key, a random PeerJS rendezvous id and default ``Settings`` are created on
  this device and stored sealed;
* with a passphrase-protected vault: the unlock screen (``views.unlock``); a wrong passphrase is refused;
* with an unprotected vault: straight in, with a visible warning;
* then the home screen (``views.home``) with the invite link.

Stored records (all sealed): ``profile/self`` (name, peer id, broker token), ``identity/self``,
``settings/main``.
"""

from __future__ import annotations

from typing import Any

import js

from pyfront.browser import ui
from pyfront.browser.storage import IndexedDb, SealedStorage
from pyfront.browser.views import home, onboarding, unlock
from pyfront.crypto.provider import CryptoProvider
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.errors import DecodeError
from pyfront.identity import Identity
from pyfront.invite import Invite
from pyfront.settings import Settings
from pyfront.signaling import new_peer_id, new_token

PROFILE_VERSION = 1
APP_CONTAINER_ID = "messenger"
TOKEN_RANDOM_BYTES = 16


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
        self._handlers = ui.Handlers()
        self.container = ui.element("div", classes="messenger", id=APP_CONTAINER_ID)
        js.document.getElementById("app").append(self.container)

    def _screen(self, name: str) -> Any:
        self._handlers.clear()
        self.container.replaceChildren()
        js.document.documentElement.dataset.screen = name
        return self.container

    async def start(self) -> None:
        header = await SealedStorage.read_header(self.database)
        if header is None:
            onboarding.render(self._screen("onboarding"), self._handlers, self.create_identity)
        elif header.protection == "passphrase":
            unlock.render(self._screen("unlock"), self._handlers, self.unlock)
        else:
            await self.unlock(None)

    async def create_identity(self, name: str, passphrase: str | None) -> None:
        storage = await SealedStorage.create(self.database, self.provider, passphrase)
        identity = await Identity.generate(self.provider)
        profile = {
            "version": PROFILE_VERSION,
            "name": name,
            "peer_id": new_peer_id(self.provider.random_bytes(16)),
            "token": new_token(self.provider.random_bytes(TOKEN_RANDOM_BYTES)),
        }
        await storage.put_json("identity", "self", identity.to_dict())
        await storage.put_json("settings", "main", Settings().to_dict())
        await storage.put_json("profile", "self", profile)
        await self._enter(storage)

    async def unlock(self, passphrase: str | None) -> None:
        """Open the vault (``AuthenticationError`` for a wrong passphrase) and load the profile."""
        await self._enter(await SealedStorage.unlock(self.database, self.provider, passphrase))

    async def _enter(self, storage: SealedStorage) -> None:
        identity_state = await storage.get_json("identity", "self")
        profile = await storage.get_json("profile", "self")
        if not isinstance(profile, dict) or profile.get("version") != PROFILE_VERSION:
            raise DecodeError("stored profile is missing or of an unknown version")
        self.identity = await Identity.from_dict(self.provider, identity_state)
        self.settings = Settings.from_dict(await storage.get_json("settings", "main"))
        self.storage, self.profile = storage, profile
        self.show_home()

    def invite_link(self) -> str:
        assert self.identity is not None
        invite = Invite.for_identity(self.profile["peer_id"], self.identity.public_key, self.profile["name"])
        return invite.link(str(js.location.origin) + "/")

    def show_home(self) -> None:
        assert self.storage is not None
        home.render(
            self._screen("home"),
            self._handlers,
            name=self.profile["name"],
            invite_link=self.invite_link(),
            protected=self.storage.vault.has_passphrase,
        )


async def run(root_hash: str) -> App:
    """Build the app into the page's ``#app`` container and show the first screen."""
    ui.ensure_stylesheet()
    ready = js.document.getElementById("ready")
    if ready:  # falsy jsnull when the shell has no ready panel
        ready.hidden = True  # the shell's "Python is running" panel; the app takes its place
    provider = await create_webcrypto_provider()
    app = App(provider, await IndexedDb.open(), root_hash)
    await app.start()
    return app
