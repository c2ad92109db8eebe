"""The sans-I/O rule and the crypto boundary, checked on the source with ``ast`` (DESIGN.md section 2).

* ``pyfront/`` outside ``browser/`` and ``peer/`` does no I/O: it imports no browser FFI, web framework,
  network, file-system, process, clock or randomness module, opens no file and imports nothing
  dynamically. Time comes in as ``now``; randomness from ``provider.random_bytes``.
* Only ``pyfront/crypto/`` imports a cryptography library.
* The core must run under Pyodide with the standard library only: no third-party import at all.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PYFRONT = REPO_ROOT / "pyfront"
IO_PACKAGES = ("browser", "peer")  # the only packages that carry out actions
CRYPTO_PACKAGE = "crypto"
# The providers are where randomness and WebCrypto come from: native.py reads os.urandom / secrets,
# webcrypto.py calls crypto.subtle through the js FFI. Nothing else in crypto/ may do I/O.
CRYPTO_MAY_IMPORT = ("js", "pyodide", "os", "secrets")

# Module prefixes the sans-I/O core never imports, with the reason a reader gets in the failure.
FORBIDDEN_IN_CORE: dict[str, str] = {
    "js": "browser FFI",
    "pyodide": "browser FFI",
    "pyscript": "browser FFI",
    "flask": "web framework",
    "flask_sock": "web framework",
    "werkzeug": "web framework",
    "aiortc": "network transport",
    "socket": "network I/O",
    "ssl": "network I/O",
    "select": "I/O multiplexing",
    "selectors": "I/O multiplexing",
    "asyncio.streams": "network I/O",
    "asyncio.subprocess": "process I/O",
    "http": "network I/O",
    "urllib.request": "network I/O",
    "requests": "network I/O",
    "httpx": "network I/O",
    "aiohttp": "network I/O",
    "websockets": "network I/O",
    "os": "operating-system / file access",
    "shutil": "file access",
    "pathlib": "file access",
    "glob": "file access",
    "tempfile": "file access",
    "sqlite3": "storage I/O",
    "subprocess": "process I/O",
    "multiprocessing": "process I/O",
    "signal": "process I/O",
    "time": "the clock (take `now` as a parameter)",
    "random": "randomness (use provider.random_bytes)",
    "secrets": "randomness (use provider.random_bytes)",
}
# asyncio itself is fine (coroutines, locks); these members of it are I/O or the clock.
ASYNCIO_IO_MEMBERS = frozenset(
    {"open_connection", "start_server", "open_unix_connection", "start_unix_server",
     "create_subprocess_exec", "create_subprocess_shell", "to_thread"}
)  # fmt: skip
FORBIDDEN_CALLS = {"open": "file I/O", "input": "console I/O", "__import__": "dynamic import"}
FORBIDDEN_ATTRIBUTE_CALLS = {
    ("importlib", "import_module"): "dynamic import",
    ("datetime", "now"): "the clock (take `now` as a parameter)",
    ("datetime", "utcnow"): "the clock (take `now` as a parameter)",
    ("date", "today"): "the clock (take `now` as a parameter)",
}
# Hashing and MACs are primitives too: the core reaches them through ``CryptoProvider``'s static methods
# and ``constant_time_equal``, so one module decides how each runtime computes them.
CRYPTO_LIBRARIES = (
    "cryptography", "nacl", "Crypto", "Cryptodome", "olm", "vodozemac", "rfc9420", "hashlib", "hmac",
)  # fmt: skip


def python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def package_of(path: Path) -> str:
    """The first folder under pyfront/ ("" for top-level modules)."""
    parts = path.relative_to(PYFRONT).parts
    return parts[0] if len(parts) > 1 else ""


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every absolute module name imported (``from a import b`` yields ``a`` and ``a.b``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    relative = path.relative_to(REPO_ROOT)
    package = package_of(path)
    found: list[str] = []
    if package not in IO_PACKAGES:
        for line, module in imported_modules(tree):
            for prefix, reason in FORBIDDEN_IN_CORE.items():
                if package == CRYPTO_PACKAGE and prefix in CRYPTO_MAY_IMPORT:
                    continue
                if matches(module, prefix):
                    found.append(f"{relative}:{line}: imports {module} ({reason})")
            if module.startswith("asyncio.") and module.split(".", 1)[1] in ASYNCIO_IO_MEMBERS:
                found.append(f"{relative}:{line}: imports {module} (I/O)")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            function = node.func
            if isinstance(function, ast.Name) and function.id in FORBIDDEN_CALLS:
                found.append(
                    f"{relative}:{node.lineno}: calls {function.id}() ({FORBIDDEN_CALLS[function.id]})"
                )
            if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
                key = (function.value.id, function.attr)
                if key in FORBIDDEN_ATTRIBUTE_CALLS:
                    reason = FORBIDDEN_ATTRIBUTE_CALLS[key]
                    found.append(f"{relative}:{node.lineno}: calls {'.'.join(key)}() ({reason})")
                if function.value.id == "asyncio" and function.attr in ASYNCIO_IO_MEMBERS:
                    found.append(f"{relative}:{node.lineno}: calls asyncio.{function.attr}() (I/O)")
    if package != CRYPTO_PACKAGE:
        for line, module in imported_modules(tree):
            for library in CRYPTO_LIBRARIES:
                if matches(module, library):
                    found.append(f"{relative}:{line}: imports {module} (only pyfront/crypto/ may)")
    if package not in IO_PACKAGES and package != CRYPTO_PACKAGE:
        for line, module in imported_modules(tree):
            top = module.split(".")[0]
            if top not in sys.stdlib_module_names and top not in {"pyfront", "__future__"}:
                found.append(f"{relative}:{line}: imports {module} (not in the standard library)")
    return sorted(set(found))


def test_pyfront_core_does_no_io_and_only_crypto_touches_crypto_libraries() -> None:
    files = list(python_files(PYFRONT))
    assert files, "pyfront has no Python files?"
    problems = [problem for path in files for problem in violations_in(path)]
    assert problems == [], "\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("", "import socket\n", "imports socket (network I/O)"),
        ("", "from os import urandom\n", "imports os (operating-system / file access)"),
        ("", "import js\n", "imports js (browser FFI)"),
        ("", "from asyncio import open_connection\n", "imports asyncio.open_connection (I/O)"),
        ("", "import asyncio\nasyncio.open_connection('h', 1)\n", "calls asyncio.open_connection() (I/O)"),
        ("", "import time\n", "imports time (the clock"),
        ("", "data = open('x').read()\n", "calls open() (file I/O)"),
        ("", "import importlib\nimportlib.import_module('os')\n", "calls importlib.import_module()"),
        ("", "from datetime import datetime\ndatetime.now()\n", "calls datetime.now()"),
        ("mls", "from cryptography.hazmat.primitives import hashes\n", "(only pyfront/crypto/ may)"),
        ("olm", "import hmac\n", "imports hmac (only pyfront/crypto/ may)"),
        ("", "from hashlib import sha256\n", "imports hashlib (only pyfront/crypto/ may)"),
        ("", "import segno\n", "not in the standard library"),
        ("crypto", "import socket\n", "imports socket (network I/O)"),
    ],
)
def test_checker_catches(
    tmp_path: Path, package: str, source: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_root = tmp_path / "pyfront"
    target = fake_root / package / "module.py" if package else fake_root / "module.py"
    target.parent.mkdir(parents=True)
    target.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PYFRONT", fake_root)
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    problems = violations_in(target)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("package", "source"),
    [
        ("browser", "import js\nfrom pyodide.ffi import create_proxy\n"),
        ("peer", "import aiortc\nimport asyncio\n"),
        ("crypto", "from cryptography.hazmat.primitives.asymmetric import x25519\nimport os\n"),
        ("crypto", "import js\nfrom pyodide.ffi import to_js\n"),
        ("", "import asyncio\nfrom urllib.parse import quote\nimport json\n"),
        ("crypto", "import hashlib\nimport hmac\n"),
    ],
)
def test_checker_allows(tmp_path: Path, package: str, source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_root = tmp_path / "pyfront"
    target = fake_root / package / "module.py" if package else fake_root / "module.py"
    target.parent.mkdir(parents=True)
    target.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PYFRONT", fake_root)
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    assert violations_in(target) == []


# --- the stack: every import points down -------------------------------------------------------------

STACK: tuple[tuple[str, ...], ...] = (
    ("browser", "peer"),
    ("network",),
    ("messaging",),
    ("session",),
    ("layers",),
    ("mls", "olm"),
    ("storage",),
    ("crypto",),
    ("",),
)
"""``pyfront``'s packages from the top of the stack to the ground (docs/architecture.md, "The stack").

