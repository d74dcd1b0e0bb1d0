// Test and benchmark guests, built from Debian packages and cached (see README.md here): boot, save, restore,
// and the build of each guest's base and customized VM artifacts.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileDigest } from '../../engine/io/digest';
import { baseIdOf } from '../../engine/overlay/format';
import { GUEST_MAC, RouterAttachment, buildRouter, hostKey, removeRouter, routerNames } from '../../engine/net/plumbing';
import { BootDomainSpec, GuestNic, bootDomainXml, hasNic, instanceDomainXml } from '../../engine/vm/domain';
import { readSaveHeader } from '../../engine/vm/save-header';
import { ArchiveManifest, writeBaseArchive } from '../../engine/store/archive';
import { AgentExecResult, AgentTransport, agentExec, agentPing, agentWriteFile } from '../../engine/vm/qemu-agent';
import { AgentCommand, VirshSession, prepareEmbedRoot, virshAgentCommand } from '../../engine/vm/virsh';

import { defaultMetaData, writeSeedIso } from '../../engine/image/cloud-init-seed';
import { SEED_DRIVE } from '../../engine/vm/domain';
import { waitUntilReady } from '../../engine/vm/readiness';
import { cacheRoot, log, resolveScript, withBuildLock } from './cache';
import { appCommands, appFiles } from './cloud-app';
import { CLOUD_IMAGE_VERSION, ensureCloudImage } from './cloud-image';

export { cacheRoot } from './cache';

/** tiny and realistic boot a kernel directly; cloud is the cloud-style image, booted by its own GRUB. */
export type GuestName = 'tiny' | 'realistic' | 'cloud';
export const GUEST_VERSION = 8;
/** Cloud guests are built from the cloud image, so a new image makes new guests too. */
const CLOUD_GUEST_VERSION = `${GUEST_VERSION}-image${CLOUD_IMAGE_VERSION}`;

export interface GuestManifest {
  name: GuestName;
  version: number;
  memoryMiB: number;
  diskBytes: number;
  counterAtBaseSave: number;
  counterAtCustomSave: number;
  customMarker: string;
  /** md5 of /run/app-state, application state kept only in the customized VM's memory (tmpfs). */
  appStateMd5: string;
  /** A file the customization wrote to disk, and its md5 (read back with caches dropped). */
  diskFile: string;
  diskFileMd5: string;
  buildSeconds: number;
  files: Record<string, string>;
}

export interface GuestArtifacts {
  dir: string;
  kernel: string;
  initrd: string;
  baseDisk: string;
  baseMemory: string;
  customDisk: string;
  customMemory: string;
  manifest: GuestManifest;
}

const SPECS: Record<Exclude<GuestName, 'cloud'>, { memoryMiB: number; cmdline: string }> = {
  tiny: { memoryMiB: 256, cmdline: 'console=ttyS0 quiet panic=-1' },
  realistic: { memoryMiB: 512, cmdline: 'console=ttyS0 quiet panic=-1 cloudlet.root=/dev/vda' },
};

function artifacts(dir: string, manifest: GuestManifest): GuestArtifacts {
  return {
    dir,
    kernel: path.join(dir, 'kernel'),
    initrd: path.join(dir, 'initrd.img'),
    baseDisk: path.join(dir, 'base', 'disk.raw'),
    baseMemory: path.join(dir, 'base', 'memory.save'),
    customDisk: path.join(dir, 'custom', 'disk.qcow2'),
    customMemory: path.join(dir, 'custom', 'memory.save'),
    manifest,
  };
}

/** A running guest on its own embedded libvirt root, reached through its QEMU guest agent (as the engine does). */
export class RunningGuest implements AgentTransport {
  constructor(
    readonly virsh: VirshSession,
    readonly name: string,
    readonly consoleLog: string,
    /** The VM's router (engine/net/plumbing.ts), removed with the VM. */
    readonly router?: GuestRouter,
  ) {}

