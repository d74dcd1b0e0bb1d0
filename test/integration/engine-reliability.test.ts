// The reliability defects of issue 11, each driven the way it was found, from outside a real engine (no crash
// points: the engine is killed with kill -9 when its operation reports the phase): an overlay creation killed
// in its resume phase must not leave a snapshot that a later restart resumes over newer state; overlays
// fetched by syntheses go with the last instance that uses them, whichever is deleted first, and after a
// kill -9 in a synthesis's restore phase; an overlay URL that redirects is followed.

import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient, OperationView } from '../../engine/client/client';
import { FileServer, TestEngine, makeOverlayFile } from '../helpers/engine';
import { ensureBaseArchive } from '../vms/guest';

let work: string;
let base: { file: string; baseId: string };
let e: TestEngine;
let files: FileServer;
let overlayUrl: string;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-reliab-'));
  base = await ensureBaseArchive('tiny');
  e = await TestEngine.start('reliab');
  files = new FileServer();
  await files.start();
  const file = path.join(work, 'o.clov');
  await makeOverlayFile(e, base, file, 'echo made > /data/made && sync');
  overlayUrl = files.serve('o.clov', file);
}, 600000);

// Each test starts from a running engine, whatever the one before left.
beforeEach(async () => {
  for (let i = 0; !e.client && i < 30; i++) await e.boot().catch(() => new Promise((r) => setTimeout(r, 1000)));
});

afterAll(async () => {
  await files?.stop();
  await e?.destroy();
  fs.rmSync(work, { recursive: true, force: true });
});

async function exec(id: string, command: string): Promise<string> {
  const r = await e.instances.exec(id, { command });
  if (r.code !== 0) throw new Error(`${command}: exit ${r.code}: ${r.stdout}`);
  return r.stdout.trim();
}

/** Starts an operation and kill -9s the engine as soon as the operation reports `phase`; then restarts it. */
async function killInPhase(start: (api: EngineClient) => Promise<{ operation: OperationView }>, phase: string): Promise<void> {
  const { operation } = await start(e.client);
  for (let i = 0; ; i++) {
    const v = await e.operations.get(operation.id);
    if (v.phase === phase) break;
    if (v.state !== 'running' || i > 3000) throw new Error(`operation never reached phase ${phase}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  await e.kill9();
  await e.boot();
}

test('an overlay creation killed in its resume phase: recovered once, and never resumed again from that snapshot', async () => {
  const v = await e.opOk((api) => api.instances.create({ name: 'resume-kill', baseId: base.baseId }), 'resume');
  const id = v.target!.id;
  await exec(id, 'echo before > /data/before && sync');
  await killInPhase((api) => api.overlays.import({ instanceId: id }), 'resume');
  expect((await e.instances.get(id)).state).toBe('running');
  expect(await exec(id, 'cat /data/before')).toBe('before');
  // No snapshot is left for a later start to use.
  expect(fs.readdirSync(path.join(e.stateDir, 'instances', id)).filter((f) => f.startsWith('resume.'))).toEqual([]);
  // The guest goes on: its counter moves and it writes to its disk after the recovery...
  const c1 = Number(await exec(id, 'cat /run/counter'));
  await new Promise((r) => setTimeout(r, 2500));
  await exec(id, 'echo after > /data/after && sync');
  const c2 = Number(await exec(id, 'cat /run/counter'));
  expect(c2).toBeGreaterThan(c1);
  // ...then it is stopped and the engine restarted: it stays stopped (the reported bug resumed the old snapshot,
  // the counter went back and the file written after the first recovery was gone).
  await e.instances.power(id, { state: 'stopped' });
  await e.kill9();
  const logAt = e.log.length;
  await e.boot();
  expect((await e.instances.get(id)).state).toBe('stopped');
  expect(e.log.slice(logAt)).not.toMatch(/interrupted snapshot/);
  await e.instances.delete(id);
  for (const o of (await e.overlays.list()).overlays) await e.overlays.delete(o.id);
}, 600000);

test('overlays fetched by syntheses stay while an instance uses them and go with the last, whichever goes first', async () => {
  const first = (await e.opOk((api) => api.instances.create({ name: 'fetch-1', baseId: base.baseId, overlay: { url: overlayUrl } }), 'synthesis 1')).target!.id;
  const second = (await e.opOk((api) => api.instances.create({ name: 'fetch-2', baseId: base.baseId, overlay: { url: overlayUrl } }), 'synthesis 2')).target!.id;
  const overlays = () => fs.readdirSync(path.join(e.stateDir, 'overlays'));
  expect(overlays()).toHaveLength(1);
  await e.instances.delete(first); // the first fetcher goes first
  expect(overlays()).toHaveLength(1);
  expect(await exec(second, 'cat /data/made')).toBe('made');
  await e.instances.delete(second);
  expect(overlays()).toEqual([]);
  // An overlay stored on purpose is kept, even when a synthesis fetched the same file first.
  const again = (await e.opOk((api) => api.instances.create({ name: 'fetch-3', baseId: base.baseId, overlay: { url: overlayUrl } }), 'synthesis 3')).target!.id;
  await e.opOk((api) => api.overlays.import({ url: overlayUrl }), 'overlay import');
  await e.instances.delete(again);
  expect(overlays()).toHaveLength(1);
  await e.overlays.delete(overlays()[0]);
  // Killed in a synthesis's restore phase: after the restart, neither the instance nor its fetched overlay.
  await killInPhase((api) => api.instances.create({ name: 'fetch-killed', baseId: base.baseId, overlay: { url: overlayUrl } }), 'restore');
  expect((await e.instances.list()).instances).toEqual([]);
  expect(overlays()).toEqual([]);
  expect(fs.readdirSync(path.join(e.stateDir, 'tmp'))).toEqual([]);
  // So the base is not held by anything.
  const probe = await e.instances.list();
  expect(probe.instances).toEqual([]);
}, 600000);

test('an overlay URL that redirects (relative, then absolute, as object stores and CDNs do) is followed', async () => {
  const hops: string[] = [];
  const redirector = http.createServer((req, res) => {
    hops.push(req.url ?? '');
    const at = new URL(req.url ?? '/', 'http://here').pathname;
    if (at === '/start') res.writeHead(302, { location: '/second' });
    else if (at === '/second') res.writeHead(307, { location: overlayUrl });
    else res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', () => r()));
  try {
    const url = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/start?sig=secret`;
    const v = await e.opOk((api) => api.instances.create({ name: 'redirected', baseId: base.baseId, overlay: { url } }), 'synthesis through redirects');
    expect(hops).toEqual(['/start?sig=secret', '/second']);
    expect(await exec(v.target!.id, 'cat /data/made')).toBe('made');
    await e.instances.delete(v.target!.id);
    // A loop is a clear error, and the query string (a signature) is not in it.
    const loop = http.createServer((_q, res) => (res.writeHead(302, { location: '/again' }), res.end()));
    await new Promise<void>((r) => loop.listen(0, '127.0.0.1', () => r()));
    try {
      const bad = await e.op((api) => api.instances.create({ name: 'loop', baseId: base.baseId, overlay: { url: `http://127.0.0.1:${(loop.address() as AddressInfo).port}/x?sig=secret` } }));
      expect(bad.error?.code).toBe('DOWNLOAD_FAILED');
      expect(bad.error?.message).toMatch(/too many redirects/);
      expect(bad.error?.message).not.toMatch(/secret/);
    } finally {
      loop.close();
    }
  } finally {
    redirector.close();
  }
  await e.bases.delete(base.baseId); // nothing pins the base any more
}, 600000);
