// A backup's file sections, streamed (docs/security.md, "Backups"; pyfront/browser/backup.py decides).
//
// Export: `section(p)` gives a stored file's ciphertexts as a Blob (in OPFS the file itself, never read
// into memory) and the SHA-256 of each of its segments, read one at a time; `download(parts, name)` saves
// the sealed document followed by those Blobs as one file, a Blob of parts.
// Import: `head`/`range` read the start of the picked file; `stage(file, offset, p)` reads one section one
// segment at a time, hashes each segment and stages it apart from the stored files (static/js/chunk_store.js);
// Python compares the digests with the sealed manifest, then `adopt` or `discard` the staged files.
// No section is ever whole in memory: at most READ_AHEAD + 1 segments (1 MiB each) per call.
//
// p: {fileId (hex), size, chunkSize, chunks, segmentChunks}

import { BATCH, TAG, adoptStaged, discardStaged, stageSegment, storedBlob, storedLength } from "./chunk_store.js";

export const VERSION = 1;
const READ_AHEAD = 2;
// How long a backup's object URL lives: the browser reads the Blob while the download runs.
const URL_LIFETIME_MS = 10 * 60 * 1000;

function checkParams(p) {
  if (p.segmentChunks !== BATCH) throw new Error(`segments of ${p.segmentChunks} chunks: ${BATCH} expected`);
}

// [start, end) of segment `batch` in p's stored file.
function segmentRange(p, batch) {
  const start = batch * BATCH * (p.chunkSize + TAG);
  return [start, Math.min(storedLength(p), start + BATCH * (p.chunkSize + TAG))];
}

// Each segment of the `blob` slice at `offset` holding p's stored file, read in order (READ_AHEAD ahead),
// digested, then handed to `take(batch, buffer)` if given (which may keep the buffer). Returns the
// segments' SHA-256 digests end to end.
async function digestSegments(blob, offset, p, take) {
  const segments = Math.ceil(p.chunks / BATCH);
  const out = new Uint8Array(32 * segments);
  const reads = [];
  const read = (batch) => {
    if (batch < segments) {
      const [start, end] = segmentRange(p, batch);
      const pending = blob.slice(offset + start, offset + end).arrayBuffer();
      pending.catch(() => {});
      reads.push(pending);
    }
  };
  for (let batch = 0; batch <= READ_AHEAD; batch++) read(batch);
  for (let batch = 0; batch < segments; batch++) {
    const buffer = await reads.shift();
    read(batch + READ_AHEAD + 1);
    const [start, end] = segmentRange(p, batch);
    if (buffer.byteLength !== end - start) throw new Error(`segment ${batch}: ${end - start} bytes expected, ${buffer.byteLength} read`);
    out.set(new Uint8Array(await crypto.subtle.digest("SHA-256", buffer)), 32 * batch);
    if (take) await take(batch, buffer);
  }
  return out;
}

// p's stored file for a backup: {blob, digests}, or null when it is not stored here.
export async function section(p) {
  checkParams(p);
  const blob = await storedBlob(p);
  if (blob === null) return null;
  return { blob, digests: await digestSegments(blob, 0, p, null) };
}

// Save `parts` (Uint8Arrays and Blobs) end to end as the file `name`: the browser reads them as the
// download runs.
export function download(parts, name) {
  const url = URL.createObjectURL(new Blob(parts, { type: "application/octet-stream" }));
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = name;
  anchor.click();
  setTimeout(() => URL.revokeObjectURL(url), URL_LIFETIME_MS);
}

// Bytes [start, end) of the picked file (fewer at its end).
export async function range(file, start, end) {
  return new Uint8Array(await file.slice(start, end).arrayBuffer());
}

// Stage p's section of the picked `file` (at `offset`): each segment hashed, then stored apart. Returns the
// segments' digests; throws if the file cannot be read or the storage refuses (quota).
export async function stage(file, offset, p) {
  checkParams(p);
  await discardStaged(p.fileId); // anything left of an earlier import that stopped half-way
  return digestSegments(file, offset, p, (batch, buffer) => stageSegment(p, batch, buffer));
}

// Staged files, every one verified, take their places.
export async function adopt(params) {
  for (const p of params) await adoptStaged(p);
}

// Delete what is staged of these file ids.
export async function discard(fileIds) {
  for (const fileId of fileIds) await discardStaged(fileId);
}
