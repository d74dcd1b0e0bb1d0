// qcow2 images: a reader for the guest-written clusters of a top layer (walks L1/L2 tables only, never the
// data area), and a writer that lays out a fresh top layer over a backing file with a deterministic layout
// whose every metadata byte and data-cluster position is known before the first data byte arrives.
// Field offsets follow the qcow2 specification in QEMU's docs/interop/qcow2.txt.

import * as fs from 'node:fs';
import { CloudletError, ioError } from '../errors';
import { RandomAccessFile, readSyncExact, writeBE64, writeFully } from '../io/io';

const QCOW2_MAGIC = 0x514649fb;
const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const INCOMPAT_DIRTY = 1 << 0;
const INCOMPAT_CORRUPT = 1 << 1;
const INCOMPAT_EXTERNAL_DATA = 1 << 2;
const INCOMPAT_COMPRESSION_TYPE = 1 << 3;
const INCOMPAT_EXTENDED_L2 = 1 << 4;
const OFFSET_HI_MASK = 0x00ffffff; // bits 32..55 of a table entry
const OFFSET_LO_MASK = 0xfffffe00; // bits 9..31
const MAX_VIRTUAL_SIZE = 64 * 2 ** 40; // 64 TiB: far beyond any VM we host, small enough for exact arithmetic

export interface Qcow2Clusters {
  /** Guest cluster indices that this layer defines (allocated or zero), ascending. */
  guest: number[];
  /** Host byte offset of each cluster's data, or -1 where the layer says "reads as zeros". */
  host: number[];
}

/** Read-only view of a qcow2 image's header and active L1/L2 mapping. */
export class Qcow2Image {
  private constructor(
    readonly file: RandomAccessFile,
    readonly version: number,
    readonly clusterBits: number,
    readonly virtualSize: number,
    readonly l1Size: number,
    readonly l1Offset: number,
    readonly backingFile: string | null,
    readonly backingFormat: string | null,
  ) {}

  get clusterSize(): number {
    return 2 ** this.clusterBits;
  }

  get path(): string {
    return this.file.path;
  }

