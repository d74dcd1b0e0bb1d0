// Overlay application: base VM + overlay -> the customized VM's disk (a qcow2 layer on the base disk) and
// memory snapshot (a libvirt save file). The overlay is read strictly front to back, so it can come from a
// download in progress. Outputs are written under temporary names and renamed into place only after the
// whole-file digest has checked out; on any error they are removed.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudletError, ioError } from '../errors';
import { decompressFrame } from './compress';
import { fileDigest } from './digest';
import {
  ChunkKind,
  HEADER_BYTES,
  OverlayHeader,
  OverlayIndex,
  OverlayMeta,
  TRAILER_BYTES,
  TRAILER_MAGIC,
  baseIdOf,
  decodeHeader,
  decodeIndex,
  readLE64,
  validateMeta,
} from './format';
import { CHUNK_SIZE } from './hash';
import { ByteSource, CoalescingWriter, RandomAccessFile, SequentialReader, WindowReader, fileSource, fsyncDir, readSyncExact } from './io';
import { planQcow2Layout } from './qcow2';
import { RamBlock, canonicalPrefix, canonicalSuffix, parseSaveFile, writePageRecordHeader } from './savefile';

export interface ApplyOverlayOptions {
  /** Overlay file path, or a byte stream (e.g. an HTTP body still downloading). */
  overlay: string | ByteSource;
  baseDisk: string;
  baseMemory: string;
  outputDisk: string;
  outputMemory: string;
  /** Backing file name written into the rebuilt qcow2 (default: the base disk's path relative to it). */
  backingFile?: string;
  /** Base digests already known to be right (e.g. verified by the store at import); else hashed (cached). */
  baseDigests?: { disk: string; memory: string };
  onProgress?: (p: { phase: 'apply'; done: number; total: number }) => void;
}

export interface ApplyResult {
  meta: OverlayMeta;
  diskBytes: number;
  memoryBytes: number;
  seconds: number;
}

/** Reads the overlay front to back and keeps a running digest of everything consumed. */
class OverlayStream {
  readonly digest = createHash('sha256');
  readonly reader: SequentialReader;
  constructor(source: ByteSource, readonly name: string) {
    this.reader = new SequentialReader(source, name, 'OVERLAY_TRUNCATED');
  }
  async take(n: number, what: string): Promise<Buffer> {
    await this.reader.ensure(n, what);
    const v = this.reader.take(n);
    this.digest.update(v);
    return v;
  }
  get position(): number {
    return this.reader.position;
  }
}

/** Header, metadata and index: everything before the frames. */
export interface OverlayHead {
  header: OverlayHeader;
  meta: OverlayMeta;
  index: OverlayIndex;
}

async function readHead(s: OverlayStream): Promise<OverlayHead> {
  const header = decodeHeader(Buffer.from(await s.take(HEADER_BYTES, 'the header')), s.name);
  const metaBytes = await s.take(header.metaLength, 'the metadata');
  let metaJson: unknown;
  try {
    metaJson = JSON.parse(metaBytes.toString('utf8'));
  } catch {
    throw new CloudletError('OVERLAY_CORRUPT', `${s.name}: metadata is not valid JSON`);
  }
  const meta = validateMeta(metaJson, s.name);
  if (!baseIdOf(meta.base.disk.sha256, meta.base.memory.sha256).equals(header.baseId)) {
    throw new CloudletError('OVERLAY_CORRUPT', `${s.name}: header base id does not match the metadata's base digests`);
  }
  const expectedLen = HEADER_BYTES + header.metaLength + header.indexCompressedLength + meta.frames.compressedBytes + TRAILER_BYTES;
  if (expectedLen !== header.fileLength) throw new CloudletError('OVERLAY_CORRUPT', `${s.name}: parts add up to ${expectedLen} bytes, header says ${header.fileLength}`);
  const indexCompressed = await s.take(header.indexCompressedLength, 'the index');
  const raw = Buffer.allocUnsafe(header.indexRawLength);
  decompressFrame(indexCompressed, header.indexRawLength, raw, `${s.name}: index`);
  const index = decodeIndex(raw, meta, s.name);
  return { header, meta, index };
}

