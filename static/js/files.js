// Parley's file transfers: the bulk bytes (docs/files.md, "Who does what").
//
// pyfront/messaging/transfer/ decides everything: the file's key, its nonce prefix and AAD, the frame
// layout, which chunk comes next, when to acknowledge, resume and cancel. This module only moves bytes
// the way it is told, so 50 MB never cross into Python 64 KiB at a time:
//   * seal()/send()/keep(): a picked File is read, digested (the file's digest is segmented for this:
//     stream.FileDigest, one WebCrypto SHA-256 per segment), encrypted with the file's non-extractable
//     key and sent as FileChunk frames one segment (BATCH chunks) at a time, with bufferedamountlow
//     back-pressure, straight from the File; the sender's encrypted copy is stored when no send runs
//     (sends after a reload read it there);
//   * attach()/expect(): take FileChunk frames off a data channel before Python's listener sees them,
//     check the index is the next one (at once, in arrival order), decrypt a segment's chunks in
//     parallel (the check), digest the segment, store its verified ciphertexts, report the count;
//   * blob(): decrypt a stored file chunk by chunk into a Blob (a preview, a download).
// There is no cleartext path: every chunk on the wire and at rest is AES-256-GCM under the file's key,
// and the key reaches this module only as a non-extractable CryptoKey.
// Where the ciphertexts are stored is static/js/chunk_store.js's business (OPFS, or IndexedDB).
// Loaded by Python through globalThis.parleyImport (CSP script-src 'self').

import { BATCH, TAG, closeFile, deleteFile as deleteStored, readSegment as readStored, writeSegment } from "./chunk_store.js";

export const VERSION = 1;
export { BATCH };
const subtle = globalThis.crypto.subtle;
// BATCH: chunks per stored segment and per digest segment (Python's DIGEST_SEGMENT_CHUNKS, passed in as
// p.segmentChunks and checked): one write per 1 MiB, and about one segment in memory per transfer.
const DIGEST_LABEL = new TextEncoder().encode("parley file digest v1");
const HEADER = 22; // 0x01 0x07 file_id(16) index(4)
// The sender waits while more than this is queued on the channel (Chromium fails the channel at 16 MiB).
const HIGH_WATER = 4 * 1024 * 1024;
// Segment writes a receiver keeps in flight, and segments a sender reads ahead (1 MiB each).
const WRITES_IN_FLIGHT = 4;
const READ_AHEAD = 3;
// Counts go to Python every this many segments (4 MiB) and at the end: each report is a Python event
// (accounting, a stored record now and then, the progress bar).
const REPORT_SEGMENTS = 4;

// A segment's chunk ciphertexts (Uint8Arrays) from its stored bytes (their ciphertexts end to end).
function chunksOf(p, batch, record) {
  if (!(record instanceof ArrayBuffer)) return null;
  const out = [];
  let offset = 0;
  for (let index = batch * BATCH; index < Math.min(p.chunks, (batch + 1) * BATCH); index++) {
    const length = plainLength(p, index) + TAG;
    if (offset + length > record.byteLength) return null;
    out.push(new Uint8Array(record, offset, length));
    offset += length;
  }
  return offset === record.byteLength ? out : null;
}

async function getChunks(p, batch) {
  return chunksOf(p, batch, await readStored(p, batch));
}

// `parts` end to end in one ArrayBuffer: `scratch.buffer` when it is exactly that size (it is then
// reused for the next segment: hand it only to calls that copy it at once, like digest()), else a new one
// that becomes the scratch buffer.
function joined(scratch, parts) {
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  if (!scratch.buffer || scratch.buffer.byteLength !== total) scratch.buffer = new ArrayBuffer(total);
  const out = new Uint8Array(scratch.buffer);
  let offset = 0;
  for (const part of parts) {
    out.set(part instanceof Uint8Array ? part : new Uint8Array(part), offset);
    offset += part.byteLength;
  }
  return scratch.buffer;
}

