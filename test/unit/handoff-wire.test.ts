// The handoff stream's receiving side and the qcow2 layer it writes, without VMs: a layer written cluster by
// cluster in any order is one qemu-img checks clean and reads back exactly; and hostile or broken streams
// (bad batches, targets and references out of bounds, records out of order or oversized) end in typed errors
// before anything is written out of bounds.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CloudletError } from '../../engine/errors';
import { receiveHandoff } from '../../engine/handoff/receiver';
import {
  BatchBuilder,
  CODEC_RAW,
  CODEC_ZSTD,
  HandoffEnd,
  LIMITS,
  RecordType,
  Source,
  Space,
  WIRE_VERSION,
  batchRecord,
  decodeBatch,
  decodeEnd,
  decodeError,
  decodeHello,
  decodeLayout,
  decodeTail,
  endRecord,
  errorRecord,
  helloRecord,
  jsonRecord,
  layoutRecord,
  recordHeader,
  tailRecord,
} from '../../engine/handoff/wire';
import { SAVE_LIMITS } from '../../engine/image/savefile';
import { compressOnce } from '../../engine/delta/compress';
import { Qcow2AppendWriter } from '../../engine/image/qcow2';

let dir: string;
const MiB = 1 << 20;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-wire-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a qcow2 layer written cluster by cluster, out of order and overwritten, checks clean and reads back', () => {
  const base = path.join(dir, 'base.raw');
  const baseBytes = randomBytes(8 * MiB);
  fs.writeFileSync(base, baseBytes);
  const expected = Buffer.from(baseBytes);
  const layer = path.join(dir, 'layer.qcow2');
  const w = Qcow2AppendWriter.create(layer, { virtualSize: 8 * MiB, clusterBits: 16, backingFile: 'base.raw', backingFormat: 'raw' });
  const fill = (g: number, into: Buffer) => baseBytes.copy(into, 0, g * 65536, g * 65536 + 65536);
  // 4 KiB pieces at scattered places, some in the same cluster, one written twice (the last wins).
  for (const off of [7 * MiB + 4096, 65536, 3 * MiB, 65536 + 8192, 7 * MiB + 4096, 0]) {
    const piece = randomBytes(4096);
    w.write(off, piece, fill);
    piece.copy(expected, off);
  }
  const whole = randomBytes(65536);
  w.write(5 * MiB, whole, fill);
  whole.copy(expected, 5 * MiB);
  w.finish();
  execFileSync('qemu-img', ['check', '-f', 'qcow2', layer]);
  const out = path.join(dir, 'flat.raw');
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', layer, out]);
  expect(fs.readFileSync(out).equals(expected)).toBe(true);
  const map = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', '-f', 'qcow2', layer], { encoding: 'utf8' })) as { start: number; length: number; depth: number }[];
  // Only the five clusters written live in the layer; the rest reads through to the base.
  expect(map.filter((e) => e.depth === 0).reduce((n, e) => n + e.length, 0)).toBe(5 * 65536);
});

test('a checkpoint leaves a consistent image of what is written so far; writing goes on, and finish() checks clean', () => {
  const base = path.join(dir, 'base-cp.raw');
  const baseBytes = randomBytes(4 * MiB);
  fs.writeFileSync(base, baseBytes);
  const layer = path.join(dir, 'layer-cp.qcow2');
  const w = Qcow2AppendWriter.create(layer, { virtualSize: 4 * MiB, clusterBits: 16, backingFile: 'base-cp.raw', backingFormat: 'raw' });
  const fill = (g: number, into: Buffer) => baseBytes.copy(into, 0, g * 65536, g * 65536 + 65536);
  const flat = (name: string) => {
    const out = path.join(dir, name);
    execFileSync('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', layer, out]);
    return fs.readFileSync(out);
  };
  const atCheckpoint = Buffer.from(baseBytes);
  const first = randomBytes(4096);
  w.write(MiB, first, fill);
  first.copy(atCheckpoint, MiB);
  w.checkpoint();
  execFileSync('qemu-img', ['check', '-U', '-f', 'qcow2', layer]);
  expect(flat('cp1.raw').equals(atCheckpoint)).toBe(true);
  // After it: a cluster written before it changes in place, and new clusters are appended.
  const expected = Buffer.from(atCheckpoint);
  for (const off of [MiB + 8192, 3 * MiB, 0]) {
    const piece = randomBytes(4096);
    w.write(off, piece, fill);
    piece.copy(expected, off);
  }
  expect(() => w.checkpoint()).toThrow(/one checkpoint/);
  w.finish();
  // No leaked clusters: the checkpoint's metadata counts as free.
  execFileSync('qemu-img', ['check', '-f', 'qcow2', layer]);
  expect(flat('cp2.raw').equals(expected)).toBe(true);
});

