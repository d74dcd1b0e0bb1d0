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
  const fromDisk = await a.op('POST', '/v1/bases', {
    disk: g.baseDisk,
    kernel: g.kernel,
    initrd: g.initrd,
    cmdline: 'console=ttyS0 quiet panic=-1',
    name: 'from-disk',
    memoryMiB: 256,
    ready: 'agent',
  });
  expect(fromDisk.error).toBeUndefined();
  expect(Object.keys(fromDisk.timings)).toEqual(expect.arrayContaining(['convert', 'boot', 'wait-ready', 'save', 'hash']));
  const baseId = fromDisk.target!.id;
  const base = await a.call<{ memoryMiB: number; cpuModel: string; kernel?: object }>('GET', `/v1/bases/${baseId}`);
  expect(base).toMatchObject({ memoryMiB: 256, cpuModel: 'qemu64' });
  expect(base.kernel).toBeDefined();
  // The user's image is untouched (the engine booted its own copy).
  expect(fs.statSync(g.baseDisk).size).toBe(g.manifest.diskBytes);

  // Resume it, customize, capture as a new base; the instance keeps running.
  const res = await a.op('POST', '/v1/instances', { name: 'cust', baseId });
  expect(res.error).toBeUndefined();
  const inst = res.target!.id;
  const run = async (e: TestEngine, id: string, c: string) => (await e.call<{ code: number; stdout: string }>('POST', `/v1/instances/${id}/exec`, { command: c })).stdout.trim();
  await run(a, inst, 'echo captured > /data/captured && sync');
  const cap = await a.op('POST', '/v1/bases', { instanceId: inst, name: 'captured' });
  expect(cap.error).toBeUndefined();
  const capturedId = cap.target!.id;
  expect(capturedId).not.toBe(baseId);
  expect(await run(a, inst, 'cat /data/captured')).toBe('captured');

  // Export the captured base and import the archive on engine B; a VM resumed there has the change.
  const tar = path.join(a.stateDir, 'captured.tar');
  const n = await a.client.downloadBaseArchive(capturedId, tar);
  expect(n).toBe(fs.statSync(tar).size);
  const imp = await b.op('POST', '/v1/bases', { source: tar, sha256: capturedId });
  expect(imp.error).toBeUndefined();
  const there = await b.op('POST', '/v1/instances', { name: 'elsewhere', baseId: capturedId });
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
  await b.call('DELETE', `/v1/instances/${there.target!.id}`);
  await b.call('DELETE', `/v1/bases/${capturedId}`);
  const refused = await b.op('POST', '/v1/bases', { source: bad });
  expect(refused.error?.code).toBe('HASH_MISMATCH');
  expect(fs.readdirSync(path.join(b.stateDir, 'bases'))).toEqual([]);
});
