// The cloud-style guest as users bring it (test/vms/prepare-cloud.sh: GRUB on its own disk, systemd, Debian's
// stock qemu-guest-agent, cloud-init): imported as qcow2 with a cloud-init seed, as raw, and under UEFI, customized through
// the stock agent only (files and commands), captured as an overlay, synthesized on a second engine where the
// application answers with its data intact; a guest whose agent never answers times out clearly and leaves
// nothing behind.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSaveHeader } from '../../engine/vm/save-header';
import { TestEngine } from '../helpers/engine';
import { CLOUD_ROOT_OFFSET, CloudImage, cloudImageRaw, ensureCloudImage } from '../vms/cloud-image';
import { appCommands, appFiles, itemDigest } from '../vms/cloud-app';

jest.setTimeout(1800000);

const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdlDgEi8QOx7cGx7mX9cloudletTestKeyOnly0000000 test@cloudlet';
const USER_DATA = `#cloud-config
users:
  - name: edge
    shell: /bin/bash
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys:
      - ${SSH_KEY}
write_files:
  - path: /etc/cloudlet-seeded
    content: |
      written by cloud-init from the NoCloud seed
runcmd:
  - [sh, -c, 'echo runcmd-ran > /var/lib/cloudlet-runcmd']
`;
const ROWS = 96; // 6 MiB of rows: enough to be real data, small enough for the suite

let img: CloudImage;
let a: TestEngine;
let b: TestEngine;
let baseId = '';
let customId = '';

beforeAll(async () => {
  img = await ensureCloudImage();
  a = await TestEngine.start('cloud-a');
});

afterAll(async () => {
  await a?.destroy();
  await b?.destroy();
});

const sh = async (e: TestEngine, id: string, command: string) => {
  const r = await e.instances.exec(id, { command, timeoutSeconds: 120 });
  if (r.code !== 0) throw new Error(`${command}: exit ${r.code}: ${r.stdout}${r.stderr ?? ''}`);
  return r.stdout;
};

test('a qcow2 cloud image with a cloud-init seed: 1 GiB, 2 vCPUs, saved only after cloud-init and systemd are done', async () => {
  const v = await a.opOk((api) => api.bases.import({ disk: img.qcow2, name: 'cloud', memoryMiB: 1024, vcpus: 2, cloudInit: { userData: USER_DATA } }), 'cloud base import (qcow2)');
  const base = v.result.base;
  baseId = base.id;
  expect({ memoryMiB: base.memoryMiB, vcpus: base.vcpus, source: base.source }).toEqual({ memoryMiB: 1024, vcpus: 2, source: `disk image ${img.qcow2} (qcow2)` });
  // auto readiness resolved to the strictest this image supports, in order.
  expect(v.notes).toEqual(['guest agent answered', 'cloud-init: done', expect.stringMatching(/^systemd: boot finished/) as unknown]);
  // The seed was ejected before the snapshot: the saved VM has an empty CD-ROM drive, no seed file.
  const xml = readSaveHeader(path.join(a.stateDir, 'bases', base.id, 'memory.save')).xml;
  expect(xml).toMatch(/<disk type='file' device='cdrom'>/);
  expect(xml).not.toMatch(/seed\.iso/);
  // No user data anywhere in the engine's state or log (it may hold secrets); the guest's disk and memory (the
  // snapshot, and the image of its RAM that instances map) are the guest's business.
  const grep = spawnSync('grep', ['-rl', 'echo runcmd-ran', a.stateDir, '--exclude=disk.raw', '--exclude=memory.save', '--exclude=memory.ram'], { encoding: 'utf8' });
  expect({ status: grep.status, files: grep.stdout }).toEqual({ status: 1, files: '' });
  expect(a.log).not.toContain('runcmd-ran');
});

test('the resumed VM: cloud-init user data applied, no reboot, customized through the stock agent only', async () => {
  const v = await a.opOk((api) => api.instances.create({ name: 'cloud-custom', baseId }), 'resume');
  customId = v.result.instance.id;
  expect(await sh(a, customId, 'cat /etc/cloudlet-seeded')).toBe('written by cloud-init from the NoCloud seed\n');
  expect(await sh(a, customId, 'cat /var/lib/cloudlet-runcmd')).toBe('runcmd-ran\n');
  expect(await sh(a, customId, 'cat /home/edge/.ssh/authorized_keys')).toContain(SSH_KEY);
  expect((await sh(a, customId, 'nproc')).trim()).toBe('2');
  expect((await sh(a, customId, 'systemctl is-system-running || true')).trim()).toMatch(/^(running|degraded)$/);
  expect((await sh(a, customId, 'cloud-init status')).trim()).toBe('status: done');
  // The seed's drive is empty in the running VM.
  expect((await sh(a, customId, 'blkid -L cidata || echo none')).trim()).toBe('none');
  // Files through the agent's file commands, then commands: the application and its data.
  for (const f of appFiles()) await a.instances.writeFile(customId, { path: f.path, contentBase64: Buffer.from(f.content).toString('base64'), mode: f.mode });
  const back = await a.instances.readFile(customId, { path: '/opt/cloudlet-app/app.py' });
  expect(Buffer.from(back.contentBase64, 'base64').toString()).toBe(appFiles()[0].content);
  expect((await sh(a, customId, 'stat -c %a /opt/cloudlet-app/app.py')).trim()).toBe('755');
  for (const c of appCommands(ROWS)) await sh(a, customId, c);
  const answer = JSON.parse(await sh(a, customId, 'curl -fsS http://127.0.0.1/')) as { rows: number; bytes: number };
  expect(answer).toMatchObject({ rows: ROWS, bytes: ROWS * 65536 });
  const ifs = await a.instances.interfaces(customId);
  expect(ifs.interfaces.find((i) => i.name === 'lo')?.addresses).toContainEqual({ type: 'ipv4', address: '127.0.0.1', prefix: 8 });
});

