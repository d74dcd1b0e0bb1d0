// The save-file and qcow2 readers on hostile bytes: truncation, bit flips, garbage and unsupported features
// give typed errors (never a crash, hang or giant allocation); the qcow2 writer's layouts pass qemu-img check.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CloudletError } from '../../engine/errors';
import { planQcow2Layout, Qcow2Image } from '../../engine/image/qcow2';
import { parseSaveFile } from '../../engine/image/savefile';
import { createOverlay } from '../../engine/overlay/writer';
import { prng, qemuImg, qemuIo, rand, writeSaveFile } from '../helpers/synthetic';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'readers-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    if (!(e instanceof CloudletError)) throw new Error(`untyped error: ${(e as Error).stack}`);
    return e.code;
  }
}

describe('save file reader', () => {
  let good: Buffer;
  beforeAll(() => {
    const f = path.join(dir, 'good.save');
    const bytes = prng(4);
    writeSaveFile(
      f,
      [
        { id: 'pc.ram', pages: 64 },
        { id: 'pc.rom', pages: 8 },
      ],
      (p) => (p % 3 ? bytes(4096) : 'zero'),
      { resend: [1, 2] },
    );
    good = fs.readFileSync(f);
  });

  const parse = async (b: Buffer) => {
    const f = path.join(dir, 'x.save');
    fs.writeFileSync(f, b);
    return codeOf(parseSaveFile(f));
  };

  test('parses blocks, pages and resends', async () => {
    const f = path.join(dir, 'good.save');
    const l = await parseSaveFile(f);
    expect(l.blocks.map((b) => [b.id, b.length, b.firstPage])).toEqual([
      ['pc.ram', 64 * 4096, 0],
      ['pc.rom', 8 * 4096, 64],
    ]);
    expect(l.resent).toBe(true);
    expect(l.footers).toBe(true);
    expect(Array.from(l.pageOffsets).filter((o) => o >= 0).length).toBe(72 - 24);
  });

  test('every truncation is SAVEFILE_INVALID', async () => {
    const tailStart = good.length - 312;
    for (let cut = 0; cut < tailStart; cut += 97) expect([cut, await parse(good.subarray(0, cut))]).toEqual([cut, 'SAVEFILE_INVALID']);
  });

  test('bit flips give a typed error or a parse (page data is opaque), never a crash', async () => {
    const r = rand(8);
    for (let i = 0; i < 400; i++) {
      const b = Buffer.from(good);
      const pos = i < 200 ? Math.floor(r() * 400) : Math.floor(r() * b.length);
      b[pos] ^= 1 << Math.floor(r() * 8);
      expect(await parse(b)).toMatch(/^(OK|SAVEFILE_INVALID|SAVEFILE_UNSUPPORTED|OVERLAY_LIMIT)$/);
    }
  });

  test('unsupported and absurd inputs', async () => {
    const c = Buffer.from(good);
    c.writeUInt32LE(1, 28); // compressed image
    expect(await parse(c)).toBe('SAVEFILE_UNSUPPORTED');
    const p = Buffer.from(good);
    p.write('LibvirtQemudPart', 0, 'latin1'); // interrupted save
    expect(await parse(p)).toBe('SAVEFILE_INVALID');
    const x = Buffer.from(good);
    x.writeUInt32LE(0x7fffffff, 20); // 2 GiB of XML
    expect(await parse(x)).toBe('SAVEFILE_INVALID');
    // a RAM size of 2^50 bytes in the block list
    const dataLen = good.readUInt32LE(20);
    const memSize = 92 + dataLen + 8 + 18 + 17;
    const y = Buffer.from(good);
    y.writeUInt32BE(0x40000, memSize);
    expect(await parse(y)).toBe('OVERLAY_LIMIT');
    expect(await parse(prng(1)(100000))).toBe('SAVEFILE_INVALID');
  });
});

