// Overlays: stored on purpose (uploaded, imported from a URL, captured from an instance), checked whole against
// their base before they are kept.

import * as fs from 'node:fs';
import { CaptureOverlayRequest, ImportOverlayUrlRequest } from '../contract/schemas';
import { CloudletError } from '../errors';
import { BaseResolver } from '../overlay/apply';
import { fileDigest } from '../io/digest';
import { ByteSource } from '../io/io';
import { createOverlay } from '../overlay/writer';
import { redactUrl } from '../store/fetch';
import { OperationRecord, OverlayRecord, overlayPathsIn } from '../store/store';
import { EngineContext, HEX64 } from './context';
import { crashPoint } from './crash-points';
import { CaptureService } from './captures';
import { createdBy } from './request-context';

export class OverlayService {
  constructor(
    private readonly ctx: EngineContext,
    private readonly captures: CaptureService,
  ) {}

  list(): OverlayRecord[] {
    return this.ctx.store.listOverlays();
  }

  get(id: string): OverlayRecord {
    return this.ctx.requireOverlay(id);
  }

  file(id: string): string {
    this.get(id);
    return this.ctx.store.overlayFile(id);
  }

  delete(id: string): void {
    this.get(id);
    this.ctx.store.removeDir(this.ctx.store.overlayDir(id));
  }

  /** The codec's base lookup: a base in the store, else null (the overlay is then checked without it). */
  private readonly storedBase: BaseResolver = async (id) => {
    const b = this.ctx.store.getBase(id);
    return b ? this.ctx.openStoredBase(b) : null;
  };

  /** Stores an overlay from a stream (an upload or a fetch), checked whole against its base when it is here. */
  storeFrom(source: ByteSource, origin: string, expectSha256?: string): Promise<OverlayRecord> {
    return this.ctx.intakeOverlay(source, { base: this.storedBase, origin, expectSha256 });
  }

  /** Fetches an overlay from a URL or path into the store (already stored when its sha256 is known here). */
  import(req: ImportOverlayUrlRequest): OperationRecord {
    if (typeof req.url !== 'string' || !/^(https?:\/\/|file:\/\/|\/)/.test(req.url)) throw new CloudletError('INVALID_ARGUMENT', 'url: an http(s) or file URL, or an absolute path');
    if (req.sha256 !== undefined && !HEX64.test(req.sha256)) throw new CloudletError('INVALID_ARGUMENT', 'sha256: 64 lowercase hex digits');
    const again = req.requestId ? this.ctx.ops.byRequestId('import-overlay', req.requestId) : null;
    if (again) return again;
    return this.ctx.ops.start('import-overlay', req.requestId, async (op) => {
      const have = req.sha256 ? this.ctx.store.getOverlay(req.sha256) : null;
      if (have) {
        op.setTarget({ type: 'overlay', id: have.id });
        return { overlay: have.fetched ? this.ctx.store.keepOverlay(have.id) : have, cached: true };
      }
      op.phase('download');
      const rec = await this.ctx.withSource(op, req.url, (src) => this.storeFrom(src.source, redactUrl(req.url), req.sha256));
      op.setTarget({ type: 'overlay', id: rec.id });
      return { overlay: rec, cached: false };
    }).rec;
  }

  /** Creates an overlay from a running instance: the VM is saved, diffed against its base, and resumed. */
  capture(req: CaptureOverlayRequest): OperationRecord {
    return this.captures.startOnInstance('create-overlay', req.instanceId, req.requestId, async (op, inst, base) => {
      const dir = this.ctx.store.tempDir('overlay');
      const out = overlayPathsIn(dir).file;
      try {
        await this.captures.whilePaused(op, inst, async (saved) => {
          op.phase('delta');
          const bdir = this.ctx.store.base(base.id);
          await createOverlay({
            baseDisk: bdir.disk,
            baseMemory: bdir.memory,
            customDisk: this.ctx.store.instance(inst.id).disk,
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
        const rec = this.ctx.store.commitOverlay(out, { id: sha256, bytes: fs.statSync(out).size, baseId: base.id, created: new Date().toISOString(), source: `instance ${inst.id}`, ...createdBy() });
        crashPoint('create-overlay.stored');
        op.setTarget({ type: 'overlay', id: rec.id });
        return { overlay: rec };
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}
