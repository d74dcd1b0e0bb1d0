// Reading a paused guest's RAM where QEMU holds it, for the handoff's memory check (engine/handoff/sender.ts):
// QEMU refuses a second migration of a VM its first one paused, and `pmemsave` speaks guest-physical
// addresses (holes, ROM windows, RAM above 4 GiB), whereas the migration stream numbers pages by their place
// in a RAM block. The main RAM block is one run of QEMU's address space: `gpa2hva 0` tells where it starts
// and which block it is, and /proc/PID/mem reads it (the engine runs as QEMU's user, or as root).
//
// Which pages to read: those the kernel says QEMU may have written, not QEMU's own record. Where the kernel
// keeps soft-dirty bits, writing 4 to /proc/PID/clear_refs as the migration begins clears them, any write after
// that (by a vCPU or a device) sets one again, and /proc/PID/pagemap shows it (bit 55): a page not written since
// holds what the migration's first pass read from it. Where it keeps none (no bit set at all after a guest has
// run: some kernels are built without them), pagemap still tells the pages written since QEMU started: in a
// private mapping those are anonymous (bit 61 clear) and present, or swapped out (bit 62); an untouched page
// reads as its file (the base's memory image) or as zero, as it did when it was sent. Either way the check costs
// what the guest wrote, not its RAM size. A shared mapping (written pages stay file pages) is read whole.

import * as fs from 'node:fs';
import { CloudletError } from '../errors';

/** The paused guest's main RAM block, read in place. */
export interface GuestMemoryReader {
  /** QEMU's id of the block (as in the migration stream's block list: pc.ram). */
  blockId: string;
  /** Starts the kernel's record of the pages QEMU writes (soft-dirty bits), from now on. */
  startTracking(): Promise<void>;
  /**
   * The block's pages (numbered within it, ascending) that may have been written since startTracking (a
   * superset where the kernel keeps no soft-dirty bits), or null when that cannot be told (read them all).
   */
  writtenPages(blockLength: number): Promise<Uint32Array | null>;
  /** Fills `into` from the block, starting `offset` bytes into it. */
  read(into: Buffer, offset: number): Promise<void>;
  close(): Promise<void>;
}

/** Parses HMP `gpa2hva` output: "Host virtual address for 0x0 (pc.ram) is 0x7f2c4fe00000". */
export function parseGpa2hva(out: string): { blockId: string; hostAddress: number } | null {
  const m = /Host virtual address for 0x[0-9a-f]+ \(([^)]+)\) is 0x([0-9a-f]+)/i.exec(out);
  if (!m) return null;
  const hostAddress = Number.parseInt(m[2], 16);
  // A user-space address fits in 47 bits, well inside a double's exact range.
  if (!Number.isSafeInteger(hostAddress)) return null;
  return { blockId: m[1], hostAddress };
}

export async function openGuestMemory(o: { monitor: (hmp: string) => Promise<string>; qemuPid: number }): Promise<GuestMemoryReader> {
  const out = await o.monitor('gpa2hva 0');
  const at = parseGpa2hva(out);
  if (!at) throw new CloudletError('VM_FAILED', `QEMU did not say where the guest's RAM is (gpa2hva 0: ${out.trim().slice(0, 200)})`);
  // Read synchronously: these are copies out of another process's memory, not device I/O, and a thread-pool
  // round trip per run of pages would cost more than the copy, with the guest paused meanwhile.
  let fd: number;
  try {
    fd = fs.openSync(`/proc/${o.qemuPid}/mem`, 'r');
  } catch (e) {
    throw new CloudletError(
      'VM_FAILED',
      `cannot read the guest's memory in QEMU (pid ${o.qemuPid}): ${(e as Error).message}; the engine must run as QEMU's user or as root (or start it with --handoff-memory-check never, see engine/README.md)`,
      e,
    );
  }
  let tracking = false;
  return {
    blockId: at.blockId,
    startTracking: async () => {
      try {
        await fs.promises.writeFile(`/proc/${o.qemuPid}/clear_refs`, '4');
        tracking = true;
      } catch {
        tracking = false; // the pages written since QEMU started are read at the end instead
      }
    },
    writtenPages: (blockLength) => pagesMaybeWritten(o.qemuPid, at.hostAddress, blockLength, tracking),
    read: async (into, offset) => {
      let done = 0;
      while (done < into.length) {
        const bytesRead = fs.readSync(fd, into, done, into.length - done, at.hostAddress + offset + done);
        if (bytesRead === 0) throw new CloudletError('VM_FAILED', `QEMU's memory ended ${offset + done} bytes into the guest's RAM`);
        done += bytesRead;
      }
    },
    close: async () => fs.closeSync(fd),
  };
}