  agentCommand(domain: string, command: AgentCommand, timeoutS: number): Promise<unknown> {
    return virshAgentCommand((cmd, ms) => this.virsh.run(cmd, ms), domain, command, timeoutS);
  }

  exec(cmd: string, timeoutMs = 60000): Promise<AgentExecResult> {
    return agentExec(this, this.name, cmd, timeoutMs);
  }

  async execOk(cmd: string, timeoutMs = 60000): Promise<string> {
    const r = await this.exec(cmd, timeoutMs);
    if (r.code !== 0) throw new Error(`guest command failed (${r.code}): ${cmd}\n${r.stdout}`);
    return r.stdout;
  }

  async counter(): Promise<number> {
    return Number((await this.execOk('cat /run/counter')).trim());
  }

  /** libvirt's word for the VM's state (`running`, `paused`, ...). */
  async state(): Promise<string> {
    return (await this.virsh.run(`domstate ${this.name}`)).trim();
  }

  async save(file: string): Promise<void> {
    await this.virsh.run(`save ${this.name} ${file}`, 600000);
    await this.virsh.close(true);
    await this.router?.remove();
  }

  async destroy(): Promise<void> {
    try {
      await this.virsh.run(`destroy ${this.name}`);
    } catch {
      // already gone
    }
    await this.virsh.close(true);
    await this.router?.remove();
  }
}

/** A router with no networks (the guest reaches nothing but its DHCP server), as the engine builds for a base's first boot. */
export interface GuestRouter {
  nic: GuestNic;
  remove(): Promise<void>;
}

export async function guestRouter(workDir: string, attachments: RouterAttachment[] = []): Promise<GuestRouter> {
  const key = hostKey('test-guest', path.resolve(workDir));
  const dir = path.join(workDir, 'router');
  await buildRouter({ key, attachments, dir });
  const n = routerNames(key);
  return { nic: { bridge: n.guestBridge, tap: n.tap, mac: GUEST_MAC }, remove: () => removeRouter(key, dir) };
}

/** Boots a VM with a network card on a router of its own (built here, removed with the VM). */
export async function bootGuest(workDir: string, spec: BootDomainSpec, readyTimeoutMs = 300000): Promise<RunningGuest> {
  fs.mkdirSync(workDir, { recursive: true });
  const virsh = new VirshSession(prepareEmbedRoot(shortRoot()));
  const xmlFile = path.join(workDir, 'domain.xml');
  const router = await guestRouter(workDir);
  fs.writeFileSync(xmlFile, bootDomainXml({ ...spec, nic: router.nic }));
  try {
    await virsh.run(`create ${xmlFile}`);
  } catch (e) {
    await router.remove();
    await virsh.close(true);
    throw e;
  }
  const g = new RunningGuest(virsh, spec.name, spec.consoleLog, router);
  try {
    // Poll until the agent answers; a guest that stops (powers off) fails fast. One that panics reboots
    // (panic=-1, on_reboot=restart) and fails by the timeout, with its console in the error.
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (await agentPing(g, spec.name, 3)) break;
      // Not back to back: libvirt must get to the agent channel's connect event between attempts.
      await new Promise((r) => setTimeout(r, 1000));
      if (Date.now() > deadline) throw new Error(`no answer from the guest agent in ${readyTimeoutMs} ms`);
      const st = await g.state().catch(() => 'gone');
      if (!st.startsWith('running')) throw new Error(`guest stopped while booting (state: ${st})`);
    }
  } catch (e) {
    const log = fs.existsSync(spec.consoleLog) ? fs.readFileSync(spec.consoleLog, 'utf8').slice(-3000) : '(no console log)';
    await g.destroy();
    throw new Error(`guest did not become ready: ${(e as Error).message}\nconsole:\n${log}`);
  }
  return g;
}

/**
 * Restores a save file as a running VM with its disk and control socket moved to new paths (the XML stored
 * in the save names the paths of the VM that was saved).
 */
