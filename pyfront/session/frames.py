"""Frames on the data channel (DESIGN.md section 5; docs/protocol.md, "Frames on the data channel").

Every frame is the envelope ``version(1) || frame_type(1)`` (``pyfront.session.envelope``) and a body.
The handshake's frames (``pyfront.session.handshake.frames``) carry public keys and signatures (and
``Refusal``, unsigned, one reason byte); a ``Data`` frame carries only the outer layer's ciphertext.
Nothing about the plaintext (size, time, layer statistics) is visible: sizes are padded to buckets
inside the cascade and the outer counter is masked.
The decoder is strict: a wrong version or type, a truncated field, a length over its named limit or
trailing bytes all raise ``DecodeError``. This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyfront.codec import Reader, fixed
from pyfront.errors import DecodeError, LimitError
from pyfront.session.envelope import MAX_FRAME_SIZE, WIRE_VERSION, FrameType, frame_header
from pyfront.session.handshake.frames import SIGNATURE_LENGTH, Confirm, Finish, Hello, Refusal, Reply


@dataclass(frozen=True)
class Data:
    """A cascade ciphertext (the outer layer's output)."""

    ciphertext: bytes

    @classmethod
    def parse(cls, reader: Reader) -> Data:
        return cls(reader.rest())


Frame = Hello | Reply | Finish | Confirm | Data | Refusal

_FRAME_CLASSES: dict[FrameType, Any] = {
    FrameType.HELLO: Hello,
    FrameType.REPLY: Reply,
    FrameType.FINISH: Finish,
    FrameType.CONFIRM: Confirm,
    FrameType.DATA: Data,
    FrameType.REFUSAL: Refusal,
}


def encode_frame(frame: Frame) -> bytes:
    if isinstance(frame, Data):
        out = frame_header(FrameType.DATA) + frame.ciphertext
    elif isinstance(frame, Refusal):
        out = frame.encode()
    else:
        out = frame.signed_part() + fixed(frame.signature, SIGNATURE_LENGTH, "signature")
    if len(out) > MAX_FRAME_SIZE:
        raise LimitError(f"frame of {len(out)} bytes exceeds {MAX_FRAME_SIZE}")
    return out


def decode_frame(data: bytes) -> Frame:
    """Parse one frame; ``DecodeError`` for anything malformed."""
    if len(data) > MAX_FRAME_SIZE:
        raise DecodeError(f"frame of {len(data)} bytes exceeds {MAX_FRAME_SIZE}")
    reader = Reader(data)
    version = reader.u8()
    if version != WIRE_VERSION:
        raise DecodeError(f"unknown wire version {version}")
    type_byte = reader.u8()
    try:
        frame_type = FrameType(type_byte)
    except ValueError:
        raise DecodeError(f"unknown frame type {type_byte}") from None
    if frame_type not in _FRAME_CLASSES:  # a file chunk: read by pyfront.messaging.transfer, never here
        raise DecodeError(f"frame type {type_byte} is not a session frame")
    frame: Frame = _FRAME_CLASSES[frame_type].parse(reader)
    reader.finish()
    return frame
