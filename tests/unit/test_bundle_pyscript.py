"""The PyScript entry's build (server/bundle.py, ``build --pyscript``): the page made from index.html, its
config, and the default bundle without any of it. The page running in Chromium is
tests/browser/test_pyscript_boot.py."""

from __future__ import annotations

import json
import re

import pytest

from server import bundle
from server.config import Config

INDEX = b"""<!doctype html>
<html lang="en" data-py-state="loading">
<head>
<script type="module" src="/static/js/loader.js" integrity="sha384-x"></script>
</head>
<body>
<main id="app"></main>
</body>
</html>
"""


def test_the_page_extends_index_html() -> None:
    page = bundle.pyscript_page(
        INDEX, ["/static/js/pyscript_pyodide.js", "/static/vendor/pyscript/dist/core.js"]
    )
    text = page.decode()
    assert '<html lang="en" data-entry="pyscript" data-py-state="loading">' in text
    # the boot module comes right after loader.js, pinned (refresh_sri fills the value), then the preloads
    after_loader = text.split('src="/static/js/loader.js" integrity="sha384-x"></script>\n', 1)[1]
    assert after_loader.startswith('<script type="module" src="/static/js/pyscript_boot.js" integrity="">')
    assert '<link rel="modulepreload" href="/static/vendor/pyscript/dist/core.js" integrity="">' in text
    script = re.search(
        r'<script type="py" config="/static/vendor/pyscript.json">\n(.*?)</script>', text, re.S
    )
    assert script and script.group(1) == bundle.PYSCRIPT_MAIN
    mpy = re.search(r"<mpy-config hidden>(.*?)</mpy-config>", text)
    assert mpy and json.loads(mpy.group(1))["plugins"] == [f"!{n}" for n in bundle.PYSCRIPT_PLUGINS_OFF]
    assert text.index("<mpy-config") < text.index('<script type="py"') < text.index("</body>")


def test_an_index_without_the_loader_is_a_build_error() -> None:
    with pytest.raises(bundle.BundleError, match=r"loader\.js"):
        bundle.pyscript_page(INDEX.replace(b"loader.js", b"other.js"), [])


def test_the_config_names_our_interpreter_module_and_zip() -> None:
    config = json.loads(bundle.pyscript_config("/static/vendor/pyfront-0123456789abcdef.zip"))
    assert config == {
        "interpreter": "/static/js/pyscript_pyodide.js",
        "files": {"/static/vendor/pyfront-0123456789abcdef.zip": "./*"},
        "plugins": [f"!{name}" for name in bundle.PYSCRIPT_PLUGINS_OFF],
    }


def test_the_default_bundle_has_no_pyscript() -> None:
    files = bundle.load_manifest(Config()).files
    assert not any("pyscript" in path and not path.startswith("/static/js/") for path in files)
    assert not (Config().static_root / bundle.PYSCRIPT_PAGE).exists()
