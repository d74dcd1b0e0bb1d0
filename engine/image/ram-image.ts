// The base's main memory as a raw image, and save files that leave out what that image already holds.
//
// A restore that reads every page of a save file costs time in proportion to the VM's RAM. Instead, an instance
// of a base runs with its main RAM block (MAIN_RAM_BLOCK) backed by a private, copy-on-write mapping of this
// image (libvirt <memoryBacking><source type='file'/><access mode='private'/>; QEMU memory-backend-file with
// share=off): reads come from the image, writes stay with the VM. The save file it restores from then needs only
// the pages that differ from the image, plus the other (small) RAM blocks and the device state: QEMU's incoming
// stream writes the pages it carries and leaves every other page as the mapping shows it (checked on QEMU 7.2 /
// libvirt 9.0: counter, tmpfs contents and disk md5s come back exact). Instances of one base share the image's
// unchanged pages in the host's page cache.
//
// The image is derived from the base's memory snapshot (which stays the base's identity and what travels); it is
// written once per base, atomically, and its SHA-256 is kept in the digest sidecar so a changed image is noticed
// and made again. QEMU opens it read-write (QEMU 7.2 has no read-only RAM backend) but maps it privately; the one
// way it could write the file is discarding RAM (balloon inflation, postcopy, virtio-mem), none of which the
// engine's VMs use.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudletError, ioError } from '../errors';
import { cachedDigest, rememberDigest } from '../io/digest';
import { CoalescingWriter, WindowReader, fsyncDir, openNew } from '../io/io';
import { MAIN_RAM_BLOCK, RamBlock, SaveFileLayout, canonicalPrefix, canonicalSuffix, parseSaveFile, writePageRecordHeader } from './savefile';

const PAGE = 4096;

/** The main RAM block of a layout, or null when it has none (then nothing can be mapped). */
export function mainRamBlock(l: Pick<SaveFileLayout, 'blocks'>): RamBlock | null {
  return l.blocks.find((b) => b.id === MAIN_RAM_BLOCK) ?? null;
}

/** What ram-image.json next to the image says: the snapshot it was made from and the image's own digest. */
export interface RamImageRecord {
  /** SHA-256 of the memory snapshot the image was made from. */
  fromMemory: string;
  sha256: string;
  bytes: number;
  /** SHA-256 of the snapshot without its main RAM (writeSaveWithoutMainRam), made with the image. */
  restSha256?: string;
}

/**
 * Writes the raw image of the main RAM block of `saveFile` to `out` (atomically: temporary file, fsync,
 * rename). Zero pages are left as holes. Returns the image's SHA-256 and size.
 */
export async function writeRamImage(saveFile: string, out: string, layout?: SaveFileLayout): Promise<{ sha256: string; bytes: number }> {
  const l = layout ?? (await parseSaveFile(saveFile));
  const block = mainRamBlock(l);
  if (!block) throw new CloudletError('SAVEFILE_UNSUPPORTED', `${saveFile}: no ${MAIN_RAM_BLOCK} RAM block to make a memory image of`);
  const tmp = `${out}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  const src = fs.openSync(saveFile, 'r');
  let fd = -1;
  try {
    fd = openNew(tmp); // 0600: it is guest memory, as the snapshot is
    fs.ftruncateSync(fd, block.length);
    const win = new WindowReader(src, fs.fstatSync(src).size, saveFile, 8 << 20);
    const w = new CoalescingWriter(fd, tmp);
    const h = createHash('sha256');
    const page = Buffer.alloc(PAGE);
    const zero = Buffer.alloc(PAGE);
    for (let k = 0; k < block.length / PAGE; k++) {
      const off = l.pageOffsets[block.firstPage + k];
      if (off < 0) {
        h.update(zero);
        continue;
      }
      win.read(page, 0, PAGE, off);
      h.update(page);
      w.write(page, k * PAGE);
    }
    w.flush();
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, out);
    fsyncDir(path.dirname(path.resolve(out)));
    const sha256 = h.digest('hex');
    rememberDigest(out, sha256);
    return { sha256, bytes: block.length };
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e instanceof CloudletError ? e : ioError('cannot write the memory image', out, e);
  } finally {
    if (fd >= 0) fs.closeSync(fd);
    fs.closeSync(src);
  }
}

/**
 * Whether `image` is the intact image recorded in `record` for the snapshot `fromMemory`: the digest sidecar
 * is trusted while size, mtime and inode are unchanged (anything that writes the file changes its mtime).
 */
export function ramImageIntact(image: string, record: RamImageRecord | null, fromMemory: string): boolean {
  if (!record || record.fromMemory !== fromMemory) return false;
  const d = cachedDigest(image);
  return d !== undefined && d === record.sha256;
}

/**
 * Copies a save file without the main RAM block's pages (all of them are what the image made from this same
 * snapshot holds), under the given libvirt header: what an instance that resumes the base as it is restores from.
 */
export async function writeSaveWithoutMainRam(saveFile: string, out: string, headerRegion: Buffer, layout?: SaveFileLayout): Promise<number> {
  const l = layout ?? (await parseSaveFile(saveFile));
  const src = fs.openSync(saveFile, 'r');
  const fd = fs.openSync(out, 'w', 0o600);
  try {
    const w = new CoalescingWriter(fd, out);
    let pos = 0;
    const put = (b: Buffer) => {
      w.write(b, pos);
      pos += b.length;
    };
    put(canonicalPrefix({ ...l, headerRegion }));
    const win = new WindowReader(src, fs.fstatSync(src).size, saveFile, 4 << 20);
    const rec = Buffer.alloc(8 + 1 + 255 + PAGE);
    for (const b of l.blocks) {
      if (b.id === MAIN_RAM_BLOCK) continue;
      for (let k = 0; k < b.length / PAGE; k++) {
        const off = l.pageOffsets[b.firstPage + k];
        const zero = off < 0;
        const at = writePageRecordHeader(rec, 0, b, k, zero);
        if (!zero) win.read(rec, at, PAGE, off);
        put(rec.subarray(0, zero ? at : at + PAGE));
      }
    }
    put(canonicalSuffix(l));
    w.flush();
    return pos;
  } catch (e) {
    throw e instanceof CloudletError ? e : ioError('cannot write the save file', out, e);
  } finally {
    fs.closeSync(fd);
    fs.closeSync(src);
  }
}
