"""Every stored kind's schema and the steps that upgrade its older versions (``pyfront.storage.records``).

This module is the one place that says which layout of each kind this code writes and how the layouts of
earlier releases are lifted to it. To change what a ``to_dict`` writes: raise its schema's ``version``
here, add the step from the old version (a pure ``dict -> dict`` function that copies, never mutates),
and add a test in tests/unit/test_migrations.py that opens a record of the old version. A step is never
removed while a release that wrote its version may still have users; tests/unit/test_release_vault.py
opens a whole vault written by release d165a45.

Records nest: a contact record holds a session state, which holds one state per layer, and the MLS layer
holds the group state. Each carries its own ``"version"`` and is opened by its own schema where its class
reads it. Parts without a version of their own (the MLS secret tree, an Olm ratchet or one-time key, a
settings' ICE server) belong to the layout of the record around them.

This module does no I/O.
"""

from __future__ import annotations

from pyfront.storage.records import Record, Schema

# --- identity and the Olm account (pyfront.session.identity, pyfront.olm) ---------------------------------

IDENTITY = Schema("identity state", version=1)
"""``identity/self``: the Ed25519 identity seed and public key."""

OLM_ACCOUNT = Schema("Olm account state", version=1, tag={"kind": "olm-account"})
"""``olm/account``: identity keys, one-time and fallback keys (``pyfront.olm.account``)."""

OLM_SESSION = Schema("Olm session state", version=1, tag={"kind": "olm-session"})
"""One Olm session with its Double Ratchet (``pyfront.olm.session``), inside the Olm layer state."""

# --- MLS (pyfront.mls) -----------------------------------------------------------------------------------


def _group_state_1_to_2(record: Record) -> Record:
    """Version 2 stores the epoch's confirmation tag. A version-1 state has none: an empty tag, so the
    group works but ``export_group_info`` waits for the next commit (a new epoch brings a tag)."""
    return {**record, "version": 2, "confirmation_tag": ""}


GROUP_STATE = Schema("MLS group state", version=2, upgrades={1: _group_state_1_to_2})
"""One member's group state (``pyfront.mls.group.Group``), inside the MLS layer state."""

KEY_PACKAGE_PRIVATE = Schema("KeyPackagePrivate", version=1)
"""The private half of a published KeyPackage (``pyfront.mls.key_package``)."""

# --- the layers of the cascade (pyfront.layers) ------------------------------------------------------------


def _mls_layer_1_to_2(record: Record) -> Record:
    """Version 2 adds the epoch updates (``pyfront.layers.mls_layer``): no pending commit, no past epoch
    kept, no message counted and no update time yet (the first message sets it; a resume makes an
    update due anyway)."""
    return {
        **record,
        "version": 2,
        "pending": None,
        "previous": None,
        "sent": 0,
        "updated_at": None,
        "update_due": False,
        "resend": False,
    }


MLS_LAYER = Schema("MLS layer state", version=2, upgrades={1: _mls_layer_1_to_2})
"""The MLS layer: the group, our pending commit with its branch, the past epoch kept for late messages."""

OLM_LAYER = Schema("Olm layer state", version=1)


def _kem_ratchet_1_to_2(record: Record) -> Record:
    """Version 2 schedules the repeats of an unacknowledged announcement (the epoch's ciphertext, the
    fresh key): ``ciphertext_repeat_in``/``key_repeat_in`` frames before each rides again. A version-1
    state (which sent them on every frame) carries whatever is still unacknowledged on its next frame."""
    return {**record, "version": 2, "ciphertext_repeat_in": 0, "key_repeat_in": 0}


KEM_RATCHET = Schema("ML-KEM layer state", version=2, upgrades={1: _kem_ratchet_1_to_2})
"""One side's ML-KEM ratchet (``pyfront.layers.kem_ratchet``), inside the session state."""

OUTER_LAYER = Schema("outer layer state", version=1)

# --- the session (pyfront.session.session) -----------------------------------------------------------------

SESSION = Schema("session state", version=1)
"""A session with its inner layers (and the outer layer when it was ready), inside a contact record."""

# --- messaging (pyfront.messaging) -------------------------------------------------------------------------


def _contact_1_to_2(record: Record) -> Record:
    """Version 2 added ``request`` (a message request not accepted yet). Every contact stored before
    requests existed was one the user had: an accepted contact."""
    return {**record, "version": 2, "request": False}


CONTACT = Schema("contact record", version=2, upgrades={1: _contact_1_to_2})
"""``contact/<peer id>``: the profile, trust, the request flag and the session."""


def _chat_message_0_to_1(record: Record) -> Record:
    """Message records of release d165a45 and before carried no version; the layout is the same."""
    return {**record, "version": 1}


def _chat_message_1_to_2(record: Record) -> Record:
    """Version 2 records when a message was delivered and read (the message menu's details). Earlier
    messages did not keep those times: unknown."""
    return {**record, "version": 2, "delivered_at": None, "read_at": None}


CHAT_MESSAGE = Schema(
    "chat message", version=2, upgrades={0: _chat_message_0_to_1, 1: _chat_message_1_to_2}, oldest=0
)
"""``message/<peer id>:<message id>``: one message of a chat (``pyfront.messaging.chat.ChatMessage``)."""

