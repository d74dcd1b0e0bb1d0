// The streaming index parser (engine/overlay/format.ts IndexParser): fed the decompressed index in pieces of
// any size, it must decode exactly what one whole piece gives, and refuse what the whole-buffer checks refuse,
// whatever record a piece boundary cuts through. The declared-size checks made before the index is read
// (checkDeclared) refuse sizes beyond the base.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zstd from 'zstd-napi';
import { CloudletError } from '../../engine/errors';
import { BaseBounds, IndexParser, OverlayMeta, checkDeclared, decodeHeader, validateMeta } from '../../engine/overlay/format';
import { createOverlay } from '../../engine/overlay/writer';
import { rand } from '../helpers/synthetic';
import { SynthVm, makeVm } from '../helpers/synthetic-vm';
import { splitOverlay } from '../helpers/overlay-mutants';

let vm: SynthVm;
let meta: OverlayMeta;
let raw: Buffer;
let file: Buffer;

beforeAll(async () => {
  vm = makeVm(7);
  const out = path.join(vm.dir, 'o.ovl');
  await createOverlay({ baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, customDisk: vm.customDisk, customMemory: vm.customMemory, output: out, threads: 0, frameChunks: 4 });
  file = fs.readFileSync(out);
  const parts = splitOverlay(file);
  meta = validateMeta(parts.meta, 'o.ovl');
  raw = parts.indexRaw;
});
afterAll(() => fs.rmSync(vm.dir, { recursive: true, force: true }));

function parseInPieces(bytes: Buffer, sizes: () => number, keep = true) {
  const p = new IndexParser(meta, 'o.ovl', keep, null);
  for (let at = 0; at < bytes.length;) {
    const n = Math.min(bytes.length - at, sizes());
    p.push(bytes.subarray(at, at + n));
    at += n;
  }
  return { index: p.end(), tally: p.tally };
}

test('pieces of any size decode exactly as one piece', () => {
  const whole = parseInPieces(raw, () => raw.length);
  expect(whole.index.diskEntries + whole.index.memoryEntries).toBeGreaterThan(100);
  expect(whole.index.frameChunks.length).toBeGreaterThan(10);
  for (const seed of [1, 2, 3]) {
    const r = rand(seed);
    for (const sizes of [() => 1, () => 7, () => 15, () => 17, () => 1 + Math.floor(r() * 40), () => 1 + Math.floor(r() * 5000)]) {
      const got = parseInPieces(raw, sizes);
      expect(Buffer.from(got.index.kinds)).toEqual(Buffer.from(whole.index.kinds));
      expect(Buffer.from(got.index.refs.buffer)).toEqual(Buffer.from(whole.index.refs.buffer));
      expect(Buffer.from(got.index.targets.buffer)).toEqual(Buffer.from(whole.index.targets.buffer));
      expect([...got.index.frameCompressed]).toEqual([...whole.index.frameCompressed]);
      expect(got.index.blobs.tail.equals(whole.index.blobs.tail)).toBe(true);
      expect(got.tally).toEqual(whole.tally);
    }
  }
  // Not keeping the tables gives the same tallies and frame table, and holds no entries.
  const light = parseInPieces(raw, () => 333, false);
  expect(light.tally).toEqual(whole.tally);
  expect(light.index.kinds.length).toBe(0);
  expect([...light.index.frameChunks]).toEqual([...whole.index.frameChunks]);
});

test('a bad record is refused wherever a piece boundary falls, and a short or long index too', () => {
  const bl = meta.memory.blobs;
  const entriesAt = bl.header + bl.prologue + bl.ramStart + bl.tail;
  const bad = Buffer.from(raw);
  bad[entriesAt + 5 * 16] = 9; // entry 5: unknown kind
  for (const n of [1, 3, 16, 100, raw.length]) expect(() => parseInPieces(bad, () => n)).toThrow(/entry 5 has unknown kind 9/);
  expect(() => parseInPieces(raw.subarray(0, raw.length - 3), () => 64)).toThrow(/ends before its tables do/);
  expect(() => parseInPieces(Buffer.concat([raw, Buffer.alloc(1)]), () => 64)).toThrow(/more bytes than its tables/);
});

test('declared sizes beyond the base are refused before the index is read', () => {
  const header = decodeHeader(file.subarray(0, 80), 'o.ovl');
  const ram = meta.memory.blocks.reduce((a, b) => a + b.length, 0);
  const bounds: BaseBounds = {
    diskBytes: meta.base.disk.size,
    memoryFileBytes: meta.base.memory.size,
    diskChunks: meta.base.disk.size / 4096,
    ramBytes: ram,
    pages: ram / 4096,
    ramBlocks: meta.memory.blocks.length,
    headerBytes: meta.memory.blobs.header,
    tailBytes: meta.memory.blobs.tail,
  };
  expect(() => checkDeclared(header, meta, 'o.ovl', bounds)).not.toThrow();
  const refused = (m: OverlayMeta, h = header): string => {
    try {
      checkDeclared(h, m, 'o.ovl', bounds);
      return 'accepted';
    } catch (e) {
      return `${(e as CloudletError).code}: ${(e as Error).message}`;
    }
  };
  const copy = (): OverlayMeta => JSON.parse(JSON.stringify(meta)) as OverlayMeta;
  const grown = copy();
  grown.disk.virtualSize = meta.base.disk.size * 16;
  expect(refused(grown)).toMatch(/^OVERLAY_LIMIT: .*declares a disk of/);
  const moreRam = copy();
  moreRam.memory.blocks.push({ id: 'extra', length: 64 * 2 ** 30 });
  expect(refused(moreRam)).toMatch(/^OVERLAY_LIMIT: .*bytes of RAM/);
  const tail = copy();
  tail.memory.blobs.tail = bounds.tailBytes + (17 << 20);
  expect(refused(tail)).toMatch(/^OVERLAY_LIMIT: .*device state/);
  const entries = copy();
  entries.disk.entries = meta.disk.virtualSize / 4096 + 1;
  expect(refused(entries)).toMatch(/^OVERLAY_CORRUPT: .*disk entries/);
  expect(refused(meta, { ...header, indexRawLength: header.indexRawLength + 16 })).toMatch(/^OVERLAY_CORRUPT: .*the header declares an index of/);
  const otherBase = copy();
  otherBase.base.memory.size += 1;
  expect(refused(otherBase)).toMatch(/^OVERLAY_WRONG_BASE/);
  // The index as the writer compressed it declares its size in the frame header (checked before decompressing).
  expect(zstd.decompress(file.subarray(80 + header.metaLength, 80 + header.metaLength + header.indexCompressedLength)).length).toBe(header.indexRawLength);
});
