// The source side of a handoff: turns a running instance into a handoff stream (PROTOCOL.md) while it keeps
// running. Three passes, pipelined into one stream:
//   1. disk pre-copy: every cluster the instance's qcow2 layer holds, classified chunk by chunk against the
//      base (same place / zero / anywhere in the base / literal);
//   2. memory: QEMU's live pre-copy into a unix socket, parsed as it flows (savefile.ts) and classified the
//      same way; QEMU pauses the guest only for its last round;
//   3. with the guest paused: where QEMU's dirty tracking cannot be trusted (below), a check of the memory;
//      then the device state, then the disk chunks that changed since pass 1.
//
// The memory check: QEMU before 9.0, running a guest under TCG, can miss guest writes in its pre-copy (its
// bitmap sync leaves TCG's TLB entries unarmed, so later stores through them set no dirty bit: upstream's
// "physmem: Fix migration dirty bitmap coherency with TCG memory access"). The guest then resumes elsewhere
// on a few stale pages and crashes. So, guest paused, the sender reads the guest's RAM where QEMU holds it
// (vm/guest-memory.ts: the pages the kernel says may have been written) and sends again each page whose
// hash differs from the last one it sent for it.
// Literal batches are compressed on worker threads at a level a small controller moves up while the link is
// the bottleneck and down while the CPU is.

import { CloudletError } from '../errors';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BaseIndex, ZERO_HASH } from '../delta/base-index';
import { DeltaClassifier, LiteralStore } from '../delta/classifier';
import { CompressorPool } from '../delta/compress';
import { CHUNK_SIZE, chunkHash, isZeroChunk, wordsOf } from '../delta/hash';
import { ByteSource, readSyncExact, writeFully } from '../io/io';
import { Qcow2Image } from '../image/qcow2';
import { parseSaveStream, sameRamLayout } from '../image/savefile';
import { GuestMemoryReader } from '../vm/guest-memory';
import { LiveMigrationStats } from '../vm/live-migration';
import { BatchBuilder, CODEC_RAW, CODEC_ZSTD, HandoffEnd, HandoffHello, Source, Space, WIRE_VERSION, batchRecord, endRecord, helloRecord, layoutRecord, tailRecord } from './wire';

/** Where the stream goes: `write` resolves once the bytes are accepted (the caller applies backpressure). */
export interface StreamSink {
  write(parts: Buffer[]): Promise<void>;
}

export interface SendOptions {
  sink: StreamSink;
  /** The hello record's fields; the sender adds the protocol version and the disk's size and cluster size. */
  hello: Omit<HandoffHello, 'version' | 'disk'>;
  base: BaseIndex;
  /** The instance's qcow2 layer over the base disk. */
  disk: string;
  /** A libvirt save-file header for the instance (only its length matters to the parser). */
  saveHeader: Buffer;
  /** Runs QEMU's live migration into `sink`; resolves when the guest is paused and everything was sent. */
  migrate: (sink: (chunk: Buffer) => Promise<void>) => Promise<LiveMigrationStats>;
  /**
   * When given, opens the guest's RAM for the memory check (see the header), before the migration begins.
   * Left out where QEMU's dirty tracking is sound (KVM).
   */
  checkMemory?: () => Promise<GuestMemoryReader>;
  signal: AbortSignal;
  onPhase?: (phase: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Compression threads (default 2). */
  threads?: number;
  /** Fixed zstd level instead of the adaptive one (0 = none). */
  level?: number;
}

/** What the sender reports (and sends as the End record). */
export type SendStats = HandoffEnd;

const LADDER = [0, 1, 3, 5, 7, 9, 12, 15, 19];
const ZERO_PAGE = Buffer.alloc(CHUNK_SIZE);
/** The memory check reads the guest's RAM this much at a time. */
const CHECK_READ_BYTES = 4 << 20;
/** Unwritten pages between two written ones that the check reads along rather than start another read. */
const CHECK_GAP_PAGES = 16;
/** QEMU's stream bytes taken ahead of the parser (QEMU waits beyond this: backpressure). */
const MAX_FEED_BACKLOG = 2 << 20;
/**
 * Send once this many entries or literals (1 MiB) are batched (fuller batches close themselves). Small
 * batches and short queues keep the backlog behind a slow link small: whatever is queued when QEMU pauses
 * the guest for its last round adds to the downtime.
 */
const FLUSH_ENTRIES = 3072;
const FLUSH_LITERALS = 256;

/** Ordered, pipelined compression of batches, with the adaptive level; every record goes out through it. */
class BatchPipeline {
  private readonly pool: CompressorPool;
  private readonly queue: Promise<{ parts: Buffer[]; level?: number; body?: number }>[] = [];
  private rung: number;
  private netWaitMs = 0;
  private cpuWaitMs = 0;
  private sinceAdjust = 0;
  readonly levels: Record<string, number> = {};
  bytesSent = 0;
  compressedBytes = 0;