export async function deleteFile(fileId) {
  const source = sources.get(fileId);
  if (source) {
    source.stopped = true; // its writes end before the delete
    sources.delete(fileId);
    clearTimeout(source.idle);
    changed(source);
    await source.keeping?.catch(() => {});
  }
  segmentDigests.delete(fileId);
  await deleteStored(fileId);
}

// p: {fileId (hex), key (CryptoKey), prefix (Uint8Array 7), aad (Uint8Array), size, chunkSize, chunks,
//     segmentChunks}
function nonce(p, index) {
  const out = new Uint8Array(12);
  out.set(p.prefix);
  new DataView(out.buffer).setUint32(7, index);
  out[11] = index === p.chunks - 1 ? 1 : 0;
  return out;
}

function gcm(p, index) {
  return { name: "AES-GCM", iv: nonce(p, index), additionalData: p.aad, tagLength: 128 };
}

function plainLength(p, index) {
  return Math.min(p.chunkSize, p.size - index * p.chunkSize);
}

function hexBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

// (Once per received frame: a table lookup per byte, not a string per byte.)
function toHex(bytes) {
  let out = "";
  for (const b of bytes) out += HEX[b];
  return out;
}

// --- sender ----------------------------------------------------------------------------------------
//
// A picked file stays a source while this page has it: a send reads, encrypts and sends it one segment at
// a time straight from the File, digesting each segment the first time it is read (the offer leaves at
// once; the digest follows in a FileHash once every segment is digested). The sender's own encrypted copy
// is stored when no send runs (keep(): after the transfer, or while the link is down), so
// that storing does not compete with the wire; once it is all stored the source is released and later
// sends (after a reload) read the stored copy.

// With no send for this long, a source stores its copy without being asked (keep()).
const KEEP_AFTER_IDLE_MS = 2000;
const sources = new Map();

function checkParams(p) {
  if (p.segmentChunks !== BATCH) throw new Error(`segments of ${p.segmentChunks} chunks: ${BATCH} expected`);
}

async function sha256(data) {
  return new Uint8Array(await subtle.digest("SHA-256", data));
}

// The file's digest from its segments' digests (Python: stream.FileDigest).
async function fileDigest(p, segments) {
  const out = new Uint8Array(DIGEST_LABEL.length + 8 + 32 * segments.length);
  out.set(DIGEST_LABEL);
  new DataView(out.buffer).setBigUint64(DIGEST_LABEL.length, BigInt(p.size));
  segments.forEach((segment, i) => out.set(segment, DIGEST_LABEL.length + 8 + 32 * i));
  return sha256(out);
}

function deferred() {
  const out = {};
  out.promise = new Promise((resolve, reject) => Object.assign(out, { resolve, reject }));
  out.promise.catch(() => {});
  return out;
}

// Wake whoever waits on the source (its keeper waiting for the sends to end).
function changed(source) {
  const waiting = source.waiting;
  source.waiting = [];
  for (const resolve of waiting) resolve();
}

function change(source) {
  return new Promise((resolve) => source.waiting.push(resolve));
}

// A picked File becomes a source: returns {digested, kept}, promises of the file's digest (Uint8Array,
// once every segment was read) and of its whole encrypted copy being stored.
export function seal(file, p) {
  checkParams(p);
  const batches = Math.ceil(p.chunks / BATCH);
  const source = {
    p, file, batches, digests: new Array(batches), digesting: new Array(batches), digestCount: 0,
    sends: 0, keeping: null, stopped: false, idle: null, waiting: [],
    digested: deferred(), kept: deferred(),
  };
  sources.set(p.fileId, source);
  idleSoon(source);
  return { digested: source.digested.promise, kept: source.kept.promise };
}

function idleSoon(source) {
  clearTimeout(source.idle);
  source.idle = setTimeout(() => {
    if (source.sends === 0) keepSource(source);
  }, KEEP_AFTER_IDLE_MS);
}

// Store the sender's copy of fileId now if it is not stored yet (its transfer ended or paused).
export function keep(fileId) {
  const source = sources.get(fileId);
  if (source) keepSource(source);
}

