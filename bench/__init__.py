"""Benchmarks: each prints figures side by side with an anchor measured in the same run, as ratios.

Run one with ``./dev bench NAME`` (inside the loopback-only namespace); results are written as JSON to
``bench/results/NAME.json`` (not committed) and summarised in ``docs/benchmarks.md``. Benchmarks are never
timed assertions in tests: these machines are shared and noisy.
"""