/** Reads and checks the trailer, then insists the stream ends there. */
async function readTrailer(s: OverlayStream, header: OverlayHeader): Promise<void> {
  const at = s.position;
  await s.reader.ensure(TRAILER_BYTES, 'the trailer');
  const t = s.reader.take(TRAILER_BYTES);
  if (!t.subarray(0, 8).equals(TRAILER_MAGIC)) throw new CloudletError('OVERLAY_CORRUPT', `${s.name}: trailer not found at byte ${at}`);
  s.digest.update(t.subarray(0, 16));
  const len = readLE64(t, 8, s.name);
  if (len !== header.fileLength || at + TRAILER_BYTES !== len) throw new CloudletError('OVERLAY_CORRUPT', `${s.name}: trailer says ${len} bytes, header says ${header.fileLength}`);
  if (!s.digest.digest().equals(t.subarray(16, 48))) throw new CloudletError('OVERLAY_CORRUPT', `${s.name}: SHA-256 digest mismatch (the overlay was altered or damaged)`);
  if (!(await s.reader.atEnd())) throw new CloudletError('OVERLAY_CORRUPT', `${s.name}: unexpected bytes after the trailer`);
}

/** Hands out literal chunks in order, decompressing one frame at a time. */
class LiteralFeed {
  private frame = 0;
  private buf: Buffer = Buffer.alloc(0);
  private next = 0;
  private have = 0;
  private scratch: Buffer = Buffer.alloc(0);
  taken = 0;

  constructor(private readonly s: OverlayStream, private readonly index: OverlayIndex) {}

  async take(): Promise<Buffer> {
    if (this.next === this.have) {
      if (this.frame >= this.index.frameChunks.length) throw new CloudletError('OVERLAY_CORRUPT', `${this.s.name}: more literals used than frames hold`);
      const chunks = this.index.frameChunks[this.frame];
      const comp = await this.s.take(this.index.frameCompressed[this.frame], `frame ${this.frame}`);
      if (this.scratch.length < chunks * CHUNK_SIZE) this.scratch = Buffer.allocUnsafe(chunks * CHUNK_SIZE);
      this.buf = decompressFrame(comp, chunks * CHUNK_SIZE, this.scratch, `${this.s.name}: frame ${this.frame}`);
      this.frame++;
      this.next = 0;
      this.have = chunks;
    }
    this.taken++;
    return this.buf.subarray(this.next++ * CHUNK_SIZE, this.next * CHUNK_SIZE);
  }

  get exhausted(): boolean {
    return this.frame === this.index.frameChunks.length && this.next === this.have;
  }
}

