"""``python app.py export`` (server/export.py), ``verify`` of an exported site, and ``serve --no-static``
(app.py, server/sockets.py): the files a static host needs, the web server templates, and the origin rules.

The whole path through Debian's nginx and two browsers is tests/browser/test_selfhost_nginx.py.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest

import app as app_module
from pyfront.messaging.deployment import DEPLOYMENT_URL, Deployment
from server import bundle, export, headers
from server.broker import BrokerConfig
from server.config import Config
from server.sockets import origin_allowed

DEPLOYMENT = Deployment("wss://broker.example.org:9000/peerjs", (), "https://mail.example.org")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bundle.Manifest]:
    destination = tmp_path_factory.mktemp("export") / "site"
    return destination, export.export(Config(), destination, DEPLOYMENT)


def test_the_site_holds_what_serve_sends_at_the_same_urls(site: tuple[Path, bundle.Manifest]) -> None:
    destination, manifest = site
    for url, entry in manifest.files.items():
        assert bundle.file_entry((destination / url.removeprefix("/")).read_bytes()) == entry, url
    assert bundle.Manifest.from_json((destination / "bundle.json").read_bytes()) == manifest
    assert (destination / "index.html").read_bytes() == (destination / "static/index.html").read_bytes()
    assert (destination / "manifest.webmanifest").is_file()
    assert not (destination / "static/bundle.json").exists()
    for name in ("index.html", "bundle.json", "service_worker.js"):
        compressed = (destination / f"{name}.gz").read_bytes()
        assert gzip.decompress(compressed) == (destination / name).read_bytes()


def test_the_root_hash_covers_the_deployment(site: tuple[Path, bundle.Manifest]) -> None:
    destination, manifest = site
    served = (destination / DEPLOYMENT_URL.removeprefix("/")).read_bytes()
    assert served == DEPLOYMENT.to_json()
    assert manifest.files[DEPLOYMENT_URL] == bundle.file_entry(served)
    default = bundle.load_manifest(Config())
    assert default.files[DEPLOYMENT_URL] == bundle.file_entry(Deployment().to_json())
    assert manifest.root != default.root
    assert {url for url in manifest.files} == {url for url in default.files}
    # the build's own default file is untouched (export never writes through a hard link)
    assert (Config().static_root / "vendor/deployment.json").read_bytes() == Deployment().to_json()
    gz = destination / (DEPLOYMENT_URL.removeprefix("/") + ".gz")
    assert not gz.exists() or gzip.decompress(gz.read_bytes()) == served


def test_export_with_the_pyscript_entry(tmp_path: Path) -> None:
    """``export --pyscript``: the PyScript page and its files are in the site and its manifest."""
    snapshot = bundle.snapshot(Config(), tmp_path / "build")
    manifest = export.export(replace(snapshot, pyscript=True), tmp_path / "site", DEPLOYMENT)
    for url in (
        "/static/pyscript.html",
        "/static/vendor/pyscript.json",
        "/static/vendor/pyscript/dist/core.js",
    ):
        assert url in manifest.files, url
        assert (
            bundle.file_entry((tmp_path / "site" / url.removeprefix("/")).read_bytes()) == manifest.files[url]
        )


def test_export_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(export.ExportError, match="not empty"):
        export.export(Config(), tmp_path, DEPLOYMENT)


def test_web_configs_carry_the_deployment_csp_and_the_shipped_rules(tmp_path: Path) -> None:
    written = export.write_web_configs(tmp_path, tmp_path / "site", DEPLOYMENT, export.WebSettings())
    nginx, caddy = (path.read_text() for path in written)
    csp = export.content_security_policy(DEPLOYMENT)
    assert "connect-src 'self' wss://broker.example.org:9000 https://broker.example.org:9000" in csp
    assert "https://mail.example.org" in csp
    assert (
        csp.replace(
            " wss://broker.example.org:9000 https://broker.example.org:9000 https://mail.example.org", ""
        )
        == headers.CONTENT_SECURITY_POLICY
    )  # nothing else is widened
    for text in (nginx, caddy):
        assert f'Content-Security-Policy "{csp}"' in text
        assert "@PARLEY_" not in text.replace("@PARLEY_...@", "")
        assert str((tmp_path / "site").resolve()) in text
        assert headers.CACHE_IMMUTABLE in text
    assert "text/javascript            js mjs;" in nginx and "application/wasm           wasm;" in nginx
    assert "gzip_static on;" in nginx
    assert "precompressed br gzip" in caddy


def test_a_placeholder_value_cannot_break_out_of_its_quotes(tmp_path: Path) -> None:
    hostile = export.WebSettings(server_name='x"; add_header X-Evil "1')
    with pytest.raises(export.ExportError, match="quotes"):
        export.write_web_configs(tmp_path, tmp_path, DEPLOYMENT, hostile)


def test_export_command_line_refuses_a_bad_broker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        app_module.main(["export", str(tmp_path / "s"), "--broker", "ftp://x.example.org"])
    assert "broker URL" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_export_command_line_refuses_a_server_name_that_breaks_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        app_module.main(
            ["export", str(tmp_path / "s"), "--server-name", 'a"b', "--web-config", str(tmp_path)]
        )
    assert "quotes" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_no_static_serves_only_the_broker(tmp_path: Path) -> None:
    config = Config(
        static_root=tmp_path / "absent",
        serve_static=False,
        broker={"cors_origins": ["https://chat.example.org"]},
    )
    client = app_module.create_app(config).test_client()
    assert client.get("/").status_code == 404
    assert client.get("/bundle.json").status_code == 404
    assert client.get("/static/index.html").status_code == 404
    assert client.get("/healthz").status_code == 200
    # the mailbox stays with the broker (sealed envelopes for offline contacts, any origin: docs/mailbox.md)
    assert client.options("/mailbox/v1/deposit").status_code == 204
    info = client.get("/peerjs/", headers={"Origin": "https://chat.example.org"})
    assert info.status_code == 200
    assert info.headers["Access-Control-Allow-Origin"] == "https://chat.example.org"
    other = client.get("/peerjs/", headers={"Origin": "https://evil.example.net"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_no_static_needs_a_deliberate_origin_choice(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        app_module.main(["serve", "--no-static"])
    assert "--allow-origin" in capsys.readouterr().err
    assert app_module._allowed_origins(["*"], static=False) is None
    assert app_module._allowed_origins([], static=True) is None
    assert app_module._allowed_origins(["https://a.example"], static=False) == ("https://a.example",)
    for bad in (["wss://a.example"], ["https://a.example/path"], ["*", "https://a.example"]):
        with pytest.raises(headers.OriginError):
            app_module._allowed_origins(bad, static=False)


def test_websocket_origin_rule() -> None:
    listed = BrokerConfig(cors_origins=("https://chat.example.org",))
    assert origin_allowed(listed, "https://chat.example.org")
    assert not origin_allowed(listed, "https://evil.example.net")
    assert origin_allowed(listed, None)  # not a browser page
    assert origin_allowed(BrokerConfig(), "https://anything.example")


def test_manifest_json_lists_the_deployment_file() -> None:
    document = json.loads(Config().manifest_path.read_bytes())
    assert DEPLOYMENT_URL in document["files"]
