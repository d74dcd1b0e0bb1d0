// Ctrl-C during a long apply: Terraform and the provider get SIGINT (the provider ignores it), Terraform calls
// StopProvider, and the provider cancels the engine operation in flight. The synthesis, fetching its overlay
// over a slow link, is cancelled on the engine, leaves nothing behind, and the state says nothing was made.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileServer, TestEngine, makeOverlayFile } from '../helpers/engine';
import { PROVIDER_BLOCK, TerraformDir } from '../helpers/terraform';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(600000);

let engine: TestEngine;
let files: FileServer;
let tf: TerraformDir;
let work: string;

beforeAll(async () => {
  const base = await ensureBaseArchive('tiny');
  engine = await TestEngine.start('tfstop');
  files = new FileServer();
  await files.start();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tfstop-'));
  // An overlay to fetch: made on the engine and deleted there, so the synthesis must fetch it.
  const file = path.join(work, 'app.clov');
  await makeOverlayFile(engine, base, file, 'dd if=/dev/urandom of=/data/blob bs=64k count=32 2>/dev/null && sync');
  // About 60 s to transfer: the interrupt lands well inside it.
  const url = files.serve('app.clov', file, { throttleBytesPerSec: Math.ceil(fs.statSync(file).size / 60) });
  tf = new TerraformDir('stop', { CLOUDLET_TOKEN: engine.token });
  tf.write(
    'main.tf',
    `${PROVIDER_BLOCK}
provider "cloudlet" {
  endpoint = "${engine.endpoint}"
}
resource "cloudlet_instance" "slow" {
  name        = "slow"
  base_id     = "${base.baseId}"
  overlay_url = "${url}"
}
`,
  );
  await tf.ok(['init', '-input=false']);
});

afterAll(async () => {
  await files?.stop();
  await engine?.destroy();
  tf?.cleanup();
  fs.rmSync(work, { recursive: true, force: true });
});

test('Ctrl-C cancels the engine operation and leaves nothing behind', async () => {
  // Ctrl-C once the engine is fetching the overlay for Terraform's synthesis.
  const fetching = (async () => {
    for (let i = 0; i < 600; i++) {
      const { operations } = await engine.operations.list();
      if (operations.some((o) => o.kind === 'synthesize' && o.state === 'running' && o.phase === 'fetch' && o.done > 0)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const r = await tf.run(['apply', '-auto-approve', '-input=false'], { interruptWhen: fetching, timeoutMs: 120000 });
  // Stopped well before the 60 s the download would take.
  expect(r.ms).toBeLessThan(45000);
  expect(r.code).not.toBe(0);
  expect(r.stdout + r.stderr).toMatch(/Interrupt received/);
  expect(r.stderr).toMatch(/synthesize slow cancelled/);
  const { operations } = await engine.operations.list();
  // The first synthesis is the customization VM made in beforeAll; the second is Terraform's.
  const mine = operations.filter((o) => o.kind === 'synthesize').slice(1);
  expect(mine).toHaveLength(1);
  // The cancellation was asked for; the operation unwinds on the engine (closing the download) right after.
  const done = await engine.settle(mine[0].id, 30000);
  expect(done.state === 'cancelled' || done.error?.code === 'CANCELLED').toBe(true);
  expect((await engine.instances.list()).instances).toEqual([]);
  expect(fs.readdirSync(path.join(engine.stateDir, 'tmp'))).toEqual([]);
  // Nothing was recorded as made.
  const state = fs.existsSync(path.join(tf.dir, 'terraform.tfstate')) ? tf.state().resources : [];
  expect(state).toEqual([]);
});
