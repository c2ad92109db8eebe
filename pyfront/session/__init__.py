"""One contact's secure session: identity, the handshake and its transcript, the bootstrap of the layers,
the frames on the data channel and the application messages they carry.

Above ``pyfront.layers`` (the cascade it drives) and below ``pyfront.messaging`` (which keeps one session
per contact). Nothing in this package does I/O.
"""
