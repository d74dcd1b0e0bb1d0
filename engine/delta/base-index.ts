// The base VM as a dedup dictionary: one pass over its disk and its memory snapshot gives a fingerprint for
// every 4 KiB chunk at its place (to tell "same as the base here" cheaply), a hash index from fingerprint to
// one location (to find a chunk anywhere in the base), and the snapshot's page layout. Overlay creation and
// the handoff sender both classify chunks against it (classifier.ts); it is only read once built, so one
// index serves every handoff of its base.

import { createHash } from 'node:crypto';
import { CloudletError } from '../errors';
import { ChunkIndex } from './chunk-index';
import { CHUNK_SIZE, chunkHash, isZeroChunk, wordsOf } from './hash';
import { ByteSource, RandomAccessFile, WindowReader, fileSource, readSyncExact } from '../io/io';
import { SaveFileLayout, parseSaveStream } from '../image/savefile';

export const ZERO_HASH = chunkHash(new Int32Array(CHUNK_SIZE / 4), 0);
const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

/** Where a chunk found in the base lives. */
export enum BaseSpace {
  Disk = 0,
  Memory = 1,
}

export class BaseIndex {
  private readonly cand = Buffer.alloc(CHUNK_SIZE);
  private readonly diskWin: WindowReader;
  private readonly memWin: WindowReader;

  private constructor(
    readonly disk: RandomAccessFile,
    readonly memory: RandomAccessFile,
    /** Fingerprint → location: a disk chunk index below `diskChunks`, else `diskChunks` + a memory page. */
    readonly index: ChunkIndex,
    /** Fingerprint of each base disk chunk at its place (exactly ZERO_HASH for zero chunks; see placeHash). */
    readonly diskHash: Uint32Array,
    /** Fingerprint of each base memory page at its place (exactly ZERO_HASH for zero or absent pages). */
    readonly memHash: Uint32Array,
    readonly layout: SaveFileLayout,
    readonly digests: { disk: string; memory: string } | null,
  ) {
    this.diskWin = new WindowReader(disk.handle.fd, disk.size, disk.path, 1 << 20);
    this.memWin = new WindowReader(memory.handle.fd, memory.size, memory.path, 4 << 20);
  }

  get diskChunks(): number {
    return this.diskHash.length;
  }

  get memoryPages(): number {
    return this.layout.totalPages;
  }

  /** One past the last location: disk chunks, then memory pages. */
  get end(): number {
    return this.diskHash.length + this.layout.totalPages;
  }

  /**
   * Reads and indexes a base. `digests` also computes the SHA-256 of both files on the way (the overlay
   * format names its base by them); `extraEntries` sizes the index for entries the caller will add.
   */
  static async build(o: { disk: string; memory: string; digests?: boolean; extraEntries?: number; onProgress?: (done: number, total: number) => void }): Promise<BaseIndex> {
    const disk = await RandomAccessFile.open(o.disk, 'cannot open base disk');
    let memory: RandomAccessFile | null = null;
    try {
      const magic = Buffer.alloc(4);
      if (disk.size >= 4) await disk.readExact(magic, 0, 4, 0);
      if (magic.equals(QCOW2_MAGIC)) throw new CloudletError('IMAGE_MISMATCH', `base disk ${o.disk} is qcow2; bases are raw images (qemu-img convert -O raw)`);
      memory = await RandomAccessFile.open(o.memory, 'cannot open base memory snapshot');
      const nDisk = Math.ceil(disk.size / CHUNK_SIZE);
      const index = new ChunkIndex(Math.min(nDisk + Math.ceil(memory.size / CHUNK_SIZE) + (o.extraEntries ?? 0), 1 << 26));
      const diskHash = new Uint32Array(nDisk);
      const total = disk.size + memory.size;
      const progress = o.onProgress ?? (() => undefined);
      const diskSha = o.digests ? createHash('sha256') : null;
      const block = Buffer.allocUnsafe(8 << 20);
      const words = wordsOf(block);
      for (let pos = 0; pos < disk.size; pos += block.length) {
        const n = Math.min(block.length, disk.size - pos);
        readSyncExact(disk.handle.fd, block, 0, n, pos, disk.path);
        diskSha?.update(block.subarray(0, n));
        if (n % CHUNK_SIZE !== 0) block.fill(0, n, Math.ceil(n / CHUNK_SIZE) * CHUNK_SIZE);
        const first = pos / CHUNK_SIZE;
        const count = Math.ceil(n / CHUNK_SIZE);
        for (let i = 0; i < count; i++) {
          const w = i * (CHUNK_SIZE / 4);
          if (isZeroChunk(words, w)) {
            diskHash[first + i] = ZERO_HASH;
            continue;
          }
          const h = chunkHash(words, w);
          diskHash[first + i] = placeHash(h);
          index.addIfAbsent(h, first + i);
        }
        progress(pos + n, total);
      }
      const memSha = o.digests ? createHash('sha256') : null;
      const scratch = Buffer.alloc(CHUNK_SIZE);
      const scratchWords = wordsOf(scratch);
      let memHash: Uint32Array = new Uint32Array(0);
      const src = fileSource(memory, 0, memory.size, 8 << 20);
      const layout = await parseSaveStream(memSha ? hashing(src, memSha) : src, o.memory, (page, data) => {
        if (page >= memHash.length) memHash = grown(memHash, page + 1);
        data.copy(scratch);
        if (isZeroChunk(scratchWords, 0)) return;
        const h = chunkHash(scratchWords, 0);
        memHash[page] = placeHash(h);
        index.addIfAbsent(h, nDisk + page);
      });
      if (memHash.length < layout.totalPages) memHash = grown(memHash, layout.totalPages);
      progress(total, total);
      const digests = diskSha && memSha ? { disk: diskSha.digest('hex'), memory: memSha.digest('hex') } : null;
      return new BaseIndex(disk, memory, index, diskHash, memHash, layout, digests);
    } catch (e) {
      await disk.close();
      await memory?.close();
      throw e;
    }
  }

