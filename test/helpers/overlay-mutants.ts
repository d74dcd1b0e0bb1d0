// Structure-aware mutations of a good overlay, for the fuzzing harness: the file is taken apart (header,
// metadata, index, frames), one field is set to a hostile value, and the file is put back together with every
// length that is not the mutated one made consistent and the whole-file digest recomputed, so that the
// parser's own checks, not the digest, have to refuse it. Field offsets follow engine/overlay/FORMAT.md.

import { createHash } from 'node:crypto';
import * as zstd from 'zstd-napi';
import { ENTRY_BYTES, FRAME_ENTRY_BYTES, HEADER_BYTES, TRAILER_BYTES, encodeTrailer, writeLE64 } from '../../engine/overlay/format';

type Json = Record<string, unknown>;

export interface OverlayParts {
  header: Buffer;
  meta: Json;
  indexRaw: Buffer;
  frames: Buffer[];
}

export interface Mutant {
  name: string;
  bytes: Buffer;
}

export function splitOverlay(b: Buffer): OverlayParts {
  const metaLen = b.readUInt32LE(24);
  const idxLen = b.readUInt32LE(28);
  const header = Buffer.from(b.subarray(0, HEADER_BYTES));
  const meta = JSON.parse(b.toString('utf8', HEADER_BYTES, HEADER_BYTES + metaLen)) as Json;
  const indexRaw = Buffer.from(zstd.decompress(b.subarray(HEADER_BYTES + metaLen, HEADER_BYTES + metaLen + idxLen)));
  const frameTableAt = indexRaw.length - FRAME_ENTRY_BYTES * ((meta.frames as Json).count as number);
  const frames: Buffer[] = [];
  let at = HEADER_BYTES + metaLen + idxLen;
  for (let f = 0; f < ((meta.frames as Json).count as number); f++) {
    const len = indexRaw.readUInt32LE(frameTableAt + f * FRAME_ENTRY_BYTES);
    frames.push(Buffer.from(b.subarray(at, at + len)));
    at += len;
  }
  return { header, meta, indexRaw, frames };
}

function clone(p: OverlayParts): OverlayParts {
  return { header: Buffer.from(p.header), meta: JSON.parse(JSON.stringify(p.meta)) as Json, indexRaw: Buffer.from(p.indexRaw), frames: p.frames.map((f) => Buffer.from(f)) };
}

/** Reassembles parts; `fix` patches header fields after the consistent ones are written (the mutated field). */
export function joinOverlay(p: OverlayParts, o: { indexCompressed?: Buffer; fixHeader?: (h: Buffer) => void } = {}): Buffer {
  const metaBytes = Buffer.from(JSON.stringify(p.meta), 'utf8');
  const idx = o.indexCompressed ?? compressWithSize(p.indexRaw);
  const framesBytes = Buffer.concat(p.frames);
  const h = Buffer.from(p.header);
  const fileLength = HEADER_BYTES + metaBytes.length + idx.length + framesBytes.length + TRAILER_BYTES;
  writeLE64(h, fileLength, 16);
  h.writeUInt32LE(metaBytes.length, 24);
  h.writeUInt32LE(idx.length, 28);
  writeLE64(h, p.indexRaw.length, 32);
  o.fixHeader?.(h);
  const body = Buffer.concat([h, metaBytes, idx, framesBytes]);
  return reseal(body, body.length + TRAILER_BYTES);
}

/** Appends a trailer with the right digest for `body` (and the given length field). */
function reseal(body: Buffer, lengthField: number): Buffer {
  const t = encodeTrailer(lengthField, Buffer.alloc(32));
  const digest = createHash('sha256').update(body).update(t.subarray(0, 16)).digest();
  return Buffer.concat([body, encodeTrailer(lengthField, digest)]);
}

function compressWithSize(raw: Buffer): Buffer {
  const c = new zstd.Compressor();
  c.setParameters({ compressionLevel: 3, checksumFlag: true, contentSizeFlag: true });
  return c.compress(raw);
}

