"""The Pyodide harness itself: Python runs in Chromium, results and errors come back, files install."""

from __future__ import annotations

import pytest

from tests.browser.pyodide_harness import PyodideError, PyodideRunner

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("pyodide")]


def test_runs_async_python_and_returns_json(pyodide_runner: PyodideRunner) -> None:
    value = pyodide_runner.run(
        "import sys, asyncio\nawait asyncio.sleep(0)\n"
        "{'version': sys.version_info[:2], 'platform': sys.platform, 'raw': b'\\x01\\xff'}"
    )
    assert value == {"version": [3, 14], "platform": "emscripten", "raw": "01ff"}


def test_pyfront_is_importable_from_the_work_tree(pyodide_runner: PyodideRunner) -> None:
    value = pyodide_runner.run("import pyfront.errors\npyfront.errors.__file__")
    assert value == "/home/pyodide/app/pyfront/errors.py"


def test_errors_carry_the_python_traceback(pyodide_runner: PyodideRunner) -> None:
    with pytest.raises(PyodideError, match=r"(?s)in boom.*ZeroDivisionError"):
        pyodide_runner.run("def boom():\n    return 1 / 0\nboom()")


def test_each_run_has_a_fresh_namespace(pyodide_runner: PyodideRunner) -> None:
    pyodide_runner.run("leftover = 1")
    with pytest.raises(PyodideError, match="NameError"):
        pyodide_runner.run("leftover")


def test_installed_files_are_visible(pyodide_runner: PyodideRunner) -> None:
    pyodide_runner.install({"harness_probe/data.txt": b"hello"})
    assert pyodide_runner.run("open('/home/pyodide/app/harness_probe/data.txt').read()") == "hello"


def test_noble_loads_from_our_origin(pyodide_runner: PyodideRunner) -> None:
    value = pyodide_runner.run(
        "import js\nmodule = await js.eval('import(\"@noble/post-quantum/ml-kem.js\")')\n"
        "len(module.ml_kem768.keygen(js.Uint8Array.new(64)).publicKey.to_py())"
    )
    assert value == 1184
    assert pyodide_runner.foreign_requests() == []
