"""Parley's server and command line.

``create_app(config)`` builds the Flask application: the verifiable static bundle (whitenoise, with
precompressed variants and the cache policy of ``server.headers``), the page at ``/``, the manifest at
``/bundle.json``, the service worker at ``/service_worker.js``, ``/healthz``, and, when the broker module
is present, the PeerJS-compatible signaling endpoints (``server.sockets.register``), and the mailbox of
sealed envelopes at ``/mailbox/v1/`` (``server.mailbox.register``; docs/mailbox.md).

Command line (``python app.py --help``)::

    python app.py [serve] [--host 127.0.0.1] [--port 8000] [--data-dir DIR] [--static-root DIR]
                  [--no-mailbox] [--mailbox-expiry-s S] [--mailbox-deposit-rate R] ...  (--help lists all)
    python app.py build            # vendor files, pyfront zip, precompression, static/bundle.json
    python app.py hash             # print the bundle root hash (builds first)
    python app.py verify URL       # compare a running server's bundle with the local build
    python app.py peer {init,invite,run} ...   # the headless peer (pyfront.peer.cli, docs/peer.md)
    python app.py export DIR [--broker URL] [--turn 'URLS [USER CRED]'] [--mailbox URL] [--web-config CONFDIR]
                                   # the bundle as a plain directory for any static web server
    python app.py serve --no-static --allow-origin ORIGIN   # only the broker (and mailbox)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from flask import Flask, Response, abort, send_file
from whitenoise import WhiteNoise

from server import bundle, headers, mailbox
from server.config import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STATIC_ROOT, Config
from server.mailbox_limits import MailboxSettings

# Files the browser must always revalidate: they name the current bundle.
NO_CACHE = headers.CACHE_REVALIDATE


def _optional_module(name: str) -> object | None:
    """Import ``name`` if it exists in this checkout (the broker's modules land independently)."""
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def create_app(config: Config | None = None) -> Flask:
    """The WSGI application for ``config`` (defaults: serve ./static on 127.0.0.1:8000)."""
    config = config or Config()
    app = Flask(__name__, static_folder=None)
    app.config["PARLEY"] = config
    app.config["TESTING"] = config.testing

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain", headers={"Cache-Control": "no-store"})

    if config.serve_static:
        _register_pages(app, config)

    policy = headers.content_security_policy(config.connect_sources)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers.apply(response.headers, policy)
        return response

    sockets = _optional_module("server.sockets")
    if sockets is not None:
        sockets.register(app, config)  # type: ignore[attr-defined]
    mailbox.register(app, config)

    if config.serve_static:
        app.wsgi_app = WhiteNoise(  # type: ignore[method-assign]
            app.wsgi_app,
            root=str(config.static_root),
            prefix="/static/",
            mimetypes=bundle.MIME_TYPES,
            add_headers_function=headers.whitenoise_headers_with(policy),
            autorefresh=config.testing,
        )
    return app


def _register_pages(app: Flask, config: Config) -> None:
    """The page, the manifest, the service worker and the web app manifest (not with ``--no-static``)."""

    @app.get("/")
    @app.get("/index.html")
    def index() -> Response:
        return _no_cache_file(config.static_root / "index.html", "text/html")

    @app.get("/bundle.json")
    def manifest() -> Response:
        return _no_cache_file(config.manifest_path, "application/json")

    @app.get("/service_worker.js")
    def service_worker() -> Response:
        response = _no_cache_file(config.service_worker_path, "text/javascript")
        response.headers["Service-Worker-Allowed"] = "/"
        return response

    @app.get("/manifest.webmanifest")
    def web_manifest() -> Response:
        return _no_cache_file(config.static_root / "manifest.webmanifest", "application/manifest+json")


def _no_cache_file(path: Path, mimetype: str) -> Response:
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=None)
    response.headers["Cache-Control"] = NO_CACHE
    return response


