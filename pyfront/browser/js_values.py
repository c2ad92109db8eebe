"""Python values handed to JavaScript the one way the page does it.

* ``uint8``: bytes as a fresh ``Uint8Array`` copy (a Pyodide proxy of ``bytes`` would not outlive the
  call, and JavaScript APIs want a typed array);
* ``js_object``: a ``dict`` as a plain object (Pyodide's default conversion makes a ``Map``, which Web
  APIs such as ``fetch``, ``RTCPeerConnection`` or WebAuthn do not read as options).
"""

from __future__ import annotations

from typing import Any

import js
from pyodide.ffi import to_js


def uint8(data: bytes) -> Any:
    """A fresh ``Uint8Array`` holding a copy of ``data``."""
    array = js.Uint8Array.new(len(data))
    array.assign(data)
    return array


def js_object(value: Any) -> Any:
    """``value`` with every ``dict`` in it a plain JavaScript object."""
    return to_js(value, dict_converter=js.Object.fromEntries)
