// The engine as a host service: `cloudlet engine install` writes the token, the TLS identity and the systemd
// unit; the engine is then run exactly as the unit's ExecStart= says (our containers run no systemd), against a
// real libvirtd from Debian's packages started by this test, not the embedded driver. Its VMs are libvirtd's
// (virsh on qemu:///system sees them), outlive the engine, and answer on their published port.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../engine/client/client';
import { makeCa, parseExecStart } from '../../engine/host/service';
import { CLI_JS, TestEngine, guestId, requireBuild } from '../helpers/engine';
import { Libvirtd, SYSTEM_URI, ensureLibvirtd, virshSystem } from '../helpers/libvirtd';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(300000);

let work: string;
let libvirtd: Libvirtd;
let engine: TestEngine | undefined;
let port = 0;
const conf = () => path.join(work, 'etc');
const state = () => path.join(work, 'state');
const unitFile = () => path.join(work, 'units', 'cloudlet-engine.service');

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI_JS, ...args], { encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `cloudlet engine install` into a side set of directories (etc<n>, s<n>, u<n>), files only. */
const installSide = (n: number, extra: string[]) =>
  cli(['engine', 'install', '--config-dir', path.join(work, `etc${n}`), '--state-dir', path.join(work, `s${n}`), '--unit-dir', path.join(work, `u${n}`), ...extra, '--no-start']);

const installArgs = () => [
  'engine',
  'install',
  '--config-dir',
  conf(),
  '--state-dir',
  state(),
  '--unit-dir',
  path.join(work, 'units'),
  '--listen',
  `127.0.0.1:${port}`,
  '--hostname',
  '127.0.0.1',
  '--hostname',
  'localhost',
];

function execStart(): string[] {
  const line = fs
    .readFileSync(unitFile(), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ExecStart='));
  return parseExecStart(line!.slice('ExecStart='.length));
}

async function startFromUnit(): Promise<TestEngine> {
  return TestEngine.startService(state(), { command: execStart(), tokenFile: path.join(conf(), 'token'), ca: path.join(conf(), 'tls', 'ca.pem') });
}

const mode = (f: string) => (fs.statSync(f).mode & 0o777).toString(8);

beforeAll(async () => {
  requireBuild();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-service-'));
  libvirtd = await ensureLibvirtd(path.join(work, 'libvirtd.log'));
  port = 17000 + (process.pid % 2000);
});

afterAll(async () => {
  await engine?.destroy().catch(() => undefined);
  // Whatever a failed test left on libvirtd.
  for (const d of virshSystem('list', '--all', '--name')
    .stdout.split('\n')
    .filter((n) => n.startsWith('cl-'))) {
    const xml = virshSystem('dumpxml', d).stdout;
    if (xml.includes(work)) virshSystem('destroy', d);
  }
  await libvirtd?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

test('install writes a token (0600), a CA and a certificate for the given names, and a unit on qemu:///system', () => {
  const r = cli(installArgs());
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/made the API token .*token \(0600\)/);
  expect(r.stdout).toMatch(/systemd does not run this machine: start the engine with/);
  expect(mode(conf())).toBe('700');
  expect(mode(path.join(conf(), 'token'))).toBe('600');
  expect(fs.readFileSync(path.join(conf(), 'token'), 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
  expect(mode(path.join(conf(), 'tls', 'ca-key.pem'))).toBe('600');
  expect(mode(path.join(conf(), 'tls', 'engine-key.pem'))).toBe('600');
  const tls = (f: string) => path.join(conf(), 'tls', f);
  expect(execFileSync('openssl', ['verify', '-CAfile', tls('ca.pem'), tls('engine.pem')], { encoding: 'utf8' }).trim()).toBe(`${tls('engine.pem')}: OK`);
  expect(execFileSync('openssl', ['x509', '-in', tls('engine.pem'), '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' })).toMatch(/IP Address:127\.0\.0\.1, DNS:localhost/);
  const unit = fs.readFileSync(unitFile(), 'utf8');
  expect(unit).toMatch(/^After=network-online\.target libvirtd\.service$/m);
  expect(unit).toMatch(/^KillMode=process$/m);
  expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
  const argv = execStart();
  expect(argv.slice(0, 4)).toEqual([process.execPath, CLI_JS, 'engine', 'serve']);
  expect(argv[argv.indexOf('--libvirt-uri') + 1]).toBe(SYSTEM_URI);
  expect(argv[argv.indexOf('--listen') + 1]).toBe(`127.0.0.1:${port}`);
});

test('the service on libvirtd: HTTPS with the token, a VM libvirtd runs, published, and it outlives the engine', async () => {
  engine = await startFromUnit();
  expect(engine.endpoint).toBe(`https://127.0.0.1:${port}`);
  const info = await engine.engine.info();
  expect(info.hypervisor).toMatchObject({ libvirtUri: SYSTEM_URI, embedded: false });
  // The token is required, and the certificate chains to the installed CA only.
  const noToken = new EngineClient({ endpoint: engine.endpoint, token: 'x'.repeat(32), ca: fs.readFileSync(path.join(conf(), 'tls', 'ca.pem'), 'utf8') });
  await expect(noToken.engine.info()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  await noToken.close();
  const untrusted = new EngineClient({ endpoint: engine.endpoint, token: engine.token });
  await expect(untrusted.engine.info()).rejects.toThrow(/certificate/i);
  await untrusted.close();
  const doctor = await engine.engine.doctor();
  expect(doctor.checks.find((c) => c.name === 'libvirt')).toMatchObject({ status: 'ok', detail: expect.stringContaining(SYSTEM_URI) as unknown });

  const base = await ensureBaseArchive('tiny');
  await engine.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import');
  const v = await engine.opOk((api) => api.instances.create({ name: 'svc-vm', baseId: base.baseId, ports: [{ guest: 80 }] }), 'resume');
  const inst = v.result.instance;
  expect(virshSystem('domstate', inst.domain).stdout.trim()).toBe('running');
  // Asked from this host: the published port, not the agent.
  const answer = async () => {
    const id = await guestId(inst.endpoints[0]);
    return `${id.host} ${id.counter}`;
  };

  expect(await answer()).toMatch(/^svc-vm \d+$/);

  // Stopped the way systemd stops it (SIGTERM to the engine only): the VM runs on under libvirtd, and the next
  // engine, started from the same unit, finds it.
  await engine.stop('SIGTERM');
  expect(virshSystem('domstate', inst.domain).stdout.trim()).toBe('running');
  expect(await answer()).toMatch(/^svc-vm \d+$/);
  engine = await startFromUnit();
  expect((await engine.instances.get(inst.id)).state).toBe('running');
  await engine.instances.delete(inst.id);
  expect(virshSystem('domstate', inst.domain).status).not.toBe(0);
  await engine.bases.delete(base.baseId);
  await engine.stop();
});

test('install again keeps the token and the CA; a given CA signs the certificate; a given certificate is served', () => {
  const token = fs.readFileSync(path.join(conf(), 'token'), 'utf8');
  const ca = fs.readFileSync(path.join(conf(), 'tls', 'ca.pem'), 'utf8');
  const again = cli(installArgs());
  expect(again.status).toBe(0);
  expect(again.stdout).toMatch(/kept the API token/);
  expect(again.stdout).toMatch(/kept the CA/);
  expect(fs.readFileSync(path.join(conf(), 'token'), 'utf8')).toBe(token);
  expect(fs.readFileSync(path.join(conf(), 'tls', 'ca.pem'), 'utf8')).toBe(ca);

  // An operator's CA: it signs, its key stays where it is.
  const own = path.join(work, 'own');
  fs.mkdirSync(own);
  makeCa(path.join(own, 'ca.pem'), path.join(own, 'ca.key'), 'operator');
  const c2 = path.join(work, 'etc2');
  const given = installSide(2, ['--ca-cert', path.join(own, 'ca.pem'), '--ca-key', path.join(own, 'ca.key'), '--hostname', 'edge-1.example']);
  expect(given.stderr).toBe('');
  expect(given.status).toBe(0);
  expect(execFileSync('openssl', ['verify', '-CAfile', path.join(own, 'ca.pem'), path.join(c2, 'tls', 'engine.pem')], { encoding: 'utf8' })).toMatch(/: OK/);
  expect(fs.existsSync(path.join(c2, 'tls', 'ca-key.pem'))).toBe(false);
  // A given certificate and key are served as they are; a key of another certificate is refused.
  const c3 = path.join(work, 'etc3');
  const served = installSide(3, ['--tls-cert', path.join(c2, 'tls', 'engine.pem'), '--tls-key', path.join(c2, 'tls', 'engine-key.pem')]);
  expect(served.status).toBe(0);
  expect(fs.readFileSync(path.join(c3, 'tls', 'engine.pem'), 'utf8')).toBe(fs.readFileSync(path.join(c2, 'tls', 'engine.pem'), 'utf8'));
  const wrongKey = installSide(3, ['--tls-cert', path.join(c2, 'tls', 'engine.pem'), '--tls-key', path.join(own, 'ca.key')]);
  expect(wrongKey.status).toBe(2);
  expect(wrongKey.stderr).toMatch(/is not the private key of/);
});

test('install refuses bad input with a clear error and writes nothing', () => {
  const d = path.join(work, 'bad');
  const cases: [string[], RegExp][] = [
    [['--tls-cert', '/nonexistent.pem'], /--tls-cert and --tls-key go together/],
    [['--listen', 'unix:/tmp/x.sock'], /--listen unix:\/tmp\/x\.sock: expected HOST:PORT/],
    [['--libvirt-uri', 'qemu+unix:///system?socket=/nonexistent/sock'], /does not answer: .*libvirtd --daemon/s],
    [['--unit-name', '../evil'], /--unit-name \.\.\/evil: letters, digits/],
  ];
  for (const [extra, message] of cases) {
    const r = cli(['engine', 'install', '--config-dir', d, '--state-dir', d, '--unit-dir', d, '--no-start', ...extra]);
    expect({ extra, status: r.status, stderr: r.stderr }).toEqual({ extra, status: expect.any(Number) as unknown, stderr: expect.stringMatching(message) as unknown });
    expect(r.status).not.toBe(0);
  }
  expect(fs.existsSync(d)).toBe(false);
});
