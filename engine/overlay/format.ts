// The overlay file format, version 1 (specified in FORMAT.md): constants, the fixed header and trailer, the
// metadata document, and the index (blobs, chunk tables, frame table). Decoding checks every declared size
// and offset against limits before allocating or indexing anything.

import { createHash } from 'node:crypto';
import { CloudletError } from '../errors';
import { EntryKind as ChunkKind } from '../delta/classifier';
import { CHUNK_SIZE } from '../delta/hash';

export const MAGIC = Buffer.from([0x89, 0x43, 0x4c, 0x4f, 0x56, 0x4c, 0x0d, 0x0a]); // \x89 C L O V L \r \n
export const TRAILER_MAGIC = Buffer.from('CLOVEND\n', 'latin1');
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 80;
export const TRAILER_BYTES = 48; // magic, u64 file length, SHA-256 of every byte before the digest
export const ENTRY_BYTES = 16;
export const FRAME_ENTRY_BYTES = 8;

/**
 * The kind of an index entry: the delta's entry kinds (engine/delta/classifier.ts), stored by their numbers
 * (Zero 1, Literal 2, BaseDisk 3, BaseMemory 4, Earlier 5). `Same` (0) is never stored: a chunk the index does
 * not list is the base's.
 */
export { ChunkKind };

export const LIMITS = {
  maxMetaBytes: 1 << 20,
  maxIndexCompressed: 512 << 20,
  maxIndexRaw: 1 << 30,
  maxFrameChunks: 1024,
  maxVirtualSize: 64 * 2 ** 40,
  /** The smallest zstd frame with a checksum (magic, frame header, one block header, checksum). */
  minFrameBytes: 13,
  /** zstd window a reader allocates at most for the index (2^24 = 16 MiB; the writer uses level 19, 2^23). */
  indexWindowLog: 24,
};

/**
 * How far an overlay may go beyond its base (FORMAT.md "Limits"): an instance cannot grow its disk or RAM, so
 * an overlay describes at most the base's disk and about the base's RAM (a little more for device ROMs a
 * customized VM may have gained), and blobs of about the base's own sizes.
 */
export const BASE_SLACK = {
  ramBytes: 64 << 20,
  ramBlocks: 64,
  headerBytes: 1 << 20,
  tailBytes: 16 << 20,
};

/** What the base an overlay is applied to lets the overlay declare; every bound is checked before use. */
export interface BaseBounds {
  diskBytes: number;
  memoryFileBytes: number;
  /** Base disk chunks (BaseDisk refs stay below). */
  diskChunks: number;
  ramBytes: number;
  /** Base RAM pages in its flat page space (BaseMemory refs stay below). */
  pages: number;
  ramBlocks: number;
  headerBytes: number;
  tailBytes: number;
}

export function baseBounds(diskBytes: number, memoryFileBytes: number, mem: { blocks: { length: number }[]; totalPages: number; headerRegion: Buffer; tail: Buffer }): BaseBounds {
  return {
    diskBytes,
    memoryFileBytes,
    diskChunks: Math.ceil(diskBytes / CHUNK_SIZE),
    ramBytes: mem.blocks.reduce((a, b) => a + b.length, 0),
    pages: mem.totalPages,
    ramBlocks: mem.blocks.length,
    headerBytes: mem.headerRegion.length,
    tailBytes: mem.tail.length,
  };
}

/**
 * The checks that bound everything a reader later allocates or writes, made from the header and metadata
 * alone (before the index is decompressed): counts against the image sizes, the index's raw length against
 * the tables it must hold, and, when the base is known, the declared sizes against the base's.
 */
