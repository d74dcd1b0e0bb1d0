// Instances: lookup by id or name, the busy locks, bringing records in line with libvirt, power, exec,
// removal, and the per-instance domain XML. Synthesis (synthesis.ts), captures (captures.ts) and the handoff
// services build on this.

import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { RANGES } from '../contract/rules';
import { ExecResultRecord, GuestFileRecord, GuestInterfacesRecord, InstanceDetailRecord, WriteFileBody } from '../contract/schemas';
import { CloudletError } from '../errors';
import { BaseRecord, InstanceRecord } from '../store/store';
import { QEMU_AGENT_CHANNEL, instanceDomainXml, withRamBacking } from '../vm/domain';
import { DomainState } from '../vm/driver';
import { agentExec, agentInterfaces, agentReadFile, agentSetTime, agentWriteFile } from '../vm/qemu-agent';
import { readSaveHeader } from '../vm/save-header';
import { EngineContext } from './context';

export class InstanceService {
  constructor(private readonly ctx: EngineContext) {}

  async list(): Promise<InstanceRecord[]> {
    const domains = await this.ctx.driver.list();
    return Promise.all(this.ctx.store.listInstances().map((i) => this.refresh(i, domains)));
  }

  async get(id: string): Promise<InstanceDetailRecord> {
    const i = this.find(id);
    const r = await this.refresh(i);
    if (r.network?.ports.length) await this.ctx.networks.publishAddress();
    return {
      ...r,
      agentSocket: this.ctx.agentSocket(i.id),
      consoleLog: this.ctx.store.instance(i.id).consoleLog,
      addresses: r.network?.attachments.map((a) => a.address) ?? [],
      endpoints: this.ctx.networks.endpoints(r),
    };
  }

  /** An instance by id or by name. */
  find(id: string): InstanceRecord {
    const inst = this.lookup(id);
    if (!inst) throw new CloudletError('NOT_FOUND', `no instance ${id}`);
    return inst;
  }

  lookup(id: string): InstanceRecord | null {
    return this.ctx.store.getInstance(id) ?? this.ctx.store.listInstances().find((x) => x.name === id) ?? null;
  }

  /**
   * Brings the recorded state in line with libvirt's (a VM destroyed out of band shows as stopped). Callers
   * refreshing many instances pass one listing of the domains. An instance another operation holds is left
   * as recorded, unless the holder itself asks (`mine`).
   */
  async refresh(i: InstanceRecord, domains?: Map<string, DomainState>, mine = false): Promise<InstanceRecord> {
    if (i.state === 'creating' || i.state === 'failed' || (this.ctx.busy.has(i.id) && !mine)) return i;
    const st = domains ? (domains.get(i.domain) ?? null) : await this.ctx.driver.state(i.domain);
    const now = st === 'running' ? 'running' : st === 'paused' ? 'paused' : 'stopped';
    if (now !== i.state) {
      i.state = now;
      this.ctx.store.putInstance(i);
    }
    return i;
  }

  running(id: string): InstanceRecord {
    const inst = this.find(id);
    if (inst.state !== 'running') throw new CloudletError('CONFLICT', `instance ${inst.id} is ${inst.state}, not running`);
    if (this.ctx.busy.has(inst.id)) throw new CloudletError('CONFLICT', `instance ${inst.id} is busy with another operation`);
    return inst;
  }

  claim(id: string): void {
    if (this.ctx.busy.has(id)) throw new CloudletError('CONFLICT', `instance ${id} is busy with another operation`);
    this.ctx.busy.add(id);
  }

  /** The instance's own domain XML, from the XML saved in a memory snapshot (its own or its base's). */
  domainXml(inst: InstanceRecord, base: BaseRecord, saveFile: string, ramImage = false): string {
    return this.domainXmlFrom(inst, base, readSaveHeader(saveFile).xml, ramImage);
  }

