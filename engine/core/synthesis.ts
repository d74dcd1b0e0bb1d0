// Synthesis: an instance from a base and an overlay (stored, or fetched from a URL and checked whole as it
// arrives), or the base resumed as it is.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CreateInstanceRequest, InstanceNetworkRecord, OverlaySpecRequest } from '../contract/schemas';
import { CloudletError } from '../errors';
import { applyOverlay, checkOverlay } from '../overlay/apply';
import { GrowingFileSource, makeDurable } from '../io/io';
import { redactUrl } from '../store/fetch';
import { BaseRecord, InstanceRecord, OperationRecord, newId } from '../store/store';
import { copyWithDomainXml, headerRegionWithXml } from '../vm/save-header';
import { EngineContext, HEX64, NAME_RE } from './context';
import { crashPoint } from './crash-points';
import { Operation } from './operations';
import { InstanceService } from './instances';
import { createdBy } from './request-context';

const run = promisify(execFile);

/**
 * The most bytes of a VM's files a synthesis writes from an overlay that is still arriving, before all of it
 * has checked out: a refused overlay costs its own length plus this (the fuzz tests' bound is 64 MiB over).
 */
export const APPLY_WRITES_BEFORE_CHECKED = 32 << 20;

export class SynthesisService {
  constructor(
    private readonly ctx: EngineContext,
    private readonly instances: InstanceService,
  ) {}

  /**
   * Synthesizes an instance from a base and an overlay (or resumes the base alone). Idempotent on requestId.
   * A base whose snapshot this cloudlet's QEMU cannot restore is refused before anything is made.
   */
  async createInstance(req: CreateInstanceRequest): Promise<OperationRecord> {
    const again = req.requestId ? this.ctx.ops.byRequestId('synthesize', req.requestId) : null;
    if (again) return again;
    const base = this.ctx.requireBase(req.baseId);
    await this.ctx.requireRunnable(base);
    // Addresses and host ports are chosen one request at a time, each recorded before the next is chosen.
    return this.ctx.networks.serialized(async () => {
      const id = newId('i');
      const placement = await this.ctx.networks.place(id, req, this.ctx.baseHasNic(base));
      try {
        return this.start(req, id, placement);
      } catch (e) {
        if (placement) this.ctx.networks.releasePorts({ id, network: placement } as InstanceRecord);
        throw e;
      }
    });
  }

  private start(req: CreateInstanceRequest, id: string, placement: InstanceNetworkRecord | undefined): OperationRecord {
    const bad = (m: string) => new CloudletError('INVALID_ARGUMENT', m);
    if (typeof req.name !== 'string' || !NAME_RE.test(req.name)) throw bad('name: lowercase letters, digits and dashes, starting with a letter or digit, at most 63');
    const again = req.requestId ? this.ctx.ops.byRequestId('synthesize', req.requestId) : null;
    if (again) return again;
    const base = this.ctx.requireBase(req.baseId);
    const ov = req.overlay;
    if (ov !== undefined) {
      if (ov.sha256 !== undefined && !HEX64.test(ov.sha256)) throw bad('overlay.sha256: 64 lowercase hex digits');
      if (ov.url !== undefined && !/^(https?:\/\/|file:\/\/|\/)/.test(ov.url)) throw bad('overlay.url: an http(s) or file URL, or an absolute path');
      if (ov.id === undefined && ov.url === undefined) throw bad('overlay: give id or url');
      if (ov.id !== undefined) {
        const o = this.ctx.requireOverlay(ov.id);
        if (o.baseId !== base.id) throw new CloudletError('OVERLAY_WRONG_BASE', `overlay ${o.id} was made against base ${o.baseId}, not ${base.id}`);
      }
    }
    if (this.ctx.store.listInstances().some((i) => i.name === req.name)) throw new CloudletError('CONFLICT', `an instance named ${req.name} already exists`);
    const inst: InstanceRecord = {
      id,
      name: req.name,
      baseId: base.id,
      domain: `cl-${id}`,
      state: 'creating',
      created: new Date().toISOString(),
      requestId: req.requestId,
      timings: {},
      ...(placement ? { network: placement } : {}),
      ...createdBy(),
    };
    this.ctx.store.putInstance(inst);
    this.ctx.busy.add(id);
    return this.ctx.ops.start('synthesize', req.requestId, async (op) => {
      op.setTarget({ type: 'instance', id });
      try {
        await this.synthesize(op, inst, base, ov);
        return { instance: await this.instances.get(id) };
      } catch (e) {
        await this.instances.discard(inst);
        this.ctx.sweepOverlays();
        throw e;
      } finally {
        this.ctx.busy.delete(id);
      }
    }).rec;
  }

  private async synthesize(op: Operation, inst: InstanceRecord, base: BaseRecord, ov: OverlaySpecRequest | undefined): Promise<void> {
    // The instance's router is built while the overlay arrives and is applied, off the critical path. A
    // synthesis that fails first waits for it, so the discard that follows finds it whole and removes it.
    const plumbing = this.ctx.networks.up(inst);
    plumbing.catch(() => undefined); // awaited in build, or here on a failure
    try {
      await this.build(op, inst, base, ov, plumbing);
    } catch (e) {
      await plumbing.catch(() => undefined);
      throw e;
    }
  }