export function checkDeclared(h: OverlayHeader, meta: OverlayMeta, name: string, base: BaseBounds | null): void {
  const corrupt = (m: string) => new CloudletError('OVERLAY_CORRUPT', `${name}: ${m}`);
  const limit = (m: string) => new CloudletError('OVERLAY_LIMIT', `${name}: ${m}`);
  const diskChunks = meta.disk.virtualSize / CHUNK_SIZE;
  const ramBytes = meta.memory.blocks.reduce((a, b) => a + b.length, 0);
  const pages = ramBytes / CHUNK_SIZE;
  if (base) {
    if (meta.base.disk.size !== base.diskBytes) {
      throw new CloudletError('OVERLAY_WRONG_BASE', `${name} was made against a base disk of ${meta.base.disk.size} bytes; the base given has ${base.diskBytes}`);
    }
    if (meta.base.memory.size !== base.memoryFileBytes) {
      throw new CloudletError('OVERLAY_WRONG_BASE', `${name} was made against a base memory snapshot of ${meta.base.memory.size} bytes; the base given has ${base.memoryFileBytes}`);
    }
    const maxVirtual = Math.ceil(base.diskBytes / CHUNK_SIZE) * CHUNK_SIZE;
    if (meta.disk.virtualSize > maxVirtual) throw limit(`declares a disk of ${meta.disk.virtualSize} bytes; its base's disk is ${base.diskBytes} bytes and an instance cannot grow it`);
    if (ramBytes > base.ramBytes + BASE_SLACK.ramBytes) throw limit(`declares ${ramBytes} bytes of RAM; its base has ${base.ramBytes} (at most ${BASE_SLACK.ramBytes} more are accepted)`);
    if (meta.memory.blocks.length > base.ramBlocks + BASE_SLACK.ramBlocks) throw limit(`declares ${meta.memory.blocks.length} RAM blocks; its base has ${base.ramBlocks}`);
    if (meta.memory.blobs.header > base.headerBytes + BASE_SLACK.headerBytes) throw limit(`declares a save-file header of ${meta.memory.blobs.header} bytes; its base's is ${base.headerBytes}`);
    if (meta.memory.blobs.tail > base.tailBytes + BASE_SLACK.tailBytes) throw limit(`declares ${meta.memory.blobs.tail} bytes of device state; its base has ${base.tailBytes}`);
  }
  if (meta.disk.entries > diskChunks) throw corrupt(`declares ${meta.disk.entries} disk entries for a disk of ${diskChunks} chunks`);
  if (meta.memory.entries > pages) throw corrupt(`declares ${meta.memory.entries} memory entries for ${pages} pages of RAM`);
  const f = meta.frames;
  if (f.literals > meta.disk.entries + meta.memory.entries) throw corrupt(`declares ${f.literals} literals for ${meta.disk.entries + meta.memory.entries} entries`);
  if (f.count > f.literals || f.count < Math.ceil(f.literals / LIMITS.maxFrameChunks)) throw corrupt(`declares ${f.count} frames for ${f.literals} literals`);
  if (f.count * LIMITS.minFrameBytes > f.compressedBytes) throw corrupt(`declares ${f.count} frames in ${f.compressedBytes} bytes`);
  const raw = indexRawLength(meta);
  if (raw !== h.indexRawLength) throw corrupt(`the header declares an index of ${h.indexRawLength} bytes, the metadata's tables take ${raw}`);
}

export interface OverlayHeader {
  version: number;
  fileLength: number;
  metaLength: number;
  indexCompressedLength: number;
  indexRawLength: number;
  baseId: Buffer;
}

export function encodeHeader(h: OverlayHeader): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt16LE(h.version, 8);
  b.writeUInt16LE(0, 10); // flags, none defined
  b.writeUInt32LE(HEADER_BYTES, 12);
  writeLE64(b, h.fileLength, 16);
  b.writeUInt32LE(h.metaLength, 24);
  b.writeUInt32LE(h.indexCompressedLength, 28);
  writeLE64(b, h.indexRawLength, 32);
  h.baseId.copy(b, 40);
  return b;
}

export function decodeHeader(b: Buffer, name: string): OverlayHeader {
  if (b.length < HEADER_BYTES) throw new CloudletError('OVERLAY_TRUNCATED', `${name}: shorter than an overlay header`);
  if (!b.subarray(0, 8).equals(MAGIC)) throw new CloudletError('OVERLAY_BAD_MAGIC', `${name}: not a cloudlet VM overlay (bad magic)`);
  const version = b.readUInt16LE(8);
  if (version !== FORMAT_VERSION) {
    throw new CloudletError('OVERLAY_VERSION', `${name}: overlay format version ${version}; this engine reads version ${FORMAT_VERSION}${version > FORMAT_VERSION ? ' (upgrade the engine)' : ''}`);
  }
  const corrupt = (m: string) => new CloudletError('OVERLAY_CORRUPT', `${name}: ${m}`);
  if (b.readUInt16LE(10) !== 0) throw corrupt('unknown header flags');
  if (b.readUInt32LE(12) !== HEADER_BYTES) throw corrupt('bad header length');
  if (!b.subarray(72, 80).equals(Buffer.alloc(8))) throw corrupt('reserved header bytes are not zero');
  const h: OverlayHeader = {
    version,
    fileLength: readLE64(b, 16, name),
    metaLength: b.readUInt32LE(24),
    indexCompressedLength: b.readUInt32LE(28),
    indexRawLength: readLE64(b, 32, name),
    baseId: Buffer.from(b.subarray(40, 72)),
  };
  const limit = (m: string) => new CloudletError('OVERLAY_LIMIT', `${name}: ${m}`);
  if (h.metaLength === 0 || h.metaLength > LIMITS.maxMetaBytes) throw limit(`metadata of ${h.metaLength} bytes (limit ${LIMITS.maxMetaBytes})`);
  if (h.indexCompressedLength === 0 || h.indexCompressedLength > LIMITS.maxIndexCompressed) throw limit(`index of ${h.indexCompressedLength} compressed bytes (limit ${LIMITS.maxIndexCompressed})`);
  if (h.indexRawLength > LIMITS.maxIndexRaw) throw limit(`index of ${h.indexRawLength} bytes (limit ${LIMITS.maxIndexRaw})`);
  if (h.fileLength < HEADER_BYTES + h.metaLength + h.indexCompressedLength + TRAILER_BYTES) throw corrupt('declared file length is smaller than its parts');
  return h;
}