def serve(config: Config) -> None:
    """Run the server: ``server.serve.run`` (the production stack) when present, else werkzeug."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(config)
    production = _optional_module("server.serve")
    print(f"Parley on http://{config.host}:{config.port}/", flush=True)
    if production is not None:
        production.run(app, host=config.host, port=config.port)  # type: ignore[attr-defined]
        return
    app.run(host=config.host, port=config.port, threaded=True, use_reloader=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="Parley server and bundle tools")
    commands = parser.add_subparsers(dest="command")

    serve_cmd = commands.add_parser("serve", help="serve the app (the default command)")
    serve_cmd.add_argument("--host", default=DEFAULT_HOST)
    serve_cmd.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve_cmd.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    serve_cmd.add_argument("--static-root", type=Path, default=DEFAULT_STATIC_ROOT)
    serve_cmd.add_argument(
        "--connect-src",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="another origin the page may connect to, e.g. a broker at wss://peer.example:9000 (repeatable)",
    )
    _mailbox_arguments(serve_cmd)
    serve_cmd.add_argument(
        "--autorefresh", action="store_true", help="re-read static files on every request (tests)"
    )
    serve_cmd.add_argument(
        "--no-static",
        dest="static",
        action="store_false",
        help="serve only the broker (and the mailbox): the static bundle is exported to another host",
    )
    serve_cmd.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a site whose pages may use this broker, e.g. https://chat.example.org (repeatable; '*' for "
        "any); required with --no-static (docs/selfhost.md)",
    )

    export_cmd = commands.add_parser(
        "export", help="write the bundle as a directory for any static web server"
    )
    export_cmd.add_argument("directory", type=Path, help="a new or empty directory")
    export_cmd.add_argument(
        "--broker", default="", metavar="URL", help="the broker, e.g. wss://chat.example.org:9000/peerjs"
    )
    export_cmd.add_argument(
        "--turn",
        action="append",
        default=[],
        metavar="'URL[,URL...] [USERNAME CREDENTIAL]'",
        help="a STUN or TURN server new profiles start with (repeatable; the credential is public)",
    )
    export_cmd.add_argument("--mailbox", default="", metavar="URL", help="the offline mailbox's base URL")
    export_cmd.add_argument(
        "--web-config",
        type=Path,
        metavar="CONFDIR",
        help="also write nginx.conf and Caddyfile for the site here",
    )
    export_cmd.add_argument("--listen", default="443 ssl", help="nginx listen value for --web-config")
    export_cmd.add_argument("--server-name", default="parley.example.org", help="host name for --web-config")
    export_cmd.add_argument("--static-root", type=Path, default=DEFAULT_STATIC_ROOT)
    export_cmd.add_argument(
        "--pyscript", action="store_true", help="include the PyScript entry page /static/pyscript.html"
    )

    build_cmd = commands.add_parser("build", help="build static/vendor, the pyfront zip and bundle.json")
    build_cmd.add_argument("--static-root", type=Path, default=DEFAULT_STATIC_ROOT)
    build_cmd.add_argument(
        "--pyscript", action="store_true", help="also the PyScript entry page /static/pyscript.html"
    )

    hash_cmd = commands.add_parser("hash", help="build, then print the bundle root hash")
    hash_cmd.add_argument("--static-root", type=Path, default=DEFAULT_STATIC_ROOT)

    verify_cmd = commands.add_parser("verify", help="compare a served bundle with the local build")
    verify_cmd.add_argument("url", help="base URL of a running Parley server, e.g. http://127.0.0.1:8000")
    verify_cmd.add_argument("--static-root", type=Path, default=DEFAULT_STATIC_ROOT)

    # Listed for --help only: ``main`` hands ``peer`` and its arguments to pyfront.peer.cli.
    commands.add_parser("peer", help="the headless peer: python app.py peer --help", add_help=False)
    return parser


# Each mailbox setting's flag (docs/mailbox.md, "Limits"): name, type, help.
MAILBOX_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("expiry_s", int, "seconds an envelope waits to be fetched before it is deleted"),
    ("max_envelope_bytes", int, "largest envelope accepted"),
    ("max_mailbox_envelopes", int, "envelopes one mailbox may hold"),
    ("max_mailbox_bytes", int, "bytes one mailbox may hold"),
    ("deposit_rate", float, "deposits per second per client, sustained"),
    ("deposit_burst", int, "deposits per client in a burst"),
    ("fetch_rate", float, "fetches and acknowledgements per second per client, sustained"),
    ("fetch_burst", int, "fetches and acknowledgements per client in a burst"),
    ("proof_window_s", int, "how far a signed request's time may be from the server's clock"),
)


def _mailbox_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("mailbox (sealed envelopes for offline contacts; docs/mailbox.md)")
    group.add_argument("--no-mailbox", action="store_true", help="do not offer the mailbox")
    group.add_argument(
        "--mailbox-trust-forwarded-for",
        action="store_true",
        help="behind a reverse proxy: rate-limit by the last X-Forwarded-For address",
    )
    defaults = MailboxSettings()
    for name, kind, text in MAILBOX_FLAGS:
        flag = "--mailbox-" + name.replace("_", "-")
        group.add_argument(
            flag, type=kind, dest=f"mailbox_{name}", help=f"{text} (default {getattr(defaults, name)})"
        )


def _mailbox_overrides(args: argparse.Namespace) -> dict[str, object]:
    overrides: dict[str, object] = {"enabled": False} if args.no_mailbox else {}
    if args.mailbox_trust_forwarded_for:
        overrides["trust_forwarded_for"] = True
    for name, _kind, _text in MAILBOX_FLAGS:
        value = getattr(args, f"mailbox_{name}")
        if value is not None:
            overrides[name] = value
    return overrides


def _allowed_origins(values: Sequence[str], *, static: bool) -> tuple[str, ...] | None:
    """The origins whose pages may use the broker; None means any (``'*'``, or the default with the
    static files served here). A broker without its pages must be told which site they come from."""
    if "*" in values:
        if len(values) > 1:
            raise headers.OriginError("--allow-origin '*' allows every origin: give it alone")
        return None
    if not values:
        if not static:
            raise headers.OriginError(
                "--no-static needs --allow-origin ORIGIN (the site serving the pages), or '*' for any"
            )
        return None
    origins = headers.check_connect_sources(values)
    if any(not origin.startswith(("http://", "https://")) for origin in origins):
        raise headers.OriginError("--allow-origin takes page origins: http(s)://host[:port]")
    return origins


def _export(args: argparse.Namespace) -> int:
    from pyfront.errors import ProtocolError  # noqa: PLC0415  (only export parses deployment settings)
    from pyfront.messaging.deployment import Deployment  # noqa: PLC0415
    from pyfront.messaging.settings import parse_ice_lines  # noqa: PLC0415
    from server import export  # noqa: PLC0415

    try:
        deployment = Deployment(args.broker, parse_ice_lines("\n".join(args.turn)), args.mailbox)
    except ProtocolError as error:
        _parser().error(str(error))
    config = Config(static_root=args.static_root.resolve(), pyscript=args.pyscript)
    web = export.WebSettings(listen=args.listen, server_name=args.server_name)
    try:
        for name in export.WEB_TEMPLATES:  # a value that would break a template is refused before any work
            template = (export.DEPLOY_TEMPLATES / name).read_text()
            export.render_web_config(template, args.directory, deployment, web)
        manifest = export.export(config, args.directory, deployment)
    except export.ExportError as error:
        _parser().error(str(error))
    print(f"exported {len(manifest.files)} files to {args.directory}, root hash {manifest.root}")
    print(bundle.describe_deployment(deployment))
    print(f"Content-Security-Policy: {export.content_security_policy(deployment)}")
    if args.web_config is not None:
        for path in export.write_web_configs(args.web_config, args.directory, deployment, web):
            print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["peer"]:
        from pyfront.peer import cli  # noqa: PLC0415  (aiortc loads only for the peer)

        return cli.main(args_list[1:])
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in {"-h", "--help"}):
        args_list = ["serve", *args_list]
    args = _parser().parse_args(args_list)

    if args.command == "serve":
        try:
            connect_sources = headers.check_connect_sources(args.connect_src)
            mailbox_settings = _mailbox_overrides(args)
            MailboxSettings.from_overrides(mailbox_settings)
            allowed = _allowed_origins(args.allow_origin, static=args.static)
        except (headers.OriginError, ValueError) as error:
            _parser().error(str(error))
        serve(
            Config(
                host=args.host,
                port=args.port,
                data_dir=args.data_dir.resolve(),
                static_root=args.static_root.resolve(),
                testing=args.autorefresh,
                connect_sources=connect_sources,
                mailbox=mailbox_settings,
                serve_static=args.static,
                broker={} if allowed is None else {"cors_origins": list(allowed)},
            )
        )
        return 0
    if args.command == "export":
        return _export(args)
    config = Config(static_root=args.static_root.resolve(), pyscript=getattr(args, "pyscript", False))
    if args.command == "build":
        built = bundle.build(config)
        print(f"built {len(built.files)} files, root hash {built.root}")
        return 0
    if args.command == "hash":
        print(bundle.build(config).root)
        return 0
    if args.command == "verify":
        return bundle.verify_command(config, args.url)
    _parser().print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
