// VM handoff between two real engines (real libvirt/QEMU, real HTTP): a synthesized tiny guest moves from
// cloudlet a to cloudlet b and back while its workload keeps counting; disk writes made before a move are
// there after it. Failures before the destination confirms (the destination killed, the link cut or
// black-holed mid-transfer, a destination without the base) leave the VM running at the source.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../engine/cli/main';
import { EngineClient, OperationView } from '../../engine/client/client';
import { hypervisorType } from '../../engine/vm/domain';
import { ensureBaseArchive } from '../vms/guest';
import { TestEngine, makeOverlayFile, qemuCommandLines } from '../helpers/engine';
import { TcpProxy } from '../helpers/proxy';

jest.setTimeout(900000);

let a: TestEngine;
let b: TestEngine;
let base: { file: string; baseId: string };
let overlayFile = '';
let work = '';

interface Inst {
  id: string;
  name: string;
  state: string;
  domain: string;
}

const STALL = ['--handoff-stall-timeout', '5', '--handoff-confirm-timeout', '20'];

beforeAll(async () => {
  base = await ensureBaseArchive('tiny');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-'));
  [a, b] = await Promise.all([TestEngine.start('ha', STALL), TestEngine.start('hb', STALL)]);
  overlayFile = path.join(work, 'app.clov');
  // The app state: a random file in guest memory and one on its disk, as a customized VM would have.
  await makeOverlayFile(a, base, overlayFile, 'head -c 3000000 /dev/urandom > /run/app-state && head -c 2000000 /dev/urandom > /data/app.bin && sync');
  await b.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import on b');
});

afterAll(async () => {
  await Promise.all([a?.destroy(), b?.destroy()]);
  fs.rmSync(work, { recursive: true, force: true });
});

