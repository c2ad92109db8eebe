"""The browser entry point: static/js/loader.js awaits ``start()`` once Pyodide is up.

It replaces the loading screen with a "ready" panel that names the bundle root hash the page runs (from
``/bundle.json``, served by the service worker from the active bundle) and the Python version, tells the
loader that Python started (``parley:ready``), then builds the messenger (``pyfront.browser.app``) and
tells the loader when its first screen shows (``parley:app-ready``: what ``bench/load.py`` times) or that
it could not start (``parley:app-failed``).
"""

from __future__ import annotations

import sys
from typing import Any

import js

MANIFEST_URL = "/bundle.json"
READY_EVENT = "parley:ready"
APP_READY_EVENT = "parley:app-ready"
APP_FAILED_EVENT = "parley:app-failed"


async def root_hash() -> str:
    """The root hash of the bundle this page was served from."""
    response = await js.fetch(MANIFEST_URL)
    if not response.ok:
        raise RuntimeError(f"{MANIFEST_URL}: HTTP {response.status}")
    manifest = (await response.json()).to_py()
    return str(manifest["root"])


def _element(tag: str, text: str = "", class_name: str = "") -> Any:
    element = js.document.createElement(tag)
    if text:
        element.textContent = text
    if class_name:
        element.className = class_name
    return element


def render_ready(root: str) -> None:
    """Swap the loading panel for the ready panel."""
    document = js.document
    loading = document.getElementById("loading")
    if loading is not None:
        loading.remove()
    panel = _element("section", class_name="ready")
    panel.id = "ready"
    panel.append(_element("h2", "Parley"))
    state = _element("p", "Ready", "state")
    state.id = "ready-state"
    panel.append(state)
    panel.append(_element("p", f"Python {sys.version.split()[0]} is running the bundle", "muted"))
    code = _element("code", root, "root-hash-ready")
    code.id = "ready-root-hash"
    panel.append(code)
    document.getElementById("app").append(panel)
    document.getElementById("root-hash").textContent = root


async def start() -> None:
    """Called once by the loader: render the shell and signal that Python runs."""
    root = await root_hash()
    render_ready(root)
    js.document.documentElement.dataset.pyState = "ready"
    js.document.documentElement.dataset.rootHash = root
    js.document.dispatchEvent(js.CustomEvent.new(READY_EVENT))
    from pyfront.browser.app import run as run_app  # noqa: PLC0415  (the messenger, issue 8)

    try:
        await run_app(root)
    except Exception:  # the app shows its own failure; the loader still installs the offline copy
        js.document.dispatchEvent(js.CustomEvent.new(APP_FAILED_EVENT))
        raise
    js.document.dispatchEvent(js.CustomEvent.new(APP_READY_EVENT))
