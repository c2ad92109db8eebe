// Where a file's chunk ciphertexts are stored (docs/files.md, "Storage"), for static/js/files.js.
//
// A segment (BATCH chunks, 1 MiB) is written and read whole. Two places:
//   * the Origin Private File System, through static/js/chunk_worker.js: one file per transfer, the
//     ciphertexts end to end at fixed offsets (chunk i at i * (chunk size + 16)). Used for every new file
//     where the browser has it: in a profile on disk it costs about a tenth of IndexedDB's CPU per stored
//     MiB (docs/benchmarks.md, "Files", "Fourth pass");
//   * IndexedDB (`parley-files`, store `chunks`): one record per segment, keyed `<file id>/<segment>`. Used
//     where there is no OPFS (a browser's private mode) and for files stored there before.
// A file stays where its first segment went: `placeOf` looks once per file and page.
//
// For a backup (static/js/backup.js): `storedBlob` gives a stored file's ciphertexts as a Blob (the OPFS
// file itself, on disk; or the IndexedDB segments), and an import stages each file apart (`stageSegment`:
// OPFS `parley-staging/<file id>`, or IndexedDB records `staged-<file id>/<segment>`) until every one
// verified: then `adoptStaged` puts it in its place, or `discardStaged` deletes it.

export const BATCH = 16;
export const TAG = 16;
const DB_NAME = "parley-files";
const STORE = "chunks";
const WORKER_URL = "/static/js/chunk_worker.js";
// The OPFS directory of stored files (chunk_worker.js's "files" area).
const DIRECTORY = "parley-files";

// --- IndexedDB -------------------------------------------------------------------------------------

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

function fileRange(fileId) {
  return IDBKeyRange.bound(`${fileId}/`, `${fileId}/\uffff`);
}

const STAGED = "staged-";

function request(mode, act) {
  return openDb().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const pending = act(tx.objectStore(STORE));
    if (mode === "readwrite") tx.commit();
    tx.oncomplete = () => resolve(pending?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("IndexedDB request aborted"));
  }));
}

// The bytes `parts` (Uint8Arrays) take end to end.
function lengthOf(parts) {
  return parts.reduce((sum, part) => sum + part.byteLength, 0);
}

// `parts` copied end to end into `buffer` (exactly their length); returns it.
function joinInto(buffer, parts) {
  const out = new Uint8Array(buffer);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return buffer;
}

// One scratch buffer for joining a segment's chunks: put() copies it (structured clone) when called.
const scratch = { buffer: null };

function joined(parts) {
  const total = lengthOf(parts);
  if (!scratch.buffer || scratch.buffer.byteLength !== total) scratch.buffer = new ArrayBuffer(total);
  return joinInto(scratch.buffer, parts);
}

const indexedDb = {
  name: "IndexedDB",
  write: (p, batch, parts) => request("readwrite", (store) => {
    store.put(joined(parts), batchKey(p.fileId, batch));
  }),
  // A segment's record: one ArrayBuffer of its ciphertexts end to end, or (written by earlier versions)
  // an Array of them or a Blob of them (docs/benchmarks.md, "Third pass").
  read: async (p, batch) => {
    let record = await request("readonly", (store) => store.get(batchKey(p.fileId, batch)));
    if (record instanceof Blob) record = await record.arrayBuffer();
    if (Array.isArray(record)) record = joined(record.map((chunk) => new Uint8Array(chunk))).slice(0);
    return record instanceof ArrayBuffer ? record : null;
  },
  close: async () => {},
  delete: (fileId) => request("readwrite", (store) => {
    store.delete(fileRange(fileId));
  }),
  has: (fileId) => request("readonly", (store) => store.getKey(fileRange(fileId))).then((key) => key !== undefined),
};

// --- the Origin Private File System, in a worker ----------------------------------------------------

let worker = null;
let nextId = 0;
const calls = new Map();

function failAll(message) {
  for (const { reject } of calls.values()) reject(new Error(message));
  calls.clear();
}

