// Byte-level I/O shared by the image readers and the overlay codec: exact positional reads that turn short
// reads into typed errors, and a buffered sequential reader that works the same over a file or a stream
// (an overlay can be applied while it is still downloading).

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { CloudletError, ErrorCode, ioError } from '../errors';

/** A file opened for positional reads; short reads become a typed "truncated" error. */
export class RandomAccessFile {
  private constructor(
    readonly path: string,
    readonly handle: fsp.FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string, what = 'cannot open'): Promise<RandomAccessFile> {
    try {
      const h = await fsp.open(path, 'r');
      const st = await h.stat();
      if (!st.isFile() && !st.isBlockDevice()) {
        await h.close();
        throw new CloudletError('INVALID_ARGUMENT', `${path} is not a regular file`);
      }
      return new RandomAccessFile(path, h, st.size);
    } catch (e) {
      throw ioError(what, path, e);
    }
  }

  /** Reads exactly `length` bytes at `position` into `buf[offset..]`, or throws `truncCode`. */
  async readExact(buf: Uint8Array, offset: number, length: number, position: number, truncCode: ErrorCode = 'IO'): Promise<void> {
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.handle.read(buf, offset + done, length - done, position + done));
      } catch (e) {
        throw ioError('cannot read', this.path, e);
      }
      if (n === 0) {
        throw new CloudletError(truncCode, `${this.path}: unexpected end of file at byte ${position + done} (wanted ${length - done} more bytes)`);
      }
      done += n;
    }
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** Anything that hands out successive pieces of a byte stream; null at the end. */
export interface ByteSource {
  read(): Promise<Uint8Array | null>;
  /** Optional zero-copy path: reads up to `max` bytes into buf[offset..]; 0 at the end. */
  readInto?(buf: Buffer, offset: number, max: number): Promise<number>;
}

export function fileSource(file: RandomAccessFile, start = 0, end = file.size, blockSize = 4 << 20): ByteSource {
  let pos = start;
  return {
    async readInto(buf: Buffer, offset: number, max: number) {
      const n = Math.min(max, end - pos);
      if (n <= 0) return 0;
      await file.readExact(buf, offset, n, pos);
      pos += n;
      return n;
    },
    async read() {
      if (pos >= end) return null;
      const n = Math.min(blockSize, end - pos);
      const buf = Buffer.allocUnsafe(n);
      await file.readExact(buf, 0, n, pos);
      pos += n;
      return buf;
    },
  };
}

/**
 * Buffered sequential reader. `ensure(n)` makes n bytes contiguous at `buf[at..]`; the sync getters then
 * consume them. Buffer growth is bounded by the largest single `ensure`, which callers bound by checking
 * declared lengths against limits first.
 */
export class SequentialReader {
  buf: Buffer = Buffer.alloc(0);
  at = 0; // read position inside buf
  private end = 0; // valid bytes in buf
  private base = 0; // stream offset of buf[0]
  private eof = false;

  constructor(
    private readonly source: ByteSource,
    private readonly name: string,
    private readonly truncCode: ErrorCode,
  ) {}

  /** Stream offset of the next unread byte. */
  get position(): number {
    return this.base + this.at;
  }

  get buffered(): number {
    return this.end - this.at;
  }

  /** Returns false at a clean end of stream, otherwise makes at least min(n, remaining) bytes available. */
  async fill(n: number): Promise<boolean> {
    const have = this.end - this.at;
    if (have >= n || this.eof) return have >= n;
    if (this.source.readInto) return this.fillInto(n);
    // Gather pieces until n bytes are there, then join once (a piece-by-piece join would copy O(n^2) bytes
    // when a large frame arrives in small network reads). When nothing is left over and one piece suffices,
    // adopt it without copying.
    const pieces: Buffer[] = [];
    let total = have;
    while (total < n) {
      const chunk = await this.source.read();
      if (chunk === null) {
        this.eof = true;
        break;
      }
      if (chunk.length === 0) continue;
      pieces.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      total += chunk.length;
    }
    if (pieces.length > 0) {
      const nb = have === 0 && pieces.length === 1 ? pieces[0] : Buffer.concat([this.buf.subarray(this.at, this.end), ...pieces], total);
      this.base += this.at;
      this.buf = nb;
      this.at = 0;
      this.end = nb.length;
    }
    return this.end - this.at >= n;
  }

  /** Refill for sources that read into our buffer: move the remainder to the front, read behind it. */
  private async fillInto(n: number): Promise<boolean> {
    const have = this.end - this.at;
    const size = Math.max(n, 8 << 20);
    if (this.buf.length < size) {
      const nb = Buffer.allocUnsafe(size);
      this.buf.copy(nb, 0, this.at, this.end);
      this.buf = nb;
    } else if (this.at > 0) {
      this.buf.copy(this.buf, 0, this.at, this.end);
    }
    this.base += this.at;
    this.at = 0;
    this.end = have;
    while (this.end < n) {
      const got = await this.source.readInto!(this.buf, this.end, this.buf.length - this.end);
      if (got === 0) {
        this.eof = true;
        break;
      }
      this.end += got;
    }
    return this.end >= n;
  }