export function encodeTrailer(fileLength: number, digest: Buffer): Buffer {
  const b = Buffer.alloc(TRAILER_BYTES);
  TRAILER_MAGIC.copy(b, 0);
  writeLE64(b, fileLength, 8);
  digest.copy(b, 16);
  return b;
}

/** What the metadata document says. Unknown fields are ignored; known fields are type- and range-checked. */
export interface OverlayMeta {
  format: 'cloudlet-vm-overlay';
  version: number;
  createdBy: string;
  chunkSize: number;
  base: { disk: { sha256: string; size: number }; memory: { sha256: string; size: number } };
  disk: { virtualSize: number; clusterBits: number; backingFormat: string; entries: number };
  memory: {
    blocks: { id: string; length: number }[];
    sectionId: number;
    footers: boolean;
    sameLayoutAsBase: boolean;
    entries: number;
    blobs: { header: number; prologue: number; ramStart: number; tail: number };
  };
  frames: { count: number; literals: number; compressedBytes: number };
  stats?: Record<string, number>;
}

export function validateMeta(raw: unknown, name: string): OverlayMeta {
  const fail = (path: string, why: string) => new CloudletError('OVERLAY_CORRUPT', `${name}: metadata field ${path} ${why}`);
  const obj = (v: unknown, p: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(p, 'is not an object');
    return v as Record<string, unknown>;
  };
  const int = (v: unknown, p: string, max = Number.MAX_SAFE_INTEGER): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw fail(p, `must be an integer in 0..${max}`);
    return v;
  };
  const str = (v: unknown, p: string, max = 4096): string => {
    if (typeof v !== 'string' || v.length > max) throw fail(p, 'must be a string');
    return v;
  };
  const bool = (v: unknown, p: string): boolean => {
    if (typeof v !== 'boolean') throw fail(p, 'must be true or false');
    return v;
  };
  const hex = (v: unknown, p: string): string => {
    const s = str(v, p);
    if (!/^[0-9a-f]{64}$/.test(s)) throw fail(p, 'must be a SHA-256 hex digest');
    return s;
  };
  const m = obj(raw, '$');
  if (m.format !== 'cloudlet-vm-overlay') throw fail('format', 'is not "cloudlet-vm-overlay"');
  const base = obj(m.base, 'base');
  const bd = obj(base.disk, 'base.disk');
  const bm = obj(base.memory, 'base.memory');
  const d = obj(m.disk, 'disk');
  const mem = obj(m.memory, 'memory');
  const blobs = obj(mem.blobs, 'memory.blobs');
  const fr = obj(m.frames, 'frames');
  if (!Array.isArray(mem.blocks) || mem.blocks.length === 0 || mem.blocks.length > 4096) throw fail('memory.blocks', 'must be a list of 1..4096 blocks');
  const meta: OverlayMeta = {
    format: 'cloudlet-vm-overlay',
    version: int(m.version, 'version', 65535),
    createdBy: str(m.createdBy, 'createdBy'),
    chunkSize: int(m.chunkSize, 'chunkSize'),
    base: {
      disk: { sha256: hex(bd.sha256, 'base.disk.sha256'), size: int(bd.size, 'base.disk.size', LIMITS.maxVirtualSize) },
      memory: { sha256: hex(bm.sha256, 'base.memory.sha256'), size: int(bm.size, 'base.memory.size') },
    },
    disk: {
      virtualSize: int(d.virtualSize, 'disk.virtualSize', LIMITS.maxVirtualSize),
      clusterBits: int(d.clusterBits, 'disk.clusterBits', 21),
      backingFormat: str(d.backingFormat, 'disk.backingFormat', 32),
      entries: int(d.entries, 'disk.entries'),
    },
    memory: {
      blocks: mem.blocks.map((b, i) => {
        const o = obj(b, `memory.blocks[${i}]`);
        return { id: str(o.id, `memory.blocks[${i}].id`, 255), length: int(o.length, `memory.blocks[${i}].length`, 64 * 2 ** 30) };
      }),
      sectionId: int(mem.sectionId, 'memory.sectionId', 0xffffffff),
      footers: bool(mem.footers, 'memory.footers'),
      sameLayoutAsBase: bool(mem.sameLayoutAsBase, 'memory.sameLayoutAsBase'),
      entries: int(mem.entries, 'memory.entries'),
      blobs: {
        header: int(blobs.header, 'memory.blobs.header', 16 << 20),
        prologue: int(blobs.prologue, 'memory.blobs.prologue', 1 << 20),
        ramStart: int(blobs.ramStart, 'memory.blobs.ramStart', 1 << 20),
        tail: int(blobs.tail, 'memory.blobs.tail', 64 << 20),
      },
    },
    frames: { count: int(fr.count, 'frames.count'), literals: int(fr.literals, 'frames.literals'), compressedBytes: int(fr.compressedBytes, 'frames.compressedBytes') },
  };
  if (meta.chunkSize !== CHUNK_SIZE) throw fail('chunkSize', `must be ${CHUNK_SIZE}`);
  if (meta.disk.clusterBits < 12) throw fail('disk.clusterBits', 'must be at least 12 (4 KiB clusters)');
  if (meta.disk.virtualSize % CHUNK_SIZE !== 0) throw fail('disk.virtualSize', 'must be a multiple of 4096');
  if (meta.disk.backingFormat !== 'raw') throw fail('disk.backingFormat', 'must be "raw"');
  for (const [i, b] of meta.memory.blocks.entries()) if (b.length === 0 || b.length % CHUNK_SIZE !== 0) throw fail(`memory.blocks[${i}].length`, 'must be a positive multiple of 4096');
  if (typeof m.stats === 'object' && m.stats !== null) meta.stats = m.stats as Record<string, number>;
  return meta;
}

