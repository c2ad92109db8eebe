"""Bytecode for the page: Pyodide's ``python_stdlib.zip`` with the modules the app imports turned into
``.pyc`` files, and our own zip with a ``__pycache__`` beside its sources (docs/architecture.md, "Build").

The npm ``pyodide`` package ships the standard library as source, so every start compiled each module it
imported (about 0.8 s of a 2.4 s ``loadPyodide`` on our test machine); a zip whose modules are bytecode
starts Pyodide in about half the time. Only the modules Pyodide imports at start-up and the ones our code
imports (with what they import) become bytecode; the rest stays source, compiled if ever imported, so the
download grows little. Our own modules keep their sources (tracebacks show the lines) and gain bytecode,
which the import system uses instead of compiling (about 0.1 s before the first screen, 0.2 s after).

Bytecode must come from the interpreter that runs it (Pyodide's CPython 3.14, not the build's), so
``server/pycompile.mjs`` runs this module **inside Pyodide under Node**: ``used_stdlib`` finds the modules,
``compile_stdlib`` and ``add_bytecode`` write the zips. ``imported_names`` runs in the build's CPython.
The output is deterministic: hash randomisation off (``PYTHONHASHSEED=0`` for set constants), sorted
entries, fixed timestamps and modes, stored entries, and unchecked hash-based ``.pyc`` headers (PEP 552;
no timestamps), so every clean build gives the same bytes and the bundle's root hash stays reproducible.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

# ast, io, marshal and zipfile are imported inside the functions that need them: ``used_stdlib`` must
# see only what the app imports, not this module's own tools.

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o644 << 16
PYC_UNCHECKED_HASH = (0b01).to_bytes(4, "little")  # PEP 552: hash-based, source never checked


def imported_names(sources: Iterable[bytes]) -> set[str]:
    """Every absolute module name the sources import, anywhere (``import a.b``, ``from a import b``
    gives ``a``, ``a.b``; names that are not modules are harmless extras)."""
    import ast  # noqa: PLC0415 (see the module's imports)

    names: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def used_stdlib(names: Iterable[str], stdlib_path: str) -> set[str]:
    """Entries of the standard library zip at ``stdlib_path`` that are imported after importing
    ``names`` (run in a fresh Pyodide: what Pyodide loaded at start-up counts too)."""
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - not a module, or not for this runtime: only imports matter here
            continue
    prefix = stdlib_path.rstrip("/") + "/"
    used = set()
    for module in list(sys.modules.values()):
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None) or ""
        if origin.startswith(prefix) and origin.endswith(".py"):
            used.add(origin.removeprefix(prefix))
    return used


def bytecode(source: bytes, filename: str) -> bytes:
    """An unchecked hash-based ``.pyc`` of ``source`` for this interpreter."""
    import marshal  # noqa: PLC0415 (see the module's imports)

    code = compile(source, filename, "exec", dont_inherit=True)
    header = importlib.util.MAGIC_NUMBER + PYC_UNCHECKED_HASH + importlib.util.source_hash(source)
    return header + marshal.dumps(code)


def compile_stdlib(stdlib_zip: bytes, used: set[str], stdlib_path: str) -> bytes:
    """``stdlib_zip`` with each entry in ``used`` (``json/__init__.py``) replaced by its ``.pyc``."""
    import io  # noqa: PLC0415 (see the module's imports)
    import zipfile  # noqa: PLC0415

    source = zipfile.ZipFile(io.BytesIO(stdlib_zip))
    entries: dict[str, bytes] = {}
    for info in source.infolist():
        if info.is_dir():
            continue
        data = source.read(info)
        if info.filename in used:
            filename = f"{stdlib_path.rstrip('/')}/{info.filename}"  # what tracebacks name, as before
            entries[info.filename[: -len(".py")] + ".pyc"] = bytecode(data, filename)
        else:
            entries[info.filename] = data
    return deterministic_zip(entries)


def add_bytecode(archive: bytes) -> bytes:
    """``archive`` (a zip unpacked into a folder on ``sys.path``) plus, for each ``.py`` file, its
    ``__pycache__`` bytecode for this interpreter (``pyfront/x.py`` gains
    ``pyfront/__pycache__/x.cpython-314.pyc``)."""
    import io  # noqa: PLC0415 (see the module's imports)
    import zipfile  # noqa: PLC0415

    source = zipfile.ZipFile(io.BytesIO(archive))
    entries = {info.filename: source.read(info) for info in source.infolist() if not info.is_dir()}
    for name, data in list(entries.items()):
        if name.endswith(".py"):
            entries[importlib.util.cache_from_source(name)] = bytecode(data, name)
    return deterministic_zip(entries)


def deterministic_zip(entries: dict[str, bytes]) -> bytes:
    """A zip whose bytes depend only on ``entries``: sorted names, the fixed timestamp 1980-01-01, fixed
    modes, Unix as the creator, and stored entries (deflate's output depends on the zlib that ran it;
    the server compresses in transit instead)."""
    import io  # noqa: PLC0415 (see the module's imports)
    import zipfile  # noqa: PLC0415

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = ZIP_FILE_MODE
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # Unix, whatever machine builds it
            archive.writestr(info, entries[name])
    return buffer.getvalue()
