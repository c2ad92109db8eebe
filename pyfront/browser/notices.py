"""The backup prompt's memory: shown until the person exports a backup or says "not now".

Stored sealed like every record, as ``notice/backup`` (schema ``BACKUP_NOTICE``): ``{"state":
"dismissed" | "exported"}``. No record means the prompt is due once there is a contact.
"""

from __future__ import annotations

from enum import Enum

from pyfront.browser.storage import SealedStorage
from pyfront.errors import DecodeError
from pyfront.storage.migrations import BACKUP_NOTICE

STORE, KEY = "notice", "backup"


class BackupNotice(Enum):
    DISMISSED = "dismissed"
    EXPORTED = "exported"


async def backup_notice(storage: SealedStorage) -> BackupNotice | None:
    stored = await storage.get_json(STORE, KEY)
    if stored is None:
        return None
    state = BACKUP_NOTICE.open(stored).get("state")
    try:
        return BackupNotice(state)
    except ValueError:
        raise DecodeError(f"backup notice: unknown state {state!r}") from None


async def remember(storage: SealedStorage, notice: BackupNotice) -> None:
    await storage.put_json(STORE, KEY, BACKUP_NOTICE.new(state=notice.value))
