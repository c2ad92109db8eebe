"""Settings: broker, ICE servers, relay-only, the privacy toggles, blocked peer ids, passphrase, backups, the
bundle.

Every change goes through ``pyfront.messaging.settings.Settings.with_changes``, so a bad value is refused
with a clear message and nothing changes. ICE servers are typed one per line::

    stun:stun.example.org:3478
    turn:turn.example.org:3478,turns:turn.example.org:5349 username credential

(``pyfront.messaging.settings.parse_ice_lines``). Credentials are shown only in this form, never logged.

"Blocked" lists the peer ids blocked from a message request ("Delete and block"), each with **Unblock**
(``Messenger.unblock``, stored at once): that person's next call arrives as a message request again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyfront.browser.ui import Handlers, append, element, field
from pyfront.messaging.settings import Settings, format_ice_lines, parse_ice_lines


@dataclass
class SettingsActions:
    save: Callable[[Settings], Awaitable[None]]
    change_passphrase: Callable[[str, str | None], Awaitable[None]]
    export_backup: Callable[[str], Awaitable[str]]
    """Writes the backup; returns what it holds, to show."""
    import_backup: Callable[[Any, str], Awaitable[str]]
    """Imports the picked ``File`` (read in parts, never whole); returns what was imported, to show."""
    back: Callable[[], Awaitable[None]]
    fetch_statics: Callable[[], None]
    unblock: Callable[[str], Awaitable[None]]


def _checkbox(label: str, input_id: str, checked: bool) -> tuple[Any, Any]:
    wrapper = element("div", classes="check")
    box = element("input", id=input_id, type="checkbox")
    box.checked = checked
    text = element("label", label)
    text.htmlFor = input_id
    append(wrapper, box, text)
    return wrapper, box


def _result(node_id: str) -> Any:
    node = element("p", classes="status small", id=node_id, role="status")
    node.hidden = True
    return node


def _show(node: Any, text: str, ok: bool) -> None:
    node.textContent, node.hidden = text, False
    node.dataset.state = "ready" if ok else "failed"


def render(
    container: Any,
    handlers: Handlers,
    settings: Settings,
    *,
    root_hash: str,
    has_passphrase: bool,
    blocked: list[str],
    actions: SettingsActions,
    extra_sections: Sequence[Any] = (),
) -> None:
    """``extra_sections`` (passkeys, storage: ``views.passkeys``, ``views.safekeeping``) follow the
    passphrase."""
    panel = element("section", classes="panel settings", id="settings", aria_labelledby="settings-title")
    back = element("button", "← Chats", id="settings-back", type="button", classes="secondary", data_back="")
    append(panel, back, element("h2", "Settings", id="settings-title"))

    # --- connection and privacy -------------------------------------------------------------------
    form = element("form", id="settings-form", classes="settings-form", novalidate="")
    broker_field, broker_url = field("Broker URL (empty: this server)", "settings-broker-url")
    broker_url.value = settings.broker_url
    broker_url.placeholder = "https://broker.example.org/peerjs"
    key_field, broker_key = field("Broker key", "settings-broker-key")
    broker_key.value = settings.broker_key
    ice_label = element("label", "ICE servers (one per line: URL[,URL] [username credential])")
    ice_label.htmlFor = "settings-ice"
    ice = element("textarea", id="settings-ice", rows="3", spellcheck="false")
    ice.value = format_ice_lines(settings.ice_servers)
    relay_row, relay = _checkbox(
        "Relay-only mode (hide my address behind TURN)", "settings-relay", settings.relay_only
    )
    typing_row, typing = _checkbox(
        "Send and show typing indicators", "settings-typing", settings.typing_indicators
    )
    receipts_row, receipts = _checkbox(
        "Send and show read receipts", "settings-receipts", settings.read_receipts
    )
    notify_row, notify = _checkbox(
        "Notifications while the tab is hidden", "settings-notifications", settings.notifications
    )
    mailbox_row, mailbox = _checkbox(
        "Keep sealed messages on the server while a contact is offline (mailbox)",
        "settings-mailbox",
        settings.mailbox,
    )
    mailbox_field, mailbox_url = field("Mailbox URL (empty: this server)", "settings-mailbox-url")
    mailbox_url.value = settings.mailbox_url
    mailbox_url.placeholder = "https://parley.example.org/mailbox/v1"
    saved = _result("settings-saved")
    append(
        form,
        element("h3", "Connection"),
        broker_field,
        key_field,
        ice_label,
        ice,
        relay_row,
        mailbox_row,
        mailbox_field,
        element("h3", "Privacy"),
        typing_row,
        receipts_row,
        notify_row,
        element("button", "Save settings", id="settings-save", type="submit"),
        saved,
    )

    # --- blocked peer ids -------------------------------------------------------------------------
    blocked_section = element("section", classes="settings-form", id="blocked-section")
    blocked_list = element("ul", classes="blocked", id="blocked")
    nobody = element("p", "No one is blocked.", classes="muted", id="blocked-none")
    nobody.hidden = bool(blocked)
    blocked_result = _result("blocked-result")
    for peer_id in blocked:
        item = element("li", classes="row", data_peer=peer_id)
        unblock = element("button", "Unblock", type="button", classes="secondary unblock", data_peer=peer_id)
        append(item, element("code", peer_id), unblock)
        blocked_list.append(item)

        async def unblock_clicked(_event: Any, peer_id: str = peer_id, item: Any = item) -> None:
            try:
                await actions.unblock(peer_id)
            except Exception as error:
                _show(blocked_result, f"Not unblocked: {error}", False)
                return
            item.remove()
            nobody.hidden = bool(blocked_list.children.length)
            _show(blocked_result, f"Unblocked {peer_id}: their next call arrives as a message request.", True)

        handlers.on_async(unblock, "click", unblock_clicked)
    append(
        blocked_section,
        element("h3", "Blocked"),
        element(
            "p", "Calls from these peer ids are refused; nothing of them is stored.", classes="muted small"
        ),
        nobody,
        blocked_list,
        blocked_result,
    )

    # --- passphrase -------------------------------------------------------------------------------
    secret = element("form", id="passphrase-form", classes="settings-form", novalidate="")
    current_field, current = field(
        "Current passphrase", "passphrase-current", input_type="password", autocomplete="current-password"
    )
    current_field.hidden = not has_passphrase
    new_field, new = field(
        "New passphrase (empty: none)", "passphrase-new", input_type="password", autocomplete="new-password"
    )
    again_field, again = field(
        "Repeat the new passphrase", "passphrase-again", input_type="password", autocomplete="new-password"
    )
    secret_result = _result("passphrase-result")
    append(
        secret,
        element("h3", "Passphrase"),
        current_field,
        new_field,
        again_field,
        element("button", "Change passphrase", id="passphrase-submit", type="submit"),
        secret_result,
    )

    # --- backup -----------------------------------------------------------------------------------
    backup = element("section", classes="settings-form", id="backup")
    backup_field, backup_pass = field(
        "Backup passphrase", "backup-passphrase", input_type="password", autocomplete="new-password"
    )
    export = element(
        "button", "Export encrypted backup", id="backup-export", type="button", classes="secondary"
    )
    file_label = element("label", "Backup file to import (replaces everything on this device)")
    file_label.htmlFor = "backup-file"
    file_input = element("input", id="backup-file", type="file", accept=".parley,application/octet-stream")
    restore = element("button", "Import backup", id="backup-import", type="button", classes="secondary")
    backup_result = _result("backup-result")
    append(
        backup, element("h3", "Backup"), backup_field, export, file_label, file_input, restore, backup_result
    )

    # --- bundle -----------------------------------------------------------------------------------
    bundle = element("section", classes="settings-form", id="bundle-info")
    code = element("code", root_hash, id="settings-root-hash", classes="root-hash-inline")
    fetch = element("button", "Fetch latest statics", id="settings-fetch", type="button", classes="secondary")
    append(bundle, element("h3", "App bundle"), element("p", "Root hash of the running bundle:"), code, fetch)

    append(panel, form, blocked_section, secret, *extra_sections, backup, bundle)
    container.append(panel)

    async def back_clicked(_event: Any) -> None:
        await actions.back()

    async def save(_event: Any) -> None:
        try:
            changed = settings.with_changes(
                broker_url=str(broker_url.value).strip(),
                broker_key=str(broker_key.value).strip(),
                ice_servers=parse_ice_lines(str(ice.value)),
                relay_only=bool(relay.checked),
                typing_indicators=bool(typing.checked),
                read_receipts=bool(receipts.checked),
                notifications=bool(notify.checked),
                mailbox=bool(mailbox.checked),
                mailbox_url=str(mailbox_url.value).strip(),
            )
            await actions.save(changed)
        except Exception as error:
            _show(saved, f"Not saved: {error}", False)
            return
        _show(saved, "Saved.", True)

    async def change(_event: Any) -> None:
        if str(new.value) != str(again.value):
            _show(secret_result, "The two new passphrases differ.", False)
            return
        try:
            await actions.change_passphrase(str(current.value), str(new.value) or None)
        except Exception as error:
            _show(secret_result, f"Not changed: {error}", False)
            return
        for node in (current, new, again):
            node.value = ""
        _show(secret_result, "Passphrase changed.", True)

    async def export_clicked(_event: Any) -> None:
        _show(backup_result, "Writing the backup…", True)
        try:
            written = await actions.export_backup(str(backup_pass.value))
        except Exception as error:
            _show(backup_result, f"No backup: {error}", False)
            return
        _show(backup_result, written, True)

    async def import_clicked(_event: Any) -> None:
        files = file_input.files
        if not files or not files.length:
            _show(backup_result, "Choose a backup file first.", False)
            return
        _show(backup_result, "Checking the backup…", True)
        try:
            imported = await actions.import_backup(files.item(0), str(backup_pass.value))
        except Exception as error:
            _show(backup_result, f"Not imported: {error}", False)
            return
        _show(backup_result, imported, True)

    def fetch_clicked(_event: Any) -> None:
        actions.fetch_statics()

    handlers.on_async(back, "click", back_clicked)
    handlers.on_async(form, "submit", save)
    handlers.on_async(secret, "submit", change)
    handlers.on_async(export, "click", export_clicked)
    handlers.on_async(restore, "click", import_clicked)
    handlers.on(fetch, "click", fetch_clicked)
    back.focus()
