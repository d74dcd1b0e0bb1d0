// Bad configurations through the real terraform binary: each must end in a Terraform diagnostic that names the
// attribute (Terraform then quotes the configuration line), quickly, never a provider crash or a hang. And the
// codec against values exactly as Terraform encodes them: requests captured during a real plan decode under
// our schema (unknowns, nulls, nested blocks) and re-encode to the same bytes.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Unknown, decodeMsgpack, encodeMsgpack, isUnknown } from '../../provider/protocol/cty';
import { blockType } from '../../provider/framework/schema';
import { cloudletProvider } from '../../provider/cloudlet/provider';
import { TestEngine } from '../helpers/engine';
import { PROVIDER_BLOCK, RunResult, TerraformDir } from '../helpers/terraform';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(600000);

let engine: TestEngine;
let tf: TerraformDir;
let base: { file: string; baseId: string };

beforeAll(async () => {
  base = await ensureBaseArchive('tiny');
  engine = await TestEngine.start('tfdiag');
  const op = await engine.op((api) => api.bases.import({ source: base.file }));
  expect(op.state).toBe('succeeded');
  tf = new TerraformDir('diag');
  tf.write('main.tf', PROVIDER_BLOCK);
  await tf.ok(['init', '-input=false']);
});

afterAll(async () => {
  await engine?.destroy();
  tf?.cleanup();
});

function provider(args: string): string {
  return `${PROVIDER_BLOCK}\nprovider "cloudlet" {\n${args}\n}\n`;
}

/** Plans a configuration that must fail; returns terraform's output after common checks. */
async function planFails(main: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  tf.write('main.tf', main);
  const r = await tf.run(['plan', '-input=false'], { timeoutMs: 90000, env });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/Error: /);
  // The provider answered with diagnostics: it did not crash or stop answering.
  expect(r.stderr).not.toMatch(/plugin crashed|Plugin did not respond|panic:|rpc error|unexpected EOF/i);
  expect(r.ms).toBeLessThan(60000);
  return r;
}

/** A message as Terraform prints it, wrapped at any space. */
const wrapped = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&').replace(/ /g, '\\s+'));

const good = () => provider(`  endpoint = "${engine.endpoint}"\n  token    = "${engine.token}"`);

test('a value of the wrong type names the attribute', async () => {
  const r = await planFails(`${good()}
resource "cloudlet_instance" "x" {
  name       = "x"
  base_id    = "${base.baseId}"
  memory_mib = "lots"
}`);
  expect(r.stderr).toMatch(/Inappropriate value for attribute "memory_mib"/);
});

test('a missing required argument names it', async () => {
  const r = await planFails(`${good()}
resource "cloudlet_instance" "x" {
  base_id = "${base.baseId}"
}`);
  expect(r.stderr).toMatch(/The argument "name" is required/);
});

test('an invalid hash is our diagnostic, pointing at the configuration line', async () => {
  const r = await planFails(`${good()}
resource "cloudlet_base_vm" "b" {
  source = "${base.file}"
  sha256 = "not-a-hash"
}`);
  expect(r.stderr).toMatch(/Invalid value for sha256/);
  expect(r.stderr).toMatch(/64 lowercase hexadecimal digits, got "not-a-hash"/);
  // Terraform quotes the offending line only when the diagnostic carries the attribute path.
  expect(r.stderr).toMatch(/sha256 = "not-a-hash"/);
});

test('a base needs exactly one of source and disk_image, and disk-image settings only with disk_image', async () => {
  const both = await planFails(`${good()}
resource "cloudlet_base_vm" "b" {
  source     = "${base.file}"
  disk_image = "/images/d.raw"
}`);
  expect(both.stderr).toMatch(/Give source or disk_image/);
  const noName = await planFails(`${good()}
resource "cloudlet_base_vm" "b" {
  disk_image = "/images/d.raw"
  vcpus      = 0
}`);
  expect(noName.stderr).toMatch(/Missing name/);
  expect(noName.stderr).toMatch(/Invalid value for vcpus/);
  const archiveSizes = await planFails(`${good()}
resource "cloudlet_base_vm" "b" {
  source     = "${base.file}"
  memory_mib = 512
}`);
  expect(archiveSizes.stderr).toMatch(/memory_mib without disk_image/);
});

test('an unreachable endpoint is one clear diagnostic on the provider block', async () => {
  const r = await planFails(`${provider('  endpoint = "http://127.0.0.1:9"\n  token    = "x"')}
data "cloudlet_engine" "e" {}`);
  expect(r.stderr).toMatch(/Cannot reach the cloudlet engine/);
  expect(r.stderr).toMatch(/connection refused/);
  expect(r.stderr).toMatch(/endpoint = "http:\/\/127\.0\.0\.1:9"/);
});

