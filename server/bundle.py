"""The verifiable static bundle: vendored files, the pyfront zip, precompression and the manifest.

``build`` turns a checkout (plus ``node_modules`` installed by ``npm ci``) into the exact set of files
the server sends, and writes ``static/bundle.json``: every served file's URL path, SHA-256 and size, and
a **root hash** over a canonical serialisation of that list (docs/security.md, "The bundle manifest";
DESIGN.md section 7). The build is deterministic, so two clean builds give the same root hash, and
idempotent, so running it before every test run costs little.

Canonical serialisation (``canonical_bytes``): the ASCII line ``parley-bundle-v1``, then one line per
file sorted by path (byte order of the UTF-8 path), each ``<sha256 hex>  <size>  <path>``, every line
ending in ``\\n``. The root hash is the SHA-256 of those bytes, in lowercase hex. The service worker and
``python app.py verify`` recompute it from the file list; they never trust a ``root`` field alone.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import fnmatch
import gzip
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import brotli

from pyfront.errors import ProtocolError
from pyfront.messaging.deployment import DEPLOYMENT_URL, MAX_DEPLOYMENT_BYTES, Deployment
from server import pycompile
from server.config import Config

MANIFEST_FORMAT = "parley-bundle-v1"
MANIFEST_VERSION = 1
VENDOR_DIR = "vendor"
PYFRONT_ZIP_PREFIX = "pyfront-"
BOOT_CONFIG = "boot.json"
PYODIDE_INDEX_URL = "/static/vendor/pyodide/"
BUILD_LOCK = ".build.lock"

# Bytecode for the page (server/pycompile.py): the standard library with the modules the app imports as
# .pyc, and the pyfront zip with its __pycache__; made by Node running Pyodide and cached under the
# checkout's build/ folder, keyed by every input.
STDLIB_PREFIX = "stdlib-"
BYTECODE_CACHE = Path("build") / "bytecode"
PYCOMPILE_SCRIPT = Path(__file__).with_name("pycompile.mjs")
PYCOMPILE_TIMEOUT_SECONDS = 600

# Precompression: only text-like and wasm files, and only when it saves at least 10 %.
# ``.zip``: our zips (pyfront, the standard library) are stored, not deflated, so their bytes do not depend
# on the zlib that built them; brotli and gzip compress them in transit.
COMPRESSIBLE_SUFFIXES = frozenset(
    {".js", ".mjs", ".css", ".html", ".json", ".wasm", ".svg", ".webmanifest", ".zip"}
)
COMPRESSION_WORTHWHILE = 0.9
COMPRESSION_MIN_SIZE = 1024
BROTLI_QUALITY = 11
BROTLI_QUALITY_LARGE = 9  # q11 on the 9 MB wasm costs minutes on 2 cores for about 2 % smaller output
BROTLI_LARGE_FILE = 1 << 20
GZIP_LEVEL = 9

# A served file never exceeds this (the Pyodide wasm is about 9 MB); ``verify`` refuses larger downloads.
MAX_FILE_SIZE = 64 << 20
MAX_MANIFEST_SIZE = 1 << 20
VERIFY_TIMEOUT_SECONDS = 30

MIME_TYPES: dict[str, str] = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".zip": "application/zip",
    ".py": "text/x-python",
}

# Where generated files never go: these are sources or outputs of the build itself.
_NOT_SERVED = re.compile(r"(^|/)(\.|__pycache__/)|\.(gz|br|map)$")


@dataclass(frozen=True)
class VendorEntry:
    """Files copied from one npm package into ``static/vendor/<dest>/``.

    ``include`` and ``exclude`` are glob patterns relative to ``source`` (itself relative to
    ``node_modules``); a pattern with ``/`` matches in subfolders. Add a row here to vendor a package.
    """

    dest: str
    source: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    # (old, new) byte replacements applied to every copied file, e.g. bare import specifiers.
    rewrite: tuple[tuple[bytes, bytes], ...] = ()


# noble's ES modules import each other by bare specifier ("@noble/hashes/sha3.js"); rewritten to our own
# absolute paths they load from our origin with no import map (an inline import map would need a CSP hash).
NOBLE_REWRITE = ((b"'@noble/", b"'/static/vendor/noble/"), (b'"@noble/', b'"/static/vendor/noble/'))


# What the page needs from node_modules, one row per package: VendorEntry(destination under
# static/vendor/, package folder under node_modules/, files to copy[, files to skip][, rewrite=...]).
VENDOR: tuple[VendorEntry, ...] = (
    VendorEntry(
        # Pyodide core only (no wheels): the interpreter, its JS glue and the lockfile. Its standard library
        # is served compiled (``compile_for_pyodide``), not as python_stdlib.zip.
        "pyodide",
        "pyodide",
        ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "pyodide-lock.json"),
    ),
    VendorEntry("jsqr", "jsqr/dist", ("jsQR.js",)),
    # For pyfront/crypto/webcrypto.py: the ML-KEM-768 fallback for browsers whose WebCrypto lacks it (the
    # 9 ES modules @noble/post-quantum/ml-kem.js imports, entry /static/vendor/noble/post-quantum/ml-kem.js)
    # and Argon2id (/static/vendor/noble/hashes/argon2.js); about 250 KB.
    VendorEntry(
        "noble/post-quantum",
        "@noble/post-quantum",
        ("ml-kem.js", "_crystals.js", "utils.js", "LICENSE"),
        rewrite=NOBLE_REWRITE,
    ),
    VendorEntry(
        # sha3 for ML-KEM; argon2 (+ blake2) for Argon2id, which WebCrypto lacks (Chromium 156 probed).
        "noble/hashes",
        "@noble/hashes",
        ("sha3.js", "utils.js", "_u64.js", "argon2.js", "blake2.js", "_blake.js", "_md.js", "LICENSE"),
        rewrite=NOBLE_REWRITE,
    ),
    VendorEntry(
        "noble/curves",
        "@noble/curves",
        ("utils.js", "abstract/fft.js", "abstract/modular.js", "LICENSE"),
        rewrite=NOBLE_REWRITE,
    ),
)


# The PyScript entry (``build --pyscript``): PyScript's core and its error plugin (the one plugin it loads
# with the others switched off in its config), and what the page needs beside them. @pyscript/core is a
# devDependency, so the default bundle (and the Docker image, built without dev packages) never has it.
PYSCRIPT_VENDOR = VendorEntry(
    "pyscript", "@pyscript/core", ("LICENSE", "dist/core.js", "dist/core-*.js", "dist/error-*.js")
)
PYSCRIPT_PAGE = "pyscript.html"
PYSCRIPT_CONFIG = "pyscript.json"
PYSCRIPT_MODULES = ("/static/js/pyscript_boot.js", "/static/js/pyscript_pyodide.js")
#: Every plugin of PyScript 0.7.31 switched off: the page needs none, and each would be another download.
PYSCRIPT_PLUGINS_OFF = (
    "codemirror",
    "deprecations-manager",
    "donkey",
    "error",
    "py-editor",
    "py-game",
    "py-terminal",
)
#: What the page's <script type="py"> runs: the same entry point the loader awaits.
PYSCRIPT_MAIN = "import pyfront.browser.main\nawait pyfront.browser.main.start()\n"


@dataclass(frozen=True)
class FileEntry:
    """One served file: its SHA-256 (lowercase hex) and size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """The bundle's file list (URL path -> entry) and its root hash."""

    files: Mapping[str, FileEntry]
    root: str

    @classmethod
    def from_files(cls, files: Mapping[str, FileEntry]) -> Manifest:
        ordered = dict(sorted(files.items(), key=lambda item: item[0].encode()))
        return cls(ordered, root_hash(ordered))

    def to_json(self) -> bytes:
        document = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "algorithm": "sha256",
            "root": self.root,
            "files": {path: {"sha256": e.sha256, "size": e.size} for path, e in self.files.items()},
        }
        return (json.dumps(document, indent=1, sort_keys=False) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse and check a manifest: the ``root`` field must equal the hash of the file list."""
        if len(raw) > MAX_MANIFEST_SIZE:
            raise BundleError(f"manifest is {len(raw)} bytes, limit {MAX_MANIFEST_SIZE}")
        try:
            document = json.loads(raw)
            if document["format"] != MANIFEST_FORMAT or document["version"] != MANIFEST_VERSION:
                raise BundleError(f"unknown manifest format {document['format']!r} v{document['version']}")
            files = {
                str(path): FileEntry(str(entry["sha256"]), int(entry["size"]))
                for path, entry in document["files"].items()
            }
            claimed = str(document["root"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BundleError(f"malformed manifest: {error!r}") from error
        for path, entry in files.items():
            _check_entry(path, entry)
        manifest = cls.from_files(files)
        if manifest.root != claimed:
            raise BundleError(f"manifest root {claimed} does not match its file list ({manifest.root})")
        return manifest


class BundleError(Exception):
    """A build input is missing, or a manifest or served file is malformed or does not match."""


def canonical_bytes(files: Mapping[str, FileEntry]) -> bytes:
    """The canonical serialisation the root hash is taken over (see the module docstring)."""
    lines = [MANIFEST_FORMAT]
    for path in sorted(files, key=str.encode):
        entry = files[path]
        _check_entry(path, entry)
        lines.append(f"{entry.sha256}  {entry.size}  {path}")
    return ("\n".join(lines) + "\n").encode()


def root_hash(files: Mapping[str, FileEntry]) -> str:
    """SHA-256 (hex) of ``canonical_bytes(files)``."""
    return hashlib.sha256(canonical_bytes(files)).hexdigest()


_PATH_RE = re.compile(r"^/[A-Za-z0-9._/@+-]+$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def _check_entry(path: str, entry: FileEntry) -> None:
    if not _PATH_RE.fullmatch(path) or "/../" in path or "//" in path or path.endswith("/.."):
        raise BundleError(f"manifest path {path!r} is not a plain absolute URL path")
    if not _SHA_RE.fullmatch(entry.sha256):
        raise BundleError(f"manifest entry {path!r} has no lowercase hex sha256")
    if not 0 <= entry.size <= MAX_FILE_SIZE:
        raise BundleError(f"manifest entry {path!r} has size {entry.size}, limit {MAX_FILE_SIZE}")


def file_entry(data: bytes) -> FileEntry:
    return FileEntry(hashlib.sha256(data).hexdigest(), len(data))


# ---------------------------------------------------------------------------------------------------
# Build


def build(config: Config, *, node_modules: Path | None = None, log: bool = True) -> Manifest:
    """Write ``static/vendor/`` and ``static/bundle.json`` for ``config``; return the manifest.

    Concurrent builds of the same tree (parallel test workers, two shells) are serialised by a lock file.
    """
    config.static_root.mkdir(parents=True, exist_ok=True)
    with (config.static_root / BUILD_LOCK).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _build(config, node_modules or config.repo_root / "node_modules", log)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def snapshot(config: Config, destination: Path) -> Config:
    """Build, then hard-link the served files into ``destination`` (a site root) and return its config.

    Builds replace files by renaming new inodes into place, so a snapshot keeps serving exactly the bundle
    it was taken from while the working tree changes (tests use this; copying 30 MB would be slower).
    """
    build(config, log=False)
    site_static = destination / config.static_root.name
    if site_static.exists():
        raise BundleError(f"{site_static} exists: a snapshot goes into a fresh directory")
    with (config.static_root / BUILD_LOCK).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for path in sorted(config.static_root.rglob("*")):
                relative = path.relative_to(config.static_root)
                if not path.is_file() or relative.name.startswith("."):
                    continue
                target = site_static / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, target)
                except OSError:  # another filesystem: copy instead
                    shutil.copy2(path, target)
            if config.service_worker_path.is_file():
                shutil.copy2(config.service_worker_path, destination / config.service_worker_path.name)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return replace(config, static_root=site_static)


def _build(config: Config, node_modules: Path, log: bool) -> Manifest:
    static_root = config.static_root
    vendor_root = static_root / VENDOR_DIR
    vendor_root.mkdir(parents=True, exist_ok=True)

    wanted: dict[Path, bytes] = {}
    for entry in (*VENDOR, PYSCRIPT_VENDOR) if config.pyscript else VENDOR:
        for relative, data in _vendor_files(node_modules, entry):
            wanted[vendor_root / entry.dest / relative] = data

    sources = pack_pyfront(config.repo_root / "pyfront", *python_vendor_packages())
    stdlib, pyfront_zip = compile_for_pyodide(node_modules, sources, config.repo_root / BYTECODE_CACHE)
    zip_name = f"{PYFRONT_ZIP_PREFIX}{hashlib.sha256(pyfront_zip).hexdigest()[:16]}.zip"
    wanted[vendor_root / zip_name] = pyfront_zip
    stdlib_name = f"{STDLIB_PREFIX}{hashlib.sha256(stdlib).hexdigest()[:16]}.zip"
    wanted[vendor_root / stdlib_name] = stdlib
    wanted[vendor_root / BOOT_CONFIG] = boot_config(
        f"/static/{VENDOR_DIR}/{zip_name}", f"/static/{VENDOR_DIR}/{stdlib_name}"
    )
    # What ``python app.py serve`` is: broker and mailbox on the page's origin; ``export`` replaces it.
    wanted[static_path(config, DEPLOYMENT_URL)] = Deployment().to_json()
    if config.pyscript:
        wanted[vendor_root / PYSCRIPT_CONFIG] = pyscript_config(f"/static/{VENDOR_DIR}/{zip_name}")

    for path, data in wanted.items():
        _write_if_changed(path, data)
    _remove_stale(vendor_root, set(wanted))
    index = static_root / "index.html"
    if index.is_file():
        _write_if_changed(index, refresh_sri(index.read_bytes(), static_root))
    page = static_root / PYSCRIPT_PAGE
    if config.pyscript and index.is_file():
        modules = [*PYSCRIPT_MODULES[1:], *sorted(_pyscript_modules(wanted, static_root))]
        _write_if_changed(page, refresh_sri(pyscript_page(index.read_bytes(), modules), static_root))
    else:
        for stale in (page, page.with_name(page.name + ".gz"), page.with_name(page.name + ".br")):
            stale.unlink(missing_ok=True)

    manifest = write_manifest(config, compress=True)
    if log:
        print(f"[build] {len(manifest.files)} files, root {manifest.root}", file=sys.stderr)
    return manifest


def write_manifest(config: Config, *, compress: bool = False) -> Manifest:
    """Hash every served file of ``config`` and write ``bundle.json`` (precompressing when asked)."""
    files: dict[str, FileEntry] = {}
    for url, data in _served_files(config):
        files[url] = file_entry(data)
        if compress and Path(url).suffix in COMPRESSIBLE_SUFFIXES and url.startswith("/static/"):
            precompress(config.static_root / url.removeprefix("/static/"), data)
    manifest = Manifest.from_files(files)
    _write_if_changed(config.manifest_path, manifest.to_json())
    return manifest


def static_path(config: Config, url: str) -> Path:
    """The file under ``config.static_root`` served at ``url`` (a ``/static/...`` path)."""
    return config.static_root / url.removeprefix("/static/")


def _vendor_files(node_modules: Path, entry: VendorEntry) -> Iterator[tuple[str, bytes]]:
    source = node_modules / entry.source
    if not source.is_dir():
        raise BundleError(f"{source} is missing: run `npm ci` (./dev build does)")
    found = False
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(source).as_posix()
        if not any(_matches(relative, pattern) for pattern in entry.include):
            continue
        if any(_matches(relative, pattern) for pattern in entry.exclude) or relative.endswith(".map"):
            continue
        found = True
        data = path.read_bytes()
        for old, new in entry.rewrite:
            data = data.replace(old, new)
        yield relative, data
    if not found:
        raise BundleError(f"vendor entry {entry.dest!r} matched no file in {source}")


def _matches(relative: str, pattern: str) -> bool:
    if "/" in pattern:
        return fnmatch.fnmatchcase(relative, pattern)
    return "/" not in relative and fnmatch.fnmatchcase(relative, pattern)


# A tag that loads a local file and carries an integrity attribute: <script src=...> or <link href=...>.
_SRI_TAG = re.compile(rb"<(?:script|link)\b[^>]*>")
_SRI_URL = re.compile(rb'\b(?:src|href)="(/static/[^"]+)"')
_SRI_VALUE = re.compile(rb'\bintegrity="[^"]*"')


def subresource_integrity(data: bytes) -> str:
    """The SRI value (``sha384-<base64>``) of a file's bytes."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def refresh_sri(html: bytes, static_root: Path) -> bytes:
    """Set every ``integrity`` attribute in ``html`` to the SRI value of the file the tag loads.

    Only tags that already have an ``integrity`` attribute are touched; a tag naming a file that the
    build does not produce is a build error (the page would fail to load).
    """

    def fix_tag(tag: re.Match[bytes]) -> bytes:
        text = tag.group(0)
        url = _SRI_URL.search(text)
        if url is None or _SRI_VALUE.search(text) is None:
            return text
        path = static_root / url.group(1).decode().removeprefix("/static/")
        if not path.is_file():
            raise BundleError(f"index.html loads {url.group(1).decode()}, which the build does not produce")
        value = f'integrity="{subresource_integrity(path.read_bytes())}"'.encode()
        return _SRI_VALUE.sub(lambda _match: value, text)

    return _SRI_TAG.sub(fix_tag, html)


#: Pure-Python packages from requirements.txt that the browser imports, packed into the pyfront zip at its
#: root (each is a top-level import there): segno draws the safety-number QR code (issue 8).
PYTHON_VENDOR = ("segno",)


def python_vendor_packages() -> list[Path]:
    """The installed directories of ``PYTHON_VENDOR`` (their pinned versions make the zip reproducible)."""
    directories = []
    for name in PYTHON_VENDOR:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"bundle: the Python package {name!r} is not installed (requirements.txt)")
        directories.append(Path(spec.origin).parent)
    return directories


