// A file that is still being written, fed to one reader through a named pipe as it grows: the reader starts
// on what is there and waits for the rest, which the writer releases range by range, and the end last. A
// handoff's destination uses it to start the VM restore (libvirt and QEMU read the save file from the pipe)
// before the stream has ended, so the restore is under way when the source's last bytes arrive.
//
// Node has no mkfifo: coreutils' is used. The pipe is opened for writing on libuv's thread pool, where the
// open waits for the reader and each write waits for room in the pipe (that is the backpressure); a reader
// that dies makes the next write fail with EPIPE.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { CloudletError, ioError } from '../errors';

const PIECE = 1 << 20;

/** What a restore reading the memory file as it is written is told (a handoff's receiver). */
export interface MemoryFollower {
  /** The file's first `bytes` are final, and the disk is as the restore may open it (see the callers). */
  begin(bytes: number): void;
  /** The file's first `bytes` are final. */
  grow(bytes: number): void;
  /** The file is whole at `bytes`, and the disk layer is finished. */
  end(bytes: number): void;
}

export class FifoFeed {
  private released = 0;
  private sent = 0;
  private total: number | null = null;
  private stopped: Error | null = null;
  private wake: () => void = () => undefined;
  /** Settles once every byte up to the end has gone into the pipe and the pipe is closed (or the feed failed). */
  readonly done: Promise<void>;

  private constructor(
    /** The named pipe the reader opens. */
    readonly fifo: string,
    /** The file being written, read from the start. */
    readonly source: string,
  ) {
    this.done = this.pump();
    this.done.catch(() => undefined); // the owner awaits it; a failure before then is not unhandled
  }

  /** Makes the pipe (mode 0600; an old one at the path is replaced) and starts feeding `source` into it. */
  static open(fifo: string, source: string): FifoFeed {
    fs.rmSync(fifo, { force: true });
    const r = spawnSync('mkfifo', ['-m', '600', fifo], { encoding: 'utf8' });
    if (r.status !== 0) throw new CloudletError('IO', `cannot make the named pipe ${fifo}: ${(r.stderr || r.error?.message || '').trim()}`);
    return new FifoFeed(fifo, source);
  }

  /**
   * Lets go a reader left waiting on a pipe whose feeder is gone (an engine killed between making the pipe
   * and its open for writing): an open for writing that does not wait succeeds only if a reader is there,
   * and closing it at once gives that reader the end of the file, so it fails instead of waiting forever.
   * Whether a reader was there.
   */
  static releaseReader(fifo: string): boolean {
    let fd: number;
    try {
      fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch {
      return false; // no reader (ENXIO), or no pipe
    }
    fs.closeSync(fd);
    return true;
  }

  /** The source holds its final bytes up to `bytes`: the reader may have them. */
  release(bytes: number): void {
    if (bytes > this.released) this.released = bytes;
    this.wake();
  }

  /** The source is complete at `bytes`: feed the rest, then close the pipe (the reader sees its end). */
  end(bytes: number): void {
    this.release(bytes);
    this.total = bytes;
    this.wake();
  }

  /**
   * Stops feeding: the pipe is closed early, so the reader sees a truncated file and fails. An open still
   * waiting for its reader is let go by opening the pipe's other end here. A write already waiting for room
   * finishes when the reader takes it (a reader that reads nothing more keeps it, until the reader goes).
   */
  abort(reason: string): void {
    if (this.stopped) return;
    this.stopped = new CloudletError('CANCELLED', reason);
    try {
      const fd = fs.openSync(this.fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      setTimeout(() => fs.closeSync(fd), 1000).unref();
    } catch {
      // already gone, or opened by its reader
    }
    this.wake();
  }

  /** Bytes gone into the pipe so far. */
  get bytesSent(): number {
    return this.sent;
  }

  private async pump(): Promise<void> {
    let src: fsp.FileHandle | null = null;
    let out: fsp.FileHandle | null = null;
    try {
      src = await fsp.open(this.source, 'r');
      out = await fsp.open(this.fifo, 'w');
      const buf = Buffer.allocUnsafe(PIECE);
      for (;;) {
        if (this.stopped) throw this.stopped;
        if (this.sent < this.released) {
          const n = Math.min(PIECE, this.released - this.sent);
          const { bytesRead } = await src.read(buf, 0, n, this.sent);
          if (bytesRead !== n) throw new CloudletError('IO', `${this.source}: ${n} bytes were released at byte ${this.sent}, but only ${bytesRead} are there`);
          let w = 0;
          while (w < n) w += (await out.write(buf, w, n - w)).bytesWritten;
          this.sent += n;
          continue;
        }
        if (this.total !== null && this.sent >= this.total) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = () => undefined;
      }
    } catch (e) {
      throw e instanceof CloudletError ? e : ioError('cannot feed the named pipe', this.fifo, e);
    } finally {
      // Never opened for writing (the source could not be read, or the feed stopped first): a reader already
      // waiting in its open is let go by a descriptor that counts as a writer (O_RDWR, which on Linux does
      // not wait), held until the name is gone, so a reader that comes later finds no pipe instead.
      let holder: number | null = null;
      if (!out) {
        try {
          holder = fs.openSync(this.fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
        } catch {
          // no pipe
        }
      }
      await out?.close().catch(() => undefined);
      await src?.close().catch(() => undefined);
      fs.rmSync(this.fifo, { force: true });
      if (holder !== null) fs.closeSync(holder);
    }
  }
}
