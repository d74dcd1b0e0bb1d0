// The engine's VM driver: start, save, restore, list and destroy domains on one libvirt connection. Every
// call goes through one long-lived virsh (see virsh.ts for why), restarted if it dies; VMs outlive it.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudletError } from '../errors';
import { FifoFeed } from '../io/fifo-feed';
import { QemuCapabilities, cpuModelsFrom, machinesFrom } from './capabilities';
import { MAIN_RAM_BLOCK } from '../image/savefile';
import { hypervisorType, probeDomainXml } from './domain';
import { AgentCommand, VirshSession, prepareEmbedRoot, virshAgentCommand } from './virsh';

/** How many ids ahead a memory image is linked in for (see restoreMapped). */
const RAM_LINK_IDS = 16;
/** libvirt's short domain name: `<id>-<name>`, the name cut to this many characters. */
const SHORT_NAME_CHARS = 20;

export type DomainState = 'running' | 'paused' | 'shut off' | 'crashed' | 'other';

export class VmDriver {
  private session: VirshSession;
  private closed = false;

  private constructor(readonly uri: string) {
    this.session = new VirshSession(uri);
  }

  /**
   * Opens a connection; for the embedded driver, prepares its root first. `leftoverPipes` lists the named
   * pipes a killed engine's restore may still be waiting on (see outliveOrphanDriver).
   */
  static async open(uri: string, log: (line: string) => void = () => undefined, leftoverPipes: () => string[] = () => []): Promise<VmDriver> {
    const m = /^qemu:\/\/\/embed\?root=(.+)$/.exec(uri);
    if (m) {
      prepareEmbedRoot(m[1]);
      await outliveOrphanDriver(m[1], log, leftoverPipes);
    }
    const d = new VmDriver(uri);
    try {
      await d.run('uri', 30000);
      // On open, the embedded driver reconnects to QEMU processes it finds in its root in background threads;
      // commands issued before that settles can see a domain vanish. With domains to reconnect to, wait a
      // moment and list again; with none (most starts), there is nothing to wait for.
      if ((await d.list()).size > 0) {
        await new Promise((r) => setTimeout(r, 1000));
        await d.run('list --all');
      }
    } catch (e) {
      await d.close();
      throw e;
    }
    return d;
  }

  private warm: Promise<void> | null = null;

  /**
   * Starts and removes a minimal paused domain if libvirt has not yet probed QEMU's capabilities for this root.
   * It does that on the first domain start and caches the result in the root; that start is seconds slower,
   * and a handoff restores its VM while the guest is paused, so the probe must be over by then. `dir` holds
   * the throwaway XML.
   */
  warmUp(dir: string): Promise<void> {
    const root = this.embedRoot;
    // A system libvirtd has long probed; an embedded root keeps its probe in cache/qemu/capabilities.
    if (root === undefined) return Promise.resolve();
    let probed = false;
    try {
      probed = fs.readdirSync(path.join(root, 'cache', 'qemu', 'capabilities')).length > 0;
    } catch {
      probed = false;
    }
    if (probed) return Promise.resolve();
    this.warm ??= (async () => {
      const name = `cl-warmup-${process.pid}`;
      const xml = path.join(dir, `${name}.xml`);
      fs.writeFileSync(xml, probeDomainXml(name));
      try {
        await this.run(`create ${quote(xml)} --paused`, 120000);
        await this.destroy(name);
      } catch {
        // Only an optimisation: the first real start then pays for the probe.
      } finally {
        fs.rmSync(xml, { force: true });
      }
    })();
    return this.warm;
  }

  /** The URI without the embedded root's path (for logs and info). */
  get shownUri(): string {
    return this.uri.replace(/root=.*/, 'root=…');
  }

  get embedded(): boolean {
    return this.uri.startsWith('qemu:///embed');
  }

  private async run(cmd: string, timeoutMs = 120000): Promise<string> {
    if (this.closed) throw new CloudletError('VM_FAILED', `libvirt connection closed; cannot run: ${cmd}`);
    if (!this.session.alive) this.session = new VirshSession(this.uri);
    try {
      return await this.session.run(cmd, timeoutMs);
    } catch (e) {
      throw new CloudletError('VM_FAILED', (e as Error).message.replace(/^virsh /, 'libvirt: '), e);
    }
  }

  private caps: Promise<QemuCapabilities> | null = null;

