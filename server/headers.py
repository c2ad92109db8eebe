"""Security headers for every response: CSP, MIME sniffing, referrer, permissions, isolation.

The reasons for each directive, and for each exception to ``default-src 'self'``, are in
docs/security.md ("Headers"). The same mapping is applied to Flask responses (``apply``) and to files
that whitenoise serves directly (``whitenoise_headers``), so no path escapes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

# ``'wasm-unsafe-eval'`` lets Pyodide compile its WebAssembly; Chromium refuses
# ``WebAssembly.instantiate`` without it. Pyodide needs no ``'unsafe-eval'`` (tested by
# tests/browser/test_headers_csp.py, which fails if the page logs a CSP violation).
CSP_DIRECTIVES: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    ("script-src", "'self' 'wasm-unsafe-eval'"),
    ("style-src", "'self'"),
    ("img-src", "'self' data: blob:"),
    ("media-src", "'self' blob:"),
    ("font-src", "'self'"),
    ("connect-src", "'self'"),
    ("worker-src", "'self'"),
    ("manifest-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'none'"),
    ("form-action", "'none'"),
    ("frame-ancestors", "'none'"),
)

CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in CSP_DIRECTIVES)

# A broker on another origin (a stock ``peer`` server the users chose) must be named by whoever runs this
# server (``python app.py --connect-src wss://broker.example:9000``): ``connect-src`` stays ``'self'`` plus
# exactly those origins, so a compromised page still cannot send anything anywhere else.
_ORIGIN = re.compile(r"^(?:wss?|https?)://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
MAX_CONNECT_SOURCES = 16


class OriginError(ValueError):
    """A ``--connect-src`` value that is not a bare ``ws``/``wss``/``http``/``https`` origin."""


def check_connect_sources(origins: Sequence[str]) -> tuple[str, ...]:
    """Validate extra ``connect-src`` origins; refuses anything that could widen or break the policy."""
    if len(origins) > MAX_CONNECT_SOURCES:
        raise OriginError(f"at most {MAX_CONNECT_SOURCES} extra connect-src origins")
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise OriginError(f"not an origin (scheme://host[:port], ws/wss/http/https): {origin!r}")
    return tuple(origins)


def content_security_policy(connect_sources: Sequence[str] = ()) -> str:
    """The CSP, with ``connect_sources`` (validated origins) added to ``connect-src``."""
    extra = check_connect_sources(connect_sources)
    if not extra:
        return CONTENT_SECURITY_POLICY
    directives = [(n, f"{v} {' '.join(extra)}" if n == "connect-src" else v) for n, v in CSP_DIRECTIVES]
    return "; ".join(f"{name} {value}" for name, value in directives)


# Camera for scanning QR codes (and calls later), microphone for calls; every other powerful feature off.
PERMISSIONS_POLICY = ", ".join(
    [
        "camera=(self)",
        "microphone=(self)",
        "geolocation=()",
        "payment=()",
        "usb=()",
        "serial=()",
        "hid=()",
        "midi=()",
        "magnetometer=()",
        "gyroscope=()",
        "accelerometer=()",
        "display-capture=()",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# Cache policies (docs/security.md, "Caching"): files whose bytes can never change under their URL are
# cached for a year; everything that names the current bundle is revalidated on every use.
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_REVALIDATE = "no-cache"


class HeaderSink(Protocol):
    """Anything headers can be set on: a dict, ``werkzeug.datastructures.Headers``, whitenoise's."""

    def __setitem__(self, name: str, value: str, /) -> None: ...


def apply(headers: HeaderSink, policy: str = CONTENT_SECURITY_POLICY) -> None:
    """Set every security header on a response's header mapping (overwriting weaker values)."""
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value
    headers["Content-Security-Policy"] = policy


def whitenoise_headers(headers: HeaderSink, path: str, url: str) -> None:
    """``add_headers_function`` for whitenoise: security headers plus the cache policy for ``url``."""
    whitenoise_headers_with(CONTENT_SECURITY_POLICY)(headers, path, url)


def whitenoise_headers_with(policy: str) -> Callable[[HeaderSink, str, str], None]:
    """``whitenoise_headers`` for a server whose CSP names extra ``connect-src`` origins."""

    def add_headers(headers: HeaderSink, path: str, url: str) -> None:
        apply(headers, policy)
        headers["Cache-Control"] = CACHE_IMMUTABLE if is_immutable_url(url) else CACHE_REVALIDATE

    return add_headers


def is_immutable_url(url: str) -> bool:
    """True for URLs whose content never changes: vendored packages and content-addressed files.

    Vendored files come from a lockfile-pinned package, so their bytes are fixed for a given URL as long
    as the version is; content-addressed files (``name.<hash>.ext``) are fixed by construction.
    """
    return url.startswith("/static/vendor/") and not url.endswith(".json")
