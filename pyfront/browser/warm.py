"""What the interpreter's memory snapshot holds, and what a page restored from it checks and redoes.

A returning visit skips Pyodide's start-up by restoring a snapshot of the WebAssembly memory taken right
after these imports (docs/architecture.md, "Start-up"; docs/security.md, "The interpreter snapshot").
``static/js/snapshot_worker.js`` makes it in a dedicated worker that never sees a person's data: a fresh
interpreter, our verified code, ``prepare``, nothing else. The page restores it (``static/js/loader.js``)
and calls ``restored`` before anything runs.

Rules for every module imported here (``SNAPSHOT_MODULES`` and what they import):

* nothing built at import time may be a JavaScript value (Pyodide can carry over only references it can
  name by a path from ``globalThis``, such as the ``js`` module itself);
* nothing computed at import time may depend on where it runs (the worker has no ``document``) or on
  randomness (every restored page would share it).
"""

from __future__ import annotations

import asyncio
import importlib
import sys

PROTOCOL_MODULES = (
    "pyfront.session.content",
    "pyfront.mls.messages",
    "pyfront.mls.group",
    "pyfront.olm",
    "pyfront.layers.kem_ratchet",
    "pyfront.session.session",
    "pyfront.messaging.messenger",
    "pyfront.browser.rtc",
    "pyfront.browser.network",
    "pyfront.messaging.courier",
    "pyfront.browser.mailbox",
    "pyfront.browser.views.home",
    "pyfront.browser.views.conversation",
)
"""What the messenger needs after the first screen (about three quarters of our import time), in an order
where each step imports a few modules: ``import_protocol_stack`` loads them one step at a time."""
SNAPSHOT_MODULES = ("pyfront.browser.main", "pyfront.browser.app", *PROTOCOL_MODULES)
"""Imported before the snapshot: the whole messenger, so a restored page imports nothing of ours."""


class _Prepared:
    root_hash: str | None = None


class SnapshotMismatch(RuntimeError):
    """A restored interpreter was prepared for another bundle than the page runs."""


def prepare(root_hash: str) -> None:
    """Import the app into a fresh interpreter, then remember which bundle it came from."""
    for name in SNAPSHOT_MODULES:
        importlib.import_module(name)
    _Prepared.root_hash = root_hash


async def import_protocol_stack() -> None:
    """Import ``PROTOCOL_MODULES``, handing the page back to the browser between steps.

    The first screen (onboarding or unlock) shows without them; they load while the person reads it and
    types, so the main thread is never blocked for the whole import at once. A step that needs them
    earlier simply imports them (an import already done costs nothing).
    """
    for name in PROTOCOL_MODULES:
        importlib.import_module(name)
        await asyncio.sleep(0)


def restored(root_hash: str) -> None:
    """Check a restored interpreter belongs to this bundle; then reseed what must differ per page.

    ``random`` is reseeded from the operating system when something imported it, so two restored pages
    never share its sequence (our own code draws every random byte from the crypto provider instead).
    """
    made_for = _Prepared.root_hash
    if made_for != root_hash:
        raise SnapshotMismatch(f"the interpreter snapshot was made for bundle {made_for}, not {root_hash}")
    random_module = sys.modules.get("random")
    if random_module is not None:
        random_module.seed()
