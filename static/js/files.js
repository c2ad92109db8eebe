// Parley's file transfers: the bulk bytes (docs/files.md, "Who does what").
//
// pyfront/messaging/transfer/ decides everything: the file's key, its nonce prefix and AAD, the frame
// layout, which chunk comes next, when to acknowledge, resume and cancel. This module only moves bytes
// the way it is told, so 50 MB never cross into Python 64 KiB at a time:
//   * prepare(): read a picked File slice by slice, SHA-256 it (noble, incrementally) and encrypt each
//     chunk with the file's non-extractable WebCrypto key; the ciphertexts go to IndexedDB, BATCH at a time;
//   * send(): stream stored ciphertexts as FileChunk frames with bufferedamountlow back-pressure;
//   * attach()/expect(): take FileChunk frames off a data channel before Python's listener sees them,
//     check the index is the next one, decrypt (the check), hash, store the verified ciphertexts;
//   * blob(): decrypt a stored file chunk by chunk into a Blob (a preview, a download).
// There is no cleartext path: every chunk on the wire and at rest is AES-256-GCM under the file's key,
// and the key reaches this module only as a non-extractable CryptoKey.
// Loaded by Python through globalThis.parleyImport (CSP script-src 'self').

import { sha256 } from "/static/vendor/noble/hashes/sha2.js";

export const VERSION = 1;
const subtle = globalThis.crypto.subtle;
const DB_NAME = "parley-files";
const STORE = "chunks";
// Chunks per IndexedDB record: one write per 1 MiB, and never more than one batch in memory per transfer.
export const BATCH = 16;
const HEADER = 22; // 0x01 0x07 file_id(16) index(4)
const TAG = 16;
// The sender waits while more than this is queued on the channel (Chromium fails the channel at 16 MiB).
const HIGH_WATER = 4 * 1024 * 1024;

let database = null;

function openDb() {
  if (database === null) {
    database = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return database;
}

function batchKey(fileId, batch) {
  return `${fileId}/${String(batch).padStart(8, "0")}`;
}

async function put(fileId, batch, chunks) {
  const db = await openDb();
  await new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(chunks, batchKey(fileId, batch));
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("IndexedDB write aborted"));
  });
}

async function get(fileId, batch) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const request = db.transaction(STORE, "readonly").objectStore(STORE).get(batchKey(fileId, batch));
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export async function deleteFile(fileId) {
  const db = await openDb();
  await new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).delete(IDBKeyRange.bound(`${fileId}/`, `${fileId}/\uffff`));
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

// p: {fileId (hex), key (CryptoKey), prefix (Uint8Array 7), aad (Uint8Array), size, chunkSize, chunks}
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

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- sender ----------------------------------------------------------------------------------------