export async function restoreGuest(o: { memory: string; disk: string; workDir: string; name?: string; attachments?: RouterAttachment[] }): Promise<RunningGuest> {
  fs.mkdirSync(o.workDir, { recursive: true });
  const root = shortRoot();
  const virsh = new VirshSession(prepareEmbedRoot(root));
  const saved = readSaveHeader(o.memory).xml;
  const consoleLog = path.join(o.workDir, 'console.log');
  const name = (/<name>([^<]+)<\/name>/.exec(saved) ?? [])[1];
  const uuid = (/<uuid>([^<]+)<\/uuid>/.exec(saved) ?? [])[1];
  const magic = Buffer.alloc(4);
  const fd = fs.openSync(o.disk, 'r');
  fs.readSync(fd, magic, 0, 4, 0);
  fs.closeSync(fd);
  const format = magic.toString('latin1') === 'QFI\xfb' ? 'qcow2' : 'raw';
  const router = hasNic(saved) ? await guestRouter(o.workDir, o.attachments) : undefined;
  const xml = instanceDomainXml(saved, { name, uuid, disk: path.resolve(o.disk), diskFormat: format, agentSocket: path.join(root, 'qga.sock'), consoleLog, nic: router?.nic });
  const xmlFile = path.join(o.workDir, 'restore.xml');
  fs.writeFileSync(xmlFile, xml);
  try {
    await virsh.run(`restore ${o.memory} --xml ${xmlFile} --running`, 600000);
  } catch (e) {
    await router?.remove();
    await virsh.close(true);
    throw e;
  }
  return new RunningGuest(virsh, name, consoleLog, router);
}

/**
 * A short directory for an embedded libvirt root: libvirt puts the QEMU monitor socket under it, and unix
 * socket paths must stay under 108 bytes. Callers' work directories can be deep.
 */
export function shortRoot(): string {
  return fs.mkdtempSync('/tmp/clv-');
}

/** Returns the cached guest, building it first if needed (tiny: about a minute; realistic: several). */
export async function ensureGuest(name: GuestName): Promise<GuestArtifacts> {
  const dir = path.join(cacheRoot(), `${name}-v${name === 'cloud' ? CLOUD_GUEST_VERSION : GUEST_VERSION}`);
  const mf = path.join(dir, 'manifest.json');
  if (fs.existsSync(mf)) return artifacts(dir, JSON.parse(fs.readFileSync(mf, 'utf8')) as GuestManifest);
  return withBuildLock(dir, () => (name === 'cloud' ? buildCloudGuest(dir) : buildGuest(name, dir)));
}

/** cloud-init user data of the cloud guest's base: the same memory-only counter the other guests run. */
const CLOUD_BASE_USER_DATA = `#cloud-config
write_files:
  - path: /usr/local/sbin/cloudlet-counter
    permissions: '0755'
    content: |
      #!/bin/sh
      c=0
      while :; do c=$((c+1)); echo $c > /run/counter.tmp && mv /run/counter.tmp /run/counter; sleep 1; done
  - path: /etc/systemd/system/cloudlet-counter.service
    content: |
      [Unit]
      Description=memory-only counter (cloudlet test workload)
      [Service]
      ExecStart=/usr/local/sbin/cloudlet-counter
      [Install]
      WantedBy=multi-user.target
runcmd:
  - [systemctl, daemon-reload]
  - [systemctl, enable, --now, cloudlet-counter.service]
  - [mkdir, -p, /data]
`;

/** Rows of 64 KiB in the cloud guest's application database: 56 MiB. */
export const CLOUD_APP_ROWS = 896;

/** What a guest build measured; the rest of the manifest is filled in by finishManifest. */
type BuiltFacts = Omit<GuestManifest, 'version' | 'diskBytes' | 'buildSeconds' | 'files'>;