  constructor(
    private readonly sink: StreamSink,
    threads: number,
    private readonly fixed: number | undefined,
  ) {
    this.pool = new CompressorPool(3, threads);
    this.rung = 4; // level 7: most links here are slow enough for it; the controller corrects from there
  }

  get level(): number {
    return this.fixed ?? LADDER[this.rung];
  }

  /** Queues a record that needs no compression, after everything queued before it. */
  enqueue(parts: Buffer[]): void {
    this.queue.push(Promise.resolve({ parts }));
  }

  /** Queues a raw batch; writes out the oldest records while too many are in flight. */
  async submit(raw: Buffer): Promise<void> {
    const level = this.level;
    const rawLen = raw.length;
    let body: Promise<Buffer>;
    if (level === 0) body = Promise.resolve(raw);
    else {
      this.pool.submit(raw, level);
      body = this.pool.takeOldest();
    }
    this.queue.push(body.then((b) => ({ parts: batchRecord(level === 0 ? CODEC_RAW : CODEC_ZSTD, rawLen, b), level, body: b.length })));
    while (this.queue.length > 3) await this.writeOldest();
  }

  async drain(): Promise<void> {
    while (this.queue.length > 0) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    let t = Date.now();
    const r = await this.queue.shift()!;
    this.cpuWaitMs += Date.now() - t;
    t = Date.now();
    await this.sink.write(r.parts);
    this.netWaitMs += Date.now() - t;
    for (const p of r.parts) this.bytesSent += p.length;
    if (r.level === undefined) return;
    this.compressedBytes += r.body!;
    this.levels[r.level] = (this.levels[r.level] ?? 0) + 1;
    this.adjust();
  }

