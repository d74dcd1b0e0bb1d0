// zstd compression of literal frames on worker threads, so hashing and I/O on the main thread overlap with
// compression. Results come back in submission order; the number of frames in flight is bounded, which
// bounds memory whatever the image size.

import { Worker } from 'node:worker_threads';
import * as zstd from 'zstd-napi';
import * as zstdBinding from 'zstd-napi/binding';
import { CloudletError } from '../errors';

// The worker is plain JavaScript given as a string so the same code runs from compiled output and under
// ts-jest (which has no .js file for a TypeScript worker).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zstd = require(workerData.zstdPath);
const c = new zstd.Compressor();
c.setParameters({ compressionLevel: workerData.level, checksumFlag: true, contentSizeFlag: true });
let level = workerData.level;
parentPort.on('message', (m) => {
  try {
    if (m.level !== undefined && m.level !== level) {
      level = m.level;
      c.setParameters({ compressionLevel: level });
    }
    const out = c.compress(new Uint8Array(m.data));
    const ab = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out.buffer : out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
    parentPort.postMessage({ id: m.id, out: ab }, [ab]);
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String(e && e.message || e) });
  }
});
`;

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

export class CompressorPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly order: Promise<Buffer>[] = [];
  private nextId = 0;
  private rr = 0;
  private readonly inline: zstd.Compressor | null = null;

  /** `threads` 0 compresses on the calling thread (used for small inputs and tests). */
  constructor(
    readonly level: number,
    threads: number,
  ) {
    if (threads <= 0) {
      this.inline = new zstd.Compressor();
      this.inline.setParameters({ compressionLevel: level, checksumFlag: true, contentSizeFlag: true });
      return;
    }
    const zstdPath = require.resolve('zstd-napi');
    for (let i = 0; i < threads; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { zstdPath, level } });
      w.on('message', (m: { id: number; out?: ArrayBuffer; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined || !m.out) p.reject(new CloudletError('IO', `compression failed: ${m.error}`));
        else p.resolve(Buffer.from(m.out));
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      this.workers.push(w);
    }
  }

  /** Frames submitted but not yet taken. */
  get inFlight(): number {
    return this.order.length;
  }

  /** Queues `data` (ownership passes to the pool; do not reuse it), at the pool's level or `level`. */
  submit(data: Buffer, level?: number): void {
    if (this.inline) {
      if (level !== undefined) this.inline.setParameters({ compressionLevel: level });
      this.order.push(Promise.resolve(this.inline.compress(data)));
      return;
    }
    const id = this.nextId++;
    const ab = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data.buffer : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    const w = this.workers[this.rr++ % this.workers.length];
    this.order.push(
      new Promise<Buffer>((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        w.postMessage({ id, data: ab, level }, [ab as ArrayBuffer]);
      }),
    );
  }

  /** The oldest queued frame's compressed bytes. */
  async takeOldest(): Promise<Buffer> {
    const p = this.order.shift();
    if (!p) throw new Error('no frame in flight');
    return p;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Decompresses one frame into a buffer of exactly `expected` bytes; anything else (a frame that declares
 * another size, fails its checksum or is not zstd) is a corrupt overlay. The declared size is checked before
 * allocating, so a hostile frame cannot make us allocate more than `expected`.
 */
export function decompressFrame(frame: Uint8Array, expected: number, into: Buffer, what: string): Buffer {
  let declared: number | null;
  try {
    declared = zstdBinding.getFrameContentSize(frame);
  } catch (e) {
    throw new CloudletError('OVERLAY_CORRUPT', `${what}: not a zstd frame (${(e as Error).message})`);
  }
  if (declared !== expected) throw new CloudletError('OVERLAY_CORRUPT', `${what}: frame declares ${declared} bytes, the table says ${expected}`);
  if (into.length < expected) throw new Error('decompression buffer too small');
  let n: number;
  try {
    n = zstdBinding.decompress(into.subarray(0, expected), frame);
  } catch (e) {
    throw new CloudletError('OVERLAY_CORRUPT', `${what}: ${(e as Error).message}`);
  }
  if (n !== expected) throw new CloudletError('OVERLAY_CORRUPT', `${what}: decompressed to ${n} bytes, expected ${expected}`);
  return into.subarray(0, expected);
}

export function compressOnce(data: Uint8Array, level: number): Buffer {
  const c = new zstd.Compressor();
  c.setParameters({ compressionLevel: level, checksumFlag: true, contentSizeFlag: true });
  return c.compress(data);
}
