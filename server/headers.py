"""Security headers for every response: CSP, MIME sniffing, referrer, permissions, isolation.

The reasons for each directive, and for each exception to ``default-src 'self'``, are in
docs/security.md ("Headers"). The same mapping is applied to Flask responses (``apply``) and to files
that whitenoise serves directly (``whitenoise_headers``), so no path escapes it.
"""

from __future__ import annotations

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


def apply(headers: HeaderSink) -> None:
    """Set every security header on a response's header mapping (overwriting weaker values)."""
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value


def whitenoise_headers(headers: HeaderSink, path: str, url: str) -> None:
    """``add_headers_function`` for whitenoise: security headers plus the cache policy for ``url``."""
    apply(headers)
    headers["Cache-Control"] = CACHE_IMMUTABLE if is_immutable_url(url) else CACHE_REVALIDATE


def is_immutable_url(url: str) -> bool:
    """True for URLs whose content never changes: vendored packages and content-addressed files.

    Vendored files come from a lockfile-pinned package, so their bytes are fixed for a given URL as long
    as the version is; content-addressed files (``name.<hash>.ext``) are fixed by construction.
    """
    return url.startswith("/static/vendor/") and not url.endswith(".json")
