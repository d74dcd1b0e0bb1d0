// The main job (`npm start`): prepare the sample base VM (built from Debian packages and cached the first
// time), then `cdktf deploy` the quickstart on the embedded default engine, offline, and show the app
// answering from inside the synthesized VM. `node dist/examples/quickstart/run.js destroy` removes it all.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineClient, connectLocal, defaultStateDir } from '../../engine/client/client';
import { repoRoot } from '../../provider/build';
import { cdktf, cdktfEnv } from '../../constructs/cdktf-cli';
import { ensureBaseArchive } from '../../test/vms/guest';
import { APP_PAGE } from './main';

/** The page at `url`, fetched by curl (a client outside the VM), retried for a few seconds. */
export function curl(url: string): string {
  const r = spawnSync('curl', ['-fsS', '--max-time', '10', '--retry', '5', '--retry-delay', '1', '--retry-all-errors', url], { encoding: 'utf8' });
  if (r.error) throw new Error(`curl: ${r.error.message} (engine/host/setup-host.sh installs curl)`);
  if (r.status !== 0) throw new Error(`curl ${url} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

async function main(): Promise<void> {
  const root = repoRoot();
  const destroy = process.argv[2] === 'destroy';
  process.stdout.write('quickstart: preparing the sample base VM (built and cached on first use)\n');
  const base = await ensureBaseArchive('tiny');
  const env = cdktfEnv({ CLOUDLET_SAMPLE_BASE: base.file, CLOUDLET_SAMPLE_BASE_ID: base.baseId });
  const args = [destroy ? 'destroy' : 'deploy', '--auto-approve', '--skip-provider-lock'];
  // The provider is built in this checkout, so a lock file from an earlier build names another package hash;
  // terraform init records the current one again.
  fs.rmSync(path.join(root, 'cdktf.out', 'stacks', 'quickstart', '.terraform.lock.hcl'), { force: true });
  process.stdout.write(`quickstart: cdktf ${args.join(' ')}\n`);
  const r = await cdktf(args, root, env, true);
  if (r.code !== 0) throw new Error(`cdktf ${args[0]} failed (exit ${r.code}); its output is above`);
  if (destroy) return;
  // The VM is running and its app answers from outside it: curl the published URL, as a client would.
  const local = await connectLocal(process.env.CLOUDLET_STATE_DIR ? path.resolve(process.env.CLOUDLET_STATE_DIR) : defaultStateDir());
  const c = new EngineClient({ endpoint: local.endpoint, token: local.token });
  try {
    const inst = await c.instances.get('quickstart-web');
    const url = inst.endpoints[0];
    if (!url) throw new Error(`instance ${inst.id} has no published endpoint`);
    const page = curl(url);
    if (!page.includes(APP_PAGE)) throw new Error(`${url} did not answer with the app's page: ${page}`);
    process.stdout.write(`\nquickstart: instance ${inst.id} is ${inst.state} at ${inst.addresses.join(', ')}; curl ${url} answers "${page.trim()}"\n`);
    process.stdout.write(`  reach it:   curl ${url}\n`);
    process.stdout.write(`  remove it:  node dist/examples/quickstart/run.js destroy\n`);
    process.stdout.write(`${url}\n`);
  } finally {
    await c.close();
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`quickstart: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