export async function applyOverlay(opts: ApplyOverlayOptions): Promise<ApplyResult> {
  const t0 = process.hrtime.bigint();
  const name = typeof opts.overlay === 'string' ? opts.overlay : 'overlay stream';
  const progress = opts.onProgress ?? (() => undefined);
  const closers: (() => Promise<void> | void)[] = [];
  const suffix = `.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmpDisk = opts.outputDisk + suffix;
  const tmpMem = opts.outputMemory + suffix;
  let committed = false;
  try {
    let source: ByteSource;
    let overlaySize = -1;
    if (typeof opts.overlay === 'string') {
      const f = await RandomAccessFile.open(opts.overlay, 'cannot open overlay');
      closers.push(() => f.close());
      source = fileSource(f, 0, f.size, 4 << 20);
      overlaySize = f.size;
    } else {
      source = opts.overlay;
    }
    const s = new OverlayStream(source, name);
    const { header, meta, index } = await readHead(s);
    if (overlaySize >= 0 && overlaySize !== header.fileLength) {
      throw new CloudletError(overlaySize < header.fileLength ? 'OVERLAY_TRUNCATED' : 'OVERLAY_CORRUPT', `${name}: file is ${overlaySize} bytes, its header says ${header.fileLength}`);
    }

    // --- The base must be the one the overlay was made against -----------------------------------------
    const baseDisk = await RandomAccessFile.open(opts.baseDisk, 'cannot open base disk');
    closers.push(() => baseDisk.close());
    const baseMem = await RandomAccessFile.open(opts.baseMemory, 'cannot open base memory snapshot');
    closers.push(() => baseMem.close());
    const digests = opts.baseDigests ?? { disk: await fileDigest(opts.baseDisk), memory: await fileDigest(opts.baseMemory) };
    if (baseDisk.size !== meta.base.disk.size || digests.disk !== meta.base.disk.sha256 || digests.memory !== meta.base.memory.sha256) {
      throw new CloudletError(
        'OVERLAY_WRONG_BASE',
        `${name} was made against base disk ${meta.base.disk.sha256.slice(0, 16)}… / memory ${meta.base.memory.sha256.slice(0, 16)}…, ` +
          `but the base given is disk ${digests.disk.slice(0, 16)}… / memory ${digests.memory.slice(0, 16)}…`,
      );
    }
    const baseLayout = await parseSaveFile(opts.baseMemory);
    const baseDiskChunks = Math.ceil(baseDisk.size / CHUNK_SIZE);
    for (let i = 0; i < index.kinds.length; i++) {
      const k = index.kinds[i];
      if (k === ChunkKind.BaseDisk && index.refs[i] >= baseDiskChunks) throw new CloudletError('OVERLAY_CORRUPT', `${name}: entry ${i} refers to base disk chunk ${index.refs[i]}, beyond the base`);
      if (k === ChunkKind.BaseMemory && index.refs[i] >= baseLayout.totalPages) throw new CloudletError('OVERLAY_CORRUPT', `${name}: entry ${i} refers to base page ${index.refs[i]}, beyond the base`);
    }
    const blocks: RamBlock[] = [];
    let pages = 0;
    for (const b of meta.memory.blocks) {
      blocks.push({ id: b.id, length: b.length, firstPage: pages });
      pages += b.length / CHUNK_SIZE;
    }
    if (meta.memory.sameLayoutAsBase) {
      const same = baseLayout.blocks.length === blocks.length && baseLayout.blocks.every((b, i) => b.id === blocks[i].id && b.length === blocks[i].length);
      if (!same) throw new CloudletError('OVERLAY_WRONG_BASE', `${name}: the base memory snapshot's RAM layout differs from the one the overlay was made against`);
    }

    // --- Plan the rebuilt disk ---------------------------------------------------------------------------
    const cs = 2 ** meta.disk.clusterBits;
    const cpc = cs / CHUNK_SIZE;
    const diskChunks = meta.disk.virtualSize / CHUNK_SIZE;
    const dataClusters: number[] = [];
    const zeroClusters: number[] = [];
    for (let i = 0; i < index.diskEntries; ) {
      const g = Math.floor(index.targets[i] / cpc);
      const end = Math.min(diskChunks, (g + 1) * cpc) - g * cpc; // chunks in this cluster inside the disk
      let j = i;
      let allZero = true;
      while (j < index.diskEntries && Math.floor(index.targets[j] / cpc) === g) {
        if (index.kinds[j] !== ChunkKind.Zero) allZero = false;
        j++;
      }
      if (allZero && j - i === end) zeroClusters.push(g);
      else dataClusters.push(g);
      i = j;
    }
    const backing = opts.backingFile ?? path.relative(path.dirname(path.resolve(opts.outputDisk)), path.resolve(opts.baseDisk));
    const layout = planQcow2Layout({ virtualSize: meta.disk.virtualSize, clusterBits: meta.disk.clusterBits, backingFile: backing, backingFormat: 'raw', dataClusters, zeroClusters });

    const diskFd = openNew(tmpDisk);
    closers.push(() => fs.closeSync(diskFd));
    const memFd = openNew(tmpMem);
    closers.push(() => fs.closeSync(memFd));
    fs.ftruncateSync(diskFd, layout.fileSize);
    const disk = new CoalescingWriter(diskFd, tmpDisk);
    for (const m of layout.metadata) disk.write(m.bytes, m.offset);
    const mem = new CoalescingWriter(memFd, tmpMem);

    const feed = new LiteralFeed(s, index);
    const litFile = new Uint8Array(meta.frames.literals);
    const litPos = new Float64Array(meta.frames.literals);
    let literalNo = 0;
    const baseWin = new WindowReader(baseDisk.handle.fd, baseDisk.size, baseDisk.path, Math.max(1 << 20, cs));
    const baseMemWin = new WindowReader(baseMem.handle.fd, baseMem.size, baseMem.path, 4 << 20);
    const tmp = Buffer.alloc(CHUNK_SIZE);
    const cluster = Buffer.alloc(cs);
    let clusterHost = -1; // host offset of the disk cluster being assembled in `cluster`
    /** Writes the content of entry i into out[at..at+4096]; `file`/`outPos` say where it lands in the output. */
    const content = async (i: number, out: Buffer, at: number, file: number, outPos: number): Promise<void> => {
      const ref = index.refs[i];
      switch (index.kinds[i]) {
        case ChunkKind.Zero:
          out.fill(0, at, at + CHUNK_SIZE);
          return;
        case ChunkKind.Literal: {
          const lit = await feed.take();
          lit.copy(out, at);
          litFile[literalNo] = file;
          litPos[literalNo++] = outPos;
          return;
        }
        case ChunkKind.BaseDisk:
          if (ref * CHUNK_SIZE + CHUNK_SIZE > baseDisk.size) tmp.fill(0);
          readSyncExact(baseDisk.handle.fd, tmp, 0, Math.min(CHUNK_SIZE, baseDisk.size - ref * CHUNK_SIZE), ref * CHUNK_SIZE, baseDisk.path);
          tmp.copy(out, at);
          return;
        case ChunkKind.BaseMemory: {
          const off = baseLayout.pageOffsets[ref];
          if (off < 0) out.fill(0, at, at + CHUNK_SIZE);
          else baseMemWin.read(out, at, CHUNK_SIZE, off);
          return;
        }
        case ChunkKind.Earlier:
          if (litFile[ref] === 0 && litPos[ref] >= clusterHost && litPos[ref] < clusterHost + cs) {
            cluster.copy(out, at, litPos[ref] - clusterHost, litPos[ref] - clusterHost + CHUNK_SIZE); // not written yet
          } else if (litFile[ref] === 0) disk.readBack(out, at, CHUNK_SIZE, litPos[ref]);
          else mem.readBack(out, at, CHUNK_SIZE, litPos[ref]);
          return;
      }
    };

    // --- Disk: one cluster at a time, base bytes under the chunks the overlay does not name ---------------
    let dataIdx = 0;
    for (let i = 0; i < index.diskEntries; ) {
      const g = Math.floor(index.targets[i] / cpc);
      let j = i;
      while (j < index.diskEntries && Math.floor(index.targets[j] / cpc) === g) j++;
      if (dataIdx < dataClusters.length && dataClusters[dataIdx] === g) {
        const host = layout.dataStart + dataIdx * cs;
        clusterHost = -1;
        baseWin.read(cluster, 0, cs, g * cs);
        const inDisk = Math.min(cs, meta.disk.virtualSize - g * cs);
        if (inDisk < cs) cluster.fill(0, inDisk);
        clusterHost = host;
        for (let e = i; e < j; e++) {
          const inner = (index.targets[e] - g * cpc) * CHUNK_SIZE;
          await content(e, cluster, inner, 0, host + inner);
        }
        disk.write(cluster, host);
        clusterHost = -1;
        dataIdx++;
      }
      i = j;
      progress({ phase: 'apply', done: s.position, total: header.fileLength });
    }

    // --- Memory: the canonical save stream, every page once, in RAM order ---------------------------------
    const prefix = canonicalPrefix({ headerRegion: index.blobs.header, prologue: index.blobs.prologue, ramStart: index.blobs.ramStart, sectionId: meta.memory.sectionId, footers: meta.memory.footers });
    let pos = 0;
    mem.write(prefix, pos);
    pos += prefix.length;
    const rec = Buffer.alloc(8 + 1 + 255 + CHUNK_SIZE);
    let e = index.diskEntries;
    const memEnd = index.diskEntries + index.memoryEntries;
    for (const b of blocks) {
      const n = b.length / CHUNK_SIZE;
      for (let k = 0; k < n; k++) {
        const p = b.firstPage + k;
        let zero: boolean;
        let dataAt = -1;
        if (e < memEnd && index.targets[e] === p) {
          const kind = index.kinds[e];
          zero = kind === ChunkKind.Zero || (kind === ChunkKind.BaseMemory && baseLayout.pageOffsets[index.refs[e]] < 0);
          if (!zero) {
            dataAt = writePageRecordHeader(rec, 0, b, k, false);
            await content(e, rec, dataAt, 1, pos + dataAt);
          }
          e++;
        } else if (meta.memory.sameLayoutAsBase && baseLayout.pageOffsets[p] >= 0) {
          zero = false;
          dataAt = writePageRecordHeader(rec, 0, b, k, false);
          baseMemWin.read(rec, dataAt, CHUNK_SIZE, baseLayout.pageOffsets[p]);
        } else {
          zero = true;
        }
        const end = zero ? writePageRecordHeader(rec, 0, b, k, true) : dataAt + CHUNK_SIZE;
        mem.write(rec.subarray(0, end), pos);
        pos += end;
      }
      progress({ phase: 'apply', done: s.position, total: header.fileLength });
    }
    if (e !== memEnd) throw new CloudletError('OVERLAY_CORRUPT', `${name}: memory entries left over after the last page`);
    if (!feed.exhausted) throw new CloudletError('OVERLAY_CORRUPT', `${name}: frames hold literals no entry uses`);
    const suffixBytes = canonicalSuffix({ sectionId: meta.memory.sectionId, footers: meta.memory.footers, tail: index.blobs.tail });
    mem.write(suffixBytes, pos);
    pos += suffixBytes.length;

    await readTrailer(s, header);
    disk.flush();
    mem.flush();
    fs.fsyncSync(diskFd);
    fs.fsyncSync(memFd);
    fs.renameSync(tmpDisk, opts.outputDisk);
    fs.renameSync(tmpMem, opts.outputMemory);
    committed = true;
    fsyncDir(path.dirname(path.resolve(opts.outputDisk)));
    fsyncDir(path.dirname(path.resolve(opts.outputMemory)));
    progress({ phase: 'apply', done: header.fileLength, total: header.fileLength });
    return { meta, diskBytes: layout.fileSize, memoryBytes: pos, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
  } catch (e) {
    throw e instanceof CloudletError ? e : ioError('cannot apply overlay', name, e);
  } finally {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch {
        // closing is best effort; the error that matters is already on its way
      }
    }
    if (!committed) {
      fs.rmSync(tmpDisk, { force: true });
      fs.rmSync(tmpMem, { force: true });
    }
  }
}

