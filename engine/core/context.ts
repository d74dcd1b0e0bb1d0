// What every engine service shares: the state directory, the libvirt connection, the operation table, the
// log, the instance locks and the engine's settings, with the few helpers more than one service needs. The
// services (bases, overlays, instances, synthesis, captures, handoff source and destination, recovery) each
// take this and nothing global.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { PATTERNS } from '../contract/rules';
import { CloudletError } from '../errors';
import { ByteSource, GrowingFileSource, SpoolSource } from '../io/io';
import { BaseArg, OpenedBase, checkOverlay, openBase } from '../overlay/apply';
import { baseIdOf } from '../overlay/format';
import { OpenedSource, openSource } from '../store/fetch';
import { BaseRecord, OverlayRecord, Store, overlayPathsIn } from '../store/store';
import { checkRunnable, machineOf } from '../vm/capabilities';
import { hasAgentChannel, hasNic } from '../vm/domain';
import { VmDriver } from '../vm/driver';
import { readSaveHeader } from '../vm/save-header';
import { MemoryImageService } from './memory-images';
import { NetworkService } from './networks';
import { createdBy } from './request-context';
import { Operation, OperationTable } from './operations';

/** The API's name and hash rules (engine/contract/rules.ts), for the services' own checks. */
export const NAME_RE = PATTERNS.name.pattern;
export const HEX64 = PATTERNS.sha256.pattern;
/** The largest overlay file the engine takes (1 TiB). */
export const MAX_OVERLAY_BYTES = 2 ** 40;

export interface HandoffSettings {
  /** How long the source waits, VM paused, for the destination's confirmation. */
  confirmTimeoutMs: number;
  /** A transfer that makes no progress for this long fails. */
  stallTimeoutMs: number;
  /** Fixed zstd level for the stream instead of the adaptive one (0 = none); for benchmarks. */
  level?: number;
  /**
   * When the source checks the guest's memory with the guest paused (engine/handoff/sender.ts): `auto`
   * (default) for guests under TCG, whose dirty tracking QEMU before 9.0 gets wrong; `always`; `never`.
   */
  memoryCheck?: 'auto' | 'always' | 'never';
}

export interface EngineSettings {
  /** How long a download may wait for headers or stall in its body. */
  fetchTimeoutMs: number;
  handoff: HandoffSettings;
  /** The host address ports are published on (default: the source address of the host's default route). */
  publishAddress?: string;
  /**
   * Whether new instances map their RAM from their base's memory image and restore only what differs from it
   * (default true; false restores every page, as engines did before: for comparisons).
   */
  ramMapping?: boolean;
  /** This engine's API as its peers reach it (and the CA to trust it by), once it serves: push handoffs need it. */
  selfEndpoint?: { endpoint: string; ca?: string };
}

export const DEFAULT_SETTINGS: EngineSettings = { fetchTimeoutMs: 30000, handoff: { confirmTimeoutMs: 120000, stallTimeoutMs: 60000 } };

export class EngineContext {
  /** Instances with an operation working on them, so a second one is refused instead of interleaved. */
  readonly busy = new Set<string>();
  /** The cloudlet's networks and the host side of instances' network cards. */
  readonly networks: NetworkService = new NetworkService(this);
  /** Base memory images, and the restore that maps them. */
  readonly memoryImages: MemoryImageService = new MemoryImageService(this);

  constructor(
    readonly store: Store,
    readonly driver: VmDriver,
    readonly ops: OperationTable,
    /** Where guest-agent sockets and migration sockets live (short paths: unix sockets are limited to 108 bytes). */
    readonly ctlDir: string,
    readonly log: (line: string) => void,
    readonly settings: EngineSettings,
  ) {}

  requireBase(id: string): BaseRecord {
    const b = this.store.getBase(id);
    if (!b) throw new CloudletError('NOT_FOUND', `no base VM ${id}`);
    return b;
  }

  /**
   * Refuses a base whose memory snapshot this cloudlet's QEMU cannot restore (its machine type or CPU model is
   * missing here), naming both sides. Bases recorded before the machine type was kept are read from their snapshot.
   */
  async requireRunnable(base: BaseRecord): Promise<void> {
    const machine = base.machine ?? this.snapshotFacts(base).machine;
    checkRunnable(await this.driver.capabilities(), { machine, cpuModel: base.cpuModel }, `base ${base.name} (${base.id.slice(0, 12)})`);
  }

  requireOverlay(id: string): OverlayRecord {
    const o = this.store.getOverlay(id);
    if (!o) throw new CloudletError('NOT_FOUND', `no overlay ${id}`);
    return o;
  }

  /** The serial control port's socket, for instances of bases saved when the VMs had one (see domain.ts). */
  controlSocket(instanceId: string): string {
    return path.join(this.ctlDir, `${instanceId}.sock`);
  }

