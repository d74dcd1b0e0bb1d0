// The engine API against bad input, on a real engine: authentication, malformed requests, unknown objects,
// and imports/syntheses from URLs that 404, stall, serve garbage, break off, or hold an overlay made for
// another base. Each failure must be a typed error and leave nothing half-made behind.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../engine/client/client';
import { createOverlay } from '../../engine/overlay/writer';
import { ensureBaseArchive, ensureGuest } from '../vms/guest';
import { makeVm } from '../helpers/synthetic-vm';
import { FileServer, TestEngine } from '../helpers/engine';
import { OverlaySpecRequest } from '../../engine/contract/schemas';

jest.setTimeout(600000);

let e: TestEngine;
let files: FileServer;
let baseId = '';
let archive = '';
let work = '';
let goodOverlay = '';
let foreignOverlay = '';

beforeAll(async () => {
  ({ file: archive, baseId } = await ensureBaseArchive('tiny'));
  const g = await ensureGuest('tiny');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cle-api-'));
  goodOverlay = path.join(work, 'tiny.clov');
  await createOverlay({ baseDisk: g.baseDisk, baseMemory: g.baseMemory, customDisk: g.customDisk, customMemory: g.customMemory, output: goodOverlay });
  const vm = makeVm(11);
  foreignOverlay = path.join(work, 'foreign.clov');
  await createOverlay({ baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, customDisk: vm.customDisk, customMemory: vm.customMemory, output: foreignOverlay, threads: 0 });
  fs.rmSync(vm.dir, { recursive: true, force: true });
  files = new FileServer();
  await files.start();
  e = await TestEngine.start('api', ['--fetch-timeout', '3']);
});

