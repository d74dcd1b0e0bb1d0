// The one delta classifier (engine/delta/classifier.ts) that both the overlay writer and the handoff sender
// use: the order of preference (same place, zero, base disk, base memory, earlier literal, literal), the
// references it leaves, the byte check behind every fingerprint match, and the counts per space.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { BaseIndex, ZERO_HASH } from '../../engine/delta/base-index';
import { DeltaClassifier, EntryKind, LiteralStore, Space } from '../../engine/delta/classifier';
import { CHUNK_SIZE, chunkHash, isZeroChunk, wordsOf } from '../../engine/delta/hash';
import { Source, Space as WireSpace } from '../../engine/handoff/wire';
import { ChunkKind } from '../../engine/overlay/format';
import { makeVm } from '../helpers/synthetic-vm';

/** A 4-byte aligned copy (chunk hashing reads 32-bit words). */
const aligned = (b: Buffer): Buffer => {
  const c = Buffer.alloc(b.length);
  b.copy(c);
  return c;
};
const hashOf = (b: Buffer) => (isZeroChunk(wordsOf(b), 0) ? ZERO_HASH : chunkHash(wordsOf(b), 0));

/** A literal store in memory; `lie` makes it hand back other bytes, to show matches are byte-checked. */
function memoryStore(): LiteralStore & { kept: Buffer[]; lie: boolean } {
  const s = {
    kept: [] as Buffer[],
    lie: false,
    keep(n: number, data: Buffer, at: number) {
      s.kept[n] = Buffer.from(data.subarray(at, at + CHUNK_SIZE));
    },
    read(n: number, into: Buffer) {
      if (s.lie) into.fill(7);
      else s.kept[n].copy(into);
    },
  };
  return s;
}

test('entries in order of preference, with their references and counts', async () => {
  const vm = makeVm(11);
  const bi = await BaseIndex.build({ disk: vm.baseDisk, memory: vm.baseMemory });
  try {
    const store = memoryStore();
    const d = new DeltaClassifier(bi, store);
    const disk = fs.readFileSync(vm.baseDisk);
    const chunk3 = aligned(disk.subarray(3 * CHUNK_SIZE, 4 * CHUNK_SIZE));
    expect(isZeroChunk(wordsOf(chunk3), 0)).toBe(false);
    const classify = (space: Space, data: Buffer, same = false) => ({ kind: d.classify(space, data, 0, hashOf(data), isZeroChunk(wordsOf(data), 0), same), ref: d.ref });

    expect(classify(Space.Disk, chunk3, true).kind).toBe(EntryKind.Same);
    expect(classify(Space.Disk, Buffer.alloc(CHUNK_SIZE)).kind).toBe(EntryKind.Zero);
    expect(classify(Space.Disk, chunk3)).toEqual({ kind: EntryKind.BaseDisk, ref: 3 });
    // A base memory page, found from a disk chunk (and the other way round).
    const mem = fs.readFileSync(vm.baseMemory);
    const p = bi.layout.pageOffsets.findIndex((off, i) => off >= 0 && i > 10 && !isZeroChunk(wordsOf(aligned(mem.subarray(off, off + CHUNK_SIZE))), 0));
    const page = aligned(mem.subarray(bi.layout.pageOffsets[p], bi.layout.pageOffsets[p] + CHUNK_SIZE));
    const inDisk = classify(Space.Disk, page);
    // The first location indexed for identical bytes is kept; a page whose bytes are not on the base disk is a page.
    expect(inDisk.kind === EntryKind.BaseMemory ? inDisk.ref : -1).toBe(bi.layout.pageOffsets.findIndex((off) => off >= 0 && mem.subarray(off, off + CHUNK_SIZE).equals(page)));
    expect(classify(Space.Memory, chunk3)).toEqual({ kind: EntryKind.BaseDisk, ref: 3 });

    // New bytes are literals, numbered in order; the same bytes again are "earlier literal n".
    const a = randomBytes(CHUNK_SIZE);
    const b = randomBytes(CHUNK_SIZE);
    expect(classify(Space.Disk, a)).toEqual({ kind: EntryKind.Literal, ref: 0 });
    expect(classify(Space.Memory, b)).toEqual({ kind: EntryKind.Literal, ref: 1 });
    expect(classify(Space.Memory, a)).toEqual({ kind: EntryKind.Earlier, ref: 0 });
    expect(classify(Space.Disk, b)).toEqual({ kind: EntryKind.Earlier, ref: 1 });
    expect(store.kept.map((x) => x.equals(a) || x.equals(b))).toEqual([true, true]);
    // A fingerprint match whose bytes differ is not a match: the chunk is a new literal.
    store.lie = true;
    expect(classify(Space.Disk, a)).toEqual({ kind: EntryKind.Literal, ref: 2 });
    expect(d.literals).toBe(3);

    expect(d.disk).toEqual({ scanned: 7, same: 1, zero: 1, literal: 2, baseDisk: 1, baseMemory: inDisk.kind === EntryKind.BaseMemory ? 1 : 0, earlier: 1 });
    expect(d.memory).toEqual({ scanned: 3, same: 0, zero: 0, literal: 1, baseDisk: 1, baseMemory: 0, earlier: 1 });
    expect(inDisk.kind).toBe(EntryKind.BaseMemory);
  } finally {
    await bi.close();
    fs.rmSync(vm.dir, { recursive: true, force: true });
  }
});

test('the overlay format and the handoff wire encode the same entry kinds', () => {
  expect(ChunkKind).toBe(EntryKind);
  expect(Source).toBe(EntryKind);
  expect(WireSpace).toBe(Space);
  expect([EntryKind.Same, EntryKind.Zero, EntryKind.Literal, EntryKind.BaseDisk, EntryKind.BaseMemory, EntryKind.Earlier]).toEqual([0, 1, 2, 3, 4, 5]);
});