/** Digests the built files and writes the manifest into the build directory. */
async function finishManifest(tmp: string, facts: BuiltFacts, fileNames: string[], t0: number): Promise<void> {
  const files: Record<string, string> = {};
  for (const f of fileNames) files[f] = await fileDigest(path.join(tmp, f));
  const manifest: GuestManifest = {
    ...facts,
    version: GUEST_VERSION,
    diskBytes: fs.statSync(path.join(tmp, 'base', 'disk.raw')).size,
    buildSeconds: Math.round((Date.now() - t0) / 1000),
    files,
  };
  fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}

/**
 * Builds a guest in `<dir>.build-PID` and renames it to `dir` when done. While it builds, `dir` is a symlink
 * to the build directory, so the paths saved in the VMs' XML are the final ones. A failed build is removed
 * (kept with CLOUDLET_KEEP_FAILED_GUEST=1).
 */
async function stagedBuild(name: GuestName, dir: string, build: (tmp: string, final: (p: string) => string) => Promise<void>): Promise<GuestArtifacts> {
  const mf = path.join(dir, 'manifest.json');
  // Built by another process while this one waited for the lock.
  if (fs.existsSync(mf)) return artifacts(dir, JSON.parse(fs.readFileSync(mf, 'utf8')) as GuestManifest);
  const t0 = Date.now();
  fs.mkdirSync(cacheRoot(), { recursive: true });
  const tmp = `${dir}.build-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'base'), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'custom'), { recursive: true });
  try {
    log(`building ${name} in ${tmp}`);
    await build(tmp, (p: string) => path.join(dir, path.relative(tmp, p)));
    fs.rmSync(path.join(tmp, 'run'), { recursive: true, force: true });
    fs.rmSync(dir, { force: true }); // the symlink
    fs.renameSync(tmp, dir);
    log(`${name} ready in ${dir} (${Math.round((Date.now() - t0) / 1000)} s)`);
    return artifacts(dir, JSON.parse(fs.readFileSync(mf, 'utf8')) as GuestManifest);
  } catch (e) {
    if (fs.lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) fs.rmSync(dir, { force: true });
    if (process.env.CLOUDLET_KEEP_FAILED_GUEST) log(`kept the failed build in ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Points `dir` at the build directory while the guest's VMs run (see stagedBuild). */
function linkFinal(dir: string, tmp: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.symlinkSync(tmp, dir);
}

/**
 * The cloud-style guest as benchmark artifacts of the same shape as the others: its image booted by its own
 * GRUB with a cloud-init seed (1 GiB RAM), saved once cloud-init and systemd are done (base), then restored on
 * a qcow2 layer and made into the application through the QEMU guest agent only: nginx in front of a Python
 * service over a 56 MiB SQLite database (custom).
 */
/**
 * The cloud-style guest at another RAM size, for the restore benchmark: its base also holds a working set of
 * `memoryMiB` / 2 (non-zero, not repeating page to page) in a tmpfs, as a base whose application has loaded
 * its data would, so its memory snapshot is not mostly zero pages. Cached like the others.
 */
export async function ensureSizedCloudGuest(memoryMiB: number): Promise<GuestArtifacts> {
  const dir = path.join(cacheRoot(), `cloud-${memoryMiB}m-v${CLOUD_GUEST_VERSION}`);
  const mf = path.join(dir, 'manifest.json');
  if (fs.existsSync(mf)) return artifacts(dir, JSON.parse(fs.readFileSync(mf, 'utf8')) as GuestManifest);
  return withBuildLock(dir, () => buildCloudGuest(dir, memoryMiB, memoryMiB / 2));
}

async function buildCloudGuest(dir: string, memoryMiB = 1024, workingSetMiB = 0): Promise<GuestArtifacts> {
  const t0 = Date.now();
  const img = await ensureCloudImage();
  return stagedBuild('cloud', dir, async (tmp, final) => {
    const run = path.join(tmp, 'run');
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', img.qcow2, path.join(tmp, 'base', 'disk.raw')]);
    const seed = await writeSeedIso(run, { userData: CLOUD_BASE_USER_DATA }, defaultMetaData('cloudlet-cloud-guest', 'cloud'));
    linkFinal(dir, tmp);
    log('booting the cloud image (GRUB, systemd, cloud-init)');
    const base = await bootGuest(path.join(run, 'base'), {
      name: 'cloudlet-cloud',
      memoryMiB,
      vcpus: 1,
      disk: { path: final(path.join(tmp, 'base', 'disk.raw')), format: 'raw' },
      agentSocket: path.join(shortRoot(), 'qga.sock'),
      consoleLog: path.join(run, 'base', 'console.log'),
      seedIso: seed,
    });
    const steps: string[] = [];
    const wait = {
      driver: base,
      domain: base.name,
      timeoutS: 600,
      check: () => undefined,
      progress: (s: string) => steps.push(s),
      sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
    };
    await waitUntilReady({ kind: 'auto' }, wait);
    log(`ready: ${steps.join(', ')}`);
    await base.virsh.run(`change-media ${base.name} ${SEED_DRIVE} --eject --live --force`);
    await base.execOk('i=0; while [ ! -s /run/counter ] && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done; sync');
    if (workingSetMiB > 0) {
      log(`loading a working set of ${workingSetMiB} MiB into the base's memory`);
      // Lines of 4001 bytes: every page differs from its neighbours, and the fill is fast even under TCG.
      await base.execOk(
        `mkdir -p /mnt/working-set && mount -t tmpfs -o size=${workingSetMiB + 16}m working-set /mnt/working-set && yes "$(head -c 3000 /dev/urandom | base64 -w0)" | head -c ${workingSetMiB}M > /mnt/working-set/data && sync`,
        900000,
      );
    }
    const counterAtBaseSave = await base.counter();
    log(`saving base VM (counter ${counterAtBaseSave})`);
    await base.save(path.join(tmp, 'base', 'memory.save'));

    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '../base/disk.raw', path.join(tmp, 'custom', 'disk.qcow2')]);
    log('restoring base VM onto the customized disk; installing the application through the guest agent');
    const custom = await restoreGuest({ memory: path.join(tmp, 'base', 'memory.save'), disk: final(path.join(tmp, 'custom', 'disk.qcow2')), workDir: path.join(run, 'custom') });
    const marker = `customized-${Date.now().toString(36)}`;
    try {
      for (const f of appFiles()) await agentWriteFile(custom, custom.name, f.path, Buffer.from(f.content), { mode: f.mode });
      for (const c of appCommands(CLOUD_APP_ROWS)) await custom.execOk(c, 900000);
      await custom.execOk(`echo ${marker} > /data/marker && head -c 3000000 /dev/urandom > /run/app-state && sync`);
    } catch (e) {
      await custom.destroy();
      throw e;
    }
    const appStateMd5 = (await custom.execOk('md5sum /run/app-state')).split(' ')[0];
    const diskFile = '/var/lib/cloudlet-app/app.db';
    const diskFileMd5 = (await custom.execOk(`md5sum ${diskFile}`)).split(' ')[0];
    const counterAtCustomSave = await custom.counter();
    log(`saving customized VM (counter ${counterAtCustomSave})`);
    await custom.save(path.join(tmp, 'custom', 'memory.save'));
    const facts = { name: 'cloud' as const, memoryMiB, counterAtBaseSave, counterAtCustomSave, customMarker: marker, appStateMd5, diskFile, diskFileMd5 };
    await finishManifest(tmp, facts, ['base/disk.raw', 'base/memory.save', 'custom/disk.qcow2', 'custom/memory.save'], t0);
  });
}

