// The destination side of a handoff: reads the stream (PROTOCOL.md) and builds, as it arrives, the moving
// instance's qcow2 layer over the local copy of the base disk and a libvirt save file of its memory. The save
// file either has a fixed layout decided when the RAM layout arrives (every page a full page record at a known
// offset, so a page sent again is simply written again), or, where the VM's RAM maps the base's memory image,
// is append-only (only the pages that differ from the base), and then a restore may read it while it grows
// (ReceiveOptions.follower). Nothing is copied once the stream ends. Neither file is flushed here: the memory
// file is read once by the restore and deleted, and the caller flushes the disk layer while the VM restores.
// Every target, reference and length is checked against the local base and the announced sizes before use.

import { MemoryFollower } from '../io/fifo-feed';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudletError, ioError } from '../errors';
import { CHUNK_SIZE } from '../delta/hash';
import { ByteSource, CoalescingWriter, RandomAccessFile, SequentialReader, WindowReader, readSyncExact, writeFully } from '../io/io';
import { Qcow2AppendWriter } from '../image/qcow2';
import { MAIN_RAM_BLOCK, RamBlock, SAVE_LIMITS, SaveFileLayout, canonicalPrefix, canonicalSuffix, writePageRecordHeader } from '../image/savefile';
import { ENTRY_BYTES, HandoffEnd, HandoffHello, LIMITS, RecordType, Source, Space, decodeBatch, decodeEnd, decodeError, decodeHello, decodeLayout, decodeTail } from './wire';
import { baseSnapshotLayout } from '../image/layout-cache';

export type { HandoffHello } from './wire';

export interface ReceiveOptions {
  source: ByteSource;
  /** The instance directory: the outputs' home, and where the receiver spools literals it may refer back to. */
  dir: string;
  /** The qcow2 layer and the save file to write. */
  disk: string;
  memory: string;
  baseDisk: string;
  baseMemory: string;
  /**
   * The VM's RAM will map the base's memory image (image/ram-image.ts): write main-RAM pages "the same as the
   * base" only where the page had been sent otherwise before. Only where the RAM layout is the base's.
   */
  sparseMainRam?: boolean;
  /** Checks the hello (the base is here, the id is free) and returns the domain XML for this cloudlet. */
  onHello: (h: HandoffHello) => string;
  /** The libvirt save header for the given domain XML. */
  saveHeader: (xml: string) => Buffer;
  /**
   * Told as the memory file grows, for a restore that reads it while it is written (only where the file is
   * append-only: a sparse one). `begin` comes once every page has arrived once (QEMU's first pass is in),
   * with the disk layer a consistent image as of then (Qcow2AppendWriter.checkpoint); `end` once the file is
   * whole and the disk layer finished, so a restore that waits for the file's last bytes finds the final disk.
   */
  follower?: MemoryFollower;
  signal: AbortSignal;
  onProgress?: (bytes: number) => void;
}

export interface ReceiveResult {
  hello: HandoffHello;
  end: HandoffEnd;
  disk: string;
  memory: string;
  bytesReceived: number;
  /** When the End record arrived (ms since the epoch). */
  endAt: number;
}

const bad = (m: string) => new CloudletError('HANDOFF_PROTOCOL', `handoff stream: ${m}`);

/**
 * The moving VM's memory as it arrives, as the save file itself: every page a full page record at a fixed
 * offset (page p's data always at dataAt[p]), so a page sent again is written again in place, and the file is
 * complete once the device state is written after the pages.
 */
class SaveFileBuilder {
  private readonly out: CoalescingWriter;
  private readonly dataAt: Float64Array;
  private readonly blockOf: Uint32Array;
  /** 0: nothing written yet; 1: record written, data all zero; 2: record with data. */
  private readonly state: Uint8Array;
  private readonly zeros = Buffer.alloc(CHUNK_SIZE);
  private readonly recordHead = Buffer.alloc(8 + 256 + CHUNK_SIZE);
  readonly endOfPages: number;

