// Synthetic inputs for codec tests: libvirt-style save files written from a page map (with the quirks real
// QEMU streams have: block names only on block changes, CONTINUE across sections, pages resent, a device-state
// tail) and raw/qcow2 disks made with the real qemu-img and qemu-io.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { parseSaveFile } from '../../engine/image/savefile';

export interface SynthBlock {
  id: string;
  pages: number;
}

export type PageContent = Buffer | 'zero';

function be64(hi: number, lo: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(hi, 0);
  b.writeUInt32BE(lo >>> 0, 4);
  return b;
}

/**
 * Writes a save file whose RAM is `content(page)` for every page of `blocks` (flat numbering). Pages go out
 * in two PART sections plus END, and `resend` pages are sent twice (first with junk) to exercise last-wins.
 */
export function writeSaveFile(file: string, blocks: SynthBlock[], content: (page: number) => PageContent, opts: { xml?: string; resend?: number[]; tail?: Buffer } = {}): void {
  const xml = Buffer.from((opts.xml ?? '<domain type="qemu"><name>synthetic</name></domain>') + '\0');
  const dataLen = xml.length + 100; // XML, then padding as libvirt leaves room to grow
  const hdr = Buffer.alloc(92);
  hdr.write('LibvirtQemudSave', 0, 'latin1');
  hdr.writeUInt32LE(2, 16);
  hdr.writeUInt32LE(dataLen, 20);
  hdr.writeUInt32LE(1, 24);
  const xmlRegion = Buffer.alloc(dataLen);
  xml.copy(xmlRegion);
  const parts: Buffer[] = [hdr, xmlRegion, Buffer.from('QEVM\0\0\0\x03', 'latin1')];
  const cfg = 'pc-i440fx-7.2';
  const c = Buffer.alloc(5 + cfg.length);
  c[0] = 7;
  c.writeUInt32BE(cfg.length, 1);
  c.write(cfg, 5, 'latin1');
  parts.push(c);
  const sid = 3;
  const start = Buffer.alloc(1 + 4 + 1 + 3 + 8);
  start[0] = 1;
  start.writeUInt32BE(sid, 1);
  start[5] = 3;
  start.write('ram', 6, 'latin1');
  start.writeUInt32BE(0, 9);
  start.writeUInt32BE(4, 13);
  parts.push(start);
  const total = blocks.reduce((s, b) => s + b.pages * 4096, 0);
  parts.push(be64(Math.floor(total / 2 ** 32), (total % 2 ** 32) | 0x04));
  for (const b of blocks) {
    parts.push(Buffer.from([b.id.length]), Buffer.from(b.id, 'latin1'), be64(Math.floor((b.pages * 4096) / 2 ** 32), (b.pages * 4096) % 2 ** 32));
  }
  const eos = be64(0, 0x10);
  const footer = Buffer.from([0x7e, 0, 0, 0, sid]);
  parts.push(eos, footer);
  const all: { block: number; page: number; flat: number }[] = [];
  let flat = 0;
  blocks.forEach((b, bi) => {
    for (let p = 0; p < b.pages; p++) all.push({ block: bi, page: p, flat: flat++ });
  });
  const resend = new Set(opts.resend ?? []);
  let lastBlock = -1;
  const rec = (x: { block: number; page: number; flat: number }, data: PageContent) => {
    const addr = x.page * 4096;
    const cont = x.block === lastBlock ? 0x20 : 0;
    const kind = data === 'zero' ? 0x02 : 0x08;
    parts.push(be64(Math.floor(addr / 2 ** 32), (addr % 2 ** 32) | kind | cont));
    if (!cont) parts.push(Buffer.from([blocks[x.block].id.length]), Buffer.from(blocks[x.block].id, 'latin1'));
    lastBlock = x.block;
    parts.push(data === 'zero' ? Buffer.from([0]) : data);
  };
  const half = Math.floor(all.length / 2);
  const sections: [number, typeof all][] = [
    [2, all.slice(0, half)],
    [2, all.slice(half, all.length - 3)],
    [3, all.slice(all.length - 3)],
  ];
  // First copies of resent pages carry junk; the real content comes later.
  for (const [type, list] of sections) {
    parts.push(Buffer.from([type, 0, 0, 0, sid]));
    for (const x of list) {
      if (resend.has(x.flat) && type === 2 && list === sections[0][1]) rec(x, Buffer.alloc(4096, 0xee));
      else rec(x, content(x.flat));
    }
    if (type === 2 && list === sections[1][1]) for (const f of resend) if (f < half) rec(all[f], content(f));
    parts.push(eos, footer);
  }
  parts.push(opts.tail ?? Buffer.concat([Buffer.from([4, 0, 0, 0, 9, 6]), Buffer.from('timer\0\0\0\0\0\0\0\x02'), Buffer.alloc(300, 7), Buffer.from([0x7e, 0, 0, 0, 9, 0])]));
  fs.writeFileSync(file, Buffer.concat(parts));
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function prng(seed: number): (n: number) => Buffer {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      b.writeUInt32LE(s >>> 0, i);
    }
    return b;
  };
}

export function rand(seed: number): () => number {
  let s = seed >>> 0 || 7;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8' });
}

/** Runs qemu-io commands against a qcow2 image (real writes through QEMU's block layer). */
export function qemuIo(image: string, cmds: string[]): void {
  const args = ['-f', 'qcow2'];
  for (const c of cmds) args.push('-c', c);
  args.push(image);
  execFileSync('qemu-io', args, { stdio: 'pipe' });
}

/** Reads every page of a save file as a map page -> content (zero pages omitted). */
export async function pagesOf(file: string): Promise<Map<number, Buffer>> {
  const pages = new Map<number, Buffer>();
  const layout = await parseSaveFile(file);
  const fd = fs.openSync(file, 'r');
  try {
    for (let p = 0; p < layout.totalPages; p++) {
      const off = layout.pageOffsets[p];
      if (off < 0) continue;
      const b = Buffer.alloc(4096);
      fs.readSync(fd, b, 0, 4096, off);
      if (!b.equals(Buffer.alloc(4096))) pages.set(p, b);
    }
  } finally {
    fs.closeSync(fd);
  }
  return pages;
}

/** Asserts that save file `got` holds exactly the pages of save file `want` (jest's expect). */
export async function expectSamePages(want: string, got: string): Promise<void> {
  const w = await pagesOf(want);
  const g = await pagesOf(got);
  expect(g.size).toBe(w.size);
  for (const [p, b] of w) expect(g.get(p)?.equals(b)).toBe(true);
}