test('a write across a cluster or past the disk is refused', () => {
  const w = Qcow2AppendWriter.create(path.join(dir, 'bounds.qcow2'), { virtualSize: MiB, clusterBits: 16, backingFile: 'x.raw', backingFormat: 'raw' });
  const none = () => undefined;
  expect(() => w.write(65536 - 2048, Buffer.alloc(4096), none)).toThrow(/crosses a cluster/);
  expect(() => w.write(MiB, Buffer.alloc(4096), none)).toThrow(/crosses a cluster or the end/);
  w.abandon();
});

describe('batches', () => {
  const scratch = Buffer.alloc(LIMITS.maxBatchRaw);
  const payload = (codec: number, raw: Buffer, body = raw) => {
    const head = Buffer.alloc(5);
    head[0] = codec;
    head.writeUInt32LE(raw.length, 1);
    return Buffer.concat([head, body]);
  };
  const oneLiteral = () => {
    const b = new BatchBuilder();
    b.add(Space.Disk, Source.Literal, 3, 0, Buffer.alloc(4096, 7));
    b.add(Space.Memory, Source.Zero, 9);
    return b.take();
  };

  test('round trip, raw and zstd', () => {
    const raw = oneLiteral();
    for (const p of [payload(CODEC_RAW, raw), payload(CODEC_ZSTD, raw, compressOnce(raw, 3))]) {
      const d = decodeBatch(p, scratch);
      expect(d.count).toBe(2);
      expect(d.literals.length).toBe(4096);
      expect(d.literals[0]).toBe(7);
    }
  });

  test.each([
    ['too short', () => Buffer.alloc(3), /too short/],
    ['unknown codec', () => payload(9, oneLiteral()), /unknown batch codec 9/],
    [
      'raw length beyond the limit',
      () => {
        const p = payload(CODEC_RAW, oneLiteral());
        p.writeUInt32LE(LIMITS.maxBatchRaw + 1, 1);
        return p;
      },
      /out of bounds/,
    ],
    [
      'raw length not matching',
      () => {
        const p = payload(CODEC_RAW, oneLiteral());
        p.writeUInt32LE(100, 1);
        return p;
      },
      /does not match/,
    ],
    [
      'zstd frame of another size',
      () => {
        const raw = oneLiteral();
        const p = payload(CODEC_ZSTD, raw, compressOnce(raw, 3));
        p.writeUInt32LE(raw.length - 4, 1);
        return p;
      },
      /frame declares/,
    ],
    ['not zstd', () => payload(CODEC_ZSTD, Buffer.alloc(64), Buffer.alloc(64, 1)), /not a zstd frame|frame declares/],
    [
      'more entries than the limit',
      () => {
        const raw = oneLiteral();
        raw.writeUInt32LE(LIMITS.maxBatchEntries + 1, 0);
        return payload(CODEC_RAW, raw);
      },
      /claims/,
    ],
    [
      'literal bytes not matching the entries',
      () => {
        const raw = oneLiteral();
        return payload(CODEC_RAW, raw.subarray(0, raw.length - 1));
      },
      /literal bytes/,
    ],
  ])('%s is a protocol error', (_name, make, message) => {
    let err: unknown;
    try {
      decodeBatch(make(), scratch);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CloudletError);
    expect((err as CloudletError).code).toBe('HANDOFF_PROTOCOL');
    expect((err as CloudletError).message).toMatch(message);
  });
});

