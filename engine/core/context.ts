// What every engine service shares: the state directory, the libvirt connection, the operation table, the
// log, the instance locks and the engine's settings, with the few helpers more than one service needs. The
// services (bases, overlays, instances, synthesis, captures, handoff source and destination, recovery) each
// take this and nothing global.

import * as path from 'node:path';
import { CloudletError } from '../errors';
import { OpenedBase, openBase } from '../overlay/apply';
import { OpenedSource, openSource } from '../store/fetch';
import { BaseRecord, OverlayRecord, Store } from '../store/store';
import { VmDriver } from '../vm/driver';
import { Operation, OperationTable } from './operations';

export const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const HEX64 = /^[0-9a-f]{64}$/;
/** The largest overlay file the engine takes (1 TiB). */
export const MAX_OVERLAY_BYTES = 2 ** 40;

export interface HandoffSettings {
  /** How long the source waits, VM paused, for the destination's confirmation. */
  confirmTimeoutMs: number;
  /** A transfer that makes no progress for this long fails. */
  stallTimeoutMs: number;
  /** Fixed zstd level for the stream instead of the adaptive one (0 = none); for benchmarks. */
  level?: number;
}

export interface EngineSettings {
  /** How long a download may wait for headers or stall in its body. */
  fetchTimeoutMs: number;
  handoff: HandoffSettings;
}

export const DEFAULT_SETTINGS: EngineSettings = { fetchTimeoutMs: 30000, handoff: { confirmTimeoutMs: 120000, stallTimeoutMs: 60000 } };

export class EngineContext {
  /** Instances with an operation working on them, so a second one is refused instead of interleaved. */
  readonly busy = new Set<string>();

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

  requireOverlay(id: string): OverlayRecord {
    const o = this.store.getOverlay(id);
    if (!o) throw new CloudletError('NOT_FOUND', `no overlay ${id}`);
    return o;
  }

  controlSocket(instanceId: string): string {
    return path.join(this.ctlDir, `${instanceId}.sock`);
  }

  /** A stored base opened for the overlay codec (digests from the store, which checked them at import). */
  openStoredBase(base: BaseRecord): Promise<OpenedBase> {
    const p = this.store.base(base.id);
    return openBase(p.disk, p.memory, { disk: base.disk.sha256, memory: base.memory.sha256 });
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
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new CloudletError('CANCELLED', 'the operation was cancelled'));
    });
  });
}
