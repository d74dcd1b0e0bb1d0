// `cloudlet doctor` against a real engine on this host (TCG, embedded libvirt): every check answered, the
// accelerator's reason named, the stored base's needs checked against this QEMU, and a blocking problem (a
// token file others can read) failing the command with its fix; the engine's start checks in `info`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI_JS, TestEngine } from '../helpers/engine';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(300000);

let e: TestEngine;

beforeAll(async () => {
  e = await TestEngine.start('doctor');
  const base = await ensureBaseArchive('tiny');
  await e.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'import');
});

afterAll(async () => {
  await e?.destroy();
});

const doctor = () => spawnSync(process.execPath, [CLI_JS, 'doctor', '--endpoint', e.endpoint], { env: { ...process.env, CLOUDLET_TOKEN: e.token }, encoding: 'utf8' });

test('every check answers; TCG is a warning with its reason; the base is runnable here', async () => {
  const r = doctor();
  expect(r.status).toBe(0);
  // TCG here (no usable KVM in these containers): a warning that says which of the three reasons it is.
  if ((await e.engine.info()).hypervisor.type === 'tcg')
    expect(r.stdout).toMatch(
      /^WARN {2}accelerator +TCG emulation, several times slower than KVM: (there is no \/dev\/kvm|\/dev\/kvm exists but the CPU offers no VMX\/SVM \(a virtual machine without nested virtualization\)|\/dev\/kvm exists but this user cannot open it)\n {6}fix: \S/m,
    );
  else expect(r.stdout).toMatch(/^ok {4}accelerator +KVM/m);
  for (const name of ['qemu', 'libvirt', 'base tiny-base', 'disk', 'memory', 'permissions', 'networking']) expect(r.stdout).toMatch(new RegExp(`^ok {4}${name} `, 'm'));
  expect(r.stdout).toMatch(/^ok {4}qemu +QEMU emulator version 7\.2/m);
  expect(r.stdout).toMatch(/^ok {4}base tiny-base +pc-i440fx-7\.2 and CPU model qemu64 are available/m);
  // The engine ran the same checks (all but the bases') at its start; info reports them.
  const info = await e.engine.info();
  expect(info.checks?.map((c) => c.name)).toEqual(['accelerator', 'qemu', 'libvirt', 'disk', 'memory', 'permissions', 'networking', 'listener']);
  expect(info.checks?.find((c) => c.name === 'listener')).toMatchObject({ status: 'ok', detail: `${e.endpoint} (loopback only)` });
});

test('a token file others can read is a blocking problem: exit 1, named, with its fix', async () => {
  const token = path.join(e.stateDir, 'token');
  fs.chmodSync(token, 0o644);
  try {
    const r = doctor();
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^FAIL  permissions +${token.replace(/[/.]/g, '\\$&')} is readable by others\\n {6}fix: chmod 700 .* chmod 600 `, 'm'));
    expect(r.stderr).toMatch(/HOST_UNSUPPORTED: 1 blocking problem\(s\): permissions/);
  } finally {
    fs.chmodSync(token, 0o600);
  }
});
