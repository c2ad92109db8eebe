// Parley's file chunk store in the Origin Private File System (docs/files.md, "Storage"), run by
// static/js/chunk_store.js in a dedicated worker: FileSystemSyncAccessHandle exists only in workers, and
// its reads and writes are plain file calls, without IndexedDB's structured clone, value wrapping and
// database work (about a tenth of the CPU per stored MiB in a profile on disk, docs/benchmarks.md).
//
// One file per transfer, `parley-files/<file id>`, holding the file's chunk ciphertexts (AES-256-GCM under
// the file's key, exactly as they came off the wire) end to end at their fixed offsets. A file being
// written is sized to its whole length at once (one quota request, and a full disk fails the transfer
// before its first chunk rather than in the middle). This worker keeps one open handle per file; a
// handle locks its file, so only this page's worker touches it.
//
// A backup being imported stages its files in `parley-staging/<file id>` (`area: "staging"` on write,
// close and delete) and moves them into `parley-files` only once every one verified (`adopt`).
//
// Message in:  {id, op: "probe"}
//              {id, op: "write", fileId, total, at, buffer, length, area} (the buffer is transferred,
//              and back in the answer for the next write; `length`: its first bytes only)
//              {id, op: "read", fileId, at, length}
//              {id, op: "close" | "delete", fileId, area}
//              {id, op: "adopt", fileId} (parley-staging/<file id> becomes parley-files/<file id>)
//              {id, op: "clear"} (every staged file deleted)
// Message out: {id, ok: true, value} (a read's value: an ArrayBuffer, transferred, or null when the file
//              or the range is not there; a write's: its buffer) | {id, ok: false, error}

const DIRECTORIES = { files: "parley-files", staging: "parley-staging" };
const FILE_ID = /^[0-9a-f]{32}$/;
// Bytes copied per call when a staged file is adopted by copying (a browser without FileSystemHandle.move).
const COPY_BYTES = 1024 * 1024;

const directories = new Map();
// Open handles by `keyOf(area, file id)`.
const handles = new Map();

function keyOf(area, fileId) {
  return `${area}/${fileId}`;
}

// All of `bytes` written at byte `at` (a sync access handle may write less than asked).
function writeAll(handle, bytes, at) {
  for (let written = 0; written < bytes.length; ) {
    const count = handle.write(bytes.subarray(written), { at: at + written });
    if (count <= 0) throw new Error(`could not write at byte ${at + written}`);
    written += count;
  }
}

function folder(area = "files") {
  const name = DIRECTORIES[area];
  if (name === undefined) return Promise.reject(new Error(`no area ${area}`));
  let directory = directories.get(area);
  if (directory === undefined) {
    directory = navigator.storage.getDirectory().then((root) => root.getDirectoryHandle(name, { create: true }));
    directory.catch(() => directories.delete(area));
    directories.set(area, directory);
  }
  return directory;
}

function checkId(fileId) {
  if (typeof fileId !== "string" || !FILE_ID.test(fileId)) throw new Error("not a file id");
}

// The open handle of fileId's file, or null when the file does not exist and `create` is false.
// (Operations run one at a time, so no two calls open the same file.)
async function handleOf(fileId, create, area = "files") {
  checkId(fileId);
  let handle = handles.get(keyOf(area, fileId));
  if (handle === undefined) {
    let file;
    try {
      file = await (await folder(area)).getFileHandle(fileId, { create });
    } catch (error) {
      if (!create && error.name === "NotFoundError") return null;
      throw error;
    }
    handle = await file.createSyncAccessHandle();
    handles.set(keyOf(area, fileId), handle);
  }
  return handle;
}

function closeHandle(fileId, area = "files") {
  const handle = handles.get(keyOf(area, fileId));
  if (handle === undefined) return;
  handles.delete(keyOf(area, fileId));
  try {
    handle.flush();
  } finally {
    handle.close();
  }
}

// One write call per segment: in a private window's in-memory file system each call is a trip to the
// browser process, so sixteen calls of 64 KiB cost about three times one of 1 MiB.
async function write({ fileId, total, at, buffer, length, area }) {
  const handle = await handleOf(fileId, true, area);
  if (handle.getSize() < total) handle.truncate(total);
  writeAll(handle, new Uint8Array(buffer, 0, length ?? buffer.byteLength), at);
  return buffer;
}

async function read({ fileId, at, length }) {
  const handle = await handleOf(fileId, false);
  if (handle === null || handle.getSize() < at + length) return null;
  const buffer = new ArrayBuffer(length);
  const bytes = new Uint8Array(buffer);
  for (let filled = 0; filled < length; ) {
    const count = handle.read(bytes.subarray(filled), { at: at + filled });
    if (count <= 0) return null;
    filled += count;
  }
  return buffer;
}

async function remove({ fileId, area = "files" }) {
  checkId(fileId);
  const handle = handles.get(keyOf(area, fileId));
  handles.delete(keyOf(area, fileId));
  handle?.close();
  try {
    await (await folder(area)).removeEntry(fileId);
  } catch (error) {
    if (error.name !== "NotFoundError") throw error;
  }
  return null;
}

// Every staged file (what an import that stopped half-way, a closed page, left behind).
async function clear() {
  for (const key of [...handles.keys()].filter((name) => name.startsWith("staging/"))) {
    closeHandle(key.slice("staging/".length), "staging");
  }
  const directory = await folder("staging");
  const names = [];
  for await (const name of directory.keys()) names.push(name);
  for (const name of names) await directory.removeEntry(name, { recursive: true });
  return null;
}

// A staged file (every byte of it verified) takes the place of parley-files/<file id>: moved where the
// browser can (FileSystemHandle.move), else copied 1 MiB at a time and the staged one removed.
async function adopt({ fileId }) {
  checkId(fileId);
  closeHandle(fileId, "staging");
  await remove({ fileId, area: "files" });
  const staged = await (await folder("staging")).getFileHandle(fileId);
  if (typeof staged.move === "function") {
    await staged.move(await folder("files"), fileId);
    return null;
  }
  const from = await handleOf(fileId, false, "staging");
  const to = await handleOf(fileId, true, "files");
  const buffer = new Uint8Array(COPY_BYTES);
  const size = from.getSize();
  to.truncate(size);
  for (let at = 0; at < size; ) {
    const count = from.read(buffer.subarray(0, Math.min(COPY_BYTES, size - at)), { at });
    if (count <= 0) throw new Error(`could not read the staged file at byte ${at}`);
    writeAll(to, buffer.subarray(0, count), at);
    at += count;
  }
  closeHandle(fileId, "files");
  await remove({ fileId, area: "staging" });
  return null;
}

const OPERATIONS = {
  probe: async () => {
    await folder();
    return null;
  },
  write,
  read,
  close: async ({ fileId, area }) => {
    checkId(fileId);
    closeHandle(fileId, area);
    return null;
  },
  delete: remove,
  adopt,
  clear,
};

// Operations run one at a time, in the order they came: a write, then a read of what it wrote.
let queue = Promise.resolve();

self.addEventListener("message", (event) => {
  const message = event.data;
  queue = queue.then(async () => {
    const operation = OPERATIONS[message?.op];
    try {
      if (operation === undefined) throw new Error(`unknown operation ${message?.op}`);
      const value = await operation(message);
      self.postMessage({ id: message.id, ok: true, value }, value instanceof ArrayBuffer ? [value] : []);
    } catch (error) {
      self.postMessage({ id: message?.id, ok: false, error: `${error?.name ?? "Error"}: ${error?.message ?? error}` });
    }
  });
});