async function buildGuest(name: Exclude<GuestName, 'cloud'>, dir: string): Promise<GuestArtifacts> {
  const t0 = Date.now();
  return stagedBuild(name, dir, async (tmp, final) => {
    execFileSync('bash', [resolveScript(), name, tmp, cacheRoot()], { stdio: ['ignore', 'inherit', 'inherit'] });
    fs.renameSync(path.join(tmp, 'disk.raw'), path.join(tmp, 'base', 'disk.raw'));
    const spec = SPECS[name];
    const run = path.join(tmp, 'run');
    const common = { memoryMiB: spec.memoryMiB, vcpus: 1, kernel: { kernel: final(path.join(tmp, 'kernel')), initrd: final(path.join(tmp, 'initrd.img')), cmdline: spec.cmdline } };
    linkFinal(dir, tmp);
    log('booting base VM');
    const base = await bootGuest(path.join(run, 'base'), {
      name: `cloudlet-${name}`,
      ...common,
      disk: { path: final(path.join(tmp, 'base', 'disk.raw')), format: 'raw' },
      agentSocket: path.join(shortRoot(), 'qga.sock'),
      consoleLog: path.join(run, 'base', 'console.log'),
    });
    await new Promise((r) => setTimeout(r, 3000));
    const counterAtBaseSave = await base.counter();
    if (!(counterAtBaseSave > 0)) throw new Error('base workload is not counting');
    await base.execOk('sync');
    log(`saving base VM (counter ${counterAtBaseSave})`);
    await base.save(path.join(tmp, 'base', 'memory.save'));

    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '../base/disk.raw', path.join(tmp, 'custom', 'disk.qcow2')]);
    log('restoring base VM onto the customized disk');
    const payload = name === 'realistic' ? path.join(tmp, 'payload.raw') : null;
    const custom = await restoreGuest({ memory: path.join(tmp, 'base', 'memory.save'), disk: final(path.join(tmp, 'custom', 'disk.qcow2')), workDir: path.join(run, 'custom') });
    const marker = `customized-${Date.now().toString(36)}`;
    try {
      if (payload) {
        await custom.virsh.run(`attach-disk ${custom.name} ${payload} vdb --targetbus virtio --driver qemu --subdriver raw --live`);
        await customizeRealistic(custom, marker);
        await custom.virsh.run(`detach-disk ${custom.name} vdb --live`);
        await new Promise((r) => setTimeout(r, 3000));
      } else {
        await customizeTiny(custom, marker);
      }
    } catch (e) {
      await custom.destroy();
      throw e;
    }
    const appStateMd5 = (await custom.execOk('md5sum /run/app-state')).split(' ')[0];
    const diskFile = name === 'tiny' ? '/data/random.bin' : '/srv/www/data-07.json';
    const diskFileMd5 = (await custom.execOk(`md5sum ${diskFile}`)).split(' ')[0];
    const counterAtCustomSave = await custom.counter();
    log(`saving customized VM (counter ${counterAtCustomSave})`);
    await custom.save(path.join(tmp, 'custom', 'memory.save'));
    if (payload) fs.rmSync(payload);
    const facts = { name, memoryMiB: spec.memoryMiB, counterAtBaseSave, counterAtCustomSave, customMarker: marker, appStateMd5, diskFile, diskFileMd5 };
    await finishManifest(tmp, facts, ['kernel', 'initrd.img', 'base/disk.raw', 'base/memory.save', 'custom/disk.qcow2', 'custom/memory.save'], t0);
  });
}

