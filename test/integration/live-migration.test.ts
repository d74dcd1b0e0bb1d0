// The handoff's building block on real VMs: QEMU live pre-copy of a running guest into our unix socket, with
// the stream turned into a libvirt save file that restores on another libvirt root with the guest's memory
// intact (its workload counter carries on); and a sink that fails mid-stream leaves the source VM running.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { liveMigrate } from '../../engine/vm/live-migration';
import { readSaveHeader, saveHeaderFor } from '../../engine/vm/save-header';
import { RunningGuest, ensureGuest, restoreGuest } from '../vms/guest';

jest.setTimeout(600000);

let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-'));
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

/** A writable disk layered on the cached customized guest's disk (which stays untouched). */
function layeredDisk(custom: string, name: string): string {
  const file = path.join(work, `${name}.qcow2`);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', custom, file]);
  return file;
}

function monitorOf(g: RunningGuest): (hmp: string) => Promise<string> {
  return (hmp) => g.virsh.run(`qemu-monitor-command ${g.name} --hmp ${JSON.stringify(hmp)}`);
}

test('a running guest migrates live into a save file that restores elsewhere with its memory intact', async () => {
  const g = await ensureGuest('tiny');
  const disk = layeredDisk(g.customDisk, 'moved');
  const src = await restoreGuest({ memory: g.customMemory, disk, workDir: path.join(work, 'src') });
  let dst: RunningGuest | null = null;
  try {
    await src.execOk('echo written-before-the-move > /data/moved.txt && sync');
    const before = await src.counter();
    const streamFile = path.join(work, 'stream.bin');
    const out = fs.openSync(streamFile, 'w');
    const stats = await liveMigrate({
      monitor: monitorOf(src),
      socketPath: `/tmp/clm-${process.pid}.sock`,
      sink: (chunk) => void fs.writeSync(out, chunk),
    });
    fs.closeSync(out);
    expect(stats.bytes).toBe(fs.statSync(streamFile).size);
    expect(stats.bytes).toBeGreaterThan(16 << 20);
    expect(stats.downtimeMs).not.toBeNull();
    expect(stats.downtimeMs!).toBeLessThan(2000);
    expect(await src.state()).toMatch(/paused/);
    const head = Buffer.alloc(4);
    fs.readSync(fs.openSync(streamFile, 'r'), head, 0, 4, 0);
    expect(head.toString('latin1')).toBe('QEVM');

    // The destination: header + stream = a save file. The source goes first (they share the disk here).
    const saved = path.join(work, 'moved.save');
    fs.writeFileSync(saved, saveHeaderFor(g.customMemory, readSaveHeader(g.customMemory).xml));
    fs.appendFileSync(saved, fs.readFileSync(streamFile));
    await src.destroy();
    dst = await restoreGuest({ memory: saved, disk, workDir: path.join(work, 'dst') });
    expect((await dst.execOk('cat /data/moved.txt')).trim()).toBe('written-before-the-move');
    const after = await dst.counter();
    expect(after).toBeGreaterThanOrEqual(before);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await dst.counter()).toBeGreaterThan(after);
  } finally {
    await dst?.destroy();
    await src.destroy();
  }
});

test('a sink that fails mid-stream aborts the migration and the source VM keeps running', async () => {
  const g = await ensureGuest('tiny');
  const src = await restoreGuest({ memory: g.customMemory, disk: layeredDisk(g.customDisk, 'stays'), workDir: path.join(work, 'stays') });
  try {
    let seen = 0;
    await expect(
      liveMigrate({
        monitor: monitorOf(src),
        socketPath: `/tmp/clm-${process.pid}-f.sock`,
        sink: (chunk) => {
          seen += chunk.length;
          if (seen > 4 << 20) throw new Error('the destination went away');
        },
      }),
    ).rejects.toThrow(/the destination went away/);
    // QEMU noticed the broken stream; the guest was never paused for good.
    for (let i = 0; i < 50 && !/running/.test(await src.state()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await src.state()).toMatch(/running/);
    const c = await src.counter();
    await new Promise((r) => setTimeout(r, 2500));
    expect(await src.counter()).toBeGreaterThan(c);
  } finally {
    await src.destroy();
  }
});
