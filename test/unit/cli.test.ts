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
