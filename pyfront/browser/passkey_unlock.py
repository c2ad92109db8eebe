"""Passkeys as unlock methods of the page's vault: register, remove, unlock (the app's side of it).

``pyfront.browser.webauthn`` asks the browser for a PRF output; ``pyfront.storage.vault`` wraps or
unwraps the data key with it; this module joins the two to the stored header
(``pyfront.browser.storage.SealedStorage``). The header is written only after the vault accepted the
change, and a failed or refused passkey changes nothing stored.
"""

from __future__ import annotations

from pyfront.browser import webauthn
from pyfront.browser.storage import IndexedDb, SealedStorage
from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import AuthenticationError, InvalidStateError
from pyfront.storage.vault import Vault, VaultHeaderAltered
from pyfront.storage.vault_header import MAX_PASSKEYS, PRF_SALT_LENGTH, PasskeyWrap

#: The name of a passkey registered at first run (settings can add more with names of their own).
DEVICE_PASSKEY_NAME = "First passkey"


async def add(
    storage: SealedStorage, provider: CryptoProvider, *, name: str, user_name: str, now: float
) -> tuple[PasskeyWrap, ...]:
    """Register a new passkey and wrap the data key for it; returns the passkeys now listed."""
    vault = storage.vault
    if len(vault.passkeys) >= MAX_PASSKEYS:
        raise InvalidStateError(f"at most {MAX_PASSKEYS} passkeys can unlock one vault")
    prf_salt = provider.random_bytes(PRF_SALT_LENGTH)
    answer = await webauthn.register(user_name=user_name, prf_salt=prf_salt, existing=vault.passkeys)
    await vault.add_passkey(answer.credential_id, prf_salt, answer.prf_output, name=name, added_at=int(now))
    await storage.store_header()
    return vault.passkeys


async def create(
    database: IndexedDb, provider: CryptoProvider, passphrase: str | None, *, user_name: str, now: float
) -> SealedStorage:
    """First run with a passkey: the new vault's header is stored only once the passkey wraps its data
    key (the passkey is registered first, while the click that asked for it still counts as the
    person's gesture; the slow PBKDF2 of a passphrase comes after)."""
    vault = await Vault.create(provider, None)
    prf_salt = provider.random_bytes(PRF_SALT_LENGTH)
    answer = await webauthn.register(user_name=user_name, prf_salt=prf_salt, existing=())
    await vault.add_passkey(answer.credential_id, prf_salt, answer.prf_output, name=DEVICE_PASSKEY_NAME,
                            added_at=int(now))  # fmt: skip
    if passphrase:
        await vault.change_passphrase(passphrase)
    return await SealedStorage.create_with(database, vault, provider)


async def remove(storage: SealedStorage, credential_id: bytes) -> tuple[PasskeyWrap, ...]:
    """Stop a passkey from unlocking (refused when it is the last way in); returns those left."""
    await storage.vault.remove_passkey(credential_id)
    await storage.store_header()
    return storage.vault.passkeys


async def unlock(database: IndexedDb, provider: CryptoProvider) -> SealedStorage:
    """Ask the browser for one of the stored vault's passkeys and open the vault with its PRF output."""
    header = await SealedStorage.read_header(database)
    if header is None or not header.passkeys:
        raise AuthenticationError("no passkey is registered for this vault")
    answer = await webauthn.authenticate(header.passkeys)
    try:
        return await SealedStorage.unlock_with_passkey(
            database, provider, answer.credential_id, answer.prf_output
        )
    except VaultHeaderAltered:
        raise
    except AuthenticationError:
        raise webauthn.PasskeyError(
            "This passkey answered, but its secret does not open this vault. Nothing changed."
        ) from None