function startWorker() {
  const started = new Worker(WORKER_URL);
  started.addEventListener("message", (event) => {
    const { id, ok, value, error } = event.data;
    const call = calls.get(id);
    if (call === undefined) return;
    calls.delete(id);
    if (ok) call.resolve(value);
    else call.reject(new Error(error));
  });
  started.addEventListener("error", (event) => {
    event.preventDefault();
    worker = null; // the next call starts a new one
    failAll(`the file store stopped: ${event.message || "worker error"}`);
  });
  return started;
}

function call(message, transfer = []) {
  if (worker === null) worker = startWorker();
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    calls.set(id, { resolve, reject });
    worker.postMessage({ ...message, id }, transfer);
  });
}

// The bytes p's file takes stored: its size plus a tag per chunk.
export function storedLength(p) {
  return p.size + p.chunks * TAG;
}

// [start, end) of segment `batch` in p's stored file (chunk i at i * (chunk size + 16)).
export function segmentBounds(p, batch) {
  const start = batch * BATCH * (p.chunkSize + TAG);
  return [start, Math.min(storedLength(p), start + BATCH * (p.chunkSize + TAG))];
}

// Buffers a segment is joined into for the worker; each comes back with the write's answer.
const spare = [];
const SPARE_BUFFERS = 8;

function segmentBuffer(parts) {
  const total = lengthOf(parts);
  const index = spare.findIndex((buffer) => buffer.byteLength === total);
  return joinInto(index >= 0 ? spare.splice(index, 1)[0] : new ArrayBuffer(total), parts);
}

const originPrivate = {
  name: "OPFS",
  write: async (p, batch, parts) => {
    const buffer = segmentBuffer(parts);
    const message = { op: "write", fileId: p.fileId, total: storedLength(p), at: segmentBounds(p, batch)[0], buffer };
    const back = await call(message, [buffer]);
    if (back instanceof ArrayBuffer && spare.length < SPARE_BUFFERS) spare.push(back);
  },
  read: (p, batch) => {
    const [start, end] = segmentBounds(p, batch);
    return call({ op: "read", fileId: p.fileId, at: start, length: end - start });
  },
  close: (fileId) => call({ op: "close", fileId }),
  delete: (fileId) => call({ op: "delete", fileId }),
};

let available = null;

// Can this page use the Origin Private File System? (Not in some private modes.)
function originPrivateAvailable() {
  if (available === null) {
    available = typeof navigator.storage?.getDirectory !== "function" || typeof Worker !== "function"
      ? Promise.resolve(false)
      : call({ op: "probe" }).then(() => true, () => false);
  }
  return available;
}

// --- a file's place ---------------------------------------------------------------------------------

const places = new Map();

// Where fileId's segments are (or go): IndexedDB if any of its records is there, else OPFS if the page
// has it, else IndexedDB.
function placeOf(fileId) {
  let place = places.get(fileId);
  if (place === undefined) {
    place = indexedDb.has(fileId).then(async (there) => (there || !(await originPrivateAvailable()) ? indexedDb : originPrivate));
    place.catch(() => places.delete(fileId));
    places.set(fileId, place);
  }
  return place;
}

// Store segment `batch` of p's file: `parts` are its chunks' ciphertexts in order (Uint8Arrays, which must
// not change until this settles). Resolves once it is written.
export async function writeSegment(p, batch, parts) {
  return (await placeOf(p.fileId)).write(p, batch, parts);
}

// Segment `batch` of p's file: an ArrayBuffer of its chunks' ciphertexts end to end, or null when it is not
// stored.
export async function readSegment(p, batch) {
  return (await placeOf(p.fileId)).read(p, batch);
}

// Nothing more is written to fileId for now (its transfer ended): the file is released.
export async function closeFile(fileId) {
  const place = places.get(fileId);
  if (place !== undefined) await (await place).close(fileId);
}

