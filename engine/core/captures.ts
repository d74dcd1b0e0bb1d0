// Capturing a running instance (an overlay or a base): the VM's memory is saved next to its disk, the work
// runs on the stopped VM, and the snapshot is restored and consumed exactly once, also after a crash.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDir } from '../io/io';
import { BaseRecord, InstanceRecord, OperationRecord } from '../store/store';
import { DomainState } from '../vm/driver';
import { EngineContext } from './context';
import { crashPoint } from './crash-points';
import { Operation } from './operations';
import { InstanceService } from './instances';

export class CaptureService {
  constructor(
    private readonly ctx: EngineContext,
    private readonly instances: InstanceService,
  ) {}

  /**
   * Starts an operation on a running instance (idempotent on requestId), holding the instance for its whole
   * run so no second operation interleaves with it.
   */
  startOnInstance(kind: string, instanceId: string, requestId: string | undefined, work: (op: Operation, inst: InstanceRecord, base: BaseRecord) => Promise<unknown>): OperationRecord {
    const again = requestId ? this.ctx.ops.byRequestId(kind, requestId) : null;
    if (again) return again;
    const inst = this.instances.running(instanceId);
    const base = this.ctx.requireBase(inst.baseId);
    this.instances.claim(inst.id);
    return this.ctx.ops.start(kind, requestId, async (op) => {
      try {
        return await work(op, inst, base);
      } finally {
        this.ctx.busy.delete(inst.id);
      }
    }).rec;
  }

  /**
   * Saves a running instance's memory next to its disk, runs `work` on the stopped VM, and resumes it whatever
   * happened. The snapshot is written as `resume.saving` and renamed `resume.save` once whole (libvirt
   * stops the VM only then); it is consumed exactly once (resumeFromSnapshot), and recover() finishes the
   * same steps after a crash.
   */
  async whilePaused(op: Operation, inst: InstanceRecord, work: (saved: string) => Promise<void>): Promise<void> {
    op.phase('save');
    const { saving, saved } = this.ctx.store.instance(inst.id).snapshot;
    fs.rmSync(saving, { force: true });
    fs.rmSync(saved, { force: true });
    crashPoint('whilepaused.save');
    await this.ctx.driver.save(inst.domain, saving);
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

  /**
   * Restores an instance from its snapshot, once: restored paused, the snapshot renamed `resume.consumed`
   * (the commit point: never restored from again), then resumed, then the file removed. So a VM that has run
   * since its snapshot never has a usable snapshot any more, and no restart can put an older memory state
   * over a newer disk; a crash between the commit and the resume leaves a paused VM that recovery resumes.
   */
  async resumeFromSnapshot(inst: InstanceRecord): Promise<void> {
    const { saved, consumed } = this.ctx.store.instance(inst.id).snapshot;
    crashPoint('whilepaused.restore');
    await this.ctx.networks.ensureUp(inst);
    await this.ctx.memoryImages.restore(inst, saved, { paused: true });
    crashPoint('whilepaused.restored');
    fs.renameSync(saved, consumed);
    fsyncDir(path.dirname(saved));
    crashPoint('whilepaused.consumed');
    await this.ctx.driver.resume(inst.domain);
    fs.rmSync(consumed, { force: true });
    await this.instances.afterResume(inst);
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
  async recover(inst: InstanceRecord, domainState: DomainState | undefined): Promise<boolean> {
    const { saving, saved, consumed } = this.ctx.store.instance(inst.id).snapshot;
    const st = domainState === 'running' || domainState === 'paused' ? domainState : undefined;
    if (fs.existsSync(consumed)) {
      // Restored and committed; the crash came before (or just after) the resume. Never restored again.
      fs.rmSync(consumed, { force: true });
      if (st === 'paused') {
        await this.ctx.driver.resume(inst.domain).catch((e) => this.ctx.log(`could not resume instance ${inst.id}: ${(e as Error).message}`));
        this.ctx.log(`instance ${inst.id}: resumed after its snapshot was restored`);
        return true;
      }
      return false;
    }
    if (fs.existsSync(saving)) {
      if (st) {
        fs.rmSync(saving, { force: true });
        if (st === 'paused') await this.ctx.driver.resume(inst.domain).catch((e) => this.ctx.log(`could not resume instance ${inst.id}: ${(e as Error).message}`));
        this.ctx.log(`instance ${inst.id}: an interrupted memory snapshot was discarded; the VM runs on`);
        return st === 'paused';
      }
      fs.renameSync(saving, saved);
    }
    if (!fs.existsSync(saved)) return false;
    if (st === 'running') {
      fs.rmSync(saved, { force: true });
      this.ctx.log(`instance ${inst.id}: removed a memory snapshot older than the running VM`);
      return false;
    }
    try {
      if (domainState) await this.ctx.driver.destroy(inst.domain);
      await this.resumeFromSnapshot(inst);
      this.ctx.log(`resumed instance ${inst.id} from its interrupted snapshot`);
      return true;
    } catch (e) {
      this.ctx.log(`could not resume instance ${inst.id} from its snapshot (kept for the next start): ${(e as Error).message}`);
      return false;
    }
  }
}
