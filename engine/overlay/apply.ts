// Overlay application: base VM + overlay -> the customized VM's disk (a qcow2 layer on the base disk) and
// memory snapshot (a libvirt save file). Two passes over the overlay, both strictly front to back: the first
// checks everything (declared sizes against the base before anything is decompressed, every table entry,
// every frame, the whole-file digest) and writes nothing, so a hostile or damaged overlay costs no more
// than its own length; the second writes the outputs under temporary names and renames them into place. An
// overlay that arrives as a stream (a download in progress) is checked as it arrives and spooled to a file,
// which the second pass reads. A synthesis runs the second pass while the first still goes (`following`): it
// reads the spool only as far as written, writes at most a fixed budget until the first pass has passed, and
// names its outputs only after that, so a refused overlay costs its length plus that budget.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudletError, ioError } from '../errors';
import { decompressFrame } from '../delta/compress';
import { fileDigest } from '../io/digest';
import * as zstdBinding from 'zstd-napi/binding';
import {
  BaseBounds,
  ChunkKind,
  HEADER_BYTES,
  IndexParser,
  LIMITS,
  OverlayHeader,
  OverlayIndex,
  OverlayMeta,
  TRAILER_BYTES,
  TRAILER_MAGIC,
  baseBounds,
  baseIdOf,
  checkDeclared,
  decodeHeader,
  readLE64,
  validateMeta,
} from './format';
import { CHUNK_SIZE } from '../delta/hash';
import { ByteSource, CoalescingWriter, RandomAccessFile, SequentialReader, SpoolSource, WindowReader, fileSource, fsyncDir, openNew, readSyncExact } from '../io/io';
import { planQcow2Layout } from '../image/qcow2';
import { MAIN_RAM_BLOCK, RamBlock, SaveFileLayout, canonicalPrefix, canonicalSuffix, sameRamLayout, writePageRecordHeader } from '../image/savefile';
import { baseSnapshotLayout } from '../image/layout-cache';

export interface ApplyOverlayOptions {
  /** Overlay file path, or a byte stream (e.g. an HTTP body still downloading), spooled next to the output. */
  overlay: string | ByteSource;
  baseDisk: string;
  baseMemory: string;
  outputDisk: string;
  outputMemory: string;
  /** Backing file name written into the rebuilt qcow2 (default: the base disk's path relative to it). */
  backingFile?: string;
  /** Base digests already known to be right (e.g. verified by the store at import); else hashed (cached). */
  baseDigests?: { disk: string; memory: string };
  /** The overlay file was checked whole against this base by `checkOverlay`: skip the checking pass. */
  checked?: boolean;
  /**
   * The overlay is applied while it still arrives: `overlay` is a stream that another reader checks whole as
   * it comes (a GrowingFileSource on the intake's spool), and that ends only once it has checked out. Until
   * `checked` resolves at most `bytesBeforeChecked` bytes of outputs are written, so a refused overlay still
   * costs no more than its own length plus that (the partial outputs are removed); the outputs get their names
   * only after the stream's end. No checking pass of its own.
   */
  following?: { checked: Promise<void>; bytesBeforeChecked: number };
  /** Replaces the memory snapshot's header region (libvirt's header, with the domain XML) as it is written. */
  saveHeader?: (region: Buffer) => Buffer;
  /** The base, already opened (left open); else opened from baseDisk/baseMemory. */
  base?: OpenedBase;
  /**
   * Leave out of the memory snapshot the main RAM block's pages that are the base's at the same place: the VM
   * maps the base's memory image under them (image/ram-image.ts). Only where the overlay's RAM layout is the
   * base's; otherwise every page is written, as without it.
   */
  sparseMainRam?: boolean;
  /**
   * Flush the outputs (and their renames) before returning (default true). False where the caller flushes what
   * must last itself, or nothing must outlast a power cut: a synthesis reads the memory snapshot once and
   * deletes it, and flushes the disk layer while the VM restores; an instance that never got to running is
   * removed at the next start anyway.
   */
  durable?: boolean;
  onProgress?: (p: { phase: 'check' | 'apply'; done: number; total: number }) => void;
}

