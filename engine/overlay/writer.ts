// Overlay creation: base VM + customized VM -> overlay file. One pass over the base builds the chunk index
// (and the base digests), one pass over the customized disk's written clusters and one over its memory
// classify every 4 KiB chunk, literals stream to compression workers, and the file is assembled with its
// tables ahead of the frames so it can be applied while downloading. Memory stays bounded: the base index,
// a few frames in flight, and per-literal bookkeeping.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CloudletError, ioError } from '../errors';
import { BaseIndex, ZERO_HASH } from '../delta/base-index';
import { DeltaClassifier, EntryKind, LiteralStore, Space } from '../delta/classifier';
import { CompressorPool, compressOnce } from '../delta/compress';
import { rememberDigest } from '../io/digest';
import { FORMAT_VERSION, HEADER_BYTES, LIMITS, OverlayMeta, TRAILER_BYTES, baseIdOf, encodeEntries, encodeHeader, encodeTrailer, indexRawLength } from './format';
import { CHUNK_SIZE, chunkHash, isZeroChunk, wordsOf } from '../delta/hash';
import { RandomAccessFile, WindowReader, fileSource, fsyncDir, readSyncExact } from '../io/io';
import { Qcow2Image } from '../image/qcow2';
import { parseSaveStream, sameRamLayout } from '../image/savefile';

export interface CreateOverlayOptions {
  baseDisk: string;
  baseMemory: string;
  /** qcow2 layered on baseDisk. */
  customDisk: string;
  customMemory: string;
  output: string;
  /** zstd level for literal frames (default 9). */
  level?: number;
  /** Compression worker threads (default: one per CPU). 0 compresses on the calling thread. */
  threads?: number;
  /** Chunks per compressed frame (default 1024 = 4 MiB). */
  frameChunks?: number;
  onProgress?: (p: OverlayProgress) => void;
}

export interface OverlayProgress {
  phase: 'index-base' | 'disk' | 'memory' | 'write';
  done: number;
  total: number;
}

/** Counts of what went into an overlay, also stored in its metadata. */
export interface OverlayStats {
  diskChunksScanned: number;
  diskSame: number;
  diskZero: number;
  diskLiteral: number;
  diskBaseDisk: number;
  diskBaseMemory: number;
  diskEarlier: number;
  memoryPages: number;
  memorySame: number;
  memoryZero: number;
  memoryLiteral: number;
  memoryBaseDisk: number;
  memoryBaseMemory: number;
  memoryEarlier: number;
  literalBytes: number;
  compressedBytes: number;
  overlayBytes: number;
  baseIndexEntries: number;
  baseIndexBytes: number;
  seconds: number;
}

/** Growable parallel arrays of table entries. */
class EntryTable {
  kinds = new Uint8Array(1024);
  refs = new Uint32Array(1024);
  targets = new Float64Array(1024);
  count = 0;

  push(kind: EntryKind, ref: number, target: number): void {
    if (this.count === this.kinds.length) {
      const n = this.count * 2;
      const k = new Uint8Array(n);
      k.set(this.kinds);
      const r = new Uint32Array(n);
      r.set(this.refs);
      const t = new Float64Array(n);
      t.set(this.targets);
      this.kinds = k;
      this.refs = r;
      this.targets = t;
    }
    this.kinds[this.count] = kind;
    this.refs[this.count] = ref;
    this.targets[this.count] = target;
    this.count++;
  }
}

