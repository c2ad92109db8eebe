"""Security headers: the CSP's directives, and which URLs are cached for good (server/headers.py)."""

from __future__ import annotations

import pytest

from server import headers


def directives() -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in headers.CONTENT_SECURITY_POLICY.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def test_csp_forbids_inline_and_eval_and_foreign_origins() -> None:
    csp = directives()
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    everything = headers.CONTENT_SECURITY_POLICY
    for weak in ("'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"):
        assert weak not in everything.split(), weak


def test_permissions_policy_allows_only_camera_and_microphone_for_self() -> None:
    features = dict(item.split("=") for item in headers.PERMISSIONS_POLICY.split(", "))
    allowed = {name for name, value in features.items() if value != "()"}
    assert allowed == {"camera", "microphone"}
    assert features["camera"] == "(self)"
    assert features["geolocation"] == "()"


def test_apply_sets_every_header() -> None:
    response_headers: dict[str, str] = {"Referrer-Policy": "unsafe-url"}
    headers.apply(response_headers)
    assert response_headers["Referrer-Policy"] == "no-referrer"
    assert response_headers["X-Content-Type-Options"] == "nosniff"
    assert response_headers["Content-Security-Policy"] == headers.CONTENT_SECURITY_POLICY
    assert set(headers.SECURITY_HEADERS) <= set(response_headers)


@pytest.mark.parametrize(
    ("url", "immutable"),
    [
        ("/static/vendor/pyodide/pyodide.asm.wasm", True),
        ("/static/vendor/pyfront-0123456789abcdef.zip", True),
        ("/static/vendor/boot.json", False),  # names the current zip: must be revalidated
        ("/static/vendor/pyodide/pyodide-lock.json", False),
        ("/static/js/loader.js", False),
        ("/static/index.html", False),
        ("/bundle.json", False),
        ("/service_worker.js", False),
    ],
)
def test_cache_policy(url: str, immutable: bool) -> None:
    assert headers.is_immutable_url(url) is immutable
    response_headers: dict[str, str] = {}
    headers.whitenoise_headers(response_headers, "/ignored", url)
    expected = headers.CACHE_IMMUTABLE if immutable else headers.CACHE_REVALIDATE
    assert response_headers["Cache-Control"] == expected
