// Instance networking on a real engine, real QEMU and the host's real network stack (iproute2, nftables,
// dnsmasq): three instances restored from one overlay at once, each with its own address and published
// port answering from outside the VM; two of them talking over their private network; a guest unable to
// reach the engine's API or an unpublished host port; bad input refused with nothing left behind; and no
// bridge, namespace, rule or lease of the engine left once its instances are gone.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { defaultPublishAddress, hostKey } from '../../engine/net/plumbing';
import { ensureBaseArchive } from '../vms/guest';
import { TestEngine } from '../helpers/engine';
import { CloudletError } from '../../engine/errors';

jest.setTimeout(900000);

let e: TestEngine;
let host = '';
let baseId = '';
let overlayId = '';
let archiveFile = '';

/** How a request was refused: `CODE: message` (or 'accepted'). */
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (err: CloudletError) => `${err.code}: ${err.message}`,
  );
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
/** This engine's objects on the host (other test files' engines run alongside): routers, bridges, rules. */
const hostObjects = async () => {
  const bridges = (await e.networks.list()).networks.map((n) => n.bridge);
  const table = spawnSync('nft', ['list', 'table', 'inet', `cloudlet_${hostKey(e.stateDir)}`], { encoding: 'utf8' });
  const ids = fs.readdirSync(path.join(e.stateDir, 'instances'));
  return {
    routers: fs.readdirSync(path.join(e.stateDir, 'routers')),
    netns: sh('ip', ['netns', 'list'])
      .split('\n')
      .filter((l) => ids.some((id) => l.startsWith(`cloudlet-${hostKey(e.stateDir, id)}`))),
    bridges: sh('ip', ['-br', 'link'])
      .split('\n')
      .filter((l) => bridges.some((b) => l.startsWith(b))),
    rules: table.status === 0 ? table.stdout : 'no table',
  };
};

/** What an instance's web server says at /cgi-bin/id (its hostname and counter), fetched from the host. */
async function fetchId(url: string): Promise<string> {
  const r = await fetch(`${url}/cgi-bin/id`, { signal: AbortSignal.timeout(10000) });
  expect(r.status).toBe(200);
  return (await r.text()).trim();
}

/** Connects from inside the guest with busybox nc; returns what it printed and whether it connected. */
async function guestConnect(id: string, address: string, port: number, waitS = 4): Promise<{ connected: boolean; out: string }> {
  const r = await e.instances.exec(id, { command: `printf 'GET /cgi-bin/id HTTP/1.0\\r\\n\\r\\n' | nc -w ${waitS} ${address} ${port}; echo "rc=$?"` });
  return { connected: /rc=0/.test(r.stdout) && r.stdout.replace(/rc=\d+\s*$/, '').length > 0, out: r.stdout };
}

beforeAll(async () => {
  host = await defaultPublishAddress();
  const a = await ensureBaseArchive('tiny');
  baseId = a.baseId;
  archiveFile = a.file;
  // The engine's API on the host's own address: exactly what a guest must not reach.
  e = await TestEngine.start('net', [], [], `${host}:0`);
  await e.opOk((api) => api.bases.import({ source: a.file, sha256: baseId }), 'import');
  const custom = await e.opOk((api) => api.instances.create({ name: 'custom', baseId, networks: [] }), 'resume');
  await e.instances.exec(custom.target!.id, { command: 'echo customized > /data/marker && sync' });
  overlayId = (await e.opOk((api) => api.overlays.import({ instanceId: custom.target!.id }), 'overlay')).target!.id;
  await e.instances.delete(custom.target!.id);
});

afterAll(async () => {
  await e?.destroy();
});

