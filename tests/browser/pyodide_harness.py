"""Run our Python code inside Pyodide in a real Chromium page, from pytest.

This is the test rig that proves the sans-I/O core runs unchanged in the browser (DESIGN.md section 3,
"PyScript/Pyodide fully offline works"; section 8). It does not depend on the app, its bundle or its
Content-Security-Policy: a small loopback-only HTTP server started here serves

* ``/``                the harness page (an import map for the vendored noble packages + Pyodide loader);
* ``/pyodide/...``     ``node_modules/pyodide`` (the npm core: ``pyodide.mjs``, wasm, stdlib zip);
* ``/static/vendor/noble/...``  ``node_modules/@noble`` (``post-quantum``, ``hashes``, ``curves``,
                       ``ciphers``) at the URLs the app bundle uses, with an import map for noble's
                       bare ``@noble/...`` specifiers (the bundle rewrites them instead);
* ``/static/js/...``   our own ``static/js`` (``crypto_bridge.js``, which the WebCrypto provider imports);
* ``/app.zip``         the ``pyfront`` package zipped from the work tree at fixture start.

The page loads Pyodide from our own origin, unpacks ``app.zip`` into ``APP_DIR`` (on ``sys.path``), and
exposes one entry point. Nothing is fetched from anywhere else: every request the page makes is
recorded and any request to another origin fails the next ``run`` call.

Usage (the fixture is session-scoped: one page, Pyodide started once, ~3 s)::

    # tests/browser/conftest.py makes the fixture available to every test under tests/browser/;
    # elsewhere: ``pytest -p tests.browser.pyodide_harness``.

    @pytest.mark.browser
    def test_something(pyodide_runner: PyodideRunner) -> None:
        value = pyodide_runner.run('''
    from pyfront.crypto.webcrypto import create_webcrypto_provider
    provider = await create_webcrypto_provider()
    (await provider.aes_gcm_encrypt(bytes(16), bytes(12), b"hi")).hex()
    ''')
        assert value == "..."

``run(code)`` executes ``code`` as async Python (top-level ``await`` allowed) in a fresh namespace and
returns the value of its last expression, converted to JSON and back (``bytes`` become hex strings,
dataclasses become dicts). If the code raises, ``run`` raises ``PyodideError`` carrying the Python
traceback from inside the browser. ``install(files)`` / ``install_tree(local_dir, dest)`` copy extra
files (vector files, test helpers) into the Pyodide filesystem under ``APP_DIR``.

Run browser tests inside the loopback-only network namespace: ``./dev pytest tests/browser -n 0``.
The fixture uses the rig's session-scoped ``chromium`` (tests/conftest.py) and, like it, refuses to start
when the process can see a network interface other than loopback.
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import threading
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.rig.browser import require_loopback_namespace

REPO_ROOT = Path(__file__).resolve().parents[2]
PYODIDE_DIR = REPO_ROOT / "node_modules" / "pyodide"
NOBLE_DIR = REPO_ROOT / "node_modules" / "@noble"
STATIC_JS_DIR = REPO_ROOT / "static" / "js"
APP_DIR = "/home/pyodide/app"
PYTHON_PACKAGES = ("pyfront",)
PYODIDE_START_TIMEOUT_MS = 120_000
RUN_TIMEOUT_S = 240.0

CONTENT_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".zip": "application/zip",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".map": "application/json",
}

HARNESS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pyodide harness</title>
<script type="importmap">
{"imports": {
  "@noble/post-quantum/": "/static/vendor/noble/post-quantum/",
  "@noble/hashes/": "/static/vendor/noble/hashes/",
  "@noble/curves/": "/static/vendor/noble/curves/",
  "@noble/ciphers/": "/static/vendor/noble/ciphers/"
}}
</script>
<script type="module">
import { loadPyodide } from "/pyodide/pyodide.mjs";
// How a page lets pyfront/crypto/webcrypto.py load ES modules without eval (see its docstring).
globalThis.parleyImport = (url) => import(url);
globalThis.harnessReady = (async () => {
  const pyodide = await loadPyodide({ indexURL: "/pyodide/" });
  const zip = await (await fetch("/app.zip")).arrayBuffer();
  pyodide.unpackArchive(zip, "zip", { extractDir: "%(app_dir)s" });
  pyodide.runPython(%(bootstrap)s);
  globalThis.pyodide = pyodide;
  globalThis.harnessRun = pyodide.globals.get("_harness_run");
  globalThis.harnessInstall = pyodide.globals.get("_harness_install");
  return pyodide.version;
})();
</script></head><body>pyodide harness</body></html>
"""

# Runs once inside Pyodide: the entry points the page calls for ``run`` and ``install``.
BOOTSTRAP = """
import base64, dataclasses, io, json, sys, traceback, zipfile
from pyodide.code import eval_code_async

sys.path.insert(0, %(app_dir)r)

def _harness_default(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON-able: {type(value).__name__}")

async def _harness_run(code):
    namespace = {"__name__": "__harness__"}
    try:
        value = await eval_code_async(code, namespace, filename="<harness>")
        return json.dumps({"ok": True, "value": value}, default=_harness_default)
    except BaseException:
        return json.dumps({"ok": False, "error": traceback.format_exc()})

def _harness_install(zip_base64, dest):
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(zip_base64))) as archive:
        archive.extractall(dest)
    return True
"""