/**
 * A zstd frame of `size` bytes all equal to `fill`, made of RLE blocks: a few bytes per 128 KiB, the shape of
 * a decompression bomb (FORMAT.md: frames are zstd frames, RFC 8878 section 3.1.1).
 */
export function rleBomb(size: number, fill: number): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4 + 1 + 8);
  head.writeUInt32LE(0xfd2fb528, 0);
  head[4] = 0xe0; // 8-byte content size, single segment, no checksum, no dictionary
  writeLE64(head, size, 5);
  parts.push(head);
  const max = 128 * 1024;
  for (let left = size; left > 0;) {
    const n = Math.min(max, left);
    left -= n;
    const bh = (n << 3) | (1 << 1) | (left === 0 ? 1 : 0); // block size, type RLE, last block
    parts.push(Buffer.from([bh & 0xff, (bh >>> 8) & 0xff, (bh >>> 16) & 0xff, fill]));
  }
  return Buffer.concat(parts);
}

const HOSTILE_COUNTS = (v: number): number[] => [...new Set([0, v - 1, v + 1, v * 2 + 1, 2 ** 31, 2 ** 32 + 7, 2 ** 40, Number.MAX_SAFE_INTEGER])].filter((x) => x >= 0 && x !== v);

function getPath(o: Json, p: string[]): unknown {
  return p.reduce<unknown>((a, k) => (a as Json)[k], o);
}
function setPath(o: Json, p: string[], v: unknown): void {
  (getPath(o, p.slice(0, -1)) as Json)[p[p.length - 1]] = v;
}

/** Offsets inside the raw index: blobs, then the entry tables, then the frame table. */
function layoutOf(p: OverlayParts): { entriesAt: number; diskEntries: number; memEntries: number; framesAt: number; frames: number } {
  const m = p.meta as { disk: { entries: number }; memory: { entries: number; blobs: Record<string, number> }; frames: { count: number } };
  const b = m.memory.blobs;
  const entriesAt = b.header + b.prologue + b.ramStart + b.tail;
  return { entriesAt, diskEntries: m.disk.entries, memEntries: m.memory.entries, framesAt: entriesAt + (m.disk.entries + m.memory.entries) * ENTRY_BYTES, frames: m.frames.count };
}

