"""Files in a chat: the composer's ways in (pick, drag and drop, paste) and each file's bubble content.

A file's bubble shows an image or a GIF inline, a video with the browser's own controls, any other file
with its name and size; every file has a **Download** button once it is here. A large image's thumbnail
(made by the sender's page, carried in the offer) shows until the full file is here. While a transfer
runs both sides see a progress bar with the percentage, speed and time left, and a **Cancel** button; a
failed or cancelled transfer says why (a damaged chunk: "damaged in transit: refused, nothing was saved").

``Attachments`` keeps one node per file and updates it in place (``refresh``), so a progress step never
rebuilds a playing video. Text is set with ``textContent``; previews load from ``blob:`` object URLs
(``pyfront.browser.files``) or, for a thumbnail, a ``data:`` URL of the offer's bytes.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import js

from pyfront.browser.ui import Handlers, append, element
from pyfront.errors import ProtocolError
from pyfront.messaging.chat import ChatMessage, Direction
from pyfront.messaging.transfer.offer import INLINE_IMAGE_TYPES, preview_kind
from pyfront.messaging.transfer.state import Phase, Role, Transfer

#: The status of a finished file whose chunks are not stored here (a chat restored from a backup without
#: its files, ``PageTransfers.missing``).
NOT_HERE = "This file is not on this device."

if TYPE_CHECKING:
    from pyfront.browser.files import PageTransfers

OnFiles = Callable[[list[Any]], Awaitable[None]]


def size_text(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def eta_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s left"
    return f"{seconds / 60:.0f} min left"


class Attachments:
    """The file parts of one open chat."""

    def __init__(
        self, transfers: PageTransfers, handlers: Handlers, peer_id: str, on_error: Callable[[str], None]
    ) -> None:
        self._transfers = transfers
        self._handlers = handlers
        self._peer_id = peer_id
        self._on_error = on_error
        self._nodes: dict[str, dict[str, Any]] = {}

    # --- the composer -------------------------------------------------------------------------------

    def install(self, panel: Any, composer: Any, text_input: Any) -> None:
        """A file button before the text input; drop files anywhere on the chat; paste files into it."""
        picker = element("input", id="compose-file", type="file", classes="visually-hidden", multiple="")
        picker.setAttribute("aria-label", "Attach files")
        label = element("label", "Attach", classes="button secondary attach", title="Attach a file")
        label.htmlFor = "compose-file"
        composer.insertBefore(picker, text_input)
        composer.insertBefore(label, text_input)

        async def picked(_event: Any) -> None:
            files = [picker.files.item(index) for index in range(int(picker.files.length))]
            picker.value = ""
            await self.send(files)

        def dragged(event: Any) -> None:
            event.preventDefault()
            panel.classList.add("dropping")

        def left(_event: Any) -> None:
            panel.classList.remove("dropping")

        async def dropped(event: Any) -> None:
            panel.classList.remove("dropping")
            files = event.dataTransfer.files if event.dataTransfer else None
            if files:
                await self.send([files.item(index) for index in range(int(files.length))])

        def pasted(event: Any) -> None:
            files = event.clipboardData.files if event.clipboardData else None
            if files and int(files.length):
                event.preventDefault()  # a pasted file is sent; pasted text stays text
                pasted = [files.item(index) for index in range(int(files.length))]
                self._transfers.tasks.spawn(self.send(pasted))

        self._handlers.on_async(picker, "change", picked)
        self._handlers.on(panel, "dragover", dragged)
        self._handlers.on(panel, "dragleave", left)
        self._handlers.on_async(panel, "drop", dropped)
        self._handlers.on(text_input, "paste", pasted)

    async def send(self, files: list[Any]) -> None:
        for file in files:
            try:
                await self._transfers.pick(self._peer_id, file)
            except ProtocolError as error:
                self._on_error(f"{file.name} was not sent: {error}")

    # --- a file's bubble ----------------------------------------------------------------------------

    def node(self, message: ChatMessage) -> Any:
        """The figure for ``message`` (made once, then moved into each re-rendered bubble)."""
        parts = self._nodes.get(message.message_id)
        if parts is None:
            parts = self._make(message)
            self._nodes[message.message_id] = parts
        self.refresh(message.message_id)
        return parts["figure"]

    def _make(self, message: ChatMessage) -> dict[str, Any]:
        attachment = message.attachment or {}
        mime = str(attachment.get("mime", ""))
        kind = preview_kind(mime)
        file_id = message.message_id
        figure = element("figure", classes=f"attachment {kind}", data_file_id=file_id, data_kind=kind)
        if kind == "image":
            preview = element("img", classes="attachment-preview", alt=message.text)
        elif kind == "video":
            preview = element("video", classes="attachment-preview")
            preview.controls = True
            preview.preload = "metadata"
            preview.setAttribute("aria-label", message.text)
        else:
            preview = element("p", classes="attachment-file")
            append(
                preview,
                element("span", "📄 ", aria_hidden="true"),
                element("span", message.text, classes="name"),
            )
        caption = element(
            "figcaption",
            f"{message.text} · {size_text(int(attachment.get('size', 0)))}",
            classes="small muted",
        )
        download = element("button", "Download", type="button", classes="secondary small attachment-download")
        bar = element("progress", classes="attachment-bar", max="100", value="0")
        status = element("span", classes="attachment-status small", role="status")
        cancel = element("button", "Cancel", type="button", classes="link small attachment-cancel")
        progress = element("div", classes="attachment-progress")
        append(progress, bar, status, cancel)
        append(figure, preview, caption, progress, download)
        thumb = str(attachment.get("thumb", ""))
        thumb_mime = str(attachment.get("thumb_mime", ""))
        if thumb and thumb_mime in INLINE_IMAGE_TYPES and kind == "image":
            base64.b64decode(thumb, validate=True)  # a stored attachment: only its own bytes become a URL
            preview.src = f"data:{thumb_mime};base64,{thumb}"
            figure.classList.add("thumbnail")

        async def cancel_clicked(_event: Any) -> None:
            await self._transfers.cancel(bytes.fromhex(file_id))

        async def download_clicked(_event: Any) -> None:
            try:
                url = await self._transfers.download(bytes.fromhex(file_id))
            except ProtocolError as error:
                self._on_error(str(error))
                return
            link = element("a", href=url, download=message.text)
            js.document.body.append(link)
            link.click()
            link.remove()

        self._handlers.on_async(cancel, "click", cancel_clicked)
        self._handlers.on_async(download, "click", download_clicked)
        return {
            "figure": figure,
            "preview": preview,
            "bar": bar,
            "status": status,
            "cancel": cancel,
            "download": download,
            "kind": kind,
            "outgoing": message.direction is Direction.OUTGOING,
        }

    def refresh(self, message_id: str) -> None:
        """Show the transfer's state: progress, speed, time left, the preview once it is here."""
        parts = self._nodes.get(message_id)
        if parts is None:
            return
        file_id = bytes.fromhex(message_id)
        transfer = self._transfers.transfers.get(file_id)
        figure, bar, status = parts["figure"], parts["bar"], parts["status"]
        url = self._transfers.urls.get(file_id, "")
        phase = transfer.phase if transfer is not None else None
        if phase is Phase.COMPLETE and not url:
            self._transfers.want_preview(file_id)
        if url and parts["kind"] != "download" and str(parts["preview"].getAttribute("src") or "") != url:
            parts["preview"].src = url
            figure.classList.remove("thumbnail")
        figure.dataset.phase = phase.value if phase is not None else "unknown"
        percent = 100 if phase is Phase.COMPLETE else self._percent(transfer)
        bar.value = str(percent)
        bar.setAttribute("aria-label", f"{percent}%")
        parts["cancel"].hidden = transfer is None or not transfer.open
        parts["download"].hidden = not self._available(transfer) or file_id in self._transfers.missing
        status.textContent = self._status(transfer, percent)
        status.setAttribute("role", "alert" if phase is Phase.FAILED else "status")
        parts["figure"].querySelector(".attachment-progress").hidden = phase is Phase.COMPLETE and bool(url)

    def _count(self, transfer: Transfer) -> int:
        """Chunks done as this side sees them: stored (receiver), or sent so far (sender, between the
        receiver's acknowledgements)."""
        if transfer.role is Role.SENDER and transfer.phase is Phase.ACTIVE:
            return max(transfer.done, self._transfers.sent.get(transfer.file_id, 0))
        return transfer.done

    def _percent(self, transfer: Transfer | None) -> int:
        if transfer is None:
            return 0
        return min(99, int(100 * self._count(transfer) / transfer.chunks))  # 100 once confirmed

    @staticmethod
    def _available(transfer: Transfer | None) -> bool:
        if transfer is None:
            return False
        return transfer.role is Role.SENDER or transfer.phase is Phase.COMPLETE

    def _status(self, transfer: Transfer | None, percent: int) -> str:
        if transfer is None:
            return "Preparing…"
        sending = transfer.role is Role.SENDER
        if transfer.file_id in self._transfers.missing:
            return NOT_HERE
        if transfer.phase is Phase.COMPLETE:
            return "Sent · 100%" if sending else "Received · 100%"
        if transfer.phase is Phase.FAILED:
            return f"Failed: {transfer.error}"
        if transfer.phase is Phase.CANCELLED:
            return f"Not transferred: {transfer.error}"
        if transfer.phase is Phase.OFFERED:
            return "Waiting for the contact…"
        if transfer.phase is Phase.PAUSED:
            return f"Paused at {percent}%: resumes when connected"
        words = f"{'Sending' if sending else 'Receiving'} {percent}%"
        started = self._transfers.started.get(transfer.file_id)
        stream_size = transfer.chunks
        count = self._count(transfer)
        if started is not None and count > started[1]:
            elapsed = max(time.time() - started[0], 1e-3)
            chunk_bytes = self._chunk_bytes(transfer)
            rate = (count - started[1]) * chunk_bytes / elapsed
            left = (stream_size - count) * chunk_bytes / max(rate, 1.0)
            words += f" · {size_text(rate)}/s · {eta_text(left)}"
        return words

    def _chunk_bytes(self, transfer: Transfer) -> int:
        stream = self._transfers._streams.get(transfer.file_id)
        return stream.chunk_size if stream is not None else 65536
