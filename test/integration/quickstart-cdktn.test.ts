// The quickstart on CDK Terrain: the same compiled app and construct library, in a project whose `cdktf` package
// is cdktn 0.24 (test/cdktn, installed under the name cdktf, with constructs 10.6), deployed by cdktn-cli and the
// real terraform binary. Its app answers at the url output; destroy leaves nothing on the engine.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CDKTN_PROJECT, cdktfEnv, cdktn } from '../../constructs/cdktf-cli';
import { EngineClient, connectLocal } from '../../engine/client/client';
import { APP_PAGE } from '../../examples/quickstart/main';
import { curl } from '../../examples/quickstart/run';
import { repoRoot } from '../../provider/build';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(900000);

let dir: string;
let state: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const base = await ensureBaseArchive('tiny');
  const root = repoRoot();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qs-cdktn-'));
  // The compiled app and library (they import `cdktf` and `constructs`), resolved against the cdktn project's
  // node_modules rather than the repository's.
  for (const part of ['constructs', 'examples/quickstart', 'engine/contract']) fs.cpSync(path.join(root, 'dist', part), path.join(dir, 'dist', part), { recursive: true });
  fs.symlinkSync(path.join(CDKTN_PROJECT, 'node_modules'), path.join(dir, 'node_modules'));
  const cdktfJson = JSON.parse(fs.readFileSync(path.join(root, 'cdktf.json'), 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(path.join(dir, 'cdktf.json'), JSON.stringify({ ...cdktfJson, app: 'node dist/examples/quickstart/main.js' }));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'qs-cdktn', private: true }));
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'qsn-'));
  env = cdktfEnv({ CLOUDLET_SAMPLE_BASE: base.file, CLOUDLET_SAMPLE_BASE_ID: base.baseId, CLOUDLET_STATE_DIR: state });
});

afterAll(async () => {
  const info = path.join(state, 'engine.json');
  const pid = fs.existsSync(info) ? Number((JSON.parse(fs.readFileSync(info, 'utf8')) as { pid: number }).pid) : 0;
  if (pid > 0) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && fs.existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(state, { recursive: true, force: true });
});

test('the app resolves cdktf to cdktn 0.24 and constructs 10.6: one copy of each, none of the repository', () => {
  const from = { paths: [path.join(dir, 'dist', 'constructs')] };
  const pkg = (name: string) => JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`, from), 'utf8')) as { name: string; version: string };
  expect(pkg('cdktf')).toMatchObject({ name: 'cdktn', version: '0.24.0' });
  expect(pkg('constructs').version).toBe('10.6.0');
  expect(fs.realpathSync(require.resolve('cdktf', from)).startsWith(fs.realpathSync(CDKTN_PROJECT))).toBe(true);
});

test('cdktn deploy: the quickstart VM runs and its app answers at the url output; cdktn destroy leaves nothing', async () => {
  const r = await cdktn(['deploy', '--auto-approve', '--skip-provider-lock'], dir, env);
  if (r.code !== 0) throw new Error(r.output);
  expect(r.output).toMatch(/Apply complete! Resources: 4 added/);
  const url = /url = "?(http:\/\/[0-9.]+:\d+)/.exec(r.output)?.[1];
  expect(url).toBeDefined();
  expect(curl(url!).trim()).toBe(APP_PAGE);
  const d = await cdktn(['destroy', '--auto-approve', '--skip-provider-lock'], dir, env);
  if (d.code !== 0) throw new Error(d.output);
  const local = await connectLocal(state);
  const c = new EngineClient({ endpoint: local.endpoint, token: local.token });
  try {
    expect((await c.instances.list()).instances).toHaveLength(0);
    expect((await c.bases.list()).bases).toHaveLength(0);
  } finally {
    await c.close();
  }
});
