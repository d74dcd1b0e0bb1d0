// A user's disk image, looked at before anything boots it: which format it is (raw or qcow2 only), that it is
// self-contained (no backing file: the engine would otherwise read whatever host file the image names), and
// that qemu-img finds its metadata sound. qemu-img does the reading; this module turns what it says into
// typed facts and clear errors.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { CloudletError } from '../errors';

const run = promisify(execFile);

export type DiskFormat = 'raw' | 'qcow2';

export interface DiskImageFacts {
  format: DiskFormat;
  virtualBytes: number;
  /** Bytes the image file takes on the host. */
  fileBytes: number;
}

/** The fields of `qemu-img info --output=json` this module reads. */
interface QemuImgInfo {
  format?: string;
  'virtual-size'?: number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: { type?: string; data?: { corrupt?: boolean } };
}

const invalid = (what: string, m: string) => new CloudletError('DISK_IMAGE_INVALID', `${what}: ${m}`);

function stderrOf(e: unknown): string {
  const s = (e as { stderr?: string }).stderr ?? (e as Error).message ?? String(e);
  return String(s).trim().split('\n').slice(-3).join(' ');
}

/** Parses qemu-img's answer; exported for unit tests. */
export function factsFromInfo(info: QemuImgInfo, what: string): DiskImageFacts {
  const format = info.format;
  if (format !== 'raw' && format !== 'qcow2')
    throw invalid(what, `the image is in ${format ? `'${format}'` : 'an unknown'} format; a base disk is raw or qcow2 (convert it first: qemu-img convert -O qcow2 IN OUT)`);
  const backing = info['full-backing-filename'] ?? info['backing-filename'];
  if (backing) throw invalid(what, `the qcow2 image has a backing file (${JSON.stringify(backing)}); a base disk must be self-contained: flatten it first (qemu-img convert -O qcow2 IN OUT)`);
  if (info['format-specific']?.data?.corrupt) throw invalid(what, 'qemu-img marks the qcow2 image as corrupt (qemu-img check -r all repairs what it can)');
  const virtualBytes = info['virtual-size'] ?? 0;
  if (!(virtualBytes > 0)) throw invalid(what, 'the image is empty');
  if (virtualBytes % 512 !== 0) throw invalid(what, `the image's size (${virtualBytes} bytes) is not a whole number of 512-byte sectors`);
  return { format, virtualBytes, fileBytes: info['actual-size'] ?? 0 };
}

/**
 * Inspects a disk image: format probed by qemu-img (never trusted to a file name), backing file refused,
 * qcow2 metadata checked (`qemu-img check`: refcounts and L1/L2 tables; leaked clusters are harmless).
 */
export async function inspectDiskImage(file: string, what = 'disk'): Promise<DiskImageFacts> {
  let info: QemuImgInfo;
  try {
    const { stdout } = await run('qemu-img', ['info', '--output=json', file], { maxBuffer: 1 << 20 });
    info = JSON.parse(stdout) as QemuImgInfo;
  } catch (e) {
    throw invalid(what, `qemu-img cannot read the image: ${stderrOf(e)}`);
  }
  const facts = factsFromInfo(info, what);
  if (facts.format === 'qcow2') {
    try {
      await run('qemu-img', ['check', '-q', '-f', 'qcow2', file], { maxBuffer: 1 << 20 });
    } catch (e) {
      // Exit status 3: only leaked clusters, which waste space and read as nothing.
      if ((e as { code?: number }).code !== 3) throw invalid(what, `the qcow2 image is damaged: ${stderrOf(e) || 'qemu-img check found errors'}`);
    }
  }
  return facts;
}

/** Copies a checked image into a raw file (the format base disks are kept in), reading it as `format` only. */
export async function convertToRaw(file: string, format: DiskFormat, out: string): Promise<void> {
  try {
    await run('qemu-img', ['convert', '-f', format, '-O', 'raw', file, out], { maxBuffer: 1 << 20 });
  } catch (e) {
    throw invalid('disk', `qemu-img could not convert the image: ${stderrOf(e)}`);
  }
}

/**
 * Whether the raw disk's first sectors can start a boot: for BIOS, a boot sector (0x55AA at byte 510); for
 * UEFI, a GPT header ("EFI PART" at LBA 1) or an MBR partition of type 0xEF (an EFI system partition). A disk
 * that has neither never reaches a boot loader, and the firmware says so only on the screen, not the serial
 * console: better refused at once than after the readiness timeout.
 */
export function bootProblem(rawDisk: string, firmware: 'bios' | 'uefi'): string | undefined {
  const head = Buffer.alloc(1024);
  const fd = fs.openSync(rawDisk, 'r');
  try {
    fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const signed = head[510] === 0x55 && head[511] === 0xaa;
  if (firmware === 'bios')
    return signed
      ? undefined
      : 'the image has no boot sector (no 0x55AA signature at byte 510), so BIOS cannot boot it: install a boot loader (GRUB), give a kernel to boot directly, or firmware uefi for an EFI image';
  const gpt = head.subarray(512, 520).toString('latin1') === 'EFI PART';
  const esp = signed && [0, 1, 2, 3].some((i) => head[446 + i * 16 + 4] === 0xef);
  return gpt || esp ? undefined : 'the image has neither a GPT nor an EFI system partition, so UEFI firmware finds no boot loader on it';
}
