// The overlay file format, version 1 (specified in FORMAT.md): constants, the fixed header and trailer, the
// metadata document, and the index (blobs, chunk tables, frame table). Decoding checks every declared size
// and offset against limits before allocating or indexing anything.

import { createHash } from 'node:crypto';
import { CloudletError } from '../errors';
import { CHUNK_SIZE } from './hash';

export const MAGIC = Buffer.from([0x89, 0x43, 0x4c, 0x4f, 0x56, 0x4c, 0x0d, 0x0a]); // \x89 C L O V L \r \n
export const TRAILER_MAGIC = Buffer.from('CLOVEND\n', 'latin1');
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 80;
export const TRAILER_BYTES = 48; // magic, u64 file length, SHA-256 of every byte before the digest
export const ENTRY_BYTES = 16;
export const FRAME_ENTRY_BYTES = 8;

export enum ChunkKind {
  /** All zero bytes. */
  Zero = 1,
  /** The next 4 KiB of the literal stream (the frames, decompressed, in order). */
  Literal = 2,
  /** Base disk chunk number `ref`. */
  BaseDisk = 3,
  /** Base memory page number `ref` (flat page space of the base's RAM blocks). */
  BaseMemory = 4,
  /** The same bytes as literal number `ref` of this overlay, which comes earlier. */
  Earlier = 5,
}

export const LIMITS = {
  maxMetaBytes: 1 << 20,
  maxIndexCompressed: 512 << 20,
  maxIndexRaw: 1 << 30,
  maxFrameChunks: 1024,
  maxVirtualSize: 64 * 2 ** 40,
};

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

/**
 * Splits and checks the decompressed index. Checks here are the ones that need no base: sizes add up,
 * kinds are known, targets ascend within each table and stay inside the image, Earlier refs point back to
 * literals already seen, frame sizes are bounded and account for every literal.
 */
export function decodeIndex(raw: Buffer, meta: OverlayMeta, name: string): OverlayIndex {
  const corrupt = (m: string) => new CloudletError('OVERLAY_CORRUPT', `${name}: ${m}`);
  if (raw.length !== indexRawLength(meta)) throw corrupt(`index is ${raw.length} bytes, metadata implies ${indexRawLength(meta)}`);
  let at = 0;
  const take = (n: number) => {
    const v = raw.subarray(at, at + n);
    at += n;
    return v;
  };
  const bl = meta.memory.blobs;
  const blobs = { header: take(bl.header), prologue: take(bl.prologue), ramStart: take(bl.ramStart), tail: take(bl.tail) };
  const n = meta.disk.entries + meta.memory.entries;
  const kinds = new Uint8Array(n);
  const refs = new Uint32Array(n);
  const targets = new Float64Array(n);
  const diskChunks = meta.disk.virtualSize / CHUNK_SIZE;
  const memPages = meta.memory.blocks.reduce((s, b) => s + b.length, 0) / CHUNK_SIZE;
  let literals = 0;
  for (let i = 0; i < n; i++) {
    const e = at + i * ENTRY_BYTES;
    const kind = raw[e];
    if (kind < ChunkKind.Zero || kind > ChunkKind.Earlier) throw corrupt(`entry ${i} has unknown kind ${kind}`);
    if (raw[e + 1] | raw[e + 2] | raw[e + 3]) throw corrupt(`entry ${i} has non-zero reserved bytes`);
    const ref = raw.readUInt32LE(e + 4);
    const target = readLE64(raw, e + 8, name);
    const isDisk = i < meta.disk.entries;
    const first = isDisk ? i === 0 : i === meta.disk.entries;
    if (target >= (isDisk ? diskChunks : memPages)) throw corrupt(`entry ${i} targets ${isDisk ? 'disk chunk' : 'memory page'} ${target}, beyond the image`);
    if (!first && target <= targets[i - 1]) throw corrupt(`entry ${i} is out of order`);
    if (kind === ChunkKind.Earlier && ref >= literals) throw corrupt(`entry ${i} refers to literal ${ref}, which does not come before it`);
    if (kind === ChunkKind.Literal) literals++;
    kinds[i] = kind;
    refs[i] = ref;
    targets[i] = target;
  }
  at += n * ENTRY_BYTES;
  if (literals !== meta.frames.literals) throw corrupt(`tables hold ${literals} literals, metadata says ${meta.frames.literals}`);
  const fc = meta.frames.count;
  const frameCompressed = new Uint32Array(fc);
  const frameChunks = new Uint32Array(fc);
  let sumChunks = 0;
  let sumBytes = 0;
  for (let f = 0; f < fc; f++) {
    const c = raw.readUInt32LE(at + f * FRAME_ENTRY_BYTES);
    const k = raw.readUInt32LE(at + f * FRAME_ENTRY_BYTES + 4);
    if (k === 0 || k > LIMITS.maxFrameChunks) throw new CloudletError('OVERLAY_LIMIT', `${name}: frame ${f} holds ${k} chunks (limit ${LIMITS.maxFrameChunks})`);
    if (c === 0 || c > LIMITS.maxFrameChunks * CHUNK_SIZE + (1 << 20)) throw new CloudletError('OVERLAY_LIMIT', `${name}: frame ${f} is ${c} compressed bytes`);
    frameCompressed[f] = c;
    frameChunks[f] = k;
    sumChunks += k;
    sumBytes += c;
  }
  if (sumChunks !== literals) throw corrupt(`frames hold ${sumChunks} chunks, tables use ${literals} literals`);
  if (sumBytes !== meta.frames.compressedBytes) throw corrupt(`frames total ${sumBytes} bytes, metadata says ${meta.frames.compressedBytes}`);
  return { blobs, kinds, refs, targets, diskEntries: meta.disk.entries, memoryEntries: meta.memory.entries, frameCompressed, frameChunks };
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
