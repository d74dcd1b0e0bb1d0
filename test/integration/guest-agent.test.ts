// The QEMU guest agent (Debian's stock qemu-ga, in the test guests as in cloud images) as the engine's way
// into a running instance: exit status, stdout and stderr apart, a caller's timeout honoured, a non-zero exit
// reported by the CLI as COMMAND_FAILED with the output shown, and the agent's channel in the base's snapshot.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSaveHeader } from '../../engine/vm/save-header';
import { CLI_JS, TestEngine } from '../helpers/engine';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(600000);

let e: TestEngine;
let id = '';
let baseId = '';

beforeAll(async () => {
  const base = await ensureBaseArchive('tiny');
  baseId = base.baseId;
  e = await TestEngine.start('qga');
  await e.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import');
  const v = await e.opOk((api) => api.instances.create({ name: 'qga', baseId: base.baseId }), 'resume');
  id = v.result.instance.id;
  expect(readSaveHeader(path.join(e.stateDir, 'bases', base.baseId, 'memory.save')).xml).toContain("name='org.qemu.guest_agent.0'");
});

afterAll(async () => {
  await e?.destroy();
});

test('exec through the QEMU guest agent: exit status, stdout and stderr apart, output intact', async () => {
  expect(await e.instances.exec(id, { command: "echo out; echo err >&2; printf 'no newline'; exit 3" })).toEqual({ code: 3, stdout: 'out\nno newline', stderr: 'err\n' });
  // The command reaches the shell on its standard input: quotes, dollars and newlines need no escaping.
  expect((await e.instances.exec(id, { command: 'x=\'a "b" $c\'\necho "$x" | tr a A' })).stdout).toBe('A "b" $c\n');
  const big = await e.instances.exec(id, { command: 'head -c 300000 /dev/zero | tr "\\0" x' });
  expect(big.code).toBe(0);
  expect(big.stdout).toBe('x'.repeat(300000));
  // The guest's memory-only workload is there: the agent runs in the resumed VM, not a fresh one.
  expect(Number((await e.instances.exec(id, { command: 'cat /run/counter' })).stdout)).toBeGreaterThan(0);
});

test('a command that outlives its timeout is an agent error naming the limit; the agent still answers after it', async () => {
  await expect(e.instances.exec(id, { command: 'sleep 20', timeoutSeconds: 2 })).rejects.toMatchObject({ code: 'GUEST_AGENT', message: expect.stringMatching(/did not finish within 2 s/) as unknown });
  expect(await e.instances.exec(id, { command: 'echo again' })).toMatchObject({ code: 0, stdout: 'again\n' });
});

test('cloudlet instance exec: a non-zero exit is COMMAND_FAILED (exit 1), with stdout and stderr shown', () => {
  const tokenFile = path.join(e.stateDir, 'token');
  const run = (cmd: string) => spawnSync(process.execPath, [CLI_JS, 'instance', 'exec', '--endpoint', e.endpoint, '--token-file', tokenFile, id, '--', cmd], { encoding: 'utf8' });
  const bad = run('echo to-stdout; echo to-stderr >&2; exit 4');
  expect(bad.status).toBe(1);
  expect(bad.stdout).toBe('to-stdout\n');
  expect(bad.stderr).toContain('to-stderr\n');
  expect(bad.stderr).toMatch(/cloudlet: COMMAND_FAILED: the command exited with status 4 in the guest/);
  const ok = run('echo fine');
  expect({ status: ok.status, stdout: ok.stdout }).toEqual({ status: 0, stdout: 'fine\n' });
  expect(fs.existsSync(tokenFile)).toBe(true);
});

test('after a resume from a snapshot the guest clock is the host clock again', async () => {
  // Set the guest back to 2001, then have the engine save and resume the VM (an overlay capture does).
  await e.instances.exec(id, { command: "date -s '2001-09-09 01:46:40' >/dev/null" });
  expect(Number((await e.instances.exec(id, { command: 'date +%s' })).stdout)).toBeLessThan(1100000000);
  const cap = await e.opOk((api) => api.overlays.import({ instanceId: id }), 'overlay capture');
  await e.overlays.delete(cap.result.overlay.id);
  const guest = Number((await e.instances.exec(id, { command: 'date +%s' })).stdout);
  expect(Math.abs(guest - Date.now() / 1000)).toBeLessThan(10);
});

test("a new instance takes its own name as hostname, and the host's clock (busybox's date: whole seconds)", async () => {
  expect((await e.instances.exec(id, { command: 'hostname' })).stdout.trim()).toBe('qga');
  expect((await e.instances.exec(id, { command: 'cat /etc/hostname' })).stdout.trim()).toBe('qga');
  const v = await e.opOk((api) => api.instances.create({ name: 'qga-clock', baseId }), 'resume');
  const guest = Number((await e.instances.exec(v.result.instance.id, { command: 'date +%s' })).stdout);
  expect(Math.abs(guest - Date.now() / 1000)).toBeLessThan(5);
  await e.instances.delete(v.result.instance.id);
});

test('a reboot inside the guest restarts the VM rather than stopping it', async () => {
  const before = Number((await e.instances.exec(id, { command: 'cat /run/counter' })).stdout);
  await e.instances.exec(id, { command: '(sleep 1; reboot -f) >/dev/null 2>&1 &' });
  // The VM comes back from its disk (memory state starts over): its agent answers again, its counter restarted.
  const deadline = Date.now() + 120000;
  let after = NaN;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    const r = await e.instances.exec(id, { command: 'cat /run/counter', timeoutSeconds: 5 }).catch(() => null);
    if (r && r.code === 0 && Number(r.stdout) < before) {
      after = Number(r.stdout);
      break;
    }
  }
  expect(after).toBeLessThan(before);
  expect((await e.instances.get(id)).state).toBe('running');
});