/**
 * The guest's base VM as a base archive (the format `cloudlet base import` reads), cached next to the guest.
 * Returns the archive path and the base id.
 */
export async function ensureBaseArchive(name: GuestName): Promise<{ file: string; baseId: string }> {
  return baseArchiveOf(await ensureGuest(name), `${name}-base`);
}

/** A built guest's base as a base archive, cached next to it (see ensureBaseArchive). */
export async function baseArchiveOf(g: GuestArtifacts, name: string): Promise<{ file: string; baseId: string }> {
  const file = path.join(g.dir, 'base.tar');
  const f = g.manifest.files;
  const baseId = baseIdOf(f['base/disk.raw'], f['base/memory.save']).toString('hex');
  if (fs.existsSync(file)) return { file, baseId };
  const entry = (n: string, rel: string) => ({ name: n, bytes: fs.statSync(path.join(g.dir, rel)).size, sha256: f[rel] });
  const manifest: ArchiveManifest = {
    format: 1,
    id: baseId,
    name,
    files: { disk: entry('disk.raw', 'base/disk.raw'), memory: entry('memory.save', 'base/memory.save') },
  };
  // Direct-kernel-boot guests carry their kernel and initrd; the cloud guest boots its own GRUB.
  if (f.kernel) manifest.files.kernel = entry('kernel', 'kernel');
  if (f['initrd.img']) manifest.files.initrd = entry('initrd.img', 'initrd.img');
  const tmp = `${file}.tmp-${process.pid}`;
  const out = fs.createWriteStream(tmp);
  await pipeline(Readable.from(writeBaseArchive(manifest, { disk: g.baseDisk, memory: g.baseMemory, kernel: f.kernel ? g.kernel : undefined, initrd: f['initrd.img'] ? g.initrd : undefined })), out);
  fs.renameSync(tmp, file);
  return { file, baseId };
}