export interface ApplyResult {
  meta: OverlayMeta;
  diskBytes: number;
  memoryBytes: number;
  /** Whether the memory snapshot left out pages that are the base's (sparseMainRam). */
  memorySparse: boolean;
  seconds: number;
}

/** Reads the overlay front to back and keeps a running digest of everything consumed. */
class OverlayStream {
  readonly digest = createHash('sha256');
  readonly reader: SequentialReader;
  constructor(
    source: ByteSource,
    readonly name: string,
  ) {
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

/** The base an overlay is read against: its files, RAM layout, digests and what it bounds. */
export interface OpenedBase {
  disk: RandomAccessFile;
  memory: RandomAccessFile;
  layout: SaveFileLayout;
  digests: { disk: string; memory: string };
  bounds: BaseBounds;
  close(): Promise<void>;
}

export async function openBase(diskPath: string, memoryPath: string, digests?: { disk: string; memory: string }): Promise<OpenedBase> {
  const disk = await RandomAccessFile.open(diskPath, 'cannot open base disk');
  try {
    const memory = await RandomAccessFile.open(memoryPath, 'cannot open base memory snapshot');
    try {
      const layout = await baseSnapshotLayout(memoryPath);
      const d = digests ?? { disk: await fileDigest(diskPath), memory: await fileDigest(memoryPath) };
      return {
        disk,
        memory,
        layout,
        digests: d,
        bounds: baseBounds(disk.size, memory.size, layout),
        close: async () => {
          await memory.close();
          await disk.close();
        },
      };
    } catch (e) {
      await memory.close();
      throw e;
    }
  } catch (e) {
    await disk.close();
    throw e;
  }
}

/** Opens the base an overlay names (by base id, hex), or null when it is not at hand; what it opens is closed after. */
export type BaseResolver = (baseId: string) => Promise<OpenedBase | null>;
/**
 * The base to check against: opened (or being opened, so parsing it overlaps the download; the caller
 * closes it), found by a resolver, or none.
 */
export type BaseArg = OpenedBase | Promise<OpenedBase> | BaseResolver | null;

/**
 * Header, metadata and index. Everything the index may allocate is bounded from the header and metadata
 * (against the base when given) before a byte of it is decompressed, and it is decompressed in pieces.
 */
async function readHead(s: OverlayStream, given: BaseArg, keep: boolean, opened?: (b: OpenedBase) => void): Promise<OverlayHead & { tally: IndexParser['tally'] }> {
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
  let base: OpenedBase | null = null;
  if (typeof given === 'function') {
    base = await given(header.baseId.toString('hex'));
    if (base) opened?.(base);
  } else base = await given;
  if (base) {
    const d = base.digests;
    if (d.disk !== meta.base.disk.sha256 || d.memory !== meta.base.memory.sha256) {
      throw new CloudletError(
        'OVERLAY_WRONG_BASE',
        `${s.name} was made against base disk ${meta.base.disk.sha256.slice(0, 16)}… / memory ${meta.base.memory.sha256.slice(0, 16)}…, ` +
          `but the base given is disk ${d.disk.slice(0, 16)}… / memory ${d.memory.slice(0, 16)}…`,
      );
    }
  }
  checkDeclared(header, meta, s.name, base?.bounds ?? null);
  if (base && meta.memory.sameLayoutAsBase && !sameRamLayout(base.layout, meta.memory)) {
    throw new CloudletError('OVERLAY_WRONG_BASE', `${s.name}: the base memory snapshot's RAM layout differs from the one the overlay was made against`);
  }
  const parser = new IndexParser(meta, s.name, keep, base?.bounds ?? null);
  await decompressIndex(s, header, (piece) => parser.push(piece));
  const index = parser.end();
  return { header, meta, index, tally: parser.tally };
}

/** Streams the index frame through zstd in pieces, refusing output beyond the declared raw length. */
async function decompressIndex(s: OverlayStream, header: OverlayHeader, onPiece: (b: Buffer) => void): Promise<void> {
  const what = `${s.name}: index`;
  const corrupt = (m: string) => new CloudletError('OVERLAY_CORRUPT', `${what} ${m}`);
  const dctx = new zstdBinding.DCtx();
  dctx.setParameter(zstdBinding.DParameter.windowLogMax, LIMITS.indexWindowLog);
  const out = Buffer.allocUnsafe(1 << 20);
  let left = header.indexCompressedLength;
  let produced = 0;
  let ended = false;
  let first = true;
  const step = (input: Buffer): number => {
    let ret: number;
    let made: number;
    let used: number;
    try {
      [ret, made, used] = dctx.decompressStream(out, input);
    } catch (e) {
      throw corrupt(`does not decompress (${(e as Error).message})`);
    }
    if (made > 0) {
      produced += made;
      if (produced > header.indexRawLength) throw corrupt(`decompresses to more than the ${header.indexRawLength} bytes its header declares`);
      onPiece(out.subarray(0, made));
    }
    if (ret === 0) ended = true;
    return made === 0 && used === 0 ? -1 : used;
  };
  while (left > 0) {
    const piece = await s.take(Math.min(left, 1 << 20), 'the index');
    left -= piece.length;
    if (first) {
      first = false;
      let declared: number | null;
      try {
        declared = zstdBinding.getFrameContentSize(piece);
      } catch (e) {
        throw corrupt(`is not a zstd frame (${(e as Error).message})`);
      }
      if (declared !== header.indexRawLength) throw corrupt(`frame declares ${declared} bytes, the header says ${header.indexRawLength}`);
    }
    let at = 0;
    while (at < piece.length) {
      if (ended) throw corrupt('has bytes after its zstd frame');
      const used = step(piece.subarray(at));
      if (used < 0) throw corrupt('makes no progress');
      at += used;
    }
  }
  // Input used up: let the decoder hand out what it still holds.
  while (!ended) if (step(Buffer.alloc(0)) < 0) break;
  if (!ended) throw corrupt('ends in the middle of its zstd frame');
  if (produced !== header.indexRawLength) throw corrupt(`decompressed to ${produced} bytes, the header says ${header.indexRawLength}`);
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

  constructor(
    private readonly s: OverlayStream,
    private readonly index: OverlayIndex,
  ) {}

  /** Decompresses the next frame (its declared size and checksum checked). */
  async nextFrame(): Promise<void> {
    if (this.frame >= this.index.frameChunks.length) throw new CloudletError('OVERLAY_CORRUPT', `${this.s.name}: more literals used than frames hold`);
    const chunks = this.index.frameChunks[this.frame];
    const comp = await this.s.take(this.index.frameCompressed[this.frame], `frame ${this.frame}`);
    if (this.scratch.length < chunks * CHUNK_SIZE) this.scratch = Buffer.allocUnsafe(chunks * CHUNK_SIZE);
    this.buf = decompressFrame(comp, chunks * CHUNK_SIZE, this.scratch, `${this.s.name}: frame ${this.frame}`);
    this.frame++;
    this.next = 0;
    this.have = chunks;
  }

  async take(): Promise<Buffer> {
    if (this.next === this.have) await this.nextFrame();
    this.taken++;
    return this.buf.subarray(this.next++ * CHUNK_SIZE, this.next * CHUNK_SIZE);
  }

  get exhausted(): boolean {
    return this.frame === this.index.frameChunks.length && this.next === this.have;
  }
}

/** A file's length must be the one its header declares (shorter: truncated; longer: something appended). */
function checkFileLength(size: number, header: OverlayHeader, name: string): void {
  if (size !== header.fileLength) {
    throw new CloudletError(size < header.fileLength ? 'OVERLAY_TRUNCATED' : 'OVERLAY_CORRUPT', `${name}: file is ${size} bytes, its header says ${header.fileLength}`);
  }
}

/**
 * Reads an overlay front to back without keeping its tables: the head, checked against the base when given,
 * then (with `frames`) every frame (sizes and checksums) and the trailer's digest. Writes nothing.
 */
async function scanOverlay(overlay: string | ByteSource, base: BaseArg, frames: boolean, onProgress?: (done: number, total: number) => void): Promise<OverlayHead & { tally: IndexParser['tally'] }> {
  const name = typeof overlay === 'string' ? overlay : 'overlay stream';
  const closers: (() => Promise<void>)[] = [];
  try {
    let source: ByteSource = overlay as ByteSource;
    let size = -1;
    if (typeof overlay === 'string') {
      const f = await RandomAccessFile.open(overlay, 'cannot open overlay');
      closers.push(() => f.close());
      source = fileSource(f, 0, f.size, 4 << 20);
      size = f.size;
    }
    const s = new OverlayStream(source, name);
    const head = await readHead(s, base, false, (b) => closers.push(() => b.close()));
    if (size >= 0) checkFileLength(size, head.header, name);
    if (frames) {
      const feed = new LiteralFeed(s, head.index);
      for (let f = 0; f < head.meta.frames.count; f++) {
        await feed.nextFrame();
        onProgress?.(s.position, head.header.fileLength);
      }
      await readTrailer(s, head.header);
    }
    return head;
  } catch (e) {
    throw e instanceof CloudletError ? e : ioError('cannot read overlay', name, e);
  } finally {
    for (const c of closers) await c().catch(() => undefined);
  }
}

/**
 * The checking pass: the whole overlay, front to back, against the base when given (declared sizes, refs,
 * digests), writing nothing. A stream is consumed to its end.
 */
export async function checkOverlay(overlay: string | ByteSource, base: BaseArg, onProgress?: (done: number, total: number) => void): Promise<{ meta: OverlayMeta; header: OverlayHeader }> {
  const head = await scanOverlay(overlay, base, true, onProgress);
  return { meta: head.meta, header: head.header };
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
  let spoolToRemove: string | null = null;
  try {
    const base = opts.base ?? (await openBase(opts.baseDisk, opts.baseMemory, opts.baseDigests));
    if (!opts.base) closers.push(() => base.close());
    // --- Pass 1: check it all, write nothing (but the spooled copy of a stream) ------------------------
    let file: string | null = null;
    if (opts.following) {
      if (typeof opts.overlay === 'string') throw new Error('applyOverlay: following needs a stream');
    } else if (typeof opts.overlay === 'string') {
      file = opts.overlay;
      if (!opts.checked) await checkOverlay(file, base, (done, total) => progress({ phase: 'check', done, total }));
    } else {
      file = spoolToRemove = `${opts.outputDisk}.overlay${suffix}`;
      const spool = new SpoolSource(opts.overlay, file);
      try {
        await checkOverlay(spool, base, (done, total) => progress({ phase: 'check', done, total }));
        await spool.finish();
      } finally {
        spool.close();
      }
    }

    // --- Pass 2: the outputs ----------------------------------------------------------------------------
    let source: ByteSource;
    let fileSize = -1;
    if (file === null) source = opts.overlay as ByteSource;
    else {
      const f = await RandomAccessFile.open(file, 'cannot open overlay');
      closers.push(() => f.close());
      source = fileSource(f, 0, f.size, 4 << 20);
      fileSize = f.size;
    }
    const s = new OverlayStream(source, name);
    const { header, meta, index } = await readHead(s, base, true);
    if (fileSize >= 0) checkFileLength(fileSize, header, name);
    const baseDisk = base.disk;
    const baseMem = base.memory;
    const baseLayout = base.layout;
    const blocks: RamBlock[] = [];
    let pages = 0;
    for (const b of meta.memory.blocks) {
      blocks.push({ id: b.id, length: b.length, firstPage: pages });
      pages += b.length / CHUNK_SIZE;
    }

    // --- Plan the rebuilt disk ---------------------------------------------------------------------------
    const cs = 2 ** meta.disk.clusterBits;
    const cpc = cs / CHUNK_SIZE;
    const diskChunks = meta.disk.virtualSize / CHUNK_SIZE;
    const dataClusters: number[] = [];
    const zeroClusters: number[] = [];
    for (let i = 0; i < index.diskEntries;) {
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

    // Exactly what pass 2 writes, known before it writes anything: refused up front if it does not fit.
    const pageIsZero = (entry: number, p: number): boolean => {
      if (entry >= 0) return index.kinds[entry] === ChunkKind.Zero || (index.kinds[entry] === ChunkKind.BaseMemory && baseLayout.pageOffsets[index.refs[entry]] < 0);
      return !(meta.memory.sameLayoutAsBase && baseLayout.pageOffsets[p] >= 0);
    };
    const prefix = canonicalPrefix({
      headerRegion: opts.saveHeader ? opts.saveHeader(index.blobs.header) : index.blobs.header,
      prologue: index.blobs.prologue,
      ramStart: index.blobs.ramStart,
      sectionId: meta.memory.sectionId,
      footers: meta.memory.footers,
    });
    const suffixBytes = canonicalSuffix({ sectionId: meta.memory.sectionId, footers: meta.memory.footers, tail: index.blobs.tail });
    // A page no entry names is the base's page at that place (same layout): the mapped image has it already.
    const sparse = opts.sparseMainRam === true && meta.memory.sameLayoutAsBase;
    const leftOut = (b: RamBlock, entry: number) => sparse && entry < 0 && b.id === MAIN_RAM_BLOCK;
    let memoryBytes = prefix.length + suffixBytes.length;
    for (let b = 0, e = index.diskEntries; b < blocks.length; b++) {
      const blk = blocks[b];
      let named = false;
      for (let k = 0; k < blk.length / CHUNK_SIZE; k++) {
        const p = blk.firstPage + k;
        const at = e < index.diskEntries + index.memoryEntries && index.targets[e] === p ? e++ : -1;
        if (leftOut(blk, at)) continue;
        if (!named) memoryBytes += 1 + blk.id.length;
        named = true;
        memoryBytes += 8 + (pageIsZero(at, p) ? 1 : CHUNK_SIZE);
      }
    }
    requireSpace(name, [
      { file: tmpDisk, bytes: layout.fileSize },
      { file: tmpMem, bytes: memoryBytes },
    ]);

    const diskFd = openNew(tmpDisk);
    closers.push(() => fs.closeSync(diskFd));
    const memFd = openNew(tmpMem);
    closers.push(() => fs.closeSync(memFd));
    fs.ftruncateSync(diskFd, layout.fileSize);
    const disk = new CoalescingWriter(diskFd, tmpDisk);
    for (const m of layout.metadata) disk.write(m.bytes, m.offset);
    const mem = new CoalescingWriter(memFd, tmpMem);
    // While the overlay is still being checked, writing stops at the budget until it has checked out.
    let writeBudget = opts.following ? opts.following.bytesBeforeChecked : Infinity;
    const overBudget = () => disk.accepted + mem.accepted > writeBudget;
    const waitForCheck = async () => {
      await opts.following!.checked;
      writeBudget = Infinity;
    };

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
    for (let i = 0; i < index.diskEntries;) {
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
        if (overBudget()) await waitForCheck();
      }
      i = j;
      progress({ phase: 'apply', done: s.position, total: header.fileLength });
    }

    // --- Memory: the canonical save stream, every page once (or every page not left out), in RAM order -----
    let pos = 0;
    mem.write(prefix, pos);
    pos += prefix.length;
    const rec = Buffer.alloc(8 + 1 + 255 + CHUNK_SIZE);
    let e = index.diskEntries;
    const memEnd = index.diskEntries + index.memoryEntries;
    for (const b of blocks) {
      const n = b.length / CHUNK_SIZE;
      let named = false;
      for (let k = 0; k < n; k++) {
        const p = b.firstPage + k;
        const entry = e < memEnd && index.targets[e] === p ? e++ : -1;
        if (leftOut(b, entry)) continue;
        const zero = pageIsZero(entry, p);
        if (entry < 0 && !zero && named) {
          // The base's page, and the pages after it that the overlay does not name either, lying one record
          // apart in the base file too: one read of the base's records straight into the output buffer, then
          // the canonical headers over theirs (most of a snapshot is such runs; page by page they cost a copy
          // and a call each).
          const at = baseLayout.pageOffsets[p];
          const next = e < memEnd ? index.targets[e] : Infinity;
          let run = 1;
          const most = Math.min(n - k, Math.floor(mem.capacity / PAGE_RECORD));
          while (run < most && p + run < next && baseLayout.pageOffsets[p + run] === at + run * PAGE_RECORD) run++;
          const out = mem.reserve(run * PAGE_RECORD, pos);
          readSyncExact(baseMem.handle.fd, out, 8, run * PAGE_RECORD - 8, at, baseMem.path);
          for (let r = 0; r < run; r++) writePageRecordHeader(out, r * PAGE_RECORD, b, k + r, false, false);
          pos += run * PAGE_RECORD;
          k += run - 1;
          if (overBudget()) await waitForCheck();
          continue;
        }
        let dataAt = -1;
        if (!zero) {
          dataAt = writePageRecordHeader(rec, 0, b, k, false, !named);
          if (entry >= 0) await content(entry, rec, dataAt, 1, pos + dataAt);
          else baseMemWin.read(rec, dataAt, CHUNK_SIZE, baseLayout.pageOffsets[p]);
        }
        const end = zero ? writePageRecordHeader(rec, 0, b, k, true, !named) : dataAt + CHUNK_SIZE;
        named = true;
        mem.write(rec.subarray(0, end), pos);
        pos += end;
        if (overBudget()) await waitForCheck();
      }
      progress({ phase: 'apply', done: s.position, total: header.fileLength });
    }
    if (e !== memEnd) throw new CloudletError('OVERLAY_CORRUPT', `${name}: memory entries left over after the last page`);
    if (!feed.exhausted) throw new CloudletError('OVERLAY_CORRUPT', `${name}: frames hold literals no entry uses`);
    mem.write(suffixBytes, pos);
    pos += suffixBytes.length;
    if (pos !== memoryBytes) throw new CloudletError('INTERNAL', `${name}: wrote ${pos} bytes of memory snapshot, planned ${memoryBytes}`);

    await readTrailer(s, header);
    if (opts.following) await opts.following.checked; // the stream's end says so already; named here too
    disk.flush();
    mem.flush();
    const durable = opts.durable !== false;
    if (durable) {
      fs.fsyncSync(diskFd);
      fs.fsyncSync(memFd);
    }
    fs.renameSync(tmpDisk, opts.outputDisk);
    fs.renameSync(tmpMem, opts.outputMemory);
    committed = true;
    if (durable) {
      fsyncDir(path.dirname(path.resolve(opts.outputDisk)));
      fsyncDir(path.dirname(path.resolve(opts.outputMemory)));
    }
    progress({ phase: 'apply', done: header.fileLength, total: header.fileLength });
    return { meta, diskBytes: layout.fileSize, memoryBytes: pos, memorySparse: sparse, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
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
    if (spoolToRemove) fs.rmSync(spoolToRemove, { force: true });
  }
}

/** A page record after the first of its block: 8 bytes of address and flags, then the page. */
const PAGE_RECORD = 8 + CHUNK_SIZE;

/** Refuses (NO_SPACE) outputs that would not fit in their filesystems, before a byte of them is written. */
function requireSpace(name: string, outputs: { file: string; bytes: number }[]): void {
  const need = new Map<string, { free: number; bytes: number }>();
  for (const o of outputs) {
    const dir = path.dirname(path.resolve(o.file));
    let st: fs.StatsFs;
    try {
      st = fs.statfsSync(dir);
    } catch (e) {
      throw ioError('cannot check free space in', dir, e);
    }
    const key = `${st.type}:${st.blocks}:${st.bfree}`; // one filesystem, however many directories
    const have = need.get(key) ?? { free: st.bavail * st.bsize, bytes: 0 };
    have.bytes += o.bytes;
    need.set(key, have);
  }
  for (const [, n] of need) {
    if (n.bytes > n.free) throw new CloudletError('NO_SPACE', `${name}: rebuilding the VM needs ${n.bytes} bytes, the filesystem has ${n.free} free`);
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

/**
 * What an overlay holds, read in bounded memory however large its declared tables (no base needed); with
 * `verify`, every frame and the digest are checked too.
 */
export async function inspectOverlay(file: string, verify = false): Promise<OverlaySummary> {
  const { header, meta, index, tally } = await scanOverlay(file, null, verify);
  const d = tally.disk;
  const m = tally.memory;
  return {
    fileBytes: header.fileLength,
    formatVersion: header.version,
    base: meta.base,
    disk: { virtualSize: meta.disk.virtualSize, clusterBytes: 2 ** meta.disk.clusterBits, entries: index.diskEntries, byKind: d },
    memory: { ramBytes: meta.memory.blocks.reduce((a, b) => a + b.length, 0), blocks: meta.memory.blocks, entries: index.memoryEntries, byKind: m, deviceStateBytes: meta.memory.blobs.tail },
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
}
