// Reading a paused guest's RAM where QEMU holds it, for the handoff's memory check (engine/handoff/sender.ts):
// QEMU refuses a second migration of a VM its first one paused, and `pmemsave` speaks guest-physical
// addresses (holes, ROM windows, RAM above 4 GiB), whereas the migration stream numbers pages by their place
// in a RAM block. The main RAM block is one run of QEMU's address space: `gpa2hva 0` tells where it starts
// and which block it is, and /proc/PID/mem reads it (the engine runs as QEMU's user, or as root).
//
// Which pages to read: the kernel's own record of what QEMU wrote, not QEMU's. Writing 4 to
// /proc/PID/clear_refs clears every page's soft-dirty bit; any write after that, by a vCPU or a device,
// sets it again, and /proc/PID/pagemap shows it (bit 55). A page not written since the migration began holds
// what the migration's first pass read from it, so only the written ones need comparing: a check that costs
// what the guest dirtied, not its RAM size. Where the kernel keeps no soft-dirty bits (none set at all after a
// guest has run, or clear_refs refused), every page is read.

import * as fs from 'node:fs';
import { CloudletError } from '../errors';

/** The paused guest's main RAM block, read in place. */
export interface GuestMemoryReader {
  /** QEMU's id of the block (as in the migration stream's block list: pc.ram). */
  blockId: string;
  /** Starts the kernel's record of the pages QEMU writes (soft-dirty bits), from now on. */
  startTracking(): Promise<void>;
  /**
   * The block's pages (numbered within it, ascending) written since startTracking, or null when there is no
   * such record (read them all).
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
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(`/proc/${o.qemuPid}/mem`, 'r');
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
        tracking = false; // read every page at the end instead
      }
    },
    writtenPages: async (blockLength) => (tracking ? softDirtyPages(o.qemuPid, at.hostAddress, blockLength) : null),
    read: async (into, offset) => {
      let done = 0;
      while (done < into.length) {
        const { bytesRead } = await fh.read(into, done, into.length - done, at.hostAddress + offset + done);
        if (bytesRead === 0) throw new CloudletError('VM_FAILED', `QEMU's memory ended ${offset + done} bytes into the guest's RAM`);
        done += bytesRead;
      }
    },
    close: () => fh.close(),
  };
}

/** Pagemap entries read at a time (8 bytes each: 1 MiB of them covers 512 MiB of RAM). */
const PAGEMAP_BATCH = 131072;

/** The soft-dirty (or swapped out: to be safe) pages of `length` bytes of QEMU's memory at `hostAddress`. */
async function softDirtyPages(pid: number, hostAddress: number, length: number): Promise<Uint32Array | null> {
  const pages = Math.ceil(length / 4096);
  const fh = await fs.promises.open(`/proc/${pid}/pagemap`, 'r');
  const out: number[] = [];
  try {
    const buf = Buffer.alloc(PAGEMAP_BATCH * 8);
    for (let first = 0; first < pages; first += PAGEMAP_BATCH) {
      const n = Math.min(PAGEMAP_BATCH, pages - first);
      const want = n * 8;
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, (hostAddress / 4096 + first) * 8 + got);
        if (bytesRead === 0) throw new CloudletError('VM_FAILED', `QEMU's page map ended ${first + got / 8} pages into the guest's RAM`);
        got += bytesRead;
      }
      for (let k = 0; k < n; k++) {
        // The entry's high word: bit 23 is bit 55 (soft-dirty), bit 30 is bit 62 (swapped).
        const hi = buf.readUInt32LE(k * 8 + 4);
        if ((hi & 0x40800000) !== 0) out.push(first + k);
      }
    }
  } finally {
    await fh.close();
  }
  // A guest that ran through a migration wrote something (its timers, at least): none means no record.
  return out.length > 0 ? Uint32Array.from(out) : null;
}
