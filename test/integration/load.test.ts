// Load on real engines: 20 syntheses of the tiny guest at once on one cloudlet, while 200 requests with bad
// tokens or malformed bodies hit the API at once and good requests go on being answered; then 4 handoffs at once
// between two cloudlets. Every operation must succeed, every bad request be refused (401/400/413), and the
// engine's peak RSS (the kernel's VmHWM) stay under a bound; the figures are printed.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { request } from 'undici';
import { TestEngine } from '../helpers/engine';
import { ensureBaseArchive, ensureGuest } from '../vms/guest';
import { createOverlay } from '../../engine/overlay/writer';

jest.setTimeout(900000);

/**
 * The engine's memory bound under load: what it holds idle plus a fixed budget per operation in flight (a
 * synthesis streams its overlay through bounded buffers: decompression frames, the chunk map, the write queue),
 * whatever the size of the VMs. Measured here: 23 to 36 MiB per synthesis (20 at once, TCG).
 */
const PER_OPERATION_MIB = 48;
/**
 * Once per base, not per operation: the first handoff of a base builds its dedup dictionary (base-index.ts:
 * a fingerprint per 4 KiB chunk of disk and memory, the hash table, and its 8 MiB read block), kept for the
 * handoffs that follow. Measured on the tiny guest: the source's peak over 4 handoffs is 150 to 200 MiB above
 * idle, of which this is the part that does not grow with the number of handoffs.
 */
const BASE_INDEX_MIB = 32;
const SYNTHESES = 20;
const HANDOFFS = 4;

let a: TestEngine;
let b: TestEngine;
let baseId = '';
let overlayId = '';
/** Instances the syntheses test leaves running for the handoffs test. */
let toMove: string[] = [];

