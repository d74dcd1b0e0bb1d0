// The quickstart through the real cdktf CLI and terraform, in a temporary project directory with its own
// engine state: diff shows the planned resources, deploy ends with a running VM in libvirt whose app answers,
// a second diff shows no changes, destroy leaves nothing behind.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient, connectLocal } from '../../engine/client/client';
import { repoRoot } from '../../provider/build';
import { cdktf, cdktfEnv, scratchProject } from '../../constructs/cdktf-cli';
import { execFileSync } from 'node:child_process';
import { APP_CHECK, APP_PAGE } from '../../examples/quickstart/main';
import { curl } from '../../examples/quickstart/run';
import { hostKey } from '../../engine/net/plumbing';
import { qemuRunning } from '../helpers/engine';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(900000);

let dir: string;
let state: string;
let env: NodeJS.ProcessEnv;
let client: EngineClient | undefined;

beforeAll(async () => {
  const base = await ensureBaseArchive('tiny');
  const root = repoRoot();
  const cdktfJson = JSON.parse(fs.readFileSync(path.join(root, 'cdktf.json'), 'utf8')) as Record<string, unknown>;
  dir = scratchProject('quickstart-', { ...cdktfJson, app: `node ${path.join(root, 'dist', 'examples', 'quickstart', 'main.js')}` });
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'qs-'));
  env = cdktfEnv({ CLOUDLET_SAMPLE_BASE: base.file, CLOUDLET_SAMPLE_BASE_ID: base.baseId, CLOUDLET_STATE_DIR: state });
});

afterAll(async () => {
  await client?.close();
  const pid = Number(JSON.parse(fs.readFileSync(path.join(state, 'engine.json'), 'utf8') || '{}').pid);
  if (pid > 0) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && fs.existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(state, { recursive: true, force: true });
});

async function engine(): Promise<EngineClient> {
  if (!client) {
    const local = await connectLocal(state);
    client = new EngineClient({ endpoint: local.endpoint, token: local.token });
  }
  return client;
}

test('cdktf diff shows the planned resources', async () => {
  const r = await cdktf(['diff', '--skip-provider-lock'], dir, env);
  expect(r.code).toBe(0);
  expect(r.output).toMatch(/cloudlet_base_vm\.sample-base_resource_\w+ \(sample-base\/resource\) will be created/);
  expect(r.output).toMatch(/cloudlet_customization\.web-app_customization_\w+ .* will be created/);
  expect(r.output).toMatch(/cloudlet_overlay\.web-app_resource_\w+ .* will be created/);
  expect(r.output).toMatch(/cloudlet_instance\.web_resource_\w+ .* will be created/);
  expect(r.output).toMatch(/Plan: 4 to add, 0 to change, 0 to destroy/);
});

test('cdktf deploy ends with the VM running in libvirt, its app answering curl from outside the VM at the url output', async () => {
  const r = await cdktf(['deploy', '--auto-approve', '--skip-provider-lock'], dir, env);
  if (r.code !== 0) throw new Error(r.output);
  expect(r.output).toMatch(/Apply complete! Resources: 4 added/);
  const c = await engine();
  const inst = await c.instances.get('quickstart-web');
  expect(inst.state).toBe('running');
  expect(qemuRunning(inst.domain)).toBe(true);
  const page = await c.instances.exec(inst.id, { command: APP_CHECK });
  expect(page.stdout.trim()).toBe(APP_PAGE);
  const outputs = r.output.match(/instance_id = (i-[0-9a-f]+)/);
  expect(outputs?.[1]).toBe(inst.id);
  // The url output is an HTTP URL on the host's address, answered by the app through its published port.
  const url = r.output.match(/url = (http:\/\/[0-9.]+:\d+)/)?.[1];
  expect(url).toBe(inst.endpoints[0]);
  expect(url).not.toMatch(/127\.0\.0\.1/);
  expect(curl(url!).trim()).toBe(APP_PAGE);
  expect(r.output).toContain(`ip_address = ${inst.addresses[0]}`);
});

test('a second cdktf diff shows no changes', async () => {
  const r = await cdktf(['diff', '--skip-provider-lock'], dir, env);
  expect(r.code).toBe(0);
  expect(r.output).toMatch(/No changes\. Your infrastructure matches the configuration/);
});

test('cdktf destroy leaves nothing behind', async () => {
  const c = await engine();
  const listed = (await c.instances.list()).instances;
  const domains = listed.map((i) => i.domain);
  expect(domains.length).toBe(2);
  const keys = listed.map((i) => i.network!.key);
  const bridge = (await c.networks.get('default')).bridge;
  expect(execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' })).toContain(bridge);
  const r = await cdktf(['destroy', '--auto-approve', '--skip-provider-lock'], dir, env);
  if (r.code !== 0) throw new Error(r.output);
  expect(r.output).toMatch(/Destroy complete! Resources: 4 destroyed/);
  expect((await c.instances.list()).instances).toEqual([]);
  expect((await c.overlays.list()).overlays).toEqual([]);
  expect((await c.bases.list()).bases).toEqual([]);
  for (const d of domains) expect(qemuRunning(d)).toBe(false);
  // No bridge, tap, namespace, rule or DHCP lease of this cloudlet is left on the host.
  const links = execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' });
  expect(links).not.toContain(bridge);
  for (const k of keys) {
    expect(links).not.toMatch(new RegExp(`cl[gvta]${k}`));
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`cloudlet-${k}`);
  }
  expect(execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8' })).not.toContain(`cloudlet_${hostKey(state)}`);
  expect(fs.readdirSync(path.join(state, 'routers'))).toEqual([]);
});