  constructor(
    readonly fd: number,
    readonly file: string,
    readonly layout: Pick<SaveFileLayout, 'headerRegion' | 'prologue' | 'ramStart' | 'sectionId' | 'footers' | 'blocks' | 'totalPages'>,
  ) {
    this.out = new CoalescingWriter(fd, file);
    const prefix = canonicalPrefix(layout);
    this.out.write(prefix, 0);
    const n = layout.totalPages;
    this.dataAt = new Float64Array(n);
    this.blockOf = new Uint32Array(n);
    this.state = new Uint8Array(n);
    let at = prefix.length;
    layout.blocks.forEach((b, bi) => {
      for (let k = 0; k < b.length / CHUNK_SIZE; k++) {
        const p = b.firstPage + k;
        const head = 8 + (k === 0 ? 1 + b.id.length : 0);
        this.blockOf[p] = bi;
        this.dataAt[p] = at + head;
        at += head + CHUNK_SIZE;
      }
    });
    this.endOfPages = at;
  }

  /** Every page has a slot, so a page "the same as the base" is always written there. */
  needsBaseData(): boolean {
    return true;
  }

  /** Writes page p (null: zero page) into its slot. */
  put(p: number, data: Buffer | null): void {
    const st = this.state[p];
    if (data === null && st === 1) return;
    const block: RamBlock = this.layout.blocks[this.blockOf[p]];
    const k = p - block.firstPage;
    if (st === 0) {
      // First sight: the record header and the data in one write, contiguous with the page before.
      const end = writePageRecordHeader(this.recordHead, 0, block, k, false);
      (data ?? this.zeros).copy(this.recordHead, end);
      this.out.write(this.recordHead.subarray(0, end + CHUNK_SIZE), this.dataAt[p] - end);
    } else this.out.write(data ?? this.zeros, this.dataAt[p]);
    this.state[p] = data === null ? 1 : 2;
  }

  /**
   * Completes the slot file as the save file libvirt restores: the device state after the pages. (Writing a
   * compact copy without the zero pages was tried: it cost about a second of the pause and the restore took
   * no less.)
   */
  finish(footers: boolean, tail: Buffer): void {
    if (footers !== this.layout.footers) throw bad('the RAM section footers announced with the layout do not match the stream');
    // A page QEMU never sent is one the destination would have as zeros.
    for (let p = 0; p < this.state.length; p++) if (this.state[p] === 0) this.put(p, null);
    this.out.write(canonicalSuffix({ sectionId: this.layout.sectionId, footers, tail }), this.endOfPages);
    this.out.flush();
  }
}

const SENT = 1;
const WRITTEN = 2;

/**
 * The moving VM's memory as a save file that leaves out the main RAM pages the mapped base image already holds:
 * records are appended as they arrive (a page sent again gets a second record, and QEMU keeps the last), so
 * the file grows with what differs from the base and with what is sent again, not with the VM's RAM.
 */
class SparseSaveBuilder {
  private readonly out: CoalescingWriter;
  private readonly blockOf: Uint32Array;
  /** 1 once the stream has sent page p (SENT), 3 once page p also has a record in the file (SENT | WRITTEN). */
  private readonly state: Uint8Array;
  private readonly recordHead = Buffer.alloc(8 + 256 + CHUNK_SIZE);
  private pos: number;
  /** The block of the last record written: the next record of the same block needs no name. */
  private lastBlock = -1;
  /** Pages sent at least once. */
  private seen = 0;

  constructor(
    readonly fd: number,
    readonly file: string,
    readonly layout: Pick<SaveFileLayout, 'headerRegion' | 'prologue' | 'ramStart' | 'sectionId' | 'footers' | 'blocks' | 'totalPages'>,
    private readonly main: RamBlock,
    /** Whether the base's page p is zero (the image holds zeros there). */
    private readonly baseZero: (p: number) => boolean,
  ) {
    this.out = new CoalescingWriter(fd, file);
    const prefix = canonicalPrefix(layout);
    this.out.write(prefix, 0);
    this.pos = prefix.length;
    this.blockOf = new Uint32Array(layout.totalPages);
    layout.blocks.forEach((b, bi) => this.blockOf.fill(bi, b.firstPage, b.firstPage + b.length / CHUNK_SIZE));
    this.state = new Uint8Array(layout.totalPages);
  }

  /** Whether a page "the same as the base" must be written out (not when the mapped image already shows it). */
  needsBaseData(p: number): boolean {
    return (this.state[p] & WRITTEN) !== 0 || !this.inMain(p);
  }

