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

beforeAll(async () => {
  const base = await ensureBaseArchive('tiny');
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