  /** Where libvirt meets the instance's QEMU guest agent. */
  agentSocket(instanceId: string): string {
    return path.join(this.ctlDir, `${instanceId}.qga`);
  }

  /** The sockets of an instance, for removal with it. */
  removeSockets(instanceId: string): void {
    fs.rmSync(this.controlSocket(instanceId), { force: true });
    fs.rmSync(this.agentSocket(instanceId), { force: true });
  }

  private readonly snapshots = new Map<string, { machine?: string; agentChannel: boolean; nic: boolean }>();

  /** What a base's snapshot XML says, read once per base (a base never changes: its id is its content). */
  private snapshotFacts(base: BaseRecord): { machine?: string; agentChannel: boolean; nic: boolean } {
    let facts = this.snapshots.get(base.id);
    if (!facts) {
      const xml = readSaveHeader(this.store.base(base.id).memory).xml;
      facts = { machine: machineOf(xml), agentChannel: hasAgentChannel(xml), nic: hasNic(xml) };
      this.snapshots.set(base.id, facts);
    }
    return facts;
  }

  /** Whether a base's VM has the QEMU guest agent's channel (bases saved before it existed have none). */
  baseHasAgentChannel(base: BaseRecord): boolean {
    return this.snapshotFacts(base).agentChannel;
  }

  /** Whether a base's VM has a network card (bases made before cloudlet networking have none). */
  baseHasNic(base: BaseRecord): boolean {
    return this.snapshotFacts(base).nic;
  }

  /** A stored base opened for the overlay codec (digests from the store, which checked them at import). */
  openStoredBase(base: BaseRecord): Promise<OpenedBase> {
    const p = this.store.base(base.id);
    return openBase(p.disk, p.memory, { disk: base.disk.sha256, memory: base.memory.sha256 });
  }

  /**
   * Takes an overlay from a stream into the store: spooled into tmp/ while it is checked whole against `base`
   * (so nothing is kept, or built, from one that does not check out), then committed. A `fetched` one (a
   * synthesis's) is kept while an instance names it; storing one on purpose keeps it for good, also when a
   * synthesis had fetched it first.
   */
  async intakeOverlay(
    source: ByteSource,
    o: { base: BaseArg; origin: string; expectSha256?: string; fetched?: boolean; onSpooled?: () => void; follower?: GrowingFileSource },
  ): Promise<OverlayRecord> {
    const dir = this.store.tempDir('intake');
    const file = overlayPathsIn(dir).file;
    try {
      // A follower (an apply that runs alongside) reads the spool as far as written; it ends only once all
      // of it has checked out and is stored, and fails with the intake.
      const spool = new SpoolSource(source, file, MAX_OVERLAY_BYTES, o.follower && ((f, bytes) => o.follower!.grew(f, bytes)));
      let checked: Awaited<ReturnType<typeof checkOverlay>>;
      let got: { sha256: string; bytes: number };
      try {
        checked = await checkOverlay(spool, o.base);
        got = await spool.finish();
      } finally {
        spool.close();
      }
      o.onSpooled?.();
      if (o.expectSha256 && got.sha256 !== o.expectSha256) throw new CloudletError('HASH_MISMATCH', `${o.origin}: the overlay's SHA-256 is ${got.sha256}, expected ${o.expectSha256}`);
      const baseId = baseIdOf(checked.meta.base.disk.sha256, checked.meta.base.memory.sha256).toString('hex');
      const rec = this.store.commitOverlay(file, {
        id: got.sha256,
        bytes: got.bytes,
        baseId,
        created: new Date().toISOString(),
        source: o.origin,
        ...(o.fetched ? { fetched: true } : {}),
        ...createdBy(),
      });
      return rec.fetched && !o.fetched ? this.store.keepOverlay(rec.id) : rec;
    } catch (e) {
      o.follower?.fail(e as Error);
      throw e;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Removes the fetched overlays no instance names any more (see Store.sweepFetchedOverlays). */
  sweepOverlays(): void {
    for (const id of this.store.sweepFetchedOverlays()) this.log(`removed overlay ${id}: fetched by a synthesis, and no instance uses it any more`);
  }

  /** Opens a path or URL for an operation, reporting bytes received as its progress until `work` is done. */
  async withSource<T>(op: Operation, location: string, work: (src: OpenedSource) => Promise<T>): Promise<T> {
    const src = await openSource(location, { signal: op.signal, timeoutMs: this.settings.fetchTimeoutMs });
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
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new CloudletError('CANCELLED', 'the operation was cancelled'));
    const onAbort = () => {
      clearTimeout(t);
      reject(new CloudletError('CANCELLED', 'the operation was cancelled'));
    };
    // The listener goes when the sleep ends: a poll loop sleeps many times on one operation's signal.
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