// Reads a File one segment at a time, in order, through a BYOB stream reader: for 50 MB that costs the
// page and the browser process about a third of the CPU of 50 slice().arrayBuffer() calls (measured,
// benchmarks.md). Asking for another segment than the next opens a new stream there. Each reading
// (a send, the keeper) has its own. A segment's buffer is handed back (recycle) once WebCrypto has
// copied it, and read into again: fresh 1 MiB buffers cost a page fault per 4 KiB.
class SegmentReader {
  constructor(file, p) {
    this.file = file;
    this.p = p;
    this.segmentBytes = BATCH * p.chunkSize;
    this.next = -1;
    this.reader = null;
    this.queue = Promise.resolve();
    this.spare = [];
  }

  // Segment `batch`'s bytes (a Uint8Array not shared with any other read until it is recycled); calls
  // are served in the order they are made.
  read(batch) {
    const out = this.queue.then(() => this.readNow(batch));
    this.queue = out.catch(() => {});
    return out;
  }

  async readNow(batch) {
    const start = batch * this.segmentBytes;
    const length = Math.min(this.p.size - start, this.segmentBytes);
    if (batch !== this.next) {
      this.close();
      this.reader = this.file.slice(start, this.p.size).stream().getReader({ mode: "byob" });
    }
    this.next = -1; // until this read succeeds
    let buffer = this.spare.pop() ?? new ArrayBuffer(this.segmentBytes);
    for (let filled = 0; filled < length; ) {
      const { done, value } = await this.reader.read(new Uint8Array(buffer, filled, length - filled));
      if (done) throw new Error(`the file ended at byte ${start + filled}: ${this.p.size} bytes expected`);
      buffer = value.buffer;
      filled += value.byteLength;
    }
    this.next = batch + 1;
    return new Uint8Array(buffer, 0, length);
  }

  // `bytes` (from read()) are no longer used: their buffer serves a later read.
  recycle(bytes) {
    if (bytes.buffer.byteLength === this.segmentBytes && this.spare.length < READ_AHEAD + 1) this.spare.push(bytes.buffer);
  }

  close() {
    this.reader?.cancel().catch(() => {});
    this.reader = null;
    this.next = -1;
  }
}

// Segment `batch` read from the File, digested if it was not yet, encrypted: its chunks' ciphertexts.
async function readSegment(source, batch, reader) {
  const p = source.p;
  const plain = await reader.read(batch);
  if (source.digesting[batch] === undefined) {
    source.digesting[batch] = sha256(plain).then((digest) => {
      source.digests[batch] = digest;
      source.digestCount += 1;
      if (source.digestCount === source.batches) {
        fileDigest(p, source.digests).then(source.digested.resolve, source.digested.reject);
      }
    });
  }
  const sealed = [];
  for (let index = batch * BATCH; index < Math.min(p.chunks, (batch + 1) * BATCH); index++) {
    const offset = (index - batch * BATCH) * p.chunkSize;
    sealed.push(subtle.encrypt(gcm(p, index), p.key, plain.subarray(offset, offset + plainLength(p, index))));
  }
  reader.recycle(plain); // digest() and encrypt() copied their input when called
  const chunks = await Promise.all(sealed);
  await source.digesting[batch];
  return chunks;
}

function keepSource(source) {
  if (source.keeping === null) {
    source.keeping = keepAll(source).then(
      () => source.kept.resolve(),
      (error) => {
        source.digested.reject(error);
        source.kept.reject(error);
      },
    ).finally(() => {
      if (sources.get(source.p.fileId) === source) sources.delete(source.p.fileId);
    });
  }
  return source.keeping;
}

