"""The static bundle: deterministic build, canonical manifest and root hash, precompression, SRI, verify."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import brotli
import pytest

from server import bundle, pycompile
from server.bundle import BundleError, FileEntry, Manifest
from server.config import Config
from tests.rig.server import REPO_ROOT, LiveServerFactory, snapshot_site

BUILD_INPUTS = ("static", "pyfront", "service_worker.js")


def _ignore_outputs(directory: str, names: list[str]) -> set[str]:
    """Build outputs and caches: what a fresh checkout does not have."""
    skipped = {"vendor", "bundle.json"} if Path(directory).name == "static" else set()
    return (
        skipped
        | {name for name in names if name.endswith((".gz", ".br", ".pyc")) or name.startswith(".")}
        | ({"__pycache__"} & set(names))
    )


def clean_site(root: Path, source: Path = REPO_ROOT) -> Config:
    """A fresh checkout's build inputs (static sources, pyfront/, the service worker) under ``root``.

    Copying pyfront/ too makes a test's builds independent of edits to the working tree meanwhile.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name in BUILD_INPUTS:
        if (source / name).is_dir():
            shutil.copytree(source / name, root / name, ignore=_ignore_outputs)
        else:
            shutil.copy2(source / name, root / name)
    (root / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    return Config(static_root=root / "static", repo_root=root)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree's build inputs, frozen once for the module."""
    return clean_site(tmp_path_factory.mktemp("checkout")).repo_root


def tree_bytes(static_root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(static_root).as_posix(): path.read_bytes()
        for path in sorted(static_root.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


# ---- Known answers for the canonical serialisation (docs/security.md) --------------------------------


def test_canonical_bytes_and_root_hash_known_answer() -> None:
    files = {
        "/static/b.js": FileEntry("bb" * 32, 2),
        "/service_worker.js": FileEntry("aa" * 32, 10),
        "/static/a_b.css": FileEntry("cc" * 32, 0),
    }
    expected_text = (
        "parley-bundle-v1\n"
        f"{'aa' * 32}  10  /service_worker.js\n"
        f"{'cc' * 32}  0  /static/a_b.css\n"
        f"{'bb' * 32}  2  /static/b.js\n"
    )
    assert bundle.canonical_bytes(files) == expected_text.encode()
    assert bundle.root_hash(files) == hashlib.sha256(expected_text.encode()).hexdigest()


def test_root_hash_matches_sha256sum_of_canonical_text(tmp_path: Path) -> None:
    """An independent implementation: coreutils' sha256sum over the documented text."""
    files = {"/x.js": bundle.file_entry(b"x"), "/static/y.css": bundle.file_entry(b"")}
    text = "parley-bundle-v1\n" + "".join(
        f"{files[path].sha256}  {files[path].size}  {path}\n" for path in sorted(files)
    )
    canonical = tmp_path / "canonical.txt"
    canonical.write_text(text)
    digest = subprocess.run(
        ["/usr/bin/sha256sum", str(canonical)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert bundle.root_hash(files) == digest


def test_manifest_json_round_trip_checks_root() -> None:
    manifest = Manifest.from_files({"/a.js": bundle.file_entry(b"a"), "/b.js": bundle.file_entry(b"bb")})
    parsed = Manifest.from_json(manifest.to_json())
    assert parsed == manifest
    document = json.loads(manifest.to_json())
    assert document["format"] == "parley-bundle-v1"
    assert list(document["files"]) == ["/a.js", "/b.js"]


def _document(**changes: object) -> bytes:
    manifest = Manifest.from_files({"/a.js": bundle.file_entry(b"a")})
    document = json.loads(manifest.to_json())
    document.update(changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_document(root="00" * 32), "does not match its file list"),
        (_document(format="other"), "unknown manifest format"),
        (_document(version=2), "unknown manifest format"),
        (
            _document(files={"/../etc/passwd": {"sha256": "aa" * 32, "size": 1}}),
            "not a plain absolute URL path",
        ),
        (_document(files={"relative.js": {"sha256": "aa" * 32, "size": 1}}), "not a plain absolute URL path"),
        (_document(files={"/a.js": {"sha256": "AA" * 32, "size": 1}}), "no lowercase hex sha256"),
        (_document(files={"/a.js": {"sha256": "aa" * 32, "size": -1}}), "has size -1"),
        (_document(files={"/a.js": {"sha256": "aa" * 32}}), "malformed manifest"),
        (b"not json", "malformed manifest"),
        (b"[]", "malformed manifest"),
        (b" " * (bundle.MAX_MANIFEST_SIZE + 1), "limit"),
    ],
)
def test_bad_manifests_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(BundleError, match=message.replace("(", r"\(")):
        Manifest.from_json(raw)


# ---- The build ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory, checkout: Path) -> tuple[Config, Manifest]:
    """One clean build from a fresh checkout's files, shared by the read-only build tests."""
    config = clean_site(tmp_path_factory.mktemp("clean-build"), checkout)
    return config, bundle.build(config, log=False)


def test_two_clean_builds_give_the_same_root_hash_and_bytes(
    built_site: tuple[Config, Manifest], checkout: Path, tmp_path: Path
) -> None:
    first, manifest_one = built_site
    second = clean_site(tmp_path / "two", checkout)
    manifest_two = bundle.build(second, log=False)
    assert manifest_one.root == manifest_two.root
    assert tree_bytes(first.static_root) == tree_bytes(second.static_root)  # incl. .gz and .br variants
    # ...and building again changes nothing.
    again = bundle.build(first, log=False)
    assert again.root == manifest_one.root


def test_build_contents(built_site: tuple[Config, Manifest]) -> None:
    config, manifest = built_site
    files = set(manifest.files)
    for required in (
        "/static/vendor/pyodide/pyodide.mjs",
        "/static/vendor/pyodide/pyodide.asm.mjs",
        "/static/vendor/pyodide/pyodide.asm.wasm",
        "/static/vendor/pyodide/pyodide-lock.json",
        "/static/vendor/jsqr/jsQR.js",
        "/static/vendor/boot.json",
        "/static/index.html",
        "/static/js/loader.js",
        "/service_worker.js",
    ):
        assert required in files
    assert not [path for path in files if path.endswith((".map", ".gz", ".br")) or "__pycache__" in path]
    zips = [path for path in files if path.startswith("/static/vendor/pyfront-")]
    assert len(zips) == 1
    # Our sources, each with its bytecode beside it (server/pycompile.py, add_bytecode).
    packed = zipfile.ZipFile(config.static_root / zips[0].removeprefix("/static/")).namelist()
    sources = [name for name in packed if name.endswith(".py")]
    assert "pyfront/browser/main.py" in sources
    assert not [name for name in sources if name.startswith("pyfront/peer/")]

    def bytecode_of(source: str) -> str:
        folder, _, file = source.rpartition("/")
        return f"{folder}/__pycache__/{file.removesuffix('.py')}.cpython-314.pyc"

    assert sorted(packed) == sorted([*sources, *map(bytecode_of, sources)])
    stdlibs = [path for path in files if path.startswith("/static/vendor/stdlib-")]
    assert len(stdlibs) == 1
    boot = json.loads((config.static_root / "vendor" / "boot.json").read_text())
    assert boot["interpreter"] == "/static/vendor/pyodide/pyodide.mjs"
    assert boot["files"] == {zips[0]: "./*"}
    assert boot["stdlib"] == stdlibs[0]
    on_disk = json.loads(config.manifest_path.read_bytes())
    assert on_disk["root"] == manifest.root
    for path, entry in manifest.files.items():
        local = (config.static_root.parent / path.lstrip("/")) if path == "/service_worker.js" else None
        local = local or config.static_root / path.removeprefix("/static/")
        assert bundle.file_entry(local.read_bytes()) == entry, path


def test_standard_library_is_bytecode_where_the_app_imports(built_site: tuple[Config, Manifest]) -> None:
    config, manifest = built_site
    boot = json.loads((config.static_root / "vendor" / "boot.json").read_text())
    assert boot["stdlib"] in manifest.files
    assert "/static/vendor/pyodide/python_stdlib.zip" not in manifest.files  # replaced, not shipped twice
    served = zipfile.ZipFile(config.static_root / boot["stdlib"].removeprefix("/static/"))
    names = set(served.namelist())
    npm = zipfile.ZipFile(REPO_ROOT / "node_modules" / "pyodide" / "python_stdlib.zip")
    npm_modules = {name.removesuffix(".py") for name in npm.namelist() if name.endswith(".py")}
    served_modules = {name.rsplit(".", 1)[0] for name in names if name.endswith((".py", ".pyc"))}
    assert served_modules == npm_modules  # every module is still there, as source or bytecode, once
    # What Pyodide's start-up imports, and what our code imports (with their own imports), is bytecode.
    for module in ("encodings/__init__", "_pyodide/_base", "json/__init__", "json/decoder", "dataclasses"):
        assert f"{module}.pyc" in names and f"{module}.py" not in names, module
    for module in ("asyncio/__init__", "hmac", "enum", "typing"):
        assert f"{module}.pyc" in names, module
    assert "wave.py" in names and "wave.pyc" not in names  # nothing imports it: left as source
    headers = {served.read(name)[:8] for name in names if name.endswith(".pyc")}
    (header,) = headers  # one interpreter's magic number; flags 0b01: hash-based, source never checked
    assert header[2:4] == b"\r\n" and header[4:8] == pycompile.PYC_UNCHECKED_HASH
    assert {info.compress_type for info in served.infolist()} == {zipfile.ZIP_STORED}


def test_imported_names_finds_every_absolute_import() -> None:
    source = b"""
import json, os.path as osp
from collections import abc, OrderedDict
from . import sibling
from .pkg import thing
def later():
    import hmac
    from email.message import *
"""
    assert pycompile.imported_names([source]) == {
        "json",
        "os.path",
        "collections",
        "collections.abc",
        "collections.OrderedDict",
        "hmac",
        "email.message",
    }


def test_bytecode_cache_is_keyed_by_its_inputs(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    node_modules = REPO_ROOT / "node_modules"
    app = pycompile.deterministic_zip({"app/__init__.py": b"import json\n"})
    stdlib, compiled = bundle.compile_for_pyodide(node_modules, app, cache)
    (entry,) = cache.iterdir()
    assert bundle.compile_for_pyodide(node_modules, app, cache) == (stdlib, compiled)  # from the cache
    assert list(cache.iterdir()) == [entry]
    names = zipfile.ZipFile(io.BytesIO(compiled)).namelist()
    assert names == ["app/__init__.py", "app/__pycache__/__init__.cpython-314.pyc"]
    # Another import is another key: compiled again, and the old entry goes.
    other = pycompile.deterministic_zip({"app/__init__.py": b"import json\nimport wave\n"})
    stdlib_two, _ = bundle.compile_for_pyodide(node_modules, other, cache)
    assert "wave.pyc" in zipfile.ZipFile(io.BytesIO(stdlib_two)).namelist()
    assert "wave.pyc" not in zipfile.ZipFile(io.BytesIO(stdlib)).namelist()
    assert entry not in list(cache.iterdir())


def test_stale_vendor_files_are_removed(built_site: tuple[Config, Manifest]) -> None:
    config, manifest = built_site
    stale = config.static_root / "vendor" / "pyfront-0000000000000000.zip"
    stale.write_bytes(b"old")
    assert bundle.build(config, log=False) == manifest
    assert not stale.exists()


def test_missing_node_modules_is_a_clear_error(tmp_path: Path, checkout: Path) -> None:
    config = clean_site(tmp_path, checkout)
    with pytest.raises(BundleError, match="npm ci"):
        bundle.build(config, node_modules=tmp_path / "nowhere", log=False)


def test_every_vendored_package_is_a_pinned_runtime_dependency() -> None:
    """The image installs ``npm ci --omit=dev``: each package the build copies from is named in
    ``dependencies`` at the version the lockfile holds, and nothing sits there that the build never copies.
    """
    manifest = json.loads((REPO_ROOT / "package.json").read_text())
    locked = json.loads((REPO_ROOT / "package-lock.json").read_text())["packages"]

    def package_of(source: str) -> str:
        parts = source.split("/")
        return "/".join(parts[:2] if parts[0].startswith("@") else parts[:1])

    vendored = {package_of(entry.source) for entry in bundle.VENDOR}
    runtime = manifest["dependencies"]
    assert set(runtime) == vendored
    for name, version in runtime.items():
        assert locked[f"node_modules/{name}"]["version"] == version, name


def test_pyfront_zip_is_deterministic_and_clean(tmp_path: Path) -> None:
    package = tmp_path / "pyfront"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (package / "sub" / "mod.py").write_text("y = 2\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"junk")
    (package / ".hidden.swp").write_bytes(b"junk")
    (package / "peer").mkdir()  # the headless peer: CPython only, never in the page's zip
    (package / "peer" / "cli.py").write_text("import aiortc\n")
    first = bundle.pack_pyfront(package)
    for path in package.rglob("*"):
        path.touch()  # new mtimes must not change the zip
    assert bundle.pack_pyfront(package) == first
    archive = zipfile.ZipFile(io.BytesIO(first))
    assert archive.namelist() == ["pyfront/__init__.py", "pyfront/sub/mod.py"]
    assert {info.date_time for info in archive.infolist()} == {pycompile.ZIP_EPOCH}
    # Stored, so no zlib (whose deflate output varies between implementations) shapes the bytes.
    assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    assert archive.read("pyfront/sub/mod.py") == b"y = 2\n"


def test_precompressed_variants_are_deterministic_and_decode(tmp_path: Path) -> None:
    source = tmp_path / "big.js"
    data = b"console.log('parley');\n" * 500
    source.write_bytes(data)
    bundle.precompress(source, data)
    gz = source.with_name("big.js.gz").read_bytes()
    br = source.with_name("big.js.br").read_bytes()
    assert gz[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME field is 0
    assert gzip.decompress(gz) == data
    assert brotli.decompress(br) == data
    tiny = tmp_path / "tiny.js"
    tiny.write_bytes(b"x")
    bundle.precompress(tiny, b"x")
    assert not tiny.with_name("tiny.js.gz").exists()


def test_refresh_sri_sets_sha384_of_the_loaded_file(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "a.js").write_bytes(b"alert(1)\n")
    html = b'<script type="module" src="/static/js/a.js" integrity="sha384-old"></script><link href="/x.css">'
    fixed = bundle.refresh_sri(html, tmp_path)
    node = shutil.which("node")
    assert node, "node is a build requirement (npm ci)"
    script = "process.stdout.write(require('crypto').createHash('sha384')"
    script += ".update(require('fs').readFileSync(process.argv[1])).digest('base64'))"
    independent = subprocess.run(
        [node, "-e", script, str(tmp_path / "js" / "a.js")], capture_output=True, text=True, check=True
    ).stdout
    assert f'integrity="sha384-{independent}"'.encode() in fixed
    assert fixed.endswith(b'<link href="/x.css">')
    with pytest.raises(BundleError, match="does not produce"):
        bundle.refresh_sri(b'<script src="/static/js/missing.js" integrity="x"></script>', tmp_path)


def test_committed_index_html_has_current_sri() -> None:
    """After a build every integrity attribute in index.html matches its file (a second refresh is a no-op).

    The build rewrites stale values in place, so editing loader.js or a stylesheet never breaks the page;
    commit the refreshed index.html with the change.
    """
    config = Config()
    bundle.build(config, log=False)
    html = (config.static_root / "index.html").read_bytes()
    assert bundle.refresh_sri(html, config.static_root) == html
    assert b"REPLACED-BY-BUILD" not in html
    assert html.count(b'integrity="sha384-') >= 3


def test_snapshot_is_isolated_from_later_builds(tmp_path: Path) -> None:
    static_root = snapshot_site(tmp_path / "site")
    before = tree_bytes(static_root)
    bundle.build(Config(), log=False)
    assert tree_bytes(static_root) == before
    assert (tmp_path / "site" / "service_worker.js").is_file()
    with pytest.raises(BundleError, match="fresh directory"):
        snapshot_site(tmp_path / "site")


# ---- verify ---------------------------------------------------------------------------------------------


def run_app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "app.py", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


def test_verify_passes_against_a_live_server_and_fails_after_one_file_is_altered(
    live_server_factory: LiveServerFactory, tmp_path: Path
) -> None:
    static_root = snapshot_site(tmp_path / "site")
    local = Manifest.from_json((static_root / "bundle.json").read_bytes())
    server = live_server_factory(static_root=static_root)
    report = bundle.verify(local, server.url)
    assert report.ok, report.differing
    assert report.remote_root == local.root

    altered = static_root / "css" / "app.css"
    altered.unlink()  # a new inode: the working tree's file stays as it was
    altered_bytes = b"body { background: red }\n"
    altered.write_bytes(altered_bytes)
    for variant in ("app.css.gz", "app.css.br"):
        (altered.parent / variant).unlink(missing_ok=True)
    server.stop()
    server.start()
    report = bundle.verify(local, server.url)
    assert not report.ok
    served = hashlib.sha256(altered_bytes).hexdigest()[:16]
    expected = local.files["/static/css/app.css"].sha256[:16]
    assert report.differing == (f"/static/css/app.css (served sha256 {served}…, local {expected}…)",)


def test_verify_command_exit_codes(live_server_factory: LiveServerFactory, tmp_path: Path) -> None:
    server = live_server_factory()  # serves a snapshot of the tree as just built
    result = run_app("verify", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == Manifest.from_json((server.static_root / "bundle.json").read_bytes()).root

    (server.static_root / "js" / "loader.js").unlink()
    (server.static_root / "js" / "loader.js").write_text("// altered\n")
    for variant in ("loader.js.gz", "loader.js.br"):
        (server.static_root / "js" / variant).unlink(missing_ok=True)
    server.stop()
    server.start()
    result = run_app("verify", server.url)
    assert result.returncode == 1
    assert "MISMATCH" in result.stderr
    assert "/static/js/loader.js" in result.stderr


def test_verify_unreachable_server_fails_cleanly(tmp_path: Path) -> None:
    local = Manifest.from_files({"/a.js": bundle.file_entry(b"a")})
    report = bundle.verify(local, "http://127.0.0.1:9")
    assert not report.ok
    assert report.differing[0].startswith("/bundle.json (")
    with pytest.raises(BundleError, match="only http and https"):
        bundle._download("file:///etc/passwd", 10)
