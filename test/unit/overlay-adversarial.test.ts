// Bad input never gets past the codec: truncated, bit-flipped, mis-based, future-versioned and hostile
// overlays (including ones re-sealed with a valid digest, so the structural checks themselves are tested)
// fail with a typed error, and leave no output behind.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zstd from 'zstd-napi';
import { CloudletError } from '../../engine/errors';
import { applyOverlay } from '../../engine/overlay/apply';
import { HEADER_BYTES, TRAILER_BYTES } from '../../engine/overlay/format';
import { createOverlay } from '../../engine/overlay/writer';
import { rand } from '../helpers/synthetic';
import { SynthVm, makeVm } from '../helpers/synthetic-vm';

let vm: SynthVm;
let good: Buffer;

beforeAll(async () => {
  vm = makeVm(3);
  const out = path.join(vm.dir, 'good.ovl');
  await createOverlay({ baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, customDisk: vm.customDisk, customMemory: vm.customMemory, output: out, threads: 0, frameChunks: 32 });
  good = fs.readFileSync(out);
});
afterAll(() => fs.rmSync(vm.dir, { recursive: true, force: true }));

/** Applies `bytes` as an overlay file and returns the error's code (or 'OK'); checks no output is left. */
async function applyBytes(bytes: Buffer, opts: { stream?: boolean } = {}): Promise<string> {
  const f = path.join(vm.dir, 'bad.ovl');
  fs.writeFileSync(f, bytes);
  const od = path.join(vm.dir, 'out.qcow2');
  const om = path.join(vm.dir, 'out.save');
  let code = 'OK';
  try {
    const overlay = opts.stream
      ? {
          read: (() => {
            let done = false;
            return async () => {
              if (done) return null;
              done = true;
              return bytes;
            };
          })(),
        }
      : f;
    await applyOverlay({ overlay, baseDisk: vm.baseDisk, baseMemory: vm.baseMemory, outputDisk: od, outputMemory: om });
  } catch (e) {
    if (!(e instanceof CloudletError)) throw new Error(`untyped error: ${(e as Error).stack}`);
    code = e.code;
    expect(e.message.length).toBeGreaterThan(10);
  }
  if (code !== 'OK') {
    expect(fs.existsSync(od)).toBe(false);
    expect(fs.existsSync(om)).toBe(false);
  }
  expect(fs.readdirSync(vm.dir).filter((x) => x.includes('.partial-'))).toEqual([]);
  fs.rmSync(od, { force: true });
  fs.rmSync(om, { force: true });
  return code;
}

/** Parts of an overlay, to mutate and put back together with a correct digest. */
function split(b: Buffer) {
  const metaLen = b.readUInt32LE(24);
  const idxLen = b.readUInt32LE(28);
  const header = Buffer.from(b.subarray(0, HEADER_BYTES));
  const meta = JSON.parse(b.toString('utf8', HEADER_BYTES, HEADER_BYTES + metaLen));
  const index = zstd.decompress(b.subarray(HEADER_BYTES + metaLen, HEADER_BYTES + metaLen + idxLen));
  const frames = b.subarray(HEADER_BYTES + metaLen + idxLen, b.length - TRAILER_BYTES);
  return { header, meta, index, frames };
}

function seal(p: { header: Buffer; meta: unknown; index: Buffer; frames: Buffer }, patchHeader?: (h: Buffer) => void): Buffer {
  const meta = Buffer.from(JSON.stringify(p.meta));
  const idx = zstd.compress(p.index);
  const h = Buffer.from(p.header);
  const len = HEADER_BYTES + meta.length + idx.length + p.frames.length + TRAILER_BYTES;
  h.writeUInt32LE(len >>> 0, 16);
  h.writeUInt32LE(0, 20);
  h.writeUInt32LE(meta.length, 24);
  h.writeUInt32LE(idx.length, 28);
  h.writeUInt32LE(p.index.length, 32);
  h.writeUInt32LE(0, 36);
  patchHeader?.(h);
  const t = Buffer.alloc(TRAILER_BYTES);
  t.write('CLOVEND\n', 0, 'latin1');
  t.writeUInt32LE(len >>> 0, 8);
  const body = Buffer.concat([h, meta, idx, p.frames]);
  createHash('sha256').update(body).update(t.subarray(0, 16)).digest().copy(t, 16);
  return Buffer.concat([body, t]);
}

const entriesStart = (m: { memory: { blobs: Record<string, number> } }) => Object.values(m.memory.blobs).reduce((a, b) => a + b, 0);