afterAll(async () => {
  await e?.destroy();
  await files?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

async function raw(method: string, p: string, o: { token?: string | null; body?: string; type?: string } = {}) {
  const headers: Record<string, string> = {};
  const token = o.token === undefined ? e.token : o.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (o.type) headers['content-type'] = o.type;
  const r = await fetch(e.endpoint + p, { method, headers, body: o.body });
  const text = await r.text();
  return { status: r.status, text, json: text ? (JSON.parse(text) as { error?: { code: string; message: string } }) : {} };
}

function expectNothingLeft(): void {
  const ls = (d: string) => fs.readdirSync(path.join(e.stateDir, d));
  expect(ls('instances')).toEqual([]);
  expect(ls('tmp')).toEqual([]);
  expect(ls('bases').filter((x) => x !== baseId)).toEqual([]);
  expect(ls('overlays').filter((x) => x.includes('tmp'))).toEqual([]);
}

test('missing or wrong token: 401 and nothing else said', async () => {
  const unauthorized = '{"error":{"code":"UNAUTHORIZED","message":"unauthorized"}}';
  for (const [m, p] of [
    ['GET', '/v1/info'],
    ['GET', '/v1/bases'],
    ['POST', '/v1/instances'],
    ['GET', '/v1/no-such-endpoint'],
    ['DELETE', `/v1/bases/${baseId}`],
  ]) {
    for (const token of [null, 'wrong-token', e.token + 'x', '']) {
      const r = await raw(m, p, { token });
      expect(r.status).toBe(401);
      expect(r.text).toBe(unauthorized);
    }
  }
  expect(e.log).not.toContain(e.token);
  expect((await raw('GET', '/v1/info')).status).toBe(200);
});

test('malformed requests and unknown objects: 4xx with error codes', async () => {
  const cases: [string, string, string | undefined, number, string][] = [
    ['POST', '/v1/instances', '{not json', 400, 'INVALID_ARGUMENT'],
    ['POST', '/v1/instances', '[1,2]', 400, 'INVALID_ARGUMENT'],
    ['POST', '/v1/instances', JSON.stringify({ name: 'Bad Name!', baseId }), 400, 'INVALID_ARGUMENT'],
    ['POST', '/v1/instances', JSON.stringify({ name: 'ok', baseId: 'f'.repeat(64) }), 404, 'NOT_FOUND'],
    ['POST', '/v1/instances', JSON.stringify({ name: 'ok', baseId: 42 }), 400, 'INVALID_ARGUMENT'],
    ['POST', '/v1/instances', JSON.stringify({ name: 'ok', baseId: 'f'.repeat(64), overlay: 'x' }), 400, 'INVALID_ARGUMENT'],
    ['POST', '/v1/bases', JSON.stringify({}), 400, 'INVALID_ARGUMENT'],
    ['POST', '/v1/bases', JSON.stringify({ source: archive, sha256: 'nothex' }), 400, 'INVALID_ARGUMENT'],
    ['POST', '/v1/overlays', JSON.stringify({ instanceId: 'i-000000000000' }), 404, 'NOT_FOUND'],
    ['GET', '/v1/bases/../../etc', undefined, 404, 'NOT_FOUND'],
    ['GET', `/v1/overlays/${'0'.repeat(64)}`, undefined, 404, 'NOT_FOUND'],
    ['GET', `/v1/overlays/${'0'.repeat(64)}/file`, undefined, 404, 'NOT_FOUND'],
    ['GET', '/v1/instances/i-nope', undefined, 404, 'NOT_FOUND'],
    ['DELETE', '/v1/instances/i-nope', undefined, 404, 'NOT_FOUND'],
    ['GET', '/v1/operations/op-nope', undefined, 404, 'NOT_FOUND'],
    ['GET', '/v1/operations/op-nope?wait=999', undefined, 400, 'INVALID_ARGUMENT'],
    ['PUT', '/v1/info', undefined, 400, 'INVALID_ARGUMENT'],
    ['GET', '/v2/anything', undefined, 404, 'NOT_FOUND'],
  ];
  for (const [m, p, body, status, code] of cases) {
    const r = await raw(m, p, { body, type: body ? 'application/json' : undefined });
    expect({ m, p, status: r.status, code: r.json.error?.code }).toEqual({ m, p, status, code });
    expect(r.json.error!.message.length).toBeGreaterThan(3);
  }
  expect((await raw('POST', '/v1/instances', { body: JSON.stringify({ name: 'Bad Name!', baseId }), type: 'application/json' })).json.error!.message).toMatch(/^name:/);
  expectNothingLeft();
});

test('base imports from URLs that fail are errors, not bases', async () => {
  const bad: [string, string, string][] = [
    ['404', files.serve('missing.tar', archive, '404'), 'DOWNLOAD_FAILED'],
    ['stall', files.serve('stall.tar', archive, 'stall'), 'DOWNLOAD_FAILED'],
    ['garbage', files.serve('garbage.tar', archive, 'garbage'), 'ARCHIVE_INVALID'],
    ['truncated', files.serve('trunc.tar', archive, 'truncate'), 'DOWNLOAD_FAILED'],
    ['unreachable', 'http://127.0.0.1:9/base.tar', 'DOWNLOAD_FAILED'],
  ];
  for (const [what, url, code] of bad) {
    const op = await e.op((api) => api.bases.import({ source: url }));
    expect({ what, state: op.state, code: op.error?.code }).toEqual({ what, state: 'failed', code });
    expect(op.error!.message).not.toMatch(/sig=/);
    expect(fs.readdirSync(path.join(e.stateDir, 'bases'))).toEqual([]);
  }
  const wrong = await e.op((api) => api.bases.import({ source: files.serve('base.tar', archive), sha256: 'a'.repeat(64) }));
  expect(wrong.error?.code).toBe('HASH_MISMATCH');
  const ok = await e.op((api) => api.bases.import({ source: files.serve('base.tar', archive), sha256: baseId }));
  expect(ok.state).toBe('succeeded');
  expectNothingLeft();
});

test('syntheses from URLs that fail, or from an overlay for another base, leave nothing half-made', async () => {
  const bad: [string, OverlaySpecRequest, string][] = [
    ['404', { url: files.serve('missing.clov', goodOverlay, '404') }, 'DOWNLOAD_FAILED'],
    ['stall', { url: files.serve('stall.clov', goodOverlay, 'stall') }, 'DOWNLOAD_FAILED'],
    ['garbage', { url: files.serve('garbage.clov', goodOverlay, 'garbage') }, 'OVERLAY_BAD_MAGIC'],
    ['truncated', { url: files.serve('trunc.clov', goodOverlay, 'truncate') }, 'DOWNLOAD_FAILED'],
    ['other base', { url: files.serve('foreign.clov', foreignOverlay) }, 'OVERLAY_WRONG_BASE'],
    ['wrong hash', { url: files.serve('good.clov', goodOverlay), sha256: 'b'.repeat(64) }, 'HASH_MISMATCH'],
  ];
  for (const [what, overlay, code] of bad) {
    const op = await e.op((api) => api.instances.create({ name: 'x', baseId, overlay }));
    expect({ what, state: op.state, code: op.error?.code }).toEqual({ what, state: 'failed', code });
    expectNothingLeft();
    expect((await e.instances.list()).instances).toEqual([]);
    expect((await e.overlays.list()).overlays).toEqual([]);
  }
  expect(fs.readdirSync(path.join(e.stateDir, 'overlays'))).toEqual([]);

  // Uploads: garbage is refused and not stored; a foreign overlay is stored, then refused for this base.
  const garbage = await raw('POST', '/v1/overlays', { body: 'x'.repeat(5000), type: 'application/octet-stream' });
  expect(garbage.status).toBe(422);
  expect(garbage.json.error!.code).toBe('OVERLAY_BAD_MAGIC');
  const up = await raw('POST', '/v1/overlays', { body: fs.readFileSync(foreignOverlay) as unknown as string, type: 'application/octet-stream' });
  expect(up.status).toBe(201);
  const foreignId = (up.json as unknown as { id: string }).id;
  const refused = await raw('POST', '/v1/instances', { body: JSON.stringify({ name: 'x', baseId, overlay: { id: foreignId } }), type: 'application/json' });
  expect(refused.status).toBe(422);
  expect(refused.json.error!.code).toBe('OVERLAY_WRONG_BASE');
  await e.overlays.delete(foreignId);
  expectNothingLeft();
});

test('TLS: the engine serves HTTPS with the given certificate; clients trust it through a CA file', async () => {
  const cert = path.join(work, 'cert.pem');
  const key = path.join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    stdio: 'ignore',
  });
  const t = await TestEngine.start('tls', ['--tls-cert', cert, '--tls-key', key]);
  try {
    expect(t.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const trusted = new EngineClient({ endpoint: t.endpoint, token: t.token, ca: fs.readFileSync(cert, 'utf8') });
    const info = await trusted.engine.info();
    expect(info.extensions.overlayFormats).toEqual([1]);
    await trusted.close();
    // Without the CA the certificate is refused; with the CA but a wrong token, 401 as over plain HTTP.
    const untrusted = new EngineClient({ endpoint: t.endpoint, token: t.token });
    await expect(untrusted.engine.info()).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    await untrusted.close();
    const wrong = new EngineClient({ endpoint: t.endpoint, token: 'not-the-token', ca: fs.readFileSync(cert, 'utf8') });
    await expect(wrong.engine.info()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await wrong.close();
  } finally {
    await t.destroy();
  }
});

test('a base whose snapshot this QEMU cannot restore is refused before anything starts, naming both sides', async () => {
  const rec = path.join(e.stateDir, 'bases', baseId, 'base.json');
  const original = fs.readFileSync(rec, 'utf8');
  const base = JSON.parse(original) as { machine?: string; cpuModel: string };
  expect(base.machine).toMatch(/^pc-i440fx-\d+\.\d+$/); // recorded at import, from the snapshot's domain XML
  try {
    for (const [change, needle, offered] of [
      [{ machine: 'pc-i440fx-99.9' }, 'machine type pc-i440fx-99.9', base.machine!],
      [{ cpuModel: 'Icelake-Server-v99' }, 'CPU model Icelake-Server-v99', 'qemu64'],
    ] as const) {
      fs.writeFileSync(rec, JSON.stringify({ ...base, ...change }));
      const r = await raw('POST', '/v1/instances', { body: JSON.stringify({ name: 'incompatible', baseId }), type: 'application/json' });
      expect({ status: r.status, code: r.json.error?.code }).toEqual({ status: 422, code: 'HOST_UNSUPPORTED' });
      expect(r.json.error!.message).toContain(needle);
      expect(r.json.error!.message).toContain(offered);
      expectNothingLeft();
      expect((await e.operations.list()).operations.filter((o) => o.kind === 'synthesize' && o.target?.id === undefined && o.state === 'running')).toEqual([]);
    }
  } finally {
    fs.writeFileSync(rec, original);
  }
  // Put back, the base synthesizes as before.
  const ok = await e.opOk((api) => api.instances.create({ name: 'compatible', baseId }), 'synthesis');
  await e.instances.delete(ok.result.instance.id);
  expectNothingLeft();
});
