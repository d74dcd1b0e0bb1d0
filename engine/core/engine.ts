// The cloudlet engine: base VMs, overlays and instances on one state directory, carried out as operations.
// The API layer (engine/api) and nothing else calls this; it calls the store, the overlay codec and the VM
// driver. Every multi-step job builds in tmp/ or in an instance directory marked "creating", so a crash at
// any point leaves objects that are either whole or recognisably unfinished (cleaned up by recover()).

import { execFile } from 'node:child_process';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CloudletError } from '../errors';
import { BaseResolver, OpenedBase, applyOverlay, checkOverlay, openBase } from '../overlay/apply';
import { fileDigest, rememberDigest } from '../overlay/digest';
import { FORMAT_VERSION, baseIdOf } from '../overlay/format';
import { ByteSource, SpoolSource, fsyncDir } from '../overlay/io';
import { createOverlay } from '../overlay/writer';
import { ArchiveManifest, archiveBytes, memberName, readBaseArchive, writeBaseArchive } from '../store/archive';
import { OpenedSource, openSource, redactUrl } from '../store/fetch';
import { BaseRecord, InstanceRecord, OperationRecord, OverlayRecord, Store, newId } from '../store/store';
import { bootDomainXml, hypervisorType, instanceDomainXml, snapshotFacts } from '../vm/domain';
import { DomainState, VmDriver, embedRootFor } from '../vm/driver';
import { guestExec } from '../vm/guest-agent';
import { copyWithDomainXml, patchDomainXmlInPlace, readSaveHeader, saveHeaderFor } from '../vm/save-header';
import { crashPoint } from './crash-points';
import { Operation, OperationTable } from './operations';
import { EngineClient } from '../client/client';
import { HandoffHello, receiveHandoff } from '../handoff/receiver';
import { RecordType, WIRE_VERSION, recordHeader } from '../handoff/wire';
import { SendStats, StreamSink, sendHandoff } from '../handoff/sender';
import { BaseIndex } from '../overlay/base-index';
import { liveMigrate } from '../vm/live-migration';

const run = promisify(execFile);

export const ENGINE_VERSION = '0.1.0';

export interface EngineOptions {
  stateDir: string;
  /** Default: the embedded driver on <state>/libvirt. */
  libvirtUri?: string;
  log?: (line: string) => void;
  /** How long a download may wait for headers or stall in its body (default 30 s). */
  fetchTimeoutMs?: number;
}

export interface OverlaySpec {
  /** An overlay already in this engine's store. */
  id?: string;
  /** Where to fetch it: http(s) URL, file:// URL or local path. */
  url?: string;
  /** Expected SHA-256 of the overlay file; also lets a stored copy be used instead of downloading. */
  sha256?: string;
}

/** Where a destination engine pulls a handoff from: the source engine and a credential for it. */
export interface HandoffSourceSpec {
  endpoint: string;
  /** The source's API token or a handoff token it issued for the instance. Kept in memory only. */
  token: string;
  ca?: string;
}

export interface HandoffOptions {
  /** How long the source waits, VM paused, for the destination's confirmation (default 120 s). */
  confirmTimeoutMs?: number;
  /** A transfer that makes no progress for this long fails (default 60 s). */
  stallTimeoutMs?: number;
  /** Fixed zstd level for the stream instead of the adaptive one (0 = none); for benchmarks. */
  level?: number;
}

/** A handoff this engine is the source of, from its stream request to the destination's confirmation. */
interface HandoffSession {
  id: string;
  instanceId: string;
  state: 'streaming' | 'awaiting-confirm' | 'confirmed' | 'aborted';
  confirm: () => void;
  confirmed: Promise<void>;
  /** Settles once the source has decided: the destination's confirmation taken, or the handoff abandoned. */
  decided: Promise<void>;
}

export interface CreateInstanceRequest {
  name: string;
  baseId: string;
  /** Absent: resume the base as it is (a customization VM). */
  overlay?: OverlaySpec;
  requestId?: string;
}

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The largest overlay file the engine takes (1 TiB). */
const MAX_OVERLAY_BYTES = 2 ** 40;
const HEX64 = /^[0-9a-f]{64}$/;

export class Engine {
  readonly store: Store;
  readonly ops: OperationTable;
  readonly uri: string;
  private readonly ctlDir: string;
  private readonly log: (s: string) => void;
  /** Instances with an operation working on them, so a second one is refused instead of interleaved. */
  private readonly busy = new Set<string>();
  fetchTimeoutMs = 30000;
  handoff: Required<Omit<HandoffOptions, 'level'>> & Pick<HandoffOptions, 'level'> = { confirmTimeoutMs: 120000, stallTimeoutMs: 60000 };
  private readonly handoffGrants: { digest: Buffer; instanceId: string; expires: number }[] = [];
  private readonly handoffSessions = new Map<string, HandoffSession>();
  /** Dedup dictionaries of bases recently handed off from (building one reads the whole base). */
  private readonly baseIndexes = new Map<string, Promise<BaseIndex>>();

  private constructor(
    store: Store,
    readonly driver: VmDriver,
    ctlDir: string,
    log: (s: string) => void,
  ) {
    this.store = store;
    this.uri = driver.uri;
    this.ctlDir = ctlDir;
    this.log = log;
    this.ops = new OperationTable(store, log);
  }

  /** Takes the state directory, connects to libvirt and recovers from whatever a crash left. */
  static async open(o: EngineOptions): Promise<Engine> {
    const log = o.log ?? (() => undefined);
    const store = new Store(o.stateDir);
    store.lock();
    try {
      const { removedTemp } = store.prepare();
      store.identity();
      if (removedTemp > 0) log(`removed ${removedTemp} unfinished temporary object(s)`);
      const root = embedRootFor(store.root);
      const ctlDir = path.join(root, 'ctl');
      fs.mkdirSync(ctlDir, { recursive: true });
      const driver = await VmDriver.open(o.libvirtUri ?? `qemu:///embed?root=${root}`, log);
      const e = new Engine(store, driver, ctlDir, log);
      if (o.fetchTimeoutMs) e.fetchTimeoutMs = o.fetchTimeoutMs;
      try {
        await e.recover();
      } catch (err) {
        await driver.close();
        throw err;
      }
      return e;
    } catch (err) {
      store.unlock();
      throw err;
    }
  }

  async close(): Promise<void> {
    const running = this.ops.running();
    for (const op of running) op.abort.abort();
    // Cancelled operations still clean up through libvirt (a handoff source resumes its paused VM): give
    // them a moment before the connection goes.
    await Promise.all(running.map((op) => op.wait(30000)));
    await this.driver.close();
    this.store.unlock();
  }

  /** After a crash: fail interrupted operations, remove half-made instances, find running VMs again. */
  private async recover(): Promise<void> {
    for (const op of this.store.listOperations()) {
      if (op.state !== 'running') continue;
      op.state = 'failed';
      op.error = { code: 'INTERRUPTED', message: `the engine stopped while this operation was in phase "${op.phase}"; nothing half-made was kept` };
      op.updated = new Date().toISOString();
      this.store.putOperation(op);
      this.log(`operation ${op.id} (${op.kind}) was interrupted`);
    }
    const domains = await this.driver.list();
    for (const inst of this.store.listInstances()) {
      const dir = this.store.instanceDir(inst.id);
      if (inst.state === 'creating') {
        await this.driver.destroy(inst.domain);
        this.store.removeDir(dir);
        this.log(`removed unfinished instance ${inst.id}`);
        continue;
      }
      const st = domains.get(inst.domain);
      const handoffMark = path.join(dir, 'handoff-out');
      if (fs.existsSync(handoffMark)) {
        const mark = fs.readFileSync(handoffMark, 'utf8').trim().split(/\s+/);
        if (mark[0] === 'confirmed') {
          // The destination runs this VM: finish removing the copy here, and keep answering its confirmation
          // (it retries one whose answer the crash swallowed) as taken.
          if (mark[1]) this.rememberConfirmedHandoff(mark[1], inst.id);
          await this.removeInstance(inst);
          this.log(`instance ${inst.id} had been handed off; removed its copy here`);
          continue;
        }
        // The engine died while handing this VM off, before any confirmation: it is still ours to run.
        if (st === 'paused') await this.driver.resume(inst.domain).catch((e) => this.log(`could not resume instance ${inst.id}: ${(e as Error).message}`));
        fs.rmSync(handoffMark, { force: true });
        this.log(`instance ${inst.id}: an interrupted handoff was abandoned; the VM runs on here`);
      }
      const resumed = await this.recoverSnapshot(inst, st);
      if (inst.handoffIn) {
        await this.recoverHandoffIn(inst, st);
        continue;
      }
      // The listing predates a resume just done: ask libvirt again for that one.
      await this.refresh(inst, resumed ? undefined : domains);
    }
    this.adoptLegacyFetchedOverlays();
    this.sweepOverlays();
  }

