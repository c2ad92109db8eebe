"""The Docker image builds the same bundle as a checkout (README, "Docker"), from exactly what it copies.

No Docker engine runs here, so the image's build step is replayed: a directory holding only what the
Dockerfile's app stage COPYs (after .dockerignore) and only the production npm packages (its node stage
runs ``npm ci --omit=dev``) runs the image's ``python app.py build``; its root hash must equal a clean
build of the checkout, which is what ``python app.py verify`` against a container compares.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server import bundle
from tests.rig.server import REPO_ROOT
from tests.unit.test_bundle import clean_site

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _app_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage (the image that runs)."""
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over slash-separated relative paths (``**/`` = any depth)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "(?:/.*)?")  # a matched directory excludes everything below it


def _ignored() -> list[re.Pattern[str]]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [_ignore_regex(line) for line in lines if line and not line.startswith("#")]


def _copy_context(source: Path, relative: str, destination: Path, ignored: list[re.Pattern[str]]) -> None:
    """COPY ``relative`` from the build context (``source``) into ``destination``, as Docker would."""
    origin = source / relative
    paths = [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
    for path in paths:
        name = path.relative_to(source).as_posix()
        if any(pattern.fullmatch(name) for pattern in ignored):
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _production_packages() -> list[str]:
    """Top-level node_modules entries that ``npm ci --omit=dev`` installs."""
    listing = subprocess.run(
        ["npm", "ls", "--omit=dev", "--all", "--parseable"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    top = set()
    for line in listing.splitlines():
        parts = Path(line).relative_to(REPO_ROOT).parts
        if len(parts) >= 2 and parts[0] == "node_modules":
            top.add("/".join(parts[1:3] if parts[1].startswith("@") else parts[1:2]))
    return sorted(top)


def test_image_build_gives_the_checkout_root_hash(tmp_path: Path) -> None:
    stage = _app_stage()
    copies = [
        shlex.split(arguments)
        for keyword, arguments in stage
        if keyword == "COPY" and not arguments.startswith("--from")
    ]
    assert copies, "the app stage copies the sources"
    # Sources come from a frozen copy of the checkout, so edits made meanwhile cannot make the two differ.
    checkout = clean_site(tmp_path / "checkout").repo_root
    for name in ("app.py", "server", "requirements.txt", ".dockerignore"):
        origin = REPO_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, checkout / name)
    image = tmp_path / "image"
    ignored = _ignored()
    for *sources, _destination in copies:
        for relative in sources:
            _copy_context(checkout, relative, image, ignored)
    (image / "node_modules").mkdir()
    packages = _production_packages()
    assert "peer" not in packages, "the test-only broker is not in the image"
    assert "peerjs" not in packages, "the test-only PeerJS client is not in the image"
    for package in packages:
        link = image / "node_modules" / package
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO_ROOT / "node_modules" / package)

    runs = [arguments for keyword, arguments in stage if keyword == "RUN"]
    assert any(arguments.startswith("python app.py build") for arguments in runs)
    # The build runs Node (the standard library's bytecode): the image brings it from the node stage.
    node = "--from=node /usr/local/bin/node /usr/local/bin/node"
    assert any(keyword == "COPY" and arguments == node for keyword, arguments in stage)
    built = subprocess.run(
        [sys.executable, "app.py", "hash"],
        check=False,
        cwd=image,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    image_root = built.stdout.split()[-1]

    reference = bundle.build(clean_site(tmp_path / "reference", checkout), log=False)
    assert image_root == reference.root
    served = json.loads((image / "static" / "bundle.json").read_text())
    assert served["root"] == reference.root


def test_image_runs_as_a_user_with_a_health_check_and_a_data_volume() -> None:
    stage = dict(_app_stage())  # the last instruction of each kind
    assert stage["USER"] not in {"root", "0"}
    assert "/healthz" in stage["HEALTHCHECK"]
    command = json.loads(stage["CMD"])
    assert command[:3] == ["python", "app.py", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--data-dir") + 1] == json.loads(stage["VOLUME"])[0]


@pytest.mark.parametrize(
    ("pattern", "path", "ignored"),
    [
        ("static/vendor", "static/vendor/pyodide/pyodide.mjs", True),
        ("static/**/*.br", "static/vendor/x.js.br", True),
        ("static/**/*.br", "static/x.br", True),
        ("**/__pycache__", "server/__pycache__/a.pyc", True),
        ("**/__pycache__", "__pycache__/a.pyc", True),
        ("static/vendor", "static/vendors.txt", False),
        ("data", "pyfront/data.py", False),
    ],
)
def test_dockerignore_patterns_match_as_docker_does(pattern: str, path: str, ignored: bool) -> None:
    assert bool(_ignore_regex(pattern).fullmatch(path)) is ignored