  /**
   * The instance's own domain XML from another one (a snapshot's, or the one a handoff source sent). `ramImage`:
   * its RAM is mapped from the base's memory image (memory-images.ts); else anonymous memory (a cold boot).
   */
  domainXmlFrom(inst: InstanceRecord, base: BaseRecord, xml: string, ramImage = false): string {
    const bdir = this.ctx.store.base(base.id);
    const own = instanceDomainXml(xml, {
      name: inst.domain,
      disk: this.ctx.store.instance(inst.id).disk,
      diskFormat: 'qcow2',
      kernel: base.kernel ? bdir.kernel : undefined,
      initrd: base.initrd ? bdir.initrd : undefined,
      controlSocket: this.ctx.controlSocket(inst.id),
      agentSocket: this.ctx.agentSocket(inst.id),
      consoleLog: this.ctx.store.instance(inst.id).consoleLog,
      nvram: this.ctx.store.instance(inst.id).nvram,
      nic: this.ctx.networks.nic(inst),
    });
    return withRamBacking(own, ramImage);
  }

  /**
   * Brings an instance to a power state. `running`: a paused VM resumes; a stopped one boots afresh from its
   * disk (its memory state went with the power-off). `paused`: suspends it. `stopped`: powers it off, keeping
   * the disk.
   */
  async setPowerState(id: string, want: 'running' | 'paused' | 'stopped'): Promise<InstanceRecord> {
    const found = this.find(id);
    this.claim(found.id);
    try {
      const inst = await this.refresh(found, undefined, true);
      if (inst.state === 'creating' || inst.state === 'failed') throw new CloudletError('CONFLICT', `instance ${inst.id} is ${inst.state}`);
      if (inst.state === want) return inst;
      if (want === 'stopped') await this.ctx.driver.destroy(inst.domain);
      else if (want === 'paused') {
        if (inst.state === 'stopped') throw new CloudletError('CONFLICT', `instance ${inst.id} is stopped; start it before pausing it`);
        await this.ctx.driver.suspend(inst.domain);
      } else if (inst.state === 'paused') await this.ctx.driver.resume(inst.domain);
      else {
        const xmlFile = this.ctx.store.instance(inst.id).bootXml;
        fs.writeFileSync(xmlFile, this.domainXml(inst, this.ctx.requireBase(inst.baseId), this.ctx.store.base(inst.baseId).memory));
        this.ctx.removeSockets(inst.id);
        // Booting afresh makes any snapshot left by a failed resume older than the disk: it must never be used.
        for (const f of Object.values(this.ctx.store.instance(inst.id).snapshot)) fs.rmSync(f, { force: true });
        await this.ctx.networks.up(inst);
        await this.ctx.driver.create(xmlFile);
      }
      return await this.refresh(inst, undefined, true);
    } finally {
      this.ctx.busy.delete(found.id);
    }
  }

  async delete(id: string): Promise<void> {
    const inst = this.find(id);
    if (this.ctx.busy.has(inst.id)) throw new CloudletError('CONFLICT', `instance ${inst.id} is busy with another operation`);
    await this.remove(inst);
  }

  /** Stops the VM and removes everything of the instance here (and an overlay fetched for it alone). */
  async remove(inst: InstanceRecord): Promise<void> {
    await this.ctx.driver.destroy(inst.domain);
    this.ctx.store.removeDir(this.ctx.store.instanceDir(inst.id));
    this.ctx.removeSockets(inst.id);
    this.ctx.sweepOverlays();
    // The record is gone first (the instance is no longer listed here); then its router and rules.
    await this.ctx.networks.down(inst);
    if (inst.network) await this.ctx.networks.syncHost();
  }

  /** Undoes a half-made instance (a failed synthesis or handoff): its VM, its host network side, its files. */
  async discard(inst: InstanceRecord): Promise<void> {
    await this.ctx.driver.destroy(inst.domain).catch(() => undefined);
    this.ctx.store.removeDir(this.ctx.store.instanceDir(inst.id));
    await this.ctx.networks.down(inst).catch((e: Error) => this.ctx.log(`instance ${inst.id}: removing its router failed: ${e.message}`));
    if (inst.network) await this.ctx.networks.syncHost().catch((e: Error) => this.ctx.log(`rebuilding the network rules failed: ${e.message}`));
  }

