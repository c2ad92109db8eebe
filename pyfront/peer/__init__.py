"""The headless Parley peer: the same core as the page, in CPython, over aiortc (docs/peer.md).

``python app.py peer ...`` (``cli``) keeps an encrypted identity file (``store``: the page's vault format in
one SQLite file), registers at a broker (``broker``: PeerJS over ``websockets``), makes and answers
WebRTC data channels with aiortc (``rtc``, ``connector``), and runs ``pyfront.messaging.messenger.Messenger``
over them (``device``) with the page's courier for the server's mailbox (``mailbox``) and the core's
file transfers (``files``), printing what happens as lines (``console``). This package is the I/O adapter;
every protocol decision stays in the sans-I/O packages below it.
"""