function openNew(p: string): number {
  try {
    return fs.openSync(p, 'wx+');
  } catch (e) {
    throw ioError('cannot create', p, e);
  }
}

/** What an overlay holds, from its header, metadata and tables (and, with `verify`, a full digest check). */
export interface OverlaySummary {
  fileBytes: number;
  formatVersion: number;
  base: OverlayMeta['base'];
  disk: { virtualSize: number; clusterBytes: number; entries: number; byKind: Record<string, number> };
  memory: { ramBytes: number; blocks: OverlayMeta['memory']['blocks']; entries: number; byKind: Record<string, number>; deviceStateBytes: number };
  literals: { chunks: number; bytesBeforeCompression: number; bytesAfterCompression: number; frames: number; ratio: number };
  dedupHits: { baseDisk: number; baseMemory: number; earlierInOverlay: number };
  stats?: Record<string, number>;
  verified: boolean;
}

export async function inspectOverlay(file: string, verify = false): Promise<OverlaySummary> {
  const f = await RandomAccessFile.open(file, 'cannot open overlay');
  try {
    const s = new OverlayStream(fileSource(f, 0, f.size, 4 << 20), file);
    const { header, meta, index } = await readHead(s);
    if (f.size !== header.fileLength) throw new CloudletError(f.size < header.fileLength ? 'OVERLAY_TRUNCATED' : 'OVERLAY_CORRUPT', `${file}: file is ${f.size} bytes, its header says ${header.fileLength}`);
    const names: Record<number, string> = { 1: 'zero', 2: 'literal', 3: 'baseDisk', 4: 'baseMemory', 5: 'earlier' };
    const tally = (from: number, to: number) => {
      const r: Record<string, number> = { zero: 0, literal: 0, baseDisk: 0, baseMemory: 0, earlier: 0 };
      for (let i = from; i < to; i++) r[names[index.kinds[i]]]++;
      return r;
    };
    const d = tally(0, index.diskEntries);
    const m = tally(index.diskEntries, index.diskEntries + index.memoryEntries);
    if (verify) {
      const feed = new LiteralFeed(s, index);
      for (let i = 0; i < meta.frames.literals; i++) await feed.take();
      await readTrailer(s, header);
    }
    return {
      fileBytes: header.fileLength,
      formatVersion: header.version,
      base: meta.base,
      disk: { virtualSize: meta.disk.virtualSize, clusterBytes: 2 ** meta.disk.clusterBits, entries: index.diskEntries, byKind: d },
      memory: { ramBytes: meta.memory.blocks.reduce((a, b) => a + b.length, 0), blocks: meta.memory.blocks, entries: index.memoryEntries, byKind: m, deviceStateBytes: index.blobs.tail.length },
      literals: {
        chunks: meta.frames.literals,
        bytesBeforeCompression: meta.frames.literals * CHUNK_SIZE,
        bytesAfterCompression: meta.frames.compressedBytes,
        frames: meta.frames.count,
        ratio: meta.frames.compressedBytes > 0 ? (meta.frames.literals * CHUNK_SIZE) / meta.frames.compressedBytes : 0,
      },
      dedupHits: { baseDisk: d.baseDisk + m.baseDisk, baseMemory: d.baseMemory + m.baseMemory, earlierInOverlay: d.earlier + m.earlier },
      stats: meta.stats,
      verified: verify,
    };
  } finally {
    await f.close();
  }
}
