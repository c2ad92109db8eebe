"""Parley's protocol and crypto core: runs in CPython and, unchanged, in the browser under Pyodide.

Everything here outside ``pyfront.browser`` and ``pyfront.peer`` is sans-I/O: functions take bytes,
events and ``now`` and return bytes and actions. A test enforces the import boundary.
"""
