// The destination side of a handoff: pull the stream from the source engine, build the VM here, restore it
// paused, confirm to the source, resume.

import * as fs from 'node:fs';
import { makeDurable } from '../io/io';
import { EngineClient } from '../client/client';
import { StartHandoffRequest } from '../contract/schemas';
import { CloudletError } from '../errors';
import { receiveHandoff } from '../handoff/receiver';
import { redactUrl } from '../store/fetch';
import { InstanceRecord, OperationRecord, newId } from '../store/store';
import { saveHeaderFor } from '../vm/save-header';
import { EngineContext } from './context';
import { crashPoint } from './crash-points';
import { EarlyRestore } from './early-restore';
import { Operation } from './operations';
import { InstanceService } from './instances';
import { createdBy } from './request-context';

/** Where a destination engine pulls a handoff from: the source engine and a credential for it (kept in memory only). */
export type { HandoffSourceSpec } from '../contract/schemas';

export class HandoffDestinationService {
  constructor(
    private readonly ctx: EngineContext,
    private readonly instances: InstanceService,
  ) {}

  /**
   * The destination side, as an operation: checks that the base is here, pulls the stream from the source,
   * restores the VM paused, confirms to the source and resumes it. On failure before the confirmation
   * nothing is left here and the source resumes its VM.
   */
  handoffIn(req: StartHandoffRequest): OperationRecord {
    const bad = (m: string) => new CloudletError('INVALID_ARGUMENT', m);
    const src = req.source; // its shape was checked against the API contract by the server
    const again = req.requestId ? this.ctx.ops.byRequestId('handoff-in', req.requestId) : null;
    if (again) return again;
    const client = new EngineClient({ endpoint: src.endpoint, token: src.token, ca: src.ca, timeoutMs: 30000 });
    return this.ctx.ops.start('handoff-in', req.requestId, async (op) => {
      let inst: InstanceRecord | null = null;
      let stream: { close(): void } | null = null;
      let early: EarlyRestore | null = null;
      try {
        op.phase('check');
        const info = await client.instances.handoffInfo(req.instanceId, { signal: op.signal });
        const me = this.ctx.store.identity();
        if (info.cloudlet.id === me.id) throw bad(`instance ${info.id} already runs on this cloudlet (${me.id})`);
        const base = this.ctx.store.getBase(info.baseId);
        if (!base)
          throw new CloudletError(
            'BASE_MISSING',
            `this cloudlet (${me.id}) does not have base VM ${info.baseId}, which instance ${info.name} runs on; import the base here first. The VM was not touched.`,
          );
        await this.ctx.requireRunnable(base);
        if (info.state !== 'running') throw new CloudletError('CONFLICT', `instance ${info.id} is ${info.state} at the source; only a running instance can be handed off`);
        if (this.ctx.store.getInstance(info.id) || this.ctx.store.listInstances().some((i) => i.name === info.name))
          throw new CloudletError('CONFLICT', `an instance ${info.name} (${info.id}) already exists on this cloudlet`);
        const placed = await this.ctx.networks.serialized(async () => {
          const placement = await this.ctx.networks.place(info.id, req, this.ctx.baseHasNic(base));
          const rec: InstanceRecord = {
            id: info.id,
            name: info.name,
            baseId: base.id,
            domain: `cl-${info.id}`,
            state: 'creating',
            created: new Date().toISOString(),
            timings: {},
            ...(placement ? { network: placement } : {}),
            ...createdBy(),
          };
          this.ctx.store.putInstance(rec);
          return rec;
        });
        inst = placed;
        // The instance's router is built while the state arrives (it must exist before QEMU starts).
        const plumbing = this.ctx.networks.up(inst);
        plumbing.catch(() => undefined); // awaited before the restore
        this.ctx.busy.add(inst.id);
        crashPoint('handoff-in.created');
        op.setTarget({ type: 'instance', id: inst.id });
        op.phase('transfer');
        // libvirt's first domain start on a connection is seconds slower: have it happen now, during the live
        // transfer, rather than in the restore while the guest is paused.
        const warm = this.ctx.driver.warmUp(this.ctx.ctlDir);
        // The base's memory image, which the VM's RAM will map: the stream then needs writing down only where
        // the VM differs from it (made now if this base has none yet, before the source starts sending).
        const ramImage = await this.ctx.memoryImages.forNewInstance(base);
        const handoffId = newId('h');
        // The restore starts once QEMU's first pass over the RAM is in, reading the memory file through a pipe
        // as it grows; it completes when the stream's end is fed to it, so little of it is left for the pause.
        const restoring = inst;
        early = new EarlyRestore(this.ctx.store.instance(inst.id).memory, async (fifo) => {
          await warm;
          await plumbing;
          this.ctx.removeSockets(restoring.id);
          await this.ctx.memoryImages.restore(restoring, this.ctx.store.instance(restoring.id).memory, { paused: true, through: fifo });
        });
        const opened = await client.handoffStream(info.id, { handoffId, destination: me.id }, { signal: op.signal, stallTimeoutMs: this.ctx.settings.handoff.stallTimeoutMs });
        stream = opened;
        const bdir = this.ctx.store.base(base.id);
        const target = inst;
        const got = await receiveHandoff({
          source: opened.source,
          dir: this.ctx.store.instanceDir(inst.id),
          disk: this.ctx.store.instance(inst.id).disk,
          memory: this.ctx.store.instance(inst.id).memory,
          baseDisk: bdir.disk,
          baseMemory: bdir.memory,
          sparseMainRam: ramImage !== null,
          onHello: (h) => {
            if (h.instance.id !== target.id || h.instance.baseId !== base.id) throw new CloudletError('HANDOFF_PROTOCOL', 'the stream is for another instance than the one asked for');
            target.overlayId = h.instance.overlayId;
            target.created = h.instance.created;
            return this.instances.domainXmlFrom(target, base, h.domainXml, ramImage !== null);
          },
          saveHeader: (xml) => saveHeaderFor(bdir.memory, xml),
          follower: ramImage !== null ? early : undefined,
          signal: op.signal,
          onProgress: (n) => op.progress(n, 0),
        }).catch((e) => {
          if ((e as CloudletError).code === 'CANCELLED') throw e;
          throw new CloudletError('HANDOFF_FAILED', `receiving from ${redactUrl(src.endpoint)} failed: ${(e as Error).message}; the VM runs on at the source`, e);
        });
        crashPoint('handoff-in.received');
        op.phase('restore');
        // The disk layer must be durable before the source lets go of its copy; that flush runs alongside the
        // restore (the memory file is read once and deleted, so it is not flushed at all).
        const r0 = Date.now();
        const durable = makeDurable(got.disk);
        durable.catch(() => undefined); // awaited after the restore
        const sent = got.end;
        let vmRestore = 0;
        try {
          const how = await early.outcome();
          if (how.restored) vmRestore = (Date.now() - r0) / 1000;
          else {
            if (how.failure) {
              this.ctx.log(`handoff ${handoffId}: the restore begun during the transfer failed (${how.failure}); restoring from the file`);
              await this.ctx.driver.destroy(inst.domain); // whatever it left (nothing, as a rule)
            }
            await warm;
            await plumbing;
            this.ctx.removeSockets(inst.id);
            const r1 = Date.now();
            await this.ctx.memoryImages.restore(inst, got.memory, { paused: true });
            vmRestore = (Date.now() - r1) / 1000;
          }
          this.ctx.log(
            `handoff ${handoffId}: the stream ended ${got.endAt - (sent.pausedAt ?? got.endAt)} ms after the source paused; restored ${Date.now() - got.endAt} ms after its end` +
              (how.restored
                ? ` (the restore began ${how.leadMs} ms before it; ${(how.backlogBytes / 2 ** 20).toFixed(1)} MiB were still to go into its pipe then, the last ${how.fedMsAfterEnd} ms after)`
                : '') +
              (sent.memoryCheck ? `; the source's memory check sent ${sent.memoryCheck.resent} of ${sent.memoryCheck.pages} pages again (${sent.memoryCheck.ms} ms)` : ''),
          );
        } finally {
          await durable;
        }
        crashPoint('handoff-in.restored');
        op.phase('confirm');
        // From the moment the confirmation may reach the source, this copy may be the only one: it is no
        // longer half-made (recovery keeps it, paused, until it is known which copy runs).
        inst.state = 'paused';
        inst.handoffIn = { id: handoffId, state: 'confirming', source: redactUrl(src.endpoint) };
        this.ctx.store.putInstance(inst);
        await this.confirmAtSource(client, handoffId, op);
        inst.handoffIn.state = 'confirmed';
        this.ctx.store.putInstance(inst);
        crashPoint('handoff-in.confirmed');
        await this.ctx.driver.resume(inst.domain);
        const resumedAt = Date.now();
        await this.instances.afterResume(inst);
        fs.rmSync(got.memory, { force: true });
        stream.close();
        stream = null;
        inst.state = 'running';
        delete inst.handoffIn;
        op.phase('done');
        inst.timings = { ...op.rec.timings, vmRestore };
        this.ctx.store.putInstance(inst);
        return {
          instance: await this.instances.get(inst.id),
          from: info.cloudlet,
          bytesReceived: got.bytesReceived,
          downtimeMs: sent.pausedAt ? resumedAt - sent.pausedAt : null,
          source: sent,
        };
      } catch (e) {
        if (inst && (e as CloudletError).code === 'HANDOFF_UNCERTAIN') {
          // Both copies may exist, one of them paused: keep ours paused rather than lose the VM.
          inst.state = 'paused';
          this.ctx.store.putInstance(inst);
          throw e;
        }
        // A restore still reading the pipe fails once the pipe closes; wait for that before removing the VM.
        await early?.abandon('the handoff failed');
        if (inst) await this.instances.discard(inst);
        throw e;
      } finally {
        stream?.close();
        if (inst) this.ctx.busy.delete(inst.id);
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
        await client.handoffs.confirm(handoffId, { timeoutMs: 30000, signal: op.signal });
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
}
