// examples/handoff through the real cdktf CLI and terraform: deploy on cloudlet a, switch the placement
// value, `cdktf diff` shows the in-place placement change, `cdktf deploy` hands the running VM off to b (its
// app still answering), a second diff is empty, and destroy leaves nothing on either cloudlet.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient, connectLocal } from '../../engine/client/client';
import { repoRoot } from '../../provider/build';
import { cdktf, cdktfEnv, scratchProject } from '../../constructs/cdktf-cli';
import { APP_CHECK, APP_PAGE } from '../../examples/quickstart/main';
import { curl } from '../../examples/quickstart/run';
import { qemuCommandLines } from '../helpers/engine';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(900000);

let dir: string;
let state: string;
let env: NodeJS.ProcessEnv;
const clients: Record<string, EngineClient> = {};

beforeAll(async () => {
  const base = await ensureBaseArchive('tiny');
  const root = repoRoot();
  const example = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'handoff', 'cdktf.json'), 'utf8')) as Record<string, unknown>;
  dir = scratchProject('handoff-ex-', { ...example, app: `node ${path.join(root, 'dist', 'examples', 'handoff', 'main.js')}` });
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'hx-'));
  env = cdktfEnv({ CLOUDLET_SAMPLE_BASE: base.file, CLOUDLET_SAMPLE_BASE_ID: base.baseId, CLOUDLET_HANDOFF_STATE: state });
});

afterAll(async () => {
  for (const c of Object.values(clients)) await c.close();
  for (const side of ['a', 'b']) {
    const info = path.join(state, side, 'engine.json');
    const pid = fs.existsSync(info) ? Number(JSON.parse(fs.readFileSync(info, 'utf8')).pid) : 0;
    if (pid > 0) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && fs.existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(state, { recursive: true, force: true });
});

async function engine(side: 'a' | 'b'): Promise<EngineClient> {
  if (!clients[side]) {
    const local = await connectLocal(path.join(state, side));
    clients[side] = new EngineClient({ endpoint: local.endpoint, token: local.token });
  }
  return clients[side];
}

const instancesAt = async (side: 'a' | 'b') => (await (await engine(side)).instances.list()).instances;
/** The example's VM (cloudlet a also runs the customization VM the overlay was captured from). */
const webAt = async (side: 'a' | 'b') => (await instancesAt(side)).filter((i) => i.name === 'handoff-web');

/** Sets the example's one placement value, as a user edits examples/handoff/cdktf.json. */
function place(where: 'a' | 'b'): void {
  const file = path.join(dir, 'cdktf.json');
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { context: Record<string, string> };
  j.context.placement = where;
  fs.writeFileSync(file, JSON.stringify(j, null, 2));
}

test('deploy on a, switch the placement to b: diff shows the handoff, deploy does it', async () => {
  const first = await cdktf(['deploy', '--auto-approve', '--skip-provider-lock'], dir, env);
  if (first.code !== 0) throw new Error(first.output);
  const [onA] = await webAt('a');
  expect(onA.state).toBe('running');
  const ids = { a: first.output.match(/cloudlet_a = (cloudlet-[0-9a-f]+)/)?.[1], b: first.output.match(/cloudlet_b = (cloudlet-[0-9a-f]+)/)?.[1] };
  expect(ids.a).toBeDefined();
  expect(first.output).toContain(`placement = ${ids.a}`);
  const urlA = first.output.match(/url = (http:\/\/[0-9.]+:\d+)/)?.[1];
  expect(urlA).toBeDefined();
  expect(curl(urlA!).trim()).toBe(APP_PAGE);

  place('b');
  const diff = await cdktf(['diff', '--skip-provider-lock'], dir, env);
  expect(diff.code).toBe(0);
  expect(diff.output).toMatch(/cloudlet_instance\.web_resource_\w+ \(web\/resource\) will be updated in-place/);
  expect(diff.output).toMatch(new RegExp(`~ cloudlet\\s+= "${ids.a}" -> "${ids.b}"`));
  expect(diff.output).toMatch(/Plan: 0 to add, 1 to change, 0 to destroy/);

  const moved = await cdktf(['deploy', '--auto-approve', '--skip-provider-lock'], dir, env);
  if (moved.code !== 0) throw new Error(moved.output);
  expect(moved.output).toMatch(/Apply complete! Resources: 0 added, 1 changed, 0 destroyed/);
  expect(moved.output).toContain(`placement = ${ids.b}`);
  expect(await webAt('a')).toHaveLength(0);
  const [onB] = await webAt('b');
  expect(onB.id).toBe(onA.id);
  expect(onB.state).toBe('running');
  expect(qemuCommandLines(onB.domain)).toHaveLength(1);
  const page = await (await engine('b')).instances.exec(onB.id, { command: APP_CHECK });
  expect(page.stdout.trim()).toBe(APP_PAGE);
  // The same deploy recorded the destination's endpoint, where the app answers a client outside the VM.
  const urlB = moved.output.match(/url = (http:\/\/[0-9.]+:\d+)/)?.[1];
  expect(urlB).toBe((await (await engine('b')).instances.get(onB.id)).endpoints[0]);
  expect(urlB).not.toBe(urlA);
  expect(curl(urlB!).trim()).toBe(APP_PAGE);

  const again = await cdktf(['diff', '--skip-provider-lock'], dir, env);
  expect(again.code).toBe(0);
  expect(again.output).toMatch(/No changes\. Your infrastructure matches the configuration/);
});

test('cdktf destroy leaves nothing on either cloudlet', async () => {
  const r = await cdktf(['destroy', '--auto-approve', '--skip-provider-lock'], dir, env);
  if (r.code !== 0) throw new Error(r.output);
  for (const side of ['a', 'b'] as const) {
    const c = await engine(side);
    expect(await instancesAt(side)).toHaveLength(0);
    expect((await c.overlays.list()).overlays).toHaveLength(0);
    expect((await c.bases.list()).bases).toHaveLength(0);
  }
});