test('a wrong token is refused, naming the token without showing it', async () => {
  const r = await planFails(`${provider(`  endpoint = "${engine.endpoint}"\n  token    = "wrong-token-value"`)}
data "cloudlet_engine" "e" {}`);
  expect(r.stderr).toMatch(/The cloudlet engine refused the token/);
  // Terraform quotes the configuration line it points at; our own message never repeats the token.
  expect(r.stderr.split('wrong-token-value').length - 1).toBe(1);
  expect(r.stderr).toMatch(/token\s+= "wrong-token-value"/);
});

test('a missing token for a remote endpoint says where to put it', async () => {
  const r = await planFails(
    `${provider(`  endpoint = "${engine.endpoint}"`)}
data "cloudlet_engine" "e" {}`,
    { CLOUDLET_TOKEN: '' },
  );
  expect(r.stderr).toMatch(/Missing token/);
  expect(r.stderr).toMatch(/CLOUDLET_TOKEN/);
});

test('a malformed endpoint is refused before any connection', async () => {
  const r = await planFails(`${provider('  endpoint = "ftp://cloudlet"\n  token    = "x"')}
data "cloudlet_engine" "e" {}`);
  expect(r.stderr).toMatch(/Invalid value for endpoint/);
});

test('sizes that differ from the base snapshot are refused at plan', async () => {
  const r = await planFails(`${good()}
resource "cloudlet_instance" "x" {
  name    = "x"
  base_id = "${base.baseId}"
  vcpus   = 4
}`);
  expect(r.stderr).toMatch(/Invalid value for vcpus/);
  expect(r.stderr).toMatch(/vcpus must be 1/);
  expect(r.stderr).toMatch(/vcpus\s+= 4/);
});

test('conflicting and missing overlay origins, a bad duration and a bad power state are named', async () => {
  let r = await planFails(`${good()}
resource "cloudlet_overlay" "o" {
  source           = "/tmp/app.clov"
  customization_id = "i-123"
}`);
  expect(r.stderr).toMatch(/Conflicting overlay origins/);
  r = await planFails(`${good()}
resource "cloudlet_overlay" "o" {}`);
  expect(r.stderr).toMatch(/Missing overlay origin/);
  r = await planFails(`${good()}
resource "cloudlet_instance" "x" {
  name        = "x"
  base_id     = "${base.baseId}"
  power_state = "asleep"
  timeouts {
    create = "soon"
  }
}`);
  expect(r.stderr).toMatch(/Invalid value for power_state/);
  expect(r.stderr).toMatch(/Invalid value for create/);
});

test('bad network input is a plan error naming the value: ports, duplicates, ranges, overlaps', async () => {
  let r = await planFails(`${good()}
resource "cloudlet_instance" "x" {
  name    = "x"
  base_id = "${base.baseId}"
  port {
    guest = 70000
  }
}`);
  expect(r.stderr).toMatch(/Invalid value for guest/);
  expect(r.stderr).toMatch(wrapped('expected a whole number from 1 to 65535, got 70000'));
  r = await planFails(`${good()}
resource "cloudlet_instance" "x" {
  name    = "x"
  base_id = "${base.baseId}"
  port {
    guest = 80
  }
  port {
    guest = 80
  }
}`);
  expect(r.stderr).toMatch(/Invalid port/);
  expect(r.stderr).toMatch(wrapped('port 2: guest port tcp/80 is published twice'));
  r = await planFails(`${good()}
resource "cloudlet_instance" "x" {
  name     = "x"
  base_id  = "${base.baseId}"
  networks = []
  port {
    guest = 80
  }
}`);
  expect(r.stderr).toMatch(/A published port needs a network/);
  r = await planFails(`${good()}
resource "cloudlet_network" "n" {
  name = "n"
  cidr = "10.50.0.7/24"
}`);
  expect(r.stderr).toMatch(wrapped('(host bits zero): 10.50.0.0/24, got "10.50.0.7/24"'));
  expect(r.stderr).toMatch(/cidr = "10\.50\.0\.7\/24"/);
  const existing = await engine.networks.create({ name: 'existing', cidr: '10.51.0.0/24' });
  try {
    r = await planFails(`${good()}
resource "cloudlet_network" "n" {
  name = "n"
  cidr = "10.51.0.0/16"
}`);
    expect(r.stderr).toMatch(/Overlapping network range/);
    expect(r.stderr).toMatch(wrapped('cidr 10.51.0.0/16 overlaps 10.51.0.0/24, the range of network existing'));
  } finally {
    await engine.networks.delete(existing.id);
  }
});

