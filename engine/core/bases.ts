// Base VMs: import from an archive or URL, from a bootable disk image, capture from an instance, export,
// delete.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CaptureBaseRequest, ImportBaseArchiveRequest, ImportBaseDiskRequest } from '../contract/schemas';
import { CloudletError } from '../errors';
import { fileDigest, rememberDigest } from '../io/digest';
import { baseIdOf } from '../overlay/format';
import { ArchiveManifest, archiveBytes, memberName, readBaseArchive, writeBaseArchive } from '../store/archive';
import { openSource, redactUrl } from '../store/fetch';
import { BaseRecord, basePathsIn, OperationRecord } from '../store/store';
import { bootDomainXml, snapshotFacts } from '../vm/domain';
import { guestExec } from '../vm/guest-agent';
import { agentExec, agentPing } from '../vm/qemu-agent';
import { readSaveHeader } from '../vm/save-header';
import { EngineContext, HEX64, NAME_RE, sleep } from './context';
import { crashPoint } from './crash-points';
import { Operation } from './operations';
import { CaptureService } from './captures';

const run = promisify(execFile);

export class BaseService {
  constructor(
    private readonly ctx: EngineContext,
    private readonly captures: CaptureService,
  ) {}

  list(): BaseRecord[] {
    return this.ctx.store.listBases();
  }

  get(id: string): BaseRecord {
    return this.ctx.requireBase(id);
  }

  delete(id: string): void {
    this.get(id);
    const users = this.ctx.store
      .listInstances()
      .filter((i) => i.baseId === id)
      .map((i) => `instance ${i.id}`);
    users.push(
      ...this.ctx.store
        .listOverlays()
        .filter((o) => o.baseId === id)
        .map((o) => `overlay ${o.id}`),
    );
    if (users.length > 0) throw new CloudletError('IN_USE', `base VM ${id} is used by ${users.join(', ')}; delete those first`);
    this.ctx.store.removeDir(this.ctx.store.baseDir(id));
  }

