"""First run: a display name and an optional passphrase; the identity is created on this device.

No registration: the identity key is generated locally (``pyfront.session.identity.Identity``). Without a
passphrase the screen says plainly that the data key then sits unprotected on this device
(DESIGN.md section 5, "Storage at rest").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

from pyfront.browser.ui import Handlers, append, element, field

#: The longest display name (characters); it is shown to contacts and carried in invite links.
MAX_DISPLAY_NAME_LENGTH = 64
#: A passphrase shorter than this is refused (it is the only thing guarding the data key).
MIN_PASSPHRASE_LENGTH = 8
UNPROTECTED_WARNING = (
    "Without a passphrase, the key that encrypts your messages is stored unprotected on this device: "
    "anyone who can open this browser profile can read them."
)

Submit = Callable[[str, str | None], Awaitable[None]]


def check_onboarding(name: str, passphrase: str, confirmation: str) -> str | None:
    """The problem with this input, in words for the person, or ``None`` when it is fine."""
    if not name.strip():
        return "Choose a display name."
    if len(name) > MAX_DISPLAY_NAME_LENGTH:
        return f"A display name is at most {MAX_DISPLAY_NAME_LENGTH} characters."
    if any(unicodedata.category(char).startswith("C") for char in name):
        return "A display name cannot contain control characters."
    if passphrase != confirmation:
        return "The two passphrases differ."
    if passphrase and len(passphrase) < MIN_PASSPHRASE_LENGTH:
        return f"A passphrase needs at least {MIN_PASSPHRASE_LENGTH} characters (or leave it empty)."
    return None


def render(
    container: Any,
    handlers: Handlers,
    on_submit: Submit,
    *,
    passkey_choice: Any = None,
    on_about: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """``passkey_choice`` (``views.passkeys.onboarding_choice``) follows the passphrase; when chosen, the
    unprotected warning goes away as it does with a passphrase. ``on_about`` opens "How Parley protects
    you" (``views.protection``)."""
    form = element("form", classes="panel onboarding", id="onboarding", novalidate="")
    append(
        form,
        element("h2", "Welcome to Parley"),
        element(
            "p",
            "Your identity is created on this device. There is no account and no phone number.",
            classes="muted",
        ),
    )
    if on_about is not None:
        about = element(
            "button", "How Parley protects you", id="onboarding-about", type="button", classes="secondary"
        )
        form.append(about)

        async def about_clicked(_event: Any) -> None:
            await on_about()

        handlers.on_async(about, "click", about_clicked)
    name_field, name_input = field(
        "Display name", "onboarding-name", autocomplete="nickname", maxlength=str(MAX_DISPLAY_NAME_LENGTH)
    )
    pass_field, pass_input = field(
        "Passphrase (optional)", "onboarding-passphrase", input_type="password", autocomplete="new-password"
    )
    confirm_field, confirm_input = field(
        "Repeat the passphrase", "onboarding-confirm", input_type="password", autocomplete="new-password"
    )
    warning = element("p", UNPROTECTED_WARNING, classes="warning", id="onboarding-warning", role="note")
    error = element("p", classes="error", id="onboarding-error", role="alert")
    error.hidden = True
    button = element("button", "Create my identity", id="onboarding-submit", type="submit")
    append(form, name_field, pass_field, confirm_field)
    if passkey_choice is not None:
        form.append(passkey_choice.element)
    append(form, warning, error, button)
    container.append(form)
    name_input.focus()

    def passphrase_changed(_event: Any) -> None:
        warning.hidden = bool(pass_input.value) or (passkey_choice is not None and passkey_choice.chosen())

    async def submitted(_event: Any) -> None:
        name, passphrase = str(name_input.value).strip(), str(pass_input.value)
        problem = check_onboarding(name, passphrase, str(confirm_input.value))
        if problem:
            error.textContent, error.hidden = problem, False
            return
        error.hidden = True
        button.disabled = True
        button.textContent = "Creating your keys…"
        try:
            await on_submit(name, passphrase or None)
        except Exception as failure:
            error.textContent, error.hidden = f"Could not create the identity: {failure}", False
            button.disabled, button.textContent = False, "Create my identity"

    handlers.on(pass_input, "input", passphrase_changed)
    if passkey_choice is not None:
        handlers.on(passkey_choice.box, "change", passphrase_changed)
    handlers.on_async(form, "submit", submitted)
