"""Fixtures for the Chromium tests: the Pyodide harness (``pyodide_runner``, see ``pyodide_harness``)."""

from tests.browser.pyodide_harness import pyodide_runner

__all__ = ["pyodide_runner"]