// Every segment not stored yet, in order, while no send runs (a send that starts pauses it).
async function keepAll(source) {
  const p = source.p;
  const writes = [];
  const reader = new SegmentReader(source.file, p);
  try {
    for (let batch = 0; batch < source.batches; batch++) {
      while (!source.stopped && source.sends > 0) await change(source);
      if (source.stopped) throw new Error("stopped");
      const chunks = await readSegment(source, batch, reader);
      const write = writeSegment(p, batch, chunks.map((chunk) => new Uint8Array(chunk)));
      write.catch(() => {});
      writes.push(write);
      if (writes.length >= WRITES_IN_FLIGHT) await writes.shift();
    }
  } finally {
    reader.close();
  }
  await Promise.all(writes);
  await closeFile(p.fileId);
  await source.digested.promise;
}

// Segment `batch` of p's file as its chunks' ciphertexts: from the File while this page has it, else from
// its stored copy (null when it is not stored). `reader` reads the File for this send.
async function segmentOf(p, batch, reader) {
  const source = sources.get(p.fileId);
  if (source && !source.stopped && source.file === reader.file) {
    return (await readSegment(source, batch, reader)).map((chunk) => new Uint8Array(chunk));
  }
  return getChunks(p, batch);
}

// The send under way per file: a newer send (a resume) or stop() ends the older one.
const sending = new Map();

export function stop(fileId) {
  sending.delete(fileId);
}

function drained(channel) {
  return new Promise((resolve) => {
    const done = () => {
      channel.removeEventListener("bufferedamountlow", done);
      channel.removeEventListener("close", done);
      resolve();
    };
    channel.addEventListener("bufferedamountlow", done);
    channel.addEventListener("close", done);
  });
}

// Send chunks from..chunks-1 as FileChunk frames; resolves with the count sent in all.
export async function send(channel, p, from, onProgress) {
  const token = {};
  sending.set(p.fileId, token);
  checkParams(p);
  const source = sources.get(p.fileId);
  if (source) {
    source.sends += 1;
    clearTimeout(source.idle);
  }
  try {
    return await sendFrom(channel, p, from, onProgress, token);
  } finally {
    if (sending.get(p.fileId) === token) sending.delete(p.fileId);
    if (source) {
      source.sends -= 1;
      changed(source);
      if (source.sends === 0) idleSoon(source);
    }
  }
}

async function sendFrom(channel, p, from, onProgress, token) {
  // One frame buffer for every chunk: send() copies it before it returns.
  const frames = new Uint8Array(HEADER + p.chunkSize + TAG);
  frames[0] = 1;
  frames[1] = 7;
  frames.set(hexBytes(p.fileId), 2);
  const reader = new SegmentReader(sources.get(p.fileId)?.file ?? null, p);
  try {
    return await sendSegments(channel, p, from, onProgress, token, frames, reader);
  } finally {
    reader.close();
  }
}

async function sendSegments(channel, p, from, onProgress, token, frames, reader) {
  const batches = Math.ceil(p.chunks / BATCH);
  let batch = Math.floor(from / BATCH);
  const ahead = new Map();
  const fetch = (b) => {
    if (b < batches && !ahead.has(b)) {
      const segment = segmentOf(p, b, reader);
      segment.catch(() => {});
      ahead.set(b, segment);
    }
  };
  for (let b = batch; b <= batch + READ_AHEAD; b++) fetch(b);
  let current = await ahead.get(batch);
  for (let index = from; index < p.chunks; index++) {
    if (Math.floor(index / BATCH) !== batch) {
      ahead.delete(batch);
      batch += 1;
      fetch(batch + READ_AHEAD);
      current = await ahead.get(batch);
    }
    if (!current) throw new Error(`chunk ${index} is not stored`);
    const ciphertext = current[index % BATCH];
    const frame = frames.subarray(0, HEADER + ciphertext.length);
    while (channel.readyState === "open" && channel.bufferedAmount + frame.length > HIGH_WATER) {
      await drained(channel);
    }
    if (sending.get(p.fileId) !== token || channel.readyState !== "open") return index;
    new DataView(frames.buffer).setUint32(18, index);
    frame.set(ciphertext, HEADER);
    channel.send(frame);
    if (onProgress && ((index + 1) % (BATCH * REPORT_SEGMENTS) === 0 || index + 1 === p.chunks)) onProgress(index + 1);
  }
  return p.chunks;
}