  /** The machine types and CPU models this QEMU offers under the hypervisor in use (asked once per engine). */
  capabilities(): Promise<QemuCapabilities> {
    this.caps ??= (async () => {
      const machines = machinesFrom(await this.run('capabilities'));
      const cpuModels = cpuModelsFrom(await this.run(`domcapabilities --arch x86_64 --virttype ${hypervisorType() === 'kvm' ? 'kvm' : 'qemu'}`));
      return { machines, cpuModels };
    })();
    this.caps.catch(() => (this.caps = null));
    return this.caps;
  }

  /** One QEMU guest agent command, carried by libvirt over the VM's agent channel (see virshAgentCommand). */
  agentCommand(name: string, command: AgentCommand, timeoutS: number): Promise<unknown> {
    return virshAgentCommand((cmd, ms) => this.run(cmd, ms), name, command, timeoutS);
  }

  /** Every domain libvirt knows, by name. */
  async list(): Promise<Map<string, DomainState>> {
    return new Map((await this.domains()).map((d) => [d.name, d.state]));
  }

  /** Every domain libvirt knows, with its id while it runs; keeps highestId up to date. */
  private async domains(): Promise<{ id: number | null; name: string; state: DomainState }[]> {
    const r: { id: number | null; name: string; state: DomainState }[] = [];
    for (const line of (await this.run('list --all')).split('\n')) {
      const m = /^\s*(\d+|-)\s+(\S+)\s+(.+?)\s*$/.exec(line);
      if (!m) continue;
      const id = m[1] === '-' ? null : Number(m[1]);
      if (id !== null && id > this.highestId) this.highestId = id;
      r.push({ id, name: m[2], state: normalize(m[3]) });
    }
    return r;
  }

  async state(name: string): Promise<DomainState | null> {
    return (await this.list()).get(name) ?? null;
  }

  /** Starts a transient domain from an XML file. */
  async create(xmlFile: string): Promise<void> {
    await this.run(`create ${quote(xmlFile)}`, 120000);
  }

  /**
   * Restores a save file (using the domain XML stored in it) and leaves it running, or paused. With `ramImage`,
   * the domain's XML maps its RAM from a file (domain.ts withRamBacking) and that file is to be `ramImage`: see
   * restoreMapped.
   */
  /**
   * Restores a VM from a save file. `once`: the file is a stream that can be read only once (a named pipe), so
   * a mapped restore that got an id its image was not linked for is not tried again: it fails.
   */
  async restore(saveFile: string, opts: { paused?: boolean; ramImage?: { domain: string; image: string }; once?: boolean } = {}): Promise<void> {
    if (opts.ramImage) return this.restoreMapped(saveFile, opts.ramImage.domain, opts.ramImage.image, opts.paused ?? false, opts.once ? 1 : 3);
    await this.run(`restore ${quote(saveFile)} ${opts.paused ? '--paused' : '--running'}`, 900000);
  }

  private backingDir: string | null | undefined;