test('an unknown base is reported at plan, naming base_id', async () => {
  const r = await planFails(`${good()}
resource "cloudlet_instance" "x" {
  name    = "x"
  base_id = "${'0'.repeat(64)}"
}`);
  expect(r.stderr).toMatch(/Base VM not found/);
  expect(r.stderr).toMatch(/base_id = "0{64}"/);
});

test('values captured from a real plan decode under our schema and re-encode to the same bytes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-capture-'));
  tf.write(
    'main.tf',
    `${good()}
resource "cloudlet_base_vm" "b" {
  source = "${base.file}"
}
resource "cloudlet_instance" "x" {
  name    = "captured"
  base_id = cloudlet_base_vm.b.id
  timeouts {
    create = "20m"
  }
}`,
  );
  await tf.ok(['plan', '-input=false'], [0], { env: { CLOUDLET_PROVIDER_CAPTURE_DIR: dir } });
  const calls = fs
    .readdirSync(dir)
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n'))
    .map((l) => JSON.parse(l) as { rpc: string; request: Record<string, { msgpack?: { base64: string } } | string> });
  fs.rmSync(dir, { recursive: true, force: true });
  expect(calls.some((c) => c.rpc === 'ConfigureProvider')).toBe(false);
  const plan = calls.find((c) => c.rpc === 'PlanResourceChange' && c.request.type_name === 'cloudlet_instance');
  expect(plan).toBeDefined();
  const schema = cloudletProvider().resources.find((r) => r.typeName === 'cloudlet_instance')!.schema.block;
  const type = blockType(schema);
  for (const field of ['proposed_new_state', 'config', 'prior_state']) {
    const bytes = Buffer.from((plan!.request[field] as { msgpack: { base64: string } }).msgpack.base64, 'base64');
    const v = decodeMsgpack(bytes, type);
    expect(Buffer.from(encodeMsgpack(v, type)).equals(bytes)).toBe(true);
    if (field === 'prior_state') {
      expect(v).toBeNull(); // a create has no prior state
      continue;
    }
    const o = v as Record<string, unknown>;
    // The base does not exist yet, so its id is unknown during plan.
    expect(isUnknown(o.base_id as Unknown)).toBe(true);
    expect(o.name).toBe('captured');
    expect(o.overlay_url).toBeNull();
    expect((o.timeouts as Record<string, unknown>).create).toBe('20m');
    expect((o.timeouts as Record<string, unknown>).delete).toBeNull();
    // Computed attributes are unknown in the proposal for a create, and null in the configuration.
    expect(field === 'config' ? o.state === null : isUnknown(o.state as Unknown) || o.state === null).toBe(true);
  }
  // The provider's answer for the same resource also decodes: computed values unknown, the default applied.
  const validate = calls.find((c) => c.rpc === 'ValidateResourceConfig' && c.request.type_name === 'cloudlet_instance')!;
  const cfg = decodeMsgpack(Buffer.from((validate.request.config as { msgpack: { base64: string } }).msgpack.base64, 'base64'), type) as Record<string, unknown>;
  expect(cfg.power_state).toBeNull();
});

test('TLS: the provider trusts an https engine through ca_cert, also via NODE_EXTRA_CA_CERTS, and refuses it otherwise', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    stdio: 'ignore',
  });
  const t = await TestEngine.start('tftls', ['--tls-cert', cert, '--tls-key', key]);
  try {
    expect(t.endpoint).toMatch(/^https:/);
    const withCa = `${provider(`  endpoint = "${t.endpoint}"\n  token    = "${t.token}"\n  ca_cert  = file("${cert}")`)}
data "cloudlet_engine" "e" {}
output "id" { value = data.cloudlet_engine.e.id }`;
    tf.write('main.tf', withCa);
    const ok = await tf.ok(['plan', '-input=false']);
    expect(ok.stdout).toMatch(/id = "cloudlet-[0-9a-f]+"/);
    // The launcher hands NODE_EXTRA_CA_CERTS to the provider's TLS client.
    tf.write('main.tf', withCa.replace(/\n  ca_cert  = file\("[^"]+"\)/, ''));
    const viaEnv = await tf.ok(['plan', '-input=false'], [0], { env: { NODE_EXTRA_CA_CERTS: cert } });
    expect(viaEnv.stdout).toMatch(/id = "cloudlet-[0-9a-f]+"/);
    const r = await planFails(withCa.replace(/\n  ca_cert  = file\("[^"]+"\)/, ''), { NODE_EXTRA_CA_CERTS: '' });
    expect(r.stderr).toMatch(/Cannot reach the cloudlet engine/);
    expect(r.stderr).toMatch(/certificate/i);
  } finally {
    await t.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
