// Base memory images: the raw image of each base's main RAM that instances map privately (image/ram-image.ts),
// made once per base from its memory snapshot and checked before each use, and the one restore every service
// goes through, which puts the image behind a VM whose domain XML maps its RAM.

import * as fs from 'node:fs';
import { CloudletError } from '../errors';
import { RamImageRecord, ramImageIntact, writeRamImage, writeSaveWithoutMainRam } from '../image/ram-image';
import { cachedDigest, fileDigest } from '../io/digest';
import { BaseRecord, InstanceRecord, Store, readJson, writeJsonAtomic } from '../store/store';
import { hasRamBacking } from '../vm/domain';
import { VmDriver } from '../vm/driver';
import { readSaveHeader } from '../vm/save-header';
import { baseSnapshotLayout } from '../image/layout-cache';

/** What the service takes from the engine context (an interface, so the context can own the service). */
export interface MemoryImageDeps {
  readonly settings: { readonly ramMapping?: boolean };
  readonly driver: VmDriver;
  readonly store: Store;
  log(line: string): void;
  requireBase(id: string): BaseRecord;
}

/** A base's memory image, and its snapshot without the pages the image holds. */
export interface MemoryImage {
  image: string;
  rest: string;
}

export class MemoryImageService {
  private readonly making = new Map<string, Promise<MemoryImage | null>>();

  constructor(private readonly ctx: MemoryImageDeps) {}

  /**
   * Whether new instances map their RAM from their base's image: on unless the engine was told otherwise
   * (`ramMapping: false`, for comparisons), and only where it is known where libvirt keeps the file.
   */
  get enabled(): boolean {
    return this.ctx.settings.ramMapping !== false && this.ctx.driver.ramBackingDir !== null;
  }

  /**
   * The base's memory image, made now if it is missing or no longer what was written (one maker per base;
   * callers wait for it). Null when the base's snapshot has no main RAM block to image.
   */
  image(base: BaseRecord): Promise<MemoryImage | null> {
    let p = this.making.get(base.id);
    if (!p) {
      p = this.ensure(base).finally(() => this.making.delete(base.id));
      this.making.set(base.id, p);
    }
    return p;
  }

  /** The image when new instances of `base` are to map it, else null. */
  async forNewInstance(base: BaseRecord): Promise<MemoryImage | null> {
    return this.enabled ? this.image(base) : null;
  }

  private async ensure(base: BaseRecord): Promise<MemoryImage | null> {
    const files = this.ctx.store.base(base.id);
    const made: MemoryImage = { image: files.ramImage, rest: files.ramRest };
    const rec = readJson<RamImageRecord & { unusable?: string }>(files.ramImageRecord);
    if (rec?.unusable && rec.fromMemory === base.memory.sha256) return null;
    if (ramImageIntact(files.ramImage, rec, base.memory.sha256) && rec?.restSha256 !== undefined && cachedDigest(files.ramRest) === rec.restSha256) return made;
    if (rec) this.ctx.log(`base ${base.id.slice(0, 12)}: its memory image is missing or changed; making it again`);
    const t0 = Date.now();
    const tmp = `${files.ramRest}.partial-${process.pid}`;
    try {
      // One pass over the snapshot for both files: it can be as large as the VM's RAM.
      const layout = await baseSnapshotLayout(files.memory);
      const image = await writeRamImage(files.memory, files.ramImage, layout);
      await writeSaveWithoutMainRam(files.memory, tmp, layout.headerRegion, layout);
      fs.renameSync(tmp, files.ramRest);
      const restSha256 = await fileDigest(files.ramRest);
      writeJsonAtomic(files.ramImageRecord, { fromMemory: base.memory.sha256, sha256: image.sha256, bytes: image.bytes, restSha256 } satisfies RamImageRecord);
      this.ctx.log(`base ${base.id.slice(0, 12)}: memory image of ${(image.bytes / 2 ** 20).toFixed(0)} MiB made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return made;
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      if (e instanceof CloudletError && e.code === 'SAVEFILE_UNSUPPORTED') {
        writeJsonAtomic(files.ramImageRecord, { fromMemory: base.memory.sha256, unusable: e.message });
        return null;
      }
      throw e;
    }
  }

  /**
   * Restores an instance's VM from a save file. A save file whose domain XML maps the RAM gets the base's image
   * behind it (checked, made again if need be); one that does not restores as it is.
   */
  async restore(inst: InstanceRecord, saveFile: string, opts: { paused?: boolean; through?: string } = {}): Promise<void> {
    // `through`: a named pipe the save file is fed into as it is written (io/fifo-feed.ts); libvirt reads
    // that, and only once. The file itself tells what the domain needs (its header is final).
    const from = opts.through ?? saveFile;
    const once = opts.through !== undefined;
    if (!hasRamBacking(readSaveHeader(saveFile).xml)) return this.ctx.driver.restore(from, { paused: opts.paused, once });
    const made = await this.image(this.ctx.requireBase(inst.baseId));
    if (!made) throw new CloudletError('SAVEFILE_INVALID', `${saveFile} maps its RAM from the base's memory image, and base ${inst.baseId} has none`);
    return this.ctx.driver.restore(from, { paused: opts.paused, once, ramImage: { domain: inst.domain, image: made.image } });
  }
}