  /** Reads the base's 4 KiB at `loc` (a location from the index) into `into`. */
  readLocation(loc: number, into: Buffer): void {
    const nDisk = this.diskHash.length;
    if (loc < nDisk) {
      const n = Math.min(CHUNK_SIZE, this.disk.size - loc * CHUNK_SIZE);
      if (n < CHUNK_SIZE) into.fill(0);
      readSyncExact(this.disk.handle.fd, into, 0, n, loc * CHUNK_SIZE, this.disk.path);
    } else {
      const off = this.layout.pageOffsets[loc - nDisk];
      if (off < 0) into.fill(0, 0, CHUNK_SIZE);
      else readSyncExact(this.memory.handle.fd, into, 0, CHUNK_SIZE, off, this.memory.path);
    }
  }

  /** Finds the chunk `data[at..at+4096]` with fingerprint `h` in the base (byte-checked): its space and index there, or null. */
  find(h: number, data: Buffer, at: number): { space: BaseSpace; ref: number } | null {
    const loc = this.index.get(h);
    if (loc < 0 || loc >= this.end) return null;
    this.readLocation(loc, this.cand);
    if (this.cand.compare(data, at, at + CHUNK_SIZE) !== 0) return null;
    const nDisk = this.diskHash.length;
    if (loc < nDisk) return { space: BaseSpace.Disk, ref: loc };
    return { space: BaseSpace.Memory, ref: loc - nDisk };
  }

  /** Whether `data[at..]` equals the base disk's chunk `c` (beyond the base's end, the base reads as zeros). */
  sameDiskChunk(c: number, h: number, data: Buffer, at: number): boolean {
    const baseH = c < this.diskHash.length ? this.diskHash[c] : ZERO_HASH;
    if (baseH !== h) return false;
    if (h === ZERO_HASH) return isZeroChunk(wordsOf(data), at / 4);
    this.diskWin.read(this.cand, 0, CHUNK_SIZE, c * CHUNK_SIZE);
    return this.cand.compare(data, at, at + CHUNK_SIZE) === 0;
  }

  /** Whether `page` (fingerprint `h`, `zero` if all zeros) equals the base memory page `p`. */
  sameMemoryPage(p: number, h: number, zero: boolean, page: Buffer): boolean {
    if (p >= this.layout.totalPages) return false;
    const off = this.layout.pageOffsets[p];
    if (off < 0) return zero;
    if (this.memHash[p] !== h) return false;
    if (h === ZERO_HASH) return zero;
    this.memWin.read(this.cand, 0, CHUNK_SIZE, off);
    return this.cand.compare(page, 0, CHUNK_SIZE) === 0;
  }

  async close(): Promise<void> {
    await this.disk.close();
    await this.memory.close();
  }
}

/**
 * The per-place fingerprint: ZERO_HASH is kept for chunks that are all zeros, so a non-zero chunk that happens
 * to hash to it is nudged (a per-place compare then falls through to a byte check or a miss, never a false
 * "same").
 */
function placeHash(h: number): number {
  return h === ZERO_HASH ? (h ^ 1) >>> 0 : h;
}

function grown(a: Uint32Array, atLeast: number): Uint32Array {
  const b = new Uint32Array(Math.max(atLeast, a.length * 2)).fill(ZERO_HASH);
  b.set(a);
  return b;
}

function hashing(src: ByteSource, h: ReturnType<typeof createHash>): ByteSource {
  return {
    async read() {
      const b = await src.read();
      if (b) h.update(b);
      return b;
    },
  };
}
