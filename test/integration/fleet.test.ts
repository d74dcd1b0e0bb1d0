// A fleet end to end: three cloudlet hosts (network namespaces on this machine, test/helpers/fleet-hosts.ts), each
// with its own engine installed by `cloudlet engine install` (HTTPS with a certificate from one operator CA, its
// own token) and run as its unit says; one cdktf app (examples/fleet) imports the base on all three and runs an
// instance on each from an overlay that nginx serves (the base's first download is cut off and taken up with a
// Range request), then moves the roaming instance a → b → c → a in successive deploys, each planning exactly
// one in-place change, the app answering at each hop with its memory intact. Last, the roamer's site chosen by
// round trips each site's engine measures to a client address.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cdktf, cdktfEnv, scratchProject } from '../../constructs/cdktf-cli';
import { makeCa, parseExecStart } from '../../engine/host/service';
import { repoRoot } from '../../provider/build';
import { CLI_JS, TestEngine, guestId, requireBuild } from '../helpers/engine';
import { FLEET_GATEWAY, FleetHost, fleetHostsDown, fleetHostsUp } from '../helpers/fleet-hosts';
import { CuttingRelay, Nginx } from '../helpers/nginx';
import { ensureBaseArchive, ensureGuest } from '../vms/guest';
import { createOverlay } from '../../engine/overlay/writer';

jest.setTimeout(900000);

const SITES = ['a', 'b', 'c'];
let work: string;
let hosts: FleetHost[];
const engines: Record<string, TestEngine> = {};
let nginx: Nginx;
let relay: CuttingRelay;
let dir: string;
let env: NodeJS.ProcessEnv;
let ca: string;

function sh(cmd: string[]): string {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** An output's value in cdktf's plain output (`name = "value"`). */
const output = (out: string, name: string) => new RegExp(`^\\s*${name} = "?([^"\\s]+)"?$`, 'm').exec(out)?.[1];

function setContext(values: Record<string, string | undefined>): void {
  const file = path.join(dir, 'cdktf.json');
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { context: Record<string, string> };
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete j.context[k];
    else j.context[k] = v;
  }
  fs.writeFileSync(file, JSON.stringify(j, null, 2));
}

beforeAll(async () => {
  requireBuild();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-fleet-'));
  const base = await ensureBaseArchive('tiny');
  // The app's overlay: the tiny guest's customized state against its base, encoded by the codec (the sites only
  // ever see the file on the web server).
  const guest = await ensureGuest('tiny');
  const overlayFile = path.join(work, 'app.clov');
  await createOverlay({ baseDisk: guest.baseDisk, baseMemory: guest.baseMemory, customDisk: guest.customDisk, customMemory: guest.customMemory, output: overlayFile });
  const overlayId = createHash('sha256').update(fs.readFileSync(overlayFile)).digest('hex');

  hosts = fleetHostsUp(SITES);
  // One operator CA for the fleet; each host's engine certificate is signed by it at install.
  ca = path.join(work, 'ca.pem');
  makeCa(ca, path.join(work, 'ca.key'), 'fleet');
  const tokens: Record<string, string> = {};
  for (const h of hosts) {
    const d = path.join(work, h.name);
    const r = spawnSync(
      process.execPath,
      [
        CLI_JS,
        'engine',
        'install',
        '--config-dir',
        `${d}/etc`,
        '--state-dir',
        `${d}/state`,
        '--unit-dir',
        `${d}/units`,
        '--listen',
        `${h.address}:7443`,
        '--hostname',
        h.address,
        '--ca-cert',
        ca,
        '--ca-key',
        path.join(work, 'ca.key'),
        '--libvirt-uri',
        'embedded',
        '--no-start',
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`install on ${h.name}: ${r.stderr}`);
    const line = fs
      .readFileSync(`${d}/units/cloudlet-engine.service`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('ExecStart='))!;
    engines[h.name] = await TestEngine.startService(`${d}/state`, { command: parseExecStart(line.slice('ExecStart='.length)), tokenFile: `${d}/etc/token`, ca }, h.wrap);
    tokens[`TF_VAR_token_${h.name}`] = engines[h.name].token;
    tokens[`CLOUDLET_TOKEN_${h.name.toUpperCase()}`] = engines[h.name].token;
  }

  // nginx on the sites' network; the base goes through a relay that cuts its first download short.
  nginx = await Nginx.start(path.join(work, 'nginx'), { host: FLEET_GATEWAY });
  nginx.serve('base.tar', base.file);
  const overlayUrl = nginx.serve('app.clov', overlayFile);
  relay = new CuttingRelay({ host: FLEET_GATEWAY, port: nginx.port }, 1 << 20, 1);
  const relayBase = await relay.start(FLEET_GATEWAY);

  const root = repoRoot();
  const example = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'fleet', 'cdktf.json'), 'utf8')) as { context: Record<string, string> };
  dir = scratchProject('fleet-', {
    ...example,
    app: `node ${path.join(root, 'dist', 'examples', 'fleet', 'main.js')}`,
    context: {
      ...example.context,
      sites: hosts.map((h) => `${h.name}=https://${h.address}:7443`).join(','),
      caCert: ca,
      baseUrl: `${relayBase}/base.tar`,
      baseId: base.baseId,
      overlayUrl,
      overlaySha256: overlayId,
    },
  });
  env = cdktfEnv(tokens);
}, 600000);

