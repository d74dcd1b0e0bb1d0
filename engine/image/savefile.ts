// libvirt QEMU save files. Layout (observed from libvirt 9 / QEMU 7.2 and their sources' documented fields):
//   libvirt header: 16-byte magic "LibvirtQemudSave", then little-endian u32 version, data_len, was_running,
//   compressed, cookie_offset, 14 unused u32 (92 bytes), then data_len bytes of domain XML, cookie, padding;
//   then the QEMU migration stream: "QEVM", be32 version 3, sections. The "ram" iterative section carries a
//   RAM block list (MEM_SIZE) and then pages as be64 (address | flags) records; the device state after the
//   RAM section's END is kept as an opaque tail. We parse the RAM, and write back a canonical stream:
//   the same header, prologue and block list, every page once in RAM order, then the tail verbatim.

import { CloudletError } from '../errors';
import { ByteSource, RandomAccessFile, SequentialReader, fileSource } from '../io/io';
/** QEMU's target page size: RAM travels in pages of this many bytes. */
const CHUNK_SIZE = 4096;

const LIBVIRT_MAGIC = 'LibvirtQemudSave';
const LIBVIRT_PARTIAL_MAGIC = 'LibvirtQemudPart';
const LIBVIRT_HEADER_BYTES = 92;
const QEVM = 0x5145564d;
const SEC_EOF = 0x00;
const SEC_START = 0x01;
const SEC_PART = 0x02;
const SEC_END = 0x03;
const SEC_FULL = 0x04;
const SEC_CONFIGURATION = 0x07;
const SEC_FOOTER = 0x7e;
const F_ZERO = 0x02;
const F_MEM_SIZE = 0x04;
const F_PAGE = 0x08;
const F_EOS = 0x10;
const F_CONTINUE = 0x20;
const F_KNOWN = F_ZERO | F_MEM_SIZE | F_PAGE | F_EOS | F_CONTINUE;

/**
 * The RAM block of the guest's main memory (QEMU names it so on the pc and q35 machines, and libvirt keeps the
 * name when it gives the memory a backend). It is the one block a memory backend file can stand behind.
 */
export const MAIN_RAM_BLOCK = 'pc.ram';

export const SAVE_LIMITS = {
  /** libvirt XML + cookie region. */
  maxHeaderData: 16 << 20,
  /** Guest RAM we accept: 64 GiB (the page map costs 8 bytes per 4 KiB page). */
  maxRamBytes: 64 * 2 ** 30,
  maxRamBlocks: 4096,
  /** Device state after the RAM: a few hundred KiB in practice. */
  maxTail: 64 << 20,
  maxPrologue: 1 << 20,
};

export interface RamBlock {
  id: string;
  length: number;
  /** Index of the block's first page in the flat page space (blocks concatenated in list order). */
  firstPage: number;
}

/** Everything of a save file except the page contents, plus where each page's contents live. */
export interface SaveFileLayout {
  /** libvirt header + XML + cookie + padding, verbatim. */
  headerRegion: Buffer;
  /** QEMU stream bytes before the RAM START section. */
  prologue: Buffer;
  /** RAM START section header and MEM_SIZE block list, without the trailing EOS. */
  ramStart: Buffer;
  sectionId: number;
  /** Whether the stream uses section footers (all machine types since QEMU 2.4). */
  footers: boolean;
  blocks: RamBlock[];
  totalPages: number;
  /** Device state after the RAM section, to end of file, verbatim. */
  tail: Buffer;
  /** File offset of each page's 4 KiB of data; -1 where the page is zero or never sent. */
  pageOffsets: Float64Array;
  /** Whether some page was sent more than once (only the last copy counts). */
  resent: boolean;
}

export type PageVisitor = (page: number, data: Buffer, fileOffset: number) => void;

/** What a streaming consumer (the handoff sender) needs besides data pages. */
export interface StreamHooks {
  /** A page sent as a zero page (it may have held data earlier in the stream). */
  onZeroPage?: (page: number) => void;
  /** The stream's RAM layout, once the RAM section's setup (block list and footer) has gone by. */
  onLayout?: (l: Pick<SaveFileLayout, 'prologue' | 'ramStart' | 'sectionId' | 'footers' | 'blocks' | 'totalPages'>) => void;
}