  /**
   * Where libvirt puts the files behind file-backed guest RAM (qemu.conf memory_backing_dir), if known. Read once:
   * libvirt itself reads qemu.conf only when it starts.
   */
  get ramBackingDir(): string | null {
    if (this.backingDir !== undefined) return this.backingDir;
    const root = this.embedRoot;
    if (root !== undefined) return (this.backingDir = path.join(root, 'lib', 'qemu', 'ram'));
    if (this.uri !== 'qemu:///system') return (this.backingDir = null);
    let conf = '';
    try {
      conf = fs.readFileSync('/etc/libvirt/qemu.conf', 'utf8');
    } catch {
      // no qemu.conf: libvirt's default
    }
    return (this.backingDir = /^\s*memory_backing_dir\s*=\s*"([^"]+)"/m.exec(conf)?.[1] ?? '/var/lib/libvirt/qemu/ram');
  }

  /** The directory libvirt gives domain `name` with id `id` under `dir` for its RAM file. */
  private static ramLinkDir(dir: string, id: number, name: string): string {
    return path.join(dir, `${id}-${name.slice(0, SHORT_NAME_CHARS)}`);
  }

  /**
   * Removes memory-image links a restore left when the engine stopped in the middle of it (restoreMapped):
   * directories of `prefix` domains holding a link, where no running domain has that id and name. Files libvirt
   * or QEMU made are never touched. Returns how many went.
   */
  async sweepRamLinks(prefix: string): Promise<number> {
    const dir = this.ramBackingDir;
    if (!dir || !fs.existsSync(dir)) return 0;
    const running = new Set((await this.domains()).flatMap((d) => (d.id === null ? [] : [VmDriver.ramLinkDir(dir, d.id, d.name)])));
    let removed = 0;
    for (const d of fs.readdirSync(dir)) {
      if (!/^\d+-/.test(d) || !d.slice(d.indexOf('-') + 1).startsWith(prefix) || running.has(path.join(dir, d))) continue;
      const link = path.join(dir, d, MAIN_RAM_BLOCK);
      if (!fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) continue;
      fs.rmSync(path.join(dir, d), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /** The highest domain id seen on this connection: libvirt numbers started domains upwards from it. */
  private highestId = 0;

  /**
   * libvirt names the RAM file `<memory_backing_dir>/<id>-<first 20 characters of the name>/pc.ram`, and the id
   * is only known once the domain starts. So the image is linked in for the next ids it can get (ids only grow;
   * other domains starting meanwhile take some), the domain is restored paused, and the link its id found is
   * checked before the guest runs a single instruction: a domain that came up on a file of its own (an id beyond
   * the links) is destroyed and restored again above that id. Links of ids not taken are removed at once.
   */
  private async restoreMapped(saveFile: string, domain: string, image: string, paused: boolean, tries: number): Promise<void> {
    const dir = this.ramBackingDir;
    if (!dir) throw new CloudletError('VM_FAILED', `libvirt at ${this.shownUri}: where it keeps file-backed guest memory is not known`);
    await this.domains(); // brings highestId up to the running domains
    let from = this.highestId + 1;
    for (let attempt = 0; attempt < tries; attempt++) {
      const links: string[] = [];
      for (let id = from; id < from + RAM_LINK_IDS; id++) {
        const d = VmDriver.ramLinkDir(dir, id, domain);
        fs.mkdirSync(d, { recursive: true, mode: 0o700 });
        // libvirt names the file after the memory backend's alias, which is the RAM block's name.
        const link = path.join(d, MAIN_RAM_BLOCK);
        fs.rmSync(link, { force: true });
        fs.symlinkSync(image, link);
        links.push(d);
      }
      let id = -1;
      try {
        await this.run(`restore ${quote(saveFile)} --paused`, 900000).catch((e: Error) => {
          // QEMU says "can't open backing store ... for guest RAM" when its user may not open the image.
          if (/backing store/i.test(e.message))
            throw new CloudletError(
              'VM_FAILED',
              `${e.message}\nQEMU could not open the base's memory image ${image}: run QEMU as root (qemu.conf user = "root") or start the engine with --no-ram-mapping`,
              e,
            );
          throw e;
        });
        id = Number((await this.run(`domid ${quote(domain)}`)).trim());
        if (id > this.highestId) this.highestId = id;
      } finally {
        for (const d of links) if (d !== VmDriver.ramLinkDir(dir, id, domain)) fs.rmSync(d, { recursive: true, force: true });
      }
      const used = path.join(VmDriver.ramLinkDir(dir, id, domain), MAIN_RAM_BLOCK);
      if (fs.lstatSync(used, { throwIfNoEntry: false })?.isSymbolicLink() && fs.readlinkSync(used) === image) {
        if (!paused) await this.resume(domain);
        return;
      }
      await this.destroy(domain);
      from = Math.max(from + RAM_LINK_IDS, id + 1);
    }
    throw new CloudletError('VM_FAILED', `libvirt kept giving ${domain} ids beyond the ones its memory image was linked for; nothing was run`);
  }

  /** The embedded driver's root directory, or undefined for a libvirtd URI. */
  private get embedRoot(): string | undefined {
    return /^qemu:\/\/\/embed\?root=(.+)$/.exec(this.uri)?.[1];
  }

  /** Runs a QEMU monitor (HMP) command on a running domain and returns its output. */
  async monitor(name: string, hmp: string): Promise<string> {
    return this.run(`qemu-monitor-command ${quote(name)} --hmp ${JSON.stringify(hmp)}`, 60000);
  }

  /** The process id of the QEMU running a domain, from the pid file libvirt keeps for it. */
  qemuPid(name: string): number {
    const root = this.embedRoot;
    const file = root !== undefined ? path.join(root, 'run', 'qemu', `${name}.pid`) : `/run/libvirt/qemu/${name}.pid`;
    let pid = NaN;
    try {
      pid = Number(fs.readFileSync(file, 'utf8').trim());
    } catch (e) {
      throw new CloudletError('VM_FAILED', `no QEMU process is on record for ${name} (${file}: ${(e as Error).message})`, e);
    }
    const cmdline = fs.existsSync(`/proc/${pid}/cmdline`) ? fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
    if (!(pid > 0) || !cmdline.includes(`guest=${name}`)) throw new CloudletError('VM_FAILED', `the QEMU process on record for ${name} (pid ${pid}) is not running it`);
    return pid;
  }

  /** The domain's XML as a migration destination needs it (no run-time-only details). */
  async migratableXml(name: string): Promise<string> {
    return this.run(`dumpxml ${quote(name)} --migratable`);
  }

  /** Saves a running VM's memory to a file; the domain stops. */
  async save(name: string, file: string): Promise<void> {
    await this.run(`save ${quote(name)} ${quote(file)}`, 900000);
  }

  /** Empties a removable drive (the cloud-init seed's CD-ROM); the drive stays, so the device set is unchanged. */
  async ejectMedia(name: string, target: string): Promise<void> {
    await this.run(`change-media ${quote(name)} ${quote(target)} --eject --live --force`, 60000);
  }

  async suspend(name: string): Promise<void> {
    await this.run(`suspend ${quote(name)}`);
  }

  async resume(name: string): Promise<void> {
    await this.run(`resume ${quote(name)}`);
  }

  /** Stops a domain at once; a domain that is already gone is not an error. */
  async destroy(name: string): Promise<void> {
    try {
      await this.run(`destroy ${quote(name)}`);
    } catch (e) {
      if (/not found|not running|no domain|failed to get domain/i.test((e as Error).message)) return;
      throw e;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.session.close(false);
  }
}

function normalize(s: string): DomainState {
  if (s === 'running' || s === 'paused' || s === 'shut off' || s === 'crashed') return s;
  if (s === 'in shutdown' || s === 'idle') return 'running';
  return 'other';
}

/** virsh splits its input lines on whitespace; quote paths for it. */
function quote(s: string): string {
  if (/['\n]/.test(s)) throw new CloudletError('INVALID_ARGUMENT', `path not usable with libvirt: ${JSON.stringify(s)}`);
  return `'${s}'`;
}

/**
 * The embedded driver's root holds QEMU monitor sockets, whose paths must stay under 108 bytes. A deep state
 * directory gets its root under /tmp, named after the state directory, with a symlink from the state dir.
 */
export function embedRootFor(stateDir: string): string {
  const inside = path.join(stateDir, 'libvirt');
  if (inside.length <= 48) {
    if (fs.lstatSync(inside, { throwIfNoEntry: false })?.isSymbolicLink()) fs.unlinkSync(inside);
    fs.mkdirSync(inside, { recursive: true });
    return inside;
  }
  const hash = createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 12);
  const short = `/tmp/cloudlet-embed-${hash}`;
  fs.mkdirSync(short, { recursive: true, mode: 0o700 });
  const link = fs.lstatSync(inside, { throwIfNoEntry: false });
  if (!link) fs.symlinkSync(short, inside);
  return short;
}

/**
 * The embedded driver lives in its virsh process, which holds `run/qemu/driver.pid` in the root. An engine
 * killed with kill -9 leaves that virsh behind: it finishes the command it was running (a restore, say) and
 * exits once it reads the end of its input. Until then no other driver can open the root, so wait for it
 * (the command it finishes is one recovery expects to find done or not), and stop it if it hangs. A restore
 * reading a named pipe (a handoff's early restore) would wait forever for a feeder that died with the
 * engine: such readers are let go (they see a truncated file, and the restore fails as recovery expects).
 */
async function outliveOrphanDriver(root: string, log: (line: string) => void, leftoverPipes: () => string[], waitMs = 300000): Promise<void> {
  let pid = 0;
  try {
    pid = Number(fs.readFileSync(path.join(root, 'run', 'qemu', 'driver.pid'), 'utf8').trim());
  } catch {
    return;
  }
  const isVirsh = (): boolean => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv[0].endsWith('virsh') && argv.some((a) => a.includes(`root=${root}`));
    } catch {
      return false;
    }
  };
  if (!(pid > 0) || pid === process.pid || !isVirsh()) return;
  log(`waiting for the embedded libvirt driver of a previous engine (virsh pid ${pid}) to finish its last command`);
  const deadline = Date.now() + waitMs;
  while (isVirsh() && Date.now() < deadline) {
    for (const fifo of leftoverPipes()) if (FifoFeed.releaseReader(fifo)) log(`let go the restore of a previous engine waiting on ${fifo}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  if (isVirsh()) {
    log(`virsh pid ${pid} did not finish within ${waitMs / 1000} s; stopping it`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    while (isVirsh()) await new Promise((r) => setTimeout(r, 100));
  }
}