describe('typed records', () => {
  const hello = {
    version: WIRE_VERSION,
    handoffId: 'h-abc123',
    instance: { id: 'i-1', name: 'web', baseId: 'b'.repeat(64), created: '2026-01-01T00:00:00Z' },
    domainXml: '<domain/>',
    disk: { virtualSize: 1 << 20, clusterBits: 16 },
  };
  const body = (parts: Buffer[]) => parts[1];
  /** What decoding makes of it: 'accepted', or the typed error's code and message. */
  const code = (f: () => unknown) => {
    try {
      f();
      return 'accepted';
    } catch (err) {
      return `${(err as CloudletError).code}: ${(err as Error).message}`;
    }
  };

  test('hello and end records round-trip through their encoders and decoders', () => {
    const h = helloRecord(hello);
    expect(h[0][0]).toBe(RecordType.Hello);
    expect(decodeHello(body(h))).toEqual(hello);
    const end = { bytesSent: 123, literalBytes: 4096, compressedBytes: 100, levels: { '3': 1 }, pausedAt: 99, migration: null } as unknown as HandoffEnd;
    const e = endRecord(end);
    expect(e[0][0]).toBe(RecordType.End);
    expect(decodeEnd(body(e))).toEqual(end);
  });

  test('malformed hello and end records are typed protocol errors', () => {
    expect(code(() => decodeHello(Buffer.from('{')))).toMatch(/^HANDOFF_PROTOCOL: .*does not parse/);
    expect(code(() => decodeHello(Buffer.from('[1]')))).toMatch(/^HANDOFF_PROTOCOL: .*not an object/);
    expect(code(() => decodeHello(Buffer.from(JSON.stringify({ ...hello, version: 99 }))))).toMatch(/^HANDOFF_PROTOCOL: .*protocol version 99/);
    expect(code(() => decodeHello(Buffer.from(JSON.stringify({ ...hello, instance: { id: 'i-1' } }))))).toMatch(/^HANDOFF_PROTOCOL: .*lacks the instance/);
    expect(code(() => decodeHello(Buffer.alloc(LIMITS.maxJson + 1, 0x20)))).toMatch(/^HANDOFF_PROTOCOL: .*too large/);
    expect(code(() => decodeEnd(Buffer.from(JSON.stringify({ bytesSent: 'lots' }))))).toMatch(/^HANDOFF_PROTOCOL: .*end record is malformed/);
    expect(code(() => decodeEnd(Buffer.from(JSON.stringify({ bytesSent: 1, pausedAt: 'then' }))))).toMatch(/^HANDOFF_PROTOCOL: .*end record is malformed/);
  });

  test('layout, tail, batch header and error records round-trip; malformed ones are typed protocol errors', () => {
    const whole = (parts: Buffer[]) => Buffer.concat(parts.slice(1));
    const layout = { sectionId: 7, footers: true, blocks: [{ id: 'pc.ram', length: 1 << 20 }], sameLayoutAsBase: false, prologue: Buffer.from('pro'), ramStart: Buffer.from('start') };
    const l = layoutRecord(layout);
    expect(l[0][0]).toBe(RecordType.Layout);
    expect(l[0].readUInt32LE(1)).toBe(whole(l).length);
    expect(decodeLayout(whole(l), SAVE_LIMITS)).toEqual(layout);
    const tail = { footers: false, bytes: Buffer.from('device state') };
    expect(decodeTail(whole(tailRecord(tail)))).toEqual(tail);
    const b = batchRecord(CODEC_ZSTD, 1234, Buffer.from('frame'));
    expect([b[0][0], b[1][0], b[1].readUInt32LE(1), b[0].readUInt32LE(1)]).toEqual([RecordType.Batch, CODEC_ZSTD, 1234, 10]);
    expect(decodeError(whole(errorRecord({ code: 'CANCELLED', message: 'stop' })))).toEqual({ code: 'CANCELLED', message: 'stop' });

    const body = whole(l);
    expect(code(() => decodeLayout(body.subarray(0, 8), SAVE_LIMITS))).toMatch(/^HANDOFF_PROTOCOL: .*too short/);
    expect(code(() => decodeLayout(body.subarray(0, body.length - 1), SAVE_LIMITS))).toMatch(/^HANDOFF_PROTOCOL: .*do not add up/);
    const withBlocks = (blocks: unknown) => whole(layoutRecord({ ...layout, blocks: blocks as typeof layout.blocks }));
    expect(code(() => decodeLayout(withBlocks([]), SAVE_LIMITS))).toMatch(/^HANDOFF_PROTOCOL: .*invalid RAM description/);
    expect(code(() => decodeLayout(withBlocks([{ id: 'pc.ram', length: 1000 }]), SAVE_LIMITS))).toMatch(/^HANDOFF_PROTOCOL: .*invalid RAM block/);
    expect(code(() => decodeLayout(withBlocks([{ id: '', length: 4096 }]), SAVE_LIMITS))).toMatch(/^HANDOFF_PROTOCOL: .*invalid RAM block/);
    expect(code(() => decodeTail(Buffer.alloc(0)))).toMatch(/^HANDOFF_PROTOCOL: .*invalid size/);
    expect(code(() => decodeError(Buffer.from('nope')))).toMatch(/^HANDOFF_PROTOCOL: .*does not parse/);
  });
});

