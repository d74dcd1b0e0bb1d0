// Handoff through Terraform: two provider configurations (aliases a and b, each listing the other as a peer)
// and one cloudlet_instance whose `provider` is flipped from one to the other. The real terraform binary
// plans an in-place update of the placement, apply moves the running VM engine to engine, and the next plan
// is empty; no token reaches the state.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestEngine, qemuCommandLines } from '../helpers/engine';
import { PROVIDER_BLOCK, TerraformDir } from '../helpers/terraform';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(900000);

let a: TestEngine;
let b: TestEngine;
let tf: TerraformDir;
let base: { file: string; baseId: string };

function config(placement: 'a' | 'b'): string {
  return `${PROVIDER_BLOCK}
variable "token_a" {
  type      = string
  sensitive = true
}
variable "token_b" {
  type      = string
  sensitive = true
}

provider "cloudlet" {
  alias    = "a"
  endpoint = "${a.endpoint}"
  token    = var.token_a
  peer {
    name     = "b"
    endpoint = "${b.endpoint}"
    token    = var.token_b
  }
}

provider "cloudlet" {
  alias    = "b"
  endpoint = "${b.endpoint}"
  token    = var.token_b
  peer {
    name     = "a"
    endpoint = "${a.endpoint}"
    token    = var.token_a
  }
}

resource "cloudlet_base_vm" "on_a" {
  provider = cloudlet.a
  source   = "${base.file}"
  sha256   = "${base.baseId}"
}

resource "cloudlet_base_vm" "on_b" {
  provider = cloudlet.b
  source   = "${base.file}"
  sha256   = "${base.baseId}"
}

resource "cloudlet_instance" "web" {
  provider = cloudlet.${placement}
  name     = "web"
  base_id  = cloudlet_base_vm.on_a.id
  depends_on = [cloudlet_base_vm.on_b]

  port {
    guest = 80
  }
}

output "placement" {
  value = cloudlet_instance.web.cloudlet
}

output "url" {
  value = cloudlet_instance.web.endpoints[0]
}
`;
}

/** What the instance's web server answers at /cgi-bin/id (its hostname and counter), from outside the VM. */
const answer = async (url: string) => (await (await fetch(`${url}/cgi-bin/id`, { signal: AbortSignal.timeout(10000) })).text()).trim();
const instancesOf = async (e: TestEngine) => (await e.instances.list()).instances;
const exec = async (e: TestEngine, id: string, cmd: string) => {
  const r = await e.instances.exec(id, { command: cmd });
  expect(r.code).toBe(0);
  return r.stdout.trim();
};

beforeAll(async () => {
  base = await ensureBaseArchive('tiny');
  [a, b] = await Promise.all([TestEngine.start('tfa'), TestEngine.start('tfb')]);
  tf = new TerraformDir('handoff', { TF_VAR_token_a: a.token, TF_VAR_token_b: b.token });
});

afterAll(async () => {
  await Promise.all([a?.destroy(), b?.destroy()]);
  tf?.cleanup();
});