// Delete every stored segment of fileId, wherever it is.
export async function deleteFile(fileId) {
  places.delete(fileId);
  await indexedDb.delete(fileId);
  if (await originPrivateAvailable()) await originPrivate.delete(fileId);
}

// Where fileId is stored, for tests and the benchmark: "IndexedDB", "OPFS" or null when nothing of it is.
export async function storedIn(fileId) {
  if (await indexedDb.has(fileId)) return indexedDb.name;
  if (await originPrivateAvailable()) {
    const probe = await originPrivate.read({ fileId, chunkSize: 0, size: 0, chunks: 0 }, 0).catch(() => null);
    if (probe !== null) return originPrivate.name;
  }
  return null;
}

// --- backups ----------------------------------------------------------------------------------------

// p's stored ciphertexts end to end as a Blob (nothing read into memory: in OPFS the file itself), or
// null when the file is not stored here whole-sized.
export async function storedBlob(p) {
  const place = await placeOf(p.fileId);
  if (place === originPrivate) {
    await originPrivate.close(p.fileId); // the worker's handle would lock the file
    let file;
    try {
      const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle(DIRECTORY);
      file = await (await folder.getFileHandle(p.fileId)).getFile();
    } catch (error) {
      if (error.name === "NotFoundError") return null;
      throw error;
    }
    return file.size === storedLength(p) ? file : null;
  }
  const parts = [];
  for (let batch = 0; batch * BATCH < p.chunks; batch++) {
    const record = await indexedDb.read(p, batch);
    if (record === null) return null;
    parts.push(new Blob([record]));
  }
  const out = new Blob(parts);
  return out.size === storedLength(p) ? out : null;
}

let stagingPlace = null;

function staging() {
  if (stagingPlace === null) stagingPlace = originPrivateAvailable().then((opfs) => (opfs ? originPrivate : indexedDb));
  return stagingPlace;
}

// Stage segment `batch` of p's file (`bytes`: a Uint8Array of its ciphertexts end to end, from the start
// of its buffer) apart from the stored files. Resolves, once written, with that buffer to use again.
export async function stageSegment(p, batch, bytes) {
  if (await staging() === originPrivate) {
    const message = {
      op: "write", area: "staging", fileId: p.fileId, total: storedLength(p), at: segmentBounds(p, batch)[0],
      buffer: bytes.buffer, length: bytes.byteLength,
    };
    return call(message, [bytes.buffer]);
  }
  await request("readwrite", (store) => {
    store.put(bytes.buffer.slice(0, bytes.byteLength), STAGED + batchKey(p.fileId, batch));
  });
  return bytes.buffer;
}

// p's staged file (all of it verified) becomes its stored file, replacing any stored copy of that id.
export async function adoptStaged(p) {
  places.delete(p.fileId);
  await indexedDb.delete(p.fileId);
  if (await staging() === originPrivate) {
    await call({ op: "adopt", fileId: p.fileId });
    return;
  }
  if (await originPrivateAvailable()) await originPrivate.delete(p.fileId);
  for (let batch = 0; batch * BATCH < p.chunks; batch++) {
    const record = await request("readonly", (store) => store.get(STAGED + batchKey(p.fileId, batch)));
    await request("readwrite", (store) => {
      store.put(record, batchKey(p.fileId, batch));
      store.delete(STAGED + batchKey(p.fileId, batch));
    });
  }
}

// Delete whatever is staged of fileId.
export async function discardStaged(fileId) {
  await request("readwrite", (store) => {
    store.delete(IDBKeyRange.bound(`${STAGED}${fileId}/`, `${STAGED}${fileId}/\uffff`));
  });
  if (await originPrivateAvailable()) await call({ op: "delete", area: "staging", fileId });
}

// Delete everything staged, of any file (left by an import that stopped half-way).
export async function discardAllStaged() {
  await request("readwrite", (store) => {
    store.delete(IDBKeyRange.bound(STAGED, `${STAGED}\uffff`));
  });
  if (await originPrivateAvailable()) await call({ op: "clear" });
}