/** Decoded index: typed-array views over the decompressed index buffer. */
export interface OverlayIndex {
  blobs: { header: Buffer; prologue: Buffer; ramStart: Buffer; tail: Buffer };
  /** Entries: kinds[i], refs[i], targets[i]; disk entries first (0..diskEntries-1), then memory entries. */
  kinds: Uint8Array;
  refs: Uint32Array;
  targets: Float64Array;
  diskEntries: number;
  memoryEntries: number;
  frameCompressed: Uint32Array;
  frameChunks: Uint32Array;
}

export function indexRawLength(meta: OverlayMeta): number {
  const b = meta.memory.blobs;
  return b.header + b.prologue + b.ramStart + b.tail + (meta.disk.entries + meta.memory.entries) * ENTRY_BYTES + meta.frames.count * FRAME_ENTRY_BYTES;
}

export function encodeEntries(kinds: Uint8Array, refs: Uint32Array, targets: Float64Array, count: number): Buffer {
  const b = Buffer.alloc(count * ENTRY_BYTES);
  for (let i = 0; i < count; i++) {
    const at = i * ENTRY_BYTES;
    b[at] = kinds[i];
    b.writeUInt32LE(refs[i], at + 4);
    writeLE64(b, targets[i], at + 8);
  }
  return b;
}

/** Entries by kind, per table (what `inspect` reports). */
export type KindTally = Record<'zero' | 'literal' | 'baseDisk' | 'baseMemory' | 'earlier', number>;
const KIND_NAMES: (keyof KindTally)[] = ['zero', 'zero', 'literal', 'baseDisk', 'baseMemory', 'earlier'];

function emptyTally(): KindTally {
  return { zero: 0, literal: 0, baseDisk: 0, baseMemory: 0, earlier: 0 };
}

/**
 * Checks the decompressed index as it streams by, in pieces of any size, so a reader never holds more of it
 * than it asks to keep. The checks need no base except the two ref bounds, made when `base` is given: sizes
 * add up, kinds are known, targets ascend within each table and stay inside the image, Earlier refs point
 * back to literals already seen, frame sizes are bounded and account for every literal. With `keep`, the
 * tables and blobs are kept (sized by the declared counts, which checkDeclared has bounded).
 */