  private inMain(p: number): boolean {
    return p >= this.main.firstPage && p < this.main.firstPage + this.main.length / CHUNK_SIZE;
  }

  /** Page p (null: zero page); `sameAsBase`: its content is the base's page at its place. */
  put(p: number, data: Buffer | null, sameAsBase: boolean): void {
    if (this.state[p] === 0) this.seen++;
    if (sameAsBase && !(this.state[p] & WRITTEN) && this.inMain(p)) {
      this.state[p] = SENT;
      return;
    }
    const bi = this.blockOf[p];
    const block = this.layout.blocks[bi];
    const end = writePageRecordHeader(this.recordHead, 0, block, p - block.firstPage, data === null, bi !== this.lastBlock);
    if (data !== null) data.copy(this.recordHead, end);
    const len = data === null ? end : end + CHUNK_SIZE;
    this.out.write(this.recordHead.subarray(0, len), this.pos);
    this.pos += len;
    this.lastBlock = bi;
    this.state[p] = SENT | WRITTEN;
  }

  /** Whether every page has been sent at least once (QEMU's first pass over the RAM is in). */
  get allSent(): boolean {
    return this.seen === this.layout.totalPages;
  }

  /** Writes out what is buffered; returns the file's length (every byte before it final: records only append). */
  flush(): number {
    this.out.flush();
    return this.pos;
  }

  /** The device state after the pages. A main-RAM page QEMU never sent would be zeros, not the base's. */
  finish(footers: boolean, tail: Buffer): void {
    if (footers !== this.layout.footers) throw bad('the RAM section footers announced with the layout do not match the stream');
    const first = this.main.firstPage;
    for (let p = first; p < first + this.main.length / CHUNK_SIZE; p++) if (this.state[p] === 0 && !this.baseZero(p)) this.put(p, null, false);
    const suffix = canonicalSuffix({ sectionId: this.layout.sectionId, footers, tail });
    this.out.write(suffix, this.pos);
    this.pos += suffix.length;
    this.out.flush();
  }
}

