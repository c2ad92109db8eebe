"""Every stored kind's schema and upgrade steps (pyfront.storage.migrations).

Each step is tested on a record of its old version as that version was written; the whole vault of
release d165a45 is opened in tests/unit/test_release_vault.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pyfront.errors import DecodeError
from pyfront.messaging.chat import ChatMessage, Direction, Kind, Status
from pyfront.storage import migrations
from pyfront.storage.records import Schema

# A message record as release d165a45 stored it under message/<peer id>:<message id> (no version).
RELEASE_MESSAGE = {
    "id": "52f9d27b64f092dc6da44ee47af985d8",
    "dir": "in",
    "kind": "text",
    "text": "Hello Bob! Got it.",
    "sent_at": 1800000014.0,
    "status": "delivered",
    "timer": 0,
    "expires_at": None,
    "read": True,
    "attachment": None,
}


def test_every_kind_is_listed_once_with_its_current_version() -> None:
    kinds = [schema.kind for schema in migrations.SCHEMAS]
    assert len(kinds) == len(set(kinds)) == 25
    listed = {id(schema) for schema in migrations.SCHEMAS}
    defined = {id(value) for value in vars(migrations).values() if isinstance(value, Schema)}
    assert listed == defined
    versions = {schema.kind: schema.version for schema in migrations.SCHEMAS}
    twos = (
        "MLS group state",
        "MLS layer state",
        "ML-KEM layer state",
        "contact record",
        "settings",
        "vault header",
        "chat message",
        "file transfer",
        "backup",
    )
    assert {versions[kind] for kind in twos} == {2}
    assert {version for kind, version in versions.items() if kind not in twos} == {1}


@pytest.mark.parametrize("schema", migrations.SCHEMAS, ids=lambda schema: schema.kind)
def test_each_step_copies_and_lifts_one_version(schema: Schema) -> None:
    for version, step in schema.upgrades.items():
        old: dict[str, Any] = {**schema.tag, "version": version, "field": {"nested": [1]}}
        before = copy.deepcopy(old)
        new = step(old)
        assert old == before, f"{schema.kind}: the step from {version} changed its input"
        assert new["version"] == version + 1 and new["field"] == {"nested": [1]}
    current = schema.new(field=1)
    assert schema.open(current) == current


def test_group_state_1_gains_an_empty_confirmation_tag() -> None:
    """Version 1 had no confirmation tag (the epoch's tag is unknown until the next commit:
    tests/unit/test_mls_group.py::test_state_format_1_still_loads)."""
    opened = migrations.GROUP_STATE.open({"version": 1, "context": "00"})
    assert opened == {"version": 2, "context": "00", "confirmation_tag": ""}
    kept = migrations.GROUP_STATE.open({"version": 2, "confirmation_tag": "ab"})
    assert kept["confirmation_tag"] == "ab"


def test_mls_layer_1_has_no_update_yet() -> None:
    """Version 1 never committed (tests/unit/test_mls_layer.py::test_a_version_1_layer_loads_and_updates):
    no pending commit or past epoch, nothing counted, and the update clock starts at the next message."""
    opened = migrations.MLS_LAYER.open({"version": 1, "group": {"version": 2}})
    assert opened == {
        "version": 2,
        "group": {"version": 2},
        "pending": None,
        "previous": None,
        "sent": 0,
        "updated_at": None,
        "update_due": False,
        "resend": False,
    }


def test_kem_ratchet_1_carries_its_pending_announcements_on_the_next_frame() -> None:
    """Version 1 sent an unacknowledged ciphertext or key on every frame; lifted, both are due on the next
    frame, then every KEM_ANNOUNCE_INTERVAL-th (tests/unit/test_kem_ratchet.py runs such a state)."""
    opened = migrations.KEM_RATCHET.open({"version": 1, "send_epoch": 3})
    assert opened == {"version": 2, "send_epoch": 3, "ciphertext_repeat_in": 0, "key_repeat_in": 0}


def test_file_transfer_1_has_no_digest_of_its_own() -> None:
    """A version-1 transfer's offer always carried the file's digest (``DIGEST_FOLLOWS`` came with
    version 2): the engine reads it from there."""
    record = {"version": 1, "peer_id": "p1", "file_id": "00" * 16, "role": "send", "chunks": 3}
    assert migrations.FILE_TRANSFER.open(record) == {**record, "version": 2, "digest": ""}


def test_contact_1_is_an_accepted_contact() -> None:
    """Contacts stored before message requests existed were added by the user: never requests.
    Version 2 keeps whatever it stored (the messenger reads anything but ``false`` as a request)."""
    assert migrations.CONTACT.open({"version": 1, "peer_id": "p1"}) == {
        "version": 2,
        "peer_id": "p1",
        "request": False,
    }
    assert migrations.CONTACT.open({"version": 1, "request": True})["request"] is False
    assert migrations.CONTACT.open({"version": 2, "request": "yes"})["request"] == "yes"
    assert "request" not in migrations.CONTACT.open({"version": 2})


def test_backup_1_has_no_file_manifest() -> None:
    old = {"format": "parley-backup", "version": 1, "vault": {"v": 1}, "records": {}}
    assert migrations.BACKUP.open(old) == {**old, "version": 2, "files": ""}


def test_vault_header_1_becomes_its_one_wrap_without_a_mac() -> None:
    """A passphrase header of release d165a45 and an unprotected one: each field moves into the wrap
    as it was (its associated data is unchanged: tests/unit/test_vault_header.py opens them)."""
    passphrase = {"version": 1, "protection": "passphrase", "salt": "c2FsdA==", "iterations": 100000,
                  "wrapped_data_key": "d3JhcA=="}  # fmt: skip
    assert migrations.VAULT_HEADER.open(passphrase) == {
        "version": 2,
        "wraps": [
            {"method": "passphrase", "salt": "c2FsdA==", "iterations": 100000, "wrapped_data_key": "d3JhcA=="}
        ],
        "mac": "",
    }
    none = {"version": 1, "protection": "none", "salt": "c2FsdA==", "iterations": 0,
            "wrapped_data_key": "d3JhcA==", "device_key": "a2V5"}  # fmt: skip
    assert migrations.VAULT_HEADER.open(none)["wraps"] == [
        {"method": "none", "salt": "c2FsdA==", "device_key": "a2V5", "wrapped_data_key": "d3JhcA=="}
    ]


UNKNOWN_TIMES = {"delivered_at": None, "read_at": None}


def test_a_release_message_record_without_a_version_loads_unchanged() -> None:
    """Lifted through version 1 (same layout) to 2 (delivery and read times, unknown for old messages)."""
    assert migrations.CHAT_MESSAGE.open(RELEASE_MESSAGE) == {**RELEASE_MESSAGE, "version": 2, **UNKNOWN_TIMES}
    message = ChatMessage.from_dict(RELEASE_MESSAGE)
    assert (message.direction, message.kind, message.status) == (
        Direction.INCOMING,
        Kind.TEXT,
        Status.DELIVERED,
    )
    assert (message.delivered_at, message.read_at) == (None, None)
    assert message.to_dict() == {**RELEASE_MESSAGE, "version": 2, **UNKNOWN_TIMES}


def test_message_1_gains_unknown_delivery_times_and_2_keeps_them() -> None:
    version_1 = {**RELEASE_MESSAGE, "version": 1}
    assert migrations.CHAT_MESSAGE.open(version_1) == {**version_1, "version": 2, **UNKNOWN_TIMES}
    stored = {**version_1, "version": 2, "delivered_at": 1700000001.5, "read_at": 1700000009.0}
    message = ChatMessage.from_dict(stored)
    assert (message.delivered_at, message.read_at) == (1700000001.5, 1700000009.0)
    assert message.to_dict() == stored


def test_olm_records_keep_their_kind_tag() -> None:
    """The Olm account and session carry ``kind``, so one cannot be read as the other."""
    assert migrations.OLM_ACCOUNT.new()["kind"] == "olm-account"
    assert migrations.OLM_SESSION.new()["kind"] == "olm-session"
    with pytest.raises(DecodeError, match="kind 'olm-session' expected, got 'olm-account'"):
        migrations.OLM_SESSION.open(migrations.OLM_ACCOUNT.new())


def test_settings_version_1_opens_with_the_mailbox_on_at_the_page_server() -> None:
    opened = migrations.SETTINGS.open({"version": 1, "broker_url": ""})
    assert opened == {"version": 2, "broker_url": "", "mailbox": True, "mailbox_url": ""}