  /**
   * Every few batches: waiting on the link means there is CPU to spare for more compression; waiting clearly
   * longer on the compressors means the link could take more, less compressed. (Stepping down takes the
   * stronger signal: fewer bytes also mean less in flight when the guest pauses.)
   */
  private adjust(): void {
    if (this.fixed !== undefined || ++this.sinceAdjust < 4) return;
    if (this.netWaitMs > 2 * this.cpuWaitMs + 20 && this.rung < LADDER.length - 1) this.rung++;
    else if (this.cpuWaitMs > 3 * this.netWaitMs + 50 && this.rung > 0) this.rung--;
    this.sinceAdjust = 0;
    this.netWaitMs = 0;
    this.cpuWaitMs = 0;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** A byte source fed by pushes (QEMU's stream), with a bounded backlog. */
class PushSource implements ByteSource {
  private readonly chunks: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failed: Error | null = null;
  private wakeReader: (() => void) | null = null;
  private wakeWriter: (() => void) | null = null;

  constructor(private readonly beforeRead: (idle: boolean) => Promise<void>) {}

  async push(chunk: Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    // At most 64 KiB per read(): what one read adds to the batches (at most 16 literal pages) stays small.
    for (let at = 0; at < chunk.length; at += 65536) this.chunks.push(chunk.subarray(at, Math.min(chunk.length, at + 65536)));
    this.queued += chunk.length;
    this.wakeReader?.();
    while (this.queued > MAX_FEED_BACKLOG && !this.failed) await new Promise<void>((r) => (this.wakeWriter = r));
    // Set by fail() from another task while this one waited (narrowing cannot see that).
    const failed = this.failed as Error | null;
    if (failed) throw failed;
  }

  end(): void {
    this.ended = true;
    this.wakeReader?.();
  }

  fail(e: unknown): void {
    this.failed = e instanceof Error ? e : new Error(String(e));
    this.wakeReader?.();
    this.wakeWriter?.();
  }

  async read(): Promise<Uint8Array | null> {
    await this.beforeRead(this.chunks.length === 0);
    while (this.chunks.length === 0 && !this.ended && !this.failed) await new Promise<void>((r) => (this.wakeReader = r));
    if (this.failed) throw this.failed;
    const c = this.chunks.shift();
    if (!c) return null;
    this.queued -= c.length;
    if (this.queued <= MAX_FEED_BACKLOG) this.wakeWriter?.();
    return c;
  }
}

export async function sendHandoff(o: SendOptions): Promise<SendStats> {
  const base = o.base;
  const pipe = new BatchPipeline(o.sink, o.threads ?? 2, o.level);
  const batch = new BatchBuilder();
  const stats: SendStats = {
    bytesSent: 0,
    disk: { chunks: 0, literal: 0, same: 0, zero: 0, base: 0, earlier: 0, finalChunks: 0 },
    memory: { pages: 0, literal: 0, same: 0, zero: 0, base: 0, earlier: 0 },
    literalBytes: 0,
    compressedBytes: 0,
    levels: pipe.levels,
    migration: null,
    pausedToEndMs: null,
    pausedToMemoryEndMs: null,
    finalDiskPassMs: null,
    memoryCheck: null,
    pausedAt: null,
  };
  const flush = async (): Promise<void> => {
    if (batch.count > 0) batch.ready.push(batch.take());
    while (batch.ready.length > 0) await pipe.submit(batch.ready.shift()!);
  };
  const checkAbort = () => {
    if (o.signal.aborted) throw new CloudletError('CANCELLED', 'the handoff was cancelled');
  };
  // Literals already sent, for "the same as literal n" (a file the guest wrote to disk is often in its page
  // cache too): the classifier byte-checks a match against this spool of what was sent.
  const spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cloudlet-handoff-'));
  const spoolFd = fs.openSync(path.join(spoolDir, 'literals'), 'w+');
  const spooled: LiteralStore = {
    keep: (n, data, at) => writeFully(spoolFd, data.subarray(at, at + CHUNK_SIZE), n * CHUNK_SIZE, 'handoff spool'),
    read: (n, into) => readSyncExact(spoolFd, into, 0, CHUNK_SIZE, n * CHUNK_SIZE, 'handoff spool'),
  };
  const delta = new DeltaClassifier(base, spooled);
  /** Classifies one 4 KiB chunk into the batch; `same` says whether it equals the base at its place. */
  const classify = (space: Space, target: number, data: Buffer, at: number, h: number, zero: boolean, same: boolean): void => {
    const kind = delta.classify(space, data, at, h, zero, same);
    if (kind === Source.Literal) batch.add(space, kind, target, 0, data, at);
    else batch.add(space, kind, target, kind === Source.Same || kind === Source.Zero ? 0 : delta.ref);
  };
  /** The end record's counts, from the classifier's. */
  const countStats = (): void => {
    const { disk: d, memory: m } = delta;
    Object.assign(stats.disk, { chunks: d.scanned, literal: d.literal, same: d.same, zero: d.zero, base: d.baseDisk + d.baseMemory, earlier: d.earlier });
    Object.assign(stats.memory, { pages: m.scanned, literal: m.literal, same: m.same, zero: m.zero, base: m.baseDisk + m.baseMemory, earlier: m.earlier });
    stats.literalBytes = delta.literals * CHUNK_SIZE;
  };
  let guestMemory: GuestMemoryReader | null = null;
  const needsFlush = () => batch.ready.length > 0 || batch.count >= FLUSH_ENTRIES || batch.literals.length >= FLUSH_LITERALS;

  try {
    const layer = await Qcow2Image.open(o.disk);
    const disk = { virtualSize: layer.virtualSize, clusterBits: layer.clusterBits };
    await layer.close();
    pipe.enqueue(helloRecord({ version: WIRE_VERSION, ...o.hello, disk }));

    // --- 1. disk pre-copy, guest running ---------------------------------------------------------------
    o.onPhase?.('disk');
    const sentHash = new Map<number, number>();
    const sendDisk = async (onlyChanged: boolean): Promise<number> => {
      const q = await Qcow2Image.open(o.disk);
      try {
        const cs = q.clusterSize;
        const cpc = cs / CHUNK_SIZE;
        const diskChunks = q.virtualSize / CHUNK_SIZE;
        const { guest, host } = await q.clusters();
        const buf = Buffer.alloc(cs);
        const words = wordsOf(buf);
        const seen = new Set<number>();
        let sent = 0;
        for (let ci = 0; ci < guest.length; ci++) {
          checkAbort();
          const g = guest[ci];
          seen.add(g);
          q.readCluster(host[ci], buf);
          for (let k = 0; k < cpc; k++) {
            const c = g * cpc + k;
            if (c >= diskChunks) break;
            const at = k * CHUNK_SIZE;
            const zero = isZeroChunk(words, at / 4);
            const h = zero ? ZERO_HASH : chunkHash(words, at / 4);
            if (onlyChanged && sentHash.get(c) === h) continue;
            sentHash.set(c, h);
            classify(Space.Disk, c, buf, at, h, zero, base.sameDiskChunk(c, h, buf, at));
            sent++;
          }
          if (needsFlush()) await flush();
          o.onProgress?.(ci + 1, guest.length);
        }
        if (onlyChanged) {
          // Clusters the layer no longer holds read from the base again.
          for (const c of sentHash.keys()) {
            if (seen.has(Math.floor(c / cpc))) continue;
            batch.add(Space.Disk, Source.Same, c);
            sentHash.delete(c);
            sent++;
            if (needsFlush()) await flush();
          }
        }
        return sent;
      } finally {
        await q.close();
      }
    };
    try {
      await sendDisk(false);
    } catch (e) {
      // QEMU writes the layer while this pass reads it, so its tables can be caught half-grown; whatever this
      // pass missed, the final pass (guest paused, tables flushed) sends.
      if ((e as CloudletError).code !== 'QCOW2_INVALID' && (e as CloudletError).code !== 'IO') throw e;
    }
    await flush();

    // --- 2. memory, QEMU live pre-copy ------------------------------------------------------------------
    o.onPhase?.('memory');
    let layoutSeen = false;
    let sameLayout = false;
    /** The hash of what was last sent for each page (-1: nothing yet), for the memory check. */
    let sentPageHash = new Float64Array(0);
    const page = Buffer.alloc(CHUNK_SIZE);
    const pageWords = wordsOf(page);
    /** Classifies one page of QEMU's stream; with `onlyChanged`, only when it differs from what was sent. */
    const memoryPage = (p: number, data: Buffer | null, onlyChanged: boolean): boolean => {
      if (!layoutSeen) throw new CloudletError('HANDOFF_PROTOCOL', 'QEMU sent RAM pages before the RAM block list');
      if (p >= sentPageHash.length) throw new CloudletError('HANDOFF_PROTOCOL', `QEMU sent page ${p}, beyond its RAM block list`);
      let zero = true;
      if (data) {
        data.copy(page);
        zero = isZeroChunk(pageWords, 0);
      }
      const bytes = zero ? ZERO_PAGE : page;
      const h = zero ? ZERO_HASH : chunkHash(pageWords, 0);
      if (onlyChanged && sentPageHash[p] === h) return false;
      sentPageHash[p] = h;
      classify(Space.Memory, p, bytes, 0, h, zero, sameLayout && base.sameMemoryPage(p, h, zero, bytes));
      return true;
    };
    /**
     * Reads the paused guest's main RAM block (the pages the kernel says may have been written, where it can
     * say) and sends again each page that differs from what was sent for it.
     */
    const checkMemory = async (mem: GuestMemoryReader, blocks: { id: string; length: number }[]): Promise<{ pages: number; resent: number }> => {
      const i = blocks.findIndex((b) => b.id === mem.blockId);
      if (i < 0) throw new CloudletError('HANDOFF_PROTOCOL', `QEMU's RAM block ${mem.blockId} is not in its migration stream's block list`);
      const first = blocks.slice(0, i).reduce((n, b) => n + b.length, 0) / CHUNK_SIZE;
      const blockPages = blocks[i].length / CHUNK_SIZE;
      const written = await mem.writtenPages(blocks[i].length);
      const chunk = Buffer.alloc(Math.min(CHECK_READ_BYTES, blocks[i].length));
      let resent = 0;
      let checked = 0;
      /** Compares pages [from, from + n) of the block, read in one go. */
      const compareRun = async (from: number, n: number): Promise<void> => {
        checkAbort();
        const part = chunk.subarray(0, n * CHUNK_SIZE);
        await mem.read(part, from * CHUNK_SIZE);
        checked += n;
        const p0 = first + from;
        for (let k = 0; k < n; k++) {
          const at = k * CHUNK_SIZE;
          const zero = part.compare(ZERO_PAGE, 0, CHUNK_SIZE, at, at + CHUNK_SIZE) === 0;
          if (memoryPage(p0 + k, zero ? null : part.subarray(at, at + CHUNK_SIZE), true)) resent++;
        }
        if (needsFlush()) await flush();
      };
      const perRead = chunk.length / CHUNK_SIZE;
      if (!written) {
        for (let from = 0; from < blockPages; from += perRead) await compareRun(from, Math.min(perRead, blockPages - from));
      } else {
        // Runs of written pages, one read each; short gaps are read along (a read costs more than a few pages,
        // and comparing a page that was not written only finds it unchanged).
        for (let j = 0; j < written.length;) {
          const from = written[j];
          let k = j + 1;
          while (k < written.length && written[k] - written[k - 1] <= CHECK_GAP_PAGES && written[k] - from < perRead) k++;
          const to = Math.min(written[k - 1] + 1, blockPages);
          if (from < to) await compareRun(from, to - from);
          j = k;
        }
      }
      return { pages: checked, resent };
    };
    const feed = new PushSource(async (idle) => {
      // Before waiting for more of QEMU's stream, send what is batched, so slow rounds still flow.
      if (needsFlush() || (idle && batch.count > 0)) await flush();
      checkAbort();
    });
    const parsed = parseSaveStream(feed, 'the live migration stream', (p, data) => void memoryPage(p, data, false), {
      onZeroPage: (p) => void memoryPage(p, null, false),
      onLayout: (l) => {
        layoutSeen = true;
        sentPageHash = new Float64Array(l.totalPages).fill(-1);
        sameLayout = sameRamLayout(base.layout, l);
        // Queued ahead of any page entry: batches are only flushed from the feed's reads, which come later.
        pipe.enqueue(layoutRecord({ sectionId: l.sectionId, footers: l.footers, blocks: l.blocks, sameLayoutAsBase: sameLayout, prologue: l.prologue, ramStart: l.ramStart }));
      },
    });
    parsed.catch((e) => feed.fail(e));
    await feed.push(o.saveHeader);
    if (o.checkMemory) {
      guestMemory = await o.checkMemory();
      await guestMemory.startTracking();
    }
    let migration: LiveMigrationStats;
    try {
      migration = await o.migrate(async (chunk) => {
        await feed.push(chunk);
      });
    } catch (e) {
      feed.fail(e);
      throw e;
    }
    // The guest is paused from here on.
    const pausedAt = Date.now() - (migration.downtimeMs ?? 0);
    stats.pausedAt = pausedAt;
    stats.migration = migration;
    feed.end();
    const layout = await parsed;
    await flush();
    if (guestMemory) {
      o.onPhase?.('memory-check');
      const c0 = Date.now();
      const checked = await checkMemory(guestMemory, layout.blocks);
      await flush();
      stats.memoryCheck = { ...checked, ms: Date.now() - c0 };
    }
    stats.pausedToMemoryEndMs = Date.now() - pausedAt;
    o.onPhase?.('stop-and-copy');
    pipe.enqueue(tailRecord({ footers: layout.footers, bytes: layout.tail }));

    // --- 3. disk chunks changed since pass 1 ------------------------------------------------------------
    const d0 = Date.now();
    stats.disk.finalChunks = await sendDisk(true);
    stats.finalDiskPassMs = Date.now() - d0;
    await flush();
    await pipe.drain();
    stats.compressedBytes = pipe.compressedBytes;
    countStats();
    stats.pausedToEndMs = Date.now() - pausedAt;
    pipe.enqueue(endRecord({ ...stats, bytesSent: pipe.bytesSent }));
    await pipe.drain();
    stats.bytesSent = pipe.bytesSent;
    return stats;
  } finally {
    await guestMemory?.close();
    await pipe.close();
    fs.closeSync(spoolFd);
    fs.rmSync(spoolDir, { recursive: true, force: true });
  }
}