export async function receiveHandoff(o: ReceiveOptions): Promise<ReceiveResult> {
  const r = new SequentialReader(o.source, 'handoff stream', 'HANDOFF_PROTOCOL');
  const diskFile = o.disk;
  const memFile = o.memory;
  // Every literal, in stream order, for "the same as literal n" references.
  const spoolFile = path.join(o.dir, 'literals.spool');
  let spoolFd = -1;
  let literalsSeen = 0;
  let hello: HandoffHello | null = null;
  let xml = '';
  let disk: Qcow2AppendWriter | null = null;
  let mem: SaveFileBuilder | SparseSaveBuilder | null = null;
  let memFd = -1;
  let baseDisk: RandomAccessFile | null = null;
  let baseMemFd = -1;
  let baseLayout: SaveFileLayout | null = null;
  let sameLayout = false;
  let tail: { footers: boolean; bytes: Buffer } | null = null;
  let received = 0;
  /** Whether the follower has begun (the memory file is being read as it grows). */
  let following = false;
  const scratch = Buffer.allocUnsafe(LIMITS.maxBatchRaw);
  const chunk = Buffer.alloc(CHUNK_SIZE);
  try {
    baseDisk = await RandomAccessFile.open(o.baseDisk, 'cannot open base disk');
    const baseDiskChunks = Math.ceil(baseDisk.size / CHUNK_SIZE);
    const baseWin = new WindowReader(baseDisk.handle.fd, baseDisk.size, baseDisk.path, 1 << 20);
    let baseMemWin: WindowReader | null = null;
    const readBaseDisk = (c: number, into: Buffer) => baseWin.read(into, 0, CHUNK_SIZE, c * CHUNK_SIZE);
    /** The base memory snapshot's page map, read once, when the stream first needs a base page. */
    const openBaseMemory = async (): Promise<SaveFileLayout> => {
      if (!baseLayout) {
        baseLayout = await baseSnapshotLayout(o.baseMemory);
        baseMemFd = fs.openSync(o.baseMemory, 'r');
        baseMemWin = new WindowReader(baseMemFd, fs.fstatSync(baseMemFd).size, o.baseMemory, 4 << 20);
      }
      return baseLayout;
    };
    const readBasePage = (p: number, into: Buffer) => {
      const off = baseLayout!.pageOffsets[p];
      if (off < 0) into.fill(0, 0, CHUNK_SIZE);
      else baseMemWin!.read(into, 0, CHUNK_SIZE, off);
    };
    // A cluster's first write fills it from the base (zeros past the base's end, as the layer reads them).
    const fillCluster = (g: number, into: Buffer) => {
      const at = g * into.length;
      const n = Math.max(0, Math.min(into.length, baseDisk!.size - at));
      if (n > 0) readSyncExact(baseDisk!.handle.fd, into, 0, n, at, baseDisk!.path);
      into.fill(0, n);
    };

    for (;;) {
      if (o.signal.aborted) throw new CloudletError('CANCELLED', 'the handoff was cancelled');
      await r.ensure(5, 'a record header');
      const type = r.u8();
      const len = r.le32();
      if (len > LIMITS.maxRecord) throw bad(`record of ${len} bytes is beyond the ${LIMITS.maxRecord}-byte limit`);
      await r.ensure(len, `a record of type ${type}`);
      const body = r.take(len);
      received += 5 + len;
      o.onProgress?.(received);
      if (hello === null && type !== RecordType.Hello && type !== RecordType.Error) throw bad(`expected the hello record first, got type ${type}`);
      switch (type) {
        case RecordType.Hello: {
          if (hello) throw bad('a second hello');
          const h = decodeHello(body);
          const d = h.disk;
          xml = o.onHello(h);
          hello = h;
          disk = Qcow2AppendWriter.create(diskFile, { virtualSize: d.virtualSize, clusterBits: d.clusterBits, backingFile: path.relative(o.dir, o.baseDisk), backingFormat: 'raw' });
          break;
        }
        case RecordType.Layout: {
          if (mem) throw bad('a second RAM layout');
          const layout = decodeLayout(body, SAVE_LIMITS);
          const blocks: RamBlock[] = [];
          let pages = 0;
          for (const b of layout.blocks) {
            blocks.push({ id: b.id, length: b.length, firstPage: pages });
            pages += b.length / CHUNK_SIZE;
            if (pages * CHUNK_SIZE > SAVE_LIMITS.maxRamBytes) throw new CloudletError('OVERLAY_LIMIT', `handoff stream: more than ${SAVE_LIMITS.maxRamBytes} bytes of RAM`);
          }
          if (layout.sameLayoutAsBase) {
            const bl = await openBaseMemory();
            sameLayout = bl.totalPages === pages && bl.blocks.every((b, i) => b.id === blocks[i].id && b.length === blocks[i].length);
            if (!sameLayout) throw new CloudletError('IMAGE_MISMATCH', "the moving VM's RAM layout was announced as the base's, but the local base has another");
          }
          memFd = fs.openSync(memFile, 'wx', 0o600);
          const saveLayout = {
            headerRegion: o.saveHeader(xml),
            prologue: layout.prologue,
            ramStart: layout.ramStart,
            sectionId: layout.sectionId,
            footers: layout.footers,
            blocks,
            totalPages: pages,
          };
          const main = blocks.find((b) => b.id === MAIN_RAM_BLOCK);
          if (o.sparseMainRam && sameLayout && main) {
            const bl = baseLayout!;
            mem = new SparseSaveBuilder(memFd, memFile, saveLayout, main, (p) => bl.pageOffsets[p] < 0);
          } else mem = new SaveFileBuilder(memFd, memFile, saveLayout);
          break;
        }
        case RecordType.Batch: {
          const b = decodeBatch(body, scratch);
          if (spoolFd < 0) spoolFd = fs.openSync(spoolFile, 'wx+');
          // The batch's literals join the spool first: an entry may name a literal of its own batch.
          writeFully(spoolFd, b.literals, literalsSeen * CHUNK_SIZE, spoolFile);
          const batchFirst = literalsSeen;
          literalsSeen += b.literals.length / CHUNK_SIZE;
          let lit = 0;
          for (let i = 0; i < b.count; i++) {
            const e = i * ENTRY_BYTES;
            const space = b.entries[e];
            const source = b.entries[e + 1];
            const target = b.entries.readUInt32LE(e + 4);
            const ref = b.entries.readUInt32LE(e + 8);
            let data: Buffer | null;
            switch (source) {
              case Source.Zero:
                data = null;
                break;
              case Source.Literal:
                data = b.literals.subarray(lit * CHUNK_SIZE, (lit + 1) * CHUNK_SIZE);
                lit++;
                break;
              case Source.BaseDisk:
                if (ref >= baseDiskChunks) throw bad(`reference to base disk chunk ${ref} beyond the base`);
                readBaseDisk(ref, chunk);
                data = chunk;
                break;
              case Source.BaseMemory:
                if (ref >= (await openBaseMemory()).totalPages) throw bad(`reference to base memory page ${ref} beyond the base`);
                readBasePage(ref, chunk);
                data = chunk;
                break;
              case Source.Earlier:
                if (ref >= batchFirst + lit) throw bad(`reference to literal ${ref}, which has not been sent`);
                readSyncExact(spoolFd, chunk, 0, CHUNK_SIZE, ref * CHUNK_SIZE, spoolFile);
                data = chunk;
                break;
              case Source.Same:
                if (space === Space.Disk) {
                  readBaseDisk(target, chunk);
                  data = chunk;
                } else {
                  if (!sameLayout) throw bad('a memory page "same as the base" while the layouts differ');
                  // The mapped image has it, unless another copy of the page went into the file before.
                  if (mem && target < mem.layout.totalPages && !mem.needsBaseData(target)) {
                    data = null;
                    break;
                  }
                  readBasePage(target, chunk);
                  data = chunk;
                }
                break;
              default:
                throw bad(`unknown chunk source ${source}`);
            }
            if (space === Space.Disk) {
              if ((target + 1) * CHUNK_SIZE > hello!.disk.virtualSize) throw bad(`disk chunk ${target} lies beyond the disk`);
              disk!.write(target * CHUNK_SIZE, data ?? chunk.fill(0), fillCluster);
            } else if (space === Space.Memory) {
              if (!mem) throw bad('memory pages before the RAM layout');
              if (target >= mem.layout.totalPages) throw bad(`memory page ${target} lies beyond the RAM`);
              mem.put(target, data, source === Source.Same);
            } else throw bad(`unknown chunk space ${space}`);
          }
          if (o.follower && mem instanceof SparseSaveBuilder) {
            if (following) o.follower.grow(mem.flush());
            else if (mem.allSent) {
              disk!.checkpoint();
              following = true;
              o.follower.begin(mem.flush());
            }
          }
          break;
        }
        case RecordType.Tail: {
          if (!mem || tail) throw bad('device state out of place');
          tail = decodeTail(body);
          break;
        }
        case RecordType.End: {
          if (!mem || !tail) throw bad('the stream ended before the memory state was complete');
          const end = decodeEnd(body);
          const endAt = Date.now();
          mem.finish(tail.footers, tail.bytes);
          // Not flushed here: the caller makes the layer durable while the VM restores.
          disk!.finish({ sync: false });
          disk = null;
          // Only now, after the final disk pass: a restore reading the file completes when it gets these bytes.
          if (following && mem instanceof SparseSaveBuilder) o.follower!.end(mem.flush());
          return { hello: hello!, end, disk: diskFile, memory: memFile, bytesReceived: received, endAt };
        }
        case RecordType.KeepAlive:
          break;
        case RecordType.Error: {
          const err = decodeError(body);
          throw new CloudletError('HANDOFF_FAILED', `the source cloudlet stopped the handoff: ${err.message ?? 'no reason given'}${err.code ? ` (${err.code})` : ''}`);
        }
        default:
          throw bad(`unknown record type ${type}`);
      }
    }
  } catch (e) {
    throw e instanceof CloudletError ? e : ioError('handoff: cannot write', o.dir, e);
  } finally {
    disk?.abandon();
    if (memFd >= 0) fs.closeSync(memFd);
    if (spoolFd >= 0) fs.closeSync(spoolFd);
    fs.rmSync(spoolFile, { force: true });
    if (baseMemFd >= 0) fs.closeSync(baseMemFd);
    await baseDisk?.close();
  }
}
