// The provider end to end: the real terraform binary, our bundled provider from the filesystem mirror, and a
// real engine with real QEMU/libvirt VMs. One configuration goes through init (offline), plan, apply, a clean
// second plan, drift (a VM stopped, then deleted out of band), import (CLI and import block), and destroy.

import * as fs from 'node:fs';
import { TestEngine, qemuRunning } from '../helpers/engine';
import { PROVIDER_BLOCK, TerraformDir } from '../helpers/terraform';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(900000);

let engine: TestEngine;
let tf: TerraformDir;
let base: { file: string; baseId: string };

interface Inst {
  id: string;
  name: string;
  state: string;
  domain?: string;
  overlayId?: string;
}

function config(extra = ''): string {
  return `${PROVIDER_BLOCK}
provider "cloudlet" {
  endpoint = "${engine.endpoint}"
}

resource "cloudlet_base_vm" "tiny" {
  source = "${base.file}"
  sha256 = "${base.baseId}"
}

resource "cloudlet_customization" "app" {
  name     = "app-custom"
  base_id  = cloudlet_base_vm.tiny.id
  commands = ["echo provider-e2e > /data/app.txt && sync", "cat /data/app.txt"]
  timeouts {
    create = "20m"
  }
}

resource "cloudlet_overlay" "app" {
  customization_id  = cloudlet_customization.app.id
  compression_level = 3
}

resource "cloudlet_instance" "app" {
  name       = "app-1"
  base_id    = cloudlet_base_vm.tiny.id
  overlay_id = cloudlet_overlay.app.id
}

output "instance_id" {
  value = cloudlet_instance.app.id
}
${extra}`;
}

async function instances(): Promise<Inst[]> {
  return (await engine.instances.list()).instances;
}

beforeAll(async () => {
  base = await ensureBaseArchive('tiny');
  engine = await TestEngine.start('tf');
  // The token comes from the environment, as a CI system would provide it.
  tf = new TerraformDir('e2e', { CLOUDLET_TOKEN: engine.token });
  tf.write('main.tf', config());
});

afterAll(async () => {
  await engine?.destroy();
  tf?.cleanup();
});

test('init installs the provider from the mirror, offline', async () => {
  const r = await tf.ok(['init', '-input=false']);
  expect(r.stdout).toMatch(/Installing cloudlet-iac\/cloudlet v0\.1\.0/);
  expect(r.stdout).toMatch(/Terraform has been successfully initialized/);
  const lock = fs.readFileSync(`${tf.dir}/.terraform.lock.hcl`, 'utf8');
  expect(lock).toContain('provider "registry.terraform.io/cloudlet-iac/cloudlet"');
  expect(lock).toMatch(/h1:[A-Za-z0-9+/=]{44}/);
});

test('plan shows the four objects to create, with placement known after apply', async () => {
  const r = await tf.ok(['plan', '-input=false', '-detailed-exitcode'], [2]);
  expect(r.stdout).toContain('Plan: 4 to add, 0 to change, 0 to destroy.');
  expect(r.stdout).toMatch(/cloudlet_instance\.app will be created[\s\S]*power_state\s+= "running"/);
  expect(r.stdout).toMatch(/cloudlet_instance\.app will be created[\s\S]*cloudlet\s+= \(known after apply\)/);
  // Plan created nothing.
  expect(await instances()).toEqual([]);
});

test('apply creates base, customization, overlay and a running synthesized instance', async () => {
  const r = await tf.ok(['apply', '-auto-approve', '-input=false']);
  expect(r.stdout).toContain('Apply complete! Resources: 4 added, 0 changed, 0 destroyed.');
  const a = tf.attributes('cloudlet_instance', 'app');
  expect(a.state).toBe('running');
  expect(a.base_id).toBe(base.baseId);
  expect(a.overlay_id).toBe(tf.attributes('cloudlet_overlay', 'app').id);
  expect(a.memory_mib).toBe(256);
  const info = await engine.engine.info();
  expect(a.cloudlet).toBe(info.cloudlet.id);
  expect((tf.attributes('cloudlet_customization', 'app').outputs as string[]).map((x) => x.trim())).toEqual(['', 'provider-e2e']);
  // The instance is a real VM: libvirt runs it, and the customization made before the overlay is inside it.
  const inst = await engine.instances.get(String(a.id));
  expect(inst.state).toBe('running');
  expect(qemuRunning(`cl-${inst.id}`)).toBe(true);
  const out = await engine.instances.exec(inst.id, { command: 'cat /data/app.txt' });
  expect(out.code).toBe(0);
  expect(out.stdout.trim()).toBe('provider-e2e');
  // The token never reaches the state.
  expect(fs.readFileSync(`${tf.dir}/terraform.tfstate`, 'utf8')).not.toContain(engine.token);
});

