// A synthetic base VM and a customized VM derived from it with every kind of change the codec distinguishes.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PageContent, SynthBlock, prng, qemuImg, qemuIo, rand, writeSaveFile } from './synthetic';

export interface SynthVm {
  dir: string;
  baseDisk: string;
  baseMemory: string;
  customDisk: string;
  customMemory: string;
}

const BLOCKS: SynthBlock[] = [
  { id: 'pc.ram', pages: 2048 },
  { id: 'pc.bios', pages: 64 },
  { id: 'pc.rom', pages: 32 },
];

/** A base (8 MiB raw disk, 8.4 MiB RAM) and a customized VM derived from it with every kind of change. */
export function makeVm(seed: number): SynthVm {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ovl-codec-'));
  const bytes = prng(seed);
  const r = rand(seed);
  const baseDisk = path.join(dir, 'base.raw');
  const disk = Buffer.concat([bytes(4 << 20), Buffer.alloc(4 << 20)]); // half data, half zeros
  fs.writeFileSync(baseDisk, disk);
  const basePages = new Map<number, Buffer>();
  for (let p = 0; p < 2144; p++) if (r() < 0.6) basePages.set(p, bytes(4096));
  const baseContent = (p: number): PageContent => basePages.get(p) ?? 'zero';
  const baseMemory = path.join(dir, 'base.save');
  writeSaveFile(baseMemory, BLOCKS, baseContent);

  const customDisk = path.join(dir, 'custom.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', 'base.raw', customDisk);
  const lit = path.join(dir, 'literal.bin');
  fs.writeFileSync(lit, bytes(256 << 10));
  const cmds = [
    `write -P 0x5a ${4096 * Math.floor(r() * 100)} 64k`, // repeated pattern: Earlier refs
    `write -z ${5 << 20} 128k`, // zero over zero: unchanged
    `write -z ${1 << 20} 64k`, // zero over data: Zero entries / zero cluster
    `write -P 0x00 ${2 << 20} 4k`, // zero written as data
    `write -P 0x11 ${7 << 20} 4k`, // one chunk in a cluster otherwise from the base
  ];
  qemuIo(customDisk, cmds);
  // Copy base disk data to another place (BaseDisk refs), and put a base memory page on disk (BaseMemory).
  const moved = Buffer.from(disk.subarray(64 << 10, 192 << 10));
  const movedFile = path.join(dir, 'moved.bin');
  fs.writeFileSync(movedFile, moved);
  const someMemPage = [...basePages.values()][5];
  fs.writeFileSync(path.join(dir, 'mempage.bin'), Buffer.concat([someMemPage, bytes(4096 * 3)]));
  qemuIo(customDisk, [`write -s ${movedFile} ${6 << 20} 128k`, `write -s ${path.join(dir, 'mempage.bin')} ${3 << 20} 16k`, `write -s ${lit} ${(4 << 20) + (128 << 10)} 256k`]);
  fs.rmSync(lit);
  fs.rmSync(movedFile);
  fs.rmSync(path.join(dir, 'mempage.bin'));

  const customPages = new Map(basePages);
  for (let p = 0; p < 2144; p++) {
    const x = r();
    if (x < 0.05)
      customPages.delete(p); // zeroed
    else if (x < 0.15)
      customPages.set(p, bytes(4096)); // new data
    else if (x < 0.18)
      customPages.set(p, disk.subarray(4096 * (p % 1024), 4096 * (p % 1024) + 4096)); // a disk chunk in RAM
    else if (x < 0.2) customPages.set(p, Buffer.alloc(4096, 0x33)); // repeated page
  }
  const customMemory = path.join(dir, 'custom.save');
  writeSaveFile(customMemory, BLOCKS, (p) => customPages.get(p) ?? 'zero', { xml: '<domain type="qemu"><name>custom</name></domain>', resend: [3, 10, 700] });
  return { dir, baseDisk, baseMemory, customDisk, customMemory };
}