describe('receiving a stream', () => {
  const hello = { version: 1, handoffId: 'h-test0001', instance: { id: 'i-x', name: 'x', baseId: 'b', created: '' }, domainXml: '<domain/>', disk: { virtualSize: MiB, clusterBits: 16 } };
  const batchRecord = (raw: Buffer) => {
    const head = Buffer.alloc(5);
    head[0] = CODEC_RAW;
    head.writeUInt32LE(raw.length, 1);
    return [recordHeader(RecordType.Batch, 5 + raw.length), head, raw];
  };
  const entries = (fn: (b: BatchBuilder) => void) => {
    const b = new BatchBuilder();
    fn(b);
    return b.take();
  };

  async function receive(parts: Buffer[]): Promise<CloudletError> {
    const out = fs.mkdtempSync(path.join(dir, 'recv-'));
    const baseDisk = path.join(dir, 'recv-base.raw');
    fs.writeFileSync(baseDisk, Buffer.alloc(MiB, 1));
    const chunks = [Buffer.concat(parts)];
    try {
      await receiveHandoff({
        source: { read: async () => chunks.shift() ?? null },
        dir: out,
        disk: path.join(out, 'disk.qcow2'),
        memory: path.join(out, 'memory.save'),
        baseDisk,
        baseMemory: path.join(dir, 'no-such-memory.save'),
        onHello: () => '<domain/>',
        saveHeader: () => Buffer.alloc(0),
        signal: new AbortController().signal,
      });
    } catch (e) {
      return e as CloudletError;
    }
    throw new Error('the stream was accepted');
  }

  test.each([
    ['a batch before the hello', () => [...batchRecord(entries((b) => b.add(Space.Disk, Source.Zero, 0)))], /expected the hello record first/],
    ['another protocol version', () => jsonRecord(RecordType.Hello, { ...hello, version: 2 }), /protocol version 2/],
    ['a record beyond the size limit', () => [recordHeader(RecordType.Batch, LIMITS.maxRecord + 1)], /beyond the .*-byte limit/],
    ['a disk chunk beyond the disk', () => [...jsonRecord(RecordType.Hello, hello), ...batchRecord(entries((b) => b.add(Space.Disk, Source.Zero, MiB / 4096)))], /beyond the disk/],
    ['a base disk reference beyond the base', () => [...jsonRecord(RecordType.Hello, hello), ...batchRecord(entries((b) => b.add(Space.Disk, Source.BaseDisk, 0, MiB / 4096)))], /beyond the base/],
    ['memory before the layout', () => [...jsonRecord(RecordType.Hello, hello), ...batchRecord(entries((b) => b.add(Space.Memory, Source.Zero, 0)))], /before the RAM layout/],
    [
      'an unknown chunk source',
      () => {
        const raw = entries((b) => b.add(Space.Disk, Source.Zero, 0));
        raw[4 + 1] = 77;
        return [...jsonRecord(RecordType.Hello, hello), ...batchRecord(raw)];
      },
      /unknown chunk source 77/,
    ],
    ['an end without memory', () => [...jsonRecord(RecordType.Hello, hello), ...jsonRecord(RecordType.End, {})], /ended before the memory state was complete/],
    ['a stream cut short', () => [...jsonRecord(RecordType.Hello, hello), recordHeader(RecordType.Batch, 100)], /ends in the middle/],
    ['a disk of absurd size', () => jsonRecord(RecordType.Hello, { ...hello, disk: { virtualSize: 2 ** 60, clusterBits: 16 } }), /invalid disk description/],
  ])('%s is refused with a typed error', async (_name, parts, message) => {
    const e = await receive(parts());
    expect(e).toBeInstanceOf(CloudletError);
    expect(e.code).toBe('HANDOFF_PROTOCOL');
    expect(e.message).toMatch(message);
  });

  test("an error record from the source ends the receive with the source's reason", async () => {
    const e = await receive(jsonRecord(RecordType.Error, { code: 'VM_FAILED', message: 'QEMU refused' }));
    expect(e.code).toBe('HANDOFF_FAILED');
    expect(e.message).toMatch(/QEMU refused \(VM_FAILED\)/);
  });
});
