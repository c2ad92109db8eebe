"""The server as a person's browser meets it: ``python app.py serve`` in a subprocess (tests/rig)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from http.client import HTTPResponse

import pytest

from app import create_app, main
from server import headers
from server.config import Config
from tests.rig.server import REPO_ROOT, LiveServer


def fetch(url: str, **request_headers: str) -> HTTPResponse:
    request = urllib.request.Request(url, headers=request_headers)
    response: HTTPResponse = urllib.request.urlopen(request, timeout=10)
    return response


def test_healthz_answers_ok(live_server: LiveServer) -> None:
    with fetch(f"{live_server.url}/healthz") as response:
        assert response.status == 200
        assert response.read() == b"ok\n"
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/static/vendor/pyodide/pyodide.mjs", "text/javascript"),
        ("/static/vendor/pyodide/pyodide.asm.wasm", "application/wasm"),
        ("/static/js/loader.js", "text/javascript"),
        ("/", "text/html"),
        ("/service_worker.js", "text/javascript"),
        ("/bundle.json", "application/json"),
        ("/manifest.webmanifest", "application/manifest+json"),
    ],
)
def test_mime_types_and_security_headers(live_server: LiveServer, path: str, mimetype: str) -> None:
    with fetch(f"{live_server.url}{path}") as response:
        assert response.status == 200
        assert response.headers.get_content_type() == mimetype
        for name, value in headers.SECURITY_HEADERS.items():
            assert response.headers[name] == value, name


@pytest.mark.parametrize(
    ("path", "cache_control"),
    [
        ("/static/vendor/pyodide/pyodide.asm.wasm", headers.CACHE_IMMUTABLE),
        ("/static/vendor/jsqr/jsQR.js", headers.CACHE_IMMUTABLE),
        ("/", "no-cache"),
        ("/bundle.json", "no-cache"),
        ("/service_worker.js", "no-cache"),
        ("/static/vendor/boot.json", "no-cache"),
        ("/static/js/loader.js", "no-cache"),
    ],
)
def test_cache_policy(live_server: LiveServer, path: str, cache_control: str) -> None:
    with fetch(f"{live_server.url}{path}") as response:
        assert response.headers["Cache-Control"] == cache_control


def test_precompressed_variants_are_served(live_server: LiveServer) -> None:
    path = "/static/vendor/pyodide/pyodide.asm.wasm"
    with fetch(f"{live_server.url}{path}", **{"Accept-Encoding": "br"}) as response:
        assert response.headers["Content-Encoding"] == "br"
        compressed = response.read()
    original = (REPO_ROOT / "static" / path.removeprefix("/static/")).read_bytes()
    assert len(compressed) < len(original) * 0.5
    with fetch(f"{live_server.url}{path}", **{"Accept-Encoding": "gzip"}) as response:
        assert response.headers["Content-Encoding"] == "gzip"


def test_unknown_path_is_404_with_headers(live_server: LiveServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        fetch(f"{live_server.url}/static/nope.js")
    assert raised.value.code == 404
    assert raised.value.headers["X-Content-Type-Options"] == "nosniff"


def test_create_app_serves_in_process() -> None:
    client = create_app(Config(testing=True)).test_client()
    assert client.get("/healthz").data == b"ok\n"


def test_cli_help_lists_commands() -> None:
    result = subprocess.run(
        [sys.executable, "app.py", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    for command in ("serve", "build", "hash", "verify"):
        assert command in result.stdout


def test_unknown_command_exits_nonzero() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["frobnicate"])
    assert raised.value.code == 2


def test_broker_endpoints_are_registered_when_present(live_server: LiveServer) -> None:
    """create_app wires server.sockets.register (the PeerJS broker) into the served app."""
    with fetch(f"{live_server.url}/peerjs/") as response:
        document = json.load(response)
    assert document["name"] == "PeerJS Server"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_serve_prefers_the_production_server(live_server: LiveServer) -> None:
    """`python app.py serve` runs server.serve (gevent) when it exists, not werkzeug's dev server."""
    with fetch(f"{live_server.url}/healthz") as response:
        assert "Werkzeug" not in (response.headers.get("Server") or "")
    assert "gevent" in live_server.log()
