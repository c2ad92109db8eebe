"""Scanning a QR code with the camera: a contact's invite, or their safety-number code (issue 8).

The screen asks for the camera (``navigator.mediaDevices.getUserMedia``, back camera preferred), shows
the live picture in a ``<video>``, and every ``SCAN_INTERVAL_S`` draws the current frame into an
off-screen ``<canvas>`` (at most ``MAX_SCAN_WIDTH`` pixels wide) and decodes it with jsQR, which the
bundle vendors (``server/bundle.py``, ``VENDOR``: ``/static/vendor/jsqr/jsQR.js``, loaded on first use
by a ``<script>`` from our own origin, as ``script-src 'self'`` allows).

Why jsQR and not ``BarcodeDetector``: the safety code is 65 raw bytes
(``pyfront.session.identity.safety_qr_payload``) and ``BarcodeDetector`` only returns ``rawValue`` as text,
which does not carry arbitrary bytes; jsQR returns the exact bytes (``binaryData``). It is also the only
decoder Chromium on Linux and Firefox have.

What a decoded code means is the caller's decision (``on_code``): it returns ``None`` when it took the
code (and has moved to another screen), or a sentence saying why not; the sentence is shown and
scanning goes on (the same refused code is not re-submitted while it stays in front of the camera).
The camera is released by ``stop()``, which the app calls whenever the screen changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import js

from pyfront.browser.js_values import js_object
from pyfront.browser.ui import Handlers, append, element

JSQR_URL = "/static/vendor/jsqr/jsQR.js"
#: Seconds between two decoded frames (jsQR takes a few milliseconds per 640-pixel frame).
SCAN_INTERVAL_S = 0.2
#: Frames wider than this are scaled down before decoding (QR codes held up to a camera are large).
MAX_SCAN_WIDTH = 640
#: Seconds to wait for the jsQR script to load.
JSQR_LOAD_TIMEOUT_S = 30.0

#: What the person is told when the camera cannot be used, by the ``DOMException`` name.
CAMERA_PROBLEMS = {
    "NotAllowedError": "Camera access was refused. Allow the camera for this site, or paste the link.",
    "NotFoundError": "No camera was found on this device. Paste the link instead.",
    "NotReadableError": "The camera is in use by another program. Close it and try again.",
    "OverconstrainedError": "No camera on this device can be used for scanning.",
    "SecurityError": "The browser does not allow the camera on this page.",
}

OnCode = Callable[[bytes], Awaitable[str | None]]


def camera_problem(error: Exception) -> str:
    """A sentence for a failed ``getUserMedia`` (the exception text names the ``DOMException``)."""
    text = str(error)
    for name, sentence in CAMERA_PROBLEMS.items():
        if name in text:
            return sentence
    return f"The camera could not be started ({text})."


def _jsqr() -> Any:
    try:
        return js.globalThis.jsQR
    except AttributeError:
        return None


async def load_jsqr() -> Any:
    """The ``jsQR`` function, loading the vendored script once (a second call reuses it)."""
    decoder = _jsqr()
    if decoder:
        return decoder
    loaded: asyncio.Future[bool] = asyncio.get_event_loop().create_future()
    handlers = Handlers()
    script = js.document.querySelector(f'script[src="{JSQR_URL}"]')
    if not script:
        script = element("script", src=JSQR_URL)

    def settle(ok: bool) -> Callable[[Any], None]:
        def handler(_event: Any) -> None:
            if not loaded.done():
                loaded.set_result(ok)

        return handler

    handlers.on(script, "load", settle(True))
    handlers.on(script, "error", settle(False))
    if not script.isConnected:
        js.document.head.append(script)
    try:
        ok = await asyncio.wait_for(loaded, JSQR_LOAD_TIMEOUT_S)
    finally:
        handlers.clear()
    decoder = _jsqr()
    if not ok or not decoder:
        raise RuntimeError(f"the QR decoder ({JSQR_URL}) could not be loaded")
    return decoder


class ScanView:
    """The camera screen; ``start()`` runs until a code is taken or ``stop()`` is called."""

    def __init__(
        self,
        container: Any,
        handlers: Handlers,
        *,
        title: str,
        hint: str,
        on_code: OnCode,
        on_cancel: Callable[[], Awaitable[None]],
    ) -> None:
        self._on_code = on_code
        self.stopped = False
        self._stream: Any = None
        panel = element("section", classes="panel scan", id="scan", aria_labelledby="scan-title")
        cancel = element(
            "button", "← Back", id="scan-cancel", type="button", classes="secondary", data_back=""
        )
        self.video = element("video", id="scan-video", classes="scan-video", aria_label="Camera picture")
        self.video.muted = True
        self.video.playsInline = True
        self.state = element("p", "Starting the camera…", id="scan-state", classes="status", role="status")
        self.state.dataset.state = "starting"
        self.problem = element("p", classes="error", id="scan-error", role="alert")
        self.problem.hidden = True
        append(
            panel,
            cancel,
            element("h2", title, id="scan-title"),
            element("p", hint, classes="muted"),
            self.video,
            self.state,
            self.problem,
        )
        container.append(panel)
        self._canvas = js.document.createElement("canvas")
        self._context = self._canvas.getContext("2d", js_object({"willReadFrequently": True}))

        async def cancelled(_event: Any) -> None:
            self.stop()
            await on_cancel()

        handlers.on_async(cancel, "click", cancelled)
        cancel.focus()

    def _say(self, text: str, state: str) -> None:
        self.state.textContent = text
        self.state.dataset.state = state

    def _refuse(self, text: str) -> None:
        self.problem.textContent, self.problem.hidden = text, False

    def _fail(self, text: str) -> None:
        """Scanning cannot happen: say why and hide the empty picture."""
        self._say("The camera is off.", "failed")
        self._refuse(text)
        self.video.hidden = True

    async def start(self) -> None:
        try:
            decoder = await load_jsqr()
        except (RuntimeError, TimeoutError) as error:
            self._fail(str(error))
            return
        devices = js.navigator.mediaDevices
        if not devices:  # no camera API: not a secure context, or a very old browser
            self._fail("This browser offers no camera here. Paste the link instead.")
            return
        try:
            stream = await devices.getUserMedia(
                js_object({"video": {"facingMode": {"ideal": "environment"}}, "audio": False})
            )
        except Exception as error:  # a DOMException from the browser
            self._fail(camera_problem(error))
            return
        self._stream = stream
        if self.stopped:  # the person left while the browser was asking
            self._release()
            return
        self.video.srcObject = stream
        try:
            await self.video.play()
        except Exception as error:
            self._fail(f"The camera picture could not be shown ({error}).")
            self._release()
            return
        self._say("Looking for a QR code…", "scanning")
        await self._scan(decoder)

    async def _scan(self, decoder: Any) -> None:
        refused = b""
        while not self.stopped:
            await asyncio.sleep(SCAN_INTERVAL_S)
            if self.stopped:
                break
            payload = self._decode_frame(decoder)
            if payload is None or payload == refused:
                continue
            problem = await self._on_code(payload)
            if self.stopped or problem is None:
                break
            refused = payload
            self._refuse(problem)
        self.stop()

    def _decode_frame(self, decoder: Any) -> bytes | None:
        width, height = int(self.video.videoWidth), int(self.video.videoHeight)
        if not width or not height:
            return None
        scale = min(1.0, MAX_SCAN_WIDTH / width)
        frame_width, frame_height = max(1, int(width * scale)), max(1, int(height * scale))
        if (self._canvas.width, self._canvas.height) != (frame_width, frame_height):
            self._canvas.width, self._canvas.height = frame_width, frame_height
        self._context.drawImage(self.video, 0, 0, frame_width, frame_height)
        pixels = self._context.getImageData(0, 0, frame_width, frame_height)
        code = decoder(pixels.data, frame_width, frame_height)
        if not code:
            return None
        return bytes(code.binaryData.to_py())

    def _release(self) -> None:
        stream, self._stream = self._stream, None
        if stream:
            for track in stream.getTracks():
                track.stop()
        self.video.srcObject = None

    def stop(self) -> None:
        """Stop scanning and turn the camera off (idempotent)."""
        self.stopped = True
        self._release()
