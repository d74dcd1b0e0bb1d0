// The handoff source's memory check (engine/handoff/sender.ts), without VMs: a pre-copy stream that carries a
// stale page (as QEMU 7.2's TCG pre-copy can) reaches the destination's memory file corrected when the check
// reads the paused guest's RAM, and stale without it; pages the stream had right are not sent again. Also the
// pieces around it: gpa2hva's answer parsed, and when the check runs.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryCheckWanted } from '../../engine/core/handoff-source';
import { BaseIndex } from '../../engine/delta/base-index';
import { receiveHandoff } from '../../engine/handoff/receiver';
import { SendStats, sendHandoff } from '../../engine/handoff/sender';
import { GuestMemoryReader, parseGpa2hva, privateMappingCovers } from '../../engine/vm/guest-memory';
import { pagesOf, prng, qemuImg, writeSaveFile } from '../helpers/synthetic';

const MiB = 1 << 20;
const PAGES = 96; // guest RAM: base content in pages 0-63, zero above
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-check-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Base memory: pages of one seed, zero from page 64 on. The guest then changed pages 3, 10 and 70. */
const basePage = prng(11);
const baseContent = Array.from({ length: PAGES }, (_, p) => (p < 64 ? basePage(4096) : null));
const changed = new Map<number, Buffer>([
  [3, Buffer.alloc(4096, 0x33)],
  [10, Buffer.alloc(4096, 0x10)],
  [70, Buffer.alloc(4096, 0x70)],
]);
const guestPage = (p: number): Buffer => changed.get(p) ?? baseContent[p] ?? Buffer.alloc(4096);

/**
 * Hands a synthetic instance off and receives it. `written`: what the reader's soft-dirty record says was
 * written during the migration (null: no record, every page is read).
 */
async function handOff(stalePage: number | null, check: boolean, written: number[] | null = null): Promise<{ stats: SendStats; pages: Map<number, Buffer>; readBytes: number }> {
  const work = fs.mkdtempSync(path.join(dir, 'run-'));
  const baseDisk = path.join(work, 'base.raw');
  fs.writeFileSync(baseDisk, Buffer.alloc(MiB));
  const baseMemory = path.join(work, 'base.save');
  writeSaveFile(baseMemory, [{ id: 'pc.ram', pages: PAGES }], (p) => baseContent[p] ?? 'zero');
  const layer = path.join(work, 'layer.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', baseDisk, '-F', 'raw', layer);
  // What QEMU's pre-copy sent: the guest's pages, but the stale one as the base had it.
  const live = path.join(work, 'live.save');
  writeSaveFile(live, [{ id: 'pc.ram', pages: PAGES }], (p) => (p === stalePage ? (baseContent[p] ?? 'zero') : guestPage(p)));
  const liveBytes = fs.readFileSync(live);
  const headerLength = 92 + liveBytes.readUInt32LE(20);
  const header = liveBytes.subarray(0, headerLength);
  const reads: number[] = [];
  let tracking = false;
  const reader: GuestMemoryReader = {
    blockId: 'pc.ram',
    startTracking: async () => void (tracking = true),
    writtenPages: async () => {
      expect(tracking).toBe(true);
      return written ? Uint32Array.from(written) : null;
    },
    read: async (into, offset) => {
      reads.push(into.length);
      for (let at = 0; at < into.length; at += 4096) guestPage((offset + at) / 4096).copy(into, at);
    },
    close: async () => undefined,
  };
  const base = await BaseIndex.build({ disk: baseDisk, memory: baseMemory });
  const sent: Buffer[] = [];
  try {
    const stats = await sendHandoff({
      sink: { write: async (parts) => void sent.push(...parts.map((x) => Buffer.from(x))) },
      hello: { handoffId: 'h-check01', instance: { id: 'i-check', name: 'check', baseId: 'b', created: '' }, domainXml: '<domain/>' },
      base,
      disk: layer,
      saveHeader: header,
      migrate: async (sink) => {
        for (let at = headerLength; at < liveBytes.length; at += 5000) await sink(liveBytes.subarray(at, Math.min(liveBytes.length, at + 5000)));
        return { bytes: liveBytes.length - headerLength, totalMs: 1, downtimeMs: 1 };
      },
      checkMemory: check ? async () => reader : undefined,
      signal: new AbortController().signal,
      level: 0,
    });
    const out = path.join(work, 'in');
    fs.mkdirSync(out);
    const got = await receiveHandoff({
      source: { read: async () => sent.shift() ?? null },
      dir: out,
      disk: path.join(out, 'disk.qcow2'),
      memory: path.join(out, 'memory.save'),
      baseDisk,
      baseMemory,
      onHello: () => '<domain/>',
      saveHeader: () => header,
      signal: new AbortController().signal,
    });
    return { stats, pages: await pagesOf(got.memory), readBytes: reads.reduce((a, b) => a + b, 0) };
  } finally {
    await base.close();
  }
}