test('overlay of the customized VM, synthesized on a second engine: the application answers with its data', async () => {
  const cap = await a.opOk((api) => api.overlays.import({ instanceId: customId }), 'overlay capture');
  const overlay = cap.result.overlay;
  b = await TestEngine.start('cloud-b');
  const archive = path.join(b.stateDir, '..', 'cloud-base.tar');
  await a.client.downloadBaseArchive(baseId, archive);
  await b.opOk((api) => api.bases.import({ source: archive, sha256: baseId }), 'base import on b');
  fs.rmSync(archive, { force: true });
  const ovl = path.join(b.stateDir, '..', 'cloud.overlay');
  await a.client.downloadOverlay(overlay.id, ovl);
  const s = await b.opOk((api) => api.instances.create({ name: 'cloud-synth', baseId, overlay: { url: ovl, sha256: overlay.id } }), 'synthesis on b');
  const id = s.result.instance.id;
  const answer = JSON.parse(await sh(b, id, 'curl -fsS http://127.0.0.1/')) as { host: string; rows: number; bytes: number };
  expect(answer).toEqual({ host: 'cloud-synth', rows: ROWS, bytes: ROWS * 65536 });
  for (const i of [0, 37, ROWS - 1]) expect(JSON.parse(await sh(b, id, `curl -fsS http://127.0.0.1/item/${i}`))).toEqual({ sha256: itemDigest(i) });
  // Its own identity: a machine id other than the customized VM's, its clock the host's.
  expect((await sh(b, id, 'cat /etc/machine-id')).trim()).not.toBe((await sh(a, customId, 'cat /etc/machine-id')).trim());
  expect(Math.abs(Number(await sh(b, id, 'date +%s')) - Date.now() / 1000)).toBeLessThan(10);
});

// One boot for two facts (each boot of this image costs about two minutes under TCG): the image as a raw file,
// ready when a port answers inside the guest, booted by its EFI loader under OVMF.
test('the same image as raw under UEFI (OVMF), ready when a port answers inside the guest; each instance with its own variable store', async () => {
  const raw = await cloudImageRaw(img);
  const v = await a.opOk((api) => api.bases.import({ disk: raw, name: 'cloud-raw-uefi', memoryMiB: 1024, firmware: 'uefi', ready: 'tcp:22' }), 'cloud base import (raw, uefi)');
  expect(v.result.base.source).toBe(`disk image ${raw} (raw)`);
  expect(v.notes).toEqual(['guest agent answered', 'TCP port 22 answered']);
  const xml = readSaveHeader(path.join(a.stateDir, 'bases', v.result.base.id, 'memory.save')).xml;
  expect(xml).toMatch(/<loader[^>]*type='pflash'[^>]*>\/usr\/share\/OVMF\/OVMF_CODE/);
  const r = await a.opOk((api) => api.instances.create({ name: 'cloud-uefi-vm', baseId: v.result.base.id }), 'resume raw uefi');
  const id = r.result.instance.id;
  expect((await sh(a, id, 'systemctl is-active ssh')).trim()).toBe('active');
  expect((await sh(a, id, '[ -d /sys/firmware/efi ] && echo efi')).trim()).toBe('efi');
  expect(fs.existsSync(path.join(a.stateDir, 'instances', id, 'nvram.fd'))).toBe(true);
  await a.instances.delete(id);
  expect(fs.existsSync(path.join(a.stateDir, 'instances', id))).toBe(false);
  await a.bases.delete(v.result.base.id);
});

test('a guest whose agent never answers: a readiness timeout naming the agent, the console kept, nothing left behind', async () => {
  const before = { bases: (await a.bases.list()).bases.length, tmp: fs.readdirSync(path.join(a.stateDir, 'tmp')).length };
  // The same image without the agent's binary (removed from the root file system in place with debugfs).
  const mute = path.join(a.stateDir, '..', 'mute.raw');
  execFileSync('cp', ['--sparse=always', await cloudImageRaw(img), mute]);
  execFileSync('debugfs', ['-w', '-R', 'rm /usr/sbin/qemu-ga', `${mute}?offset=${CLOUD_ROOT_OFFSET}`], { stdio: 'ignore' });
  const v = await a.op((api) => api.bases.import({ disk: mute, name: 'cloud-mute', memoryMiB: 1024, ready: 'agent', readyTimeoutSeconds: 25 }));
  fs.rmSync(mute, { force: true });
  expect(v.state).toBe('failed');
  expect(v.error?.code).toBe('GUEST_AGENT');
  expect(v.error?.message).toMatch(/no QEMU guest agent answered on the org\.qemu\.guest_agent\.0 channel within 25 s/);
  expect(v.error?.message).toMatch(/last lines of the guest console/);
  // The console kept what the guest printed (the kernel's banner comes first, over ttyS0).
  expect(v.consoleLog && fs.readFileSync(v.consoleLog, 'utf8')).toMatch(/Linux version \d+\.\d+/);
  expect((await a.bases.list()).bases.length).toBe(before.bases);
  expect(fs.readdirSync(path.join(a.stateDir, 'tmp')).length).toBe(before.tmp);
  // Its VM is gone: no QEMU process of the import's domain.
  expect(spawnSync('pgrep', ['-f', `guest=cl-import-${v.id.slice(3)}`]).status).toBe(1);
});