  /**
   * An instance stopped for an overlay or base capture when the engine died. Returns whether it was resumed.
   * `resume.saving` with the VM still there: the save did not finish, the VM holds the newest state (resumed
   * if the save left it paused). `resume.saving` without the VM: the save finished (libvirt stops a VM only
   * once its state is all written), only the rename was lost. `resume.save` without the VM, or with it
   * paused (a restore that had not reached the commit point, whole or not): the VM has not run since the
   * snapshot, which is restored again and consumed. `resume.save` with the VM running cannot come from this
   * engine's steps (the snapshot goes before the VM resumes); the running VM is newer and the file goes.
   */
  private async recoverSnapshot(inst: InstanceRecord, domainState: DomainState | undefined): Promise<boolean> {
    const { saving, saved, consumed } = this.snapshotFiles(inst);
    const st = domainState === 'running' || domainState === 'paused' ? domainState : undefined;
    if (fs.existsSync(consumed)) {
      // Restored and committed; the crash came before (or just after) the resume. Never restored again.
      fs.rmSync(consumed, { force: true });
      if (st === 'paused') {
        await this.driver.resume(inst.domain).catch((e) => this.log(`could not resume instance ${inst.id}: ${(e as Error).message}`));
        this.log(`instance ${inst.id}: resumed after its snapshot was restored`);
        return true;
      }
      return false;
    }
    if (fs.existsSync(saving)) {
      if (st) {
        fs.rmSync(saving, { force: true });
        if (st === 'paused') await this.driver.resume(inst.domain).catch((e) => this.log(`could not resume instance ${inst.id}: ${(e as Error).message}`));
        this.log(`instance ${inst.id}: an interrupted memory snapshot was discarded; the VM runs on`);
        return st === 'paused';
      }
      fs.renameSync(saving, saved);
    }
    if (!fs.existsSync(saved)) return false;
    if (st === 'running') {
      fs.rmSync(saved, { force: true });
      this.log(`instance ${inst.id}: removed a memory snapshot older than the running VM`);
      return false;
    }
    try {
      if (domainState) await this.driver.destroy(inst.domain);
      await this.resumeFromSnapshot(inst);
      this.log(`resumed instance ${inst.id} from its interrupted snapshot`);
      return true;
    } catch (e) {
      this.log(`could not resume instance ${inst.id} from its snapshot (kept for the next start): ${(e as Error).message}`);
      return false;
    }
  }

  /** A handoff's destination copy that was restored when the engine died (see InstanceRecord.handoffIn). */
  private async recoverHandoffIn(inst: InstanceRecord, st: DomainState | undefined): Promise<void> {
    const h = inst.handoffIn!;
    const memory = path.join(this.store.instanceDir(inst.id), 'memory.save');
    try {
      if (st !== 'running' && st !== 'paused' && fs.existsSync(memory)) {
        if (st) await this.driver.destroy(inst.domain);
        await this.driver.restore(memory, { paused: true });
      }
      if (h.state === 'confirmed') {
        await this.driver.resume(inst.domain);
        fs.rmSync(memory, { force: true });
        inst.state = 'running';
        delete inst.handoffIn;
        delete inst.error;
        this.log(`instance ${inst.id}: handoff ${h.id} had been confirmed by the source; the VM runs here`);
      } else {
        fs.rmSync(memory, { force: true });
        inst.state = 'paused';
        inst.error = {
          code: 'HANDOFF_UNCERTAIN',
          message: `the engine stopped while confirming handoff ${h.id} to ${h.source}; this copy is kept paused. Check the source: if its copy is gone, resume this one (cloudlet instance power ${inst.id} running); if it runs there, delete this one.`,
        };
        this.log(`instance ${inst.id}: handoff ${h.id} may or may not have been taken by the source; kept paused`);
      }
      this.store.putInstance(inst);
    } catch (e) {
      this.log(`instance ${inst.id}: could not recover handoff ${h.id}: ${(e as Error).message}`);
    }
  }

  /** State written before overlay records said "fetched": the instances said it instead. */
  private adoptLegacyFetchedOverlays(): void {
    for (const i of this.store.listInstances()) {
      if (!i.fetchedOverlay || !i.overlayId) continue;
      const o = this.store.getOverlay(i.overlayId);
      if (o && !o.fetched) this.store.putOverlay({ ...o, fetched: true });
      delete i.fetchedOverlay;
      this.store.putInstance(i);
    }
  }

  // ---------------------------------------------------------------- info

  async info(): Promise<Record<string, unknown>> {
    const disk = fs.statfsSync(this.store.root);
    return {
      cloudlet: this.store.identity(),
      engine: { version: ENGINE_VERSION, stateDir: this.store.root, pid: process.pid },
      hypervisor: { type: hypervisorType() === 'kvm' ? 'kvm' : 'tcg', libvirtUri: this.driver.shownUri, embedded: this.driver.embedded },
      extensions: {
        overlayFormats: [FORMAT_VERSION],
        compressions: ['zstd'],
        baseArchiveFormats: [1],
        synthesis: { fromUrl: true, upload: true, checkWhileDownloading: true },
        handoff: true,
        handoffProtocol: WIRE_VERSION,
      },
      capacity: {
        cpus: os.cpus().length,
        memoryBytes: os.totalmem(),
        freeMemoryBytes: os.freemem(),
        diskFreeBytes: disk.bavail * disk.bsize,
      },
      counts: { bases: this.store.listBases().length, overlays: this.store.listOverlays().length, instances: this.store.listInstances().length, operationsRunning: this.ops.running().length },
    };
  }

  // ---------------------------------------------------------------- bases

  listBases(): BaseRecord[] {
    return this.store.listBases();
  }

  getBase(id: string): BaseRecord {
    const b = this.store.getBase(id);
    if (!b) throw new CloudletError('NOT_FOUND', `no base VM ${id}`);
    return b;
  }

  deleteBase(id: string): void {
    this.getBase(id);
    const users = this.store
      .listInstances()
      .filter((i) => i.baseId === id)
      .map((i) => `instance ${i.id}`);
    users.push(
      ...this.store
        .listOverlays()
        .filter((o) => o.baseId === id)
        .map((o) => `overlay ${o.id}`),
    );
    if (users.length > 0) throw new CloudletError('IN_USE', `base VM ${id} is used by ${users.join(', ')}; delete those first`);
    this.store.removeDir(this.store.baseDir(id));
  }

