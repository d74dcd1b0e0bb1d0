// Base VMs made on a real engine: from a bootable disk image alone (boot, wait for the guest agent, save its
// memory), from a running instance (capture), and exported as an archive that another engine imports.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureGuest } from '../vms/guest';
import { TestEngine } from '../helpers/engine';

jest.setTimeout(600000);

let a: TestEngine;
let b: TestEngine;

beforeAll(async () => {
  await ensureGuest('tiny');
  [a, b] = await Promise.all([TestEngine.start('ba'), TestEngine.start('bb')]);
});

afterAll(async () => {
  await Promise.all([a?.destroy(), b?.destroy()]);
});

test('a base from a disk image, captured from an instance, exported and imported elsewhere', async () => {
  const g = await ensureGuest('tiny');
  const fromDisk = await a.op((api) =>
    api.bases.import({
      disk: g.baseDisk,
      kernel: g.kernel,
      initrd: g.initrd,
      cmdline: 'console=ttyS0 quiet panic=-1',
      name: 'from-disk',
      memoryMiB: 256,
      ready: 'agent',
    }),
  );
  expect(fromDisk.error).toBeUndefined();
  expect(Object.keys(fromDisk.timings)).toEqual(expect.arrayContaining(['convert', 'boot', 'wait-ready', 'save', 'hash']));
  const baseId = fromDisk.target!.id;
  const base = await a.bases.get(baseId);
  expect(base).toMatchObject({ memoryMiB: 256, cpuModel: 'qemu64' });
  expect(base.kernel).toBeDefined();
  // The user's image is untouched (the engine booted its own copy).
  expect(fs.statSync(g.baseDisk).size).toBe(g.manifest.diskBytes);

  // Resume it, customize, capture as a new base; the instance keeps running.
  const res = await a.op((api) => api.instances.create({ name: 'cust', baseId }));
  expect(res.error).toBeUndefined();
  const inst = res.target!.id;
  const run = async (e: TestEngine, id: string, c: string) => (await e.instances.exec(id, { command: c })).stdout.trim();
  await run(a, inst, 'echo captured > /data/captured && sync');
  const cap = await a.op((api) => api.bases.import({ instanceId: inst, name: 'captured' }));
  expect(cap.error).toBeUndefined();
  const capturedId = cap.target!.id;
  expect(capturedId).not.toBe(baseId);
  expect(await run(a, inst, 'cat /data/captured')).toBe('captured');

  // Export the captured base and import the archive on engine B; a VM resumed there has the change.
  const tar = path.join(a.stateDir, 'captured.tar');
  const n = await a.client.downloadBaseArchive(capturedId, tar);
  expect(n).toBe(fs.statSync(tar).size);
  const imp = await b.op((api) => api.bases.import({ source: tar, sha256: capturedId }));
  expect(imp.error).toBeUndefined();
  const there = await b.op((api) => api.instances.create({ name: 'elsewhere', baseId: capturedId }));
  expect(there.error).toBeUndefined();
  expect(await run(b, there.target!.id, 'cat /data/captured')).toBe('captured');

  // A tampered archive (one byte of the disk changed) is refused and nothing is stored.
  const bad = path.join(a.stateDir, 'tampered.tar');
  fs.copyFileSync(tar, bad);
  const fd = fs.openSync(bad, 'r+');
  const one = Buffer.alloc(1);
  fs.readSync(fd, one, 0, 1, 4096 + 1024 * 1024);
  one[0] ^= 0xff;
  fs.writeSync(fd, one, 0, 1, 4096 + 1024 * 1024);
  fs.closeSync(fd);
  await b.instances.delete(there.target!.id);
  await b.bases.delete(capturedId);
  const refused = await b.op((api) => api.bases.import({ source: bad }));
  expect(refused.error?.code).toBe('HASH_MISMATCH');
  expect(fs.readdirSync(path.join(b.stateDir, 'bases'))).toEqual([]);
});

test('a guest without an agent: a readiness timeout naming the agent, the console tail in the message and kept, nothing stored', async () => {
  const g = await ensureGuest('tiny');
  // The kernel boots and prints, but a shell replaces the guest's init, so no agent ever answers.
  const v = await a.op((api) =>
    api.bases.import({ disk: g.baseDisk, kernel: g.kernel, initrd: g.initrd, cmdline: 'console=ttyS0 rdinit=/bin/sh', name: 'no-agent', ready: 'agent', readyTimeoutSeconds: 15 }),
  );
  expect(v.state).toBe('failed');
  expect(v.error!.code).toBe('GUEST_AGENT');
  expect(v.error!.message).toMatch(/no QEMU guest agent answered on the org\.qemu\.guest_agent\.0 channel within 15 s/);
  expect(v.consoleLog).toBe(path.join(a.stateDir, 'operations', `${v.id}.console.log`));
  const kept = path.join(a.stateDir, 'operations', `${v.id}.console.log`);
  expect(v.error!.message).toContain(`last lines of the guest console (all of it in ${kept})`);
  expect(v.error!.message).toMatch(/Run \/bin\/sh as init process|can't access tty|Freeing unused/);
  expect(fs.readFileSync(kept, 'utf8').length).toBeGreaterThan(100);
  expect((await a.bases.list()).bases.map((b) => b.name)).not.toContain('no-agent');
  expect(fs.readdirSync(path.join(a.stateDir, 'tmp'))).toEqual([]);
  expect(a.log).not.toMatch(/internal error/);
});