A package imports only from packages on lower rows; packages on the same row are independent of each
other (MLS and Olm know nothing of one another). ``""`` is the top-level modules: ``errors`` and the
generic ``codec``."""
RANK = {package: len(STACK) - row for row, packages in enumerate(STACK) for package in packages}


def pyfront_imports(path: Path) -> Iterator[tuple[int, str]]:
    """The pyfront modules ``path`` imports: ``from a import b`` counts as ``a.b`` when ``b`` is a module
    of its own, else as ``a``."""
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name for name in submodules if module_path(name)] or [node.module]
        else:
            continue
        for name in names:
            if name.startswith("pyfront.") and module_path(name) is not None:
                yield node.lineno, name


def module_path(module: str) -> Path | None:
    relative = Path(*module.split(".")[1:])
    for candidate in (PYFRONT / relative.with_suffix(".py"), PYFRONT / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def stack_violations(path: Path) -> list[str]:
    package = package_of(path)
    found = []
    for line, module in pyfront_imports(path):
        target = module_path(module)
        assert target is not None
        other = package_of(target)
        if other == package:
            continue
        if package not in RANK or other not in RANK:
            found.append(
                f"{path.relative_to(REPO_ROOT)}:{line}: package {package or other!r} is not in STACK"
            )
        elif RANK[other] >= RANK[package]:
            where = f"{path.relative_to(REPO_ROOT)}:{line}"
            found.append(f"{where}: {package or 'pyfront'} imports {module} (not below it)")
    return found


def test_every_import_points_down_the_stack() -> None:
    problems = [problem for path in python_files(PYFRONT) for problem in stack_violations(path)]
    assert problems == [], "\n" + "\n".join(problems)


def test_no_import_cycles() -> None:
    graph: dict[Path, set[Path]] = {}
    for path in python_files(PYFRONT):
        targets = {module_path(module) for _, module in pyfront_imports(path)}
        graph[path] = {target for target in targets if target is not None and target != path}
    state: dict[Path, int] = {}  # 1 = on the current path, 2 = finished
    cycles: list[str] = []

    def visit(node: Path, trail: list[Path]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                loop = [*trail[trail.index(target) :], target] if target in trail else [node, target]
                cycles.append(" -> ".join(str(p.relative_to(PYFRONT)) for p in loop))
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == [], "\n" + "\n".join(cycles)


@pytest.mark.parametrize(
    ("package", "source"),
    [
        ("layers", "from pyfront.session.frames import Hello\n"),
        ("olm", "from pyfront.mls.group import Group\n"),
        ("", "from pyfront.crypto.provider import CryptoProvider\n"),
        ("messaging", "from pyfront.browser import ui\n"),
    ],
)
def test_stack_checker_catches_an_upward_import(
    tmp_path: Path, package: str, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_root = tmp_path / "pyfront"
    for module in ("session/frames.py", "mls/group.py", "crypto/provider.py", "browser/ui.py"):
        (fake_root / module).parent.mkdir(parents=True, exist_ok=True)
        (fake_root / module).write_text("")
    target = fake_root / package / "module.py" if package else fake_root / "module.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PYFRONT", fake_root)
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    assert any("not below it" in problem for problem in stack_violations(target))