// Files being read or stored on the sending side (the bench waits for 0 before timing the raw channel).
export function busy() {
  return sources.size;
}

// --- receiver --------------------------------------------------------------------------------------

const receiving = new Map();
// The digests of the segments each file being received has verified so far, in order, kept across
// resumes in this page: a resume re-reads only what it has no digest of (after a reload: everything,
// once). Without this a resume of a large file re-read it all each time, and a re-read longer than
// Python's STALL_SECONDS asked again, which re-read it all again.
const segmentDigests = new Map();

// Take this channel's FileChunk frames (register before the page's own listener).
export function attach(channel) {
  channel.addEventListener("message", (event) => {
    const data = event.data;
    if (!(data instanceof ArrayBuffer) || data.byteLength < HEADER) return;
    const head = new Uint8Array(data, 0, 2);
    if (head[0] !== 1 || head[1] !== 7) return;
    event.stopImmediatePropagation();
    const state = receiving.get(toHex(new Uint8Array(data, 2, 16)));
    if (state) arrive(state, data); // not expected (cancelled, finished, not ours): dropped
  });
}

// Every failure is reported after the segments already being stored: the page then deletes them all.
function fail(state, message) {
  if (state.failed) return;
  state.failed = true;
  state.pending = [];
  if (receiving.get(state.p.fileId) === state) receiving.delete(state.p.fileId);
  state.chain = state.chain.then(() => state.reported).then(() => state.onEvent("failed", message));
}

// A frame, in arrival order: its index must be the next one; its decryption starts at once.
function arrive(state, data) {
  if (state.failed) return;
  const p = state.p;
  const index = new DataView(data).getUint32(18);
  if (index < state.next) return fail(state, `chunk ${index} again (expected ${state.next})`);
  if (index > state.next) return fail(state, `chunk ${index} out of order: chunk ${state.next} is missing`);
  const ciphertext = new Uint8Array(data, HEADER);
  if (ciphertext.length !== plainLength(p, index) + TAG) {
    return fail(state, `chunk ${index}: ${plainLength(p, index) + TAG} bytes expected, got ${ciphertext.length}`);
  }
  const plain = subtle.decrypt(gcm(p, index), p.key, ciphertext).then(
    (value) => value,
    () => Promise.reject(new Error(`chunk ${index} failed authentication`)),
  );
  plain.catch(() => {}); // handled in the segment's job
  state.pending.push({ ciphertext, plain });
  state.next = index + 1;
  if (state.pending.length === BATCH || state.next === p.chunks) {
    const pending = state.pending;
    state.pending = [];
    const batch = Math.floor(index / BATCH);
    const last = state.next === p.chunks;
    state.chain = state.chain.then(() => storeSegment(state, batch, pending, last));
  }
}

async function storeSegment(state, batch, pending, last) {
  if (state.failed) return;
  const p = state.p;
  let plains;
  try {
    plains = await Promise.all(pending.map((entry) => entry.plain));
  } catch (error) {
    return fail(state, error.message);
  }
  state.segments.push(await sha256(joined(state.plainScratch, plains)));
  if (state.failed) return;
  // The write runs while the next segments are decrypted (at most WRITES_IN_FLIGHT at once); counts are
  // reported in order, each once its write and every earlier one are durable.
  const write = writeSegment(p, batch, pending.map((entry) => entry.ciphertext));
  write.catch(() => {});
  const count = Math.min(p.chunks, (batch + 1) * BATCH);
  const report = last || (batch + 1) % REPORT_SEGMENTS === 0;
  const digest = last ? fileDigest(p, state.segments.slice()) : null;
  const reported = state.reported.then(async () => {
    try {
      await write;
    } catch (error) {
      return fail(state, `could not be stored: ${error}`);
    }
    if (state.failed) return;
    if (last && receiving.get(p.fileId) === state) {
      receiving.delete(p.fileId);
      segmentDigests.delete(p.fileId);
      closeFile(p.fileId).catch(() => {}); // written whole: a later read opens it again
    }
    if (report) state.onEvent("stored", count, last ? await digest : null);
  });
  state.reported = reported;
  state.inFlight.push(reported);
  if (state.inFlight.length >= WRITES_IN_FLIGHT) await state.inFlight.shift();
  if (last) await reported;
}

