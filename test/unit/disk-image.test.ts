// What the engine concludes from a user's disk image before booting it (qemu-img's answer, the first
// sectors), and the readiness rule shared by the API, the provider and the constructs.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readinessProblem, readinessValue } from '../../engine/contract/rules';
import { bootProblem, factsFromInfo } from '../../engine/image/disk-image';
import { readinessOf, httpProbe, tcpProbe } from '../../engine/vm/readiness';

test('qemu-img facts: raw and qcow2 accepted; other formats, backing files, corrupt and empty images refused', () => {
  expect(factsFromInfo({ format: 'qcow2', 'virtual-size': 4 * 2 ** 30, 'actual-size': 800 << 20 }, 'disk')).toEqual({ format: 'qcow2', virtualBytes: 4 * 2 ** 30, fileBytes: 800 << 20 });
  expect(factsFromInfo({ format: 'raw', 'virtual-size': 1 << 20 }, 'disk').format).toBe('raw');
  const refused = (info: Parameters<typeof factsFromInfo>[0]) => {
    try {
      factsFromInfo(info, 'disk');
    } catch (e) {
      return `${(e as { code: string }).code}: ${(e as Error).message}`;
    }
    return 'accepted';
  };
  expect(refused({ format: 'vmdk', 'virtual-size': 1 << 20 })).toMatch(/^DISK_IMAGE_INVALID: disk: the image is in 'vmdk' format; a base disk is raw or qcow2/);
  expect(refused({ format: 'qcow2', 'virtual-size': 1 << 20, 'backing-filename': '/etc/shadow' })).toMatch(/has a backing file \("\/etc\/shadow"\); a base disk must be self-contained/);
  expect(refused({ format: 'qcow2', 'virtual-size': 1 << 20, 'format-specific': { type: 'qcow2', data: { corrupt: true } } })).toMatch(/marks the qcow2 image as corrupt/);
  expect(refused({ format: 'raw', 'virtual-size': 0 })).toMatch(/the image is empty/);
  expect(refused({ format: 'raw', 'virtual-size': 1000 })).toMatch(/not a whole number of 512-byte sectors/);
});

test('boot sectors: BIOS needs 0x55AA, UEFI a GPT or an EFI system partition', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'boot-'));
  const disk = (edit: (b: Buffer) => void) => {
    const b = Buffer.alloc(4096);
    edit(b);
    const f = path.join(dir, `d${Math.random()}`);
    fs.writeFileSync(f, b);
    return f;
  };
  const blank = disk(() => undefined);
  const mbr = disk((b) => b.writeUInt16LE(0xaa55, 510));
  const gpt = disk((b) => {
    b.writeUInt16LE(0xaa55, 510);
    b[446 + 4] = 0xee;
    b.write('EFI PART', 512, 'latin1');
  });
  const esp = disk((b) => {
    b.writeUInt16LE(0xaa55, 510);
    b[446 + 16 + 4] = 0xef;
  });
  expect(bootProblem(blank, 'bios')).toMatch(/no boot sector \(no 0x55AA signature at byte 510\)/);
  expect(bootProblem(mbr, 'bios')).toBeUndefined();
  expect(bootProblem(mbr, 'uefi')).toMatch(/neither a GPT nor an EFI system partition/);
  expect(bootProblem(gpt, 'uefi')).toBeUndefined();
  expect(bootProblem(esp, 'uefi')).toBeUndefined();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('readiness: one rule, read the same way by the engine', () => {
  for (const ok of ['auto', 'agent', 'systemd', 'cloud-init', 'tcp:1', 'tcp:65535', 'http://127.0.0.1:8080/health?x=1', 'https://localhost/', '0', '30', '2.5', '3600'])
    expect({ ok, why: readinessProblem(ok) }).toEqual({ ok, why: undefined });
  for (const bad of ['', 'soon', 'tcp:0', 'tcp:65536', 'tcp:', 'ftp://x', "http://x/'; reboot", 'http://a b', '3601', '-1'])
    expect({ bad, why: readinessProblem(bad) }).toEqual({ bad, why: expect.stringMatching(/^expected /) as unknown });
  expect(readinessValue('30')).toBe(30);
  expect(readinessValue('tcp:80')).toBe('tcp:80');
  expect(readinessOf(undefined)).toEqual({ kind: 'auto' });
  expect(readinessOf(5)).toEqual({ kind: 'delay', seconds: 5 });
  expect(readinessOf('tcp:8080')).toEqual({ kind: 'tcp', port: 8080 });
  expect(readinessOf('http://127.0.0.1/')).toEqual({ kind: 'http', url: 'http://127.0.0.1/' });
  // URLs reach the guest's shell single-quoted.
  expect(httpProbe("http://x/a'b")).toContain(`u='http://x/a'\\''b'`);
  expect(tcpProbe(22)).toMatch(/^p=22\n/);
});
