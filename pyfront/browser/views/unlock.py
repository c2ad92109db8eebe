"""Unlock on start: the passphrase opens the vault; a wrong one is refused and nothing changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pyfront.browser.ui import Handlers, append, element, field
from pyfront.errors import AuthenticationError
from pyfront.storage.vault import VaultHeaderAltered

REFUSED_TEXT = "That passphrase is not the right one."

#: Returns normally when the passphrase opened the vault; raises ``AuthenticationError`` otherwise.
Unlock = Callable[[str], Awaitable[None]]


def render(
    container: Any,
    handlers: Handlers,
    on_unlock: Unlock,
    *,
    has_passphrase: bool = True,
    passkey_option: Any = None,
) -> None:
    """The passphrase form; ``passkey_option`` (``views.passkeys.unlock_option``) goes above it, and a vault
    without a passphrase shows only that."""
    form = element("form", classes="panel unlock", id="unlock", novalidate="")
    append(
        form,
        element("h2", "Unlock Parley"),
        element(
            "p", "Your messages and keys on this device are encrypted until you unlock them.", classes="muted"
        ),
    )
    pass_field, pass_input = field(
        "Passphrase", "unlock-passphrase", input_type="password", autocomplete="current-password"
    )
    error = element("p", classes="error", id="unlock-error", role="alert")
    error.hidden = True
    button = element("button", "Unlock", id="unlock-submit", type="submit")
    if passkey_option is not None:
        form.append(passkey_option)
    append(form, pass_field, error, button)
    pass_field.hidden = button.hidden = not has_passphrase
    container.append(form)
    pass_input.focus()

    async def submitted(_event: Any) -> None:
        button.disabled, button.textContent = True, "Unlocking…"
        try:
            await on_unlock(str(pass_input.value))
        except AuthenticationError as failure:
            refused = str(failure) if isinstance(failure, VaultHeaderAltered) else REFUSED_TEXT
            error.textContent, error.hidden = refused, False
            pass_input.value = ""
            pass_input.focus()
        finally:
            button.disabled, button.textContent = False, "Unlock"

    handlers.on_async(form, "submit", submitted)