describe('overlay rejects bad input with typed errors and no output', () => {
  test('the unmodified overlay applies (control)', async () => {
    expect(await applyBytes(good)).toBe('OK');
    expect(await applyBytes(good, { stream: true })).toBe('OK');
  });

  test('truncated anywhere: OVERLAY_TRUNCATED (file and stream)', async () => {
    const metaLen = good.readUInt32LE(24);
    const cuts = [
      0,
      1,
      7,
      79,
      80,
      81,
      HEADER_BYTES + metaLen - 1,
      HEADER_BYTES + metaLen + 5,
      Math.floor(good.length / 2),
      good.length - TRAILER_BYTES - 1,
      good.length - TRAILER_BYTES,
      good.length - 1,
    ];
    for (const cut of cuts) {
      expect([cut, await applyBytes(good.subarray(0, cut))]).toEqual([cut, 'OVERLAY_TRUNCATED']);
      expect([cut, await applyBytes(good.subarray(0, cut), { stream: true })]).toEqual([cut, 'OVERLAY_TRUNCATED']);
    }
  });

  test('any flipped bit is caught (200 random positions across every part)', async () => {
    const r = rand(99);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const pos = i < 40 ? Math.floor(r() * 200) : Math.floor(r() * good.length);
      const b = Buffer.from(good);
      b[pos] ^= 1 << Math.floor(r() * 8);
      const code = await applyBytes(b, { stream: i % 2 === 0 });
      expect([pos, code]).not.toEqual([pos, 'OK']);
      expect(code).toMatch(/^OVERLAY_/);
      seen.add(code);
    }
    expect(seen.has('OVERLAY_CORRUPT')).toBe(true);
  });

  test('trailing garbage after the trailer is refused', async () => {
    expect(await applyBytes(Buffer.concat([good, Buffer.from('x')]), { stream: true })).toBe('OVERLAY_CORRUPT');
  });

  test('wrong base: OVERLAY_WRONG_BASE naming both identities', async () => {
    const other = path.join(vm.dir, 'other.raw');
    const b = fs.readFileSync(vm.baseDisk);
    b[12345] ^= 0xff;
    fs.writeFileSync(other, b);
    const f = path.join(vm.dir, 'good2.ovl');
    fs.writeFileSync(f, good);
    await expect(applyOverlay({ overlay: f, baseDisk: other, baseMemory: vm.baseMemory, outputDisk: path.join(vm.dir, 'w.qcow2'), outputMemory: path.join(vm.dir, 'w.save') })).rejects.toMatchObject({
      code: 'OVERLAY_WRONG_BASE',
      message: expect.stringMatching(/made against base disk [0-9a-f]{16}.*but the base given is disk [0-9a-f]{16}/),
    });
    expect(fs.existsSync(path.join(vm.dir, 'w.qcow2'))).toBe(false);
  });

  test('not an overlay / future version', async () => {
    expect(await applyBytes(Buffer.from('hello world, this is not an overlay file at all, but it is long enough to have a header............'))).toBe('OVERLAY_BAD_MAGIC');
    const v2 = seal(split(good), (h) => h.writeUInt16LE(2, 8));
    expect(await applyBytes(v2)).toBe('OVERLAY_VERSION');
  });

  test('absurd declared sizes are refused before allocation', async () => {
    expect(await applyBytes(seal(split(good), (h) => h.writeUInt32LE(0x7fffffff, 24)))).toBe('OVERLAY_LIMIT'); // metadata 2 GiB
    expect(
      await applyBytes(
        seal(split(good), (h) => {
          h.writeUInt32LE(0, 32);
          h.writeUInt32LE(0x100, 36);
        }),
      ),
    ).toBe('OVERLAY_LIMIT'); // index 1 TiB
    expect(await applyBytes(seal(split(good), (h) => h.writeUInt32LE(0xffffff00, 20)))).toMatch(/OVERLAY_(LIMIT|CORRUPT)/); // file length 2^56
    const p = split(good);
    p.meta.disk.virtualSize = 2 ** 62;
    expect(await applyBytes(seal(p))).toBe('OVERLAY_CORRUPT');
    const q = split(good);
    q.meta.memory.blocks[0].length = 2 ** 40;
    expect(await applyBytes(seal(q))).toBe('OVERLAY_CORRUPT');
  });

  test('hostile tables with a valid digest are refused', async () => {
    type Parts = ReturnType<typeof split>;
    const at = (p: Parts, i: number) => entriesStart(p.meta) + i * 16;
    /** Applies a copy of the good overlay changed by `mutate` and re-sealed with a valid digest. */
    const tampered = (mutate: (p: Parts) => void) => {
      const p = split(good);
      mutate(p);
      return applyBytes(seal(p));
    };
    // a target beyond the disk
    expect(await tampered((p) => p.index.writeUInt32LE(0x00ffffff, at(p, 0) + 8))).toBe('OVERLAY_CORRUPT');
    // entries out of order
    expect(await tampered((p) => p.index.copy(p.index, at(p, 1) + 8, at(p, 0) + 8, at(p, 0) + 16))).toBe('OVERLAY_CORRUPT');
    // an Earlier reference forward, and an unknown kind
    expect(
      await tampered((p) => {
        p.index[at(p, 0)] = 5;
        p.index.writeUInt32LE(1000000, at(p, 0) + 4);
      }),
    ).toBe('OVERLAY_CORRUPT');
    expect(
      await tampered((p) => {
        p.index[at(p, 0)] = 9;
      }),
    ).toBe('OVERLAY_CORRUPT');
    // a base reference beyond the base disk
    expect(
      await tampered((p) => {
        p.index[at(p, 0)] = 3;
        p.index.writeUInt32LE(0xfffffff0, at(p, 0) + 4);
      }),
    ).toBe('OVERLAY_CORRUPT');
    // a frame claiming a million chunks
    const framesAt = (p: Parts) => p.index.length - p.meta.frames.count * 8;
    expect(await tampered((p) => p.index.writeUInt32LE(1 << 20, framesAt(p) + 4))).toBe('OVERLAY_LIMIT');
    // entry count in metadata disagreeing with the index
    expect(
      await tampered((p) => {
        p.meta.disk.entries += 1;
      }),
    ).toBe('OVERLAY_CORRUPT');
    // a frame whose bytes are replaced by another valid zstd frame of a different size
    const p = split(good);
    const firstLen = p.index.readUInt32LE(framesAt(p));
    const fake = zstd.compress(Buffer.alloc(4096 * 3));
    const fakePadded = Buffer.concat([fake, Buffer.alloc(Math.max(0, firstLen - fake.length))]).subarray(0, firstLen);
    p.frames = Buffer.concat([fakePadded, p.frames.subarray(firstLen)]);
    expect(await applyBytes(seal(p))).toBe('OVERLAY_CORRUPT');
  });
});
