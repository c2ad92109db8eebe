"""The network's rules, shared by the page and the headless peer: calls, links and the broker registration.

``pyfront.browser`` (the page's WebRTC and WebSocket) and ``pyfront.peer`` (aiortc, ``websockets``)
subclass these and add only the calls into their stack. Nothing here imports ``js``, aiortc or a socket:
time comes in as a clock, and every I/O step is a method the front implements.
"""
