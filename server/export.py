"""``python app.py export DIR``: the built bundle as a plain directory any static web server can serve.

The directory holds exactly what ``python app.py serve`` sends, at the same URLs, with no Python needed
on the host (docs/selfhost.md)::

    DIR/index.html                 the page at / (byte-identical to /static/index.html)
    DIR/bundle.json                the manifest and its root hash
    DIR/service_worker.js          scope /
    DIR/manifest.webmanifest
    DIR/static/...                 everything else, with the .gz and .br variants beside each file

The deployment's broker, TURN and mailbox URLs go into ``/static/vendor/deployment.json``
(``pyfront/messaging/deployment.py``), which the manifest lists: the root hash of an exported bundle covers
them. Because a static host cannot run ``server/headers.py``, the headers (the CSP with the deployment's
origins in ``connect-src``, nosniff, the cache policy, ``Service-Worker-Allowed``) come from the web
server's configuration: ``render_web_config`` fills the shipped templates ``deploy/nginx.conf`` and
``deploy/Caddyfile`` for this directory.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from pyfront.messaging.deployment import DEPLOYMENT_URL, Deployment
from server import bundle, headers
from server.config import REPO_ROOT, Config

DEPLOY_TEMPLATES = REPO_ROOT / "deploy"
#: The shipped web server templates and the names ``export --web-config`` writes them under.
WEB_TEMPLATES = ("nginx.conf", "Caddyfile")
#: Files served at the site root (besides /static/...), copied from ``static/``; ``/`` is index.html.
ROOT_FILES = ("index.html", "manifest.webmanifest")
_SKIPPED = {bundle.BUILD_LOCK, "bundle.json"}
_PLACEHOLDER = re.compile(r"@PARLEY_[A-Z_]+@")


class ExportError(Exception):
    """The destination is not usable (it exists and is not empty, or it is inside the source)."""


@dataclass(frozen=True)
class WebSettings:
    """What the web server templates need besides the directory: where to listen, under which name."""

    listen: str = "443 ssl"
    server_name: str = "parley.example.org"


def export(config: Config, destination: Path, deployment: Deployment) -> bundle.Manifest:
    """Build, then write the site for ``deployment`` into ``destination`` (new or empty); its manifest."""
    bundle.build(config, log=False)
    destination = destination.resolve()
    if destination.exists() and any(destination.iterdir()):
        raise ExportError(f"{destination} is not empty: export into a new or empty directory")
    if destination.is_relative_to(config.static_root.resolve()):
        raise ExportError(f"{destination} is inside {config.static_root}: choose a directory outside it")
    site_static = destination / "static"
    _copy_tree(config.static_root, site_static)
    shutil.copy2(config.service_worker_path, destination / config.service_worker_path.name)

    site = replace(config, static_root=site_static)
    deployment_file = bundle.static_path(site, DEPLOYMENT_URL)
    for variant in (".gz", ".br"):
        deployment_file.with_name(deployment_file.name + variant).unlink(missing_ok=True)
    deployment_file.unlink()  # a hard link or copy of the build's default: never write through it
    deployment_file.write_bytes(deployment.to_json())

    manifest = bundle.write_manifest(site, compress=True)
    site.manifest_path.replace(destination / "bundle.json")
    for name in ROOT_FILES:
        shutil.copy2(site_static / name, destination / name)
    for path in (
        destination / "bundle.json",
        destination / "service_worker.js",
        *(destination / n for n in ROOT_FILES),
    ):
        bundle.precompress(path, path.read_bytes())
    return manifest


def _copy_tree(source: Path, target: Path) -> None:
    """Copy the build's served files and their variants (hard links where the filesystem allows)."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if not path.is_file() or relative.name in _SKIPPED or any(p.startswith(".") for p in relative.parts):
            continue
        copy = target / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, copy)
        except OSError:
            shutil.copy2(path, copy)


def content_security_policy(deployment: Deployment) -> str:
    """The CSP an exported site must send: today's, with the deployment's origins in ``connect-src``."""
    return headers.content_security_policy(deployment.connect_origins())


def render_web_config(template: str, root: Path, deployment: Deployment, web: WebSettings) -> str:
    """Fill one shipped template (``deploy/nginx.conf``, ``deploy/Caddyfile``) for the site at ``root``."""
    values = {
        "@PARLEY_ROOT@": str(root.resolve()),
        "@PARLEY_LISTEN@": web.listen,
        "@PARLEY_SERVER_NAME@": web.server_name,
        "@PARLEY_CSP@": content_security_policy(deployment),
        "@PARLEY_PERMISSIONS_POLICY@": headers.PERMISSIONS_POLICY,
        "@PARLEY_CACHE_IMMUTABLE@": headers.CACHE_IMMUTABLE,
        "@PARLEY_CACHE_REVALIDATE@": headers.CACHE_REVALIDATE,
    }
    text = template
    for placeholder, value in values.items():
        if '"' in value or "\n" in value:
            raise ExportError(f"{placeholder} cannot hold quotes or line breaks: {value!r}")
        text = text.replace(placeholder, value)
    unknown = _PLACEHOLDER.search(text)
    if unknown:
        raise ExportError(f"the template has a placeholder export does not know: {unknown.group(0)}")
    return text


def write_web_configs(directory: Path, root: Path, deployment: Deployment, web: WebSettings) -> list[Path]:
    """Write ``nginx.conf`` and ``Caddyfile`` for the site at ``root`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in WEB_TEMPLATES:
        text = render_web_config((DEPLOY_TEMPLATES / name).read_text(), root, deployment, web)
        (directory / name).write_text(text)
        written.append(directory / name)
    return written
