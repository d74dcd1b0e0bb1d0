// Restores that map the base's memory image (engine/image/ram-image.ts) on real engines, libvirt and QEMU: a
// synthesis, a resumed base and a handoff's destination each run with their RAM a private mapping of the base's
// image (seen in QEMU's own /proc maps), the guest's state comes back exact (counter, tmpfs, disk), instances of
// one base share the image's pages (PSS against an engine that restores every page), a changed image is
// noticed and made again, links an interrupted restore left are swept, and an engine told not to map restores
// every page as before.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createOverlay } from '../../engine/overlay/writer';
import { TestEngine, qemuPids } from '../helpers/engine';
import { ensureBaseArchive, ensureGuest } from '../vms/guest';

jest.setTimeout(900000);

let mapped: TestEngine;
let peer: TestEngine;
let plain: TestEngine;
let baseId = '';
let overlayFile = '';
let manifest: Awaited<ReturnType<typeof ensureGuest>>['manifest'];

beforeAll(async () => {
  const base = await ensureBaseArchive('tiny');
  baseId = base.baseId;
  const guest = await ensureGuest('tiny');
  manifest = guest.manifest;
  [mapped, peer, plain] = await Promise.all([TestEngine.start('map-a'), TestEngine.start('map-b'), TestEngine.start('map-plain', ['--no-ram-mapping'])]);
  await Promise.all([mapped, peer, plain].map((e) => e.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import')));
  overlayFile = path.join(mapped.stateDir, '..', `mapped-${process.pid}.clov`);
  await createOverlay({ baseDisk: guest.baseDisk, baseMemory: guest.baseMemory, customDisk: guest.customDisk, customMemory: guest.customMemory, output: overlayFile });
});

afterAll(async () => {
  await Promise.all([mapped?.destroy(), peer?.destroy(), plain?.destroy()]);
  if (overlayFile) fs.rmSync(overlayFile, { force: true });
});

const imageOf = (e: TestEngine) => path.join(e.stateDir, 'bases', baseId, 'memory.ram');

/** The VM's mappings of its base's memory image, from its QEMU's /proc maps. */
function imageMappings(e: TestEngine, instanceId: string): string[] {
  const pids = qemuPids(`cl-${instanceId}`);
  expect(pids).toHaveLength(1);
  const image = imageOf(e);
  const real = fs.existsSync(image) ? fs.realpathSync(image) : image;
  return fs
    .readFileSync(`/proc/${pids[0]}/maps`, 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(` ${real}`) || l.endsWith('/memory.ram'));
}

/** Proportional set size of the VM's QEMU, MiB. */
function pssMiB(instanceId: string): number {
  const pid = qemuPids(`cl-${instanceId}`)[0];
  return Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) / 1024;
}

async function synthesize(e: TestEngine, name: string): Promise<string> {
  const op = await e.opOk((api) => api.instances.create({ name, baseId, overlay: { url: overlayFile } }), `synthesis of ${name}`);
  return op.target!.id;
}

async function checkCustomState(e: TestEngine, id: string): Promise<void> {
  const r = await e.instances.exec(id, { command: `cat /run/counter; md5sum /run/app-state ${manifest.diskFile}` });
  expect(r.code).toBe(0);
  const [counter, app, disk] = r.stdout.trim().split('\n');
  // Restored, not rebooted: the memory-only counter goes on from where it was saved (it ticks once a second,
  // and the check may come within that second of the resume).
  expect(Number(counter)).toBeGreaterThanOrEqual(manifest.counterAtCustomSave);
  await new Promise((r) => setTimeout(r, 1500));
  expect(Number((await e.instances.exec(id, { command: 'cat /run/counter' })).stdout)).toBeGreaterThan(manifest.counterAtCustomSave);
  expect(app.split(' ')[0]).toBe(manifest.appStateMd5);
  expect(disk.split(' ')[0]).toBe(manifest.diskFileMd5);
}

test('the base import makes the memory image: raw main RAM, its digest recorded', async () => {
  const image = imageOf(mapped);
  expect(fs.statSync(image).size).toBe(manifest.memoryMiB * 2 ** 20);
  const rec = JSON.parse(fs.readFileSync(`${image}.json`, 'utf8')) as { fromMemory: string; sha256: string };
  const base = await mapped.client.bases.get(baseId);
  expect(rec.fromMemory).toBe(base.memory.sha256);
  expect(JSON.parse(fs.readFileSync(`${image}.sha256.json`, 'utf8')).sha256).toBe(rec.sha256);
  // The engine told not to map makes none.
  expect(fs.existsSync(imageOf(plain))).toBe(false);
});

test('a synthesis runs on a private mapping of the image, with the customized state exact', async () => {
  const id = await synthesize(mapped, 'mapped-1');
  const maps = imageMappings(mapped, id);
  expect(maps).toHaveLength(1);
  // Private (copy-on-write): "p", never "s"; the whole of the guest's RAM.
  expect(maps[0]).toMatch(/^[0-9a-f]+-[0-9a-f]+ rw-p 00000000 /);
  const [lo, hi] = maps[0]
    .split(' ')[0]
    .split('-')
    .map((h) => parseInt(h, 16));
  expect(hi - lo).toBe(manifest.memoryMiB * 2 ** 20);
  await checkCustomState(mapped, id);
  // The image is the base's still: the guest's writes stayed with the VM.
  const rec = JSON.parse(fs.readFileSync(`${imageOf(mapped)}.json`, 'utf8')) as { sha256: string };
  expect(
    createHash('sha256')
      .update(fs.readFileSync(imageOf(mapped)))
      .digest('hex'),
  ).toBe(rec.sha256);
});

test('the base resumed as it is maps the image too, and instances of one base share its pages', async () => {
  const resumed = (await mapped.opOk((api) => api.instances.create({ name: 'mapped-base', baseId }), 'resume')).target!.id;
  expect(imageMappings(mapped, resumed)).toHaveLength(1);
  const counter = Number((await mapped.instances.exec(resumed, { command: 'cat /run/counter' })).stdout.trim());
  expect(counter).toBeGreaterThanOrEqual(manifest.counterAtBaseSave);
  // Two more instances of the overlay here and the same two on the engine that restores every page.
  const ids = [await synthesize(mapped, 'mapped-2'), await synthesize(mapped, 'mapped-3')];
  const plainIds = [await synthesize(plain, 'plain-1'), await synthesize(plain, 'plain-2')];
  for (const id of plainIds) expect(imageMappings(plain, id)).toHaveLength(0);
  const sharing = ids.reduce((a, id) => a + pssMiB(id), 0);
  const private_ = plainIds.reduce((a, id) => a + pssMiB(id), 0);
  process.stdout.write(`restore-mapped: PSS of 2 instances mapped ${sharing.toFixed(1)} MiB, restored page by page ${private_.toFixed(1)} MiB\n`);
  expect(sharing).toBeLessThan(private_);
  await checkCustomState(plain, plainIds[0]);
  for (const id of [resumed, ...ids]) await mapped.instances.delete(id);
  for (const id of plainIds) await plain.instances.delete(id);
});

test('a handoff lands on the destination mapped to its own copy of the image, the state exact', async () => {
  const id = (await mapped.instances.list()).instances.find((i) => i.name === 'mapped-1')!.id;
  await mapped.instances.exec(id, { command: `echo ${id} > /run/who` });
  await mapped.client.peers.create({ name: 'peer', endpoint: peer.endpoint, token: peer.token });
  await mapped.opOk((api) => api.instances.handoffTo(id, { peer: 'peer' }), 'handoff');
  expect(imageMappings(peer, id)).toHaveLength(1);
  await checkCustomState(peer, id);
  expect((await peer.instances.exec(id, { command: 'cat /run/who' })).stdout.trim()).toBe(id);
  // And back, onto the first engine's image again, once the first engine has let go of its copy.
  await mapped.waitInstanceGone(id);
  await peer.client.peers.create({ name: 'home', endpoint: mapped.endpoint, token: mapped.token });
  await peer.opOk((api) => api.instances.handoffTo(id, { peer: 'home' }), 'handoff back');
  expect(imageMappings(mapped, id)).toHaveLength(1);
  expect((await mapped.instances.exec(id, { command: 'cat /run/who' })).stdout.trim()).toBe(id);
  await mapped.instances.delete(id);
});

test('a changed image is made again before use; links an interrupted restore left are swept at start', async () => {
  const image = imageOf(mapped);
  // Something wrote into the image (its mtime moves): the digest sidecar no longer vouches for it.
  const fd = fs.openSync(image, 'r+');
  fs.writeSync(fd, Buffer.from('not the base'), 0, 12, 4096 * 100);
  fs.closeSync(fd);
  const id = await synthesize(mapped, 'mapped-again');
  expect(mapped.log).toMatch(/its memory image is missing or changed; making it again/);
  await checkCustomState(mapped, id);
  // A stale link of a domain that is not running, as a restore cut short would leave it.
  const ramDir = path.join(fs.realpathSync(path.join(mapped.stateDir, 'libvirt')), 'lib', 'qemu', 'ram');
  const stale = path.join(ramDir, '9999-cl-i-000000000000');
  fs.mkdirSync(stale, { recursive: true });
  fs.symlinkSync(image, path.join(stale, 'pc.ram'));
  await mapped.stop();
  await mapped.boot();
  expect(fs.existsSync(stale)).toBe(false);
  expect(mapped.log).toMatch(/removed 1 memory-image link/);
  // The running VM's own link stays, and the VM with it.
  expect(imageMappings(mapped, id)).toHaveLength(1);
  await checkCustomState(mapped, id);
});
