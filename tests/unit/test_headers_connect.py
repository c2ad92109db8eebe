"""Brokers on other origins: ``--connect-src`` widens ``connect-src`` by exactly the named origins."""

from __future__ import annotations

import pytest

from app import create_app, main
from server import headers
from server.config import Config


def test_default_policy_connects_to_self_only() -> None:
    assert headers.content_security_policy() == headers.CONTENT_SECURITY_POLICY
    assert "connect-src 'self';" in headers.CONTENT_SECURITY_POLICY


def test_named_origins_join_connect_src_and_nothing_else() -> None:
    policy = headers.content_security_policy(["wss://peer.example:9000", "https://[::1]:9443"])
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["connect-src"] == "'self' wss://peer.example:9000 https://[::1]:9443"
    assert directives["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert directives["default-src"] == "'self'"


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "wss://a.example; script-src *",
        "wss://a.example/path",
        "javascript:alert(1)",
        "ftp://a.example",
        "wss://a.example 'unsafe-eval'",
        "",
    ],
)
def test_anything_but_a_bare_origin_is_refused(origin: str) -> None:
    with pytest.raises(headers.OriginError):
        headers.content_security_policy([origin])


def test_the_app_sends_the_widened_policy_on_pages_and_static_files() -> None:
    app = create_app(Config(connect_sources=("wss://peer.example:9000",), testing=True))
    client = app.test_client()
    for path in ("/healthz", "/static/manifest.webmanifest"):
        response = client.get(path)
        assert "connect-src 'self' wss://peer.example:9000;" in response.headers["Content-Security-Policy"]


def test_command_line_refuses_a_bad_origin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--connect-src", "wss://x.example; default-src *"])
    assert exited.value.code == 2
    assert "not an origin" in capsys.readouterr().err