#: Packages of pyfront the page never imports, left out of its zip: the headless peer (docs/peer.md) runs
#: on CPython with aiortc, SQLite and http.client, and packing it would also make the build compile the
#: standard-library modules it imports into the page's standard library.
NOT_FOR_THE_PAGE = ("peer",)


def pack_pyfront(package_dir: Path, *vendor_dirs: Path) -> bytes:
    """A deterministic zip (``pycompile.deterministic_zip``) of ``pyfront/`` (without
    ``NOT_FOR_THE_PAGE``) and any ``vendor_dirs`` packages: no caches or hidden files; vendored packages
    contribute their ``.py`` files only.

    Entries are stored, not deflated: deflate's output differs between zlib implementations (zlib-ng,
    the default on some distributions, compresses differently), which would give another root hash on
    the verifier's machine. The server's brotli and gzip variants compress the zip in transit instead.
    """
    entries: list[tuple[str, Path]] = []
    for directory in (package_dir, *vendor_dirs):
        base = directory.parent
        for path in directory.rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix in {".pyc", ".pyo"}:
                continue
            if any(part.startswith(".") for part in path.relative_to(base).parts):
                continue
            if directory is not package_dir and path.suffix != ".py":
                continue
            if directory is package_dir and path.relative_to(package_dir).parts[0] in NOT_FOR_THE_PAGE:
                continue
            entries.append((path.relative_to(base).as_posix(), path))
    return pycompile.deterministic_zip({relative: path.read_bytes() for relative, path in entries})


