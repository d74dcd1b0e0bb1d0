// The engine's state directory: the only place a cloudlet's objects live, and the only writer is the engine
// holding its lock. Every object appears atomically: bases and overlays are built in tmp/ and renamed into
// place as a whole directory; records are JSON files replaced by rename after fsync. Whatever is in tmp/ at
// start-up was left by a crash and is removed. File names are spelled here only: the store hands out typed
// paths (`store.base(id).disk`, `store.instance(id).snapshot.saved`, `overlayPathsIn(tmpDir).file`, ...).
//
//   <state>/engine.lock            pid of the engine that owns the directory
//   <state>/token                  API token (0600), created at first start
//   <state>/engine.json            pid and endpoint of the running engine
//   <state>/cloudlet.json          this cloudlet's identity (id, name), made at first start
//   <state>/bases/<id>/            base.json, disk.raw, memory.save, memory.ram (+ .json: the main RAM as a raw image, image/ram-image.ts), memory.rest.save (the snapshot without it), [kernel], [initrd.img]
//   <state>/overlays/<id>/         overlay.json, overlay.clov
//   <state>/instances/<id>/        instance.json, disk.qcow2, console.log, [boot.xml], [nvram.fd: UEFI variables]; memory.save while being
//                                  restored; resume.saving / resume.save / resume.consumed around a capture;
//                                  handoff-out while the instance is handed off
//   <state>/networks/<id>.json     the cloudlet's networks (engine/net: the host side exists while instances use them)
//   <state>/routers/<id>/          an instance's router: its DHCP server's pid, lease and log files
//   <state>/peers/<name>.json      a peer cloudlet (endpoint); <name>.token its API token (0600), <name>.ca.json its CA (both JSON strings)
//   <state>/operations/<id>.json   long-running operations and their results; <id>.console.log: the guest
//                                  console of a VM a failed operation booted (kept for `cloudlet operation show`)
//   <state>/tmp/                   work in progress
//   <state>/libvirt                embedded libvirt root (or a symlink to a short one, see vm/driver.ts)

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudletError, ioError } from '../errors';
import { fsyncDir } from '../io/io';
import type { BaseRecord, InstanceRecord, NetworkRecord, OperationRecord, OverlayRecord, PeerRecord } from '../contract/schemas';

export interface BaseFile {
  sha256: string;
  bytes: number;
}

// The records are the API's objects (engine/contract/schemas.ts): what the store keeps is what clients see.
export type { BaseRecord, InstanceRecord, NetworkRecord, OperationRecord, OverlayRecord };
export type { InstanceStateName as InstanceState, OperationStateName as OperationState } from '../contract/schemas';

const ID_RE = /^[a-z0-9][a-z0-9-]{0,70}$/;

/** The files of a base, in its store directory or in a tmp/ directory it is built in. */
export interface BasePaths {
  dir: string;
  record: string;
  disk: string;
  memory: string;
  /** The raw image of the snapshot's main RAM that instances map (image/ram-image.ts), and what it was made from. */
  ramImage: string;
  ramImageRecord: string;
  /** The snapshot without its main RAM's pages (what the image holds): what resuming the base restores. */
  ramRest: string;
  kernel: string;
  initrd: string;
  /** Building a base from a disk image: the boot domain's XML and console, removed before the base is kept. */
  bootXml: string;
  consoleLog: string;
}

export function basePathsIn(dir: string): BasePaths {
  const f = (n: string) => path.join(dir, n);
  return {
    dir,
    record: f('base.json'),
    disk: f('disk.raw'),
    memory: f('memory.save'),
    ramImage: f('memory.ram'),
    ramImageRecord: f('memory.ram.json'),
    ramRest: f('memory.rest.save'),
    kernel: f('kernel'),
    initrd: f('initrd.img'),
    bootXml: f('boot.xml'),
    consoleLog: f('console.log'),
  };
}

export interface OverlayPaths {
  dir: string;
  record: string;
  file: string;
}

export function overlayPathsIn(dir: string): OverlayPaths {
  return { dir, record: path.join(dir, 'overlay.json'), file: path.join(dir, 'overlay.clov') };
}

/** The files of an instance (see the layout above). */
export interface InstancePaths {
  dir: string;
  record: string;
  disk: string;
  /** A memory snapshot on its way into the VM (synthesis, handoff destination). */
  memory: string;
  bootXml: string;
  consoleLog: string;
  /** UEFI variable store (UEFI bases only). */
  nvram: string;
  snapshot: { saving: string; saved: string; consumed: string };
  handoffOut: string;
}