  /** Imports a base archive from a path or URL. An already stored base returns at once. */
  importBase(req: { source: string; sha256?: string; name?: string; requestId?: string }): OperationRecord {
    if (typeof req.source !== 'string' || req.source === '') throw new CloudletError('INVALID_ARGUMENT', 'source: a path or URL of a base archive is required');
    if (req.sha256 !== undefined && !HEX64.test(req.sha256)) throw new CloudletError('INVALID_ARGUMENT', 'sha256: expected the base id, 64 lowercase hex digits');
    const again = req.requestId ? this.ops.byRequestId('import-base', req.requestId) : null;
    if (again) return again;
    if (req.sha256 && this.store.getBase(req.sha256)) {
      // Content-addressed: nothing to fetch.
      return this.ops.start('import-base', req.requestId, async (op) => {
        op.setTarget({ type: 'base', id: req.sha256! });
        return { base: this.getBase(req.sha256!), cached: true };
      }).rec;
    }
    return this.ops.start('import-base', req.requestId, async (op) => {
      const shown = /^https?:/.test(req.source) ? redactUrl(req.source) : req.source;
      op.phase('download');
      const src = await openSource(req.source, { signal: op.signal, timeoutMs: this.fetchTimeoutMs });
      const dir = this.store.tempDir('base');
      try {
        let cached: string | null = null;
        const manifest = await readBaseArchive({
          source: src.source,
          what: shown,
          dir,
          onManifest: (m) => {
            if (req.sha256 && m.id !== req.sha256) throw new CloudletError('HASH_MISMATCH', `${shown}: the archive holds base ${m.id}, expected ${req.sha256}`);
            if (this.store.getBase(m.id)) {
              cached = m.id;
              return false;
            }
            op.progress(
              0,
              Object.values(m.files).reduce((a, f) => a + f.bytes, 0),
            );
            return true;
          },
          onProgress: (done, total) => {
            crashPoint('import-base.download');
            op.throwIfCancelled();
            op.progress(done, total);
          },
        });
        if (cached) {
          op.setTarget({ type: 'base', id: cached });
          return { base: this.getBase(cached), cached: true };
        }
        op.phase('verify');
        crashPoint('import-base.verify');
        const m = manifest!;
        const id = baseIdOf(m.files.disk!.sha256, m.files.memory!.sha256).toString('hex');
        if (id !== m.id) throw new CloudletError('HASH_MISMATCH', `${shown}: the manifest's id ${m.id} is not the id of its disk and memory (${id})`);
        const rec = this.baseRecord(dir, m, req.name ?? m.name, shown);
        const stored = this.store.commitBase(dir, rec);
        crashPoint('import-base.commit');
        op.setTarget({ type: 'base', id: stored.id });
        return { base: stored, cached: false };
      } finally {
        src.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }).rec;
  }

  private baseRecord(dir: string, m: Pick<ArchiveManifest, 'id' | 'files'>, name: string, source: string): BaseRecord {
    const xml = readSaveHeader(path.join(dir, 'memory.save')).xml;
    const facts = snapshotFacts(xml, `base ${name}`);
    if (facts.hasKernel && !m.files.kernel) throw new CloudletError('ARCHIVE_INVALID', `base ${name}: the VM boots a kernel file that the archive does not contain`);
    const disk = path.join(dir, 'disk.raw');
    const head = Buffer.alloc(4);
    const fd = fs.openSync(disk, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    if (head.toString('latin1') === 'QFI\xfb') throw new CloudletError('INVALID_ARGUMENT', `base ${name}: the disk must be a raw image (convert it with qemu-img convert -O raw)`);
    // The overlay codec caches file digests next to the files; seed them with what was just verified.
    rememberDigest(disk, m.files.disk!.sha256);
    rememberDigest(path.join(dir, 'memory.save'), m.files.memory!.sha256);
    return {
      id: m.id,
      name,
      created: new Date().toISOString(),
      disk: { ...m.files.disk!, format: 'raw' },
      memory: m.files.memory!,
      kernel: m.files.kernel,
      initrd: m.files.initrd,
      memoryMiB: facts.memoryMiB,
      vcpus: facts.vcpus,
      cpuModel: facts.cpuModel,
      source,
    };
  }

  /** Makes a base from a bootable disk image: boot it, wait until it is ready, save its memory. */
  importBaseFromDisk(req: {
    disk: string;
    name: string;
    memoryMiB?: number;
    vcpus?: number;
    kernel?: string;
    initrd?: string;
    cmdline?: string;
    /** 'agent': wait for the guest control agent to answer; a number: wait that many seconds. */
    ready?: 'agent' | number;
    readyTimeoutSeconds?: number;
    requestId?: string;
  }): OperationRecord {
    const bad = (m: string) => new CloudletError('INVALID_ARGUMENT', m);
    if (typeof req.disk !== 'string' || !fs.existsSync(req.disk)) throw bad(`disk: no such file ${JSON.stringify(req.disk)}`);
    if (req.kernel !== undefined && !fs.existsSync(req.kernel)) throw bad(`kernel: no such file ${JSON.stringify(req.kernel)}`);
    if (req.initrd !== undefined && !fs.existsSync(req.initrd)) throw bad(`initrd: no such file ${JSON.stringify(req.initrd)}`);
    if (typeof req.name !== 'string' || !NAME_RE.test(req.name)) throw bad('name: lowercase letters, digits and dashes, at most 63');
    const memoryMiB = req.memoryMiB ?? 256;
    const vcpus = req.vcpus ?? 1;
    if (!Number.isInteger(memoryMiB) || memoryMiB < 64 || memoryMiB > 65536) throw bad('memoryMiB: an integer from 64 to 65536');
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 64) throw bad('vcpus: an integer from 1 to 64');
    const ready = req.ready ?? 'agent';
    if (ready !== 'agent' && !(typeof ready === 'number' && ready >= 0 && ready <= 3600)) throw bad("ready: 'agent' or a number of seconds");
    const again = req.requestId ? this.ops.byRequestId('import-base-disk', req.requestId) : null;
    if (again) return again;
    return this.ops.start('import-base-disk', req.requestId, async (op) => {
      const dir = this.store.tempDir('base');
      const domain = `cl-import-${op.id.slice(3)}`;
      let started = false;
      try {
        op.phase('convert');
        await run('qemu-img', ['convert', '-O', 'raw', req.disk, path.join(dir, 'disk.raw')], { maxBuffer: 1 << 20 });
        if (req.kernel) fs.copyFileSync(req.kernel, path.join(dir, 'kernel'));
        if (req.initrd) fs.copyFileSync(req.initrd, path.join(dir, 'initrd.img'));
        op.phase('boot');
        const socket = path.join(this.ctlDir, `${op.id}.sock`);
        const xmlFile = path.join(dir, 'boot.xml');
        fs.writeFileSync(
          xmlFile,
          bootDomainXml({
            name: domain,
            memoryMiB,
            vcpus,
            disk: { path: path.join(dir, 'disk.raw'), format: 'raw' },
            kernel: req.kernel ? { kernel: path.join(dir, 'kernel'), initrd: req.initrd ? path.join(dir, 'initrd.img') : undefined, cmdline: req.cmdline } : undefined,
            controlSocket: socket,
            consoleLog: path.join(dir, 'console.log'),
          }),
        );
        await this.driver.create(xmlFile);
        started = true;
        op.phase('wait-ready');
        if (ready === 'agent') await this.waitForAgent(socket, domain, (req.readyTimeoutSeconds ?? 600) * 1000, op);
        else await sleep(ready * 1000, op.signal);
        if (ready === 'agent') await guestExec(socket, 'sync', 60000).catch(() => undefined);
        op.phase('save');
        await this.driver.save(domain, path.join(dir, 'memory.save'));
        started = false;
        fs.rmSync(xmlFile, { force: true });
        fs.rmSync(path.join(dir, 'console.log'), { force: true });
        fs.rmSync(socket, { force: true });
        op.phase('hash');
        const rec = await this.hashNewBase(dir, req.name, `disk image ${req.disk}`);
        const stored = this.store.commitBase(dir, rec);
        op.setTarget({ type: 'base', id: stored.id });
        return { base: stored };
      } finally {
        if (started) await this.driver.destroy(domain).catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }).rec;
  }

  private async waitForAgent(socket: string, domain: string, timeoutMs: number, op: Operation): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      op.throwIfCancelled();
      const r = await guestExec(socket, 'true', 5000).catch(() => null);
      if (r && r.code === 0) return;
      if (Date.now() > deadline) throw new CloudletError('GUEST_AGENT', `the VM did not answer on its control channel within ${timeoutMs / 1000} s`);
      const st = await this.driver.state(domain);
      if (st !== 'running') throw new CloudletError('VM_FAILED', `the VM stopped while booting (state: ${st ?? 'gone'})`);
    }
  }

  private async hashNewBase(dir: string, name: string, source: string): Promise<BaseRecord> {
    const files: ArchiveManifest['files'] = {};
    for (const key of ['disk', 'memory', 'kernel', 'initrd'] as const) {
      const f = path.join(dir, memberName(key));
      if (!fs.existsSync(f)) continue;
      files[key] = { name: memberName(key), bytes: fs.statSync(f).size, sha256: await fileDigest(f) };
    }
    const id = baseIdOf(files.disk!.sha256, files.memory!.sha256).toString('hex');
    return this.baseRecord(dir, { id, files }, name, source);
  }