describe('qcow2 reader and writer', () => {
  test('finds exactly the written clusters, zero clusters included', async () => {
    const f = path.join(dir, 'a.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', f, '2G');
    qemuIo(f, ['write -P 1 0 4k', 'write -P 2 1G 64k', 'write -z 1536M 128k', 'write -P 3 2047M 1M']);
    const img = await Qcow2Image.open(f);
    const c = await img.clusters();
    await img.close();
    expect(c.guest).toEqual([0, 16384, 24576, 24577, ...Array.from({ length: 16 }, (_, i) => 32752 + i)]);
    expect(c.host[2]).toBe(-1);
    expect(c.host[0]).toBeGreaterThan(0);
  });

  test('hostile qcow2 headers give typed errors', async () => {
    const f = path.join(dir, 'b.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', f, '1G');
    qemuIo(f, ['write -P 1 0 64k']);
    const good = fs.readFileSync(f);
    const open = async (b: Buffer) => {
      const g = path.join(dir, 'h.qcow2');
      fs.writeFileSync(g, b);
      return codeOf(
        Qcow2Image.open(g).then(async (i) => {
          try {
            await i.clusters();
          } finally {
            await i.close();
          }
        }),
      );
    };
    const mut = (fn: (b: Buffer) => void) => {
      const b = Buffer.from(good);
      fn(b);
      return b;
    };
    expect(await open(good)).toBe('OK');
    expect(await open(good.subarray(0, 50))).toBe('QCOW2_INVALID');
    expect(await open(mut((b) => b.writeUInt32BE(0xdeadbeef, 0)))).toBe('QCOW2_INVALID');
    expect(await open(mut((b) => b.writeUInt32BE(40, 20)))).toBe('QCOW2_INVALID'); // cluster_bits
    expect(await open(mut((b) => b.writeUInt32BE(0xffffff, 24)))).toBe('QCOW2_INVALID'); // 2^56-byte disk
    expect(await open(mut((b) => b.writeUInt32BE(0x100000, 24)))).toBe('QCOW2_UNSUPPORTED'); // 4 PiB disk
    expect(await open(mut((b) => b.writeUInt32BE(0x7ffffff0, 44)))).toBe('QCOW2_INVALID'); // L1 beyond file
    expect(await open(mut((b) => b.writeUInt32BE(1 << 4, 76)))).toBe('QCOW2_UNSUPPORTED'); // extended L2
    expect(await open(mut((b) => b.writeUInt32BE(1, 32)))).toBe('QCOW2_UNSUPPORTED'); // encrypted
    const r = rand(3);
    for (let i = 0; i < 200; i++) {
      const b = Buffer.from(good);
      b[Math.floor(r() * 4096)] ^= 1 << Math.floor(r() * 8);
      expect(await open(b)).toMatch(/^(OK|QCOW2_INVALID|QCOW2_UNSUPPORTED)$/);
    }
  });

  test('compressed clusters are refused with advice', async () => {
    const raw = path.join(dir, 'c.raw');
    fs.writeFileSync(raw, Buffer.alloc(1 << 20, 7));
    const f = path.join(dir, 'c.qcow2');
    qemuImg('convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', raw, f);
    const img = await Qcow2Image.open(f);
    await expect(img.clusters()).rejects.toMatchObject({ code: 'QCOW2_UNSUPPORTED', message: expect.stringMatching(/compressed/) });
    await img.close();
  });

  test.each([
    [12, 1 << 30],
    [16, 5 * 2 ** 30],
    [21, 3 * 2 ** 30],
  ])('planned layouts (cluster bits %i, %i bytes) pass qemu-img check and read back', async (bits, size) => {
    const cs = 2 ** bits;
    const total = size / cs;
    const r = rand(bits);
    const data = new Set<number>();
    const zero = new Set<number>();
    for (let i = 0; i < 300; i++) data.add(Math.floor(r() * total));
    for (let i = 0; i < 50; i++) {
      const z = Math.floor(r() * total);
      if (!data.has(z)) zero.add(z);
    }
    const dataClusters = [...data].sort((a, b) => a - b);
    const zeroClusters = [...zero].sort((a, b) => a - b);
    const base = path.join(dir, `base-${bits}.raw`);
    fs.writeFileSync(base, Buffer.alloc(0));
    fs.truncateSync(base, size);
    const layout = planQcow2Layout({ virtualSize: size, clusterBits: bits, backingFile: `base-${bits}.raw`, backingFormat: 'raw', dataClusters, zeroClusters });
    const f = path.join(dir, `p-${bits}.qcow2`);
    const fd = fs.openSync(f, 'w');
    fs.ftruncateSync(fd, layout.fileSize);
    for (const m of layout.metadata) fs.writeSync(fd, m.bytes, 0, m.bytes.length, m.offset);
    dataClusters.forEach((g, k) => fs.writeSync(fd, Buffer.alloc(8, g % 251), 0, 8, layout.dataStart + k * cs));
    fs.closeSync(fd);
    expect(qemuImg('check', f)).toMatch(/No errors were found/);
    const img = await Qcow2Image.open(f);
    const c = await img.clusters();
    await img.close();
    expect(c.guest).toEqual([...dataClusters, ...zeroClusters].sort((a, b) => a - b));
    expect(img.backingFile).toBe(`base-${bits}.raw`);
    expect(img.backingFormat).toBe('raw');
  });
});

describe('overlay create refuses mismatched inputs', () => {
  test('customized disk not layered on the base, base in qcow2, raw customized disk', async () => {
    const base = path.join(dir, 'cb.raw');
    fs.writeFileSync(base, Buffer.alloc(1 << 20));
    const other = path.join(dir, 'other.raw');
    fs.writeFileSync(other, Buffer.alloc(1 << 20));
    const mem = path.join(dir, 'cm.save');
    writeSaveFile(mem, [{ id: 'pc.ram', pages: 16 }], () => 'zero');
    const top = path.join(dir, 'top.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', 'other.raw', top);
    const out = path.join(dir, 'never.ovl');
    const run = (baseDisk: string, customDisk: string) => codeOf(createOverlay({ baseDisk, baseMemory: mem, customDisk, customMemory: mem, output: out, threads: 0 }));
    expect(await run(base, top)).toBe('IMAGE_MISMATCH');
    expect(await run(top, top)).toBe('IMAGE_MISMATCH');
    expect(await run(base, base)).toBe('QCOW2_INVALID');
    expect(await run(path.join(dir, 'missing.raw'), top)).toBe('IO');
    expect(fs.readdirSync(dir).filter((x) => x.startsWith('never.ovl'))).toEqual([]);
  });
});