  private async build(op: Operation, inst: InstanceRecord, base: BaseRecord, ov: OverlaySpecRequest | undefined, plumbing: Promise<void>): Promise<void> {
    const dir = this.ctx.store.instanceDir(inst.id);
    const bdir = this.ctx.store.base(base.id);
    const { disk, memory } = this.ctx.store.instance(inst.id);
    const t0 = Date.now();
    // The base's memory image (made now if this base has none yet): the VM's RAM maps it, and the save file
    // restored holds only what differs from it.
    const ramImage = await this.ctx.memoryImages.forNewInstance(base);
    if (ov) {
      // Fetch: the overlay is checked whole against the base as it arrives and spooled into the store's tmp/;
      // nothing is kept from one that does not check out. Apply: the VM's files are written from the spooled
      // bytes meanwhile, at most APPLY_WRITES_BEFORE_CHECKED of them until the whole overlay has checked out
      // (so a refused overlay costs its length plus that budget; its partial files are removed), and they get
      // their names only after. A stored overlay is checked and applied from its file.
      op.phase('fetch');
      let storedId = ov.id ?? (ov.sha256 && this.ctx.store.getOverlay(ov.sha256) ? ov.sha256 : undefined);
      // Parsing the base's memory snapshot (to bound and check the overlay) overlaps the download.
      const opening = this.ctx.openStoredBase(base);
      opening.catch(() => undefined); // awaited below; an early failure elsewhere must not leave it unhandled
      let applyStarted = false;
      // The rebuilt memory snapshot is written with this instance's domain XML at its head.
      const xmlFor = (old: string) => this.instances.domainXmlFrom(inst, base, old, ramImage !== null);
      const applyFrom = async (overlay: string | GrowingFileSource) =>
        applyOverlay({
          overlay,
          checked: true,
          saveHeader: (region) => headerRegionWithXml(region, xmlFor, "the overlay's memory snapshot"),
          ...(typeof overlay === 'string' ? {} : { following: { checked: overlay.whenEnded(), bytesBeforeChecked: APPLY_WRITES_BEFORE_CHECKED } }),
          base: await opening,
          baseDisk: bdir.disk,
          baseMemory: bdir.memory,
          outputDisk: disk,
          outputMemory: memory,
          sparseMainRam: ramImage !== null,
          durable: false, // the disk layer is flushed while the VM restores, below
          onProgress: (p) => {
            crashPoint('synthesize.apply');
            // During the fetch the operation's progress is the bytes received.
            if (applyStarted) op.progress(p.done, p.total);
          },
        });
      // The instance names its overlay before it is built on, so the overlay stays while the instance (even
      // half-made) does; an instance still 'creating' at the next start is removed, files and all.
      const nameOverlay = (id: string) => {
        inst.overlayId = id;
        this.ctx.store.putInstance(inst);
        crashPoint('synthesize.committed');
        op.phase('apply');
        applyStarted = true;
      };
      try {
        if (storedId) {
          await checkOverlay(this.ctx.store.overlayFile(storedId), opening);
          nameOverlay(storedId);
          await applyFrom(this.ctx.store.overlayFile(storedId));
        } else {
          const url = ov.url!;
          const follower = new GrowingFileSource(`overlay from ${redactUrl(url)}`);
          const applying = applyFrom(follower);
          applying.catch(() => undefined); // awaited below
          try {
            const rec = await this.ctx.withSource(op, url, (src) =>
              this.ctx.intakeOverlay(
                {
                  read: () => {
                    crashPoint('synthesize.fetch-chunk');
                    return src.source.read();
                  },
                },
                { base: opening, origin: redactUrl(url), expectSha256: ov.sha256, fetched: true, onSpooled: () => crashPoint('synthesize.fetched'), follower },
              ),
            );
            storedId = rec.id;
            nameOverlay(storedId);
            follower.end();
            await applying;
          } catch (e) {
            follower.fail(e as Error);
            await applying.catch(() => undefined); // its partial files are gone before the error goes on
            throw e;
          } finally {
            follower.close();
          }
        }
      } finally {
        await opening.then(
          (b) => b.close(),
          () => undefined,
        );
      }
    } else {
      op.phase('prepare');
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', path.relative(dir, bdir.disk), disk]);
      crashPoint('synthesize.prepare');
    }
    op.phase('restore');
    // Resuming the base: its snapshot as it is, or without the pages the mapped image holds. (An overlay's
    // rebuilt snapshot has this instance's domain XML already.)
    if (!ov) await copyWithDomainXml(ramImage ? ramImage.rest : bdir.memory, memory, this.instances.domainXml(inst, base, bdir.memory, ramImage !== null));
    const n0 = Date.now();
    await plumbing;
    const networkWait = (Date.now() - n0) / 1000;
    op.throwIfCancelled();
    crashPoint('synthesize.restore');
    // The disk layer must be durable before the instance counts as running (an instance still 'creating' is
    // removed at the next start); its flush runs alongside the restore, off the critical path.
    const durable = ov ? makeDurable(disk) : Promise.resolve();
    durable.catch(() => undefined); // awaited below
    const r0 = Date.now();
    await this.ctx.memoryImages.restore(inst, memory);
    const vmRestore = (Date.now() - r0) / 1000;
    await durable;
    const diskFlushWait = (Date.now() - r0) / 1000 - vmRestore;
    crashPoint('synthesize.restored');
    fs.rmSync(memory, { force: true });
    const g0 = Date.now();
    await this.instances.afterResume(inst, { fresh: true });
    const guestIdentity = (Date.now() - g0) / 1000;
    inst.state = 'running';
    op.phase('done'); // closes the restore phase, so its time is in the timings
    // The restore phase's parts, for the benchmarks' "where the time goes" (seconds).
    const round = (x: number) => Math.round(x * 1000) / 1000;
    inst.timings = {
      ...op.rec.timings,
      networkWait: round(networkWait),
      vmRestore,
      diskFlushWait: round(diskFlushWait),
      guestIdentity: round(guestIdentity),
      total: (Date.now() - t0) / 1000,
    };
    this.ctx.store.putInstance(inst);
  }
}