  async ensure(n: number, what: string): Promise<void> {
    if (this.end - this.at >= n) return;
    if (!(await this.fill(n))) {
      throw new CloudletError(this.truncCode, `${this.name}: ends in the middle of ${what} at byte ${this.position} (needed ${n} bytes, ${this.end - this.at} left)`);
    }
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  u8(): number {
    return this.buf[this.at++];
  }
  be32(): number {
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  le32(): number {
    const v = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  /** Big-endian u64 as [high, low] 32-bit halves (keeps flag bits exact without BigInt). */
  be64parts(): [number, number] {
    const hi = this.buf.readUInt32BE(this.at);
    const lo = this.buf.readUInt32BE(this.at + 4);
    this.at += 8;
    return [hi, lo];
  }
  /** View of the next n bytes (valid until the next fill). */
  take(n: number): Buffer {
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  /** Copies the next n bytes out (for data that must outlive the buffer). */
  async copyOut(n: number, what: string): Promise<Buffer> {
    await this.ensure(n, what);
    return Buffer.from(this.take(n));
  }
}

export function writeBE64(buf: Buffer, value: number, at: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x100000000), at);
  buf.writeUInt32BE(value >>> 0, at + 4);
}

/** Synchronous exact read; hot loops use sync calls because a promise per 4 KiB chunk costs more than the read. */
export function readSyncExact(fd: number, buf: Uint8Array, offset: number, length: number, position: number, path: string): void {
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, offset + done, length - done, position + done);
    } catch (e) {
      throw ioError('cannot read', path, e);
    }
    if (n === 0) throw new CloudletError('IO', `${path}: unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/**
 * Cached window over a file for reads that mostly move forward (base chunks at the same place as the
 * custom's, pages in RAM order). Reads beyond the end of the file return zeros.
 */
export class WindowReader {
  private readonly win: Buffer;
  private start = -1;
  private len = 0;

  constructor(
    readonly fd: number,
    readonly size: number,
    readonly path: string,
    windowBytes = 1 << 20,
  ) {
    this.win = Buffer.allocUnsafe(windowBytes);
  }

  read(into: Buffer, intoOffset: number, length: number, position: number): void {
    if (this.start < 0 || position < this.start || position + length > this.start + this.len) {
      const want = Math.max(length, this.win.length);
      if (want > this.win.length) throw new Error('WindowReader: read larger than window');
      this.start = position;
      const avail = Math.max(0, Math.min(want, this.size - position));
      if (avail > 0) readSyncExact(this.fd, this.win, 0, avail, position, this.path);
      if (avail < want) this.win.fill(0, avail, want);
      this.len = want;
    }
    this.win.copy(into, intoOffset, position - this.start, position - this.start + length);
  }
}

/**
 * Sequential-ish writer with write combining: contiguous writes are gathered into one buffer and flushed in
 * large pwrites. Reads of bytes written earlier (references to earlier literals) are served from the buffer
 * or the file.
 */
export class CoalescingWriter {
  private readonly pend: Buffer;
  private pendStart = 0;
  private pendLen = 0;
  constructor(
    readonly fd: number,
    readonly path: string,
    bufferBytes = 8 << 20,
  ) {
    this.pend = Buffer.allocUnsafe(bufferBytes);
  }

  /** Bytes handed to write and reserve so far (written, or to be at the next flush). */
  accepted = 0;

  write(data: Uint8Array, position: number): void {
    this.accepted += data.length;
    if (this.pendLen > 0 && (position !== this.pendStart + this.pendLen || this.pendLen + data.length > this.pend.length)) this.flush();
    if (data.length >= this.pend.length) {
      this.pwrite(data, position);
      return;
    }
    if (this.pendLen === 0) this.pendStart = position;
    this.pend.set(data, this.pendLen);
    this.pendLen += data.length;
  }

  /** The most `reserve` hands out at once. */
  get capacity(): number {
    return this.pend.length;
  }

  /**
   * Room in the write buffer for `length` bytes at `position`, for the caller to fill at once (before any other
   * call on this writer): data read from elsewhere lands where it is written from, with no copy in between.
   */
  reserve(length: number, position: number): Buffer {
    if (length > this.pend.length) throw new Error('CoalescingWriter: reserve larger than the buffer');
    this.accepted += length;
    if (this.pendLen > 0 && (position !== this.pendStart + this.pendLen || this.pendLen + length > this.pend.length)) this.flush();
    if (this.pendLen === 0) this.pendStart = position;
    const room = this.pend.subarray(this.pendLen, this.pendLen + length);
    this.pendLen += length;
    return room;
  }

  readBack(into: Buffer, intoOffset: number, length: number, position: number): void {
    const pEnd = this.pendStart + this.pendLen;
    if (this.pendLen > 0 && position < pEnd && position + length > this.pendStart) this.flush();
    readSyncExact(this.fd, into, intoOffset, length, position, this.path);
  }

  flush(): void {
    if (this.pendLen === 0) return;
    this.pwrite(this.pend.subarray(0, this.pendLen), this.pendStart);
    this.pendLen = 0;
  }

  private pwrite(data: Uint8Array, position: number): void {
    writeFully(this.fd, data, position, this.path);
  }
}

/** Writes all of `data` at `position` (short writes continued); failures name the file. */
export function writeFully(fd: number, data: Uint8Array, position: number, path: string): void {
  let done = 0;
  try {
    while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, position + done);
  } catch (e) {
    throw ioError('cannot write', path, e);
  }
}

/** Creates a file that must not exist yet, for reading and writing (by its owner only, by default). */
export function openNew(p: string, mode = 0o600): number {
  try {
    return fs.openSync(p, 'wx+', mode);
  } catch (e) {
    throw ioError('cannot create', p, e);
  }
}

/** Makes a rename durable; some filesystems refuse directory fsync, and the rename is atomic regardless. */
export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // see above
  }
}

/**
 * Flushes a file and then its directory (so its name, if it was just renamed into place, lasts too), without
 * blocking the event loop: for a flush that runs alongside other work.
 */
export async function makeDurable(file: string): Promise<void> {
  const h = await fsp.open(file, 'r+');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
  fsyncDir(path.dirname(file));
}

/**
 * Reads a file that this process is still writing (a spool being filled by a download), never past what the
 * writer has said is written, waiting for more until the writer says it has ended (or failed, which fails the
 * reader too). Lets an overlay be applied while it still arrives, from the very bytes the intake checks.
 */
export class GrowingFileSource implements ByteSource {
  private fd = -1;
  private pos = 0;
  private written = 0;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly endSignal: Promise<void>;
  private settleEnd!: (e?: Error) => void;

  constructor(readonly name: string) {
    this.endSignal = new Promise<void>((resolve, reject) => (this.settleEnd = (e) => (e ? reject(e) : resolve())));
    this.endSignal.catch(() => undefined); // a reader that never asks is not an unhandled rejection
  }

  /** The writer's side: the first `bytes` of `file` are written (the file is opened at the first call). */
  grew(file: string, bytes: number): void {
    if (this.fd < 0 && !this.ended && !this.failure) {
      try {
        this.fd = fs.openSync(file, 'r');
      } catch (e) {
        this.fail(ioError('cannot follow', file, e));
        return;
      }
    }
    this.written = bytes;
    this.poke();
  }

  /** The writer has written its last byte and the file checked out. */
  end(): void {
    this.ended = true;
    this.settleEnd();
    this.poke();
  }

  /** The writer gave up: the reader's next read throws `e`. */
  fail(e: Error): void {
    if (this.ended) return;
    this.failure ??= e;
    this.settleEnd(this.failure);
    this.poke();
  }

  /** Resolves when the writer has ended, rejects if it failed. */
  whenEnded(): Promise<void> {
    return this.endSignal;
  }

  async readInto(buf: Buffer, offset: number, max: number): Promise<number> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.pos < this.written) {
        const n = Math.min(max, this.written - this.pos);
        readSyncExact(this.fd, buf, offset, n, this.pos, this.name);
        this.pos += n;
        return n;
      }
      if (this.ended) return 0;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  async read(): Promise<Uint8Array | null> {
    const buf = Buffer.allocUnsafe(4 << 20);
    const n = await this.readInto(buf, 0, buf.length);
    return n === 0 ? null : buf.subarray(0, n);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/**
 * Passes a source through while writing it to a new file and hashing it: a download is checked as it arrives
 * and kept whole on disk, so nothing derived from it is written before it has checked out.
 */
export class SpoolSource implements ByteSource {
  private readonly fd: number;
  private readonly hash = createHash('sha256');
  private written = 0;
  private closed = false;

  /** `limit`: the most bytes the source may deliver (a longer one is OVERLAY_LIMIT). */
  constructor(
    private readonly inner: ByteSource,
    readonly file: string,
    private readonly limit = Number.MAX_SAFE_INTEGER,
    /** Told after each piece is in the file (a GrowingFileSource following it). */
    private readonly onWritten?: (file: string, bytes: number) => void,
  ) {
    try {
      this.fd = fs.openSync(file, 'wx');
    } catch (e) {
      throw ioError('cannot create', file, e);
    }
  }

  get bytes(): number {
    return this.written;
  }

  async read(): Promise<Uint8Array | null> {
    const b = await this.inner.read();
    if (b && b.length > 0) {
      if (this.written + b.length > this.limit) throw new CloudletError('OVERLAY_LIMIT', `${this.file}: the source delivers more than ${this.limit} bytes`);
      this.hash.update(b);
      writeFully(this.fd, b, this.written, this.file);
      this.written += b.length;
      this.onWritten?.(this.file, this.written);
    }
    return b;
  }

  /** Reads to the end (anything the consumer did not need), makes the file durable, returns its digest. */
  async finish(): Promise<{ sha256: string; bytes: number }> {
    while ((await this.read()) !== null) {
      // drain
    }
    fs.fsyncSync(this.fd);
    this.close();
    return { sha256: this.hash.digest('hex'), bytes: this.written };
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      fs.closeSync(this.fd);
    }
  }
}