CONVERSATION = Schema("conversation state", version=1)
"""A whole chat with its messages in one record (``pyfront.messaging.chat.Conversation``)."""

CHAT_META = Schema("chat metadata", version=1)
"""``chat/<peer id>``: the chat's disappearing timer."""

BLOCK_LIST = Schema("block list", version=1)
"""``block/list``: the blocked peer ids."""


def _settings_1_to_2(record: Record) -> Record:
    """Version 2 added the mailbox: on, at the server the page came from (``mailbox_url`` empty)."""
    return {**record, "version": 2, "mailbox": True, "mailbox_url": ""}


SETTINGS = Schema("settings", version=2, upgrades={1: _settings_1_to_2})
"""``settings/main``: every user setting (``pyfront.messaging.settings``)."""

MAILBOXES = Schema("contact mailboxes", version=1)
"""``mailbox/<peer id>``: the mailboxes we fetch for one contact (their keys) and the one it granted us
(``pyfront.messaging.mailboxes``)."""

JOURNAL = Schema("contact journal", version=1)
"""``journal/<peer id>``: the contact record and the message records written since the last compaction
(``pyfront.messaging.journal``)."""

HISTORY_SEGMENT = Schema("history index segment", version=1)
"""``history/<peer id>:<segment>``: part of a chat's index of stored messages, each ``[id, sent_at,
expires_at, pinned]`` (``pyfront.messaging.history``)."""


def _file_transfer_1_to_2(record: Record) -> Record:
    """Version 2 keeps the file's digest once known (an offer may say its digest follows in a
    ``FileHash``). A version-1 transfer's offer always carried the digest: it is read from there."""
    return {**record, "version": 2, "digest": ""}


FILE_TRANSFER = Schema("file transfer", version=2, upgrades={1: _file_transfer_1_to_2})
"""``transfer/<file id>``: one side of a file transfer, its phase, chunks done and the file's digest once
known (``pyfront.messaging.transfer.state``); the file's key and parameters are in its chat message."""

# --- the page and the vault (pyfront.browser, pyfront.storage.vault) ---------------------------------------

APPEARANCE = Schema("appearance", version=1)
"""``appearance/main``: the colour scheme chosen in settings (``pyfront.browser.appearance``)."""

PROFILE = Schema("stored profile", version=1)
"""``profile/self``: the user's name, peer id and broker token (``pyfront.browser.app``)."""

_VAULT_HEADER_1_FIELDS = ("protection", "salt", "iterations", "wrapped_data_key", "device_key")


def _vault_header_1_to_2(record: Record) -> Record:
    """Version 2 lists key wraps (passphrase, passkeys, or none) and a MAC over them. A version-1 header
    is its one wrap, field for field (``protection`` becomes the wrap's ``method``), with no MAC: the
    wrap's associated data is unchanged, so it opens as before (``pyfront.storage.vault_header``)."""
    wrap = {"method": record.get("protection"), "salt": record.get("salt")}
    if record.get("protection") == "none":
        wrap["device_key"] = record.get("device_key")
    else:
        wrap["iterations"] = record.get("iterations")
    wrap["wrapped_data_key"] = record.get("wrapped_data_key")
    rest = {key: value for key, value in record.items() if key not in _VAULT_HEADER_1_FIELDS}
    return {**rest, "version": 2, "wraps": [wrap], "mac": ""}


VAULT_HEADER = Schema("vault header", version=2, upgrades={1: _vault_header_1_to_2})
"""The vault's header, stored in clear: the key wraps that open the data key, and their MAC."""

BACKUP_NOTICE = Schema("backup notice", version=1)
"""``notice/backup``: whether the backup prompt was dismissed or a backup exported
(``pyfront.browser.notices``)."""


def _backup_1_to_2(record: Record) -> Record:
    """Version 2 adds the sealed file manifest (``pyfront.storage.backup_container``). A version-1
    document has none: no file section follows it."""
    return {**record, "version": 2, "files": ""}


BACKUP = Schema("backup", version=2, tag={"format": "parley-backup"}, upgrades={1: _backup_1_to_2})
"""An exported backup document: the vault header, every record re-sealed, and (version 2) the sealed
manifest of the file sections that follow it in the backup file (empty: none)."""

SCHEMAS: tuple[Schema, ...] = (
    IDENTITY,
    OLM_ACCOUNT,
    OLM_SESSION,
    GROUP_STATE,
    KEY_PACKAGE_PRIVATE,
    MLS_LAYER,
    OLM_LAYER,
    KEM_RATCHET,
    OUTER_LAYER,
    SESSION,
    CONTACT,
    CHAT_MESSAGE,
    CONVERSATION,
    CHAT_META,
    BLOCK_LIST,
    SETTINGS,
    MAILBOXES,
    JOURNAL,
    HISTORY_SEGMENT,
    FILE_TRANSFER,
    PROFILE,
    APPEARANCE,
    VAULT_HEADER,
    BACKUP_NOTICE,
    BACKUP,
)
"""Every stored kind, for the tests that check each one."""
