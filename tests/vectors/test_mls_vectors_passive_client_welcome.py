"""RFC 9420 passive-client-welcome test vectors (``passive-client-welcome.json``), suite 1 cases only.

See ``mls_passive.py`` for what each case checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.vectors.mls_passive import load_cases, run

CASES, TOTAL = load_cases("passive-client-welcome.json")


@pytest.mark.parametrize("case", CASES, ids=[f"suite1-case{index}" for index in range(len(CASES))])
def test_passive_client_welcome_vector(case: dict[str, Any]) -> None:
    epochs = run(case)
    print(f"passive-client-welcome.json: followed {epochs} epochs")


def test_selection() -> None:
    """Only the suite 1 cases of the file are selected."""
    assert len(CASES) == 8