// Hash and encrypt a picked File into IndexedDB; returns the plaintext's SHA-256 (Uint8Array).
export async function prepare(file, p, onProgress) {
  const hasher = sha256.create();
  const batchBytes = BATCH * p.chunkSize;
  for (let batch = 0; batch * BATCH < p.chunks; batch++) {
    const start = batch * batchBytes;
    const plain = new Uint8Array(await file.slice(start, Math.min(p.size, start + batchBytes)).arrayBuffer());
    const sealed = [];
    for (let i = 0; i * p.chunkSize < plain.length || (i === 0 && p.size === 0); i++) {
      const index = batch * BATCH + i;
      if (index >= p.chunks) break;
      const piece = plain.subarray(i * p.chunkSize, i * p.chunkSize + plainLength(p, index));
      hasher.update(piece);
      sealed.push(subtle.encrypt(gcm(p, index), p.key, piece));
    }
    await put(p.fileId, batch, await Promise.all(sealed));
    if (onProgress) onProgress(Math.min(p.chunks, (batch + 1) * BATCH));
  }
  return hasher.digest();
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

// Send stored chunks from..chunks-1 as FileChunk frames; resolves with the count sent in all.
export async function send(channel, p, from, onProgress) {
  const token = {};
  sending.set(p.fileId, token);
  const header = new Uint8Array(HEADER);
  header[0] = 1;
  header[1] = 7;
  header.set(hexBytes(p.fileId), 2);
  let batch = Math.floor(from / BATCH);
  let current = await get(p.fileId, batch);
  let next = batch * BATCH + BATCH < p.chunks ? get(p.fileId, batch + 1) : null;
  for (let index = from; index < p.chunks; index++) {
    if (Math.floor(index / BATCH) !== batch) {
      batch += 1;
      current = await next;
      next = batch * BATCH + BATCH < p.chunks ? get(p.fileId, batch + 1) : null;
    }
    if (!current) throw new Error(`chunk ${index} is not stored`);
    const ciphertext = new Uint8Array(current[index % BATCH]);
    const frame = new Uint8Array(HEADER + ciphertext.length);
    frame.set(header);
    new DataView(frame.buffer).setUint32(18, index);
    frame.set(ciphertext, HEADER);
    while (channel.readyState === "open" && channel.bufferedAmount + frame.length > HIGH_WATER) {
      await drained(channel);
    }
    if (sending.get(p.fileId) !== token || channel.readyState !== "open") return index;
    channel.send(frame);
    if (onProgress && ((index + 1) % BATCH === 0 || index + 1 === p.chunks)) onProgress(index + 1);
  }
  if (sending.get(p.fileId) === token) sending.delete(p.fileId);
  return p.chunks;
}

// --- receiver --------------------------------------------------------------------------------------

const receiving = new Map();

// Take this channel's FileChunk frames (register before the page's own listener).
export function attach(channel) {
  channel.addEventListener("message", (event) => {
    const data = event.data;
    if (!(data instanceof ArrayBuffer) || data.byteLength < HEADER) return;
    const head = new Uint8Array(data, 0, 2);
    if (head[0] !== 1 || head[1] !== 7) return;
    event.stopImmediatePropagation();
    const fileId = toHex(new Uint8Array(data, 2, 16));
    const state = receiving.get(fileId);
    if (!state) return; // not expected (cancelled, finished, or not ours): dropped
    state.chain = state.chain.then(() => receive(state, data));
  });
}

function fail(state, message) {
  state.failed = true;
  state.pending = [];
  receiving.delete(state.p.fileId);
  state.onEvent("failed", message);
}

async function receive(state, data) {
  if (state.failed) return;
  const p = state.p;
  const index = new DataView(data).getUint32(18);
  if (index < state.next) return fail(state, `chunk ${index} again (expected ${state.next})`);
  if (index > state.next) return fail(state, `chunk ${index} out of order: chunk ${state.next} is missing`);
  const ciphertext = new Uint8Array(data, HEADER);
  if (ciphertext.length !== plainLength(p, index) + TAG) {
    return fail(state, `chunk ${index}: ${plainLength(p, index) + TAG} bytes expected, got ${ciphertext.length}`);
  }
  let plain;
  try {
    plain = await subtle.decrypt(gcm(p, index), p.key, ciphertext);
  } catch {
    return fail(state, `chunk ${index} failed authentication`);
  }
  state.hasher.update(new Uint8Array(plain));
  state.pending.push(data.slice(HEADER));
  state.next = index + 1;
  if (state.pending.length === BATCH || state.next === p.chunks) {
    const batch = Math.floor(index / BATCH);
    const chunks = state.pending;
    state.pending = [];
    try {
      await put(p.fileId, batch, chunks);
    } catch (error) {
      return fail(state, `could not be stored: ${error}`);
    }
    if (state.failed) return;
    if (state.next === p.chunks) {
      receiving.delete(p.fileId);
      state.onEvent("stored", state.next, state.hasher.digest());
    } else {
      state.onEvent("stored", state.next, null);
    }
  }
}

// Expect p's chunks from `stored` on (those before are in IndexedDB: re-read to resume the hash).
export async function expect(p, stored, onEvent) {
  const hasher = sha256.create();
  for (let batch = 0; batch * BATCH < stored; batch++) {
    const chunks = await get(p.fileId, batch);
    for (let i = 0; i < chunks.length && batch * BATCH + i < stored; i++) {
      const index = batch * BATCH + i;
      hasher.update(new Uint8Array(await subtle.decrypt(gcm(p, index), p.key, chunks[i])));
    }
  }
  receiving.set(p.fileId, { p, next: stored, pending: [], hasher, onEvent, failed: false, chain: Promise.resolve() });
}

export function forget(fileId) {
  const state = receiving.get(fileId);
  if (state) state.failed = true;
  receiving.delete(fileId);
}

// --- reading a stored file -------------------------------------------------------------------------

// The stored file, decrypted chunk by chunk into a Blob of type `mime` (parts, not one big buffer).
export async function blob(p, mime) {
  const parts = [];
  for (let batch = 0; batch * BATCH < p.chunks; batch++) {
    const chunks = await get(p.fileId, batch);
    if (!chunks) throw new Error(`batch ${batch} is not stored`);
    for (let i = 0; i < chunks.length; i++) {
      parts.push(await subtle.decrypt(gcm(p, batch * BATCH + i), p.key, chunks[i]));
    }
  }
  return new Blob(parts, { type: mime });
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