  /** Captures a running instance (disk flattened, memory saved) as a new base; the instance keeps running. */
  createBaseFromInstance(req: { instanceId: string; name: string; requestId?: string }): OperationRecord {
    if (typeof req.name !== 'string' || !NAME_RE.test(req.name)) throw new CloudletError('INVALID_ARGUMENT', 'name: lowercase letters, digits and dashes, at most 63');
    return this.startOnInstance('create-base', req.instanceId, req.requestId, async (op, inst, base) => {
      const dir = this.store.tempDir('base');
      try {
        await this.whilePaused(op, inst, async (saved) => {
          op.phase('flatten');
          await run('qemu-img', ['convert', '-O', 'raw', path.join(this.store.instanceDir(inst.id), 'disk.qcow2'), path.join(dir, 'disk.raw')], { maxBuffer: 1 << 20 });
          fs.copyFileSync(saved, path.join(dir, 'memory.save'));
          const bdir = this.store.baseDir(base.id);
          if (base.kernel) fs.copyFileSync(path.join(bdir, 'kernel'), path.join(dir, 'kernel'));
          if (base.initrd) fs.copyFileSync(path.join(bdir, 'initrd.img'), path.join(dir, 'initrd.img'));
        });
        op.phase('hash');
        const rec = await this.hashNewBase(dir, req.name, `instance ${inst.id}`);
        const stored = this.store.commitBase(dir, rec);
        op.setTarget({ type: 'base', id: stored.id });
        return { base: stored };
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  /** A base as an archive that importBase reads back. */
  exportBase(id: string): { bytes: number; stream: AsyncGenerator<Buffer> } {
    const b = this.getBase(id);
    const dir = this.store.baseDir(id);
    const files: ArchiveManifest['files'] = { disk: { name: 'disk.raw', bytes: b.disk.bytes, sha256: b.disk.sha256 }, memory: { name: 'memory.save', ...b.memory } };
    if (b.kernel) files.kernel = { name: 'kernel', ...b.kernel };
    if (b.initrd) files.initrd = { name: 'initrd.img', ...b.initrd };
    const manifest: ArchiveManifest = { format: 1, id: b.id, name: b.name, files };
    const paths = { disk: path.join(dir, 'disk.raw'), memory: path.join(dir, 'memory.save'), kernel: path.join(dir, 'kernel'), initrd: path.join(dir, 'initrd.img') };
    return { bytes: archiveBytes(manifest), stream: writeBaseArchive(manifest, paths) };
  }

  // ---------------------------------------------------------------- overlays

  listOverlays(): OverlayRecord[] {
    return this.store.listOverlays();
  }

  getOverlay(id: string): OverlayRecord {
    const o = this.store.getOverlay(id);
    if (!o) throw new CloudletError('NOT_FOUND', `no overlay ${id}`);
    return o;
  }

  overlayPath(id: string): string {
    this.getOverlay(id);
    return this.store.overlayFile(id);
  }

  deleteOverlay(id: string): void {
    this.getOverlay(id);
    this.store.removeDir(this.store.overlayDir(id));
  }

  /** A stored base opened for the overlay codec (digests from the store, which checked them at import). */
  private openStoredBase(base: BaseRecord): ReturnType<typeof openBase> {
    const dir = this.store.baseDir(base.id);
    return openBase(path.join(dir, 'disk.raw'), path.join(dir, 'memory.save'), { disk: base.disk.sha256, memory: base.memory.sha256 });
  }

  /** The codec's base lookup: a base in the store, else null (the overlay is then checked without it). */
  private readonly storedBase: BaseResolver = async (id) => {
    const b = this.store.getBase(id);
    return b ? this.openStoredBase(b) : null;
  };

  /**
   * Stores an overlay from a stream (an upload or a fetch), checked whole as it arrives (against its base
   * when the base is here) before it is kept. Storing an overlay a synthesis had fetched keeps it for good.
   */
  async storeOverlay(source: ByteSource, origin: string, expectSha256?: string): Promise<OverlayRecord> {
    const dir = this.store.tempDir('upload');
    const file = path.join(dir, 'overlay.clov');
    try {
      const spool = new SpoolSource(source, file, MAX_OVERLAY_BYTES);
      let checked: Awaited<ReturnType<typeof checkOverlay>>;
      let sha256: string;
      let bytes: number;
      try {
        checked = await checkOverlay(spool, this.storedBase);
        ({ sha256, bytes } = await spool.finish());
      } finally {
        spool.close();
      }
      if (expectSha256 && sha256 !== expectSha256) throw new CloudletError('HASH_MISMATCH', `the overlay's SHA-256 is ${sha256}, expected ${expectSha256}`);
      const baseId = baseIdOf(checked.meta.base.disk.sha256, checked.meta.base.memory.sha256).toString('hex');
      const rec = this.store.commitOverlay(file, { id: sha256, bytes, baseId, created: new Date().toISOString(), source: origin });
      if (rec.fetched) return this.store.keepOverlay(rec.id);
      return rec;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Fetches an overlay from a URL or path into the store (already stored when its sha256 is known here). */
  importOverlay(req: { url: string; sha256?: string; requestId?: string }): OperationRecord {
    if (typeof req.url !== 'string' || !/^(https?:\/\/|file:\/\/|\/)/.test(req.url)) throw new CloudletError('INVALID_ARGUMENT', 'url: an http(s) or file URL, or an absolute path');
    if (req.sha256 !== undefined && !HEX64.test(req.sha256)) throw new CloudletError('INVALID_ARGUMENT', 'sha256: 64 lowercase hex digits');
    const again = req.requestId ? this.ops.byRequestId('import-overlay', req.requestId) : null;
    if (again) return again;
    return this.ops.start('import-overlay', req.requestId, async (op) => {
      const have = req.sha256 ? this.store.getOverlay(req.sha256) : null;
      if (have) {
        op.setTarget({ type: 'overlay', id: have.id });
        return { overlay: have.fetched ? this.store.keepOverlay(have.id) : have, cached: true };
      }
      op.phase('download');
      const rec = await this.withSource(op, req.url, (src) => this.storeOverlay(src.source, redactUrl(req.url), req.sha256));
      op.setTarget({ type: 'overlay', id: rec.id });
      return { overlay: rec, cached: false };
    }).rec;
  }

  /** Opens a path or URL for an operation, reporting bytes received as its progress until `work` is done. */
  private async withSource<T>(op: Operation, location: string, work: (src: OpenedSource) => Promise<T>): Promise<T> {
    const src = await openSource(location, { signal: op.signal, timeoutMs: this.fetchTimeoutMs });
    const timer = setInterval(() => op.progress(src.received, src.total), 250);
    try {
      const r = await work(src);
      op.progress(src.received, src.received);
      return r;
    } finally {
      clearInterval(timer);
      src.close();
    }
  }

  /** Creates an overlay from a running instance: the VM is saved, diffed against its base, and resumed. */
  createOverlayFromInstance(req: { instanceId: string; level?: number; requestId?: string }): OperationRecord {
    if (req.level !== undefined && !(Number.isInteger(req.level) && req.level >= 1 && req.level <= 19)) throw new CloudletError('INVALID_ARGUMENT', 'level: a zstd level from 1 to 19');
    return this.startOnInstance('create-overlay', req.instanceId, req.requestId, async (op, inst, base) => {
      const dir = this.store.tempDir('overlay');
      const out = path.join(dir, 'overlay.clov');
      try {
        await this.whilePaused(op, inst, async (saved) => {
          op.phase('delta');
          const bdir = this.store.baseDir(base.id);
          await createOverlay({
            baseDisk: path.join(bdir, 'disk.raw'),
            baseMemory: path.join(bdir, 'memory.save'),
            customDisk: path.join(this.store.instanceDir(inst.id), 'disk.qcow2'),
            customMemory: saved,
            output: out,
            level: req.level,
            onProgress: (p) => {
              crashPoint('create-overlay.delta-chunk');
              op.progress(p.done, p.total);
            },
          });
        });
        op.phase('store');
        const sha256 = await fileDigest(out);
        const rec = this.store.commitOverlay(out, { id: sha256, bytes: fs.statSync(out).size, baseId: base.id, created: new Date().toISOString(), source: `instance ${inst.id}` });
        crashPoint('create-overlay.stored');
        op.setTarget({ type: 'overlay', id: rec.id });
        return { overlay: rec };
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  /**
   * Starts an operation on a running instance (idempotent on requestId), holding the instance for its whole
   * run so no second operation interleaves with it.
   */
  private startOnInstance(kind: string, instanceId: string, requestId: string | undefined, work: (op: Operation, inst: InstanceRecord, base: BaseRecord) => Promise<unknown>): OperationRecord {
    const again = requestId ? this.ops.byRequestId(kind, requestId) : null;
    if (again) return again;
    const inst = this.runningInstance(instanceId);
    const base = this.getBase(inst.baseId);
    this.claim(inst.id);
    return this.ops.start(kind, requestId, async (op) => {
      try {
        return await work(op, inst, base);
      } finally {
        this.busy.delete(inst.id);
      }
    }).rec;
  }

  /**
   * Saves a running instance's memory next to its disk, runs `work` on the stopped VM, and resumes it whatever
   * happened. The snapshot is written as `resume.saving` and renamed `resume.save` once whole (libvirt
   * stops the VM only then); it is consumed exactly once (resumeFromSnapshot), and recover() finishes the
   * same steps after a crash.
   */
  private async whilePaused(op: Operation, inst: InstanceRecord, work: (saved: string) => Promise<void>): Promise<void> {
    op.phase('save');
    const { saving, saved } = this.snapshotFiles(inst);
    fs.rmSync(saving, { force: true });
    fs.rmSync(saved, { force: true });
    crashPoint('whilepaused.save');
    await this.driver.save(inst.domain, saving);
    crashPoint('whilepaused.saved');
    fs.renameSync(saving, saved);
    fsyncDir(path.dirname(saved));
    try {
      crashPoint('whilepaused.work');
      await work(saved);
    } finally {
      op.phase('resume');
      await this.resumeFromSnapshot(inst);
    }
  }

  private snapshotFiles(inst: InstanceRecord): { saving: string; saved: string; consumed: string } {
    const dir = this.store.instanceDir(inst.id);
    return { saving: path.join(dir, 'resume.saving'), saved: path.join(dir, 'resume.save'), consumed: path.join(dir, 'resume.consumed') };
  }

  /**
   * Restores an instance from its snapshot, once: restored paused, the snapshot renamed `resume.consumed`
   * (the commit point: never restored from again), then resumed, then the file removed. So a VM that has run
   * since its snapshot never has a usable snapshot any more, and no restart can put an older memory state
   * over a newer disk; a crash between the commit and the resume leaves a paused VM that recovery resumes.
   */
  private async resumeFromSnapshot(inst: InstanceRecord): Promise<void> {
    const { saved, consumed } = this.snapshotFiles(inst);
    crashPoint('whilepaused.restore');
    await this.driver.restore(saved, { paused: true });
    crashPoint('whilepaused.restored');
    fs.renameSync(saved, consumed);
    fsyncDir(path.dirname(saved));
    crashPoint('whilepaused.consumed');
    await this.driver.resume(inst.domain);
    fs.rmSync(consumed, { force: true });
  }

  // ---------------------------------------------------------------- instances

  async listInstances(): Promise<InstanceRecord[]> {
    const domains = await this.driver.list();
    return Promise.all(this.store.listInstances().map((i) => this.refresh(i, domains)));
  }

  async getInstance(id: string): Promise<InstanceRecord & { controlSocket: string; consoleLog: string }> {
    const i = this.findInstance(id);
    const r = await this.refresh(i);
    return { ...r, controlSocket: this.controlSocket(i.id), consoleLog: path.join(this.store.instanceDir(i.id), 'console.log') };
  }

  /** An instance by id or by name. */
  private findInstance(id: string): InstanceRecord {
    const inst = this.lookupInstance(id);
    if (!inst) throw new CloudletError('NOT_FOUND', `no instance ${id}`);
    return inst;
  }

  private lookupInstance(id: string): InstanceRecord | null {
    return this.store.getInstance(id) ?? this.store.listInstances().find((x) => x.name === id) ?? null;
  }

  /**
   * Brings the recorded state in line with libvirt's (a VM destroyed out of band shows as stopped). Callers
   * refreshing many instances pass one listing of the domains. An instance another operation holds is left
   * as recorded, unless the holder itself asks (`mine`).
   */
  private async refresh(i: InstanceRecord, domains?: Map<string, DomainState>, mine = false): Promise<InstanceRecord> {
    if (i.state === 'creating' || i.state === 'failed' || (this.busy.has(i.id) && !mine)) return i;
    const st = domains ? (domains.get(i.domain) ?? null) : await this.driver.state(i.domain);
    const now = st === 'running' ? 'running' : st === 'paused' ? 'paused' : 'stopped';
    if (now !== i.state) {
      i.state = now;
      this.store.putInstance(i);
    }
    return i;
  }

  private runningInstance(id: string): InstanceRecord {
    const inst = this.findInstance(id);
    if (inst.state !== 'running') throw new CloudletError('CONFLICT', `instance ${inst.id} is ${inst.state}, not running`);
    if (this.busy.has(inst.id)) throw new CloudletError('CONFLICT', `instance ${inst.id} is busy with another operation`);
    return inst;
  }

  private claim(id: string): void {
    if (this.busy.has(id)) throw new CloudletError('CONFLICT', `instance ${id} is busy with another operation`);
    this.busy.add(id);
  }

  private controlSocket(id: string): string {
    return path.join(this.ctlDir, `${id}.sock`);
  }

  /** Synthesizes an instance from a base and an overlay (or resumes the base alone). Idempotent on requestId. */
  createInstance(req: CreateInstanceRequest): OperationRecord {
    const bad = (m: string) => new CloudletError('INVALID_ARGUMENT', m);
    if (typeof req.name !== 'string' || !NAME_RE.test(req.name)) throw bad('name: lowercase letters, digits and dashes, starting with a letter or digit, at most 63');
    if (req.requestId !== undefined && (typeof req.requestId !== 'string' || req.requestId.length > 200)) throw bad('requestId: a string of at most 200 characters');
    const again = req.requestId ? this.ops.byRequestId('synthesize', req.requestId) : null;
    if (again) return again;
    if (typeof req.baseId !== 'string') throw bad('baseId: required');
    const base = this.getBase(req.baseId);
    const ov = req.overlay;
    if (ov !== undefined) {
      if (typeof ov !== 'object' || ov === null) throw bad('overlay: an object with id, url and/or sha256');
      if (ov.sha256 !== undefined && !HEX64.test(ov.sha256)) throw bad('overlay.sha256: 64 lowercase hex digits');
      if (ov.id !== undefined) this.getOverlay(ov.id);
      if (ov.url !== undefined && (typeof ov.url !== 'string' || !/^(https?:\/\/|file:\/\/|\/)/.test(ov.url))) throw bad('overlay.url: an http(s) or file URL, or an absolute path');
      if (ov.id === undefined && ov.url === undefined) throw bad('overlay: give id or url');
      if (ov.id !== undefined) {
        const o = this.getOverlay(ov.id);
        if (o.baseId !== base.id) throw new CloudletError('OVERLAY_WRONG_BASE', `overlay ${o.id} was made against base ${o.baseId}, not ${base.id}`);
      }
    }
    if (this.store.listInstances().some((i) => i.name === req.name)) throw new CloudletError('CONFLICT', `an instance named ${req.name} already exists`);
    const id = newId('i');
    const inst: InstanceRecord = { id, name: req.name, baseId: base.id, domain: `cl-${id}`, state: 'creating', created: new Date().toISOString(), requestId: req.requestId, timings: {} };
    this.store.putInstance(inst);
    this.busy.add(id);
    return this.ops.start('synthesize', req.requestId, async (op) => {
      op.setTarget({ type: 'instance', id });
      try {
        await this.synthesize(op, inst, base, ov);
        return { instance: await this.getInstance(id) };
      } catch (e) {
        await this.driver.destroy(inst.domain).catch(() => undefined);
        this.store.removeDir(this.store.instanceDir(id));
        this.sweepOverlays();
        throw e;
      } finally {
        this.busy.delete(id);
      }
    }).rec;
  }

  private async synthesize(op: Operation, inst: InstanceRecord, base: BaseRecord, ov: OverlaySpec | undefined): Promise<void> {
    const dir = this.store.instanceDir(inst.id);
    const bdir = this.store.baseDir(base.id);
    const disk = path.join(dir, 'disk.qcow2');
    const memory = path.join(dir, 'memory.save');
    const t0 = Date.now();
    if (ov) {
      // Fetch: the overlay is checked whole against the base as it arrives and spooled into the store's
      // tmp/, so nothing is built from it until all of it has checked out (a refused overlay costs its own
      // length). Apply: the VM's files are then written from the checked copy.
      op.phase('fetch');
      let storedId = ov.id ?? (ov.sha256 && this.store.getOverlay(ov.sha256) ? ov.sha256 : undefined);
      const baseDigests = { disk: base.disk.sha256, memory: base.memory.sha256 };
      // Parsing the base's memory snapshot (to bound and check the overlay) overlaps the download.
      const opening = this.openStoredBase(base);
      opening.catch(() => undefined);
      const spoolDir = storedId ? null : this.store.tempDir('fetch');
      let opened: OpenedBase | null = null;
      try {
        let file: string;
        if (storedId) {
          file = this.store.overlayFile(storedId);
          await checkOverlay(file, opening);
        } else {
          file = path.join(spoolDir!, 'overlay.clov');
          const spool = await this.withSource(op, ov.url!, async (src) => {
            const counted: ByteSource = {
              read: () => {
                crashPoint('synthesize.fetch-chunk');
                return src.source.read();
              },
            };
            const sp = new SpoolSource(counted, file, MAX_OVERLAY_BYTES);
            try {
              await checkOverlay(sp, opening);
              const done = await sp.finish();
              crashPoint('synthesize.fetched');
              return done;
            } finally {
              sp.close();
            }
          });
          if (ov.sha256 && spool.sha256 !== ov.sha256) throw new CloudletError('HASH_MISMATCH', `the overlay from ${redactUrl(ov.url!)} has SHA-256 ${spool.sha256}, expected ${ov.sha256}`);
          // Kept while an instance uses it (fetched, not stored on purpose: it goes with its last user).
          storedId = this.store.commitOverlay(file, { id: spool.sha256, bytes: spool.bytes, baseId: base.id, created: new Date().toISOString(), source: redactUrl(ov.url!), fetched: true }).id;
          file = this.store.overlayFile(storedId);
        }
        // The instance names its overlay before anything is built from it, so the overlay stays while the
        // instance (even half-made) does.
        inst.overlayId = storedId;
        this.store.putInstance(inst);
        crashPoint('synthesize.committed');
        op.phase('apply');
        opened = await opening;
        await applyOverlay({
          overlay: file,
          checked: true,
          base: opened,
          baseDisk: path.join(bdir, 'disk.raw'),
          baseMemory: path.join(bdir, 'memory.save'),
          outputDisk: disk,
          outputMemory: memory,
          baseDigests,
          onProgress: (p) => {
            crashPoint('synthesize.apply');
            op.progress(p.done, p.total);
          },
        });
      } finally {
        await (opened ?? (await opening.catch(() => null)))?.close();
        if (spoolDir) fs.rmSync(spoolDir, { recursive: true, force: true });
      }
    } else {
      op.phase('prepare');
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', path.relative(dir, path.join(bdir, 'disk.raw')), disk]);
      crashPoint('synthesize.prepare');
    }
    op.phase('restore');
    const xml = this.instanceXml(inst, base, ov ? memory : path.join(bdir, 'memory.save'));
    if (!ov) await copyWithDomainXml(path.join(bdir, 'memory.save'), memory, xml);
    else if (!patchDomainXmlInPlace(memory, xml)) {
      await copyWithDomainXml(memory, `${memory}.new`, xml);
      fs.renameSync(`${memory}.new`, memory);
    }
    op.throwIfCancelled();
    crashPoint('synthesize.restore');
    await this.driver.restore(memory);
    crashPoint('synthesize.restored');
    fs.rmSync(memory, { force: true });
    inst.state = 'running';
    op.phase('done'); // closes the restore phase, so its time is in the timings
    inst.timings = { ...op.rec.timings, total: (Date.now() - t0) / 1000 };
    this.store.putInstance(inst);
  }

  /** The instance's own domain XML, from the XML saved in a memory snapshot (its own or its base's). */
  private instanceXml(inst: InstanceRecord, base: BaseRecord, saveFile: string): string {
    const dir = this.store.instanceDir(inst.id);
    const bdir = this.store.baseDir(base.id);
    return instanceDomainXml(readSaveHeader(saveFile).xml, {
      name: inst.domain,
      disk: path.join(dir, 'disk.qcow2'),
      diskFormat: 'qcow2',
      kernel: base.kernel ? path.join(bdir, 'kernel') : undefined,
      initrd: base.initrd ? path.join(bdir, 'initrd.img') : undefined,
      controlSocket: this.controlSocket(inst.id),
      consoleLog: path.join(dir, 'console.log'),
    });
  }

  /**
   * Brings an instance to a power state. `running`: a paused VM resumes; a stopped one boots afresh from its
   * disk (its memory state went with the power-off). `paused`: suspends it. `stopped`: powers it off, keeping
   * the disk.
   */
  async setPowerState(id: string, want: 'running' | 'paused' | 'stopped'): Promise<InstanceRecord> {
    if (want !== 'running' && want !== 'paused' && want !== 'stopped') throw new CloudletError('INVALID_ARGUMENT', "state: 'running', 'paused' or 'stopped'");
    const found = this.findInstance(id);
    this.claim(found.id);
    try {
      const inst = await this.refresh(found, undefined, true);
      if (inst.state === 'creating' || inst.state === 'failed') throw new CloudletError('CONFLICT', `instance ${inst.id} is ${inst.state}`);
      if (inst.state === want) return inst;
      if (want === 'stopped') await this.driver.destroy(inst.domain);
      else if (want === 'paused') {
        if (inst.state === 'stopped') throw new CloudletError('CONFLICT', `instance ${inst.id} is stopped; start it before pausing it`);
        await this.driver.suspend(inst.domain);
      } else if (inst.state === 'paused') await this.driver.resume(inst.domain);
      else {
        const xmlFile = path.join(this.store.instanceDir(inst.id), 'boot.xml');
        fs.writeFileSync(xmlFile, this.instanceXml(inst, this.getBase(inst.baseId), path.join(this.store.baseDir(inst.baseId), 'memory.save')));
        fs.rmSync(this.controlSocket(inst.id), { force: true });
        // Booting afresh makes any snapshot left by a failed resume older than the disk: it must never be used.
        for (const f of Object.values(this.snapshotFiles(inst))) fs.rmSync(f, { force: true });
        await this.driver.create(xmlFile);
      }
      return await this.refresh(inst, undefined, true);
    } finally {
      this.busy.delete(found.id);
    }
  }

  async deleteInstance(id: string): Promise<void> {
    const inst = this.findInstance(id);
    if (this.busy.has(inst.id)) throw new CloudletError('CONFLICT', `instance ${inst.id} is busy with another operation`);
    await this.removeInstance(inst);
  }

  /** Stops the VM and removes everything of the instance here (and an overlay fetched for it alone). */
  private async removeInstance(inst: InstanceRecord): Promise<void> {
    await this.driver.destroy(inst.domain);
    this.store.removeDir(this.store.instanceDir(inst.id));
    fs.rmSync(this.controlSocket(inst.id), { force: true });
    this.sweepOverlays();
  }

  /**
   * Overlays fetched by syntheses (not stored on purpose) are kept while an instance record names them: the
   * instance records are the reference count, so it survives any crash, and this sweep (after every removal
   * and at start-up) removes those no instance names.
   */
  private sweepOverlays(): void {
    const used = new Set(
      this.store
        .listInstances()
        .map((i) => i.overlayId)
        .filter((o): o is string => !!o),
    );
    for (const o of this.store.listOverlays()) {
      if (!o.fetched || used.has(o.id)) continue;
      this.store.removeDir(this.store.overlayDir(o.id));
      this.log(`removed overlay ${o.id}: fetched by a synthesis, and no instance uses it any more`);
    }
  }

  /** Runs a command in the instance through the guest control agent (the sample bases ship one). */
  async exec(id: string, command: string, timeoutSeconds = 60): Promise<{ code: number; stdout: string }> {
    if (typeof command !== 'string' || command === '') throw new CloudletError('INVALID_ARGUMENT', 'command: required');
    if (!(timeoutSeconds > 0 && timeoutSeconds <= 3600)) throw new CloudletError('INVALID_ARGUMENT', 'timeoutSeconds: from 1 to 3600');
    const inst = this.runningInstance(id);
    try {
      return await guestExec(this.controlSocket(inst.id), command, timeoutSeconds * 1000);
    } catch (e) {
      throw new CloudletError('GUEST_AGENT', `instance ${inst.id}: ${(e as Error).message}`);
    }
  }

  // ---------------------------------------------------------------- handoff (engine/handoff/PROTOCOL.md)

  /** Issues a short-lived token that lets another cloudlet pull this one instance (and nothing else). */
  issueHandoffToken(instanceId: string, ttlSeconds = 600): { token: string; expires: string; instance: string } {
    if (!(Number.isInteger(ttlSeconds) && ttlSeconds >= 10 && ttlSeconds <= 3600)) throw new CloudletError('INVALID_ARGUMENT', 'ttlSeconds: an integer from 10 to 3600');
    const inst = this.findInstance(instanceId);
    const now = Date.now();
    for (let i = this.handoffGrants.length - 1; i >= 0; i--) if (this.handoffGrants[i].expires < now) this.handoffGrants.splice(i, 1);
    if (this.handoffGrants.length > 1000) throw new CloudletError('CONFLICT', 'too many live handoff tokens');
    const token = `cht_${randomBytes(32).toString('base64url')}`;
    const expires = now + ttlSeconds * 1000;
    this.handoffGrants.push({ digest: createHash('sha256').update(token).digest(), instanceId: inst.id, expires });
    return { token, expires: new Date(expires).toISOString(), instance: inst.id };
  }

  /** Whether `token` is a live handoff token for the instance (by id or name) or the session's instance. */
  handoffTokenAllows(token: string, target: { instance?: string; handoff?: string }): boolean {
    const given = createHash('sha256').update(token).digest();
    let id: string | undefined;
    if (target.handoff) id = this.handoffSessions.get(target.handoff)?.instanceId;
    else if (target.instance) id = this.lookupInstance(target.instance)?.id;
    let ok = false;
    const now = Date.now();
    for (const g of this.handoffGrants) {
      // Every grant is compared, so the time taken says nothing about which one matched.
      const match = timingSafeEqual(g.digest, given);
      ok = ok || (match && g.expires >= now && g.instanceId === id);
    }
    return ok;
  }

  /** What a destination checks before it asks for the stream. */
  handoffInfo(instanceId: string): { id: string; name: string; baseId: string; state: string; cloudlet: { id: string; name: string } } {
    const i = this.findInstance(instanceId);
    return { id: i.id, name: i.name, baseId: i.baseId, state: i.state, cloudlet: this.store.identity() };
  }

  private async baseIndexFor(base: BaseRecord): Promise<BaseIndex> {
    let p = this.baseIndexes.get(base.id);
    if (!p) {
      const dir = this.store.baseDir(base.id);
      p = BaseIndex.build({ disk: path.join(dir, 'disk.raw'), memory: path.join(dir, 'memory.save') });
      p.catch(() => this.baseIndexes.delete(base.id));
      this.baseIndexes.set(base.id, p);
      // Two dictionaries at most (a few tens of MiB each).
      for (const k of [...this.baseIndexes.keys()].slice(0, -2)) {
        void this.baseIndexes
          .get(k)!
          .then((b) => b.close())
          .catch(() => undefined);
        this.baseIndexes.delete(k);
      }
    }
    return p;
  }

  /**
   * The source side: streams a running instance into `sink` (live pre-copy, then a short pause), waits for
   * the destination's confirmation, and then removes the instance here. On any failure before the
   * confirmation the VM runs on here, as it was. Resolves when this side is done (either way).
   */
  async handoffOut(instanceId: string, req: { handoffId: string; destination?: string }, sink: StreamSink & { closed: Promise<void> }): Promise<{ stats: SendStats }> {
    if (typeof req.handoffId !== 'string' || !/^h-[0-9a-z]{6,40}$/.test(req.handoffId)) throw new CloudletError('INVALID_ARGUMENT', 'handoffId: as the destination made it (h-…)');
    if (this.handoffSessions.has(req.handoffId)) throw new CloudletError('CONFLICT', `handoff ${req.handoffId} is already under way`);
    const inst = this.runningInstance(instanceId);
    const base = this.getBase(inst.baseId);
    this.claim(inst.id);
    let confirm!: () => void;
    const confirmed = new Promise<void>((r) => (confirm = r));
    let decide!: () => void;
    const session: HandoffSession = { id: req.handoffId, instanceId: inst.id, state: 'streaming', confirm, confirmed, decided: new Promise<void>((r) => (decide = r)) };
    this.handoffSessions.set(session.id, session);
    const op = this.ops.start('handoff-out', undefined, async (op) => {
      op.setTarget({ type: 'instance', id: inst.id });
      const bdir = this.store.baseDir(base.id);
      const disk = path.join(this.store.instanceDir(inst.id), 'disk.qcow2');
      const mark = path.join(this.store.instanceDir(inst.id), 'handoff-out');
      try {
        fs.writeFileSync(mark, `${session.id}\n`);
        crashPoint('handoff-out.marked');
        op.phase('index-base');
        const bi = await this.baseIndexFor(base);
        const xml = await this.driver.migratableXml(inst.domain);
        const hello: Omit<HandoffHello, 'version' | 'disk'> = {
          handoffId: session.id,
          instance: { id: inst.id, name: inst.name, baseId: inst.baseId, overlayId: inst.overlayId, created: inst.created },
          domainXml: xml,
        };
        const stats = await sendHandoff({
          sink,
          hello,
          base: bi,
          disk,
          saveHeader: saveHeaderFor(path.join(bdir, 'memory.save'), xml),
          migrate: (chunkSink) =>
            liveMigrate({
              monitor: (hmp) => this.driver.monitor(inst.domain, hmp),
              socketPath: path.join(this.ctlDir, `${op.id}.mig`),
              sink: chunkSink,
              signal: op.signal,
            }),
          signal: op.signal,
          level: this.handoff.level,
          onPhase: (ph) => op.phase(ph),
          onProgress: (d, t) => op.progress(d, t),
        });
        op.phase('await-confirm');
        crashPoint('handoff-out.sent');
        session.state = 'awaiting-confirm';
        let timer: NodeJS.Timeout | undefined;
        // The destination restores the VM meanwhile; the stream stays open (its closing means the destination
        // went away) and carries keep-alives so its idle timeout does not end it.
        const keepAlive = setInterval(() => void sink.write([recordHeader(RecordType.KeepAlive, 0)]).catch(() => undefined), Math.min(5000, this.handoff.stallTimeoutMs / 3));
        const outcome = await Promise.race([
          confirmed.then(() => 'confirmed' as const),
          sink.closed.then(() => 'closed' as const),
          new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.handoff.confirmTimeoutMs))),
        ]);
        clearTimeout(timer);
        clearInterval(keepAlive);
        if (outcome !== 'confirmed') {
          throw new CloudletError(
            'HANDOFF_FAILED',
            outcome === 'closed' ? 'the destination went away before confirming that the VM runs there' : `the destination did not confirm within ${this.handoff.confirmTimeoutMs / 1000} s`,
          );
        }
        // From here the VM is the destination's: never resumed here again, even after a crash (recover()
        // reads the mark and removes the instance).
        session.state = 'confirmed';
        fs.writeFileSync(mark, `confirmed ${session.id}\n`);
        crashPoint('handoff-out.confirmed');
        decide();
        op.phase('remove');
        await this.removeInstance(inst);
        this.log(`instance ${inst.id} handed off (${req.handoffId}) to ${req.destination ?? 'another cloudlet'}: ${stats.bytesSent} bytes`);
        return { handedOff: inst.id, to: req.destination ?? null, stats };
      } catch (e) {
        session.state = 'aborted';
        decide();
        // QEMU keeps a guest running when its migration fails; after a completed one the guest is paused here.
        const st = await this.driver.state(inst.domain).catch(() => null);
        if (st === 'paused') await this.driver.resume(inst.domain).catch((err) => this.log(`could not resume ${inst.id}: ${(err as Error).message}`));
        this.log(`handoff ${req.handoffId} of ${inst.id} failed; the VM runs on here: ${(e as Error).message}`);
        throw e instanceof CloudletError && e.code !== 'CANCELLED' ? new CloudletError('HANDOFF_FAILED', `${e.message}; the VM runs on at this cloudlet`, e) : e;
      } finally {
        if (session.state !== 'confirmed') fs.rmSync(mark, { force: true });
        this.busy.delete(inst.id);
        // Kept a while so a confirmation retried after a lost answer is answered the same way.
        setTimeout(() => this.handoffSessions.delete(session.id), 600000).unref();
      }
    });
    await op.wait(24 * 3600 * 1000);
    if (op.rec.state !== 'succeeded') throw new CloudletError(op.rec.error?.code ?? 'HANDOFF_FAILED', op.rec.error?.message ?? 'handoff failed');
    return { stats: (op.rec.result as { stats: SendStats }).stats };
  }

  private rememberConfirmedHandoff(id: string, instanceId: string): void {
    const done = Promise.resolve();
    this.handoffSessions.set(id, { id, instanceId, state: 'confirmed', confirm: () => undefined, confirmed: done, decided: done });
    setTimeout(() => this.handoffSessions.delete(id), 600000).unref();
  }

  /** The destination's confirmation that the VM runs there; the source then removes its copy. */
  async confirmHandoff(handoffId: string): Promise<{ confirmed: true; instance: string }> {
    const s = this.handoffSessions.get(handoffId);
    if (!s) throw new CloudletError('NOT_FOUND', `no handoff ${handoffId} here`);
    if (s.state === 'aborted') throw new CloudletError('HANDOFF_FAILED', `handoff ${handoffId} was abandoned here; the VM runs on at this cloudlet`);
    if (s.state === 'streaming') throw new CloudletError('CONFLICT', `handoff ${handoffId} has not finished sending`);
    s.confirm();
    // Answered as soon as the source has decided; removing its paused copy goes on after the answer.
    await s.decided;
    if (s.state !== 'confirmed') throw new CloudletError('HANDOFF_FAILED', `handoff ${handoffId} was abandoned here; the VM runs on at this cloudlet`);
    return { confirmed: true, instance: s.instanceId };
  }

  /**
   * The destination side, as an operation: checks that the base is here, pulls the stream from the source,
   * restores the VM paused, confirms to the source and resumes it. On failure before the confirmation
   * nothing is left here and the source resumes its VM.
   */
  handoffIn(req: { source: HandoffSourceSpec; instanceId: string; requestId?: string }): OperationRecord {
    const bad = (m: string) => new CloudletError('INVALID_ARGUMENT', m);
    const src = req.source;
    if (typeof src !== 'object' || src === null || typeof src.endpoint !== 'string' || typeof src.token !== 'string' || src.token === '')
      throw bad('source: { endpoint, token } of the cloudlet the instance runs on');
    if (typeof req.instanceId !== 'string' || req.instanceId === '') throw bad('instanceId: required');
    const again = req.requestId ? this.ops.byRequestId('handoff-in', req.requestId) : null;
    if (again) return again;
    const client = new EngineClient({ endpoint: src.endpoint, token: src.token, ca: src.ca, timeoutMs: 30000 });
    return this.ops.start('handoff-in', req.requestId, async (op) => {
      let inst: InstanceRecord | null = null;
      let stream: { close(): void } | null = null;
      try {
        op.phase('check');
        const info = await client.call<ReturnType<Engine['handoffInfo']>>('GET', `/v1/instances/${encodeURIComponent(req.instanceId)}/handoff`, undefined, { signal: op.signal });
        const me = this.store.identity();
        if (info.cloudlet.id === me.id) throw bad(`instance ${info.id} already runs on this cloudlet (${me.id})`);
        const base = this.store.getBase(info.baseId);
        if (!base)
          throw new CloudletError(
            'BASE_MISSING',
            `this cloudlet (${me.id}) does not have base VM ${info.baseId}, which instance ${info.name} runs on; import the base here first. The VM was not touched.`,
          );
        if (info.state !== 'running') throw new CloudletError('CONFLICT', `instance ${info.id} is ${info.state} at the source; only a running instance can be handed off`);
        if (this.store.getInstance(info.id) || this.store.listInstances().some((i) => i.name === info.name))
          throw new CloudletError('CONFLICT', `an instance ${info.name} (${info.id}) already exists on this cloudlet`);
        inst = { id: info.id, name: info.name, baseId: base.id, domain: `cl-${info.id}`, state: 'creating', created: new Date().toISOString(), timings: {} };
        this.store.putInstance(inst);
        this.busy.add(inst.id);
        crashPoint('handoff-in.created');
        op.setTarget({ type: 'instance', id: inst.id });
        op.phase('transfer');
        // libvirt's first domain start on a connection is seconds slower: have it happen now, during the live
        // transfer, rather than in the restore while the guest is paused.
        const warm = this.driver.warmUp(this.ctlDir);
        const handoffId = newId('h');
        const opened = await client.stream(
          'POST',
          `/v1/instances/${encodeURIComponent(info.id)}/handoff/stream`,
          { handoffId, destination: me.id },
          { signal: op.signal, stallTimeoutMs: this.handoff.stallTimeoutMs },
        );
        stream = opened;
        const bdir = this.store.baseDir(base.id);
        const target = inst;
        const got = await receiveHandoff({
          source: opened.source,
          dir: this.store.instanceDir(inst.id),
          baseDisk: path.join(bdir, 'disk.raw'),
          baseMemory: path.join(bdir, 'memory.save'),
          onHello: (h) => {
            if (h.instance.id !== target.id || h.instance.baseId !== base.id) throw new CloudletError('HANDOFF_PROTOCOL', 'the stream is for another instance than the one asked for');
            target.overlayId = h.instance.overlayId;
            target.created = h.instance.created;
            return instanceDomainXml(h.domainXml, {
              name: target.domain,
              disk: path.join(this.store.instanceDir(target.id), 'disk.qcow2'),
              diskFormat: 'qcow2',
              kernel: base.kernel ? path.join(bdir, 'kernel') : undefined,
              initrd: base.initrd ? path.join(bdir, 'initrd.img') : undefined,
              controlSocket: this.controlSocket(target.id),
              consoleLog: path.join(this.store.instanceDir(target.id), 'console.log'),
            });
          },
          saveHeader: (xml) => saveHeaderFor(path.join(bdir, 'memory.save'), xml),
          signal: op.signal,
          onProgress: (n) => op.progress(n, 0),
        }).catch((e) => {
          if ((e as CloudletError).code === 'CANCELLED') throw e;
          throw new CloudletError('HANDOFF_FAILED', `receiving from ${redactUrl(src.endpoint)} failed: ${(e as Error).message}; the VM runs on at the source`, e);
        });
        crashPoint('handoff-in.received');
        op.phase('restore');
        await warm;
        fs.rmSync(this.controlSocket(inst.id), { force: true });
        // The disk layer must be durable before the source lets go of its copy; that flush runs alongside the
        // restore (the memory file is read once and deleted, so it is not flushed at all).
        const r0 = Date.now();
        const durable = fsp.open(got.disk, 'r+').then(async (h) => {
          try {
            await h.sync();
          } finally {
            await h.close();
          }
        });
        const sent = got.end as unknown as SendStats;
        try {
          await this.driver.restore(got.memory, { paused: true });
          this.log(`handoff ${handoffId}: the stream ended ${got.endAt - (sent.pausedAt ?? got.endAt)} ms after the source paused; restored in ${Date.now() - r0} ms`);
        } finally {
          await durable;
        }
        crashPoint('handoff-in.restored');
        op.phase('confirm');
        // From the moment the confirmation may reach the source, this copy may be the only one: it is no
        // longer half-made (recovery keeps it, paused, until it is known which copy runs).
        inst.state = 'paused';
        inst.handoffIn = { id: handoffId, state: 'confirming', source: redactUrl(src.endpoint) };
        this.store.putInstance(inst);
        await this.confirmAtSource(client, handoffId, op);
        inst.handoffIn.state = 'confirmed';
        this.store.putInstance(inst);
        crashPoint('handoff-in.confirmed');
        await this.driver.resume(inst.domain);
        const resumedAt = Date.now();
        fs.rmSync(got.memory, { force: true });
        stream.close();
        stream = null;
        inst.state = 'running';
        delete inst.handoffIn;
        op.phase('done');
        inst.timings = { ...op.rec.timings };
        this.store.putInstance(inst);
        return {
          instance: await this.getInstance(inst.id),
          from: info.cloudlet,
          bytesReceived: got.bytesReceived,
          downtimeMs: sent.pausedAt ? resumedAt - sent.pausedAt : null,
          source: sent,
        };
      } catch (e) {
        if (inst && (e as CloudletError).code === 'HANDOFF_UNCERTAIN') {
          // Both copies may exist, one of them paused: keep ours paused rather than lose the VM.
          inst.state = 'paused';
          this.store.putInstance(inst);
          throw e;
        }
        if (inst) {
          await this.driver.destroy(inst.domain).catch(() => undefined);
          this.store.removeDir(this.store.instanceDir(inst.id));
        }
        throw e;
      } finally {
        stream?.close();
        if (inst) this.busy.delete(inst.id);
        await client.close().catch(() => undefined);
      }
    }).rec;
  }

  /**
   * Tells the source the VM runs here. A definite "no" means the source has resumed its copy (ours must go);
   * no answer at all leaves it unknown which copy the source kept, reported as HANDOFF_UNCERTAIN.
   */
  private async confirmAtSource(client: EngineClient, handoffId: string, op: Operation): Promise<void> {
    let last: unknown = null;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await client.call('POST', `/v1/handoffs/${handoffId}/confirm`, {}, { timeoutMs: 30000, signal: op.signal });
        return;
      } catch (e) {
        const code = (e as CloudletError).code;
        if (code === 'HANDOFF_FAILED' || code === 'NOT_FOUND' || code === 'CONFLICT' || code === 'CANCELLED')
          throw new CloudletError('HANDOFF_FAILED', `the source did not take the handoff: ${(e as Error).message}`, e);
        last = e;
        await new Promise((r) => setTimeout(r, 1000 * (attempt + 1)));
      }
    }
    throw new CloudletError(
      'HANDOFF_UNCERTAIN',
      `could not tell the source that the VM runs here (${(last as Error)?.message}); the copy here is kept paused. Check the source: if its copy is gone, resume this one (cloudlet instance power ID running); if it runs there, delete this one.`,
    );
  }

  cancelOperation(id: string): OperationRecord {
    const op = this.ops.liveOp(id);
    if (!op) {
      const rec = this.ops.get(id);
      if (!rec) throw new CloudletError('NOT_FOUND', `no operation ${id}`);
      return rec;
    }
    op.abort.abort();
    return op.rec;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new CloudletError('CANCELLED', 'the operation was cancelled'));
    });
  });
}