test('three instances from one overlay at once: each its own address and endpoint, reachable from outside, and two talk privately', async () => {
  const names = ['web-a', 'web-b', 'web-c'];
  const ops = await Promise.all(names.map((name) => e.opOk((api) => api.instances.create({ name, baseId, overlay: { id: overlayId }, ports: [{ guest: 80 }] }), name)));
  const insts = await Promise.all(ops.map((o) => e.instances.get(o.target!.id)));
  const addresses = insts.map((i) => i.addresses[0]);
  expect(new Set(addresses).size).toBe(3);
  const net0 = await e.networks.get('default');
  expect(net0.instances.sort()).toEqual(insts.map((i) => i.id).sort());
  for (const a of addresses) expect(a.startsWith(net0.cidr.split('.').slice(0, 3).join('.'))).toBe(true);
  // Distinct MACs on the network, distinct host ports, endpoints on the host's address.
  expect(new Set(insts.map((i) => i.network!.attachments[0].mac)).size).toBe(3);
  expect(new Set(insts.map((i) => i.endpoints[0])).size).toBe(3);
  for (const [k, i] of insts.entries()) {
    expect(i.endpoints).toEqual([`http://${host}:${i.network!.ports[0].host}`]);
    // Answered from outside the VM, by the instance itself (its own hostname, set after the restore).
    expect(await fetchId(i.endpoints[0])).toMatch(new RegExp(`^${names[k]} \\d+$`));
  }
  // Inside, every guest still believes it is 100.64.0.2: the router translates.
  expect((await e.instances.exec(insts[0].id, { command: 'ip -4 -o addr show dev eth0' })).stdout).toContain('100.64.0.2/29');
  // a → b over the private network, by b's address.
  const ab = await guestConnect(insts[0].id, addresses[1], 80);
  expect(ab.out).toMatch(/web-b \d+/);
  const ca = await guestConnect(insts[2].id, addresses[0], 80);
  expect(ca.out).toMatch(/web-a \d+/);
  // The customization travelled in the overlay.
  expect((await e.instances.exec(insts[1].id, { command: 'cat /data/marker' })).stdout.trim()).toBe('customized');
  for (const i of insts) await e.instances.delete(i.id);
});

test('a guest reaches neither the engine API nor an unpublished host port, on any host address', async () => {
  const secret = net.createServer((s) => s.end('HOST-SECRET\n'));
  await new Promise<void>((r) => secret.listen(0, '0.0.0.0', () => r()));
  const secretPort = (secret.address() as net.AddressInfo).port;
  try {
    const op = await e.opOk((api) => api.instances.create({ name: 'probe', baseId, overlay: { id: overlayId } }), 'probe');
    const id = op.target!.id;
    const gateway = (await e.networks.get('default')).gateway;
    const apiPort = Number(new URL(e.endpoint).port);
    // The host itself reaches both (so a refusal below is the guest's, not a dead server).
    expect((await fetch(`${e.endpoint}/v1/info`)).status).toBe(401);
    for (const [address, port] of [
      [host, apiPort],
      [host, secretPort],
      [gateway, apiPort],
      [gateway, secretPort],
      ['100.64.0.1', secretPort],
    ] as const) {
      // Dropped, not refused: a connection attempt just times out (2 s is plenty on a local bridge).
      const r = await guestConnect(id, address, port, 2);
      expect({ address, port, connected: r.connected, secret: r.out.includes('HOST-SECRET') }).toEqual({ address, port, connected: false, secret: false });
    }
    await e.instances.delete(id);
  } finally {
    secret.close();
  }
});

test('bad network input is refused with the value named, and nothing is left half-made', async () => {
  const before = await hostObjects();
  const held = net.createServer();
  await new Promise<void>((r) => held.listen(0, host, () => r()));
  const busy = (held.address() as net.AddressInfo).port;
  try {
    expect(await refusal(e.instances.create({ name: 'clash', baseId, overlay: { id: overlayId }, ports: [{ guest: 80, host: busy }] }))).toMatch(new RegExp(`^PORT_IN_USE: .*tcp/${busy}`));
  } finally {
    held.close();
  }
  expect(await refusal(e.instances.create({ name: 'dup', baseId, ports: [{ guest: 80 }, { guest: 80 }] }))).toBe('INVALID_ARGUMENT: ports: port 2: guest port tcp/80 is published twice');
  expect(await refusal(e.instances.create({ name: 'range', baseId, ports: [{ guest: 70000 }] }))).toMatch(/^INVALID_ARGUMENT: .*ports.*65535/s);
  expect(await refusal(e.networks.create({ name: 'bad', cidr: '10.1.2.3/24' }))).toMatch(/^INVALID_ARGUMENT: cidr: .*host bits zero.*10\.1\.2\.0\/24/);
  expect(await refusal(e.networks.create({ name: 'bad', cidr: '300.1.2.0/24' }))).toMatch(/^INVALID_ARGUMENT: .*cidr/);
  const mine = await e.networks.create({ name: 'backend', cidr: '10.231.0.0/24' });
  expect(await refusal(e.networks.create({ name: 'backend2', cidr: '10.231.0.128/25' }))).toMatch(/^CONFLICT: cidr: 10\.231\.0\.128\/25 overlaps 10\.231\.0\.0\/24/);
  const hostNet = sh('ip', ['-j', '-4', 'route', 'show']).match(/"dst":"(\d+\.\d+\.\d+\.\d+\/\d+)","dev":"eth0"/);
  if (hostNet && /^(10|192\.168|172\.(1[6-9]|2\d|3[01]))\./.test(hostNet[1])) expect(await refusal(e.networks.create({ name: 'hostclash', cidr: hostNet[1] }))).toMatch(/overlaps/);
  // An instance on the new network; the network cannot go while it is there.
  const op = await e.opOk((api) => api.instances.create({ name: 'backend-1', baseId, overlay: { id: overlayId }, networks: ['backend'] }), 'backend');
  const inst = await e.instances.get(op.target!.id);
  expect(inst.addresses).toEqual(['10.231.0.2']);
  expect(inst.endpoints).toEqual([]);
  expect(await refusal(e.networks.delete('backend'))).toMatch(/^IN_USE: network backend is used by/);
  await e.instances.delete(inst.id);
  await e.networks.delete(mine.id);
  expect(await hostObjects()).toEqual(before);
});

