// A backup's file sections, streamed (docs/security.md, "Backups"; pyfront/browser/backup.py decides).
//
// Export: `section(p)` gives a stored file's ciphertexts as a Blob (in OPFS the file itself, never read
// into memory) and the SHA-256 of each of its segments, read one at a time; `download(parts, name)` saves
// the sealed document followed by those Blobs as one file, a Blob of parts.
// Import: `head`/`range` read the start of the picked file; `stage(file, offset, p)` reads one section one
// segment at a time, hashes each segment and stages it apart from the stored files (static/js/chunk_store.js);
// Python compares the digests with the sealed manifest, then `adopt` or `discard` the staged files.
// No section is ever whole in memory: two segments (1 MiB each) per call, reused.
//
// p: {fileId (hex), size, chunkSize, chunks, segmentChunks}

import {
  BATCH, TAG, adoptStaged, deleteFile, discardAllStaged, discardStaged, segmentBounds, stageSegment, storedBlob,
  storedLength,
} from "./chunk_store.js";

export const VERSION = 1;
// How long a backup's object URL lives: the browser reads the Blob while the download runs.
const URL_LIFETIME_MS = 10 * 60 * 1000;

function checkParams(p) {
  if (p.segmentChunks !== BATCH) throw new Error(`segments of ${p.segmentChunks} chunks: ${BATCH} expected`);
}

// Each segment of p's stored file in `blob` at `offset`, read in order through one BYOB stream reader into
// two buffers used in turn (a fresh 1 MiB buffer per segment would pile up until the garbage collector
// ran: memory that grows with the file), digested, then handed to `take(batch, bytes)` if given, whose
// promise gives the buffer back (it runs while the next segment is read). Returns the segments' SHA-256
// digests end to end.
async function digestSegments(blob, offset, p, take) {
  const segments = Math.ceil(p.chunks / BATCH);
  const segmentBytes = BATCH * (p.chunkSize + TAG);
  const out = new Uint8Array(32 * segments);
  const reader = blob.slice(offset, offset + storedLength(p)).stream().getReader({ mode: "byob" });
  const spare = [];
  let taking = null;
  try {
    for (let batch = 0; batch < segments; batch++) {
      const [start, end] = segmentBounds(p, batch);
      let buffer = spare.pop() ?? new ArrayBuffer(segmentBytes);
      for (let filled = 0; filled < end - start; ) {
        const { done, value } = await reader.read(new Uint8Array(buffer, filled, end - start - filled));
        if (done) throw new Error(`segment ${batch}: ${end - start} bytes expected, ${filled} read`);
        buffer = value.buffer;
        filled += value.byteLength;
      }
      const bytes = new Uint8Array(buffer, 0, end - start);
      out.set(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), 32 * batch);
      if (take) {
        if (taking) spare.push(await taking);
        taking = take(batch, bytes);
        taking.catch(() => {});
      } else {
        spare.push(buffer);
      }
    }
    if (taking) await taking;
  } finally {
    reader.cancel().catch(() => {});
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

// Delete whatever an earlier import that stopped half-way (a closed page) left staged.
export async function clearStaging() {
  await discardAllStaged();
}

// Stage p's section of the picked `file` (at `offset`): each segment hashed, then stored apart. Returns the
// segments' digests; throws if the file cannot be read or the storage refuses (quota).
export async function stage(file, offset, p) {
  checkParams(p);
  return digestSegments(file, offset, p, (batch, bytes) => stageSegment(p, batch, bytes));
}

// Staged files, every one verified, take their places.
export async function adopt(params) {
  for (const p of params) await adoptStaged(p);
}

// Delete these stored files (the replaced vault's, which the imported chats do not know).
export async function forget(fileIds) {
  for (const fileId of fileIds) await deleteFile(fileId);
}

// Delete what is staged of these file ids.
export async function discard(fileIds) {
  for (const fileId of fileIds) await discardStaged(fileId);
}