export class IndexParser {
  private readonly segments: { kind: 'blob' | 'entries' | 'frames'; blob?: keyof OverlayIndex['blobs']; bytes: number }[];
  private seg = 0;
  private segDone = 0;
  private readonly carry = Buffer.alloc(ENTRY_BYTES);
  private carryLen = 0;
  private entry = 0;
  private frame = 0;
  private literals = 0;
  private sumChunks = 0;
  private sumBytes = 0;
  private prevTarget = -1;
  private readonly diskChunks: number;
  private readonly memPages: number;
  readonly tally = { disk: emptyTally(), memory: emptyTally() };
  readonly index: OverlayIndex;

  constructor(
    private readonly meta: OverlayMeta,
    private readonly name: string,
    private readonly keep: boolean,
    private readonly base: BaseBounds | null,
  ) {
    const bl = meta.memory.blobs;
    const n = meta.disk.entries + meta.memory.entries;
    const fc = meta.frames.count;
    this.segments = [
      { kind: 'blob', blob: 'header', bytes: bl.header },
      { kind: 'blob', blob: 'prologue', bytes: bl.prologue },
      { kind: 'blob', blob: 'ramStart', bytes: bl.ramStart },
      { kind: 'blob', blob: 'tail', bytes: bl.tail },
      { kind: 'entries', bytes: n * ENTRY_BYTES },
      { kind: 'frames', bytes: fc * FRAME_ENTRY_BYTES },
    ];
    const none = Buffer.alloc(0);
    this.index = {
      blobs: keep
        ? { header: Buffer.alloc(bl.header), prologue: Buffer.alloc(bl.prologue), ramStart: Buffer.alloc(bl.ramStart), tail: Buffer.alloc(bl.tail) }
        : { header: none, prologue: none, ramStart: none, tail: none },
      kinds: new Uint8Array(keep ? n : 0),
      refs: new Uint32Array(keep ? n : 0),
      targets: new Float64Array(keep ? n : 0),
      diskEntries: meta.disk.entries,
      memoryEntries: meta.memory.entries,
      // The frame table is needed to read the frames, kept or not; its size is bounded by the file's length.
      frameCompressed: new Uint32Array(fc),
      frameChunks: new Uint32Array(fc),
    };
    this.diskChunks = meta.disk.virtualSize / CHUNK_SIZE;
    this.memPages = meta.memory.blocks.reduce((s, b) => s + b.length, 0) / CHUNK_SIZE;
  }

  push(b: Buffer): void {
    let at = 0;
    while (at < b.length) {
      const sg = this.segments[this.seg];
      if (!sg) throw new CloudletError('OVERLAY_CORRUPT', `${this.name}: the index holds more bytes than its tables`);
      if (this.segDone === sg.bytes) {
        this.seg++;
        this.segDone = 0;
        continue;
      }
      if (sg.kind === 'blob') {
        const n = Math.min(sg.bytes - this.segDone, b.length - at);
        const into = this.index.blobs[sg.blob!];
        if (into.length > 0) b.copy(into, this.segDone, at, at + n);
        this.segDone += n;
        at += n;
        continue;
      }
      const size = sg.kind === 'entries' ? ENTRY_BYTES : FRAME_ENTRY_BYTES;
      if (this.carryLen > 0 || b.length - at < size) {
        const n = Math.min(size - this.carryLen, b.length - at, sg.bytes - this.segDone - this.carryLen);
        b.copy(this.carry, this.carryLen, at, at + n);
        this.carryLen += n;
        at += n;
        if (this.carryLen === size) {
          this.record(sg.kind, this.carry, 0);
          this.segDone += size;
          this.carryLen = 0;
        }
        continue;
      }
      const whole = Math.min(Math.floor((b.length - at) / size), (sg.bytes - this.segDone) / size);
      for (let k = 0; k < whole; k++) this.record(sg.kind, b, at + k * size);
      at += whole * size;
      this.segDone += whole * size;
    }
  }