  static async open(path: string): Promise<Qcow2Image> {
    const file = await RandomAccessFile.open(path, 'cannot open qcow2 image');
    try {
      return await Qcow2Image.parse(file);
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  private static async parse(file: RandomAccessFile): Promise<Qcow2Image> {
    const bad = (msg: string) => new CloudletError('QCOW2_INVALID', `${file.path}: ${msg}`);
    const unsupported = (msg: string) => new CloudletError('QCOW2_UNSUPPORTED', `${file.path}: ${msg}`);
    if (file.size < 72) throw bad('too short to be a qcow2 image');
    const h = Buffer.alloc(Math.min(file.size, 4096));
    await file.readExact(h, 0, h.length, 0, 'QCOW2_INVALID');
    if (h.readUInt32BE(0) !== QCOW2_MAGIC) throw bad('not a qcow2 image (bad magic)');
    const version = h.readUInt32BE(4);
    if (version !== 2 && version !== 3) throw unsupported(`qcow2 version ${version} (only 2 and 3 are supported)`);
    const backingOffset = readU64(h, 8, bad);
    const backingSize = h.readUInt32BE(16);
    const clusterBits = h.readUInt32BE(20);
    if (clusterBits < 9 || clusterBits > 21) throw bad(`cluster_bits ${clusterBits} out of range 9..21`);
    const virtualSize = readU64(h, 24, bad);
    if (virtualSize > MAX_VIRTUAL_SIZE) throw unsupported(`virtual size ${virtualSize} is beyond the 64 TiB this engine handles`);
    if (h.readUInt32BE(32) !== 0) throw unsupported('encrypted images are not supported');
    const l1Size = h.readUInt32BE(36);
    const l1Offset = readU64(h, 40, bad);
    const cs = 2 ** clusterBits;
    const l2Entries = cs / 8;
    const needL1 = Math.ceil(virtualSize / (cs * l2Entries));
    if (l1Size < needL1) throw bad(`L1 table has ${l1Size} entries, ${needL1} needed for ${virtualSize} bytes`);
    if (l1Size > needL1 + 1024 || l1Offset % cs !== 0 || l1Offset + l1Size * 8 > file.size) throw bad('L1 table out of bounds');
    let headerLength = 72;
    if (version === 3) {
      if (h.length < 104) throw bad('version 3 header truncated');
      const incompat = h.readUInt32BE(76); // low word; the high word must be zero
      if (h.readUInt32BE(72) !== 0) throw unsupported('unknown incompatible features set');
      const known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_EXTERNAL_DATA | INCOMPAT_COMPRESSION_TYPE | INCOMPAT_EXTENDED_L2;
      if (incompat & ~known) throw unsupported(`unknown incompatible feature bits 0x${(incompat & ~known).toString(16)}`);
      if (incompat & INCOMPAT_CORRUPT) throw bad('image is marked corrupt; run qemu-img check -r all');
      if (incompat & INCOMPAT_EXTERNAL_DATA) throw unsupported('images with an external data file are not supported');
      if (incompat & INCOMPAT_EXTENDED_L2) throw unsupported('images with extended L2 entries (subclusters) are not supported');
      headerLength = h.readUInt32BE(100);
      if (headerLength < 104 || headerLength > h.length || headerLength % 8 !== 0) throw bad(`bad header length ${headerLength}`);
    }
    let backingFormat: string | null = null;
    for (let p = headerLength; p + 8 <= h.length;) {
      const type = h.readUInt32BE(p);
      const len = h.readUInt32BE(p + 4);
      if (type === EXT_END) break;
      if (p + 8 + len > h.length) throw bad('header extension runs past the first 4 KiB');
      if (type === EXT_BACKING_FORMAT) backingFormat = h.toString('utf8', p + 8, p + 8 + len);
      p += 8 + Math.ceil(len / 8) * 8;
    }
    let backingFile: string | null = null;
    if (backingOffset !== 0) {
      if (backingSize === 0 || backingSize > 1023 || backingOffset + backingSize > Math.min(cs, file.size)) throw bad('backing file name out of bounds');
      const b = Buffer.alloc(backingSize);
      await file.readExact(b, 0, backingSize, backingOffset, 'QCOW2_INVALID');
      backingFile = b.toString('utf8');
    }
    return new Qcow2Image(file, version, clusterBits, virtualSize, l1Size, l1Offset, backingFile, backingFormat);
  }

  /** Every guest cluster this layer defines, found from L1/L2 alone. */
  async clusters(): Promise<Qcow2Clusters> {
    const cs = this.clusterSize;
    const l2Entries = cs / 8;
    const totalClusters = Math.ceil(this.virtualSize / cs);
    const bad = (msg: string) => new CloudletError('QCOW2_INVALID', `${this.path}: ${msg}`);
    const l1 = Buffer.alloc(this.l1Size * 8);
    await this.file.readExact(l1, 0, l1.length, this.l1Offset, 'QCOW2_INVALID');
    const out: Qcow2Clusters = { guest: [], host: [] };
    const l2 = Buffer.alloc(cs);
    for (let i = 0; i < this.l1Size; i++) {
      const hi = l1.readUInt32BE(i * 8);
      const lo = l1.readUInt32BE(i * 8 + 4);
      const l2Offset = (hi & OFFSET_HI_MASK) * 0x100000000 + (lo & OFFSET_LO_MASK);
      if (l2Offset === 0) continue;
      if (l2Offset % cs !== 0 || l2Offset + cs > this.file.size) throw bad(`L2 table ${i} at ${l2Offset} is out of bounds`);
      await this.file.readExact(l2, 0, cs, l2Offset, 'QCOW2_INVALID');
      for (let j = 0; j < l2Entries; j++) {
        const guest = i * l2Entries + j;
        const ehi = l2.readUInt32BE(j * 8);
        const elo = l2.readUInt32BE(j * 8 + 4);
        if (ehi === 0 && elo === 0) continue;
        if (guest >= totalClusters) throw bad(`L2 entry for cluster ${guest} lies beyond the virtual size`);
        if (ehi & 0x40000000) throw new CloudletError('QCOW2_UNSUPPORTED', `${this.path}: compressed clusters are not supported (cluster ${guest}); write the layer without -c`);
        const host = (ehi & OFFSET_HI_MASK) * 0x100000000 + (elo & OFFSET_LO_MASK);
        if (this.version === 3 && elo & 1) {
          out.guest.push(guest);
          out.host.push(-1);
          continue;
        }
        if (host === 0) continue;
        // Data past the end of the file reads as zeros (QEMU does the same), so only alignment is checked.
        if (host % cs !== 0) throw bad(`data cluster for guest cluster ${guest} at ${host} is not cluster-aligned`);
        out.guest.push(guest);
        out.host.push(host);
      }
    }
    return out;
  }

  /**
   * Reads the data of the cluster at host offset `host` (from clusters()) into `buf`: zeros for a zero cluster
   * (-1), and zeros for any part past the end of the file, as QEMU reads it.
   */
  readCluster(host: number, buf: Buffer): void {
    const cs = this.clusterSize;
    if (host < 0) {
      buf.fill(0, 0, cs);
      return;
    }
    const avail = Math.max(0, Math.min(cs, this.file.size - host));
    if (avail > 0) readSyncExact(this.file.handle.fd, buf, 0, avail, host, this.path);
    if (avail < cs) buf.fill(0, avail, cs);
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

function readU64(b: Buffer, at: number, bad: (m: string) => CloudletError): number {
  const hi = b.readUInt32BE(at);
  if (hi > 0x1fffff) throw bad(`64-bit field at byte ${at} is absurdly large`);
  return hi * 0x100000000 + b.readUInt32BE(at + 4);
}

export interface Qcow2LayoutInput {
  virtualSize: number;
  clusterBits: number;
  backingFile: string;
  backingFormat: string;
  /** Guest clusters that get a data cluster, ascending. */
  dataClusters: number[];
  /** Guest clusters that read as zeros without data (v3 zero flag), ascending, disjoint from dataClusters. */
  zeroClusters: number[];
}

export interface Qcow2Layout {
  fileSize: number;
  clusterSize: number;
  /** Host offset of the first data cluster; data cluster k (in dataClusters order) is at dataStart + k * clusterSize. */
  dataStart: number;
  /** Metadata to write: header, L1, refcount table and blocks, L2 tables. */
  metadata: { offset: number; bytes: Buffer }[];
}

/**
 * Plans a qcow2 v3 top layer: header + backing extension in cluster 0, then L1, refcount table, refcount
 * blocks (16-bit), L2 tables and data clusters in guest order. Every cluster has refcount 1.
 */
export function planQcow2Layout(input: Qcow2LayoutInput): Qcow2Layout {
  const cs = 2 ** input.clusterBits;
  const l2Entries = cs / 8;
  const l1Size = Math.max(1, Math.ceil(input.virtualSize / (cs * l2Entries)));
  const l1Clusters = Math.ceil((l1Size * 8) / cs);
  const l2Of = new Set<number>();
  for (const g of input.dataClusters) l2Of.add(Math.floor(g / l2Entries));
  for (const g of input.zeroClusters) l2Of.add(Math.floor(g / l2Entries));
  const l2Indices = [...l2Of].sort((a, b) => a - b);
  const fixed = 1 + l1Clusters + l2Indices.length + input.dataClusters.length;
  const perBlock = cs / 2; // 16-bit refcounts
  let rb = 1;
  let rt = 1;
  for (;;) {
    const total = fixed + rb + rt;
    const nrb = Math.ceil(total / perBlock);
    const nrt = Math.ceil((nrb * 8) / cs);
    if (nrb === rb && nrt === rt) break;
    rb = nrb;
    rt = nrt;
  }
  const totalClusters = fixed + rb + rt;
  const l1Offset = cs;
  const rtOffset = l1Offset + l1Clusters * cs;
  const rbOffset = rtOffset + rt * cs;
  const l2Offset = rbOffset + rb * cs;
  const dataStart = l2Offset + l2Indices.length * cs;

  const header = headerCluster({ ...input, l1Size, l1Offset, rtOffset, rtClusters: rt });
  const l1 = Buffer.alloc(l1Clusters * cs);
  const l2 = Buffer.alloc(l2Indices.length * cs);
  const l2Slot = new Map<number, number>();
  l2Indices.forEach((idx, k) => {
    l2Slot.set(idx, k);
    const off = l2Offset + k * cs;
    l1.writeUInt32BE(0x80000000 + Math.floor(off / 0x100000000), idx * 8);
    l1.writeUInt32BE(off >>> 0, idx * 8 + 4);
  });
  input.dataClusters.forEach((g, k) => {
    const at = l2Slot.get(Math.floor(g / l2Entries))! * cs + (g % l2Entries) * 8;
    const host = dataStart + k * cs;
    l2.writeUInt32BE(0x80000000 + Math.floor(host / 0x100000000), at);
    l2.writeUInt32BE(host >>> 0, at + 4);
  });
  for (const g of input.zeroClusters) {
    const at = l2Slot.get(Math.floor(g / l2Entries))! * cs + (g % l2Entries) * 8;
    l2.writeUInt32BE(1, at + 4);
  }
  const rtBuf = Buffer.alloc(rt * cs);
  for (let k = 0; k < rb; k++) writeBE64(rtBuf, rbOffset + k * cs, k * 8);
  const rbBuf = Buffer.alloc(rb * cs);
  for (let c = 0; c < totalClusters; c++) rbBuf.writeUInt16BE(1, c * 2);

  const metadata = [
    { offset: 0, bytes: header },
    { offset: l1Offset, bytes: l1 },
    { offset: rtOffset, bytes: rtBuf },
    { offset: rbOffset, bytes: rbBuf },
  ];
  if (l2.length > 0) metadata.push({ offset: l2Offset, bytes: l2 });
  return { fileSize: totalClusters * cs, clusterSize: cs, dataStart, metadata };
}

/** Cluster 0 of a qcow2 v3 image with a backing file (16-bit refcounts, backing format extension). */
function headerCluster(o: { clusterBits: number; virtualSize: number; backingFile: string; backingFormat: string; l1Size: number; l1Offset: number; rtOffset: number; rtClusters: number }): Buffer {
  const cs = 2 ** o.clusterBits;
  const name = Buffer.from(o.backingFile, 'utf8');
  const fmt = Buffer.from(o.backingFormat, 'utf8');
  const extLen = 8 + Math.ceil(fmt.length / 8) * 8 + 8;
  const nameOffset = 104 + extLen;
  if (name.length === 0 || name.length > 1023 || nameOffset + name.length > cs) {
    throw new CloudletError('INVALID_ARGUMENT', `backing file name must be 1..1023 bytes (got ${name.length})`);
  }
  const header = Buffer.alloc(cs);
  header.writeUInt32BE(QCOW2_MAGIC, 0);
  header.writeUInt32BE(3, 4);
  writeBE64(header, nameOffset, 8);
  header.writeUInt32BE(name.length, 16);
  header.writeUInt32BE(o.clusterBits, 20);
  writeBE64(header, o.virtualSize, 24);
  header.writeUInt32BE(o.l1Size, 36);
  writeBE64(header, o.l1Offset, 40);
  writeBE64(header, o.rtOffset, 48);
  header.writeUInt32BE(o.rtClusters, 56);
  header.writeUInt32BE(4, 96); // refcount_order: 16-bit
  header.writeUInt32BE(104, 100);
  header.writeUInt32BE(EXT_BACKING_FORMAT, 104);
  header.writeUInt32BE(fmt.length, 108);
  fmt.copy(header, 112);
  name.copy(header, nameOffset);
  return header;
}

export interface Qcow2AppendOptions {
  virtualSize: number;
  clusterBits: number;
  backingFile: string;
  backingFormat: string;
}

/**
 * A fresh qcow2 v3 top layer written cluster by cluster in any order, as the handoff's destination disk is:
 * a guest cluster's data is appended the first time it is written (filled first with what the backing file
 * holds there) and overwritten in place after. The mapping stays in memory until finish() appends the L2
 * tables and refcount blocks and writes the header, L1 table and refcount table, so nothing reads a
 * half-built image (checkpoint() makes a consistent one of what is there so far, once). Layout: header, L1, a
 * refcount table sized for the largest file the image can become, data clusters in arrival order, then L2
 * tables and refcount blocks (a checkpoint's among the data clusters, free again after finish()).
 */
export class Qcow2AppendWriter {
  private readonly map = new Map<number, number>();
  private readonly cs: number;
  private readonly l1Size: number;
  private readonly l1Offset: number;
  private readonly rtOffset: number;
  private readonly rtClusters: number;
  private next: number;
  private readonly fillBuf: Buffer;
  /** Cluster ranges [from, to) a checkpoint's metadata took, unreferenced once newer metadata is written. */
  private readonly released: [number, number][] = [];

  private constructor(
    private readonly fd: number,
    readonly path: string,
    private readonly o: Qcow2AppendOptions,
  ) {
    if (o.clusterBits < 12 || o.clusterBits > 21) throw new CloudletError('QCOW2_UNSUPPORTED', `cluster size 2^${o.clusterBits} is not supported`);
    if (!(o.virtualSize > 0 && o.virtualSize <= MAX_VIRTUAL_SIZE)) throw new CloudletError('INVALID_ARGUMENT', `virtual size ${o.virtualSize} is out of range`);
    const cs = (this.cs = 2 ** o.clusterBits);
    const l2Entries = cs / 8;
    const guestClusters = Math.ceil(o.virtualSize / cs);
    this.l1Size = Math.max(1, Math.ceil(guestClusters / l2Entries));
    const l1Clusters = Math.ceil((this.l1Size * 8) / cs);
    // Largest file: every guest cluster, every L2 table, plus the fixed clusters and refcount structures.
    const perBlock = cs / 2;
    let rt = 1;
    for (;;) {
      // Room for the L2 tables and refcount blocks twice: a checkpoint's, and finish()'s.
      const most = 1 + l1Clusters + rt + guestClusters + 2 * this.l1Size;
      const blocks = Math.ceil((most + 2 * (Math.ceil(most / perBlock) + 1)) / perBlock);
      const need = Math.ceil((blocks * 8) / cs);
      if (need <= rt) break;
      rt = need;
    }
    this.l1Offset = cs;
    this.rtOffset = cs + l1Clusters * cs;
    this.rtClusters = rt;
    this.next = this.rtOffset + rt * cs;
    this.fillBuf = Buffer.alloc(cs);
  }

  static create(file: string, o: Qcow2AppendOptions): Qcow2AppendWriter {
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx');
    } catch (e) {
      throw ioError('cannot create disk image', file, e);
    }
    try {
      return new Qcow2AppendWriter(fd, file, o);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  get clusterSize(): number {
    return this.cs;
  }

  /** Guest clusters written so far. */
  get clusters(): number {
    return this.map.size;
  }

  /**
   * Writes `data` at guest byte `offset`, within one cluster. `fill` puts the backing file's content of a
   * cluster into a buffer; it is called once, when the cluster is first written.
   */
  write(offset: number, data: Uint8Array, fill: (cluster: number, into: Buffer) => void): void {
    const g = Math.floor(offset / this.cs);
    const within = offset - g * this.cs;
    if (offset < 0 || offset + data.length > this.o.virtualSize || within + data.length > this.cs) {
      throw new CloudletError('INVALID_ARGUMENT', `${this.path}: write of ${data.length} bytes at ${offset} crosses a cluster or the end of the disk`);
    }
    let host = this.map.get(g);
    if (host === undefined) {
      host = this.next;
      this.next += this.cs;
      this.map.set(g, host);
      if (data.length < this.cs) {
        fill(g, this.fillBuf);
        this.pwrite(this.fillBuf, host);
      }
    }
    this.pwrite(data, host + within);
  }

  /**
   * Makes the file a consistent qcow2 image of what has been written so far (its L2 tables, refcounts, L1 and
   * header appended or laid down now), so that another reader may open it while writing goes on: a handoff's
   * destination starts QEMU on the layer before the source's final disk pass has arrived. QEMU opens the
   * images of an incoming migration inactive and reads them again, whole, when it activates them at the
   * migration's end (or at resume), by which time finish() has written the final metadata. The clusters this
   * metadata takes are free again after finish() (refcount 0): nothing refers to them then.
   */
  checkpoint(): void {
    if (this.released.length > 0) throw new Error('internal: one checkpoint per image (its refcount table has room for one)');
    const from = this.next;
    this.writeMetadata();
    this.released.push([from / this.cs, this.next / this.cs]);
  }

  /** Writes the metadata and closes the image; `sync` (default) makes it durable first. */
  finish(o: { sync?: boolean } = {}): void {
    this.writeMetadata();
    if (o.sync !== false) fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
  }

  /** Appends the L2 tables and refcount blocks for the clusters written so far, then the refcount table, L1 and header. */
  private writeMetadata(): void {
    const cs = this.cs;
    const l2Entries = cs / 8;
    const l1 = Buffer.alloc(Math.ceil((this.l1Size * 8) / cs) * cs);
    const byTable = new Map<number, number[]>();
    for (const g of this.map.keys()) {
      const t = Math.floor(g / l2Entries);
      let list = byTable.get(t);
      if (!list) byTable.set(t, (list = []));
      list.push(g);
    }
    for (const [t, list] of [...byTable].sort((a, b) => a[0] - b[0])) {
      const l2 = Buffer.alloc(cs);
      for (const g of list) {
        const host = this.map.get(g)!;
        l2.writeUInt32BE(0x80000000 + Math.floor(host / 0x100000000), (g % l2Entries) * 8);
        l2.writeUInt32BE(host >>> 0, (g % l2Entries) * 8 + 4);
      }
      const at = this.next;
      this.next += cs;
      this.pwrite(l2, at);
      l1.writeUInt32BE(0x80000000 + Math.floor(at / 0x100000000), t * 8);
      l1.writeUInt32BE(at >>> 0, t * 8 + 4);
    }
    // Refcount blocks go last and count themselves.
    const perBlock = cs / 2;
    const used = this.next / cs;
    let blocks = 1;
    while (Math.ceil((used + blocks) / perBlock) > blocks) blocks++;
    const total = used + blocks;
    if (blocks * 8 > this.rtClusters * cs) throw new Error('internal: refcount table too small');
    const rbOffset = this.next;
    const rbs = Buffer.alloc(blocks * cs);
    for (let c = 0; c < total; c++) rbs.writeUInt16BE(1, c * 2);
    for (const [lo, hi] of this.released) for (let c = lo; c < hi; c++) rbs.writeUInt16BE(0, c * 2);
    this.next += blocks * cs;
    this.pwrite(rbs, rbOffset);
    const rtBuf = Buffer.alloc(this.rtClusters * cs);
    for (let k = 0; k < blocks; k++) writeBE64(rtBuf, rbOffset + k * cs, k * 8);
    this.pwrite(rtBuf, this.rtOffset);
    this.pwrite(l1, this.l1Offset);
    this.pwrite(headerCluster({ ...this.o, l1Size: this.l1Size, l1Offset: this.l1Offset, rtOffset: this.rtOffset, rtClusters: this.rtClusters }), 0);
  }

  /** Closes without finishing (the caller removes the file). */
  abandon(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed by finish()
    }
  }

  private pwrite(data: Uint8Array, position: number): void {
    writeFully(this.fd, data, position, this.path);
  }
}
