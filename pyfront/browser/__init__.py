"""Browser glue: the only package that imports ``js``, ``pyodide`` or ``pyscript``.

It carries out the actions of the sans-I/O core in the page (DOM, WebRTC, IndexedDB, the broker's
WebSocket). ``main.start`` is the entry point static/js/loader.js calls once Pyodide is up.
"""
