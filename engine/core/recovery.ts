// After a crash: interrupted operations are failed, half-made instances removed, captures and handoffs
// finished the way their records say, and unused fetched overlays swept.

import * as fs from 'node:fs';
import { InstanceRecord } from '../store/store';
import { DomainState } from '../vm/driver';
import { EngineContext } from './context';
import { InstanceService } from './instances';
import { CaptureService } from './captures';
import { HandoffSourceService } from './handoff-source';

export class RecoveryService {
  constructor(
    private readonly ctx: EngineContext,
    private readonly instances: InstanceService,
    private readonly captures: CaptureService,
    private readonly handoffs: HandoffSourceService,
  ) {}

  /** After a crash: fail interrupted operations, remove half-made instances, find running VMs again. */
  async run(): Promise<void> {
    for (const op of this.ctx.store.listOperations()) {
      if (op.state !== 'running') continue;
      op.state = 'failed';
      op.error = { code: 'INTERRUPTED', message: `the engine stopped while this operation was in phase "${op.phase}"; nothing half-made was kept` };
      op.updated = new Date().toISOString();
      this.ctx.store.putOperation(op);
      this.ctx.log(`operation ${op.id} (${op.kind}) was interrupted`);
    }
    const domains = await this.ctx.driver.list();
    const links = await this.ctx.driver.sweepRamLinks('cl-');
    if (links > 0) this.ctx.log(`removed ${links} memory-image link(s) left by an interrupted restore`);
    for (const inst of this.ctx.store.listInstances()) {
      const dir = this.ctx.store.instanceDir(inst.id);
      if (inst.state === 'creating') {
        await this.ctx.driver.destroy(inst.domain);
        this.ctx.store.removeDir(dir);
        this.ctx.log(`removed unfinished instance ${inst.id}`);
        continue;
      }
      const st = domains.get(inst.domain);
      const handoffMark = this.ctx.store.instance(inst.id).handoffOut;
      if (fs.existsSync(handoffMark)) {
        const mark = fs.readFileSync(handoffMark, 'utf8').trim().split(/\s+/);
        if (mark[0] === 'confirmed') {
          // The destination runs this VM: finish removing the copy here, and keep answering its confirmation
          // (it retries one whose answer the crash swallowed) as taken.
          if (mark[1]) this.handoffs.rememberConfirmed(mark[1], inst.id);
          await this.instances.remove(inst);
          this.ctx.log(`instance ${inst.id} had been handed off; removed its copy here`);
          continue;
        }
        // The engine died while handing this VM off, before any confirmation: it is still ours to run.
        if (st === 'paused') await this.ctx.driver.resume(inst.domain).catch((e) => this.ctx.log(`could not resume instance ${inst.id}: ${(e as Error).message}`));
        fs.rmSync(handoffMark, { force: true });
        this.ctx.log(`instance ${inst.id}: an interrupted handoff was abandoned; the VM runs on here`);
      }
      const resumed = await this.captures.recover(inst, st);
      if (inst.handoffIn) {
        await this.recoverHandoffIn(inst, st);
        continue;
      }
      // The listing predates a resume just done: ask libvirt again for that one.
      await this.instances.refresh(inst, resumed ? undefined : domains);
    }
    this.adoptLegacyFetchedOverlays();
    this.ctx.sweepOverlays();
  }

  /** A handoff's destination copy that was restored when the engine died (see InstanceRecord.handoffIn). */
  private async recoverHandoffIn(inst: InstanceRecord, st: DomainState | undefined): Promise<void> {
    const h = inst.handoffIn!;
    const memory = this.ctx.store.instance(inst.id).memory;
    try {
      if (st !== 'running' && st !== 'paused' && fs.existsSync(memory)) {
        if (st) await this.ctx.driver.destroy(inst.domain);
        await this.ctx.memoryImages.restore(inst, memory, { paused: true });
      }
      if (h.state === 'confirmed') {
        await this.ctx.driver.resume(inst.domain);
        fs.rmSync(memory, { force: true });
        await this.instances.afterResume(inst);
        inst.state = 'running';
        delete inst.handoffIn;
        delete inst.error;
        this.ctx.log(`instance ${inst.id}: handoff ${h.id} had been confirmed by the source; the VM runs here`);
      } else {
        fs.rmSync(memory, { force: true });
        inst.state = 'paused';
        inst.error = {
          code: 'HANDOFF_UNCERTAIN',
          message: `the engine stopped while confirming handoff ${h.id} to ${h.source}; this copy is kept paused. Check the source: if its copy is gone, resume this one (cloudlet instance power ${inst.id} running); if it runs there, delete this one.`,
        };
        this.ctx.log(`instance ${inst.id}: handoff ${h.id} may or may not have been taken by the source; kept paused`);
      }
      this.ctx.store.putInstance(inst);
    } catch (e) {
      this.ctx.log(`instance ${inst.id}: could not recover handoff ${h.id}: ${(e as Error).message}`);
    }
  }

  /** State written before overlay records said "fetched": the instances said it instead. */
  private adoptLegacyFetchedOverlays(): void {
    for (const i of this.ctx.store.listInstances()) {
      if (!i.fetchedOverlay || !i.overlayId) continue;
      const o = this.ctx.store.getOverlay(i.overlayId);
      if (o && !o.fetched) this.ctx.store.putOverlay({ ...o, fetched: true });
      delete i.fetchedOverlay;
      this.ctx.store.putInstance(i);
    }
  }
}
