"use strict";
/**
 * The worker's open files. Each export writes one file; the process may hold at most
 * `limit` files open at once (its descriptor limit), as the operating system enforces.
 */

const MAX_OPEN_FILES = 8;

class TooManyOpenFiles extends Error {
  constructor(message) {
    super(message);
    this.name = "TooManyOpenFiles";
  }
}

class FileTable {
  constructor(limit = MAX_OPEN_FILES) {
    this.limit = limit;
    this.handles = new Map();
    this.nextFd = 3;
  }

  /** Open `name` for writing; returns its descriptor. */
  open(name) {
    if (this.handles.size >= this.limit) {
      throw new TooManyOpenFiles(
        `cannot open ${name}: ${this.handles.size} files already open (limit ${this.limit})`,
      );
    }
    const fd = this.nextFd++;
    this.handles.set(fd, { name, chunks: [] });
    return fd;
  }

  write(fd, text) {
    const handle = this.handles.get(fd);
    if (handle === undefined) {
      throw new Error(`write to a closed file (fd ${fd})`);
    }
    handle.chunks.push(text);
  }

  /** Close `fd`; returns what was written to it. */
  close(fd) {
    const handle = this.handles.get(fd);
    this.handles.delete(fd);
    return handle === undefined ? "" : handle.chunks.join("");
  }

  get openCount() {
    return this.handles.size;
  }
}

module.exports = { FileTable, MAX_OPEN_FILES, TooManyOpenFiles };
