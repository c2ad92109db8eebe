"""Passkeys on screen: the list in settings (add, remove) and the "Unlock with a passkey" button.

Settings (``settings_section``): each registered passkey with its name, the day it was added and
**Remove**; a name field and **Add a passkey**. Where passkeys cannot unlock Parley (no WebAuthn, no PRF
extension, an IP address), the reason is shown and the button is disabled, so registration is never
offered as if it would work. Removing the only unlock method is refused with the reason (the vault
refuses it: ``pyfront.storage.vault.Vault.remove_passkey``).

First run (``onboarding_choice``): a checkbox to register a passkey while the identity is created (with
or without a passphrase beside it).

Unlock screen (``unlock_option``): the button asks the browser for any of the vault's passkeys; a failure
says why (no passkey of this vault answered, no PRF) and leaves the passphrase form usable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import js

from pyfront.browser.ui import Handlers, append, element, field
from pyfront.errors import ProtocolError
from pyfront.storage.vault import VaultHeaderAltered
from pyfront.storage.vault_header import MAX_PASSKEY_NAME_LENGTH, MAX_PASSKEYS, PasskeyWrap

#: Registers a passkey under the name; returns the passkeys now listed.
AddPasskey = Callable[[str], Awaitable[Sequence[PasskeyWrap]]]
#: Removes the passkey with this credential id; returns the passkeys now listed.
RemovePasskey = Callable[[bytes], Awaitable[Sequence[PasskeyWrap]]]
DEFAULT_NAME = "My passkey"


def _day(unix_seconds: int) -> str:
    return str(js.Date.new(unix_seconds * 1000).toLocaleDateString())


def settings_section(
    handlers: Handlers,
    passkeys: Sequence[PasskeyWrap],
    *,
    unsupported: str | None,
    on_add: AddPasskey,
    on_remove: RemovePasskey,
) -> Any:
    section = element("section", classes="settings-form", id="passkeys-section")
    listing = element("ul", classes="passkeys", id="passkey-list")
    nobody = element("p", "No passkey is registered.", classes="muted", id="passkeys-none")
    support = element("p", unsupported or "", classes="warning", id="passkey-support", role="note")
    support.hidden = unsupported is None
    name_field, name_input = field(
        "Name of the new passkey", "passkey-name", maxlength=str(MAX_PASSKEY_NAME_LENGTH)
    )
    name_input.placeholder = DEFAULT_NAME
    add = element("button", "Add a passkey", id="passkey-add", type="button", classes="secondary")
    add.disabled = unsupported is not None
    result = element("p", classes="status small", id="passkey-result", role="status")
    result.hidden = True
    append(
        section,
        element("h3", "Passkeys"),
        element(
            "p",
            "A passkey (in your phone, password manager or security key) can unlock Parley instead of the "
            "passphrase. It uses the passkey's PRF extension: the passkey computes a secret that only it "
            "can compute, and that secret unlocks the key to your data. Your passphrase keeps working.",
            classes="muted small",
        ),
        support,
        nobody,
        listing,
        name_field,
        add,
        result,
    )

    def show(text: str, ok: bool) -> None:
        result.textContent, result.hidden = text, False
        result.dataset.state = "ready" if ok else "failed"

    def fill(current: Sequence[PasskeyWrap]) -> None:
        listing.replaceChildren()
        nobody.hidden = bool(current)
        add.disabled = unsupported is not None or len(current) >= MAX_PASSKEYS
        for wrap in current:
            item = element("li", classes="row passkey", data_name=wrap.name)
            remove = element("button", "Remove", type="button", classes="secondary passkey-remove")
            remove.setAttribute("aria-label", f"Remove the passkey {wrap.name}")
            added = element("span", f"added {_day(wrap.added_at)}", classes="muted small")
            append(item, element("span", wrap.name), added, remove)
            listing.append(item)
            handlers.on_async(remove, "click", removal(wrap))

    def removal(wrap: PasskeyWrap) -> Callable[[Any], Awaitable[None]]:
        async def clicked(_event: Any) -> None:
            try:
                current = await on_remove(wrap.credential_id)
            except ProtocolError as error:
                show(f"Not removed: {error}", False)
                return
            fill(current)
            show(f"Removed the passkey {wrap.name}: it no longer unlocks Parley.", True)

        return clicked

    async def add_clicked(_event: Any) -> None:
        name = str(name_input.value).strip() or DEFAULT_NAME
        add.disabled, add.textContent = True, "Waiting for your passkey…"
        try:
            current = await on_add(name)
        except ProtocolError as error:
            show(f"No passkey added: {error}", False)
            add.disabled = unsupported is not None
            return
        except Exception as error:
            js.console.error(f"passkey registration failed: {type(error).__name__}: {error}")
            show(f"No passkey added ({type(error).__name__}). Nothing changed.", False)
            add.disabled = unsupported is not None
            return
        finally:
            add.textContent = "Add a passkey"
        name_input.value = ""
        fill(current)
        show(f"Added the passkey {name}: it now unlocks Parley on this device.", True)

    fill(passkeys)
    handlers.on_async(add, "click", add_clicked)
    return section


@dataclass(frozen=True)
class PasskeyChoice:
    """The first-run checkbox "Unlock with a passkey": ``element`` goes into the form."""

    element: Any
    box: Any

    def chosen(self) -> bool:
        return bool(self.box.checked) and not self.box.disabled


def onboarding_choice(unsupported: str | None) -> PasskeyChoice:
    """The first-run choice; disabled, with the reason, where passkeys cannot unlock Parley."""
    wrapper = element("div", classes="check", id="onboarding-passkey-row")
    box = element("input", id="onboarding-passkey", type="checkbox")
    box.disabled = unsupported is not None
    label = element("label", "Also unlock with a passkey (your phone, password manager or security key)")
    label.htmlFor = "onboarding-passkey"
    append(wrapper, box, label)
    if unsupported is not None:
        wrapper.append(element("p", unsupported, classes="muted small", id="onboarding-passkey-support"))
    return PasskeyChoice(wrapper, box)


def unlock_option(
    handlers: Handlers,
    on_passkey: Callable[[], Awaitable[None]],
    *,
    unsupported: str | None,
    has_passphrase: bool,
) -> Any:
    """The passkey part of the unlock screen (placed above the passphrase form)."""
    fallback = "You can unlock with your passphrase." if has_passphrase else "Try another of your passkeys."
    box = element("div", classes="panel unlock-passkey", id="unlock-passkey-box")
    button = element("button", "Unlock with a passkey", id="unlock-passkey", type="button")
    button.disabled = unsupported is not None
    error = element("p", unsupported or "", classes="error", id="passkey-unlock-error", role="alert")
    error.hidden = unsupported is None
    append(box, button, error)

    async def clicked(_event: Any) -> None:
        button.disabled, button.textContent = True, "Waiting for your passkey…"
        error.hidden = True
        try:
            await on_passkey()
        except VaultHeaderAltered as failure:  # the passphrase would be refused too
            error.textContent, error.hidden = str(failure), False
            button.disabled = False
        except ProtocolError as failure:
            error.textContent, error.hidden = f"{failure} {fallback}", False
            button.disabled = False
        except Exception as failure:
            js.console.error(f"passkey unlock failed: {type(failure).__name__}: {failure}")
            error.textContent = f"The passkey could not unlock Parley ({type(failure).__name__}). {fallback}"
            error.hidden, button.disabled = False, False
        finally:
            button.textContent = "Unlock with a passkey"

    handlers.on_async(button, "click", clicked)
    return box