test('flipping the provider alias plans an in-place placement change, and apply hands the VM off', async () => {
  tf.write('main.tf', config('a'));
  await tf.ok(['init', '-input=false']);
  await tf.ok(['apply', '-auto-approve', '-input=false']);
  const [inst] = await instancesOf(a);
  expect(inst.state).toBe('running');
  const aId = (await a.engine.info()).cloudlet.id;
  const bId = (await b.engine.info()).cloudlet.id;
  const outputsAtA = JSON.parse((await tf.ok(['output', '-json'])).stdout) as Record<string, { value: string }>;
  expect(outputsAtA.placement.value).toBe(aId);
  expect(outputsAtA.url.value).toBe((await a.instances.get(inst.id)).endpoints[0]);
  expect(await answer(outputsAtA.url.value)).toMatch(/^web \d+$/);
  await exec(a, inst.id, 'echo before-the-move > /data/moved.txt && sync');
  const counter = Number(await exec(a, inst.id, 'cat /run/counter'));

  // The move, as a reviewer sees it.
  tf.write('main.tf', config('b'));
  const plan = await tf.ok(['plan', '-input=false']);
  expect(plan.stdout).toMatch(/cloudlet_instance\.web will be updated in-place/);
  expect(plan.stdout).toMatch(new RegExp(`~ cloudlet\\s+= "${aId}" -> "${bId}"`));
  expect(plan.stdout).toMatch(/Plan: 0 to add, 1 to change, 0 to destroy/);
  expect(plan.stdout).not.toMatch(/must be replaced|forces replacement/);

  const applied = await tf.ok(['apply', '-auto-approve', '-input=false']);
  expect(applied.stdout).toMatch(/Apply complete! Resources: 0 added, 1 changed, 0 destroyed/);
  expect(await instancesOf(a)).toHaveLength(0);
  const [moved] = await instancesOf(b);
  expect(moved.id).toBe(inst.id);
  expect(moved.state).toBe('running');
  expect(qemuCommandLines(moved.domain)).toHaveLength(1);
  expect(qemuCommandLines(moved.domain)[0]).toContain(b.stateDir);
  expect(await exec(b, moved.id, 'cat /data/moved.txt')).toBe('before-the-move');
  expect(Number(await exec(b, moved.id, 'cat /run/counter'))).toBeGreaterThanOrEqual(counter);
  // The state has the destination's endpoint after the same apply, and the app answers there.
  const outputsAtB = JSON.parse((await tf.ok(['output', '-json'])).stdout) as Record<string, { value: string }>;
  expect(outputsAtB.placement.value).toBe(bId);
  expect(outputsAtB.url.value).toBe((await b.instances.get(inst.id)).endpoints[0]);
  expect(outputsAtB.url.value).not.toBe(outputsAtA.url.value);
  expect(await answer(outputsAtB.url.value)).toMatch(/^web \d+$/);

  const again = await tf.ok(['plan', '-input=false', '-detailed-exitcode']);
  expect(again.stdout).toMatch(/No changes/);

  // Neither token, nor any handoff token, is in the state.
  const state = fs.readFileSync(path.join(tf.dir, 'terraform.tfstate'), 'utf8');
  for (const secret of [a.token, b.token, 'cht_']) expect(state).not.toContain(secret);

  // And back.
  tf.write('main.tf', config('a'));
  await tf.ok(['apply', '-auto-approve', '-input=false']);
  expect(await instancesOf(b)).toHaveLength(0);
  expect((await instancesOf(a)).map((i) => i.id)).toEqual([inst.id]);
  expect(await exec(a, inst.id, 'cat /data/moved.txt')).toBe('before-the-move');
  expect((await tf.ok(['plan', '-input=false', '-detailed-exitcode'])).stdout).toMatch(/No changes/);

  await tf.ok(['destroy', '-auto-approve', '-input=false']);
  expect(await instancesOf(a)).toHaveLength(0);
  expect(await instancesOf(b)).toHaveLength(0);
});

test('a configuration without a peer for the cloudlet the state names fails the plan clearly, forgetting nothing', async () => {
  tf.write('main.tf', config('a'));
  await tf.ok(['apply', '-auto-approve', '-input=false']);
  // Configuration b without its peer block.
  tf.write('main.tf', config('b').replace(/(alias\s+= "b"[\s\S]*?)peer \{[\s\S]*?\n {2}\}\n/, '$1'));
  const plan = await tf.run(['plan', '-input=false']);
  expect(plan.code).not.toBe(0);
  expect(plan.stderr).toMatch(/Instance is on a cloudlet this configuration cannot reach/);
  expect(plan.stderr).toMatch(/add a `peer` block/);
  expect(await instancesOf(a)).toHaveLength(1);
  tf.write('main.tf', config('a'));
  await tf.ok(['destroy', '-auto-approve', '-input=false']);
});
