"""Writing a benchmark's figures to ``bench/results/<name>.json`` (keys named after the metrics)."""

from __future__ import annotations

import json
import platform
import statistics
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """Write ``figures`` plus a little context about the machine; returns the file written."""
    RESULTS_DIR.mkdir(exist_ok=True)
    document = {
        "benchmark": name,
        "machine": {"python": platform.python_version(), "cpu": platform.machine()},
    }
    document.update(figures)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return path


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]