/** Parses a save file, streaming; `onPage` sees each data page as it goes by (zero pages are not reported). */
export async function parseSaveFile(path: string, onPage?: PageVisitor): Promise<SaveFileLayout> {
  const file = await RandomAccessFile.open(path, 'cannot open save file');
  try {
    return await parseSaveStream(fileSource(file, 0, file.size, 8 << 20), path, onPage);
  } finally {
    await file.close();
  }
}

export async function parseSaveStream(source: ByteSource, name: string, onPage?: PageVisitor, hooks: StreamHooks = {}): Promise<SaveFileLayout> {
  const r = new SequentialReader(source, name, 'SAVEFILE_INVALID');
  const bad = (msg: string) => new CloudletError('SAVEFILE_INVALID', `${name}: ${msg}`);
  const unsupported = (msg: string) => new CloudletError('SAVEFILE_UNSUPPORTED', `${name}: ${msg}`);

  await r.ensure(LIBVIRT_HEADER_BYTES, 'the libvirt save header');
  const hdr = r.buf.subarray(r.at, r.at + LIBVIRT_HEADER_BYTES);
  const magic = hdr.toString('latin1', 0, 16);
  if (magic === LIBVIRT_PARTIAL_MAGIC) throw bad('the save was interrupted before it completed (partial-save magic)');
  if (magic !== LIBVIRT_MAGIC) throw bad('not a libvirt QEMU save file (bad magic)');
  const version = hdr.readUInt32LE(16);
  if (version !== 2) throw unsupported(`libvirt save format version ${version} (only 2 is supported)`);
  const dataLen = hdr.readUInt32LE(20);
  const compressed = hdr.readUInt32LE(28);
  if (compressed !== 0) throw unsupported('the save image is compressed; set save_image_format = "raw" in qemu.conf');
  if (dataLen > SAVE_LIMITS.maxHeaderData) throw bad(`XML region of ${dataLen} bytes is beyond the ${SAVE_LIMITS.maxHeaderData}-byte limit`);
  const headerRegion = await r.copyOut(LIBVIRT_HEADER_BYTES + dataLen, 'the domain XML');

  await r.ensure(8, 'the QEMU stream header');
  if (r.be32() !== QEVM) throw bad('QEMU migration stream magic "QEVM" not found after the XML');
  const streamVersion = r.be32();
  if (streamVersion !== 3) throw unsupported(`QEMU stream version ${streamVersion} (only 3 is supported)`);
  const prologueParts: Buffer[] = [Buffer.from('QEVM\0\0\0\x03', 'latin1')];

  let ramId = -1;
  let ramEnded = false;
  let footers = false;
  let ramStart: Buffer | null = null;
  const blocks: RamBlock[] = [];
  const blockById = new Map<string, RamBlock>();
  let totalPages = 0;
  let pageOffsets = new Float64Array(0);
  let resent = false;

  const readIdstr = async (what: string): Promise<string> => {
    await r.ensure(1, what);
    const len = r.u8();
    await r.ensure(len, what);
    return r.take(len).toString('latin1');
  };

  // Reads RAM records until EOS. Pages may appear in START, PART and END sections alike.
  // QEMU's loader remembers the current block across sections, so CONTINUE may follow a section break.
  let block: RamBlock | null = null;
  const readRam = async (inStart: boolean, startHeader: Buffer | null): Promise<void> => {
    for (;;) {
      await r.ensure(8, 'a RAM record');
      const recAt = r.position;
      const [hi, lo] = r.be64parts();
      const flags = lo & 0xfff;
      const addr = hi * 0x100000000 + ((lo & 0xfffff000) >>> 0);
      if (flags & ~F_KNOWN) throw unsupported(`RAM record flags 0x${flags.toString(16)} at byte ${recAt} (XBZRLE, compression or RDMA streams are not supported)`);
      if (flags & F_MEM_SIZE) {
        if (!inStart || ramStart !== null || blocks.length > 0) throw bad(`unexpected RAM block list at byte ${recAt}`);
        if (addr > SAVE_LIMITS.maxRamBytes) throw new CloudletError('OVERLAY_LIMIT', `${name}: ${addr} bytes of RAM is beyond the ${SAVE_LIMITS.maxRamBytes}-byte limit`);
        const listStart = r.at - 8;
        let sum = 0;
        const parts: Buffer[] = [startHeader!, Buffer.from(r.buf.subarray(listStart, r.at))];
        while (sum < addr) {
          if (blocks.length >= SAVE_LIMITS.maxRamBlocks) throw bad('too many RAM blocks');
          await r.ensure(1, 'the RAM block list');
          const len = r.buf[r.at];
          await r.ensure(1 + len + 8, 'the RAM block list');
          const rec = Buffer.from(r.buf.subarray(r.at, r.at + 1 + len + 8));
          r.at += 1;
          const id = r.take(len).toString('latin1');
          const [bhi, blo] = r.be64parts();
          const length = bhi * 0x100000000 + blo;
          if (length % CHUNK_SIZE !== 0 || length === 0 || sum + length > addr) throw bad(`RAM block ${JSON.stringify(id)} has an invalid length ${length}`);
          if (blockById.has(id)) throw bad(`RAM block ${JSON.stringify(id)} listed twice`);
          const b: RamBlock = { id, length, firstPage: sum / CHUNK_SIZE };
          blocks.push(b);
          blockById.set(id, b);
          sum += length;
          parts.push(rec);
        }
        ramStart = Buffer.concat(parts);
        totalPages = sum / CHUNK_SIZE;
        pageOffsets = new Float64Array(totalPages).fill(-1);
        continue;
      }
      if (flags & F_EOS) {
        if (flags !== F_EOS) throw bad(`EOS record with extra flags 0x${flags.toString(16)} at byte ${recAt}`);
        return;
      }
      if (!(flags & (F_PAGE | F_ZERO)) || (flags & F_PAGE && flags & F_ZERO)) throw bad(`RAM record without a page kind (flags 0x${flags.toString(16)}) at byte ${recAt}`);
      if (!(flags & F_CONTINUE)) {
        const id = await readIdstr('a RAM block name');
        block = blockById.get(id) ?? null;
        if (!block) throw bad(`page for unknown RAM block ${JSON.stringify(id)} at byte ${recAt}`);
      } else if (!block) {
        throw bad(`continued page with no current RAM block at byte ${recAt}`);
      }
      if (addr + CHUNK_SIZE > block.length) throw bad(`page at ${addr} lies outside RAM block ${block.id} (${block.length} bytes)`);
      const page = block.firstPage + addr / CHUNK_SIZE;
      if (pageOffsets[page] !== -1) resent = true;
      if (flags & F_ZERO) {
        await r.ensure(1, 'a zero page');
        const fill = r.u8();
        if (fill !== 0) throw unsupported(`page filled with byte ${fill} at byte ${recAt}`);
        pageOffsets[page] = -1;
        hooks.onZeroPage?.(page);
      } else {
        await r.ensure(CHUNK_SIZE, 'a RAM page');
        const at = r.position;
        const data = r.take(CHUNK_SIZE);
        pageOffsets[page] = at;
        onPage?.(page, data, at);
      }
    }
  };

  const readFooter = async (id: number): Promise<void> => {
    if (!(await r.fill(1))) return;
    if (r.buf[r.at] !== SEC_FOOTER) return;
    await r.ensure(5, 'a section footer');
    r.at += 1;
    const fid = r.be32();
    if (fid !== id) throw bad(`section footer for section ${fid} closes section ${id}`);
    footers = true;
  };

  for (;;) {
    await r.ensure(1, 'a section');
    const secAt = r.position;
    const type = r.buf[r.at];
    if (type === SEC_CONFIGURATION && ramId < 0) {
      r.at += 1;
      await r.ensure(4, 'the configuration section');
      const len = r.be32();
      if (len > 256) throw bad('machine type name too long');
      await r.ensure(len, 'the configuration section');
      const cfg = Buffer.alloc(5 + len);
      cfg[0] = SEC_CONFIGURATION;
      cfg.writeUInt32BE(len, 1);
      r.take(len).copy(cfg, 5);
      prologueParts.push(cfg);
      continue;
    }
    if (type === SEC_START) {
      r.at += 1;
      await r.ensure(4, 'a section header');
      const id = r.be32();
      const idstr = await readIdstr('a section name');
      await r.ensure(8, 'a section header');
      r.at += 8; // instance id, version id
      if (idstr !== 'ram') throw unsupported(`iterative section "${idstr}" before the device state (only "ram" is understood)`);
      if (ramId >= 0) throw bad('two RAM sections');
      ramId = id;
      const startHeader = Buffer.alloc(1 + 4 + 1 + idstr.length + 8);
      // Rebuild rather than slice: the buffer may have been refilled while reading the name.
      startHeader[0] = SEC_START;
      startHeader.writeUInt32BE(id, 1);
      startHeader[5] = idstr.length;
      startHeader.write(idstr, 6, 'latin1');
      r.buf.copy(startHeader, 6 + idstr.length, r.at - 8, r.at);
      await readRam(true, startHeader);
      if (!ramStart) throw bad('RAM section starts without a block list');
      await readFooter(id);
      hooks.onLayout?.({ prologue: Buffer.concat(prologueParts), ramStart, sectionId: id, footers, blocks, totalPages });
      continue;
    }
    if (type === SEC_PART || type === SEC_END) {
      r.at += 1;
      await r.ensure(4, 'a section header');
      const id = r.be32();
      if (id !== ramId || ramEnded) throw unsupported(`section ${id} at byte ${secAt} is not the open RAM section`);
      await readRam(false, null);
      await readFooter(id);
      if (type === SEC_END) ramEnded = true;
      continue;
    }
    if ((type === SEC_FULL || type === SEC_EOF) && ramEnded) {
      break;
    }
    throw bad(`unexpected section type 0x${type.toString(16)} at byte ${secAt}`);
  }
  const prologue = Buffer.concat(prologueParts);
  if (prologue.length > SAVE_LIMITS.maxPrologue) throw bad('stream prologue too long');

  const tailParts: Buffer[] = [];
  let tailLen = 0;
  while (await r.fill(1)) {
    const n = r.buffered;
    tailLen += n;
    if (tailLen > SAVE_LIMITS.maxTail) throw unsupported(`device state after RAM is over ${SAVE_LIMITS.maxTail} bytes`);
    tailParts.push(Buffer.from(r.take(n)));
  }
  return { headerRegion, prologue, ramStart: ramStart!, sectionId: ramId, footers, blocks, totalPages, tail: Buffer.concat(tailParts), pageOffsets, resent };
}