class PyodideError(AssertionError):
    """Python code run inside Pyodide raised; the message is the traceback from the browser."""


def zip_tree(root: Path, packages: tuple[str, ...] = PYTHON_PACKAGES) -> bytes:
    """A zip of the named package folders under ``root`` (``.py`` files and data, no caches)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in packages:
            for path in sorted((root / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def zip_files(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves the harness page, Pyodide, the noble packages, static/js and the app zip; nothing else."""

    server: HarnessServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        body: bytes | None
        if path in ("/", "/index.html"):
            body, content_type = self.server.page.encode(), CONTENT_TYPES[".html"]
        elif path == "/app.zip":
            body, content_type = self.server.app_zip, CONTENT_TYPES[".zip"]
        else:
            body, content_type = self._static(path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _static(self, path: str) -> tuple[bytes | None, str]:
        for prefix, folder in (
            ("/pyodide/", PYODIDE_DIR),
            ("/static/vendor/noble/", NOBLE_DIR),
            ("/static/js/", STATIC_JS_DIR),
        ):
            if path.startswith(prefix):
                target = (folder / path[len(prefix) :]).resolve()
                if target.is_relative_to(folder.resolve()) and target.is_file():
                    return target.read_bytes(), CONTENT_TYPES.get(target.suffix, "application/octet-stream")
        return None, ""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HarnessServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app_zip: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app_zip = app_zip
        bootstrap = BOOTSTRAP % {"app_dir": APP_DIR}
        self.page = HARNESS_PAGE % {"app_dir": APP_DIR, "bootstrap": json.dumps(bootstrap)}
        self._thread = threading.Thread(target=self.serve_forever, name="pyodide-harness", daemon=True)

    @property
    def origin(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HarnessServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class PyodideRunner:
    """A Chromium page with Pyodide started and ``pyfront`` importable. See the module docstring."""

    def __init__(self, page: Any, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.console: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        page.on("request", lambda request: self.requests.append(request.url))

    def start(self) -> str:
        """Open the harness page and wait for Pyodide; returns the Pyodide version."""
        self.page.goto(self.origin + "/")
        try:
            version: str = self.page.evaluate(
                "ms => Promise.race([globalThis.harnessReady, new Promise((_, reject) =>"
                " setTimeout(() => reject(new Error('pyodide start timed out')), ms))])",
                PYODIDE_START_TIMEOUT_MS,
            )
        except Exception as error:
            console = "\n".join(self.console)
            raise PyodideError(f"Pyodide did not start: {error}\nconsole:\n{console}") from None
        return version

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.origin + "/")]

    def run(self, code: str, timeout: float = RUN_TIMEOUT_S) -> Any:
        """Run async Python inside Pyodide; return its last expression's value (JSON round trip)."""
        raw: str = self.page.evaluate(
            "([code, ms]) => Promise.race([globalThis.harnessRun(code), new Promise((_, reject) =>"
            " setTimeout(() => reject(new Error('harness run timed out')), ms))])",
            [code, int(timeout * 1000)],
        )
        foreign = self.foreign_requests()
        if foreign:
            raise AssertionError(f"the page made requests outside the harness origin: {foreign}")
        outcome = json.loads(raw)
        if not outcome["ok"]:
            raise PyodideError("Python raised inside Pyodide:\n" + outcome["error"])
        return outcome["value"]

    def install(self, files: Mapping[str, bytes], dest: str = APP_DIR) -> None:
        """Write ``files`` (relative path -> bytes) under ``dest`` in the Pyodide filesystem."""
        encoded = base64.b64encode(zip_files(files)).decode()
        self.page.evaluate("([data, dest]) => globalThis.harnessInstall(data, dest)", [encoded, dest])

    def install_tree(self, local_dir: Path, dest_relative: str) -> None:
        """Copy every file under ``local_dir`` to ``APP_DIR/dest_relative`` in the Pyodide filesystem."""
        files = {
            f"{dest_relative}/{path.relative_to(local_dir).as_posix()}": path.read_bytes()
            for path in sorted(local_dir.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        }
        self.install(files)


@contextmanager
def pyodide_pages(browser: Any, count: int = 2) -> Iterator[list[PyodideRunner]]:
    """``count`` Pyodide pages, each in its own context (one person each), camera and microphone granted
    so that WebRTC gathers ICE candidates; all served by one harness server and closed afterwards."""
    require_loopback_namespace()
    server = HarnessServer(zip_tree(REPO_ROOT)).start()
    contexts = [browser.new_context() for _ in range(count)]
    try:
        runners = []
        for context in contexts:
            context.grant_permissions(["camera", "microphone"])
            runner = PyodideRunner(context.new_page(), server.origin)
            runner.start()
            runners.append(runner)
        yield runners
    finally:
        for context in contexts:
            context.close()
        server.stop()


@pytest.fixture(scope="session")
def pyodide_runner(chromium: Any) -> Iterator[PyodideRunner]:
    """One Chromium page with Pyodide and ``pyfront`` loaded from a loopback server, for the session.

    ``chromium`` is the rig's session-scoped browser (tests/rig/browser.py), which refuses to start
    outside a loopback-only network namespace.
    """
    require_loopback_namespace()
    server = HarnessServer(zip_tree(REPO_ROOT)).start()
    context = chromium.new_context()
    try:
        runner = PyodideRunner(context.new_page(), server.origin)
        runner.start()
        yield runner
    finally:
        context.close()
        server.stop()