test('a page the pre-copy sent stale is sent again by the check, and the destination holds what the guest holds', async () => {
  const { stats, pages, readBytes } = await handOff(10, true);
  expect(stats.memoryCheck).toMatchObject({ pages: PAGES, resent: 1 });
  expect(readBytes).toBe(PAGES * 4096);
  for (let p = 0; p < PAGES; p++) {
    const want = guestPage(p);
    const got = pages.get(p) ?? Buffer.alloc(4096);
    expect([p, got.equals(want)]).toEqual([p, true]);
  }
});

test('a stale page above the base memory (base zero there) is corrected too', async () => {
  const { stats, pages } = await handOff(70, true);
  expect(stats.memoryCheck?.resent).toBe(1);
  expect(pages.get(70)?.equals(guestPage(70))).toBe(true);
});

test('without the check the stale page stays stale (what the check is for); with nothing stale it sends nothing', async () => {
  const unchecked = await handOff(10, false);
  expect(unchecked.stats.memoryCheck).toBeNull();
  expect(unchecked.pages.get(10)?.equals(baseContent[10]!)).toBe(true);
  const clean = await handOff(null, true);
  expect(clean.stats.memoryCheck?.resent).toBe(0);
  for (const [p, b] of changed) expect(clean.pages.get(p)?.equals(b)).toBe(true);
});

test('where the kernel says which pages were written, only those are read (short gaps along), and the stale one among them is corrected', async () => {
  // Pages 3 to 11 in one read (the gaps are short), 70 in another; nothing from 12 to 69 or above 70.
  const { stats, pages, readBytes } = await handOff(10, true, [3, 9, 10, 11, 70]);
  expect(readBytes).toBe(10 * 4096);
  expect(stats.memoryCheck).toMatchObject({ pages: 10, resent: 1 });
  expect(pages.get(10)?.equals(guestPage(10))).toBe(true);
});

test("gpa2hva's answer gives the RAM block and its host address; other output none", () => {
  expect(parseGpa2hva('Host virtual address for 0x0 (pc.ram) is 0x7f2c4fe00000\r\n')).toEqual({ blockId: 'pc.ram', hostAddress: 0x7f2c4fe00000 });
  expect(parseGpa2hva('Error: No memory is mapped at address 0x0')).toBeNull();
  expect(parseGpa2hva('Host virtual address for 0x0 (pc.ram) is 0xffffffffffffffffff')).toBeNull();
});

test("the written-page record is trusted only over QEMU's private mappings that cover the whole block", () => {
  const maps = [
    '7f0000000000-7f0000100000 rw-p 00000000 00:00 0 ',
    '7f0000100000-7f0000200000 rw-p 00100000 fe:01 123 /var/lib/cloudlet/bases/b/ram.img',
    '7f0000200000-7f0000300000 rw-s 00000000 00:05 9 /memfd:ram (deleted)',
  ].join('\n');
  expect(privateMappingCovers(maps, 0x7f0000000000, 0x200000)).toBe(true);
  expect(privateMappingCovers(maps, 0x7f0000100000, 0x200000)).toBe(false); // half of it shared
  expect(privateMappingCovers(maps, 0x7f0000300000, 0x1000)).toBe(false); // not mapped at all
  expect(privateMappingCovers(maps, 0x7efffff00000, 0x200000)).toBe(false); // starts before the mappings
});

test('the check runs under TCG unless told never, and under KVM only when told always', () => {
  const tcg = "<domain type='qemu'><name>x</name></domain>";
  const kvm = "<domain type='kvm'><name>x</name></domain>";
  expect([memoryCheckWanted(undefined, tcg), memoryCheckWanted('auto', tcg), memoryCheckWanted('never', tcg)]).toEqual([true, true, false]);
  expect([memoryCheckWanted(undefined, kvm), memoryCheckWanted('auto', kvm), memoryCheckWanted('always', kvm)]).toEqual([false, false, true]);
});