/** Every mutant of `good`; `baseDiskBytes`/`baseRamBytes` shape the "past the base" ones. */
export function mutants(good: Buffer, baseDiskBytes: number, baseRamBytes: number): Mutant[] {
  const base = splitOverlay(good);
  const out: Mutant[] = [];
  const add = (name: string, f: (p: OverlayParts) => Buffer) => out.push({ name, bytes: f(clone(base)) });

  // --- header fields (each set alone; the rest stay consistent) -------------------------------------------
  const h = joinOverlay(base);
  const fileLength = h.length;
  const headerFields: [string, (b: Buffer, v: number) => void, number[]][] = [
    ['header.fileLength', (b, v) => writeLE64(b, v, 16), [0, fileLength - 1, fileLength + 1, fileLength * 2, 2 ** 40]],
    ['header.metaLength', (b, v) => b.writeUInt32LE(v >>> 0, 24), [0, 1, base.header.readUInt32LE(24) + 1, 2 ** 20 + 1, 2 ** 32 - 1]],
    ['header.indexCompressedLength', (b, v) => b.writeUInt32LE(v >>> 0, 28), [0, 1, base.header.readUInt32LE(28) - 1, base.header.readUInt32LE(28) + 1, 2 ** 29 + 1, 2 ** 32 - 1]],
    ['header.indexRawLength', (b, v) => writeLE64(b, v, 32), [0, base.indexRaw.length - 1, base.indexRaw.length + 1, 2 ** 30, 2 ** 30 + 1, 2 ** 40]],
    ['header.version', (b, v) => b.writeUInt16LE(v, 8), [0, 2, 65535]],
    ['header.flags', (b, v) => b.writeUInt16LE(v, 10), [1, 0x8000]],
    ['header.headerLength', (b, v) => b.writeUInt32LE(v, 12), [0, 79, 81]],
  ];
  for (const [field, write, values] of headerFields) {
    for (const v of values) {
      const wantLength = field === 'header.fileLength' ? v : -1;
      add(`${field}=${v}`, (p) => {
        const joined = joinOverlay(p, { fixHeader: (b) => write(b, v) });
        // The trailer repeats the file length: keep it equal to the (mutated) header's, digest recomputed.
        return wantLength >= 0 ? reseal(joined.subarray(0, joined.length - TRAILER_BYTES), wantLength) : joined;
      });
    }
  }

  // --- metadata sizes and counts (index length kept consistent with the metadata, so the count checks fire) --
  const metaFields = [
    'disk.virtualSize',
    'disk.entries',
    'disk.clusterBits',
    'memory.entries',
    'memory.blobs.header',
    'memory.blobs.prologue',
    'memory.blobs.ramStart',
    'memory.blobs.tail',
    'frames.count',
    'frames.literals',
    'frames.compressedBytes',
    'base.disk.size',
    'base.memory.size',
    'chunkSize',
  ];
  for (const field of metaFields) {
    const pth = field.split('.');
    const v = getPath(base.meta, pth) as number;
    const values = field === 'disk.clusterBits' ? [0, 11, 22, 63] : HOSTILE_COUNTS(v);
    for (const nv of values) add(`meta.${field}=${nv}`, (p) => (setPath(p.meta, pth, nv), joinOverlay(p)));
    add(`meta.${field}=-1`, (p) => (setPath(p.meta, pth, -1), joinOverlay(p)));
    add(`meta.${field}=1.5`, (p) => (setPath(p.meta, pth, 1.5), joinOverlay(p)));
    add(`meta.${field}="12"`, (p) => (setPath(p.meta, pth, '12'), joinOverlay(p)));
  }
  const blockLen = (base.meta.memory as { blocks: { length: number }[] }).blocks[0].length;
  for (const nv of [0, 4095, blockLen + 4096, 64 * 2 ** 30, 64 * 2 ** 30 + 4096]) {
    add(`meta.memory.blocks[0].length=${nv}`, (p) => (((p.meta.memory as { blocks: { length: number }[] }).blocks[0].length = nv), joinOverlay(p)));
  }
  add('meta.memory.blocks=[]', (p) => (((p.meta.memory as Json).blocks = []), joinOverlay(p)));
  add('meta.memory.blocks x5000', (p) => (((p.meta.memory as Json).blocks = Array.from({ length: 5000 }, (_, i) => ({ id: `b${i}`, length: 4096 }))), joinOverlay(p)));

  // --- declared sizes beyond the base, with the tables to match (the engine used to write these) -----------
  add('disk grown to 1 GiB with entries past the base', (p) => {
    const L = layoutOf(p);
    const extra = 2048;
    const ents = Buffer.alloc(extra * ENTRY_BYTES);
    for (let k = 0; k < extra; k++) {
      ents[k * ENTRY_BYTES] = 3; // BaseDisk: each pulls a whole cluster of base bytes into the layer
      ents.writeUInt32LE(0, k * ENTRY_BYTES + 4);
      writeLE64(ents, baseDiskBytes / 4096 + k * 16, k * ENTRY_BYTES + 8);
    }
    const at = L.entriesAt + L.diskEntries * ENTRY_BYTES;
    p.indexRaw = Buffer.concat([p.indexRaw.subarray(0, at), ents, p.indexRaw.subarray(at)]);
    (p.meta.disk as Json).virtualSize = 2 ** 30;
    (p.meta.disk as Json).entries = L.diskEntries + extra;
    return joinOverlay(p);
  });
  add('an extra 64 GiB RAM block', (p) => {
    (p.meta.memory as { blocks: { id: string; length: number }[] }).blocks.push({ id: 'extra', length: 64 * 2 ** 30 });
    (p.meta.memory as Json).sameLayoutAsBase = false;
    return joinOverlay(p);
  });
  add(`RAM grown by ${2 * baseRamBytes} bytes in its first block`, (p) => {
    (p.meta.memory as { blocks: { length: number }[] }).blocks[0].length += 2 * baseRamBytes;
    (p.meta.memory as Json).sameLayoutAsBase = false;
    return joinOverlay(p);
  });
  add('device state blob of 60 MiB declared', (p) => {
    const b = (p.meta.memory as { blobs: Record<string, number> }).blobs;
    const L = layoutOf(p);
    const grow = (60 << 20) - b.tail;
    b.tail += grow;
    p.indexRaw = Buffer.concat([p.indexRaw.subarray(0, L.entriesAt), Buffer.alloc(grow), p.indexRaw.subarray(L.entriesAt)]);
    return joinOverlay(p);
  });

  // --- the index frame itself: bombs and declared sizes that lie ---------------------------------------------
  add('index bomb: 1 GiB of RLE zstd, header and metadata agreeing on 1 GiB', (p) => {
    const L = layoutOf(p);
    const raw = 2 ** 30;
    const n = Math.floor((raw - L.entriesAt - L.frames * FRAME_ENTRY_BYTES) / ENTRY_BYTES);
    (p.meta.disk as Json).entries = n - L.memEntries;
    const bomb = rleBomb(L.entriesAt + n * ENTRY_BYTES + L.frames * FRAME_ENTRY_BYTES, 0);
    p.indexRaw = Buffer.alloc(0);
    return joinOverlay(p, { indexCompressed: bomb, fixHeader: (b) => writeLE64(b, L.entriesAt + n * ENTRY_BYTES + L.frames * FRAME_ENTRY_BYTES, 32) });
  });
  add('index bomb: 1 GiB declared by the frame only', (p) => joinOverlay(p, { indexCompressed: rleBomb(2 ** 30, 0) }));
  add('index frame declares one byte more than it holds', (p) => {
    const c = compressWithSize(p.indexRaw);
    // The frame header's content size field follows the 4-byte magic and the descriptor (and a window byte).
    const fhd = c[4];
    const fcsAt = 5 + ((fhd & 0x20) === 0 ? 1 : 0);
    const fcsBytes = [1, 2, 4, 8][fhd >>> 6];
    const declared = fcsBytes === 2 ? c.readUInt16LE(fcsAt) + 256 : c.readUIntLE(fcsAt, Math.min(fcsBytes, 6));
    const next = declared + 1 - (fcsBytes === 2 ? 256 : 0);
    c.writeUIntLE(next, fcsAt, Math.min(fcsBytes, 6));
    return joinOverlay(p, { indexCompressed: c });
  });
  add('index frame with bytes after it', (p) => joinOverlay(p, { indexCompressed: Buffer.concat([compressWithSize(p.indexRaw), Buffer.from([1, 2, 3, 4])]) }));
  add('index frame cut short', (p) => {
    const c = compressWithSize(p.indexRaw);
    return joinOverlay(p, { indexCompressed: c.subarray(0, c.length - 5) });
  });
  add('index holds more than the metadata says', (p) => {
    const grown = Buffer.concat([p.indexRaw, Buffer.alloc(16)]);
    return joinOverlay({ ...p, indexRaw: grown });
  });

  // --- table entries -----------------------------------------------------------------------------------------
  const L0 = layoutOf(base);
  const entryAt = (i: number) => L0.entriesAt + i * ENTRY_BYTES;
  const firstOf = (kind: number, from: number, to: number) => {
    for (let i = from; i < to; i++) if (base.indexRaw[entryAt(i)] === kind) return i;
    return -1;
  };
  const all = L0.diskEntries + L0.memEntries;
  for (const k of [0, 6, 255]) add(`entry 0 kind=${k}`, (p) => ((p.indexRaw[entryAt(0)] = k), joinOverlay(p)));
  add('entry 0 reserved byte set', (p) => ((p.indexRaw[entryAt(0) + 2] = 1), joinOverlay(p)));
  for (const [label, i] of [
    ['last disk entry', L0.diskEntries - 1],
    ['last memory entry', all - 1],
  ] as const) {
    if (i < 0) continue;
    for (const t of [2 ** 31, 2 ** 40, 2 ** 53 - 1]) add(`${label} target=${t}`, (p) => (writeLE64(p.indexRaw, Math.min(t, 2 ** 53 - 1), entryAt(i) + 8), joinOverlay(p)));
    add(`${label} target out of order`, (p) => (writeLE64(p.indexRaw, 0, entryAt(i) + 8), joinOverlay(p)));
  }
  for (const [kind, label] of [
    [3, 'BaseDisk'],
    [4, 'BaseMemory'],
    [5, 'Earlier'],
  ] as const) {
    const i = firstOf(kind, 0, all);
    if (i < 0) continue;
    for (const r of [2 ** 31, 2 ** 32 - 1]) add(`${label} ref=${r}`, (p) => (p.indexRaw.writeUInt32LE(r, entryAt(i) + 4), joinOverlay(p)));
  }
  const lit = firstOf(2, 0, all);
  if (lit >= 0) add('first literal turned into an Earlier ref to itself', (p) => ((p.indexRaw[entryAt(lit)] = 5), p.indexRaw.writeUInt32LE(0, entryAt(lit) + 4), joinOverlay(p)));

  // --- frame table and frames ---------------------------------------------------------------------------------
  const fAt = (f: number) => L0.framesAt + f * FRAME_ENTRY_BYTES;
  for (const c of [0, 1, 12, 2 ** 23, 2 ** 32 - 1]) add(`frame 0 compressedLength=${c}`, (p) => (p.indexRaw.writeUInt32LE(c >>> 0, fAt(0)), joinOverlay(p)));
  for (const k of [0, 1025, 2 ** 32 - 1]) add(`frame 0 chunks=${k}`, (p) => (p.indexRaw.writeUInt32LE(k >>> 0, fAt(0) + 4), joinOverlay(p)));
  if (L0.frames >= 2) {
    add('frames 0 and 1 trade a byte of length', (p) => {
      p.indexRaw.writeUInt32LE(p.indexRaw.readUInt32LE(fAt(0)) - 1, fAt(0));
      p.indexRaw.writeUInt32LE(p.indexRaw.readUInt32LE(fAt(1)) + 1, fAt(1));
      return joinOverlay(p);
    });
    add('frames 0 and 1 trade a chunk', (p) => {
      p.indexRaw.writeUInt32LE(p.indexRaw.readUInt32LE(fAt(0) + 4) - 1, fAt(0) + 4);
      p.indexRaw.writeUInt32LE(p.indexRaw.readUInt32LE(fAt(1) + 4) + 1, fAt(1) + 4);
      return joinOverlay(p);
    });
  }
  const lastFrame = L0.frames - 1;
  add('last frame declares twice its content', (p) => {
    const f = p.frames[lastFrame];
    const fhd = f[4];
    const fcsAt = 5 + ((fhd & 0x20) === 0 ? 1 : 0);
    const fcsBytes = [1, 2, 4, 8][fhd >>> 6];
    if (fcsBytes >= 4) f.writeUInt32LE(f.readUInt32LE(fcsAt) * 2, fcsAt);
    else f[fcsAt] ^= 0x40;
    return joinOverlay(p);
  });
  add('last frame replaced by a 4 GiB RLE bomb of the same table size', (p) => {
    const bomb = rleBomb(2 ** 32, 7);
    const L = layoutOf(p);
    p.frames[lastFrame] = bomb;
    p.indexRaw.writeUInt32LE(bomb.length, L.framesAt + lastFrame * FRAME_ENTRY_BYTES);
    (p.meta.frames as Json).compressedBytes = p.frames.reduce((a, b) => a + b.length, 0);
    return joinOverlay(p);
  });
  add('last frame bytes flipped', (p) => {
    const f = p.frames[lastFrame];
    for (let i = Math.floor(f.length / 2); i < f.length; i += 7) f[i] ^= 0xa5;
    return joinOverlay(p);
  });
  return out;
}