async function exec(e: TestEngine, id: string, cmd: string): Promise<string> {
  const r = await e.instances.exec(id, { command: cmd });
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

const counter = async (e: TestEngine, id: string) => Number(await exec(e, id, 'cat /run/counter'));

async function synthesize(name: string): Promise<Inst> {
  const op = await a.opOk((api) => api.instances.create({ name, baseId: base.baseId, overlay: { url: overlayFile } }), 'synthesis');
  return (op.result as { instance: Inst }).instance;
}

/** Pulls `id` from `from` to `to` with a handoff token, through `via` (a proxy endpoint) if given. */
async function handoff(from: TestEngine, to: TestEngine, id: string, via?: string): Promise<{ id: string }> {
  const grant = await from.instances.handoffToken(id, {});
  const { operation } = await to.handoffs.create({ source: { endpoint: via ?? from.endpoint, token: grant.token }, instanceId: id });
  return operation;
}

async function instances(e: TestEngine): Promise<Inst[]> {
  return (await e.instances.list()).instances;
}

/** The VM keeps running where it was, and counting. */
async function expectRunningAt(e: TestEngine, id: string): Promise<void> {
  let i: Inst | undefined;
  for (let k = 0; k < 50; k++) {
    i = (await instances(e)).find((x) => x.id === id);
    if (i?.state === 'running') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  // On failure, the engine's own account of what happened to the VM, and the guest's console.
  const consoleLog = e.consolePath(id);
  const why = i?.state === 'running' ? '' : `${e.log.slice(-4000)}\n--- console:\n${fs.existsSync(consoleLog) ? fs.readFileSync(consoleLog, 'utf8').slice(-3000) : '(none)'}`;
  expect({ state: i?.state, why }).toEqual({ state: 'running', why: '' });
  const c = await counter(e, id);
  await new Promise((r) => setTimeout(r, 2000));
  expect(await counter(e, id)).toBeGreaterThan(c);
}

/** The source's handoff-out operation for an instance, once it has ended (the source noticed the failure). */
async function sourceSide(instanceId: string): Promise<OperationView> {
  for (let k = 0; ; k++) {
    const ops = (await a.operations.list()).operations.filter((o) => o.kind === 'handoff-out' && o.target?.id === instanceId);
    const last = ops.at(-1);
    if (last && last.state !== 'running') return last;
    if (k > 600) throw new Error(`the source's handoff of ${instanceId} did not end: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForBytes(e: TestEngine, opId: string, bytes: number): Promise<OperationView> {
  for (;;) {
    const v = await e.operations.get(opId);
    if (v.state !== 'running') throw new Error(`handoff ended before ${bytes} bytes: ${JSON.stringify(v)}`);
    if (v.phase === 'transfer' && v.done >= bytes) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a running instance moves to another cloudlet and back, its memory and disk intact', async () => {
  const inst = await synthesize('mover');
  const appMd5 = await exec(a, inst.id, 'md5sum /run/app-state /data/app.bin');
  await exec(a, inst.id, 'echo written-before-the-move > /data/moved.txt && sync');
  const before = await counter(a, inst.id);

  const op = await handoff(a, b, inst.id);
  const done = await b.settle(op.id);
  if (done.state !== 'succeeded') throw new Error(`handoff failed: ${JSON.stringify(done.error)}\n${b.log.slice(-3000)}\n${a.log.slice(-3000)}`);
  const r = done.result as { instance: Inst; bytesReceived: number; downtimeMs: number; from: { id: string }; source: { memoryCheck: { pages: number; resent: number } | null } };
  expect(r.instance.id).toBe(inst.id);
  expect(r.instance.state).toBe('running');
  expect(r.downtimeMs).toBeGreaterThan(0);
  // Under TCG (these hosts) the source checked the paused guest's memory in QEMU's process: the pages the
  // guest wrote since it was synthesized, a part of its 65,536.
  if (hypervisorType() === 'qemu') {
    expect(r.source.memoryCheck?.pages).toBeGreaterThan(0);
    expect(r.source.memoryCheck?.pages).toBeLessThan(65536);
  }
  // Only what differs from the shared base travels: far less than the 256 MiB of RAM and the disk.
  expect(r.bytesReceived).toBeLessThan(64 << 20);

  // Gone from a (its API and its libvirt), running at b with everything it had.
  expect((await instances(a)).map((i) => i.id)).not.toContain(inst.id);
  const procs = qemuCommandLines(inst.domain);
  expect(procs).toHaveLength(1);
  expect(procs[0]).toContain(b.stateDir);
  expect(await exec(b, inst.id, 'cat /data/moved.txt')).toBe('written-before-the-move');
  expect(await exec(b, inst.id, 'md5sum /run/app-state /data/app.bin')).toBe(appMd5);
  expect(await counter(b, inst.id)).toBeGreaterThanOrEqual(before);
  await expectRunningAt(b, inst.id);
  // Disk written at b reads back after the caches are dropped (the qcow2 layer b built is sound).
  await exec(b, inst.id, 'echo written-at-b > /data/at-b.txt && sync && echo 3 > /proc/sys/vm/drop_caches');
  expect(await exec(b, inst.id, 'cat /data/moved.txt /data/at-b.txt')).toBe('written-before-the-move\nwritten-at-b');

  // And back to a.
  const back = await a.settle((await handoff(b, a, inst.id)).id);
  expect(back.error).toBeUndefined();
  expect((await instances(b)).map((i) => i.id)).not.toContain(inst.id);
  expect(await exec(a, inst.id, 'cat /data/moved.txt /data/at-b.txt')).toBe('written-before-the-move\nwritten-at-b');
  expect(await exec(a, inst.id, 'md5sum /run/app-state /data/app.bin')).toBe(appMd5);
  await expectRunningAt(a, inst.id);
  expect(qemuCommandLines(inst.domain)).toHaveLength(1);
});

test('disk written while the VM moves is all on the new disk, and the restore began before the stream ended', async () => {
  const inst = await synthesize('writer');
  // A writer in the guest for the whole move: new 64 KiB files (new clusters of the layer) one after another,
  // each synced, so the disk's last pass (after the pause) holds clusters the destination's restore had not
  // seen when it started.
  await exec(
    a,
    inst.id,
    'mkdir -p /data/w && touch /run/writing && (k=0; while [ -e /run/writing ] && [ $k -lt 300 ]; do head -c 65536 /dev/urandom > /data/w/$k; sync; k=$((k+1)); done) </dev/null >/dev/null 2>&1 &',
  );
  await new Promise((r) => setTimeout(r, 1000));
  const before = Number(await exec(a, inst.id, 'ls /data/w | wc -l'));
  const done = await b.settle((await handoff(a, b, inst.id)).id);
  if (done.state !== 'succeeded') throw new Error(`handoff failed: ${JSON.stringify(done.error)}\n${b.log.slice(-3000)}`);
  expect(b.log).toMatch(new RegExp(`the restore began \\d+ ms before it`));
  await exec(b, inst.id, 'rm /run/writing; sleep 1; sync');
  const files = Number(await exec(b, inst.id, 'ls /data/w | wc -l'));
  // Files made during the move, most of them after the disk's first pass: they reach b in its last pass.
  expect(files).toBeGreaterThan(before + 3);
  // What the guest holds in its page cache, then what its disk holds once that cache is gone.
  const cached = await exec(b, inst.id, 'cd /data/w && md5sum $(ls | sort -n)');
  await exec(b, inst.id, 'echo 3 > /proc/sys/vm/drop_caches');
  expect(await exec(b, inst.id, 'cd /data/w && md5sum $(ls | sort -n)')).toBe(cached);
  expect(cached.split('\n')).toHaveLength(files);
  await b.instances.delete(inst.id);
});

test('the destination killed mid-transfer leaves the VM running at the source; the destination cleans up', async () => {
  const inst = await synthesize('stays-1');
  const proxy = TcpProxy.forEndpoint(a.endpoint, 4 << 20);
  await proxy.start();
  try {
    const op = await handoff(a, b, inst.id, proxy.endpoint);
    await waitForBytes(b, op.id, 2 << 20);
    await b.kill9();
    const out = await sourceSide(inst.id);
    expect(out.state).toBe('failed');
    expect(out.error?.code).toBe('HANDOFF_FAILED');
    await expectRunningAt(a, inst.id);
    await b.boot();
    expect((await instances(b)).map((i) => i.id)).not.toContain(inst.id);
    expect(fs.readdirSync(path.join(b.stateDir, 'instances'))).not.toContain(inst.id);
  } finally {
    await proxy.stop();
  }
});

test.each(['cut', 'blackhole'] as const)('the link %s mid-transfer leaves the VM running at the source', async (how) => {
  const inst = await synthesize(`stays-${how}`);
  const proxy = TcpProxy.forEndpoint(a.endpoint, 4 << 20);
  await proxy.start();
  try {
    const op = await handoff(a, b, inst.id, proxy.endpoint);
    await waitForBytes(b, op.id, 2 << 20);
    if (how === 'cut') proxy.cut();
    else proxy.blackhole();
    const failed = await b.settle(op.id);
    expect(failed.state).toBe('failed');
    expect(failed.error?.code).toBe('HANDOFF_FAILED');
    expect(failed.error?.message).toMatch(/runs on at the source/);
    expect((await sourceSide(inst.id)).error?.code).toBe('HANDOFF_FAILED');
    await expectRunningAt(a, inst.id);
    expect((await instances(b)).map((i) => i.id)).not.toContain(inst.id);
    expect(qemuCommandLines(inst.domain)).toHaveLength(1);
  } finally {
    await proxy.stop();
  }
});

test('over TLS: the destination pulls from an https source it trusts through the CA given, and refuses one it does not', async () => {
  const tls = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-tls-'));
  const cert = path.join(tls, 'cert.pem');
  const key = path.join(tls, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    stdio: 'ignore',
  });
  // This test's own clients trust the certificate through the environment; the destination only through `ca`.
  process.env.CLOUDLET_EXTRA_CA_CERTS = cert;
  const s = await TestEngine.start('hs', [...STALL, '--tls-cert', cert, '--tls-key', key]);
  try {
    expect(s.endpoint).toMatch(/^https:/);
    await s.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import on the TLS engine');
    const syn = await s.opOk((api) => api.instances.create({ name: 'over-tls', baseId: base.baseId, overlay: { url: overlayFile } }), 'synthesis');
    const id = syn.target!.id;
    const pull = async (ca?: string) => {
      const grant = await s.instances.handoffToken(id, {});
      const { operation } = await b.handoffs.create({ source: { endpoint: s.endpoint, token: grant.token, ca }, instanceId: id });
      return b.settle(operation.id);
    };
    const refused = await pull();
    expect(refused.state).toBe('failed');
    expect(refused.error?.message).toMatch(/certificate/i);
    const moved = await pull(fs.readFileSync(cert, 'utf8'));
    expect(moved.error).toBeUndefined();
    expect((await s.instances.list()).instances.map((i) => i.id)).not.toContain(id);
    await expectRunningAt(b, id);
  } finally {
    delete process.env.CLOUDLET_EXTRA_CA_CERTS;
    await s.destroy();
    fs.rmSync(tls, { recursive: true, force: true });
  }
});

test('a handoff to a cloudlet without the base fails before the VM is paused, with a clear error', async () => {
  const c = await TestEngine.start('hc');
  try {
    const inst = await synthesize('nobase');
    const failed = await c.settle((await handoff(a, c, inst.id)).id);
    expect(failed.error?.code).toBe('BASE_MISSING');
    expect(failed.error?.message).toContain(base.baseId);
    // The source never started streaming: no handoff operation for this instance there.
    const ops = (await a.operations.list()).operations;
    expect(ops.filter((o) => o.kind === 'handoff-out' && o.target?.id === inst.id)).toHaveLength(0);
    await expectRunningAt(a, inst.id);
  } finally {
    await c.destroy();
  }
});

test("a handoff token opens only that instance's handoff, and a wrong one nothing", async () => {
  const inst = (await instances(a)).find((i) => i.name === 'nobase')!;
  const other = (await instances(a)).find((i) => i.name !== 'nobase' && i.state === 'running')!;
  const grant = await a.instances.handoffToken(inst.id, { ttlSeconds: 60 });
  expect(grant.token).toMatch(/^cht_/);
  const scoped = new EngineClient({ endpoint: a.endpoint, token: grant.token });
  try {
    expect((await scoped.instances.handoffInfo(inst.id)).baseId).toBe(base.baseId);
    await expect(scoped.instances.handoffInfo(other.id)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(scoped.instances.list()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(scoped.instances.delete(inst.id)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  } finally {
    await scoped.close();
  }
  const wrong = await b.settle((await b.handoffs.create({ source: { endpoint: a.endpoint, token: 'cht_not-a-token' }, instanceId: inst.id })).operation.id);
  expect(wrong.error?.code).toBe('UNAUTHORIZED');
  // Tokens never show in operation records.
  expect(JSON.stringify(await b.operations.list())).not.toContain('cht_');
  expect(b.log).not.toContain(grant.token);
  await expectRunningAt(a, inst.id);
});

test('the CLI hands an instance off (cloudlet handoff), and refuses a half-given source with a usage error', async () => {
  const inst = (await instances(a)).find((i) => i.name === 'nobase')!;
  const tokenA = path.join(a.stateDir, 'token');
  const tokenB = path.join(b.stateDir, 'token');
  expect(await main(['handoff', inst.id, '--endpoint', b.endpoint, '--token-file', tokenB])).toBe(2);
  expect(await main(['handoff', inst.id, '--from-endpoint', a.endpoint, '--from-token-file', tokenA, '--endpoint', b.endpoint, '--token-file', tokenB, '--quiet'])).toBe(0);
  expect((await instances(a)).map((i) => i.id)).not.toContain(inst.id);
  await expectRunningAt(b, inst.id);
});