test('a second plan shows no changes', async () => {
  const r = await tf.ok(['plan', '-input=false', '-detailed-exitcode'], [0]);
  expect(r.stdout).toContain('No changes.');
});

test('a VM stopped out of band is planned back to running and started on apply', async () => {
  const id = String(tf.attributes('cloudlet_instance', 'app').id);
  await engine.instances.power(id, { state: 'stopped' });
  expect(qemuRunning(`cl-${id}`)).toBe(false);
  const plan = await tf.ok(['plan', '-input=false', '-detailed-exitcode'], [2]);
  expect(plan.stdout).toMatch(/cloudlet_instance\.app will be updated in-place/);
  expect(plan.stdout).toMatch(/power_state\s+= "stopped" -> "running"/);
  expect(plan.stdout).toContain('Plan: 0 to add, 1 to change, 0 to destroy.');
  await tf.ok(['apply', '-auto-approve', '-input=false']);
  expect(qemuRunning(`cl-${id}`)).toBe(true);
  expect((await engine.instances.get(id)).state).toBe('running');
  await tf.ok(['plan', '-input=false', '-detailed-exitcode'], [0]);
});

test('an instance deleted out of band leaves the state on refresh and is planned for creation', async () => {
  const id = String(tf.attributes('cloudlet_instance', 'app').id);
  await engine.instances.delete(id);
  const plan = await tf.ok(['plan', '-input=false', '-detailed-exitcode'], [2]);
  expect(plan.stdout).toMatch(/cloudlet_instance\.app has been deleted/);
  expect(plan.stdout).toMatch(/cloudlet_instance\.app will be created/);
  expect(plan.stdout).toContain('Plan: 1 to add, 0 to change, 0 to destroy.');
  await tf.ok(['apply', '-auto-approve', '-input=false']);
  const now = await instances();
  expect(now.filter((i) => i.name === 'app-1' && i.state === 'running')).toHaveLength(1);
});

test('terraform import adopts an existing instance, with an empty plan after', async () => {
  const before = String(tf.attributes('cloudlet_instance', 'app').id);
  await tf.ok(['state', 'rm', 'cloudlet_instance.app']);
  // By name: the id is not something a user has at hand.
  const r = await tf.ok(['import', '-input=false', 'cloudlet_instance.app', 'app-1']);
  expect(r.stdout).toContain('Import successful!');
  expect(tf.attributes('cloudlet_instance', 'app').id).toBe(before);
  const plan = await tf.ok(['plan', '-input=false', '-detailed-exitcode'], [0]);
  expect(plan.stdout).toContain('No changes.');
});

test('import blocks adopt the base VM, the customization VM and the overlay', async () => {
  const baseId = String(tf.attributes('cloudlet_base_vm', 'tiny').id);
  const overlayId = String(tf.attributes('cloudlet_overlay', 'app').id);
  const customId = String(tf.attributes('cloudlet_customization', 'app').id);
  await tf.ok(['state', 'rm', 'cloudlet_base_vm.tiny', 'cloudlet_overlay.app', 'cloudlet_customization.app']);
  tf.write(
    'main.tf',
    config(`
import {
  to = cloudlet_base_vm.tiny
  id = "${baseId}"
}
import {
  to = cloudlet_customization.app
  id = "${customId}"
}
import {
  to = cloudlet_overlay.app
  id = "${overlayId}"
}
`),
  );
  const plan = await tf.ok(['plan', '-input=false'], [0]);
  expect(plan.stdout).toMatch(/cloudlet_base_vm\.tiny: Preparing import/);
  expect(plan.stdout).toMatch(/Plan: 3 to import, 0 to add, \d+ to change, 0 to destroy/);
  // An overlay's origin and a customization's commands are not recoverable from the engine: the configured
  // ones are adopted in place, never by rebuilding.
  expect(plan.stdout).not.toMatch(/must be replaced/);
  await tf.ok(['apply', '-auto-approve', '-input=false']);
  expect(tf.attributes('cloudlet_base_vm', 'tiny').id).toBe(baseId);
  expect(tf.attributes('cloudlet_customization', 'app').id).toBe(customId);
  tf.write('main.tf', config());
  const after = await tf.ok(['plan', '-input=false', '-detailed-exitcode'], [0]);
  expect(after.stdout).toContain('No changes.');
});

test('destroy removes every object from the engine and every VM from libvirt', async () => {
  const ids = (await instances()).map((i) => i.id);
  expect(ids.length).toBe(2);
  const r = await tf.ok(['destroy', '-auto-approve', '-input=false']);
  expect(r.stdout).toContain('Destroy complete! Resources: 4 destroyed.');
  expect(await instances()).toEqual([]);
  expect((await engine.bases.list()).bases).toEqual([]);
  expect((await engine.overlays.list()).overlays).toEqual([]);
  for (const id of ids) expect(qemuRunning(`cl-${id}`)).toBe(false);
});
