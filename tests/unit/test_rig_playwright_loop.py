"""tests/rig/playwright_loop.py: a test that follows a Playwright test in one process sees no running loop.

Playwright's sync API keeps its event loop marked as the main thread's running loop between two calls,
for as long as ``playwright_session`` lives (the whole session). Before the rig cleared that mark for the
other tests, every test after the first browser test of a process failed in ``asyncio.run`` ("cannot be
called from a running event loop"): ``./dev pytest tests/`` reported false failures.
``tests/fixtures/playwright_then_asyncio.py`` is that sequence (and Playwright again after it), run here
in a pytest process of its own (needs the loopback namespace of ``./dev pytest``, as every Playwright
test does).
"""

from __future__ import annotations

import subprocess
import sys

from tests.rig.server import REPO_ROOT

SEQUENCE = REPO_ROOT / "tests" / "fixtures" / "playwright_then_asyncio.py"


def test_asyncio_tests_that_follow_a_playwright_test_in_one_process_pass() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q", str(SEQUENCE)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout, run.stdout
