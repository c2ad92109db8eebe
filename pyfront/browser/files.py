"""File transfers in the page: ``Transfers`` with the bulk bytes moved by ``static/js/files.js``.

The core (``pyfront.messaging.transfer``) decides the key, the nonce prefix, the AAD, the frame layout,
which chunk comes next, acknowledgements, resume and cancel. This module hands the bulk module what it
needs for one file (``_params``: the key as a non-extractable ``CryptoKey`` from
``WebCryptoProvider.file_key``, the nonce prefix, the AAD, the sizes) and turns what it reports into the
core's accounting:

* sending: ``pick`` makes a thumbnail of a large image, hands the picked ``File`` to the bulk module
  (``seal``) and sends the offer at once, its digest to follow (``DIGEST_FOLLOWS``); each ``FileAccept``
  starts ``send`` from the asked chunk (read, digested and encrypted from the ``File``); once every segment
  was read, ``digested`` sends the digest in a ``FileHash``; the module stores the sender's encrypted copy
  when no send runs (``keep``, asked when the transfer ends or pauses), then ``sealed`` records it;
* receiving: ``expect`` registers the file before our ``FileAccept`` leaves; the module checks order and
  authenticity of each chunk, stores verified ciphertexts 16 at a time and reports ``stored`` counts (and
  the file's digest at the end) or ``failed``; ``Transfer`` decides acknowledgements and completion;
* previews: a finished image or video is decrypted chunk by chunk into a ``Blob`` and shown through an
  object URL (CSP ``img-src``/``media-src`` allow ``blob:``).

Browser glue (imports ``js``); tested in Chromium by tests/browser/test_app_files.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import JsException, create_proxy

from pyfront.browser import rtc
from pyfront.browser.js_values import js_object, uint8
from pyfront.crypto.webcrypto import WebCryptoProvider, import_js_module
from pyfront.errors import InvalidStateError
from pyfront.messaging.chat import Kind
from pyfront.messaging.contact import Store
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.transfer import engine
from pyfront.messaging.transfer.offer import (
    THUMBNAIL_EDGE,
    THUMBNAIL_FROM_BYTES,
    clean_mime,
    preview_kind,
)
from pyfront.messaging.transfer.state import CancelReason, Phase, Role, Transfer
from pyfront.messaging.transfer.stream import DIGEST_SEGMENT_CHUNKS
from pyfront.session.content import DIGEST_FOLLOWS, MAX_THUMBNAIL
from pyfront.tasks import TaskSet

NOT_HERE = "this file is not on this device"
"""A finished file whose chunks are not stored here (its chat came from a backup without it)."""
FILES_MODULE_URL = "/static/js/files.js"
FILES_MODULE_VERSION = 1
#: JPEG quality of a thumbnail made in the page.
THUMBNAIL_QUALITY = 0.7


class PageChunks:
    """``ChunkStore`` for the page: the bulk module owns the chunks (ciphertexts in IndexedDB)."""

    def __init__(self, module: Any) -> None:
        self._module = module

    async def write(self, file_id: bytes, index: int, data: bytes) -> None:
        raise InvalidStateError("the page stores chunks in static/js/files.js")

    async def read(self, file_id: bytes, index: int) -> bytes:
        raise InvalidStateError("the page reads chunks in static/js/files.js")

    async def delete(self, file_id: bytes) -> None:
        await self._module.deleteFile(file_id.hex())


async def load_files_module() -> Any:
    module = await import_js_module(FILES_MODULE_URL)
    if getattr(module, "VERSION", None) != FILES_MODULE_VERSION:
        raise InvalidStateError(f"{FILES_MODULE_URL}: version {FILES_MODULE_VERSION} expected")
    return module


class PageTransfers(engine.Transfers):
    """The page's transfers. Build with ``create``."""

    def __init__(
        self,
        provider: WebCryptoProvider,
        messenger: Messenger,
        store: Store,
        module: Any,
        on_change: Callable[[Transfer], None],
    ) -> None:
        super().__init__(
            provider,
            messenger,
            store,
            PageChunks(module),
            self._no_frames,
            max_file_bytes=lambda: messenger.settings.max_file_bytes,
            on_change=lambda transfer: self._changed(transfer, on_change),
        )
        self._web = provider
        self._messenger = messenger
        self._module = module
        self._keys: dict[bytes, Any] = {}
        self._proxies: dict[bytes, Any] = {}
        self.tasks = TaskSet("file transfers")
        self._ready: set[str] = set()
        #: Object URLs of previews and files, by file id.
        self.urls: dict[bytes, str] = {}
        #: Finished files found not stored here (``NOT_HERE``).
        self.missing: set[bytes] = set()
        #: When this link's transfer of a file started, and its count then (speed and time left).
        self.started: dict[bytes, tuple[float, int]] = {}
        #: Sender: chunks sent on this link so far (progress between acknowledgements), by file id.
        self.sent: dict[bytes, int] = {}
        rtc.CHANNEL_HOOKS.append(module.attach)

    @classmethod
    async def create(
        cls,
        provider: WebCryptoProvider,
        messenger: Messenger,
        store: Store,
        on_change: Callable[[Transfer], None],
    ) -> PageTransfers:
        transfers = cls(provider, messenger, store, await load_files_module(), on_change)
        messages = {
            bytes.fromhex(message.message_id): message
            for contact in messenger.contacts.values()
            for message in contact.conversation.messages.values()
            if message.kind is Kind.FILE
        }
        await transfers.load(messages)
        messenger.files = transfers
        transfers.tasks.spawn(transfers.run())
        return transfers

    @staticmethod
    async def _no_frames(_peer_id: str, _frame: bytes) -> None:
        raise InvalidStateError("the page sends chunk frames from static/js/files.js")

    async def _params(self, file_id: bytes) -> Any:
        stream = self._streams[file_id]
        key = self._keys.get(file_id)
        if key is None:
            key = self._keys[file_id] = await self._web.file_key(stream.key)
        fields = {
            "fileId": file_id.hex(),
            "key": key,
            "prefix": uint8(stream.nonce_prefix),
            "aad": uint8(stream.aad),
            "size": stream.size,
            "chunkSize": stream.chunk_size,
            "chunks": stream.chunks,
            "segmentChunks": DIGEST_SEGMENT_CHUNKS,
        }
        return js_object(fields)

    # --- sending ------------------------------------------------------------------------------------

    async def pick(self, peer_id: str, file: Any) -> None:
        """A file the person picked, dropped or pasted: thumbnail it, start sealing it, offer it."""
        name, mime, size = str(file.name), clean_mime(str(file.type)), int(file.size)
        thumbnail = ("", b"")
        if preview_kind(mime) == "image" and size >= THUMBNAIL_FROM_BYTES:
            made = await self._module.thumbnail(file, THUMBNAIL_EDGE, THUMBNAIL_QUALITY)
            if made and int(made.length) <= MAX_THUMBNAIL:
                thumbnail = ("image/jpeg", bytes(made.to_bytes()))
        offer, stream = self.new_offer(
            name, mime, size, digest=DIGEST_FOLLOWS, now=time.time(), thumbnail=thumbnail
        )
        self._streams[offer.file_id] = stream
        sealing = self._module.seal(file, await self._params(offer.file_id))
        if preview_kind(mime) != "download":
            self.urls[offer.file_id] = str(self._module.objectUrl(file))
        self.tasks.spawn(self._sealing(peer_id, offer.file_id, sealing))
        await self.send(peer_id, offer)

    async def _sealing(self, peer_id: str, file_id: bytes, sealing: Any) -> None:
        """The bulk module's outcomes, handled by the worker in turn: the file's digest (every segment
        read), then its copy stored; or a file that could not be read or stored (its transfer is
        cancelled)."""
        try:
            digest = await sealing.digested
            self._queue.put_nowait(engine._Event("js", peer_id, (file_id, "digested", None, digest)))
            await sealing.kept
        except JsException as error:
            self._queue.put_nowait(engine._Event("js", peer_id, (file_id, "unsealed", str(error), None)))
            return
        self._queue.put_nowait(engine._Event("js", peer_id, (file_id, "sealed", None, digest)))

    def _changed(self, transfer: Transfer, on_change: Callable[[Transfer], None]) -> None:
        """A sender's transfer that ended or paused: its copy can be stored now (no send competes)."""
        if transfer.role is Role.SENDER and transfer.phase is not Phase.ACTIVE:
            self._module.keep(transfer.file_id.hex())
        on_change(transfer)

    async def _send_chunks(self, transfer: Transfer, stream: Any, start: int) -> None:
        self.started[transfer.file_id] = (time.time(), start)
        self.tasks.spawn(self._pump(transfer, start))

    async def _pump(self, transfer: Transfer, start: int) -> None:
        contact = self._messenger.contacts.get(transfer.peer_id)
        channel = getattr(contact.link, "channel", None) if contact is not None else None
        if channel is None:
            return  # no link now: the receiver asks again when the session is ready
        file_id = transfer.file_id

        def sent(count: int) -> None:
            self.sent[file_id] = int(count)
            self._on_change(transfer)

        progress = create_proxy(sent)
        try:
            await self._module.send(channel, await self._params(file_id), start, progress)
        except JsException as error:
            self.problems.append(f"sending {file_id.hex()}: {error}")
        finally:
            progress.destroy()

    # --- receiving ----------------------------------------------------------------------------------

    async def _accept(self, transfer: Transfer) -> None:
        file_id = transfer.file_id
        if file_id not in self._proxies:

            def event(kind: str, value: Any, digest: Any = None) -> None:
                self._queue.put_nowait(
                    engine._Event("js", transfer.peer_id, (file_id, str(kind), value, digest))
                )

            self._proxies[file_id] = create_proxy(event)
        self.preparing.add(file_id)  # re-reading what is stored is not a stall
        try:
            await self._module.expect(await self._params(file_id), transfer.done, self._proxies[file_id])
        finally:
            self.preparing.discard(file_id)
        self.started[file_id] = (time.time(), transfer.done)
        await super()._accept(transfer)

    async def _handle(self, event: engine._Event) -> None:
        try:
            await self._handle_page(event)
        except JsException as error:  # IndexedDB or WebCrypto refused: logged, the worker goes on
            self.problems.append(f"{event.kind}: {error}")
            js.console.error(f"file transfer: {event.kind}: {error}")

    async def _handle_page(self, event: engine._Event) -> None:
        if event.kind != "js":
            await super()._handle(event)
            return
        file_id, kind, value, digest = event.payload
        transfer = self.transfers.get(file_id)
        if kind == "digested":
            await self.digested(file_id, bytes(digest.to_bytes()))
            return
        if kind == "sealed":
            await self.sealed(file_id, bytes(digest.to_bytes()))
            return
        if kind == "unsealed":
            if transfer is not None and transfer.open:
                self.problems.append(f"sealing {file_id.hex()}: {value}")
                await self.cancel(file_id, CancelReason.STORAGE)
            return
        if transfer is None or transfer.phase is not Phase.ACTIVE:
            return
        if kind == "failed":
            await self.failed(transfer, str(value))
            return
        count = int(value)
        transfer.verified(count)
        await self.stored(transfer, count, bytes(digest.to_bytes()) if hasattr(digest, "to_bytes") else None)
        if transfer.phase is Phase.COMPLETE:
            self._release(file_id)
            await self._preview(transfer)

    async def _preview(self, transfer: Transfer) -> None:
        """A finished image or video: its object URL, decrypted from IndexedDB."""
        message = self._message(transfer)
        if message is None or message.attachment is None or transfer.file_id in self.urls:
            return
        if not self._kept(transfer):
            return
        mime = str(message.attachment.get("mime", ""))
        if preview_kind(mime) == "download":
            if not await self._module.stored(await self._params(transfer.file_id)):
                self.missing.add(transfer.file_id)
                self._on_change(transfer)
            return
        try:
            blob = await self._decrypted(transfer.file_id, mime)
        except InvalidStateError:
            self._on_change(transfer)
            return
        self.urls[transfer.file_id] = str(self._module.objectUrl(blob))
        self._on_change(transfer)

    async def _decrypted(self, file_id: bytes, mime: str) -> Any:
        """The stored file as a ``Blob``; ``InvalidStateError`` (``NOT_HERE``) when it is not stored."""
        try:
            return await self._module.blob(await self._params(file_id), mime)
        except JsException as error:
            if "is not stored" not in str(error):
                raise
            self.missing.add(file_id)
            raise InvalidStateError(NOT_HERE) from None

    def want_preview(self, file_id: bytes) -> None:
        """The chat shows a finished file whose preview is not made yet (after a reload)."""
        transfer = self.transfers.get(file_id)
        if transfer is not None and transfer.phase is Phase.COMPLETE and file_id not in self.urls:
            self.urls[file_id] = ""  # once
            self.tasks.spawn(self._preview_again(transfer))

    async def _preview_again(self, transfer: Transfer) -> None:
        self.urls.pop(transfer.file_id, None)
        await self._preview(transfer)

    async def download(self, file_id: bytes) -> str:
        """An object URL of the whole file (decrypted chunk by chunk), for a download link."""
        transfer = self.transfers.get(file_id)
        message = self._message(transfer) if transfer is not None else None
        if transfer is None or message is None or message.attachment is None:
            raise InvalidStateError("this file is not here")
        if transfer.role is Role.RECEIVER and transfer.phase is not Phase.COMPLETE:
            raise InvalidStateError("this file is not complete")
        if not self._kept(transfer):
            raise InvalidStateError("this file was not kept on this device")
        blob = await self._decrypted(file_id, str(message.attachment["mime"]))
        return str(self._module.objectUrl(blob))

    def _kept(self, transfer: Transfer) -> bool:
        """Is the file here: received, or sent and its copy stored (``sealed``; a page closed before
        then kept the message, not the file) or the picked file still in this page?"""
        if transfer.role is Role.RECEIVER or transfer.digest:
            return True
        return bool(self._module.holds(transfer.file_id.hex()))

    def _message(self, transfer: Transfer) -> Any:
        contact = self._messenger.contacts.get(transfer.peer_id)
        return None if contact is None else contact.conversation.messages.get(transfer.file_id.hex())

    # --- ending -------------------------------------------------------------------------------------

    async def _ended(self, transfer: Transfer) -> None:
        self._module.stop(transfer.file_id.hex())
        await self._module.forget(transfer.file_id.hex())  # its writes in flight end before the delete
        self._release(transfer.file_id)
        await super()._ended(transfer)

    def _release(self, file_id: bytes) -> None:
        proxy = self._proxies.pop(file_id, None)
        if proxy is not None:
            asyncio.get_event_loop().call_soon(proxy.destroy)

    async def forget(self, file_id: bytes) -> None:
        url = self.urls.pop(file_id, "")
        if url:
            js.URL.revokeObjectURL(url)
        self._keys.pop(file_id, None)
        await super().forget(file_id)

    # --- what the app tells it ----------------------------------------------------------------------

    def sizes(self) -> dict[bytes, tuple[int, int]]:
        """Each known file's size and chunk size, by file id (a backup's file sections)."""
        return {file_id: (stream.size, stream.chunk_size) for file_id, stream in self._streams.items()}

    def ready(self, peer_id: str) -> bool:
        """Is the session with ``peer_id`` ready (``tick``)?"""
        return peer_id in self._ready

    def link_status(self, peer_id: str, ready: bool) -> None:
        """The contact's session became ready, or stopped being ready."""
        if ready and peer_id not in self._ready:
            self._ready.add(peer_id)
            self.link_ready(peer_id)
        elif not ready and peer_id in self._ready:
            self._ready.discard(peer_id)
            self.link_lost(peer_id)

    def page_messages_changed(self, peer_id: str, changed: list[str], removed: list[str]) -> None:
        """``Transfers.messages_changed`` with the contact's conversation looked up."""
        contact = self._messenger.contacts.get(peer_id)
        self.messages_changed(
            peer_id, changed, removed, contact.conversation if contact is not None else None
        )