export async function createOverlay(opts: CreateOverlayOptions): Promise<OverlayStats> {
  const t0 = process.hrtime.bigint();
  const level = opts.level ?? 9;
  const threads = opts.threads ?? Math.max(1, os.availableParallelism());
  const frameChunks = opts.frameChunks ?? 1024;
  if (!Number.isInteger(level) || level < 1 || level > 22) throw new CloudletError('INVALID_ARGUMENT', `compression level ${level} must be 1..22`);
  if (!Number.isInteger(frameChunks) || frameChunks < 1 || frameChunks > LIMITS.maxFrameChunks) throw new CloudletError('INVALID_ARGUMENT', `frameChunks must be 1..${LIMITS.maxFrameChunks}`);
  const progress = opts.onProgress ?? (() => undefined);

  const tmpBase = `${opts.output}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const framesPath = `${tmpBase}.frames`;
  const files: { close(): Promise<void> }[] = [];
  let pool: CompressorPool | null = null;
  let framesFd = -1;
  try {
    const bi = await BaseIndex.build({ disk: opts.baseDisk, memory: opts.baseMemory, digests: true, onProgress: (done, total) => progress({ phase: 'index-base', done, total }) });
    files.push(bi);
    const baseDisk = bi.disk;
    const custom = await Qcow2Image.open(opts.customDisk);
    files.push(custom);
    checkBacking(custom, opts.baseDisk);
    if (custom.virtualSize % CHUNK_SIZE !== 0) throw new CloudletError('QCOW2_UNSUPPORTED', `${opts.customDisk}: virtual size ${custom.virtualSize} is not a multiple of 4096`);
    if (custom.clusterBits < 12) throw new CloudletError('QCOW2_UNSUPPORTED', `${opts.customDisk}: clusters smaller than 4 KiB are not supported`);
    const baseLayout = bi.layout;
    const baseDiskSha = bi.digests!.disk;
    const baseMemSha = bi.digests!.memory;
    rememberDigest(opts.baseDisk, baseDiskSha);
    rememberDigest(opts.baseMemory, baseMemSha);

    // --- Shared classification -------------------------------------------------------------------------
    pool = new CompressorPool(level, threads);
    framesFd = fs.openSync(framesPath, 'wx');
    const frameSizes: number[] = [];
    const frameCounts: number[] = [];
    let frame = Buffer.allocUnsafe(frameChunks * CHUNK_SIZE);
    let frameFill = 0;
    let compressedBytes = 0;
    const maxInFlight = Math.max(2, threads * 2);
    const drainOne = async () => {
      const out = await pool!.takeOldest();
      fs.writeSync(framesFd, out);
      frameSizes.push(out.length);
      compressedBytes += out.length;
    };
    const flushFrame = async () => {
      if (frameFill === 0) return;
      frameCounts.push(frameFill);
      pool!.submit(frame.subarray(0, frameFill * CHUNK_SIZE));
      frame = Buffer.allocUnsafe(frameChunks * CHUNK_SIZE);
      frameFill = 0;
      while (pool!.inFlight >= maxInFlight) await drainOne();
    };

    // Literals are read back from the customized inputs (for the classifier's byte checks): keep where each is.
    const customDiskFd = custom.file.handle.fd;
    const customMemFile = await RandomAccessFile.open(opts.customMemory, 'cannot open customized memory snapshot');
    files.push(customMemFile);
    let litSpace = new Uint8Array(1024);
    let litPos = new Float64Array(1024);
    const literalsInInputs: LiteralStore = {
      keep(n, data, at, space, pos) {
        if (n === litPos.length) {
          const f = new Uint8Array(n * 2);
          f.set(litSpace);
          litSpace = f;
          const p = new Float64Array(n * 2);
          p.set(litPos);
          litPos = p;
        }
        litSpace[n] = space;
        litPos[n] = pos;
        data.copy(frame, frameFill * CHUNK_SIZE, at, at + CHUNK_SIZE);
        frameFill++;
      },
      read(n, into) {
        if (litSpace[n] === Space.Disk) readSyncExact(customDiskFd, into, 0, CHUNK_SIZE, litPos[n], custom.path);
        else readSyncExact(customMemFile.handle.fd, into, 0, CHUNK_SIZE, litPos[n], customMemFile.path);
      },
    };
    const delta = new DeltaClassifier(bi, literalsInInputs);
    const table = new EntryTable();
    /**
     * Classifies one chunk into the table (a literal's bytes go into the frame being filled); true when that
     * frame is full. Synchronous, so the per-chunk loops await only when a frame is handed to compression.
     */
    const classify = (space: Space, target: number, data: Buffer, at: number, h: number, zero: boolean, same: boolean, pos: number): boolean => {
      if (delta.literals >= 0xfffffffe) throw new CloudletError('OVERLAY_LIMIT', 'too many chunks for one overlay');
      const kind = delta.classify(space, data, at, h, zero, same, pos);
      if (kind === EntryKind.Same) return false;
      table.push(kind, kind === EntryKind.Literal || kind === EntryKind.Zero ? 0 : delta.ref, target);
      return kind === EntryKind.Literal && frameFill === frameChunks;
    };

    // --- Disk: only the clusters the customized layer defines -------------------------------------------
    const clusters = await custom.clusters();
    const cs = custom.clusterSize;
    const cpc = cs / CHUNK_SIZE;
    const clusterBuf = Buffer.alloc(cs);
    const clusterWords = wordsOf(clusterBuf);
    const diskChunks = custom.virtualSize / CHUNK_SIZE;
    for (let ci = 0; ci < clusters.guest.length; ci++) {
      const g = clusters.guest[ci];
      const host = clusters.host[ci];
      custom.readCluster(host, clusterBuf);
      for (let k = 0; k < cpc; k++) {
        const c = g * cpc + k;
        if (c >= diskChunks) break;
        const at = k * CHUNK_SIZE;
        const zero = isZeroChunk(clusterWords, at / 4);
        const h = zero ? ZERO_HASH : chunkHash(clusterWords, at / 4);
        if (classify(Space.Disk, c, clusterBuf, at, h, zero, bi.sameDiskChunk(c, h, clusterBuf, at), host + at)) await flushFrame();
      }
      if ((ci & 255) === 0) progress({ phase: 'disk', done: ci, total: clusters.guest.length });
    }
    progress({ phase: 'disk', done: clusters.guest.length, total: clusters.guest.length });
    const diskEntries = table.count;

    // --- Memory: every page, in RAM order ---------------------------------------------------------------
    const customLayout = await parseSaveStream(fileSource(customMemFile, 0, customMemFile.size, 8 << 20), opts.customMemory);
    const same = sameRamLayout(baseLayout, customLayout);
    const customWin = new WindowReader(customMemFile.handle.fd, customMemFile.size, customMemFile.path, 4 << 20);
    const page = Buffer.alloc(CHUNK_SIZE);
    const pageWords = wordsOf(page);
    for (let p = 0; p < customLayout.totalPages; p++) {
      const off = customLayout.pageOffsets[p];
      let zero = off < 0;
      if (!zero) {
        customWin.read(page, 0, CHUNK_SIZE, off);
        zero = isZeroChunk(pageWords, 0);
      }
      const h = zero ? ZERO_HASH : chunkHash(pageWords, 0);
      // Without a base page at the same place, an absent (zero) page is what the base would give there.
      if (classify(Space.Memory, p, page, 0, h, zero, same ? bi.sameMemoryPage(p, h, zero, page) : zero, off)) await flushFrame();
      if ((p & 4095) === 0) progress({ phase: 'memory', done: p, total: customLayout.totalPages });
    }
    progress({ phase: 'memory', done: customLayout.totalPages, total: customLayout.totalPages });
    await flushFrame();
    while (pool.inFlight > 0) await drainOne();
    fs.closeSync(framesFd);
    framesFd = -1;
    const literals = delta.literals;
    const { disk: d, memory: m } = delta;
    const stats: OverlayStats = {
      diskChunksScanned: d.scanned,
      diskSame: d.same,
      diskZero: d.zero,
      diskLiteral: d.literal,
      diskBaseDisk: d.baseDisk,
      diskBaseMemory: d.baseMemory,
      diskEarlier: d.earlier,
      memoryPages: m.scanned,
      memorySame: m.same,
      memoryZero: m.zero,
      memoryLiteral: m.literal,
      memoryBaseDisk: m.baseDisk,
      memoryBaseMemory: m.baseMemory,
      memoryEarlier: m.earlier,
      literalBytes: literals * CHUNK_SIZE,
      compressedBytes,
      overlayBytes: 0,
      baseIndexEntries: bi.index.size,
      baseIndexBytes: bi.index.bytes + bi.diskHash.byteLength + bi.memHash.byteLength,
      seconds: 0,
    };

    // --- Assemble: header, metadata, index, frames, trailer ---------------------------------------------
    const meta: OverlayMeta = {
      format: 'cloudlet-vm-overlay',
      version: FORMAT_VERSION,
      createdBy: 'cloudlet-iac engine 0.1.0',
      chunkSize: CHUNK_SIZE,
      base: { disk: { sha256: baseDiskSha, size: baseDisk.size }, memory: { sha256: baseMemSha, size: bi.memory.size } },
      disk: { virtualSize: custom.virtualSize, clusterBits: custom.clusterBits, backingFormat: 'raw', entries: diskEntries },
      memory: {
        blocks: customLayout.blocks.map((b) => ({ id: b.id, length: b.length })),
        sectionId: customLayout.sectionId,
        footers: customLayout.footers,
        sameLayoutAsBase: same,
        entries: table.count - diskEntries,
        blobs: { header: customLayout.headerRegion.length, prologue: customLayout.prologue.length, ramStart: customLayout.ramStart.length, tail: customLayout.tail.length },
      },
      frames: { count: frameSizes.length, literals, compressedBytes },
    };
    const frameTable = Buffer.alloc(frameSizes.length * 8);
    frameSizes.forEach((s, i) => {
      frameTable.writeUInt32LE(s, i * 8);
      frameTable.writeUInt32LE(frameCounts[i], i * 8 + 4);
    });
    const indexRaw = Buffer.concat([
      customLayout.headerRegion,
      customLayout.prologue,
      customLayout.ramStart,
      customLayout.tail,
      encodeEntries(table.kinds, table.refs, table.targets, table.count),
      frameTable,
    ]);
    if (indexRaw.length !== indexRawLength(meta)) throw new Error('internal: index length mismatch');
    if (indexRaw.length > LIMITS.maxIndexRaw) throw new CloudletError('OVERLAY_LIMIT', `overlay index of ${indexRaw.length} bytes is beyond the format's limit`);
    const indexCompressed = compressOnce(indexRaw, 19);
    stats.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    // stats.overlayBytes depends on the metadata length, which contains the stats: fix it point by point.
    let metaBytes = Buffer.alloc(0);
    let fileLength = 0;
    for (let i = 0; i < 4; i++) {
      meta.stats = { ...stats };
      metaBytes = Buffer.from(JSON.stringify(meta));
      const next = HEADER_BYTES + metaBytes.length + indexCompressed.length + compressedBytes + TRAILER_BYTES;
      if (next === fileLength) break;
      fileLength = next;
      stats.overlayBytes = fileLength;
    }
    if (metaBytes.length > LIMITS.maxMetaBytes) throw new CloudletError('OVERLAY_LIMIT', 'metadata too large');
    const header = encodeHeader({
      version: FORMAT_VERSION,
      fileLength,
      metaLength: metaBytes.length,
      indexCompressedLength: indexCompressed.length,
      indexRawLength: indexRaw.length,
      baseId: baseIdOf(baseDiskSha, baseMemSha),
    });
    progress({ phase: 'write', done: 0, total: fileLength });
    const outFd = fs.openSync(tmpBase, 'wx');
    try {
      const digest = createHash('sha256');
      const put = (b: Buffer) => {
        digest.update(b);
        let done = 0;
        while (done < b.length) done += fs.writeSync(outFd, b, done, b.length - done);
      };
      put(header);
      put(metaBytes);
      put(indexCompressed);
      const rfd = fs.openSync(framesPath, 'r');
      try {
        const buf = Buffer.allocUnsafe(4 << 20);
        for (;;) {
          const n = fs.readSync(rfd, buf, 0, buf.length, null);
          if (n === 0) break;
          put(buf.subarray(0, n));
        }
      } finally {
        fs.closeSync(rfd);
      }
      const trailer = encodeTrailer(fileLength, Buffer.alloc(32));
      digest.update(trailer.subarray(0, 16));
      digest.digest().copy(trailer, 16);
      let done = 0;
      while (done < trailer.length) done += fs.writeSync(outFd, trailer, done, trailer.length - done);
      fs.fsyncSync(outFd);
      if (fs.fstatSync(outFd).size !== fileLength) throw new Error('internal: overlay length mismatch');
    } finally {
      fs.closeSync(outFd);
    }
    fs.renameSync(tmpBase, opts.output);
    fsyncDir(path.dirname(path.resolve(opts.output)));
    progress({ phase: 'write', done: fileLength, total: fileLength });
    stats.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return stats;
  } catch (e) {
    throw e instanceof CloudletError ? e : ioError('cannot create overlay', opts.output, e);
  } finally {
    if (framesFd >= 0) fs.closeSync(framesFd);
    await pool?.close();
    for (const f of files.reverse()) await f.close();
    for (const p of [framesPath, tmpBase]) fs.rmSync(p, { force: true });
  }
}

/** Refuses a customized disk whose backing file exists and is not the base disk given. */
function checkBacking(custom: Qcow2Image, baseDisk: string): void {
  if (custom.backingFile === null) throw new CloudletError('IMAGE_MISMATCH', `${custom.path} has no backing file; a customized disk must be a qcow2 layer on the base disk`);
  if (custom.backingFormat !== null && custom.backingFormat !== 'raw') {
    throw new CloudletError('QCOW2_UNSUPPORTED', `${custom.path} is layered on a ${custom.backingFormat} image; only a raw base disk is supported`);
  }
  const resolved = path.resolve(path.dirname(custom.path), custom.backingFile);
  let a: fs.Stats;
  try {
    a = fs.statSync(resolved);
  } catch {
    return; // backing file moved or named relative to elsewhere: trust the caller's base
  }
  const b = fs.statSync(baseDisk);
  if (a.ino !== b.ino || a.dev !== b.dev) {
    throw new CloudletError('IMAGE_MISMATCH', `${custom.path} is layered on ${resolved}, not on the base disk ${baseDisk}`);
  }
}