/** Bytes of the canonical stream before the first page record. */
export function canonicalPrefix(l: Pick<SaveFileLayout, 'headerRegion' | 'prologue' | 'ramStart' | 'sectionId' | 'footers'>): Buffer {
  const eos = be64(F_EOS);
  const parts = [l.headerRegion, l.prologue, l.ramStart, eos];
  if (l.footers) parts.push(footer(l.sectionId));
  const part = Buffer.alloc(5);
  part[0] = SEC_PART;
  part.writeUInt32BE(l.sectionId, 1);
  parts.push(part);
  return Buffer.concat(parts);
}

/** Bytes of the canonical stream after the last page record. */
export function canonicalSuffix(l: Pick<SaveFileLayout, 'sectionId' | 'footers' | 'tail'>): Buffer {
  const eos = be64(F_EOS);
  const end = Buffer.alloc(5);
  end[0] = SEC_END;
  end.writeUInt32BE(l.sectionId, 1);
  const parts = [eos];
  if (l.footers) parts.push(footer(l.sectionId));
  parts.push(end, eos);
  if (l.footers) parts.push(footer(l.sectionId));
  parts.push(l.tail);
  return Buffer.concat(parts);
}

/**
 * Writes one page record header into `out` at `at` and returns the offset where the page's 4 KiB of data go
 * (data pages) or the end of the record (zero pages, whose single fill byte 0 is written here). The first
 * page of each block names the block; later pages of the same block carry CONTINUE.
 */