def zip_sources(archive: bytes) -> list[bytes]:
    """The ``.py`` files of a zip (the pyfront zip: what the page imports)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return [opened.read(name) for name in opened.namelist() if name.endswith(".py")]


def compile_for_pyodide(node_modules: Path, app_zip: bytes, cache_dir: Path) -> tuple[bytes, bytes]:
    """(Pyodide's standard library with what Pyodide's start-up and ``app_zip`` import as bytecode,
    ``app_zip`` with its ``__pycache__`` added), from ``server/pycompile.mjs`` (Node running Pyodide),
    cached by every input's hash."""
    pyodide_dir = node_modules / "pyodide"
    names = json.dumps(sorted(pycompile.imported_names(zip_sources(app_zip)))).encode()
    key = hashlib.sha256()
    for part in (
        (pyodide_dir / "python_stdlib.zip").read_bytes(),
        (pyodide_dir / "pyodide.asm.wasm").read_bytes(),
        PYCOMPILE_SCRIPT.read_bytes(),
        PYCOMPILE_SCRIPT.with_suffix(".py").read_bytes(),
        app_zip,
    ):
        key.update(hashlib.sha256(part).digest())
    cached = cache_dir / key.hexdigest()[:32]
    if (cached / "app.zip").is_file():
        return (cached / "stdlib.zip").read_bytes(), (cached / "app.zip").read_bytes()
    node = shutil.which("node")
    if node is None:
        raise BundleError("node is needed to compile the page's bytecode (it runs Pyodide): install Node 20")
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".work-"))
    try:
        (work / "names.json").write_bytes(names)
        (work / "app.in.zip").write_bytes(app_zip)
        paths = [str(work / name) for name in ("names.json", "app.in.zip", "stdlib.zip", "app.zip")]
        result = subprocess.run(  # noqa: S603 - our script, our paths
            [node, str(PYCOMPILE_SCRIPT), str(pyodide_dir), *paths],
            capture_output=True,
            text=True,
            timeout=PYCOMPILE_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0 or not (work / "app.zip").is_file():
            raise BundleError(f"compiling the page's bytecode failed:\n{result.stderr[-4000:]}")
        outputs = (work / "stdlib.zip").read_bytes(), (work / "app.zip").read_bytes()
        for stale in cache_dir.iterdir():
            if stale != work and not stale.name.startswith("."):
                shutil.rmtree(stale, ignore_errors=True)
        (work / "names.json").unlink()
        (work / "app.in.zip").unlink()
        with contextlib.suppress(OSError):  # an entry stored meanwhile by a parallel build is the same
            work.replace(cached)  # whole entries only, by renaming a finished folder
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return outputs


def boot_config(zip_url: str, stdlib_url: str) -> bytes:
    """What static/js/loader.js boots: the local interpreter, its standard library, our code, and the
    entry point.

    The keys follow PyScript's config (``interpreter``, ``files`` with ``./*`` meaning "unpack here"),
    though the loader boots Pyodide itself; the PyScript entry has its own (``pyscript_config``).
    ``stdlib`` is Pyodide's ``stdLibURL`` (the compiled standard library).
    """
    document = {
        "interpreter": f"{PYODIDE_INDEX_URL}pyodide.mjs",
        "indexURL": PYODIDE_INDEX_URL,
        "stdlib": stdlib_url,
        "files": {zip_url: "./*"},
        "main": "pyfront.browser.main",
    }
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


def pyscript_config(zip_url: str) -> bytes:
    """PyScript's config for the PyScript entry: our interpreter module (static/js/pyscript_pyodide.js,
    which adds the compiled standard library), our zip unpacked into the working directory, no plugins."""
    document = {
        "interpreter": PYSCRIPT_MODULES[1],
        "files": {zip_url: "./*"},
        "plugins": [f"!{name}" for name in PYSCRIPT_PLUGINS_OFF],
    }
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


def _pyscript_modules(wanted: Mapping[Path, bytes], static_root: Path) -> list[str]:
    """URLs of the vendored PyScript modules (pinned by ``modulepreload`` + ``integrity`` on the page)."""
    folder = static_root / VENDOR_DIR / PYSCRIPT_VENDOR.dest
    return [
        "/static/" + path.relative_to(static_root).as_posix()
        for path in wanted
        if path.is_relative_to(folder) and path.suffix == ".js"
    ]


def pyscript_page(index_html: bytes, modules: Iterable[str]) -> bytes:
    """static/pyscript.html from index.html: the same shell and loader.js, plus PyScript's modules (each
    pinned by SRI; ``refresh_sri`` fills the values) and the ``<script type="py">`` that starts the app."""
    loader = b'<script type="module" src="/static/js/loader.js"'
    if loader not in index_html or b"</body>" not in index_html or b'<html lang="en"' not in index_html:
        raise BundleError("index.html has no loader.js module script, </body> or <html lang=...> to extend")
    tags = [b'<script type="module" src="' + PYSCRIPT_MODULES[0].encode() + b'" integrity=""></script>']
    tags += [b'<link rel="modulepreload" href="' + url.encode() + b'" integrity="">' for url in modules]
    page = index_html.replace(b'<html lang="en"', b'<html lang="en" data-entry="pyscript"', 1)
    start = page.index(loader)
    end = page.index(b"\n", start) + 1
    page = page[:end] + b"\n".join(tags) + b"\n" + page[end:]
    script = f'<script type="py" config="/static/{VENDOR_DIR}/{PYSCRIPT_CONFIG}">\n{PYSCRIPT_MAIN}</script>\n'
    # PyScript reads a config per type it defines, py and mpy (MicroPython); with no mpy config it would load
    # every plugin for mpy. This one switches them off too (it is text, not script: the CSP does not apply).
    plugins = json.dumps({"plugins": [f"!{name}" for name in PYSCRIPT_PLUGINS_OFF]})
    script = f"<mpy-config hidden>{plugins}</mpy-config>\n" + script
    return page.replace(b"</body>", script.encode() + b"</body>", 1)


def _served_files(config: Config) -> Iterator[tuple[str, bytes]]:
    """Every file the server sends, as (URL path, bytes), in sorted order."""
    static_root = config.static_root
    for path in sorted(static_root.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(static_root).as_posix()
        if relative == config.manifest_path.name or _NOT_SERVED.search(relative):
            continue
        yield f"/static/{relative}", path.read_bytes()
    if config.service_worker_path.is_file():
        yield "/service_worker.js", config.service_worker_path.read_bytes()


def precompress(path: Path, data: bytes) -> None:
    """Write ``path.gz`` (mtime 0) and ``path.br`` next to ``path`` when they save enough bytes.

    Outputs are rewritten only when the source changed (the variants carry the source's mtime), so
    repeated builds are cheap and deterministic.
    """
    stamp = path.stat().st_mtime_ns
    for suffix, compress in ((".gz", _gzip), (".br", _brotli)):
        target = path.with_name(path.name + suffix)
        if target.is_file() and target.stat().st_mtime_ns == stamp:
            continue
        compressed = compress(data) if len(data) >= COMPRESSION_MIN_SIZE else data
        if len(compressed) > len(data) * COMPRESSION_WORTHWHILE:
            target.unlink(missing_ok=True)
            continue
        _write_if_changed(target, compressed, force=True)
        os.utime(target, ns=(stamp, stamp))


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def _brotli(data: bytes) -> bytes:
    quality = BROTLI_QUALITY if len(data) < BROTLI_LARGE_FILE else BROTLI_QUALITY_LARGE
    return bytes(brotli.compress(data, quality=quality))


def _write_if_changed(path: Path, data: bytes, *, force: bool = False) -> None:
    """Write atomically (a new inode renamed into place), so a hard-linked snapshot never changes."""
    if not force and path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def _remove_stale(vendor_root: Path, wanted: Iterable[Path]) -> None:
    """Delete generated files that the current build no longer produces (and their variants)."""
    keep = set(wanted)
    keep |= {path.with_name(path.name + suffix) for path in keep for suffix in (".gz", ".br")}
    for path in sorted(vendor_root.rglob("*"), reverse=True):
        if path.is_file() and path not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    shutil.rmtree(vendor_root / "__pycache__", ignore_errors=True)


def load_manifest(config: Config) -> Manifest:
    """The manifest of the last local build."""
    return Manifest.from_json(config.manifest_path.read_bytes())


# ---------------------------------------------------------------------------------------------------
# Verify a served bundle


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of comparing a served bundle with the local build."""

    local_root: str
    remote_root: str | None
    differing: tuple[str, ...]
    #: The served deployment file's settings (broker, TURN, mailbox), when the server has one.
    deployment: Deployment | None = None

    @property
    def ok(self) -> bool:
        return not self.differing and self.local_root == self.remote_root


def verify(local: Manifest, base_url: str) -> VerifyReport:
    """Download ``base_url``'s manifest and every file it serves; list what differs from ``local``.

    Each served file is hashed as downloaded (the server's manifest is not trusted for content). The
    page at ``/`` must be byte-identical to ``/static/index.html``.

    The one file a host chooses is the deployment file (``python app.py export``: its broker, TURN and
    mailbox URLs). It is accepted when it is a valid deployment in canonical form, and the local root is
    then recomputed with it, so the root hash printed covers exactly those settings; the report carries
    them so the person sees what they are trusting.
    """
    base = base_url.rstrip("/")
    differing: list[str] = []
    try:
        remote = Manifest.from_json(_download(f"{base}/bundle.json", MAX_MANIFEST_SIZE))
        remote_root: str | None = remote.root
    except (BundleError, OSError) as error:
        return VerifyReport(local.root, None, (f"/bundle.json ({error})",))
    deployment: Deployment | None = None
    if DEPLOYMENT_URL in remote.files and DEPLOYMENT_URL in local.files:
        try:
            served_deployment = _download(base + DEPLOYMENT_URL, MAX_DEPLOYMENT_BYTES)
            deployment = Deployment.from_json(served_deployment)
        except (BundleError, OSError, ProtocolError) as error:
            differing.append(f"{DEPLOYMENT_URL} (not a valid deployment file: {error})")
        else:
            local = Manifest.from_files({**local.files, DEPLOYMENT_URL: file_entry(served_deployment)})
    for path in sorted(set(local.files) | set(remote.files), key=str.encode):
        if path not in remote.files:
            differing.append(f"{path} (missing from the served manifest)")
            continue
        if path not in local.files:
            differing.append(f"{path} (not in the local build)")
            continue
        try:
            served = file_entry(_download(base + urllib.parse.quote(path), MAX_FILE_SIZE))
        except (BundleError, OSError) as error:
            differing.append(f"{path} ({error})")
            continue
        if served != local.files[path]:
            differing.append(
                f"{path} (served sha256 {served.sha256[:16]}…, local {local.files[path].sha256[:16]}…)"
            )
    index = local.files.get("/static/index.html")
    if index is not None:
        try:
            page = file_entry(_download(f"{base}/", MAX_FILE_SIZE))
        except (BundleError, OSError) as error:
            differing.append(f"/ ({error})")
        else:
            if page != index:
                differing.append("/ (differs from /static/index.html)")
    return VerifyReport(local.root, remote_root, tuple(differing), deployment)


def _download(url: str, limit: int) -> bytes:
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise BundleError(f"{url}: only http and https URLs can be verified")
    request_headers = {"Accept-Encoding": "identity", "Cache-Control": "no-cache"}
    request = urllib.request.Request(url, headers=request_headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=VERIFY_TIMEOUT_SECONDS) as response:  # noqa: S310
            data = response.read(limit + 1)
    except urllib.error.HTTPError as error:
        raise BundleError(f"HTTP {error.code}") from error
    if len(data) > limit:
        raise BundleError(f"larger than {limit} bytes")
    return bytes(data)


def verify_command(config: Config, url: str) -> int:
    """``python app.py verify URL``: exit 0 and print the root hash when identical, else list files."""
    local = build(config, log=False)
    report = verify(local, url)
    if report.deployment is not None:
        print(describe_deployment(report.deployment), file=sys.stderr)
    if report.ok:
        print(report.local_root)
        return 0
    print(f"MISMATCH: local root {report.local_root}, served root {report.remote_root}", file=sys.stderr)
    for line in report.differing:
        print(f"  {line}", file=sys.stderr)
    return 1


def describe_deployment(deployment: Deployment) -> str:
    """The deployment's settings for a person to read (TURN credentials left out)."""
    turn = "; ".join(",".join(server.urls) for server in deployment.ice_servers) or "(none)"
    return (
        f"deployment: broker {deployment.broker or '(the page origin, /peerjs)'}, ICE servers {turn}, "
        f"mailbox {deployment.mailbox or '(the page origin)'}"
    )
