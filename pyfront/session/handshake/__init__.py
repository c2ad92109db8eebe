"""The handshake that opens every connection: its frames and their signed parts (``frames``), its phases
and steps (``phases``), the transcript its frames are signed over (``transcript``) and the set-up of the
MLS and Olm layers (``bootstrap``).

``Hello`` (I->R), ``Reply`` (R->I), ``Finish`` (I->R), ``Confirm`` (R->I): a full handshake sets up
new inner layers, a resume proves the stored ones are still in step. ``pyfront.session.frames``
decodes every frame on the data channel. Nothing in this package does I/O.
"""