  private record(kind: 'entries' | 'frames', b: Buffer, e: number): void {
    const name = this.name;
    const corrupt = (m: string) => new CloudletError('OVERLAY_CORRUPT', `${name}: ${m}`);
    if (kind === 'frames') {
      const f = this.frame++;
      const c = b.readUInt32LE(e);
      const k = b.readUInt32LE(e + 4);
      if (k === 0 || k > LIMITS.maxFrameChunks) throw new CloudletError('OVERLAY_LIMIT', `${name}: frame ${f} holds ${k} chunks (limit ${LIMITS.maxFrameChunks})`);
      if (c < LIMITS.minFrameBytes || c > LIMITS.maxFrameChunks * CHUNK_SIZE + (1 << 20)) throw new CloudletError('OVERLAY_LIMIT', `${name}: frame ${f} is ${c} compressed bytes`);
      this.index.frameCompressed[f] = c;
      this.index.frameChunks[f] = k;
      this.sumChunks += k;
      this.sumBytes += c;
      return;
    }
    const i = this.entry++;
    const kindByte = b[e];
    if (kindByte < ChunkKind.Zero || kindByte > ChunkKind.Earlier) throw corrupt(`entry ${i} has unknown kind ${kindByte}`);
    if (b[e + 1] | b[e + 2] | b[e + 3]) throw corrupt(`entry ${i} has non-zero reserved bytes`);
    const ref = b.readUInt32LE(e + 4);
    const target = readLE64(b, e + 8, name);
    const isDisk = i < this.meta.disk.entries;
    if (i === this.meta.disk.entries) this.prevTarget = -1;
    if (target >= (isDisk ? this.diskChunks : this.memPages)) throw corrupt(`entry ${i} targets ${isDisk ? 'disk chunk' : 'memory page'} ${target}, beyond the image`);
    if (target <= this.prevTarget) throw corrupt(`entry ${i} is out of order`);
    this.prevTarget = target;
    if (kindByte === ChunkKind.Earlier && ref >= this.literals) throw corrupt(`entry ${i} refers to literal ${ref}, which does not come before it`);
    if (this.base && kindByte === ChunkKind.BaseDisk && ref >= this.base.diskChunks) throw corrupt(`entry ${i} refers to base disk chunk ${ref}, beyond the base`);
    if (this.base && kindByte === ChunkKind.BaseMemory && ref >= this.base.pages) throw corrupt(`entry ${i} refers to base page ${ref}, beyond the base`);
    if (kindByte === ChunkKind.Literal) {
      this.literals++;
      if (this.literals > this.meta.frames.literals) throw corrupt(`tables hold more literals than the ${this.meta.frames.literals} the metadata declares`);
    }
    (isDisk ? this.tally.disk : this.tally.memory)[KIND_NAMES[kindByte]]++;
    if (this.keep) {
      this.index.kinds[i] = kindByte;
      this.index.refs[i] = ref;
      this.index.targets[i] = target;
    }
  }

  /** After the last piece: everything declared arrived and adds up. */
  end(): OverlayIndex {
    const corrupt = (m: string) => new CloudletError('OVERLAY_CORRUPT', `${this.name}: ${m}`);
    while (this.seg < this.segments.length && this.segDone === this.segments[this.seg].bytes) {
      this.seg++;
      this.segDone = 0;
    }
    if (this.seg < this.segments.length || this.carryLen > 0) throw corrupt('the index ends before its tables do');
    if (this.literals !== this.meta.frames.literals) throw corrupt(`tables hold ${this.literals} literals, metadata says ${this.meta.frames.literals}`);
    if (this.sumChunks !== this.literals) throw corrupt(`frames hold ${this.sumChunks} chunks, tables use ${this.literals} literals`);
    if (this.sumBytes !== this.meta.frames.compressedBytes) throw corrupt(`frames total ${this.sumBytes} bytes, metadata says ${this.meta.frames.compressedBytes}`);
    return this.index;
  }
}

export function writeLE64(b: Buffer, v: number, at: number): void {
  b.writeUInt32LE(v >>> 0, at);
  b.writeUInt32LE(Math.floor(v / 0x100000000), at + 4);
}

export function readLE64(b: Buffer, at: number, name: string): number {
  const hi = b.readUInt32LE(at + 4);
  if (hi > 0x1fffff) throw new CloudletError('OVERLAY_LIMIT', `${name}: 64-bit value at index byte ${at} is absurdly large`);
  return hi * 0x100000000 + b.readUInt32LE(at);
}

/** Base identity: one SHA-256 over the two base files' SHA-256 digests. */
export function baseIdOf(diskSha256: string, memorySha256: string): Buffer {
  return createHash('sha256').update('cloudlet-base-v1\0').update(Buffer.from(diskSha256, 'hex')).update(Buffer.from(memorySha256, 'hex')).digest();
}
