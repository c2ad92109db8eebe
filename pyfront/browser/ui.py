"""DOM building from Python: elements, forms and event handlers, with no inline style or script.

The page's CSP (``server/headers.py``) forbids inline styles and scripts, so every element here gets
classes only (``static/app.css`` styles them) and every handler is a Python function attached with
``addEventListener``. Text is always set through ``textContent``, never parsed as HTML, so nothing a
peer sends can become markup. Handlers are kept alive (``Handlers``) and destroyed with their screen.

Pyodide hands JavaScript ``null`` to Python as ``jsnull``, which is falsy but not ``None``: test DOM
look-ups by truthiness, never with ``is None``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import js
from pyodide.ffi import create_proxy, to_js

from pyfront.tasks import TaskSet

STYLESHEET_URL = "/static/app.css"


def ensure_stylesheet(url: str = STYLESHEET_URL) -> None:
    """Add the app's stylesheet to the page once (a ``<link>``: allowed by ``style-src 'self'``)."""
    if js.document.querySelector(f'link[data-app-style="{url}"]'):  # JS null arrives as falsy ``jsnull``
        return
    link = js.document.createElement("link")
    link.rel = "stylesheet"
    link.href = url
    link.dataset.appStyle = url
    js.document.head.append(link)


def element(tag: str, text: str = "", *, classes: str = "", id: str = "", **attributes: str) -> Any:
    """A new element; ``attributes`` are set with ``setAttribute`` (``aria_label`` -> ``aria-label``)."""
    node = js.document.createElement(tag)
    if text:
        node.textContent = text
    if classes:
        node.className = classes
    if id:
        node.id = id
    for name, value in attributes.items():
        node.setAttribute(name.replace("_", "-"), value)
    return node


def append(parent: Any, *children: Any) -> Any:
    for child in children:
        parent.append(child)
    return parent


def field(label: str, input_id: str, *, input_type: str = "text", **attributes: str) -> tuple[Any, Any]:
    """A labelled input: returns (wrapper, input)."""
    wrapper = element("div", classes="field")
    label_node = element("label", label)
    label_node.htmlFor = input_id
    node = element("input", id=input_id, type=input_type, **attributes)
    append(wrapper, label_node, node)
    return wrapper, node


class Handlers:
    """Event handlers of one screen: attached with ``on``, destroyed together with ``clear``."""

    def __init__(self) -> None:
        self._attached: list[tuple[Any, str, Any]] = []
        self._tasks = TaskSet("handlers")

    def on(self, target: Any, event: str, handler: Callable[[Any], None]) -> None:
        proxy = create_proxy(handler)
        target.addEventListener(event, proxy)
        self._attached.append((target, event, proxy))

    def on_async(self, target: Any, event: str, handler: Callable[[Any], Awaitable[None]]) -> None:
        """An async handler; the event's default action is prevented (forms do not navigate).

        The handler starts *eagerly*, inside the event: it runs until its first real wait (a sent text
        is encrypted from the submit on) instead of waiting for a turn of the event loop behind whatever
        is queued (``bench/e2e.py``: ~1-4 ms of a text's latency)."""

        def start(event_object: Any) -> None:
            event_object.preventDefault()
            self.spawn(handler(event_object))

        self.on(target, event, start)

    def spawn(self, step: Awaitable[None]) -> None:
        """Run ``step`` (eagerly: ``TaskSet.spawn``), kept alive until it ends."""
        self._tasks.spawn(step, eager=True)

    def clear(self) -> None:
        attached, self._attached = self._attached, []
        for target, event, proxy in attached:
            target.removeEventListener(event, proxy)
        asyncio.get_event_loop().call_soon(lambda: [proxy.destroy() for _t, _e, proxy in attached])


def clock_time(unix_seconds: float) -> str:
    """Hours and minutes in the person's locale and time zone (the browser knows both; Python does not)."""
    return str(_formatter("time").format(unix_seconds * 1000))


def full_time(unix_seconds: float) -> str:
    return str(_formatter("full").format(unix_seconds * 1000))


_FORMATTERS: dict[str, Any] = {}
"""``Intl.DateTimeFormat`` objects, made on first use and kept: building one per call (as
``toLocaleTimeString`` with options does) cost a bubble about a millisecond (``bench/e2e.py``)."""


def _formatter(kind: str) -> Any:
    formatter = _FORMATTERS.get(kind)
    if formatter is None:
        if kind == "time":
            options = js.Object.fromEntries(to_js(_TIME_FORMAT))
        else:  # what Date.toLocaleString shows: the date and the time with seconds
            options = js.Object.fromEntries(to_js(_FULL_FORMAT))
        formatter = _FORMATTERS[kind] = js.Intl.DateTimeFormat.new(js.undefined, options)
    return formatter


_TIME_FORMAT = [["hour", "2-digit"], ["minute", "2-digit"]]
_FULL_FORMAT = [
    ["year", "numeric"],
    ["month", "numeric"],
    ["day", "numeric"],
    ["hour", "numeric"],
    ["minute", "2-digit"],
    ["second", "2-digit"],
]
"""Plain Python, not a JavaScript object: nothing this module builds at import time may be a JavaScript value,
because the interpreter's memory snapshot is taken after the import (``pyfront/browser/warm.py``)."""