async function customizeTiny(g: RunningGuest, marker: string): Promise<void> {
  await g.execOk("grep -q ' /data ext4 ' /proc/mounts");
  await g.execOk(`echo ${marker} > /data/marker`);
  await g.execOk('dd if=/dev/urandom of=/data/random.bin bs=64k count=64 2>/dev/null');
  await g.execOk('cp /bin/busybox /data/busybox.copy && cp /bin/busybox /data/busybox.copy2');
  await g.execOk('dd if=/dev/zero of=/data/zeros.bin bs=64k count=32 2>/dev/null');
  await g.execOk('dd if=/dev/urandom of=/run/app-state bs=64k count=48 2>/dev/null; cat /bin/busybox /bin/busybox > /run/app-cache');
  await g.execOk('sync');
}

async function customizeRealistic(g: RunningGuest, marker: string): Promise<void> {
  // The hot-plugged disk shows up once the guest has handled the ACPI event and probed it.
  await g.execOk('i=0; while [ ! -b /dev/vdb ] && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done; mkdir -p /mnt/payload && mount -t ext4 /dev/vdb /mnt/payload', 180000);
  log('installing python3 inside the guest (dpkg under TCG takes a few minutes)');
  // dpkg -i of the whole set refuses python3-minimal and python3 (their pre-dependencies are in the same set
  // but not yet configured), so install in three steps: libraries and python3.11, then the two of them.
  await g.execOk(
    'export DEBIAN_FRONTEND=noninteractive; cd /mnt/payload && { dpkg -i $(ls *.deb | grep -v -e "^python3-minimal_" -e "^python3_") && dpkg -i python3-minimal_*.deb && dpkg -i python3_*.deb; } > /var/log/payload-install.log 2>&1 || { grep -iE -B3 "error|fail" /var/log/payload-install.log | tail -40; exit 1; }',
    1800000,
  );
  await g.execOk('umount /mnt/payload');
  await g.execOk(`echo ${marker} > /data/marker`);
  await g.execOk('head -c 3000000 /dev/urandom > /run/app-state');
  await g.execOk(
    `mkdir -p /srv/www && python3 -c "
import json, random
random.seed(7)
for i in range(40):
    rows = [{'id': j, 'name': 'item-%d-%d' % (i, j), 'value': random.random(), 'tags': ['edge', 'cloudlet', str(j % 17)]} for j in range(1500)]
    open('/srv/www/data-%02d.json' % i, 'w').write(json.dumps(rows))
open('/srv/www/index.html', 'w').write('<h1>cloudlet app</h1>')
"`,
    600000,
  );
  await g.execOk('cd /srv/www && (python3 -m http.server 8000 --bind 127.0.0.1 > /var/log/app.log 2>&1 &) ; sleep 5');
  const page = await g.execOk(`python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/index.html').read().decode())"`, 120000);
  if (!page.includes('cloudlet app')) throw new Error(`web service did not answer: ${page}`);
  await g.execOk(`python3 -c "import urllib.request; [urllib.request.urlopen('http://127.0.0.1:8000/data-%02d.json' % i).read() for i in range(40)]"`, 300000);
  await g.execOk('sync');
}
