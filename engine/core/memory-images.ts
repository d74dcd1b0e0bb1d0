// Base memory images: the raw image of each base's main RAM that instances map privately (image/ram-image.ts),
// made once per base from its memory snapshot and checked before each use, and the one restore every service
// goes through, which puts the image behind a VM whose domain XML maps its RAM.

import { CloudletError } from '../errors';
import { RamImageRecord, ramImageIntact, writeRamImage } from '../image/ram-image';
import { BaseRecord, InstanceRecord, Store, readJson, writeJsonAtomic } from '../store/store';
import { hasRamBacking } from '../vm/domain';
import { VmDriver } from '../vm/driver';
import { readSaveHeader } from '../vm/save-header';

/** What the service takes from the engine context (an interface, so the context can own the service). */
export interface MemoryImageDeps {
  readonly settings: { readonly ramMapping?: boolean };
  readonly driver: VmDriver;
  readonly store: Store;
  log(line: string): void;
  requireBase(id: string): BaseRecord;
}

export class MemoryImageService {
  private readonly making = new Map<string, Promise<string | null>>();

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
  image(base: BaseRecord): Promise<string | null> {
    let p = this.making.get(base.id);
    if (!p) {
      p = this.ensure(base).finally(() => this.making.delete(base.id));
      this.making.set(base.id, p);
    }
    return p;
  }

  /** The image when new instances of `base` are to map it, else null. */
  async forNewInstance(base: BaseRecord): Promise<string | null> {
    return this.enabled ? this.image(base) : null;
  }

  private async ensure(base: BaseRecord): Promise<string | null> {
    const files = this.ctx.store.base(base.id);
    const rec = readJson<RamImageRecord & { unusable?: string }>(files.ramImageRecord);
    if (rec?.unusable && rec.fromMemory === base.memory.sha256) return null;
    if (ramImageIntact(files.ramImage, rec, base.memory.sha256)) return files.ramImage;
    if (rec) this.ctx.log(`base ${base.id.slice(0, 12)}: its memory image is missing or changed; making it again`);
    const t0 = Date.now();
    try {
      const made = await writeRamImage(files.memory, files.ramImage);
      writeJsonAtomic(files.ramImageRecord, { fromMemory: base.memory.sha256, sha256: made.sha256, bytes: made.bytes } satisfies RamImageRecord);
      this.ctx.log(`base ${base.id.slice(0, 12)}: memory image of ${(made.bytes / 2 ** 20).toFixed(0)} MiB made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return files.ramImage;
    } catch (e) {
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
  async restore(inst: InstanceRecord, saveFile: string, opts: { paused?: boolean } = {}): Promise<void> {
    if (!hasRamBacking(readSaveHeader(saveFile).xml)) return this.ctx.driver.restore(saveFile, opts);
    const image = await this.image(this.ctx.requireBase(inst.baseId));
    if (!image) throw new CloudletError('SAVEFILE_INVALID', `${saveFile} maps its RAM from the base's memory image, and base ${inst.baseId} has none`);
    return this.ctx.driver.restore(saveFile, { ...opts, ramImage: { domain: inst.domain, image } });
  }
}