  /** Imports a base archive from a path or URL. An already stored base returns at once. */
  import(req: ImportBaseArchiveRequest): OperationRecord {
    // The request's shape and ranges were checked against the API contract (engine/contract) by the server.
    if (req.sha256 !== undefined && !HEX64.test(req.sha256)) throw new CloudletError('INVALID_ARGUMENT', 'sha256: expected the base id, 64 lowercase hex digits');
    const again = req.requestId ? this.ctx.ops.byRequestId('import-base', req.requestId) : null;
    if (again) return again;
    if (req.sha256 && this.ctx.store.getBase(req.sha256)) {
      // Content-addressed: nothing to fetch.
      return this.ctx.ops.start('import-base', req.requestId, async (op) => {
        op.setTarget({ type: 'base', id: req.sha256! });
        return { base: this.get(req.sha256!), cached: true };
      }).rec;
    }
    return this.ctx.ops.start('import-base', req.requestId, async (op) => {
      const shown = /^https?:/.test(req.source) ? redactUrl(req.source) : req.source;
      op.phase('download');
      const src = await openSource(req.source, { signal: op.signal, timeoutMs: this.ctx.settings.fetchTimeoutMs });
      const dir = this.ctx.store.tempDir('base');
      try {
        let cached: string | null = null;
        const manifest = await readBaseArchive({
          source: src.source,
          what: shown,
          dir,
          onManifest: (m) => {
            if (req.sha256 && m.id !== req.sha256) throw new CloudletError('HASH_MISMATCH', `${shown}: the archive holds base ${m.id}, expected ${req.sha256}`);
            if (this.ctx.store.getBase(m.id)) {
              cached = m.id;
              return false;
            }
            op.progress(
              0,
              Object.values(m.files).reduce((a, f) => a + f.bytes, 0),
            );
            return true;
          },
          onProgress: (done, total) => {
            crashPoint('import-base.download');
            op.throwIfCancelled();
            op.progress(done, total);
          },
        });
        if (cached) {
          op.setTarget({ type: 'base', id: cached });
          return { base: this.get(cached), cached: true };
        }
        op.phase('verify');
        crashPoint('import-base.verify');
        const m = manifest!;
        const id = baseIdOf(m.files.disk!.sha256, m.files.memory!.sha256).toString('hex');
        if (id !== m.id) throw new CloudletError('HASH_MISMATCH', `${shown}: the manifest's id ${m.id} is not the id of its disk and memory (${id})`);
        const rec = this.baseRecord(dir, m, req.name ?? m.name, shown);
        const stored = this.ctx.store.commitBase(dir, rec);
        crashPoint('import-base.commit');
        op.setTarget({ type: 'base', id: stored.id });
        return { base: stored, cached: false };
      } finally {
        src.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }).rec;
  }

  private baseRecord(dir: string, m: Pick<ArchiveManifest, 'id' | 'files'>, name: string, source: string): BaseRecord {
    const xml = readSaveHeader(basePathsIn(dir).memory).xml;
    const facts = snapshotFacts(xml, `base ${name}`);
    if (facts.hasKernel && !m.files.kernel) throw new CloudletError('ARCHIVE_INVALID', `base ${name}: the VM boots a kernel file that the archive does not contain`);
    const disk = basePathsIn(dir).disk;
    const head = Buffer.alloc(4);
    const fd = fs.openSync(disk, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    if (head.toString('latin1') === 'QFI\xfb') throw new CloudletError('INVALID_ARGUMENT', `base ${name}: the disk must be a raw image (convert it with qemu-img convert -O raw)`);
    // The overlay codec caches file digests next to the files; seed them with what was just verified.
    rememberDigest(disk, m.files.disk!.sha256);
    rememberDigest(basePathsIn(dir).memory, m.files.memory!.sha256);
    return {
      id: m.id,
      name,
      created: new Date().toISOString(),
      disk: { ...m.files.disk!, format: 'raw' },
      memory: m.files.memory!,
      kernel: m.files.kernel,
      initrd: m.files.initrd,
      memoryMiB: facts.memoryMiB,
      vcpus: facts.vcpus,
      cpuModel: facts.cpuModel,
      machine: facts.machine,
      source,
    };
  }

  /** Makes a base from a bootable disk image: boot it, wait until it is ready, save its memory. */
  importFromDisk(req: ImportBaseDiskRequest): OperationRecord {
    const bad = (m: string) => new CloudletError('INVALID_ARGUMENT', m);
    // Shape and ranges are the contract's (checked by the server); what only the host can tell is checked here.
    if (!fs.existsSync(req.disk)) throw bad(`disk: no such file ${JSON.stringify(req.disk)}`);
    if (req.kernel !== undefined && !fs.existsSync(req.kernel)) throw bad(`kernel: no such file ${JSON.stringify(req.kernel)}`);
    if (req.initrd !== undefined && !fs.existsSync(req.initrd)) throw bad(`initrd: no such file ${JSON.stringify(req.initrd)}`);
    if (typeof req.name !== 'string' || !NAME_RE.test(req.name)) throw bad('name: lowercase letters, digits and dashes, at most 63');
    const memoryMiB = req.memoryMiB ?? 256;
    const vcpus = req.vcpus ?? 1;
    const ready = req.ready ?? 'agent';
    const again = req.requestId ? this.ctx.ops.byRequestId('import-base-disk', req.requestId) : null;
    if (again) return again;
    return this.ctx.ops.start('import-base-disk', req.requestId, async (op) => {
      const dir = this.ctx.store.tempDir('base');
      const domain = `cl-import-${op.id.slice(3)}`;
      let started = false;
      try {
        op.phase('convert');
        await run('qemu-img', ['convert', '-O', 'raw', req.disk, basePathsIn(dir).disk], { maxBuffer: 1 << 20 });
        if (req.kernel) fs.copyFileSync(req.kernel, basePathsIn(dir).kernel);
        if (req.initrd) fs.copyFileSync(req.initrd, basePathsIn(dir).initrd);
        op.phase('boot');
        const socket = path.join(this.ctx.ctlDir, `${op.id}.sock`);
        const agentSocket = path.join(this.ctx.ctlDir, `${op.id}.qga`);
        const xmlFile = basePathsIn(dir).bootXml;
        fs.writeFileSync(
          xmlFile,
          bootDomainXml({
            name: domain,
            memoryMiB,
            vcpus,
            disk: { path: basePathsIn(dir).disk, format: 'raw' },
            kernel: req.kernel ? { kernel: basePathsIn(dir).kernel, initrd: req.initrd ? basePathsIn(dir).initrd : undefined, cmdline: req.cmdline } : undefined,
            controlSocket: socket,
            agentSocket,
            consoleLog: basePathsIn(dir).consoleLog,
          }),
        );
        await this.ctx.driver.create(xmlFile);
        started = true;
        op.phase('wait-ready');
        if (ready === 'agent') {
          const agent = await this.waitForAgent(socket, domain, (req.readyTimeoutSeconds ?? 600) * 1000, op);
          if (agent === 'qemu') await agentExec(this.ctx.driver, domain, 'sync', 60000).catch(() => undefined);
          else await guestExec(socket, 'sync', 60000).catch(() => undefined);
        } else await sleep(ready * 1000, op.signal);
        op.phase('save');
        await this.ctx.driver.save(domain, basePathsIn(dir).memory);
        started = false;
        fs.rmSync(xmlFile, { force: true });
        fs.rmSync(basePathsIn(dir).consoleLog, { force: true });
        fs.rmSync(socket, { force: true });
        fs.rmSync(agentSocket, { force: true });
        op.phase('hash');
        const rec = await this.hashNewBase(dir, req.name, `disk image ${req.disk}`);
        const stored = this.ctx.store.commitBase(dir, rec);
        op.setTarget({ type: 'base', id: stored.id });
        return { base: stored };
      } catch (e) {
        throw this.withConsole(e, basePathsIn(dir).consoleLog, op.id);
      } finally {
        if (started) await this.ctx.driver.destroy(domain).catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }).rec;
  }

  /**
   * A failed first boot says what the guest printed: the console log is kept beside the operation's record and
   * its last lines join the error message (an unbootable image or a guest without an agent shows why here).
   */
  private withConsole(e: unknown, consoleLog: string, opId: string): unknown {
    if (!(e instanceof CloudletError) || e.code === 'CANCELLED' || !fs.existsSync(consoleLog)) return e;
    const kept = this.ctx.store.operationConsoleLog(opId);
    try {
      fs.copyFileSync(consoleLog, kept);
    } catch {
      return e;
    }
    const text = fs.readFileSync(kept, 'utf8').replace(/\r/g, '');
    const tail = text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-20)
      .join('\n');
    const shown = tail ? `last lines of the guest console (all of it in ${kept}):\n${tail}` : `the guest printed nothing on its console (${kept})`;
    return new CloudletError(e.code, `${e.message}\n${shown}`, e.cause);
  }

  /** Waits until a guest agent answers: the QEMU guest agent on its channel, or the test guests' serial agent. */
  private async waitForAgent(socket: string, domain: string, timeoutMs: number, op: Operation): Promise<'qemu' | 'serial'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      op.throwIfCancelled();
      if (await agentPing(this.ctx.driver, domain, 2)) return 'qemu';
      const r = await guestExec(socket, 'true', 3000).catch(() => null);
      if (r && r.code === 0) return 'serial';
      if (Date.now() > deadline)
        throw new CloudletError(
          'GUEST_AGENT',
          `no guest agent answered within ${timeoutMs / 1000} s: readiness 'agent' needs the image to run qemu-guest-agent (Debian's package of that name) or the test guests' serial agent (or give a fixed delay with ready: SECONDS)`,
        );
      const st = await this.ctx.driver.state(domain);
      if (st !== 'running') throw new CloudletError('VM_FAILED', `the VM stopped while booting (state: ${st ?? 'gone'})`);
    }
  }