export function instancePathsIn(dir: string): InstancePaths {
  const f = (n: string) => path.join(dir, n);
  return {
    dir,
    record: f('instance.json'),
    disk: f('disk.qcow2'),
    memory: f('memory.save'),
    bootXml: f('boot.xml'),
    consoleLog: f('console.log'),
    nvram: f('nvram.fd'),
    snapshot: { saving: f('resume.saving'), saved: f('resume.save'), consumed: f('resume.consumed') },
    handoffOut: f('handoff-out'),
  };
}

export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

export function writeJsonAtomic(file: string, value: unknown, mode = 0o644): void {
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    const fd = fs.openSync(tmp, 'wx', mode);
    try {
      fs.writeSync(fd, JSON.stringify(value, null, 2) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw ioError('cannot write', file, e);
  }
}

/** A JSON file, or null when it is missing or unreadable. */
export function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export class Store {
  readonly bases: string;
  readonly overlays: string;
  readonly instances: string;
  readonly operations: string;
  readonly networks: string;
  readonly routers: string;
  readonly peers: string;
  readonly tmp: string;
  private lockHeld = false;

  constructor(readonly root: string) {
    this.root = path.resolve(root);
    this.bases = path.join(this.root, 'bases');
    this.overlays = path.join(this.root, 'overlays');
    this.instances = path.join(this.root, 'instances');
    this.operations = path.join(this.root, 'operations');
    this.networks = path.join(this.root, 'networks');
    this.routers = path.join(this.root, 'routers');
    this.peers = path.join(this.root, 'peers');
    this.tmp = path.join(this.root, 'tmp');
  }

  get lockFile(): string {
    return path.join(this.root, 'engine.lock');
  }

  /** The pid of the live engine holding the state directory, or 0. */
  lockOwner(): number {
    let pid = 0;
    try {
      pid = Number(fs.readFileSync(this.lockFile, 'utf8').trim());
    } catch {
      return 0;
    }
    return pid > 0 && processAlive(pid) ? pid : 0;
  }

  /** Takes the state directory for this process; a live engine holding it is an ENGINE_LOCKED error. */
  lock(): void {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(this.lockFile, `${process.pid}\n`, { flag: 'wx' });
        this.lockHeld = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError('cannot create lock', this.lockFile, e);
      }
      const pid = this.lockOwner();
      if (pid > 0 && pid !== process.pid) {
        throw new CloudletError('ENGINE_LOCKED', `another engine (pid ${pid}) owns ${this.root}`);
      }
      fs.rmSync(this.lockFile, { force: true }); // stale: its engine died without unlocking
    }
    throw new CloudletError('ENGINE_LOCKED', `could not take ${this.lockFile}`);
  }

  unlock(): void {
    if (!this.lockHeld) return;
    this.lockHeld = false;
    try {
      if (Number(fs.readFileSync(this.lockFile, 'utf8').trim()) === process.pid) fs.rmSync(this.lockFile);
    } catch {
      // already gone
    }
  }

  /** Creates the layout and removes work a crash left behind. */
  prepare(): { removedTemp: number } {
    for (const d of [this.bases, this.overlays, this.instances, this.operations, this.networks, this.routers, this.peers, this.tmp]) fs.mkdirSync(d, { recursive: true });
    let removed = 0;
    for (const e of fs.readdirSync(this.tmp)) {
      fs.rmSync(path.join(this.tmp, e), { recursive: true, force: true });
      removed++;
    }
    for (const d of [this.bases, this.overlays, this.instances, this.operations]) {
      for (const e of fs.readdirSync(d)) {
        if (e.includes('.tmp-')) {
          fs.rmSync(path.join(d, e), { recursive: true, force: true });
          removed++;
        }
      }
    }
    return { removedTemp: removed };
  }

  /** This cloudlet's identity: made once, kept for the life of the state directory (placement names it). */
  identity(name?: string): { id: string; name: string; created: string } {
    const file = path.join(this.root, 'cloudlet.json');
    const have = readJson<{ id: string; name: string; created: string }>(file);
    if (have && typeof have.id === 'string') return have;
    const id = newId('cloudlet');
    const made = { id, name: name ?? id, created: new Date().toISOString() };
    writeJsonAtomic(file, made);
    return made;
  }

  /** A fresh directory under tmp/ for work in progress. */
  tempDir(label: string): string {
    const d = path.join(this.tmp, `${label}-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(d, { recursive: true });
    return d;
  }

  // ---- bases ----

  baseDir(id: string): string {
    checkId(id, 'base');
    return path.join(this.bases, id);
  }

  base(id: string): BasePaths {
    return basePathsIn(this.baseDir(id));
  }

  getBase(id: string): BaseRecord | null {
    if (!ID_RE.test(id)) return null;
    return readJson<BaseRecord>(basePathsIn(path.join(this.bases, id)).record);
  }

  listBases(): BaseRecord[] {
    return this.listDirs(this.bases)
      .map((id) => this.getBase(id))
      .filter((b): b is BaseRecord => b !== null);
  }

  /** Moves a finished base directory (files in place) into the store under its id. */
  commitBase(dir: string, rec: BaseRecord): BaseRecord {
    writeJsonAtomic(basePathsIn(dir).record, rec);
    return this.commitDir(dir, this.baseDir(rec.id), () => this.getBase(rec.id)!) as BaseRecord;
  }

  // ---- overlays ----

  overlayDir(id: string): string {
    checkId(id, 'overlay');
    return path.join(this.overlays, id);
  }

  overlay(id: string): OverlayPaths {
    return overlayPathsIn(this.overlayDir(id));
  }

  overlayFile(id: string): string {
    return this.overlay(id).file;
  }

  getOverlay(id: string): OverlayRecord | null {
    if (!ID_RE.test(id)) return null;
    return readJson<OverlayRecord>(overlayPathsIn(path.join(this.overlays, id)).record);
  }

  listOverlays(): OverlayRecord[] {
    return this.listDirs(this.overlays)
      .map((id) => this.getOverlay(id))
      .filter((o): o is OverlayRecord => o !== null);
  }

  /** `file` is moved into the store; returns the stored record (an existing one if the content was known). */
  commitOverlay(file: string, rec: OverlayRecord): OverlayRecord {
    const dir = this.tempDir('overlay');
    const tmp = overlayPathsIn(dir);
    fs.renameSync(file, tmp.file);
    writeJsonAtomic(tmp.record, rec);
    return this.commitDir(dir, this.overlayDir(rec.id), () => this.getOverlay(rec.id)!) as OverlayRecord;
  }

  /**
   * Overlays fetched by syntheses (not stored on purpose) are kept while an instance record names them: the
   * instance records are the reference count, so it survives any crash. Removes the ones no instance names
   * and returns their ids.
   */
  sweepFetchedOverlays(): string[] {
    const used = new Set(
      this.listInstances()
        .map((i) => i.overlayId)
        .filter((o): o is string => !!o),
    );
    const removed: string[] = [];
    for (const o of this.listOverlays()) {
      if (!o.fetched || used.has(o.id)) continue;
      this.removeDir(this.overlayDir(o.id));
      removed.push(o.id);
    }
    return removed;
  }

  /** Replaces an overlay's record (atomically). */
  putOverlay(rec: OverlayRecord): void {
    writeJsonAtomic(this.overlay(rec.id).record, rec);
  }

  /** Keeps an overlay for good (no longer one a synthesis fetched). */
  keepOverlay(id: string): OverlayRecord {
    const rec = this.getOverlay(id);
    if (!rec) throw new CloudletError('NOT_FOUND', `no overlay ${id}`);
    if (!rec.fetched) return rec;
    delete rec.fetched;
    this.putOverlay(rec);
    return rec;
  }

  // ---- instances ----

  instanceDir(id: string): string {
    checkId(id, 'instance');
    return path.join(this.instances, id);
  }

  /** Named pipes left in instance directories (a handoff's early restore reads one; see io/fifo-feed.ts). */
  leftoverPipes(): string[] {
    const found: string[] = [];
    if (!fs.existsSync(this.instances)) return found;
    for (const id of fs.readdirSync(this.instances, { withFileTypes: true })) {
      if (!id.isDirectory()) continue;
      const dir = path.join(this.instances, id.name);
      for (const f of fs.readdirSync(dir, { withFileTypes: true })) if (f.isFIFO()) found.push(path.join(dir, f.name));
    }
    return found;
  }

  instance(id: string): InstancePaths {
    return instancePathsIn(this.instanceDir(id));
  }

  getInstance(id: string): InstanceRecord | null {
    if (!ID_RE.test(id)) return null;
    return readJson<InstanceRecord>(instancePathsIn(path.join(this.instances, id)).record);
  }

  listInstances(): InstanceRecord[] {
    return this.listDirs(this.instances)
      .map((id) => this.getInstance(id))
      .filter((i): i is InstanceRecord => i !== null);
  }

  putInstance(rec: InstanceRecord): void {
    const dir = this.instanceDir(rec.id);
    fs.mkdirSync(dir, { recursive: true });
    writeJsonAtomic(instancePathsIn(dir).record, rec);
  }

  // ---- networks ----

  /** A network's record file (also what a host-wide claim on its range names as its owner). */
  networkRecord(id: string): string {
    checkId(id, 'network');
    return path.join(this.networks, `${id}.json`);
  }

  getNetwork(id: string): NetworkRecord | null {
    if (!ID_RE.test(id)) return null;
    return readJson<NetworkRecord>(this.networkRecord(id));
  }

  listNetworks(): NetworkRecord[] {
    return fs
      .readdirSync(this.networks)
      .filter((f) => f.endsWith('.json') && !f.includes('.tmp-'))
      .map((f) => this.getNetwork(f.slice(0, -5)))
      .filter((n): n is NetworkRecord => n !== null)
      .sort((a, b) => a.created.localeCompare(b.created));
  }

  putNetwork(rec: NetworkRecord): void {
    writeJsonAtomic(this.networkRecord(rec.id), rec);
  }

  removeNetwork(id: string): void {
    fs.rmSync(this.networkRecord(id), { force: true });
    fsyncDir(this.networks);
  }

  /**
   * Where an instance's router keeps its DHCP server's files (engine/net/plumbing.ts): apart from the instance
   * directory, so the instance is gone from the records before its router is taken down.
   */
  routerDir(instanceId: string): string {
    checkId(instanceId, 'instance');
    return path.join(this.routers, instanceId);
  }

  /** Router directories whose instance has no record (left by a crash between the two removals). */
  orphanRouters(): string[] {
    return this.listDirs(this.routers).filter((id) => !this.getInstance(id));
  }

  // ---- peers ----

  listPeers(): PeerRecord[] {
    return fs
      .readdirSync(this.peers)
      .filter((f) => f.endsWith('.json') && !f.includes('.tmp-'))
      .map((f) => this.getPeer(f.slice(0, -5)))
      .filter((p): p is PeerRecord => p !== null);
  }

  getPeer(name: string): PeerRecord | null {
    if (!ID_RE.test(name)) return null;
    return readJson<PeerRecord>(path.join(this.peers, `${name}.json`));
  }

  /** A peer's record and its secrets (the token file is written 0600 first, so the record never names a missing one). */
  putPeer(rec: PeerRecord, token: string, ca: string | undefined): void {
    checkId(rec.name, 'peer');
    writeJsonAtomic(path.join(this.peers, `${rec.name}.token`), token, 0o600);
    const caFile = path.join(this.peers, `${rec.name}.ca.json`);
    if (ca !== undefined) writeJsonAtomic(caFile, ca, 0o644);
    else fs.rmSync(caFile, { force: true });
    writeJsonAtomic(path.join(this.peers, `${rec.name}.json`), rec);
  }

  peerSecrets(name: string): { token: string; ca?: string } {
    checkId(name, 'peer');
    const token = readJson<string>(path.join(this.peers, `${name}.token`));
    if (token === null) throw new CloudletError('NOT_FOUND', `no token kept for peer ${name}`);
    const ca = readJson<string>(path.join(this.peers, `${name}.ca.json`)) ?? undefined;
    return { token, ca };
  }

  removePeer(name: string): void {
    checkId(name, 'peer');
    for (const f of ['.json', '.token', '.ca.json']) fs.rmSync(path.join(this.peers, `${name}${f}`), { force: true });
    fsyncDir(this.peers);
  }

  // ---- operations ----

  putOperation(rec: OperationRecord): void {
    checkId(rec.id, 'operation');
    writeJsonAtomic(path.join(this.operations, `${rec.id}.json`), rec);
  }

  /** Where a failed operation keeps the guest console of the VM it booted (a base import that timed out, say). */
  operationConsoleLog(id: string): string {
    checkId(id, 'operation');
    return path.join(this.operations, `${id}.console.log`);
  }

  listOperations(): OperationRecord[] {
    return fs
      .readdirSync(this.operations)
      .filter((f) => f.endsWith('.json') && !f.includes('.tmp-'))
      .map((f) => readJson<OperationRecord>(path.join(this.operations, f)))
      .filter((o): o is OperationRecord => o !== null);
  }

  /** Removes an object directory: renamed out of sight first, so a crash never leaves half of one. */
  removeDir(dir: string): void {
    if (!fs.existsSync(dir)) return;
    const trash = path.join(this.tmp, `trash-${randomBytes(6).toString('hex')}`);
    fs.renameSync(dir, trash);
    fsyncDir(path.dirname(dir));
    fs.rmSync(trash, { recursive: true, force: true });
  }

  private listDirs(d: string): string[] {
    return fs.readdirSync(d).filter((e) => ID_RE.test(e));
  }

  private commitDir(from: string, to: string, existing: () => unknown): unknown {
    try {
      fs.renameSync(from, to);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        // Content-addressed: the same object is already stored.
        fs.rmSync(from, { recursive: true, force: true });
        return existing();
      }
      throw ioError('cannot store', to, e);
    }
    fsyncDir(path.dirname(to));
    return existing();
  }
}

function checkId(id: string, what: string): void {
  if (!ID_RE.test(id)) throw new CloudletError('INVALID_ARGUMENT', `not a valid ${what} id: ${JSON.stringify(id)}`);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
