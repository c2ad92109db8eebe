"""What the messenger tells whoever moves a file's bytes (the page's ``pyfront.browser.files``, or a
headless peer). This module does no I/O."""

from __future__ import annotations

from typing import Protocol

from pyfront.messaging.chat import ChatMessage
from pyfront.session.content import FileAccept, FileAck, FileCancel, FileComplete, FileHash

FileControl = FileAccept | FileAck | FileComplete | FileCancel | FileHash
"""The transfer's own messages, inside the cascade."""


class FileEvents(Protocol):
    """Called by ``Messenger`` (synchronously, holding the contact's lock: schedule, do not await it)."""

    def offered(self, peer_id: str, message: ChatMessage) -> None:
        """A file message arrived and is stored (``message.attachment`` is its offer)."""

    def control(self, peer_id: str, message: FileControl) -> None:
        """A transfer message arrived from ``peer_id``."""

    def chunk(self, peer_id: str, data: bytes) -> None:
        """A ``FileChunk`` frame arrived on ``peer_id``'s current link (in order)."""
