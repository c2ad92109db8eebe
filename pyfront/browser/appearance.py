"""How the page looks beyond the stylesheet: the colour scheme the person chose, and the height the app
may use while an on-screen keyboard is open.

* **Theme.** ``static/css/app.css`` follows ``prefers-color-scheme``; a choice made in settings
  ("Light" or "Dark") overrides it through ``html[data-theme]``. The choice is stored sealed like every
  record, as ``appearance/main`` (schema ``APPEARANCE``), so it applies after unlock; before that the
  system's scheme shows.
* **Keyboard.** On a phone the on-screen keyboard shrinks the *visual* viewport. The page's height
  follows it (``--app-height``, set through the CSSOM, which the CSP allows), so the composer stays above
  the keyboard; browsers without ``visualViewport`` keep ``100dvh``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import js

from pyfront.browser.ui import Handlers, append, element
from pyfront.errors import DecodeError
from pyfront.storage.migrations import APPEARANCE

APPEARANCE_STORE = "appearance"
APPEARANCE_KEY = "main"
#: The choices offered, with their labels; "system" follows prefers-color-scheme.
THEMES = {"system": "Same as the system", "light": "Light", "dark": "Dark"}


def theme_from_record(record: object) -> str:
    """The stored theme; no record means "system" (``DecodeError`` for a value this code never writes)."""
    if record is None:
        return "system"
    theme = APPEARANCE.open(record).get("theme")
    if theme not in THEMES:
        raise DecodeError(f"appearance: theme {theme!r} is not one of {sorted(THEMES)}")
    return str(theme)


def theme_record(theme: str) -> dict[str, Any]:
    if theme not in THEMES:
        raise DecodeError(f"appearance: theme {theme!r} is not one of {sorted(THEMES)}")
    return APPEARANCE.new(theme=theme)


def apply_theme(theme: str) -> None:
    root = js.document.documentElement
    if theme == "system":
        root.removeAttribute("data-theme")
    else:
        root.dataset.theme = theme


def follow_visual_viewport(handlers: Handlers) -> None:
    """Keep ``--app-height`` equal to the visual viewport's height (the keyboard's top edge)."""
    viewport = getattr(js.window, "visualViewport", None)
    if not viewport:
        return

    def resized(_event: Any) -> None:
        height = float(viewport.height)
        js.document.documentElement.style.setProperty("--app-height", f"{height:.0f}px")

    resized(None)
    handlers.on(viewport, "resize", resized)


def settings_section(handlers: Handlers, theme: str, on_change: Callable[[str], Awaitable[None]]) -> Any:
    """The settings screen's "Appearance" section: a radio group, applied and stored on change."""
    section = element("fieldset", classes="settings-form appearance", id="appearance")
    append(section, element("legend", "Appearance"))
    for value, label in THEMES.items():
        row = element("div", classes="check")
        radio = element("input", type="radio", name="theme", id=f"theme-{value}", value=value)
        radio.checked = value == theme
        text = element("label", label)
        text.htmlFor = f"theme-{value}"
        append(row, radio, text)
        section.append(row)

        async def chosen(_event: Any, value: str = value) -> None:
            await on_change(value)

        handlers.on_async(radio, "change", chosen)
    return section
