// Bad disk images given to `base import --disk` on a real engine: each refused with DISK_IMAGE_INVALID naming
// the cause before any VM starts, and nothing stored (no base, nothing left in the engine's tmp/).

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestEngine } from '../helpers/engine';

jest.setTimeout(300000);

let e: TestEngine;
let dir = '';

beforeAll(async () => {
  e = await TestEngine.start('disk-images');
  dir = fs.mkdtempSync(path.join(path.dirname(e.stateDir), 'images-'));
});

afterAll(async () => {
  await e?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const img = (name: string) => path.join(dir, name);
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { stdio: 'ignore' });
/** Writes bytes at an offset of a file. */
const poke = (file: string, at: number, bytes: number[]) => {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from(bytes), 0, bytes.length, at);
  fs.closeSync(fd);
};

async function refused(disk: string, extra: { firmware?: 'uefi' } = {}): Promise<string> {
  const v = await e.op((api) => api.bases.import({ disk, name: 'bad', ready: 5, ...extra }));
  expect(v.state).toBe('failed');
  expect(v.error?.code).toBe('DISK_IMAGE_INVALID');
  // Refused before boot: the operation never reached the boot phase, and nothing of it is kept.
  expect(Object.keys(v.timings)).not.toContain('boot');
  expect((await e.bases.list()).bases).toEqual([]);
  expect(fs.readdirSync(path.join(e.stateDir, 'tmp'))).toEqual([]);
  return v.error!.message;
}

test('a format other than raw or qcow2', async () => {
  qemuImg('create', '-q', '-f', 'vmdk', img('disk.vmdk'), '64M');
  expect(await refused(img('disk.vmdk'))).toMatch(/^disk: the image is in 'vmdk' format; a base disk is raw or qcow2 \(convert it first: qemu-img convert -O qcow2 IN OUT\)/);
});

test('a qcow2 with a backing file (the engine never follows a user image to other host files)', async () => {
  qemuImg('create', '-q', '-f', 'raw', img('secret.raw'), '64M');
  qemuImg('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', img('secret.raw'), img('layer.qcow2'));
  expect(await refused(img('layer.qcow2'))).toMatch(/the qcow2 image has a backing file \(".*secret\.raw"\); a base disk must be self-contained: flatten it first/);
});

test('a corrupt qcow2: a bad header field, and refcounts that qemu-img check finds wrong', async () => {
  qemuImg('create', '-q', '-f', 'qcow2', img('header.qcow2'), '64M');
  poke(img('header.qcow2'), 40, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]); // l1_table_offset
  expect(await refused(img('header.qcow2'))).toMatch(/^disk: qemu-img cannot read the image: .*L1 table offset invalid/);
  qemuImg('create', '-q', '-f', 'qcow2', img('refcount.qcow2'), '64M');
  execFileSync('qemu-io', ['-c', 'write -P 0xab 0 1M', img('refcount.qcow2')], { stdio: 'ignore' });
  poke(img('refcount.qcow2'), 0x10000, [0, 0, 0, 0, 0, 0, 0, 0]); // the refcount table's first entry
  expect(await refused(img('refcount.qcow2'))).toMatch(/^disk: the qcow2 image is damaged: .*ERROR/);
});

test('an image that cannot boot: no boot sector for BIOS, no EFI partition for UEFI, a text file', async () => {
  fs.writeFileSync(img('zeros.raw'), Buffer.alloc(4 << 20));
  expect(await refused(img('zeros.raw'))).toMatch(/^disk: the image has no boot sector \(no 0x55AA signature at byte 510\), so BIOS cannot boot it/);
  const mbr = Buffer.alloc(4 << 20);
  mbr.writeUInt16LE(0xaa55, 510);
  fs.writeFileSync(img('mbr.raw'), mbr);
  expect(await refused(img('mbr.raw'), { firmware: 'uefi' })).toMatch(/neither a GPT nor an EFI system partition/);
  fs.writeFileSync(img('text.img'), 'not a disk image\n');
  expect(await refused(img('text.img'))).toMatch(/no boot sector/);
});

test('a missing file or a directory is a 400 at once, no operation started', async () => {
  await expect(e.bases.import({ disk: img('nope.qcow2'), name: 'bad' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^disk: no such file/) as unknown });
  await expect(e.bases.import({ disk: dir, name: 'bad' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/is not a regular file/) as unknown });
  expect((await e.operations.list()).operations.filter((o) => o.kind === 'import-base-disk' && o.state === 'running')).toEqual([]);
});
