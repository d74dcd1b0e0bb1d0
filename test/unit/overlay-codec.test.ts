// Round trips of the overlay codec on synthetic VMs: real qcow2 layers written by qemu-io, save files in the
// QEMU stream layout. Checks exact reconstruction and that each chunk kind is used where it should be.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyOverlay, inspectOverlay } from '../../engine/overlay/apply';
import { createOverlay } from '../../engine/overlay/writer';
import { CloudletError } from '../../engine/errors';
import { GrowingFileSource, SpoolSource } from '../../engine/io/io';
import { headerRegionWithXml, readSaveHeader } from '../../engine/vm/save-header';
import { expectSamePages, pagesOf, qemuImg, rand } from '../helpers/synthetic';
import { SynthVm, makeVm } from '../helpers/synthetic-vm';

describe('overlay codec round trip', () => {
  let vm: SynthVm;
  beforeAll(() => {
    vm = makeVm(1);
  });
  afterAll(() => fs.rmSync(vm.dir, { recursive: true, force: true }));

  test('rebuilds disk and memory exactly, using every chunk kind', async () => {
    const out = path.join(vm.dir, 'o.ovl');
    const stats = await createOverlay({ baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, customDisk: vm.customDisk, customMemory: vm.customMemory, output: out, threads: 1, frameChunks: 16 });
    expect(stats.diskLiteral).toBeGreaterThan(60);
    expect(stats.diskEarlier).toBeGreaterThan(10);
    expect(stats.diskBaseDisk).toBeGreaterThanOrEqual(32);
    expect(stats.diskBaseMemory).toBeGreaterThanOrEqual(1);
    expect(stats.diskZero).toBeGreaterThan(0);
    expect(stats.diskSame).toBeGreaterThan(0);
    expect(stats.memoryLiteral).toBeGreaterThan(100);
    expect(stats.memoryBaseDisk).toBeGreaterThan(10);
    expect(stats.memoryEarlier).toBeGreaterThan(10);
    expect(stats.memoryZero).toBeGreaterThan(10);
    expect(stats.memorySame).toBeGreaterThan(1000);
    expect(fs.statSync(out).size).toBe(stats.overlayBytes);
    // literals must be compressed: random literals dominate, so the overlay is close to their size, not more
    expect(stats.overlayBytes).toBeLessThan(stats.literalBytes * 1.05 + 64 * 1024);

    const summary = await inspectOverlay(out, true);
    expect(summary.verified).toBe(true);
    expect(summary.disk.byKind.literal).toBe(stats.diskLiteral);
    expect(summary.memory.byKind.earlier).toBe(stats.memoryEarlier);
    expect(summary.dedupHits.baseDisk).toBe(stats.diskBaseDisk + stats.memoryBaseDisk);

    const rd = path.join(vm.dir, 'r.qcow2');
    const rm = path.join(vm.dir, 'r.save');
    const res = await applyOverlay({ overlay: out, baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, outputDisk: rd, outputMemory: rm });
    expect(res.memoryBytes).toBe(fs.statSync(rm).size);
    qemuImg('compare', '-q', vm.customDisk, rd); // throws on difference
    expect(qemuImg('check', rd)).toMatch(/No errors were found/);
    expect(JSON.parse(qemuImg('info', '--output=json', rd))['backing-filename']).toBe('base.raw');
    await expectSamePages(vm.customMemory, rm);
    // device state and XML carried over byte for byte
    const tail = fs.readFileSync(vm.customMemory).subarray(-312);
    expect(fs.readFileSync(rm).subarray(-312).equals(tail)).toBe(true);
    expect(fs.readFileSync(rm).toString('latin1', 92, 140)).toContain('<name>custom</name>');
    expect(fs.readdirSync(vm.dir).filter((f) => f.includes('.partial-') || f.includes('.tmp-'))).toEqual([]);
  });

  test('applies from a stream delivered in small pieces (download in progress)', async () => {
    const out = path.join(vm.dir, 's.ovl');
    await createOverlay({ baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, customDisk: vm.customDisk, customMemory: vm.customMemory, output: out, threads: 0, frameChunks: 8 });
    const bytes = fs.readFileSync(out);
    let pos = 0;
    const r = rand(5);
    let reads = 0;
    const source = {
      async read() {
        if (pos >= bytes.length) return null;
        reads++;
        const n = 1 + Math.floor(r() * 9000);
        await new Promise((res) => setImmediate(res));
        const b = bytes.subarray(pos, pos + n);
        pos += n;
        return b;
      },
    };
    const rd = path.join(vm.dir, 's.qcow2');
    const rm = path.join(vm.dir, 's.save');
    await applyOverlay({ overlay: source, baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, outputDisk: rd, outputMemory: rm });
    expect(reads).toBeGreaterThan(50);
    qemuImg('compare', '-q', vm.customDisk, rd);
    const want = await pagesOf(vm.customMemory);
    const got = await pagesOf(rm);
    expect([...got.keys()]).toEqual([...want.keys()]);
  });

  /** An overlay spooled to a file in small pieces, with a GrowingFileSource following the spool. */
  function spooled(name: string) {
    const out = path.join(vm.dir, `${name}.ovl`);
    const spoolFile = path.join(vm.dir, `${name}.spool`);
    return {
      out,
      async start() {
        await createOverlay({ baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, customDisk: vm.customDisk, customMemory: vm.customMemory, output: out, threads: 0, frameChunks: 8 });
        const bytes = fs.readFileSync(out);
        let pos = 0;
        const pieces = {
          async read() {
            if (pos >= bytes.length) return null;
            await new Promise((res) => setImmediate(res));
            const b = bytes.subarray(pos, pos + 4000);
            pos += b.length;
            return b;
          },
        };
        const follower = new GrowingFileSource(spoolFile);
        const spool = new SpoolSource(pieces, spoolFile, Number.MAX_SAFE_INTEGER, (f, b) => follower.grew(f, b));
        return { follower, spool, bytes };
      },
    };
  }

  /** An apply of `follower` as it arrives into `<name>.qcow2` / `<name>.save`, 64 KiB allowed before the check. */
  const applyFollowing = (follower: GrowingFileSource, name: string, onProgress?: (p: { done: number }) => void) => {
    const rd = path.join(vm.dir, `${name}.qcow2`);
    const rm = path.join(vm.dir, `${name}.save`);
    const applying = applyOverlay({
      overlay: follower,
      checked: true,
      following: { checked: follower.whenEnded(), bytesBeforeChecked: 64 * 1024 },
      baseDisk: vm.baseDisk,
      baseMemory: vm.baseMemory,
      outputDisk: rd,
      outputMemory: rm,
      onProgress,
    });
    return { rd, rm, applying };
  };

  test('applies while the overlay still arrives: no more than the budget written until it checked out, named only after', async () => {
    const { follower, spool, bytes } = await spooled('f1').start();
    let settled = false;
    let applied = 0; // how far into the overlay the writing got (its progress)
    const { rd, rm, applying: started } = applyFollowing(follower, 'f1', (p) => (applied = Math.max(applied, p.done)));
    const applying = started.finally(() => (settled = true));
    await spool.finish(); // all of it spooled: only the budget holds the apply back
    await new Promise((res) => setTimeout(res, 300));
    expect({ settled, disk: fs.existsSync(rd), memory: fs.existsSync(rm) }).toEqual({ settled: false, disk: false, memory: false });
    expect(fs.readdirSync(vm.dir).filter((f) => f.startsWith('f1.') && f.includes('.partial-')).length).toBe(2);
    expect(applied).toBeLessThan(bytes.length / 2);
    follower.end();
    await applying;
    follower.close();
    qemuImg('compare', '-q', vm.customDisk, rd);
    await expectSamePages(vm.customMemory, rm);
    expect(fs.readdirSync(vm.dir).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  test('the rebuilt memory snapshot can carry another domain XML in its header (saveHeader), its pages unchanged', async () => {
    const out = path.join(vm.dir, 'x.ovl');
    await createOverlay({ baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, customDisk: vm.customDisk, customMemory: vm.customMemory, output: out, threads: 0, frameChunks: 8 });
    const rd = path.join(vm.dir, 'x.qcow2');
    const rm = path.join(vm.dir, 'x.save');
    const long = `<name>rebuilt-here</name><description>${'x'.repeat(70000)}</description>`; // more than the old region holds
    await applyOverlay({
      overlay: out,
      saveHeader: (region) => headerRegionWithXml(region, (xml) => xml.replace('<name>custom</name>', long), 'test'),
      baseDisk: vm.baseDisk,
      baseMemory: vm.baseMemory,
      outputDisk: rd,
      outputMemory: rm,
    });
    expect(readSaveHeader(rm).xml).toContain(long);
    expect(readSaveHeader(rm).xml).not.toContain('<name>custom</name>');
    await expectSamePages(vm.customMemory, rm);
    const tail = fs.readFileSync(vm.customMemory).subarray(-312);
    expect(fs.readFileSync(rm).subarray(-312).equals(tail)).toBe(true);
  });

  test('an apply following an overlay that is then refused fails with that error and leaves no file', async () => {
    const { follower, spool } = await spooled('f2').start();
    const { applying } = applyFollowing(follower, 'f2');
    await spool.finish();
    follower.fail(new CloudletError('HASH_MISMATCH', 'the overlay is not the one asked for'));
    await expect(applying).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    follower.close();
    expect(fs.readdirSync(vm.dir).filter((f) => f.startsWith('f2.') && !f.endsWith('.ovl') && !f.endsWith('.spool'))).toEqual([]);
  });
});

describe('overlay codec property test', () => {
  test.each([11, 12, 13, 14])('seed %i: random customizations round-trip exactly', async (seed) => {
    const vm = makeVm(seed);
    try {
      const out = path.join(vm.dir, 'o.ovl');
      await createOverlay({
        baseDisk: vm.baseDisk,
        baseMemory: vm.baseMemory,
        customDisk: vm.customDisk,
        customMemory: vm.customMemory,
        output: out,
        threads: 0,
        frameChunks: 1 + (seed % 7),
        level: 1 + (seed % 5),
      });
      const rd = path.join(vm.dir, 'r.qcow2');
      const rm = path.join(vm.dir, 'r.save');
      await applyOverlay({ overlay: out, baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, outputDisk: rd, outputMemory: rm });
      qemuImg('compare', '-q', vm.customDisk, rd);
      await expectSamePages(vm.customMemory, rm);
    } finally {
      fs.rmSync(vm.dir, { recursive: true, force: true });
    }
  });
});
