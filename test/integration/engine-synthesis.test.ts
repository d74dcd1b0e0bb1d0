// The OpenStack++ cloudlet workflow on two real engines (real libvirt/QEMU, real HTTP): import the tiny base,
// resume it, customize it inside the guest (memory and disk), create the overlay, download it, synthesize
// it on a second engine from its URL, and check inside the synthesized guest that the customization is
// there and the workload kept counting.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../engine/cli/main';
import { ensureBaseArchive } from '../vms/guest';
import { FileServer, TestEngine, qemuRunning } from '../helpers/engine';

jest.setTimeout(900000);

let a: TestEngine;
let b: TestEngine;
let files: FileServer;
let baseId = '';
let archive = '';

beforeAll(async () => {
  ({ file: archive, baseId } = await ensureBaseArchive('tiny'));
  files = new FileServer();
  await files.start();
  [a, b] = await Promise.all([TestEngine.start('a'), TestEngine.start('b')]);
});

afterAll(async () => {
  await Promise.all([a?.destroy(), b?.destroy()]);
  await files?.stop();
});

const exec = async (e: TestEngine, id: string, cmd: string) => {
  const r = await e.instances.exec(id, { command: cmd });
  expect(r.code).toBe(0);
  return r.stdout.trim();
};

test('import, resume, customize, create overlay, download, synthesize on a second engine from its URL', async () => {
  // Engine A imports by path, engine B by URL; a second import of the same base is served from the store.
  const impA = await a.op((api) => api.bases.import({ source: archive, sha256: baseId }));
  expect(impA.state).toBe('succeeded');
  expect(impA.target).toEqual({ type: 'base', id: baseId });
  const impB = await b.op((api) => api.bases.import({ source: files.serve('base.tar', archive) }));
  expect(impB.error).toBeUndefined();
  expect((impB.result as { cached: boolean }).cached).toBe(false);
  const again = await b.op((api) => api.bases.import({ source: files.serve('base.tar', archive) }));
  expect((again.result as { cached: boolean }).cached).toBe(true);

  // Resume the base for customization and change memory and disk from inside the guest.
  const res = await a.op((api) => api.instances.create({ name: 'custom', baseId }));
  expect(res.error).toBeUndefined();
  const custom = res.target!.id;
  const marker = `marker-${Date.now()}`;
  await exec(a, custom, `echo ${marker} > /data/marker && head -c 1500000 /dev/urandom > /run/app-state && sync`);
  const stateMd5 = (await exec(a, custom, 'md5sum /run/app-state')).split(' ')[0];
  const diskMd5 = (await exec(a, custom, 'md5sum /data/marker')).split(' ')[0];

  const created = await a.op((api) => api.overlays.import({ instanceId: custom }));
  expect(created.error).toBeUndefined();
  expect(Object.keys(created.timings)).toEqual(expect.arrayContaining(['save', 'delta', 'resume']));
  const overlayId = created.target!.id;
  // The customization VM kept running through overlay creation.
  const counterAtOverlay = Number(await exec(a, custom, 'cat /run/counter'));
  expect((await a.instances.get(custom)).state).toBe('running');

  // Download through the CLI (authenticated) and check the file is the overlay the engine names.
  const dl = path.join(a.stateDir, 'downloaded.clov');
  const env = { CLOUDLET_ENDPOINT: a.endpoint, CLOUDLET_TOKEN: a.token };
  Object.assign(process.env, env);
  try {
    expect(await main(['overlay', 'download', overlayId.slice(0, 10), dl, '--quiet'])).toBe(0);
  } finally {
    delete process.env.CLOUDLET_ENDPOINT;
    delete process.env.CLOUDLET_TOKEN;
  }
  expect(createHash('sha256').update(fs.readFileSync(dl)).digest('hex')).toBe(overlayId);

  // The signed URL works without a token, with Range requests and the content hash as ETag.
  const ov = await a.overlays.get(overlayId);
  const ranged = await fetch(ov.downloadUrl!, { headers: { range: 'bytes=0-7' } });
  expect(ranged.status).toBe(206);
  expect(ranged.headers.get('etag')).toBe(`"${overlayId}"`);
  expect(Buffer.from(await ranged.arrayBuffer())).toEqual(fs.readFileSync(dl).subarray(0, 8));
  expect((await fetch(ov.downloadUrl!.replace(/sig=[0-9a-f]+/, 'sig=' + '0'.repeat(64)))).status).toBe(401);

  // Synthesis on engine B from A's URL, idempotent on the request id.
  const body = { name: 'synth', baseId, overlay: { url: ov.downloadUrl, sha256: overlayId }, requestId: 'req-synth-1' };
  const first = await b.instances.create(body);
  const retry = await b.instances.create(body);
  expect(retry.operation.id).toBe(first.operation.id);
  const syn = await b.settle(first.operation.id);
  expect(syn.error).toBeUndefined();
  expect(Object.keys(syn.timings)).toEqual(expect.arrayContaining(['fetch', 'apply', 'restore', 'total']));
  const synth = syn.target!.id;
  const info = await b.instances.get(synth);
  expect(info.state).toBe('running');
  expect(info.overlayId).toBe(overlayId);
  expect(qemuRunning(info.domain)).toBe(true);

  // Inside the synthesized guest: the customization (disk and memory) and a workload that kept counting.
  await exec(b, synth, 'echo 3 > /proc/sys/vm/drop_caches');
  expect(await exec(b, synth, 'cat /data/marker')).toBe(marker);
  expect((await exec(b, synth, 'md5sum /data/marker')).split(' ')[0]).toBe(diskMd5);
  expect((await exec(b, synth, 'md5sum /run/app-state')).split(' ')[0]).toBe(stateMd5);
  const c1 = Number(await exec(b, synth, 'cat /run/counter'));
  expect(c1).toBeGreaterThanOrEqual(counterAtOverlay - 1);
  await new Promise((r) => setTimeout(r, 2500));
  expect(Number(await exec(b, synth, 'cat /run/counter'))).toBeGreaterThan(c1);

  // B keeps the overlay it fetched while an instance made from it exists.
  expect((await b.overlays.get(overlayId)).id).toBe(overlayId);

  // A base in use cannot be deleted; deleting instances removes their VMs.
  await expect(b.bases.delete(baseId)).rejects.toMatchObject({ code: 'IN_USE' });
  await b.instances.delete(synth);
  expect(qemuRunning(info.domain)).toBe(false);
  await expect(b.instances.get(synth)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  // The overlay B fetched for that instance alone went with it, so it does not pin the base.
  await expect(b.overlays.get(overlayId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
});

test('an engine restarted under running VMs finds them again; kill -9 mid-synthesis leaves a consistent store', async () => {
  const { instances } = await a.instances.list();
  expect(instances.length).toBe(1);
  const custom = instances[0];
  await a.kill9();
  expect(qemuRunning(custom.domain)).toBe(true);
  await a.boot();
  expect((await a.instances.get(custom.id)).state).toBe('running');
  expect(Number(await exec(a, custom.id, 'cat /run/counter'))).toBeGreaterThan(0);

  // Synthesis on B from a URL throttled to ~1 MiB/s, killed while it downloads.
  const { overlays } = await a.overlays.list();
  const slowUrl = files.serve('slow.clov', path.join(a.stateDir, 'overlays', overlays[0].id, 'overlay.clov'), { throttleBytesPerSec: 1 << 20 });
  const { operation } = await b.instances.create({ name: 'doomed', baseId, overlay: { url: slowUrl } });
  for (let i = 0; i < 100; i++) {
    const v = await b.operations.get(operation.id);
    if (v.phase === 'fetch' && v.done > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await b.kill9();
  await b.boot();
  const op = await b.operations.get(operation.id);
  expect(op.state).toBe('failed');
  expect(op.error!.code).toBe('INTERRUPTED');
  const left = await b.instances.list();
  expect(left.instances).toEqual([]);
  expect(fs.readdirSync(path.join(b.stateDir, 'instances'))).toEqual([]);
  expect(fs.readdirSync(path.join(b.stateDir, 'tmp'))).toEqual([]);
  expect(fs.readdirSync(path.join(b.stateDir, 'bases'))).toEqual([baseId]);
  // And the engine works afterwards: the same synthesis, at full speed, succeeds.
  const fastUrl = files.serve('fast.clov', path.join(a.stateDir, 'overlays', overlays[0].id, 'overlay.clov'));
  const ok = await b.op((api) => api.instances.create({ name: 'after-crash', baseId, overlay: { url: fastUrl, sha256: overlays[0].id } }));
  expect(ok.error).toBeUndefined();
  expect(Number(await exec(b, ok.target!.id, 'cat /run/counter'))).toBeGreaterThan(0);
});
