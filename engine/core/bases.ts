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
import { OpenedSource, openSource, redactUrl } from '../store/fetch';
import { ByteSource } from '../io/io';
import { BaseRecord, basePathsIn, OperationRecord } from '../store/store';
import { GuestNic, SEED_DRIVE, bootDomainXml, snapshotFacts } from '../vm/domain';
import { hostKey } from '../net/plumbing';
import { agentExec } from '../vm/qemu-agent';
import { readinessOf, waitUntilReady } from '../vm/readiness';
import { bootProblem, convertToRaw, inspectDiskImage } from '../image/disk-image';
import { defaultMetaData, writeSeedIso } from '../image/cloud-init-seed';
import { readSaveHeader } from '../vm/save-header';
import { EngineContext, HEX64, NAME_RE, sleep } from './context';
import { crashPoint } from './crash-points';
import { CaptureService } from './captures';
import { Operation } from './operations';
import { createdBy } from './request-context';

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
      return this.importFrom(op, src, shown, req);
    }).rec;
  }

  /**
   * Imports a base archive arriving as a stream (an upload), as an operation that ends with the stream: the
   * caller awaits it, since the bytes come from its request.
   */
  async importStream(source: ByteSource, name: string | undefined): Promise<OperationRecord> {
    const running = this.ctx.ops.start('import-base', undefined, async (op) => {
      op.phase('upload');
      let received = 0;
      const counted: OpenedSource = {
        source: {
          read: async () => {
            const b = await source.read();
            if (b) received += b.length;
            return b;
          },
        },
        get received() {
          return received;
        },
        total: undefined,
        close: () => undefined,
      };
      return this.importFrom(op, counted, 'an upload', { source: 'upload', name });
    });
    await running.wait(24 * 3600 * 1000);
    return this.ctx.ops.get(running.rec.id) ?? running.rec;
  }

  private async importFrom(op: Operation, src: OpenedSource, shown: string, req: { source: string; sha256?: string; name?: string }): Promise<unknown> {
    {
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
        await this.makeMemoryImage(op, stored);
        return { base: stored, cached: false };
      } finally {
        src.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  /**
   * The new base's memory image, made as the import's last phase so the first instance does not wait for it.
   * A failure here loses nothing: the base is kept, and the image is made again when an instance needs it.
   */
  private async makeMemoryImage(op: Operation, base: BaseRecord): Promise<void> {
    if (!this.ctx.memoryImages.enabled) return;
    op.phase('memory-image');
    try {
      await this.ctx.memoryImages.image(base);
    } catch (e) {
      this.ctx.log(`base ${base.id.slice(0, 12)}: could not make its memory image now (${(e as Error).message}); it is made when an instance needs it`);
    }
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
      ...createdBy(),
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

  /**
   * Makes a base from a bootable disk image: inspect it (raw or qcow2, self-contained), convert it to the raw
   * file bases keep, boot it with its own boot loader (or a given kernel), with a cloud-init seed when given,
   * wait until it is ready by the chosen readiness, eject the seed, save its memory.
   */
  importFromDisk(req: ImportBaseDiskRequest): OperationRecord {
    const bad = (m: string) => new CloudletError('INVALID_ARGUMENT', m);
    // Shape and ranges are the contract's (checked by the server); what only the host can tell is checked here.
    if (!fs.existsSync(req.disk)) throw bad(`disk: no such file ${JSON.stringify(req.disk)}`);
    if (!fs.statSync(req.disk).isFile()) throw bad(`disk: ${JSON.stringify(req.disk)} is not a regular file`);
    if (req.kernel !== undefined && !fs.existsSync(req.kernel)) throw bad(`kernel: no such file ${JSON.stringify(req.kernel)}`);
    if (req.initrd !== undefined && !fs.existsSync(req.initrd)) throw bad(`initrd: no such file ${JSON.stringify(req.initrd)}`);
    if (req.initrd !== undefined && req.kernel === undefined) throw bad('initrd: given without a kernel');
    if (req.firmware === 'uefi' && req.kernel !== undefined) throw bad("firmware: uefi boots the disk's own EFI loader; it does not go with a kernel");
    const memoryMiB = req.memoryMiB ?? 256;
    const vcpus = req.vcpus ?? 1;
    const ready = readinessOf(req.ready);
    const timeoutS = req.readyTimeoutSeconds ?? 600;
    const again = req.requestId ? this.ctx.ops.byRequestId('import-base-disk', req.requestId) : null;
    if (again) return again;
    return this.ctx.ops.start('import-base-disk', req.requestId, async (op) => {
      const dir = this.ctx.store.tempDir('base');
      const domain = `cl-import-${op.id.slice(3)}`;
      const files = basePathsIn(dir);
      let started = false;
      let router: { nic: GuestNic; remove: () => Promise<void> } | undefined;
      const routerDir = this.ctx.store.tempDir('router');
      try {
        op.phase('inspect');
        const image = await inspectDiskImage(req.disk);
        op.phase('convert');
        await convertToRaw(req.disk, image.format, files.disk);
        const unbootable = req.kernel ? undefined : bootProblem(files.disk, req.firmware ?? 'bios');
        if (unbootable) throw new CloudletError('DISK_IMAGE_INVALID', `disk: ${unbootable}`);
        if (req.kernel) fs.copyFileSync(req.kernel, files.kernel);
        if (req.initrd) fs.copyFileSync(req.initrd, files.initrd);
        const seedIso = req.cloudInit ? await writeSeedIso(dir, req.cloudInit, defaultMetaData(`${req.name}-${op.id.slice(3)}`, req.name)) : undefined;
        op.phase('boot');
        const agentSocket = path.join(this.ctx.ctlDir, `${op.id}.qga`);
        const xmlFile = files.bootXml;
        // The VM's network card, on a router of its own with DHCP and nothing else: cloud images bring their
        // network up at first boot, and the card (with the guest link's lease) is in the snapshot.
        router = await this.ctx.networks.bootRouter(hostKey(this.ctx.store.root, op.id), routerDir);
        fs.writeFileSync(
          xmlFile,
          bootDomainXml({
            name: domain,
            memoryMiB,
            vcpus,
            disk: { path: files.disk, format: 'raw' },
            kernel: req.kernel ? { kernel: files.kernel, initrd: req.initrd ? files.initrd : undefined, cmdline: req.cmdline } : undefined,
            agentSocket,
            consoleLog: files.consoleLog,
            firmware: req.firmware,
            nvram: req.firmware === 'uefi' ? path.join(dir, 'nvram.fd') : undefined,
            seedIso,
            nic: router.nic,
          }),
        );
        await this.ctx.driver.create(xmlFile);
        started = true;
        op.phase('wait-ready');
        await waitUntilReady(ready, {
          driver: this.ctx.driver,
          domain,
          timeoutS,
          check: () => op.throwIfCancelled(),
          progress: (step) => op.note(step),
          sleep: (ms) => sleep(ms, op.signal),
        });
        if (ready.kind !== 'delay') await agentExec(this.ctx.driver, domain, 'sync', 60000).catch(() => undefined);
        // The seed holds the user data: out of the VM before its memory and disk become the base.
        if (seedIso) await this.ctx.driver.ejectMedia(domain, SEED_DRIVE);
        op.phase('save');
        await this.ctx.driver.save(domain, files.memory);
        started = false;
        for (const f of [xmlFile, files.consoleLog, agentSocket, seedIso]) if (f) fs.rmSync(f, { force: true });
        op.phase('hash');
        const rec = await this.hashNewBase(dir, req.name, `disk image ${req.disk} (${image.format})`);
        const stored = this.ctx.store.commitBase(dir, rec);
        op.setTarget({ type: 'base', id: stored.id });
        await this.makeMemoryImage(op, stored);
        return { base: stored };
      } catch (e) {
        throw this.withConsole(e, files.consoleLog, op);
      } finally {
        if (started) await this.ctx.driver.destroy(domain).catch(() => undefined);
        await router?.remove().catch((e: Error) => this.ctx.log(`removing the import's router failed: ${e.message}`));
        fs.rmSync(routerDir, { recursive: true, force: true });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }).rec;
  }

  /**
   * A failed first boot says what the guest printed: the console log is kept beside the operation's record and
   * its last lines join the error message (an unbootable image or a guest without an agent shows why here).
   */
  private withConsole(e: unknown, consoleLog: string, op: Operation): unknown {
    if (!(e instanceof CloudletError) || e.code === 'CANCELLED' || !fs.existsSync(consoleLog)) return e;
    const kept = this.ctx.store.operationConsoleLog(op.id);
    try {
      fs.copyFileSync(consoleLog, kept);
    } catch {
      return e;
    }
    op.rec.consoleLog = kept;
    const text = fs.readFileSync(kept, 'utf8').replace(/\r/g, '');
    const tail = text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-20)
      .join('\n');
    const shown = tail ? `last lines of the guest console (all of it in ${kept}):\n${tail}` : `the guest printed nothing on its console (${kept})`;
    return new CloudletError(e.code, `${e.message}\n${shown}`, e.cause);
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
        await this.makeMemoryImage(op, stored);
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
