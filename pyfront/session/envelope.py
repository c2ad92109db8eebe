"""The envelope of every frame on the data channel: ``version(1) || frame_type(1)`` (docs/protocol.md,
"Frames on the data channel"). Both the handshake's frames and the session's ``Data`` frame start with
it. This module does no I/O.
"""

from __future__ import annotations

from enum import IntEnum

WIRE_VERSION = 1
MAX_FRAME_SIZE = 262144
"""The WebRTC data channel's maximum message size (DESIGN.md section 3)."""


class FrameType(IntEnum):
    HELLO = 1
    REPLY = 2
    FINISH = 3
    CONFIRM = 4
    DATA = 5
    REFUSAL = 6
    FILE_CHUNK = 7
    """One encrypted chunk of a file, outside the cascade (``pyfront.messaging.transfer.frames``)."""


def frame_header(frame_type: FrameType) -> bytes:
    return bytes([WIRE_VERSION, frame_type])
