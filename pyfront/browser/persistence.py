"""Persistent storage: ``navigator.storage.persist()`` asked at first run, its state shown in settings.

Without persistence a browser may evict this site's IndexedDB on its own when the device runs low on
space ("best-effort" storage); with it, only the person clearing site data deletes it. Browsers decide
themselves whether to grant it (Chromium: for an installed app, a bookmarked site, or granted
notifications; Firefox asks the person). Parley asks once when the identity is created, and again when
the person presses the button in settings; it never depends on the answer.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import js


class Persistence(Enum):
    PERSISTENT = "persistent"
    BEST_EFFORT = "best-effort"
    UNAVAILABLE = "unavailable"


def _storage_manager() -> Any:
    manager = getattr(js.navigator, "storage", None)
    return manager if manager and getattr(manager, "persisted", None) else None


async def state() -> Persistence:
    """Whether the browser has granted persistence to this site."""
    manager = _storage_manager()
    if manager is None:
        return Persistence.UNAVAILABLE
    try:
        return Persistence.PERSISTENT if bool(await manager.persisted()) else Persistence.BEST_EFFORT
    except Exception:  # a browser that refuses to say
        return Persistence.UNAVAILABLE


async def request() -> Persistence:
    """Ask for persistence (``navigator.storage.persist()``); the answer is the browser's to give."""
    manager = _storage_manager()
    if manager is None or not getattr(manager, "persist", None):
        return Persistence.UNAVAILABLE
    try:
        granted = bool(await manager.persist())
    except Exception as error:
        js.console.warn(f"storage.persist refused: {getattr(error, 'name', error)}")
        return await state()
    return Persistence.PERSISTENT if granted else Persistence.BEST_EFFORT


async def usage() -> tuple[int, int] | None:
    """Bytes this site uses and the quota the browser gives it, when the browser says."""
    manager = _storage_manager()
    if manager is None or not getattr(manager, "estimate", None):
        return None
    try:
        estimate = await manager.estimate()
        return int(estimate.usage or 0), int(estimate.quota or 0)
    except Exception:
        return None