  private async hashNewBase(dir: string, name: string, source: string): Promise<BaseRecord> {
    const files: ArchiveManifest['files'] = {};
    for (const key of ['disk', 'memory', 'kernel', 'initrd'] as const) {
      const f = path.join(dir, memberName(key));
      if (!fs.existsSync(f)) continue;
      files[key] = { name: memberName(key), bytes: fs.statSync(f).size, sha256: await fileDigest(f) };
    }
    const id = baseIdOf(files.disk!.sha256, files.memory!.sha256).toString('hex');
    return this.baseRecord(dir, { id, files }, name, source);
  }

  /** Captures a running instance (disk flattened, memory saved) as a new base; the instance keeps running. */
  capture(req: CaptureBaseRequest): OperationRecord {
    if (typeof req.name !== 'string' || !NAME_RE.test(req.name)) throw new CloudletError('INVALID_ARGUMENT', 'name: lowercase letters, digits and dashes, at most 63');
    return this.captures.startOnInstance('create-base', req.instanceId, req.requestId, async (op, inst, base) => {
      const dir = this.ctx.store.tempDir('base');
      try {
        await this.captures.whilePaused(op, inst, async (saved) => {
          op.phase('flatten');
          await run('qemu-img', ['convert', '-O', 'raw', this.ctx.store.instance(inst.id).disk, basePathsIn(dir).disk], { maxBuffer: 1 << 20 });
          fs.copyFileSync(saved, basePathsIn(dir).memory);
          const bdir = this.ctx.store.base(base.id);
          if (base.kernel) fs.copyFileSync(bdir.kernel, basePathsIn(dir).kernel);
          if (base.initrd) fs.copyFileSync(bdir.initrd, basePathsIn(dir).initrd);
        });
        op.phase('hash');
        const rec = await this.hashNewBase(dir, req.name, `instance ${inst.id}`);
        const stored = this.ctx.store.commitBase(dir, rec);
        op.setTarget({ type: 'base', id: stored.id });
        return { base: stored };
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  /** A base as an archive that importBase reads back. */
  export(id: string): { bytes: number; stream: AsyncGenerator<Buffer> } {
    const b = this.get(id);
    const dir = this.ctx.store.baseDir(id);
    const files: ArchiveManifest['files'] = { disk: { name: memberName('disk'), bytes: b.disk.bytes, sha256: b.disk.sha256 }, memory: { name: memberName('memory'), ...b.memory } };
    if (b.kernel) files.kernel = { name: memberName('kernel'), ...b.kernel };
    if (b.initrd) files.initrd = { name: memberName('initrd'), ...b.initrd };
    const manifest: ArchiveManifest = { format: 1, id: b.id, name: b.name, files };
    const paths = { disk: basePathsIn(dir).disk, memory: basePathsIn(dir).memory, kernel: basePathsIn(dir).kernel, initrd: basePathsIn(dir).initrd };
    return { bytes: archiveBytes(manifest), stream: writeBaseArchive(manifest, paths) };
  }
}