afterAll(async () => {
  for (const e of Object.values(engines)) await e.destroy().catch(() => undefined);
  await relay?.stop();
  await nginx?.stop();
  fleetHostsDown(SITES);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

let last = { site: '', counter: 0, id: '' };

test('one deploy: the base on all three sites (from nginx, the cut-off download taken up with Range), an instance on each', async () => {
  const r = await cdktf(['deploy', '--auto-approve', '--skip-provider-lock'], dir, env);
  if (r.code !== 0) throw new Error(r.output);
  expect(r.output).toMatch(/Apply complete! Resources: 7 added, 0 changed, 0 destroyed/);
  for (const h of hosts) {
    const url = output(r.output, `url_${h.name}`)!;
    expect(url).toMatch(new RegExp(`^http://${h.address.replace(/\./g, '\\.')}:\\d+$`));
    expect((await guestId(url)).host).toBe(`app-${h.name}`);
    // Each site holds the base and runs its own instance and (site a) the roamer, on its own engine.
    const names = (await engines[h.name].instances.list()).instances.map((i) => i.name).sort();
    expect(names).toEqual(h.name === 'a' ? ['app-a', 'roamer'] : [`app-${h.name}`]);
  }
  expect(output(r.output, 'roamer_site')).toBe('a');
  const roamer = await guestId(output(r.output, 'roamer_url')!);
  expect(roamer.host).toBe('roamer');
  last = { site: 'a', counter: roamer.counter, id: (await engines.a.instances.get('roamer')).id };
  // nginx served the base to every site; the one the relay cut off went on with a Range request (206).
  const got = nginx.access();
  expect(relay.cut).toBe(1);
  expect(got.filter((l) => l.uri === '/base.tar' && l.status === 206 && /^bytes=\d+-$/.test(l.range))).toHaveLength(1);
  expect(got.filter((l) => l.uri === '/app.clov' && l.status === 200).length).toBeGreaterThanOrEqual(3);
});

test.each(['b', 'c', 'a'])('move the roamer to %s: the plan is one in-place change, and the app answers there with its memory', async (to) => {
  setContext({ site: to });
  const r = await cdktf(['deploy', '--auto-approve', '--skip-provider-lock'], dir, env);
  if (r.code !== 0) throw new Error(r.output);
  expect(r.output).toMatch(/Plan: 0 to add, 1 to change, 0 to destroy/);
  expect(r.output.match(/will be updated in-place/g)).toHaveLength(1);
  expect(r.output).toMatch(/cloudlet_instance\.roamer_resource_\w+ \(roamer\/resource\) will be updated in-place/);
  expect(r.output).toMatch(/Apply complete! Resources: 0 added, 1 changed, 0 destroyed/);
  expect(output(r.output, 'roamer_site')).toBe(to);
  const url = output(r.output, 'roamer_url')!;
  expect(url).toMatch(new RegExp(`^http://${hosts.find((h) => h.name === to)!.address.replace(/\./g, '\\.')}:\\d+$`));
  const now = await guestId(url);
  // The same VM, moved running: its memory-only counter went on from where it was, it did not start over.
  expect(now.host).toBe('roamer');
  expect(now.counter).toBeGreaterThan(last.counter);
  const there = (await engines[to].instances.list()).instances.find((i) => i.name === 'roamer');
  expect(there?.id).toBe(last.id);
  expect((await engines[last.site].instances.list()).instances.map((i) => i.name)).not.toContain('roamer');
  last = { site: to, counter: now.counter, id: last.id };
});

test('placed by round trips: each site measures its way to a client, and the nearest reachable one is chosen', async () => {
  // The client listens nowhere: a refused connection is one round trip too. Sites a and b cannot reach it.
  for (const h of hosts.slice(0, 2))
    sh([...h.wrap, 'nft', `add table inet fleet_test; add chain inet fleet_test out { type filter hook output priority 0; }; add rule inet fleet_test out ip daddr ${FLEET_GATEWAY} tcp dport 9 drop`]);
  try {
    const probe = spawnSync(
      process.execPath,
      [CLI_JS, 'probe', FLEET_GATEWAY, '--port', '9', '--json', '--endpoint', `https://${hosts[2].address}:7443`, '--ca', ca, '--token-file', path.join(work, 'c', 'etc', 'token')],
      { encoding: 'utf8' },
    );
    expect(probe.stderr).toBe('');
    const measured = JSON.parse(probe.stdout) as { rttMs: number | null; samples: (number | null)[] };
    expect(measured.samples).toHaveLength(3);
    expect(measured.rttMs).toBeGreaterThan(0);
    expect(measured.rttMs).toBeLessThan(1000);
    setContext({ nearTo: `${FLEET_GATEWAY}:9` });
    const r = await cdktf(['synth'], dir, env);
    if (r.code !== 0) throw new Error(r.output);
    const stack = JSON.parse(fs.readFileSync(path.join(dir, 'cdktf.out', 'stacks', 'fleet', 'cdk.tf.json'), 'utf8')) as {
      resource: { cloudlet_instance: Record<string, { name: string; provider: string }> };
    };
    expect(Object.values(stack.resource.cloudlet_instance).find((i) => i.name === 'roamer')?.provider).toBe('cloudlet.c');
    expect(r.output).toMatch(/round trips to 10\.251\.0\.1:9: a no answer, b no answer, c [\d.]+ ms/);
  } finally {
    for (const h of hosts.slice(0, 2)) spawnSync(h.wrap[0], [...h.wrap.slice(1), 'nft', 'delete table inet fleet_test']);
    setContext({ nearTo: undefined });
  }
});
