"""Pick the provider for the runtime this code finds itself in (DESIGN.md section 3).

CPython (tests, the headless aiortc peer) gets ``NativeProvider``; Pyodide in the browser
(``sys.platform == "emscripten"``) gets ``WebCryptoProvider`` with its ML-KEM backend detected at
start-up. Each implementation is imported only where it can load: ``cryptography`` does not exist in
the browser, ``js`` does not exist in CPython. This module does no I/O.
"""

from __future__ import annotations

import sys

from pyfront.crypto.provider import CryptoProvider

BROWSER_PLATFORM = "emscripten"


def in_browser() -> bool:
    return sys.platform == BROWSER_PLATFORM


async def create_provider(*, force_noble: bool = False) -> CryptoProvider:
    """The provider for this runtime; ``force_noble`` selects the browser's ML-KEM fallback."""
    if in_browser():
        from pyfront.crypto.webcrypto import create_webcrypto_provider  # noqa: PLC0415

        return await create_webcrypto_provider(force_noble=force_noble)
    from pyfront.crypto.native import NativeProvider  # noqa: PLC0415

    return NativeProvider()