export function writePageRecordHeader(out: Buffer, at: number, block: RamBlock, pageInBlock: number, zero: boolean, nameBlock = pageInBlock === 0): number {
  const addr = pageInBlock * CHUNK_SIZE;
  const first = nameBlock;
  const flags = (zero ? F_ZERO : F_PAGE) | (first ? 0 : F_CONTINUE);
  out.writeUInt32BE(Math.floor(addr / 0x100000000), at);
  out.writeUInt32BE(((addr >>> 0) | flags) >>> 0, at + 4);
  at += 8;
  if (first) {
    out[at] = block.id.length;
    out.write(block.id, at + 1, 'latin1');
    at += 1 + block.id.length;
  }
  if (zero) out[at++] = 0;
  return at;
}

export function sameRamLayout(a: { blocks: { id: string; length: number }[] }, b: { blocks: { id: string; length: number }[] }): boolean {
  return a.blocks.length === b.blocks.length && a.blocks.every((x, i) => x.id === b.blocks[i].id && x.length === b.blocks[i].length);
}

function be64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.floor(v / 0x100000000), 0);
  b.writeUInt32BE(v >>> 0, 4);
  return b;
}

function footer(id: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = SEC_FOOTER;
  b.writeUInt32BE(id, 1);
  return b;
}