const status = (e: TestEngine, field: 'VmHWM' | 'VmRSS') => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${e.proc.pid}/status`, 'utf8'))![1]) / 1024;
const peakMiB = (e: TestEngine) => status(e, 'VmHWM');

beforeAll(async () => {
  const base = await ensureBaseArchive('tiny');
  baseId = base.baseId;
  [a, b] = await Promise.all([TestEngine.start('load-a'), TestEngine.start('load-b')]);
  await Promise.all([a, b].map((e) => e.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import')));
  // The overlay: the tiny guest's customized state, encoded by the codec (no VM) and uploaded.
  const guest = await ensureGuest('tiny');
  const file = path.join(a.stateDir, '..', `load-${process.pid}.clov`);
  await createOverlay({ baseDisk: guest.baseDisk, baseMemory: guest.baseMemory, customDisk: guest.customDisk, customMemory: guest.customMemory, output: file });
  overlayId = (await a.opOk((api) => api.overlays.import({ url: file }), 'overlay import')).result.overlay.id;
  fs.rmSync(file);
});

afterAll(async () => {
  await a?.destroy();
  await b?.destroy();
});

/** One raw request (the client library would refuse to send some of these). */
async function raw(e: TestEngine, method: 'GET' | 'POST', p: string, token: string, body?: string, type = 'application/json'): Promise<number> {
  const url = new URL(p, e.endpoint);
  const r = await request(url, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': type } : {}) }, body });
  await r.body.dump();
  return r.statusCode;
}

test(`${SYNTHESES} syntheses at once all succeed while 200 bad requests are refused and good ones answered`, async () => {
  fs.writeFileSync(`/proc/${a.proc.pid}/clear_refs`, '5');
  const idle = status(a, 'VmRSS');
  const t0 = Date.now();
  const names = Array.from({ length: SYNTHESES }, (_, i) => `load-${i}`);
  const syntheses = Promise.all(names.map((name) => a.op((api) => api.instances.create({ name, baseId, overlay: { id: overlayId } }))));
  const bad: Promise<{ kind: string; status: number }>[] = [];
  const malformed: [string, string, string | undefined][] = [
    ['{"name": ', 'application/json', 'truncated JSON'],
    ['{"name":"x","baseId":42}', 'application/json', 'a number for a hash'],
    ['{"name":"../../etc","baseId":"00"}', 'application/json', 'a bad name'],
    ['not json at all', 'application/json', 'garbage'],
    ['{"name":"x"}', 'text/plain', 'the wrong content type'],
  ];
  for (let i = 0; i < 200; i++) {
    if (i % 2 === 0) bad.push(raw(a, 'GET', '/v1/instances', i % 4 === 0 ? 'wrong-token-wrong-token' : a.token.slice(0, -1) + 'x').then((status) => ({ kind: 'bad token', status })));
    else {
      const [body, type] = malformed[i % malformed.length];
      bad.push(raw(a, 'POST', '/v1/instances', a.token, body, type).then((status) => ({ kind: 'malformed', status })));
    }
  }
  const good = Promise.all(Array.from({ length: 20 }, () => raw(a, 'GET', '/v1/instances', a.token)));
  const refused = await Promise.all(bad);
  expect(refused.filter((r) => r.kind === 'bad token').every((r) => r.status === 401)).toBe(true);
  expect(
    refused
      .filter((r) => r.kind === 'malformed')
      .map((r) => r.status)
      .filter((s) => s !== 400 && s !== 415),
  ).toEqual([]);
  expect(await good).toEqual(Array(20).fill(200));
  const ops = await syntheses;
  const seconds = (Date.now() - t0) / 1000;
  expect(ops.filter((o) => o.state !== 'succeeded').map((o) => `${o.id}: ${o.error?.code} ${o.error?.message}`)).toEqual([]);
  const list = (await a.instances.list()).instances.filter((i) => i.name.startsWith('load-'));
  expect(list.filter((i) => i.state === 'running')).toHaveLength(SYNTHESES);
  // Each its own VM, answering its agent with its own name.
  const answers = await Promise.all(list.slice(0, 5).map((i) => a.instances.exec(i.id, { command: 'hostname' })));
  expect(answers.map((r) => r.stdout.trim())).toEqual(list.slice(0, 5).map((i) => i.name));
  const peak = peakMiB(a);
  const bound = idle + PER_OPERATION_MIB * SYNTHESES;
  // The next test hands off the first HANDOFFS of them; the rest go.
  toMove = list.slice(0, HANDOFFS).map((i) => i.id);
  await Promise.all(list.slice(HANDOFFS).map((i) => a.instances.delete(i.id)));
  expect((await a.instances.list()).instances).toHaveLength(HANDOFFS);
  process.stdout.write(
    `load: ${SYNTHESES} syntheses at once in ${seconds.toFixed(1)} s, 200 bad requests refused; engine RSS idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB (bound ${bound.toFixed(0)})\n`,
  );
  expect(peak).toBeLessThan(bound);
});

test(`${HANDOFFS} of them handed off at once to a second cloudlet, all succeed`, async () => {
  await a.client.peers.create({ name: 'b', endpoint: b.endpoint, token: b.token });
  const ids = toMove;
  expect(ids).toHaveLength(HANDOFFS);
  for (const id of ids) await a.instances.exec(id, { command: `echo ${id} > /run/who` });
  fs.writeFileSync(`/proc/${a.proc.pid}/clear_refs`, '5');
  fs.writeFileSync(`/proc/${b.proc.pid}/clear_refs`, '5');
  const idle = [status(a, 'VmRSS'), status(b, 'VmRSS')];
  const t0 = Date.now();
  const moves = await Promise.all(ids.map((id) => a.op((api) => api.instances.handoffTo(id, { peer: 'b' }))));
  const seconds = (Date.now() - t0) / 1000;
  expect(moves.filter((o) => o.state !== 'succeeded').map((o) => `${o.id}: ${o.error?.code} ${o.error?.message}`)).toEqual([]);
  expect((await a.instances.list()).instances).toHaveLength(0);
  for (const id of ids) {
    const v = await b.instances.get(id);
    expect(v.state).toBe('running');
    // Memory came along: what was written to tmpfs before the move is there.
    expect((await b.instances.exec(id, { command: 'cat /run/who' })).stdout.trim()).toBe(id);
  }
  const peaks = [peakMiB(a), peakMiB(b)];
  process.stdout.write(
    `load: ${HANDOFFS} handoffs at once in ${seconds.toFixed(1)} s; peak RSS source ${peaks[0].toFixed(0)} MiB (idle ${idle[0].toFixed(0)}), destination ${peaks[1].toFixed(0)} MiB (idle ${idle[1].toFixed(0)})\n`,
  );
  // The source builds the base's dictionary; the destination needs none (it reads its base file in place).
  expect(peaks[0]).toBeLessThan(idle[0] + BASE_INDEX_MIB + PER_OPERATION_MIB * HANDOFFS);
  expect(peaks[1]).toBeLessThan(idle[1] + PER_OPERATION_MIB * HANDOFFS);
});