test("after a handoff the instance answers at the destination's endpoint, which the move returns; the source's endpoint is gone", async () => {
  const b = await TestEngine.start('net-b', [], [], `${host}:0`);
  try {
    await b.opOk((api) => api.bases.import({ source: archiveFile, sha256: baseId }), 'import at b');
    const op = await e.opOk((api) => api.instances.create({ name: 'mover', baseId, overlay: { id: overlayId }, ports: [{ guest: 80 }] }), 'mover');
    const before = await e.instances.get(op.target!.id);
    const [, countBefore] = (await fetchId(before.endpoints[0])).split(' ');
    await e.instances.exec(before.id, { command: 'echo moved-with-me > /run/note' });
    const grant = await e.instances.handoffToken(before.id, {});
    const moved = await b.opOk((api) => api.handoffs.create({ source: { endpoint: e.endpoint, token: grant.token }, instanceId: before.id, ports: [{ guest: 80 }] }), 'handoff');
    const after = moved.result.instance;
    expect(after.endpoints).toHaveLength(1);
    expect(after.endpoints[0]).not.toBe(before.endpoints[0]);
    expect(after.addresses[0]).not.toBe(before.addresses[0]);
    // The same guest (its name, its memory, its counter going on) answers at the new endpoint...
    const [name, countAfter] = (await fetchId(after.endpoints[0])).split(' ');
    expect(name).toBe('mover');
    expect(Number(countAfter)).toBeGreaterThanOrEqual(Number(countBefore));
    expect((await b.instances.exec(after.id, { command: 'cat /run/note' })).stdout.trim()).toBe('moved-with-me');
    // ... and it no longer answers at the old one: once the source has removed its copy (after the
    // destination's confirmation, so after the move returns), its rule for that port is gone (the port itself
    // may already serve someone else: engines of other test files share the host's ports).
    for (let i = 0; i < 100; i++) {
      const out = (await e.operations.list()).operations.find((o) => o.kind === 'handoff-out' && o.target?.id === before.id);
      if (out && out.state !== 'running') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const oldPort = before.network!.ports[0].host;
    const sourceRules = spawnSync('nft', ['list', 'table', 'inet', `cloudlet_${hostKey(e.stateDir)}`], { encoding: 'utf8' }).stdout;
    expect(sourceRules).not.toMatch(new RegExp(`dport ${oldPort} `));
    const old = await fetch(`${before.endpoints[0]}/cgi-bin/id`, { signal: AbortSignal.timeout(3000) }).then(
      (r) => r.text(),
      () => 'no answer',
    );
    expect(old).not.toMatch(/^mover /);
    expect(sh('ip', ['netns', 'list'])).not.toContain(`cloudlet-${before.network!.key}`);
    await b.instances.delete(after.id);
  } finally {
    await b.destroy();
  }
});

test('with its instances gone, no bridge, namespace, rule or lease of the engine is left on the host', async () => {
  const op = await e.opOk((api) => api.instances.create({ name: 'last', baseId, overlay: { id: overlayId }, ports: [{ guest: 80 }] }), 'last');
  const inst = await e.instances.get(op.target!.id);
  const key = inst.network!.key;
  expect(sh('ip', ['netns', 'list'])).toContain(`cloudlet-${key}`);
  const table = `cloudlet_${hostKey(e.stateDir)}`;
  expect(sh('nft', ['list', 'tables'])).toContain(table);
  expect(sh('ps', ['-eo', 'args'])).toContain(`${e.stateDir}/routers/${inst.id}/dnsmasq.pid`);
  await e.instances.delete(inst.id);
  expect(sh('ip', ['netns', 'list'])).not.toContain(`cloudlet-${key}`);
  expect(sh('ip', ['-br', 'link'])).not.toMatch(new RegExp(`cl[bgvta]${key}`));
  const bridge = (await e.networks.get('default')).bridge;
  expect(sh('ip', ['-br', 'link'])).not.toContain(bridge);
  expect(sh('nft', ['list', 'tables'])).not.toContain(table);
  expect(sh('ps', ['-eo', 'args'])).not.toContain(`${e.stateDir}/routers/`);
});