// Expect p's chunks from `stored` on (a multiple of BATCH: those before are stored and are read
// again for their segments' digests).
export async function expect(p, stored, onEvent) {
  checkParams(p);
  const previous = receiving.get(p.fileId);
  if (previous) previous.failed = true; // a resume replaces it; its late segments store nothing
  // Digests of segments past `stored` may be of chunks never stored: dropped. (A copy: the replaced
  // state may still add to its own.)
  const segments = (segmentDigests.get(p.fileId) ?? []).slice(0, Math.ceil(stored / BATCH));
  segmentDigests.set(p.fileId, segments);
  for (let batch = segments.length; batch * BATCH < stored; batch++) {
    const chunks = await getChunks(p, batch);
    if (!chunks) throw new Error(`batch ${batch} is not stored`);
    const plains = await Promise.all(chunks.map((chunk, i) => subtle.decrypt(gcm(p, batch * BATCH + i), p.key, chunk)));
    segments.push(await sha256(await new Blob(plains).arrayBuffer()));
  }
  if (stored === p.chunks) {
    // Every chunk is stored (the page closed before the sender's digest came): the count and the
    // digest of what is stored go to Python at once.
    const digest = await fileDigest(p, segments);
    setTimeout(() => onEvent("stored", stored, digest), 0);
    return;
  }
  receiving.set(p.fileId, {
    p, next: stored, pending: [], segments, onEvent, failed: false, plainScratch: {},
    chain: Promise.resolve(), reported: Promise.resolve(), inFlight: [],
  });
}

// Stop receiving fileId; resolves once no write of it is in flight (then its records can be deleted).
export async function forget(fileId) {
  const state = receiving.get(fileId);
  receiving.delete(fileId);
  segmentDigests.delete(fileId);
  if (!state) return;
  state.failed = true;
  await state.chain;
  await state.reported;
}

// --- reading a stored file -------------------------------------------------------------------------

// Does this page still have the picked File of fileId (its copy may not be stored yet)?
export function holds(fileId) {
  return sources.has(fileId);
}

// The stored file, decrypted chunk by chunk into a Blob of type `mime` (parts, not one big buffer); a
// file this page sends and still has is the picked File itself.
export async function blob(p, mime) {
  checkParams(p);
  const source = sources.get(p.fileId);
  if (source) return new Blob([source.file], { type: mime });
  const parts = [];
  for (let batch = 0; batch * BATCH < p.chunks; batch++) {
    const chunks = await getChunks(p, batch);
    if (!chunks) throw new Error(`batch ${batch} is not stored`);
    for (let i = 0; i < chunks.length; i++) {
      parts.push(await subtle.decrypt(gcm(p, batch * BATCH + i), p.key, chunks[i]));
    }
  }
  await closeFile(p.fileId);
  return new Blob(parts, { type: mime });
}

// Is p's file stored here (its first segment readable)? A chat restored from a backup without its files
// shows them as not on this device.
export async function stored(p) {
  const there = (await readStored(p, 0)) !== null;
  await closeFile(p.fileId);
  return there;
}

export function objectUrl(blobValue) {
  return URL.createObjectURL(blobValue);
}

// A thumbnail of an image File (JPEG, longest side `edge`), or null if the browser cannot decode it.
export async function thumbnail(file, edge, quality) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, edge / Math.max(bitmap.width, bitmap.height));
    const canvas = new OffscreenCanvas(Math.max(1, Math.round(bitmap.width * scale)), Math.max(1, Math.round(bitmap.height * scale)));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const out = await canvas.convertToBlob({ type: "image/jpeg", quality });
    return new Uint8Array(await out.arrayBuffer());
  } catch {
    return null;
  }
}
