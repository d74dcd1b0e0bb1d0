// The `cloudlet` CLI: exit codes, error lines that carry the typed code, and inspect output that names what
// an overlay holds.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../engine/cli/main';
import { SynthVm, makeVm } from '../helpers/synthetic-vm';

let vm: SynthVm;
let out = '';
let err = '';
beforeAll(() => {
  vm = makeVm(21);
});
afterAll(() => fs.rmSync(vm.dir, { recursive: true, force: true }));
beforeEach(() => {
  out = '';
  err = '';
  jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
});
afterEach(() => jest.restoreAllMocks());

test('usage errors exit 2 and name the problem', async () => {
  expect(await main(['overlay', 'build', '--base-disk', 'x'])).toBe(2);
  expect(err).toMatch(/INVALID_ARGUMENT: missing required option --base-memory/);
  expect(await main(['overlay', 'inspect', 'a.ovl', '--bogus'])).toBe(2);
  expect(err).toMatch(/unknown option --bogus/);
  expect(await main(['frobnicate'])).toBe(2);
  // Refused before anything is opened or started.
  expect(await main(['engine', 'serve', '--state-dir', path.join(vm.dir, 'never-made'), '--handoff-memory-check', 'sometimes'])).toBe(2);
  expect(err).toMatch(/--handoff-memory-check: auto, always or never, not "sometimes"/);
  expect(fs.existsSync(path.join(vm.dir, 'never-made'))).toBe(false);
});

test('--help on every command and subcommand prints its usage and exits 0', async () => {
  const cases: [string[], RegExp][] = [
    [['--help'], /cloudlet <command>/],
    [['help'], /cloudlet <command>/],
    [['base', '--help'], /cloudlet base import ARCHIVE\|URL/],
    [['base', 'import', '--help'], /--memory-mib <n>/],
    [['overlay', 'inspect', '--help'], /cloudlet overlay inspect/],
    [['overlay', 'apply', '-h'], /--out-disk/],
    [['instance', 'exec', '--help'], /cloudlet instance exec ID -- COMMAND/],
    [['synthesize', '--help'], /--overlay-url/],
    [['handoff', '--help'], /--from-endpoint/],
    [['operation', '--help'], /cloudlet operation list/],
    [['engine', '--help'], /cloudlet engine start\|stop\|status/],
    [['engine', 'serve', '--help'], /--listen/],
    [['--json', 'info', '--help'], /cloudlet info/],
  ];
  for (const [argv, want] of cases) {
    out = '';
    err = '';
    expect({ argv, code: await main(argv) }).toEqual({ argv, code: 0 });
    expect({ argv, help: want.test(out), err }).toEqual({ argv, help: true, err: '' });
  }
  // After `--` a --help belongs to the guest command, not to the CLI.
  out = '';
  expect(await main(['instance', 'exec', 'x', '--endpoint', 'http://127.0.0.1:1', '--token-file', '/nonexistent', '--', 'ls', '--help'])).toBe(1);
  expect(out).toBe('');
});

test('global options stand anywhere: before the command, between command and subcommand, after', async () => {
  const missing = path.join(vm.dir, 'missing.ovl');
  for (const argv of [
    ['--json', 'overlay', 'inspect', missing],
    ['overlay', '--json', 'inspect', missing],
    ['overlay', 'inspect', missing, '--json'],
    ['overlay', 'inspect', '--json', missing],
  ]) {
    err = '';
    expect({ argv, code: await main(argv) }).toEqual({ argv, code: 1 });
    expect(err).toMatch(/IO: cannot open overlay .*missing\.ovl: no such file/);
  }
  // A connection option's value is not taken for the command word.
  expect(await main(['--endpoint', 'http://127.0.0.1:1', 'frobnicate'])).toBe(2);
  expect(err).toMatch(/unknown command frobnicate/);
});

test('typed errors exit 1 with their code', async () => {
  const bad = path.join(vm.dir, 'bad.ovl');
  fs.writeFileSync(bad, 'not an overlay'.repeat(10));
  expect(await main(['overlay', 'inspect', bad])).toBe(1);
  expect(err).toMatch(/^cloudlet: OVERLAY_BAD_MAGIC: /);
  expect(await main(['overlay', 'inspect', path.join(vm.dir, 'missing.ovl')])).toBe(1);
  expect(err).toMatch(/IO: cannot open overlay .*missing\.ovl: no such file/);
});

test('create, inspect --verify --json, apply', async () => {
  const o = path.join(vm.dir, 'cli.ovl');
  expect(
    await main(['overlay', 'build', '--quiet', '--threads', '0', '--base-disk', vm.baseDisk, '--base-memory', vm.baseMemory, '--disk', vm.customDisk, '--memory', vm.customMemory, '--output', o]),
  ).toBe(0);
  expect(out).toMatch(/wrote .*cli\.ovl: .* literal/);
  out = '';
  expect(await main(['overlay', 'inspect', o, '--verify', '--json'])).toBe(0);
  const s = JSON.parse(out);
  expect(s.verified).toBe(true);
  expect(s.literals.bytesAfterCompression).toBeGreaterThan(0);
  expect(s.literals.bytesBeforeCompression).toBeGreaterThan(s.literals.bytesAfterCompression);
  expect(Object.keys(s.disk.byKind)).toEqual(['zero', 'literal', 'baseDisk', 'baseMemory', 'earlier']);
  out = '';
  expect(await main(['overlay', 'inspect', o])).toBe(0);
  expect(out).toMatch(/dedup hits {3}base disk \d+, base memory \d+, earlier in overlay \d+/);
  expect(
    await main(['overlay', 'apply', '--quiet', o, '--base-disk', vm.baseDisk, '--base-memory', vm.baseMemory, '--out-disk', path.join(vm.dir, 'c.qcow2'), '--out-memory', path.join(vm.dir, 'c.save')]),
  ).toBe(0);
  expect(fs.existsSync(path.join(vm.dir, 'c.save'))).toBe(true);
});