  /**
   * After a resume from a memory snapshot (synthesis, a capture's resume, a handoff, recovery): the guest's
   * clock is set from the host's through its agent; a new instance (`fresh`, a synthesis) also takes its own
   * name as hostname and a machine id of its own, so instances of one base stop sharing the base's. Best effort:
   * a guest without the agent keeps all three, and a failure is logged, not raised (the VM runs either way).
   */
  async afterResume(inst: InstanceRecord, opts: { fresh?: boolean } = {}): Promise<void> {
    const base = this.ctx.store.getBase(inst.baseId);
    if (!base || !this.ctx.baseHasAgentChannel(base)) return;
    const setClock = () => agentSetTime(this.ctx.driver, inst.domain).catch((e: Error) => this.ctx.log(`instance ${inst.id}: could not set the guest clock: ${e.message}`));
    if (!opts.fresh) return setClock();
    // A fresh instance is in a synthesis's critical path, so all three go in one guest command (one agent round
    // trip and its polls), and cheaply: `date -s` rather than guest-set-time (qemu-ga follows it with
    // `hwclock -w`, ~0.8 s in a cloud guest under TCG; the RTC QEMU emulates follows the host's clock anyway),
    // the kernel's hostname + /etc/hostname rather than hostnamectl (a D-Bus round trip to systemd-hostnamed, ~1.1 s).
    // The name keeps the API's name rule (a DNS label), so it needs no quoting in the script. The machine id
    // is written where the image keeps one; processes that read it before (journald, for one) keep the old value.
    const machineId = randomUUID().replace(/-/g, '');
    const now = Date.now();
    const script = [
      // GNU date takes fractions of a second; busybox's takes whole seconds; a guest with neither says so.
      `date -u -s @${(now / 1000).toFixed(3)} >/dev/null 2>&1 || date -u -s @${Math.round(now / 1000)} >/dev/null 2>&1 || echo clock-not-set`,
      `if [ -s /etc/machine-id ] && [ -w /etc/machine-id ]; then echo ${machineId} > /etc/machine-id; fi`,
      `n=${inst.name}`,
      // The kernel's hostname through /proc with the shell's own echo: one process fewer than hostname(1) in a
      // freshly restored guest, where each new process costs tens of milliseconds under TCG.
      'if { echo "$n" > /proc/sys/kernel/hostname; } 2>/dev/null || hostname "$n" 2>/dev/null; then { echo "$n" > /etc/hostname; } 2>/dev/null; else echo hostname-not-set; fi',
      '',
    ].join('\n');
    let said: string;
    try {
      said = (await agentExec(this.ctx.driver, inst.domain, script, 20000)).stdout;
    } catch (e) {
      this.ctx.log(`instance ${inst.id}: could not set its hostname and machine id: ${(e as Error).message}`);
      return setClock();
    }
    if (said.includes('hostname-not-set')) this.ctx.log(`instance ${inst.id}: could not set the hostname`);
    if (said.includes('clock-not-set')) await setClock();
  }

  /** Runs a shell command in the instance through its QEMU guest agent: exit status, stdout and stderr. */
  async exec(id: string, command: string, timeoutSeconds = 60): Promise<ExecResultRecord> {
    return agentExec(this.ctx.driver, this.agentDomain(id), command, timeoutSeconds * 1000);
  }

  /**
   * The domain of a running instance whose VM has the QEMU guest agent's channel, the engine's one way into a
   * guest; bases saved before the channel existed get a clear error rather than a silent timeout.
   */
  private agentDomain(id: string): string {
    const inst = this.running(id);
    if (!this.ctx.baseHasAgentChannel(this.ctx.requireBase(inst.baseId)))
      throw new CloudletError(
        'CONFLICT',
        `instance ${inst.id}: its base's VM has no QEMU guest agent channel (${QEMU_AGENT_CHANNEL}); make the base again from its disk image (cloudlet base import --disk) to reach into it`,
      );
    return inst.domain;
  }

  async writeFile(id: string, body: WriteFileBody): Promise<{ path: string; bytes: number }> {
    const data = Buffer.from(body.contentBase64, 'base64');
    await agentWriteFile(this.ctx.driver, this.agentDomain(id), body.path, data, { mode: body.mode });
    return { path: body.path, bytes: data.length };
  }

  async readFile(id: string, file: string): Promise<GuestFileRecord> {
    const data = await agentReadFile(this.ctx.driver, this.agentDomain(id), file, RANGES.guestFileBytes.maximum);
    return { path: file, bytes: data.length, contentBase64: data.toString('base64') };
  }

  async interfaces(id: string): Promise<GuestInterfacesRecord> {
    return { interfaces: await agentInterfaces(this.ctx.driver, this.agentDomain(id)) };
  }
}
