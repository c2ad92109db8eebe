"""Keeping the data: persistent storage, what clearing site data does, and the backup prompt.

Settings (``storage_section``): whether the browser has made this site's storage persistent
(``pyfront.browser.persistence``), with a button to ask again, how much it uses, and, in plain words,
what clearing site data does: everything Parley keeps exists only in this browser profile.

Home and chat (``backup_prompt``): once the first contact is added, a dismissible prompt offers the
encrypted backup export of the settings screen, because that is when losing the browser's data starts
to cost something (contacts would have to invite again, history is gone).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pyfront.browser.persistence import Persistence
from pyfront.browser.ui import Handlers, append, element

CLEARING_SITE_DATA = (
    "Everything Parley keeps (your identity key, contacts, chats and settings) exists only in this browser "
    'profile, encrypted; no server has a copy. Clearing this site\'s data ("Clear browsing data" with '
    "cookies and site data, deleting this site's storage, or closing a private window) deletes all of it "
    "for good: your chat history is gone and your contacts would have to invite you again. A passkey stays "
    "in your password manager but cannot bring deleted data back. Only an encrypted backup can."
)
PERSISTENCE_TEXT = {
    Persistence.PERSISTENT: (
        "Persistent: the browser will not delete Parley's data on its own (clearing site data still does)."
    ),
    Persistence.BEST_EFFORT: (
        "Not persistent: the browser may delete Parley's data on its own when the device runs low on space. "
        "Browsers grant persistence more readily to installed or bookmarked sites."
    ),
    Persistence.UNAVAILABLE: "This browser does not say whether it keeps Parley's data.",
}
BACKUP_PROMPT = (
    "You have your first contact. Your chats and keys exist only in this browser: if its data is "
    "cleared, they are gone. Export an encrypted backup now?"
)
#: The same offer over an open chat, short enough to leave the messages most of a phone's screen.
BACKUP_PROMPT_SHORT = "You have your first contact. Your chats exist only in this browser: back them up?"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def storage_section(
    handlers: Handlers,
    *,
    current: Callable[[], Awaitable[Persistence]],
    ask: Callable[[], Awaitable[Persistence]],
    usage: Callable[[], Awaitable[tuple[int, int] | None]],
) -> tuple[Any, Awaitable[None]]:
    """The settings section, and the step that fills in the browser's answers (the caller runs it)."""
    section = element("section", classes="settings-form", id="storage-section")
    status = element("p", "Asking the browser…", classes="status small", id="storage-persistence")
    status.setAttribute("role", "status")
    used = element("p", classes="muted small", id="storage-usage")
    used.hidden = True
    button = element("button", "Ask the browser to keep Parley's data", id="storage-persist", type="button",
                     classes="secondary")  # fmt: skip
    append(
        section,
        element("h3", "Storage on this device"),
        status,
        used,
        button,
        element("p", CLEARING_SITE_DATA, classes="warning", id="storage-clearing", role="note"),
    )

    def show(state: Persistence) -> None:
        status.textContent = PERSISTENCE_TEXT[state]
        status.dataset.state = state.value
        button.hidden = state is not Persistence.BEST_EFFORT

    async def fill() -> None:
        show(await current())
        amounts = await usage()
        if amounts is not None:
            usage_now, quota = _megabytes(amounts[0]), _megabytes(amounts[1])
            used.textContent = f"Parley uses {usage_now} of the {quota} this browser allows it."
            used.hidden = False

    async def clicked(_event: Any) -> None:
        button.disabled = True
        try:
            show(await ask())
        finally:
            button.disabled = False

    handlers.on_async(button, "click", clicked)
    return section, fill()


def backup_prompt(
    handlers: Handlers,
    *,
    on_export: Callable[[], Awaitable[None]],
    on_dismiss: Callable[[], Awaitable[None]],
    compact: bool = False,
) -> Any:
    """The prompt; ``compact`` over an open chat: a shorter text and smaller buttons (``.compact``), so
    that on a phone the message list keeps at least 65% of the screen while it shows."""
    classes = "panel backup-prompt compact" if compact else "panel backup-prompt"
    box = element("aside", classes=classes, id="backup-prompt", aria_label="Backup")
    export = element("button", "Export a backup", id="backup-prompt-export", type="button")
    dismiss = element("button", "Not now", id="backup-prompt-dismiss", type="button", classes="secondary")
    text = BACKUP_PROMPT_SHORT if compact else BACKUP_PROMPT
    append(box, element("p", text, id="backup-prompt-text"), export, dismiss)

    async def exported(_event: Any) -> None:
        await on_export()

    async def dismissed(_event: Any) -> None:
        await on_dismiss()  # stored first: a reload right after must not bring the prompt back
        box.remove()

    handlers.on_async(export, "click", exported)
    handlers.on_async(dismiss, "click", dismissed)
    return box
