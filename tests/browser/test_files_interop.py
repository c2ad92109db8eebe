"""The page's bulk path (static/js/files.js) and the Python core (pyfront/messaging/transfer/) agree, byte
for byte, in Chromium under Pyodide with the WebCrypto provider:

* a file that files.js read, digested and encrypted from the picked ``File`` and sent as ``FileChunk``
  frames is read by the core (``ChunkFrame.decode``, ``Transfer.receive``) into the same bytes, its
  digest is the core's, and once its copy is stored (``keep``) a resume sends the same frames from it;
  a file of five segments read through one stream is too, a resume from its chunk 37 while the page
  holds the ``File`` sends the same frames, and a ``File`` shorter than its offer's size is refused;
* frames the core encrypted (``FileStream.encrypt``) are taken off a channel by files.js, checked,
  stored and reported with the right digest, and read back whole by ``blob``;
* a frame with one flipped bit, a duplicate and a gap are each refused by files.js with the core's words.

So a headless peer running the core in CPython and a page using the bulk path exchange files.
"""

from __future__ import annotations

import pytest

from tests.browser.pyodide_harness import PyodideRunner

pytestmark = pytest.mark.browser

CODE = r"""
import asyncio
import js
from pyodide.ffi import create_proxy, to_js
from pyfront.crypto.provider import SymmetricKey
from pyfront.crypto.webcrypto import create_webcrypto_provider, import_js_module
from pyfront.messaging.transfer.frames import ChunkFrame
from pyfront.messaging.transfer.state import Transfer
from pyfront.messaging.transfer.stream import DIGEST_SEGMENT_CHUNKS, FileStream, file_digest

provider = await create_webcrypto_provider()
module = await import_js_module("/static/js/files.js")


def uint8(data):
    array = js.Uint8Array.new(len(data))
    array.assign(data)
    return array


async def params(stream):
    fields = {
        "fileId": stream.file_id.hex(), "key": await provider.file_key(stream.key),
        "prefix": uint8(stream.nonce_prefix), "aad": uint8(stream.aad), "size": stream.size,
        "chunkSize": stream.chunk_size, "chunks": stream.chunks, "segmentChunks": DIGEST_SEGMENT_CHUNKS,
    }
    return to_js(fields, dict_converter=js.Object.fromEntries)


def new_stream(size):
    return FileStream(provider.random_bytes(16), SymmetricKey(provider.random_bytes(32)),
                      provider.random_bytes(7), size, 65536)


report = {}
size = 20 * 65536 + 1234  # two IndexedDB batches, a short last chunk
data = provider.random_bytes(size)

# 1. files.js sends from the picked File, then stores its copy and sends from that; the core receives.
def fake_channel(frames):
    channel = js.Object.new()
    channel.readyState = "open"
    channel.bufferedAmount = 0
    channel.send = create_proxy(lambda frame: frames.append(bytes(frame.to_bytes())))
    channel.addEventListener = create_proxy(lambda *args: None)
    channel.removeEventListener = create_proxy(lambda *args: None)
    return channel

stream = new_stream(size)
sealing = module.seal(js.File.new([uint8(data)], "a.bin"), await params(stream))
frames = []
sent = await module.send(fake_channel(frames), await params(stream), 0, None)
digest = await sealing.digested
report["digest_ok"] = bytes(digest.to_bytes()) == file_digest(provider, stream, data)
report["holds_before_keep"] = bool(module.holds(stream.file_id.hex()))
module.keep(stream.file_id.hex())
await sealing.kept
report["holds_after_keep"] = bool(module.holds(stream.file_id.hex()))
stored_frames = []
await module.send(fake_channel(stored_frames), await params(stream), 17, None)  # from IndexedDB
receiver = Transfer.incoming("peer", stream)
receiver.accept()
plain = [await receiver.receive(provider, stream, frame) for frame in frames]
report["js_to_core"] = [int(sent), len(frames), b"".join(plain) == data, frames[0][:2].hex()]
report["stored_copy_same_frames"] = stored_frames == frames[17:]

# 1b. A file of five segments and a short last chunk, read through one stream: sent whole, then again
# from chunk 37 while the page still holds the File (the read opens the file in the middle of a
# segment's run); and a File shorter than its offer's size (changed on disk after the pick).
big_size = 5 * DIGEST_SEGMENT_CHUNKS * 65536 + 777
big_data = provider.random_bytes(big_size)
big = new_stream(big_size)
big_sealing = module.seal(js.File.new([uint8(big_data)], "big.bin"), await params(big))
big_frames = []
await module.send(fake_channel(big_frames), await params(big), 0, None)
resumed = []
await module.send(fake_channel(resumed), await params(big), 37, None)
big_digest = await big_sealing.digested
big_receiver = Transfer.incoming("peer", big)
big_receiver.accept()
big_plain = [await big_receiver.receive(provider, big, frame) for frame in big_frames]
report["big"] = [
    len(big_frames), b"".join(big_plain) == big_data, resumed == big_frames[37:],
    bytes(big_digest.to_bytes()) == file_digest(provider, big, big_data),
]
module.stop(big.file_id.hex())
await module.deleteFile(big.file_id.hex())
short = new_stream(3 * 65536)
module.seal(js.File.new([uint8(data[: 2 * 65536 + 5])], "short.bin"), await params(short))
try:
    await module.send(fake_channel([]), await params(short), 0, None)
    report["short"] = "sent"
except Exception as error:
    report["short"] = str(error)
await module.deleteFile(short.file_id.hex())

# 2. The core encrypts; files.js receives, checks, stores, hashes.
async def js_receives(stream, frames):
    events = []
    done = asyncio.get_event_loop().create_future()

    def on_event(kind, value, digest=None):
        events.append([str(kind), str(value)])
        if (kind == "stored" and int(value) == stream.chunks) or kind == "failed":
            done.set_result((str(kind), value, digest))

    target = js.EventTarget.new()
    module.attach(target)
    await module.expect(await params(stream), 0, create_proxy(on_event))
    for frame in frames:
        init = to_js({"data": uint8(frame).buffer}, dict_converter=js.Object.fromEntries)
        target.dispatchEvent(js.MessageEvent.new("message", init))
    return await asyncio.wait_for(done, 30)

stream2 = new_stream(size)
core_frames = []
for index in range(stream2.chunks):
    piece = data[index * 65536:(index + 1) * 65536]
    sealed = await stream2.encrypt(provider, index, piece)
    core_frames.append(ChunkFrame(stream2.file_id, index, sealed).encode())
kind, value, digest = await js_receives(stream2, core_frames)
blob = await module.blob(await params(stream2), "application/octet-stream")
back = bytes(js.Uint8Array.new(await blob.arrayBuffer()).to_bytes())
digest_ok = bytes(digest.to_bytes()) == file_digest(provider, stream2, data)
report["core_to_js"] = [kind, int(value), digest_ok, back == data]

# 3. Damage, refused by files.js in the core's words.
outcomes = {}
for name in ("flip", "duplicate", "gap"):
    stream3 = new_stream(4 * 65536)
    frames3 = []
    for index in range(4):
        piece = data[index * 65536:(index + 1) * 65536]
        sealed = await stream3.encrypt(provider, index, piece)
        frames3.append(ChunkFrame(stream3.file_id, index, sealed).encode())
    if name == "flip":
        frames3[2] = frames3[2][:-1] + bytes([frames3[2][-1] ^ 1])
    elif name == "duplicate":
        frames3.insert(2, frames3[1])
    else:
        del frames3[1]
    kind, value, _ = await js_receives(stream3, frames3)
    outcomes[name] = [kind, str(value)]
report["damage"] = outcomes
report
"""


def test_files_js_and_the_python_core_agree(pyodide_runner: PyodideRunner) -> None:
    report = pyodide_runner.run(CODE)
    assert report["digest_ok"] is True
    assert report["holds_before_keep"] is True and report["holds_after_keep"] is False
    assert report["js_to_core"] == [21, 21, True, "0107"]
    assert report["stored_copy_same_frames"] is True
    assert report["big"] == [81, True, True, True]
    assert "the file ended at byte 131077: 196608 bytes expected" in report["short"]
    assert report["core_to_js"] == ["stored", 21, True, True]
    assert report["damage"] == {
        "flip": ["failed", "chunk 2 failed authentication"],
        "duplicate": ["failed", "chunk 1 again (expected 2)"],
        "gap": ["failed", "chunk 2 out of order: chunk 1 is missing"],
    }