/** Pagemap entries read at a time (8 bytes each: 1 MiB of them covers 512 MiB of RAM). */
const PAGEMAP_BATCH = 131072;
/** High words of pagemap entries: bit 23 is bit 55 (soft-dirty), 29 is 61 (file or shared), 30 is 62 (swapped), 31 is 63 (present). */
const PM_SOFT_DIRTY = 1 << 23;
const PM_FILE = 1 << 29;
const PM_SWAPPED = 1 << 30;
const PM_PRESENT = 1 << 31;

/** Whether every mapping of QEMU's that covers [start, start + length) is private (copy-on-write). */
export function privateMappingCovers(maps: string, start: number, length: number): boolean {
  let covered = 0;
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(line);
    if (!m) continue;
    const lo = Number.parseInt(m[1], 16);
    const hi = Number.parseInt(m[2], 16);
    if (hi <= start || lo >= start + length) continue;
    if (m[3][3] !== 'p') return false;
    covered += Math.min(hi, start + length) - Math.max(lo, start);
  }
  return covered === length;
}

/**
 * The pages of `length` bytes of QEMU's memory at `hostAddress` that may have been written: soft-dirty ones
 * (when `softDirty` and the kernel set any), else anonymous or swapped ones; null when that cannot be told.
 */
async function pagesMaybeWritten(pid: number, hostAddress: number, length: number, softDirty: boolean): Promise<Uint32Array | null> {
  if (!privateMappingCovers(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'), hostAddress, length)) return null;
  const pages = Math.ceil(length / 4096);
  const fd = fs.openSync(`/proc/${pid}/pagemap`, 'r');
  const dirty: number[] = [];
  const anonymous: number[] = [];
  try {
    const buf = Buffer.alloc(PAGEMAP_BATCH * 8);
    const words = new Uint32Array(buf.buffer, buf.byteOffset, PAGEMAP_BATCH * 2); // little-endian, as x86 is
    for (let first = 0; first < pages; first += PAGEMAP_BATCH) {
      const n = Math.min(PAGEMAP_BATCH, pages - first);
      const want = n * 8;
      let got = 0;
      while (got < want) {
        const bytesRead = fs.readSync(fd, buf, got, want - got, (hostAddress / 4096 + first) * 8 + got);
        if (bytesRead === 0) throw new CloudletError('VM_FAILED', `QEMU's page map ended ${first + got / 8} pages into the guest's RAM`);
        got += bytesRead;
      }
      for (let k = 0; k < n; k++) {
        const hi = words[2 * k + 1];
        if (softDirty && hi & (PM_SOFT_DIRTY | PM_SWAPPED)) dirty.push(first + k);
        if (hi & PM_SWAPPED || (hi & (PM_PRESENT | PM_FILE)) === PM_PRESENT) anonymous.push(first + k);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  // A guest that ran through a migration wrote something (its timers, at least): no soft-dirty page at all
  // means the kernel keeps no such bits.
  return Uint32Array.from(softDirty && dirty.length > 0 ? dirty : anonymous);
}
