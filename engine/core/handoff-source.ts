// The source side of a handoff (engine/handoff/PROTOCOL.md): handoff tokens, the stream of a running
// instance to a destination, and the destination's confirmation, after which the copy here goes.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HandoffConfirmedRecord, HandoffInfoRecord, HandoffTokenRecord } from '../contract/schemas';
import { CloudletError } from '../errors';
import { HandoffHello } from '../handoff/receiver';
import { SendStats, StreamSink, sendHandoff } from '../handoff/sender';
import { keepAliveRecord } from '../handoff/wire';
import { BaseIndex } from '../delta/base-index';
import { BaseRecord } from '../store/store';
import { openGuestMemory } from '../vm/guest-memory';
import { liveMigrate } from '../vm/live-migration';
import { saveHeaderFor } from '../vm/save-header';
import { EngineContext } from './context';
import { crashPoint } from './crash-points';
import { InstanceService } from './instances';

/**
 * Whether the source checks the paused guest's memory (sender.ts says why): under TCG (a `qemu`, not `kvm`,
 * domain) unless told otherwise.
 */
export function memoryCheckWanted(setting: 'auto' | 'always' | 'never' | undefined, domainXml: string): boolean {
  if (setting === 'always' || setting === 'never') return setting === 'always';
  return !/<domain\b[^>]*\btype=['"]kvm['"]/.test(domainXml);
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

export class HandoffSourceService {
  private readonly grants: { digest: Buffer; instanceId: string; expires: number }[] = [];
  private readonly sessions = new Map<string, HandoffSession>();
  /** Dedup dictionaries of bases recently handed off from (building one reads the whole base). */
  private readonly baseIndexes = new Map<string, Promise<BaseIndex>>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly instances: InstanceService,
  ) {}

  /** Issues a short-lived token that lets another cloudlet pull this one instance (and nothing else). */
  issueHandoffToken(instanceId: string, ttlSeconds = 600): HandoffTokenRecord {
    const inst = this.instances.find(instanceId);
    const now = Date.now();
    for (let i = this.grants.length - 1; i >= 0; i--) if (this.grants[i].expires < now) this.grants.splice(i, 1);
    if (this.grants.length > 1000) throw new CloudletError('CONFLICT', 'too many live handoff tokens');
    const token = `cht_${randomBytes(32).toString('base64url')}`;
    const expires = now + ttlSeconds * 1000;
    this.grants.push({ digest: createHash('sha256').update(token).digest(), instanceId: inst.id, expires });
    return { token, expires: new Date(expires).toISOString(), instance: inst.id };
  }

  /** Whether `token` is a live handoff token for the instance (by id or name) or the session's instance. */
  handoffTokenAllows(token: string, target: { instance?: string; handoff?: string }): boolean {
    const given = createHash('sha256').update(token).digest();
    let id: string | undefined;
    if (target.handoff) id = this.sessions.get(target.handoff)?.instanceId;
    else if (target.instance) id = this.instances.lookup(target.instance)?.id;
    let ok = false;
    const now = Date.now();
    for (const g of this.grants) {
      // Every grant is compared, so the time taken says nothing about which one matched.
      const match = timingSafeEqual(g.digest, given);
      ok = ok || (match && g.expires >= now && g.instanceId === id);
    }
    return ok;
  }

  /** What a destination checks before it asks for the stream. */
  handoffInfo(instanceId: string): HandoffInfoRecord {
    const i = this.instances.find(instanceId);
    return { id: i.id, name: i.name, baseId: i.baseId, state: i.state, cloudlet: this.ctx.store.identity() };
  }

  private async baseIndexFor(base: BaseRecord): Promise<BaseIndex> {
    let p = this.baseIndexes.get(base.id);
    if (!p) {
      const files = this.ctx.store.base(base.id);
      p = BaseIndex.build({ disk: files.disk, memory: files.memory });
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
    if (this.sessions.has(req.handoffId)) throw new CloudletError('CONFLICT', `handoff ${req.handoffId} is already under way`);
    const inst = this.instances.running(instanceId);
    const base = this.ctx.requireBase(inst.baseId);
    this.instances.claim(inst.id);
    let confirm!: () => void;
    const confirmed = new Promise<void>((r) => (confirm = r));
    let decide!: () => void;
    const session: HandoffSession = { id: req.handoffId, instanceId: inst.id, state: 'streaming', confirm, confirmed, decided: new Promise<void>((r) => (decide = r)) };
    this.sessions.set(session.id, session);
    const op = this.ctx.ops.start('handoff-out', undefined, async (op) => {
      op.setTarget({ type: 'instance', id: inst.id });
      const bdir = this.ctx.store.base(base.id);
      const disk = this.ctx.store.instance(inst.id).disk;
      const mark = this.ctx.store.instance(inst.id).handoffOut;
      try {
        fs.writeFileSync(mark, `${session.id}\n`);
        crashPoint('handoff-out.marked');
        op.phase('index-base');
        const bi = await this.baseIndexFor(base);
        const xml = await this.ctx.driver.migratableXml(inst.domain);
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
          saveHeader: saveHeaderFor(bdir.memory, xml),
          migrate: (chunkSink) =>
            liveMigrate({
              monitor: (hmp) => this.ctx.driver.monitor(inst.domain, hmp),
              socketPath: path.join(this.ctx.ctlDir, `${op.id}.mig`),
              sink: chunkSink,
              signal: op.signal,
            }),
          checkMemory: memoryCheckWanted(this.ctx.settings.handoff.memoryCheck, xml)
            ? () => openGuestMemory({ monitor: (hmp) => this.ctx.driver.monitor(inst.domain, hmp), qemuPid: this.ctx.driver.qemuPid(inst.domain) })
            : undefined,
          signal: op.signal,
          level: this.ctx.settings.handoff.level,
          onPhase: (ph) => op.phase(ph),
          onProgress: (d, t) => op.progress(d, t),
        });
        op.phase('await-confirm');
        crashPoint('handoff-out.sent');
        session.state = 'awaiting-confirm';
        let timer: NodeJS.Timeout | undefined;
        // The destination restores the VM meanwhile; the stream stays open (its closing means the destination
        // went away) and carries keep-alives so its idle timeout does not end it.
        const keepAlive = setInterval(() => void sink.write(keepAliveRecord()).catch(() => undefined), Math.min(5000, this.ctx.settings.handoff.stallTimeoutMs / 3));
        const outcome = await Promise.race([
          confirmed.then(() => 'confirmed' as const),
          sink.closed.then(() => 'closed' as const),
          new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.ctx.settings.handoff.confirmTimeoutMs))),
        ]);
        clearTimeout(timer);
        clearInterval(keepAlive);
        if (outcome !== 'confirmed') {
          throw new CloudletError(
            'HANDOFF_FAILED',
            outcome === 'closed'
              ? 'the destination went away before confirming that the VM runs there'
              : `the destination did not confirm within ${this.ctx.settings.handoff.confirmTimeoutMs / 1000} s`,
          );
        }
        // From here the VM is the destination's: never resumed here again, even after a crash (recover()
        // reads the mark and removes the instance).
        session.state = 'confirmed';
        fs.writeFileSync(mark, `confirmed ${session.id}\n`);
        crashPoint('handoff-out.confirmed');
        decide();
        op.phase('remove');
        await this.instances.remove(inst);
        this.ctx.log(`instance ${inst.id} handed off (${req.handoffId}) to ${req.destination ?? 'another cloudlet'}: ${stats.bytesSent} bytes`);
        return { handedOff: inst.id, to: req.destination ?? null, stats };
      } catch (e) {
        session.state = 'aborted';
        decide();
        // QEMU keeps a guest running when its migration fails; after a completed one the guest is paused here.
        const st = await this.ctx.driver.state(inst.domain).catch(() => null);
        if (st === 'paused') await this.ctx.driver.resume(inst.domain).catch((err) => this.ctx.log(`could not resume ${inst.id}: ${(err as Error).message}`));
        this.ctx.log(`handoff ${req.handoffId} of ${inst.id} failed; the VM runs on here: ${(e as Error).message}`);
        throw e instanceof CloudletError && e.code !== 'CANCELLED' ? new CloudletError('HANDOFF_FAILED', `${e.message}; the VM runs on at this cloudlet`, e) : e;
      } finally {
        if (session.state !== 'confirmed') fs.rmSync(mark, { force: true });
        this.ctx.busy.delete(inst.id);
        // Kept a while so a confirmation retried after a lost answer is answered the same way.
        setTimeout(() => this.sessions.delete(session.id), 600000).unref();
      }
    });
    await op.wait(24 * 3600 * 1000);
    if (op.rec.state !== 'succeeded') throw new CloudletError(op.rec.error?.code ?? 'HANDOFF_FAILED', op.rec.error?.message ?? 'handoff failed');
    return { stats: (op.rec.result as { stats: SendStats }).stats };
  }

  rememberConfirmed(id: string, instanceId: string): void {
    const done = Promise.resolve();
    this.sessions.set(id, { id, instanceId, state: 'confirmed', confirm: () => undefined, confirmed: done, decided: done });
    setTimeout(() => this.sessions.delete(id), 600000).unref();
  }

  /** The destination's confirmation that the VM runs there; the source then removes its copy. */
  async confirmHandoff(handoffId: string): Promise<HandoffConfirmedRecord> {
    const s = this.sessions.get(handoffId);
    if (!s) throw new CloudletError('NOT_FOUND', `no handoff ${handoffId} here`);
    if (s.state === 'aborted') throw new CloudletError('HANDOFF_FAILED', `handoff ${handoffId} was abandoned here; the VM runs on at this cloudlet`);
    if (s.state === 'streaming') throw new CloudletError('CONFLICT', `handoff ${handoffId} has not finished sending`);
    s.confirm();
    // Answered as soon as the source has decided; removing its paused copy goes on after the answer.
    await s.decided;
    if (s.state !== 'confirmed') throw new CloudletError('HANDOFF_FAILED', `handoff ${handoffId} was abandoned here; the VM runs on at this cloudlet`);
    return { confirmed: true, instance: s.instanceId };
  }
}
