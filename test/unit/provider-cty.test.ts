// The DynamicValue codec: msgpack (generic and cty), type JSON, the JSON state form, value comparison.
// Expected bytes come from the msgpack spec and go-cty's cty/msgpack encoding, worked out by hand.

import {
  CtyPathError,
  CtyType,
  CtyValue,
  Dynamic,
  UNKNOWN,
  Unknown,
  containsUnknown,
  decodeJson,
  decodeJsonValue,
  decodeMsgpack,
  encodeJson,
  encodeMsgpack,
  formatPath,
  impliedType,
  isUnknown,
  typeEquals,
  typeFromJson,
  typeFromJsonText,
  typeToJson,
  typeToJsonText,
  valueEquals,
} from '../../provider/protocol/cty';
import { MsgpackError, MsgpackExt, MsgpackReader, MsgpackValue, MsgpackWriter, decode, encode } from '../../provider/protocol/msgpack';

const hex = (b: Uint8Array): string =>
  Buffer.from(b)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const float64 = (n: number): string => {
  const b = Buffer.alloc(9);
  b[0] = 0xcb;
  b.writeDoubleBE(n, 1);
  return hex(b);
};

/** Round trips through msgpack and checks the result is deeply equal (and, for objects, null-prototype clean). */
function roundTrip(value: CtyValue, type: CtyType): CtyValue {
  const encoded = encodeMsgpack(value, type);
  const decoded = decodeMsgpack(encoded, type);
  expect(valueEquals(decoded, value, type)).toBe(true);
  // Encoding the decoded value again gives the same bytes: nothing was lost or reordered.
  expect(hex(encodeMsgpack(decoded, type))).toBe(hex(encoded));
  return decoded;
}

const timeoutsType: CtyType = { object: { create: 'string', delete: 'string' } };
const diskType: CtyType = { object: { size_mib: 'number', label: 'string', tags: { set: 'string' } } };
const instanceType: CtyType = {
  object: {
    id: 'string',
    name: 'string',
    memory_mib: 'number',
    running: 'bool',
    labels: { map: 'string' },
    ports: { list: 'number' },
    disk: { list: diskType },
    timeouts: timeoutsType,
    extra: 'dynamic',
  },
};

// ------------------------------------------------------------------------------------------------ generic msgpack

describe('msgpack generic codec', () => {
  test('integers use the smallest format and decode back', () => {
    const cases: [number | bigint, string][] = [
      [0, '00'],
      [127, '7f'],
      [128, 'cc 80'],
      [255, 'cc ff'],
      [256, 'cd 01 00'],
      [65535, 'cd ff ff'],
      [65536, 'ce 00 01 00 00'],
      [2 ** 32 - 1, 'ce ff ff ff ff'],
      [2 ** 32, 'cf 00 00 00 01 00 00 00 00'],
      [-1, 'ff'],
      [-32, 'e0'],
      [-33, 'd0 df'],
      [-128, 'd0 80'],
      [-129, 'd1 ff 7f'],
      [-32768, 'd1 80 00'],
      [-32769, 'd2 ff ff 7f ff'],
      [-(2 ** 31), 'd2 80 00 00 00'],
      [-(2 ** 31) - 1, 'd3 ff ff ff ff 7f ff ff ff'],
      [2n ** 64n - 1n, 'cf ff ff ff ff ff ff ff ff'],
      [-(2n ** 63n), 'd3 80 00 00 00 00 00 00 00'],
    ];
    for (const [n, want] of cases) {
      expect(hex(encode(n))).toBe(want);
      expect(decode(bytes(want))).toBe(n);
    }
  });

  test('64-bit integers beyond the safe range decode to bigint, within it to number', () => {
    expect(decode(bytes('cf 00 20 00 00 00 00 00 01'))).toBe(2n ** 53n + 1n);
    expect(decode(bytes('cf 00 1f ff ff ff ff ff ff'))).toBe(Number.MAX_SAFE_INTEGER);
    expect(decode(bytes('d3 ff df ff ff ff ff ff ff'))).toBe(-(2n ** 53n) - 1n);
    expect(decode(bytes('d3 ff e0 00 00 00 00 00 01'))).toBe(Number.MIN_SAFE_INTEGER);
    // A small value in a wide format is still a number.
    expect(decode(bytes('cf 00 00 00 00 00 00 00 05'))).toBe(5);
    expect(decode(bytes('d3 ff ff ff ff ff ff ff fb'))).toBe(-5);
    expect(() => encode(2n ** 64n)).toThrow(/does not fit in 64 bits/);
    expect(() => encode(-(2n ** 63n) - 1n)).toThrow(/does not fit in 64 bits/);
  });

  test('floats: float64 on write, float32 and float64 on read, -0 survives', () => {
    expect(hex(encode(1.5))).toBe('cb 3f f8 00 00 00 00 00 00');
    expect(hex(encode(-0.25))).toBe('cb bf d0 00 00 00 00 00 00');
    expect(Object.is(decode(encode(-0)), -0)).toBe(true);
    expect(decode(bytes('ca 3f c0 00 00'))).toBe(1.5);
    expect(decode(bytes('ca 7f 80 00 00'))).toBe(Infinity);
    expect(Number.isNaN(decode(encode(NaN)) as number)).toBe(true);
    const w = new MsgpackWriter();
    w.writeFloat32(0.5);
    expect(hex(w.finish())).toBe('ca 3f 00 00 00');
  });

  test('nil, bool, and header sizes of str, bin, array and map at their boundaries', () => {
    expect(hex(encode(null))).toBe('c0');
    expect(hex(encode(false))).toBe('c2');
    expect(hex(encode(true))).toBe('c3');
    const strHeader = (n: number) => hex(encode('x'.repeat(n)).subarray(0, n <= 31 ? 1 : n <= 255 ? 2 : n <= 65535 ? 3 : 5));
    expect(strHeader(0)).toBe('a0');
    expect(strHeader(31)).toBe('bf');
    expect(strHeader(32)).toBe('d9 20');
    expect(strHeader(255)).toBe('d9 ff');
    expect(strHeader(256)).toBe('da 01 00');
    expect(strHeader(65535)).toBe('da ff ff');
    expect(strHeader(65536)).toBe('db 00 01 00 00');
    expect(hex(encode(new Uint8Array(255)).subarray(0, 2))).toBe('c4 ff');
    expect(hex(encode(new Uint8Array(256)).subarray(0, 3))).toBe('c5 01 00');
    expect(hex(encode(new Uint8Array(65536)).subarray(0, 5))).toBe('c6 00 01 00 00');
    expect(hex(encode(new Array(15).fill(0)).subarray(0, 1))).toBe('9f');
    expect(hex(encode(new Array(16).fill(0)).subarray(0, 3))).toBe('dc 00 10');
    expect(hex(encode(new Array(65536).fill(0)).subarray(0, 5))).toBe('dd 00 01 00 00');
    const mapOf = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    expect(hex(encode(mapOf(15)).subarray(0, 1))).toBe('8f');
    expect(hex(encode(mapOf(16)).subarray(0, 3))).toBe('de 00 10');
    expect(hex(encode(mapOf(65536)).subarray(0, 5))).toBe('df 00 01 00 00');
    for (const n of [0, 31, 32, 255, 256, 65536]) expect(decode(encode('é'.repeat(n)))).toBe('é'.repeat(n));
    // A leading byte-order mark is data, not something to strip.
    expect(decode(encode('\ufeffx'))).toBe('\ufeffx');
  });

  test('extensions: fixext for 1/2/4/8/16 bytes, ext8/16/32 otherwise, signed type byte', () => {
    const header = (n: number, type = 5) =>
      hex(encode(new MsgpackExt(type, new Uint8Array(n))).subarray(0, n === 1 || n === 2 || n === 4 || n === 8 || n === 16 ? 2 : n <= 255 ? 3 : n <= 65535 ? 4 : 6));
    expect(header(1)).toBe('d4 05');
    expect(header(2)).toBe('d5 05');
    expect(header(4)).toBe('d6 05');
    expect(header(8)).toBe('d7 05');
    expect(header(16)).toBe('d8 05');
    expect(header(0)).toBe('c7 00 05');
    expect(header(3)).toBe('c7 03 05');
    expect(header(17)).toBe('c7 11 05');
    expect(header(256)).toBe('c8 01 00 05');
    expect(header(65536)).toBe('c9 00 01 00 00 05');
    expect(header(1, -1)).toBe('d4 ff');
    const ext = decode(bytes('c7 03 fe 01 02 03')) as MsgpackExt;
    expect(ext).toBeInstanceOf(MsgpackExt);
    expect(ext.type).toBe(-2);
    expect([...ext.data]).toEqual([1, 2, 3]);
    expect(() => encode(new MsgpackExt(128, new Uint8Array(1)))).toThrow(/signed 8-bit/);
  });

  test('round trip of a mixed structure; maps with non-string keys come back as Map', () => {
    const value = {
      s: 'hello',
      n: [0, -1, 1.25, 2 ** 40, -(2 ** 40), 2n ** 63n],
      b: new Uint8Array([0, 255, 7]),
      m: new Map<string | number, string>([
        [1, 'one'],
        ['two', 'two'],
      ]),
      e: new MsgpackExt(3, new Uint8Array([9, 9])),
      nested: { deeper: [null, true, false, {}] },
    };
    const back = decode(encode(value)) as Record<string, unknown>;
    expect(back.s).toBe('hello');
    expect(back.n).toEqual([0, -1, 1.25, 2 ** 40, -(2 ** 40), 2n ** 63n]);
    expect([...(back.b as Uint8Array)]).toEqual([0, 255, 7]);
    expect(back.m).toBeInstanceOf(Map);
    expect([...(back.m as Map<unknown, unknown>)]).toEqual([
      [1, 'one'],
      ['two', 'two'],
    ]);
    expect((back.e as MsgpackExt).type).toBe(3);
    expect(back.nested).toEqual({ deeper: [null, true, false, {}] });
    // maps: 'map' gives Map even for string keys
    expect(decode(encode({ a: 1 }), { maps: 'map' })).toEqual(new Map([['a', 1]]));
  });

  test('a "__proto__" key is plain data and pollutes nothing', () => {
    const encoded = bytes('81 a9' + Buffer.from('__proto__').toString('hex') + '81 a8' + Buffer.from('polluted').toString('hex') + 'c3');
    const out = decode(encoded) as { [key: string]: MsgpackValue };
    expect(Object.getPrototypeOf(out)).toBeNull();
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(hex(encode(out))).toBe(hex(encoded));
  });

  test('refuses values it cannot represent', () => {
    expect(() => encode(undefined as never)).toThrow(/cannot encode a value of type undefined/);
    expect(() => encode(new Date() as never)).toThrow(/instance of Date/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encode(cyclic as never)).toThrow(/cyclic/);
  });
});

describe('msgpack decoding of hostile input', () => {
  const valid = encode({ name: 'vm', sizes: [1, 300, 70000, 2 ** 33, -5, 1.5], data: new Uint8Array([1, 2]), ext: new MsgpackExt(1, new Uint8Array(3)), flag: true, none: null });

  test('every truncation of a valid encoding throws, naming an offset', () => {
    for (let k = 0; k < valid.length; k++) {
      expect(() => decode(valid.subarray(0, k))).toThrow(/truncated|offset/);
      expect(() => decode(valid.subarray(0, k))).toThrow(MsgpackError);
    }
    expect(() => decode(valid)).not.toThrow();
  });

  test('trailing bytes after the value are an error, with the offset where they start', () => {
    expect(() => decode(concat(valid, bytes('00')))).toThrow(`msgpack: 1 trailing byte(s) after the value at offset ${valid.length}`);
  });

  test('the reserved byte 0xc1 is refused wherever it appears', () => {
    expect(() => decode(bytes('c1'))).toThrow('msgpack: reserved type byte 0xc1 at offset 0');
    expect(() => decode(bytes('92 01 c1'))).toThrow('msgpack: reserved type byte 0xc1 at offset 2');
    expect(() => new MsgpackReader(bytes('91 c1')).skip()).toThrow(/0xc1/);
  });

  test('length headers larger than the input throw before anything is allocated', () => {
    const huge: [string, RegExp][] = [
      ['dd ff ff ff ff 00 00 00 00 00', /array header claims 4294967295 element\(s\) but only 5 byte\(s\) follow at offset 0/],
      ['df ff ff ff ff 00 00 00 00 00', /map header claims 4294967295 entries but only 5 byte\(s\) follow/],
      ['db ff ff ff ff 61 62', /truncated str 0xdb: header claims 4294967295 byte\(s\), 2 left/],
      ['c6 ff ff ff ff 61 62', /truncated bin 0xc6: header claims 4294967295 byte\(s\)/],
      ['c9 ff ff ff ff 0c 00', /truncated ext 0xc9: header claims 4294967295 byte\(s\)/],
      ['dc ff ff 00', /array header claims 65535 element/],
      ['de 00 02 01 02 03', /map header claims 2 entries but only 3 byte/],
      ['9f 00', /array header claims 15 element/],
    ];
    for (const [h, message] of huge) {
      const before = process.memoryUsage().arrayBuffers;
      const started = process.hrtime.bigint();
      expect(() => decode(bytes(h))).toThrow(message);
      expect(() => new MsgpackReader(bytes(h)).skip()).toThrow(MsgpackError);
      // Allocating 4 GiB of slots (or bytes) would show up in time or memory; neither happens.
      expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(200);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    }
  });

  test('truncated length fields and fixed-size payloads name what was cut', () => {
    expect(() => decode(bytes('dc 00'))).toThrow('msgpack: truncated array 0xdc header: needs 3 byte(s), 2 left at offset 0');
    expect(() => decode(bytes('cd 01'))).toThrow('msgpack: truncated integer 0xcd: needs 3 byte(s), 2 left at offset 0');
    expect(() => decode(bytes('cb 00 00'))).toThrow(/truncated float64/);
    expect(() => decode(bytes('c7 02'))).toThrow(/type byte is missing/);
    expect(() => decode(bytes('d6 01 00'))).toThrow(/truncated ext 0xd6: header claims 4 byte\(s\), 1 left/);
    expect(() => decode(bytes(''))).toThrow(/truncated input/);
  });

  test('invalid UTF-8 in a str is an error, not replacement characters', () => {
    expect(() => decode(bytes('a2 c3 28'))).toThrow('msgpack: invalid UTF-8 in string at offset 0');
  });

  test('duplicate map keys are refused', () => {
    expect(() => decode(bytes('82 a1 61 01 a1 61 02'))).toThrow(/duplicate map key "a"/);
  });

  test('deep nesting is an error, not a stack overflow; skip() handles it iteratively', () => {
    const deep = new Uint8Array(100_001).fill(0x91);
    deep[100_000] = 0xc0;
    expect(() => decode(deep)).toThrow(/nesting deeper than 512/);
    const reader = new MsgpackReader(deep);
    reader.skip();
    expect(reader.atEnd()).toBe(true);
    expect(decode(deep.subarray(99_990), { maxDepth: 20 })).toEqual([[[[[[[[[[null]]]]]]]]]]);
  });

  test('reader type checks report what was found', () => {
    const r = new MsgpackReader(bytes('c3'));
    expect(r.peekKind()).toBe('bool');
    expect(() => r.readStr()).toThrow('msgpack: expected str, found bool (0xc3) at offset 0');
    expect(r.tryReadNil()).toBe(false);
    expect(r.readBool()).toBe(true);
    expect(r.atEnd()).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------ cty msgpack

describe('cty msgpack encoding: exact bytes', () => {
  test('small values', () => {
    expect(hex(encodeMsgpack('a', 'string'))).toBe('a1 61');
    expect(hex(encodeMsgpack(UNKNOWN, 'string'))).toBe('d4 00 00');
    expect(hex(encodeMsgpack(null, 'string'))).toBe('c0');
    expect(hex(encodeMsgpack(true, 'bool'))).toBe('c3');
    expect(hex(encodeMsgpack({ a: 1 }, { object: { a: 'number' } }))).toBe('81 a1 61 01');
    // Attributes sorted by name, absent ones written as nil so every attribute is present.
    expect(hex(encodeMsgpack({ b: 'x' }, { object: { b: 'string', a: 'number' } }))).toBe('82 a1 61 c0 a1 62 a1 78');
    expect(hex(encodeMsgpack(['x', 'y'], { list: 'string' }))).toBe('92 a1 78 a1 79');
    expect(hex(encodeMsgpack({ k: true }, { map: 'bool' }))).toBe('81 a1 6b c3');
    expect(hex(encodeMsgpack([1, 'a'], { tuple: ['number', 'string'] }))).toBe('92 01 a1 61');
    // Attribute order is Go's (UTF-8 byte) order: U+FFFD before U+1F600.
    expect(hex(encodeMsgpack({ '\u{1f600}': 1, '\ufffd': 2 }, { object: { '\u{1f600}': 'number', '\ufffd': 'number' } }))).toBe('82 a3 ef bf bd 02 a4 f0 9f 98 80 01');
  });

  test('a dynamic string is [type JSON as bin, value]', () => {
    const want = '92 c4 08 22 73 74 72 69 6e 67 22 a1 78';
    expect(hex(encodeMsgpack(new Dynamic('string', 'x'), 'dynamic'))).toBe(want);
    // A plain JS string in a dynamic position implies the string type.
    expect(hex(encodeMsgpack('x', 'dynamic'))).toBe(want);
    expect(hex(encodeMsgpack(null, 'dynamic'))).toBe('c0');
    expect(hex(encodeMsgpack(UNKNOWN, 'dynamic'))).toBe('d4 00 00');
    // Refinements are never written for an unknown of unknown type (go-cty drops them too).
    expect(hex(encodeMsgpack(new Unknown({ notNull: true }), 'dynamic'))).toBe('d4 00 00');
  });

  test('numbers: boundaries of each integer format, then float64', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [127, '7f'],
      [128, 'cc 80'],
      [-32, 'e0'],
      [-33, 'd0 df'],
      [255, 'cc ff'],
      [256, 'cd 01 00'],
      [65535, 'cd ff ff'],
      [65536, 'ce 00 01 00 00'],
      [2 ** 31, 'ce 80 00 00 00'],
      [2 ** 32, 'cf 00 00 00 01 00 00 00 00'],
      [2 ** 53, 'cf 00 20 00 00 00 00 00 00'],
      [-(2 ** 53), 'd3 ff e0 00 00 00 00 00 00'],
      [-(2 ** 63), 'd3 80 00 00 00 00 00 00 00'],
      // 2^63 is integral but outside int64, so go-cty writes it as a float.
      [2 ** 63, 'cb 43 e0 00 00 00 00 00 00'],
      [1.5, 'cb 3f f8 00 00 00 00 00 00'],
      [-0.25, 'cb bf d0 00 00 00 00 00 00'],
      [1e300, float64(1e300)],
      [-0, '00'],
      [Infinity, 'cb 7f f0 00 00 00 00 00 00'],
    ];
    for (const [n, want] of cases) {
      expect(`${n}: ${hex(encodeMsgpack(n, 'number'))}`).toBe(`${n}: ${want}`);
      expect(decodeMsgpack(bytes(want), 'number')).toBe(n === 0 ? 0 : n);
    }
    expect(float64(1e300)).toBe('cb 7e 37 e4 3c 88 00 75 9c');
  });

  test('refined unknowns carry their refinements in extension 12', () => {
    // payload 82 | 01 c2 (not null) | 02 a2 61 62 (prefix "ab"): 7 bytes, so ext8
    expect(hex(encodeMsgpack(new Unknown({ notNull: true, stringPrefix: 'ab' }), 'string'))).toBe('c7 07 0c 82 01 c2 02 a2 61 62');
    // payload 81 02 a1 61: exactly 4 bytes, so fixext4
    expect(hex(encodeMsgpack(new Unknown({ stringPrefix: 'a' }), 'string'))).toBe('d6 0c 81 02 a1 61');
    expect(hex(encodeMsgpack(new Unknown({ notNull: true }), 'bool'))).toBe('c7 03 0c 81 01 c2');
    // payload 82 | 03 92 00 c3 | 04 92 cb <1.5> c2: 17 bytes, so ext8
    expect(hex(encodeMsgpack(new Unknown({ numberLower: [0, true], numberUpper: [1.5, false] }), 'number'))).toBe('c7 11 0c 82 03 92 00 c3 04 92 cb 3f f8 00 00 00 00 00 00 c2');
    expect(hex(encodeMsgpack(new Unknown({ notNull: true, lengthLower: 1, lengthUpper: 3 }), { list: 'string' }))).toBe('c7 07 0c 83 01 c2 05 01 06 03');
    // Nothing to say (lower bound 0, empty prefix, refinements that do not apply to the type): the plain form.
    expect(hex(encodeMsgpack(new Unknown({ lengthLower: 0 }), { set: 'string' }))).toBe('d4 00 00');
    expect(hex(encodeMsgpack(new Unknown({ stringPrefix: '' }), 'string'))).toBe('d4 00 00');
    expect(hex(encodeMsgpack(new Unknown({ stringPrefix: 'x', lengthUpper: 2 }), 'number'))).toBe('d4 00 00');
  });
});

describe('cty msgpack round trips', () => {
  test('every primitive', () => {
    for (const s of ['', 'a', 'héllo wörld', '😀', 'x'.repeat(70000)]) expect(roundTrip(s, 'string')).toBe(s);
    for (const n of [0, 127, 128, -32, -33, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1.5, -0.25, 1e300, -1e-300, Number.MAX_VALUE, Number.MIN_VALUE, -Infinity]) {
      expect(roundTrip(n, 'number')).toBe(n);
    }
    expect(roundTrip(true, 'bool')).toBe(true);
    expect(roundTrip(false, 'bool')).toBe(false);
  });

  test('collections, objects and tuples, including empty ones', () => {
    expect(roundTrip(['a', 'b', 'a'], { list: 'string' })).toEqual(['a', 'b', 'a']);
    expect(roundTrip([], { list: 'string' })).toEqual([]);
    expect(roundTrip([3, 1, 2], { set: 'number' })).toEqual([3, 1, 2]);
    expect(roundTrip({ a: 1, b: 2 }, { map: 'number' })).toEqual({ a: 1, b: 2 });
    expect(roundTrip({}, { map: 'number' })).toEqual({});
    expect(roundTrip({ a: 'x', b: 2, c: false }, { object: { a: 'string', b: 'number', c: 'bool' } })).toEqual({ a: 'x', b: 2, c: false });
    expect(roundTrip({}, { object: {} })).toEqual({});
    expect(roundTrip(['x', 1, [true]], { tuple: ['string', 'number', { list: 'bool' }] })).toEqual(['x', 1, [true]]);
    expect(roundTrip([], { tuple: [] })).toEqual([]);
    expect(roundTrip([[1, 2], [], [3]], { list: { list: 'number' } })).toEqual([[1, 2], [], [3]]);
    expect(roundTrip({ a: { b: { c: ['d'] } } }, { map: { map: { map: { list: 'string' } } } })).toEqual({ a: { b: { c: ['d'] } } });
  });

  const fullInstance: CtyValue = {
    id: 'i-1',
    name: 'web',
    memory_mib: 512,
    running: true,
    labels: { env: 'prod', tier: 'front' },
    ports: [22, 80, 443],
    disk: [
      { size_mib: 1024, label: 'root', tags: ['boot', 'ssd'] },
      { size_mib: 2048.5, label: 'data', tags: [] },
    ],
    timeouts: { create: '10m', delete: null },
    extra: new Dynamic({ object: { note: 'string', counts: { list: 'number' } } }, { note: 'hi', counts: [1, 2] }),
  };

  test('a resource-shaped object with nested blocks', () => {
    const back = roundTrip(fullInstance, instanceType) as Record<string, CtyValue>;
    expect((back.disk as Record<string, CtyValue>[])[1].size_mib).toBe(2048.5);
    expect(back.extra).toBeInstanceOf(Dynamic);
    expect((back.extra as Dynamic).type).toEqual({ object: { counts: { list: 'number' }, note: 'string' } });
    expect(Object.getPrototypeOf(back)).toBeNull();
  });

  test('null at every level', () => {
    expect(roundTrip(null, instanceType)).toBeNull();
    const allNull = decodeMsgpack(encodeMsgpack({}, instanceType), instanceType) as Record<string, CtyValue>;
    expect(Object.keys(allNull).sort()).toEqual(Object.keys((instanceType as { object: object }).object).sort());
    expect(Object.values(allNull).every((v) => v === null)).toBe(true);
    roundTrip({ ...(fullInstance as object), labels: { env: null }, ports: [null, 1], disk: [null, { size_mib: null, label: null, tags: null }], timeouts: null, extra: null }, instanceType);
    roundTrip([null], { set: 'string' });
    roundTrip([null, null], { tuple: ['string', { map: 'bool' }] });
  });

  test('unknown at the top and nested anywhere', () => {
    expect(roundTrip(UNKNOWN, instanceType)).toBe(UNKNOWN);
    const partly = {
      ...(fullInstance as object),
      id: UNKNOWN,
      labels: { env: UNKNOWN },
      ports: UNKNOWN,
      disk: [{ size_mib: UNKNOWN, label: 'root', tags: [UNKNOWN, 'x'] }],
      timeouts: UNKNOWN,
      extra: UNKNOWN,
    };
    const back = roundTrip(partly, instanceType) as Record<string, CtyValue>;
    expect(isUnknown(back.id)).toBe(true);
    expect(isUnknown((back.labels as Record<string, CtyValue>).env)).toBe(true);
    expect(isUnknown(back.extra)).toBe(true);
    expect(containsUnknown(back)).toBe(true);
    expect(containsUnknown(decodeMsgpack(encodeMsgpack(fullInstance, instanceType), instanceType))).toBe(false);
  });

  test('each refinement round trips, on its own and combined', () => {
    const cases: [Unknown, CtyType][] = [
      [new Unknown({ notNull: true }), 'string'],
      [new Unknown({ notNull: true }), { object: { a: 'string' } }],
      [new Unknown({ stringPrefix: 'https://' }), 'string'],
      [new Unknown({ numberLower: [-5, true] }), 'number'],
      [new Unknown({ numberUpper: [100.5, false] }), 'number'],
      [new Unknown({ lengthLower: 2 }), { list: 'string' }],
      [new Unknown({ lengthUpper: 9 }), { set: 'number' }],
      [new Unknown({ notNull: true, lengthLower: 1, lengthUpper: 1 }), { map: 'bool' }],
      [new Unknown({ notNull: true, numberLower: [0, true], numberUpper: [2 ** 40, true] }), 'number'],
    ];
    for (const [u, t] of cases) {
      const back = roundTrip(u, t);
      expect(back).toBeInstanceOf(Unknown);
      expect((back as Unknown).refinements).toEqual(u.refinements);
    }
    // Nested inside an object, the refinement still applies to its attribute's type.
    const back = roundTrip({ url: new Unknown({ stringPrefix: 'h' }) }, { object: { url: 'string' } }) as Record<string, Unknown>;
    expect(back.url.refinements).toEqual({ stringPrefix: 'h' });
  });

  test('dynamic values: string, object, list, null, unknown inside', () => {
    const cases: CtyValue[] = [
      new Dynamic('string', 'x'),
      new Dynamic('number', 42),
      new Dynamic({ object: { a: 'string', b: { list: 'number' } } }, { a: 'x', b: [1, 2] }),
      new Dynamic({ list: 'string' }, ['p', 'q']),
      new Dynamic({ set: { object: { n: 'number' } } }, [{ n: 1 }, { n: 2 }]),
      new Dynamic({ map: 'dynamic' }, { a: new Dynamic('bool', true), b: null }),
      new Dynamic('string', null),
      new Dynamic('string', UNKNOWN),
      new Dynamic({ object: { a: 'string' } }, { a: UNKNOWN }),
      new Dynamic('string', new Unknown({ stringPrefix: 'p' })),
    ];
    for (const d of cases) {
      const back = roundTrip(d, 'dynamic');
      expect(back).toBeInstanceOf(Dynamic);
      expect(typeEquals((back as Dynamic).type, (d as Dynamic).type)).toBe(true);
    }
    expect(roundTrip(null, 'dynamic')).toBeNull();
    expect(roundTrip(UNKNOWN, 'dynamic')).toBe(UNKNOWN);
    // A typed null keeps its type on the wire, as go-cty writes it.
    expect(hex(encodeMsgpack(new Dynamic('string', null), 'dynamic'))).toBe('92 c4 08 22 73 74 72 69 6e 67 22 c0');
    expect(hex(encodeMsgpack(new Dynamic('string', UNKNOWN), 'dynamic'))).toBe('92 c4 08 22 73 74 72 69 6e 67 22 d4 00 00');
    const refined = decodeMsgpack(encodeMsgpack(new Dynamic('string', new Unknown({ stringPrefix: 'p' })), 'dynamic'), 'dynamic') as Dynamic;
    expect((refined.value as Unknown).refinements).toEqual({ stringPrefix: 'p' });
  });

  test('plain JS values in a dynamic position get an implied type', () => {
    const back = decodeMsgpack(encodeMsgpack({ a: 'x', b: [1, true, null] }, 'dynamic'), 'dynamic') as Dynamic;
    expect(back).toBeInstanceOf(Dynamic);
    expect(back.type).toEqual({ object: { a: 'string', b: { tuple: ['number', 'bool', 'dynamic'] } } });
    expect(valueEquals(back.value, { a: 'x', b: [1, true, null] }, back.type)).toBe(true);
    expect(impliedType([new Dynamic({ list: 'string' }, []), UNKNOWN])).toEqual({ tuple: [{ list: 'string' }, 'dynamic'] });
    expect(hex(encodeMsgpack(7, 'dynamic'))).toBe('92 c4 08 22 6e 75 6d 62 65 72 22 07');
    // Dynamic whose type is the position's type is the same as the bare value.
    expect(hex(encodeMsgpack(new Dynamic('string', 'x'), 'string'))).toBe('a1 78');
    expect(() => encodeMsgpack(new Dynamic('number', 1), 'string')).toThrow('(root): expected "string", got a dynamic value of type "number"');
  });

  test('map keys that are special in JS round trip as data', () => {
    const tricky: Record<string, CtyValue> = JSON.parse('{"__proto__": "p", "constructor": "c", "toString": "t", "hasOwnProperty": "h"}');
    const back = roundTrip(tricky, { map: 'string' }) as Record<string, CtyValue>;
    expect(Object.keys(back).sort()).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
    expect(back['__proto__']).toBe('p');
    expect(Object.getPrototypeOf(back)).toBeNull();
    expect(({} as Record<string, unknown>).p).toBeUndefined();
    // An object attribute named "constructor" that is absent is null, not Object.prototype.constructor.
    const withConstructor: CtyType = { object: Object.fromEntries([['constructor', 'string']]) };
    expect(hex(encodeMsgpack({}, withConstructor))).toBe('81 ab 63 6f 6e 73 74 72 75 63 74 6f 72 c0');
  });
});

describe('cty msgpack decoding: what go-cty accepts', () => {
  test('any extension type is an unknown', () => {
    for (const h of ['d4 00 00', 'd4 05 ff', 'c7 00 07', 'd5 01 00 00', 'c7 03 ff 01 02 03', 'd8 7f' + ' 00'.repeat(16)]) {
      expect(decodeMsgpack(bytes(h), 'string')).toBe(UNKNOWN);
      expect(decodeMsgpack(bytes(h), 'dynamic')).toBe(UNKNOWN);
    }
  });

  test('malformed or inapplicable refinement payloads give a plain unknown', () => {
    const cases: [string, CtyType][] = [
      ['c7 02 0c 81 01', 'string'], // map claims an entry that is not there
      ['c7 03 0c 81 01 a1', 'string'], // nullness is not a bool
      ['c7 04 0c 81 a1 61 c3', 'string'], // key is not an integer
      ['c7 04 0c 81 02 a1 61', 'number'], // prefix on a number: well-formed but inapplicable
      ['c7 03 0c 81 05 01', 'string'], // length bound on a string
      ['c7 03 0c 81 05 ff', { list: 'string' }], // negative length bound
      ['c7 04 0c 81 03 91 00', 'number'], // number bound is not a pair
      ['c7 05 0c 81 03 92 c3 c3', 'number'], // number bound is not a number
      ['c7 03 0c 92 01 02', 'string'], // not a map
    ];
    for (const [h, t] of cases) expect(decodeMsgpack(bytes(h), t)).toBe(UNKNOWN);
    // The same payloads on the right types do refine, so the cases above fail for the reason given.
    expect(decodeMsgpack(bytes('c7 04 0c 81 02 a1 61'), 'string')).toEqual(new Unknown({ stringPrefix: 'a' }));
    expect(decodeMsgpack(bytes('c7 03 0c 81 05 01'), { list: 'string' })).toEqual(new Unknown({ lengthLower: 1 }));
    // Oversize refinements (more than 1 KiB) are ignored rather than parsed: 5 + 1020 = 1025 payload bytes.
    const big = concat(bytes('c8 04 01 0c 81 02 da 03 fc'), new Uint8Array(0x3fc).fill(0x61));
    expect(decodeMsgpack(concat(bytes('c8 04 00 0c 81 02 da 03 fb'), new Uint8Array(0x3fb).fill(0x61)), 'string')).toEqual(new Unknown({ stringPrefix: 'a'.repeat(0x3fb) }));
    expect(decodeMsgpack(big, 'string')).toBe(UNKNOWN);
    // Refinements in a dynamic position are ignored, as go-cty does.
    expect(decodeMsgpack(bytes('c7 03 0c 81 01 c2'), 'dynamic')).toBe(UNKNOWN);
  });

  test('refinement details: unknown keys skipped, trailing bytes ignored, "is null" becomes null, bounds as strings', () => {
    // key 9 (from some future go-cty) with an array value, then key 1
    const withFutureKey = decodeMsgpack(bytes('c7 07 0c 82 09 92 01 02 01 c2'), 'string') as Unknown;
    expect(withFutureKey.refinements).toEqual({ notNull: true });
    const withTrailing = decodeMsgpack(bytes('c7 05 0c 81 01 c2 ff ff'), 'string') as Unknown;
    expect(withTrailing.refinements).toEqual({ notNull: true });
    expect(decodeMsgpack(bytes('c7 03 0c 81 01 c3'), 'string')).toBeNull();
    const stringBound = decodeMsgpack(bytes('c7 08 0c 81 03 92 a3 31 2e 35 c3'), 'number') as Unknown;
    expect(stringBound.refinements).toEqual({ numberLower: [1.5, true] });
    // Only unknown keys: nothing learned, so the shared plain unknown.
    expect(decodeMsgpack(bytes('c7 03 0c 81 09 c0'), 'string')).toBe(UNKNOWN);
  });

  test('numbers written as strings (too big or too precise for int64/float64)', () => {
    expect(decodeMsgpack(encode('12345678901234567890123'), 'number')).toBe(1.2345678901234568e22);
    expect(decodeMsgpack(encode('-0.1000000000000000000000001'), 'number')).toBe(-0.1);
    expect(decodeMsgpack(encode('1e400'), 'number')).toBe(Infinity);
    expect(() => decodeMsgpack(encode('12abc'), 'number')).toThrow('(root): expected number, got string "12abc"');
    expect(() => decodeMsgpack(encode(''), 'number')).toThrow(/expected number, got string ""/);
  });

  test('str and bin are interchangeable for strings and the dynamic type JSON, as in Go', () => {
    expect(decodeMsgpack(encode(new Uint8Array(Buffer.from('hi'))), 'string')).toBe('hi');
    const strTyped = decodeMsgpack(bytes('92 a8 22 73 74 72 69 6e 67 22 a1 78'), 'dynamic') as Dynamic;
    expect(strTyped).toEqual(new Dynamic('string', 'x'));
  });

  test('objects may omit attributes (null) but not add or repeat them', () => {
    const t: CtyType = { object: { a: 'string', b: 'number' } };
    const partial = decodeMsgpack(bytes('81 a1 61 a1 78'), t) as Record<string, CtyValue>;
    expect({ ...partial }).toEqual({ a: 'x', b: null });
    expect(decodeMsgpack(bytes('80'), t)).toEqual(Object.assign(Object.create(null), { a: null, b: null }));
    expect(() => decodeMsgpack(bytes('81 a1 63 01'), t)).toThrow('(root): unexpected attribute "c"');
    expect(() => decodeMsgpack(bytes('82 a1 61 a1 78 a1 61 a1 79'), t)).toThrow('(root): duplicate attribute "a"');
    expect(() => decodeMsgpack(bytes('81 01 01'), t)).toThrow('(root): attribute names must be strings, got number (integer)');
    expect(() => decodeMsgpack(bytes('82 a1 6b 01 a1 6b 02'), { map: 'number' })).toThrow('(root): duplicate map key "k"');
  });
});

describe('cty msgpack decoding of wrong or hostile input', () => {
  test('type mismatches name the attribute path', () => {
    const wrong = encode({ id: 'i', name: 'n', memory_mib: 1, running: true, labels: {}, ports: [], disk: [], timeouts: { create: true, delete: null }, extra: null });
    expect(() => decodeMsgpack(wrong, instanceType)).toThrow('.timeouts.create: expected string, got bool');
    const err = (() => {
      try {
        decodeMsgpack(wrong, instanceType);
      } catch (e) {
        return e as CtyPathError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(CtyPathError);
    expect(err!.path).toEqual([{ attribute: 'timeouts' }, { attribute: 'create' }]);
    expect(err!.reason).toBe('expected string, got bool');

    const badDisk = encode({
      disk: [
        { size_mib: 1, label: 'a', tags: ['x'] },
        { size_mib: 'big', label: 'b', tags: null },
      ],
    });
    expect(() => decodeMsgpack(badDisk, { object: { disk: { list: diskType } } })).toThrow('.disk[1].size_mib: expected number, got string "big"');
    expect(() => decodeMsgpack(encode({ env: 1 }), { map: 'string' })).toThrow('["env"]: expected string, got number (integer)');
    expect(() => decodeMsgpack(encode([1]), { tuple: ['number', 'number'] })).toThrow('(root): expected a tuple of 2 element(s), got 1');
    expect(() => decodeMsgpack(encode({}), { list: 'string' })).toThrow('(root): expected list, got map');
    expect(() => decodeMsgpack(encode(1.5), 'bool')).toThrow('(root): expected bool, got number (float)');
    expect(() => decodeMsgpack(encode([1, 2]), 'dynamic')).toThrow(/the type of a dynamic value must be JSON bytes, got number/);
    expect(() => decodeMsgpack(encode([new Uint8Array(Buffer.from('"strin"')), 'x']), 'dynamic')).toThrow(/unknown primitive type "strin"/);
    expect(() => decodeMsgpack(encode(['"string"']), 'dynamic')).toThrow(/2-element array/);
    expect(() => decodeMsgpack(encode({ extra: [new Uint8Array(Buffer.from('"number"')), 'x'] }), { object: { extra: 'dynamic' } })).toThrow('.extra: expected number, got string "x"');
  });

  test('every truncation of a valid encoding throws, with the path and offset', () => {
    const partly = { ...(instance() as object), id: UNKNOWN, name: new Unknown({ notNull: true, stringPrefix: 'w' }) };
    const valid = encodeMsgpack(partly, instanceType);
    expect(valid.length).toBeGreaterThan(100);
    for (let k = 0; k < valid.length; k++) {
      let message = '';
      try {
        decodeMsgpack(valid.subarray(0, k), instanceType);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(`${k}: ${message}`).toMatch(/^\d+: (\(root\)|[.[]\S*): .*(truncated|claims|offset)/);
    }
    expect(() => decodeMsgpack(valid, instanceType)).not.toThrow();
  });

  test('trailing bytes, 0xc1 and huge headers are refused', () => {
    expect(() => decodeMsgpack(bytes('a1 61 00'), 'string')).toThrow('(root): msgpack: 1 trailing byte(s) after the value at offset 2');
    expect(() => decodeMsgpack(bytes('c1'), 'string')).toThrow('(root): msgpack: reserved type byte 0xc1 at offset 0');
    expect(() => decodeMsgpack(bytes('81 a1 61 c1'), { object: { a: 'string' } })).toThrow('.a: msgpack: reserved type byte 0xc1 at offset 3');
    expect(() => decodeMsgpack(bytes('dd ff ff ff ff 00 00 00 00 00'), { list: 'string' })).toThrow(/array header claims 4294967295 element/);
    expect(() => decodeMsgpack(bytes('df ff ff ff ff a1 61 00'), { map: 'string' })).toThrow(/map header claims 4294967295 entries/);
    expect(() => decodeMsgpack(bytes('81 a1 61 db ff ff ff ff 61'), { object: { a: 'string' } })).toThrow(/^\.a: msgpack: truncated str 0xdb/);
    expect(() => decodeMsgpack(bytes('c9 ff ff ff ff 0c 81'), 'string')).toThrow(/truncated ext 0xc9/);
  });

  test('deeply nested dynamic values are an error, not a stack overflow', () => {
    // ["dynamic", ["dynamic", ... ]]: each level is a dynamic value whose recorded type is dynamic again.
    const level = bytes('92 c4 09' + Buffer.from('"dynamic"').toString('hex'));
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 5000; i++) parts.push(level);
    parts.push(bytes('a1 78'));
    expect(() => decodeMsgpack(concat(...parts), 'dynamic')).toThrow(/nested deeper than 256 levels/);
    // A few levels are fine: the innermost value is what comes back.
    expect(decodeMsgpack(concat(level, level, bytes('c0')), 'dynamic')).toBeNull();
  });

  test('encoding validates values against the type', () => {
    expect(() => encodeMsgpack({ a: 'x' }, { object: { a: 'number' } })).toThrow('.a: expected number, got string');
    expect(() => encodeMsgpack({ a: 1, zzz: 2 }, { object: { a: 'number' } })).toThrow('(root): unexpected attribute "zzz"');
    expect(() => encodeMsgpack([1, 'x'], { list: 'number' })).toThrow('[1]: expected number, got string');
    expect(() => encodeMsgpack(NaN, 'number')).toThrow('NaN is not a cty number');
    expect(() => encodeMsgpack([1], { tuple: ['number', 'number'] })).toThrow('expected a tuple of 2 element(s), got 1');
    expect(() => encodeMsgpack('x', { map: 'string' })).toThrow('(root): expected map, got string');
    expect(() => encodeMsgpack(new Unknown({ numberLower: [NaN, true] }), 'number')).toThrow(/number bound/);
    expect(() => encodeMsgpack(new Unknown({ lengthUpper: -1 }), { list: 'number' })).toThrow(/non-negative integer/);
  });
});

function instance(): CtyValue {
  return {
    id: 'i-1',
    name: 'web',
    memory_mib: 512,
    running: true,
    labels: { env: 'prod' },
    ports: [22, 80],
    disk: [{ size_mib: 1024, label: 'root', tags: ['boot'] }],
    timeouts: { create: '10m', delete: null },
    extra: new Dynamic({ list: 'number' }, [1, 2]),
  };
}

// ------------------------------------------------------------------------------------------------ type JSON

describe('type JSON', () => {
  const cases: [CtyType, string][] = [
    ['string', '"string"'],
    ['number', '"number"'],
    ['bool', '"bool"'],
    ['dynamic', '"dynamic"'],
    [{ list: 'string' }, '["list","string"]'],
    [{ set: { map: 'number' } }, '["set",["map","number"]]'],
    [{ tuple: ['string', { list: 'bool' }] }, '["tuple",["string",["list","bool"]]]'],
    [{ tuple: [] }, '["tuple",[]]'],
    [{ object: {} }, '["object",{}]'],
    [{ object: { b: 'string', a: { list: 'number' } } }, '["object",{"a":["list","number"],"b":"string"}]'],
    [{ object: { b: 'string', a: 'number', c: 'bool' }, optional: ['c', 'a'] }, '["object",{"a":"number","b":"string","c":"bool"},["a","c"]]'],
    // Go sorts keys as text, so "10" comes before "9" (JSON.stringify would put integer-like keys first, in numeric order).
    [{ object: { x: 'string', '9': 'string', '10': 'string' } }, '["object",{"10":"string","9":"string","x":"string"}]'],
    // Go compares UTF-8 bytes: U+FFFD (ef bf bd) sorts before U+1F600 (f0 ...), though UTF-16 order is the reverse.
    [{ object: { '\u{1f600}': 'string', '\ufffd': 'number' } }, '["object",{"\ufffd":"number","\u{1f600}":"string"}]'],
  ];

  test('text is what go-cty writes, and parses back to an equal type', () => {
    for (const [t, text] of cases) {
      expect(typeToJsonText(t)).toBe(text);
      expect(typeEquals(typeFromJsonText(text), t)).toBe(true);
      expect(typeEquals(typeFromJson(typeToJson(t)), t)).toBe(true);
      expect(typeEquals(typeFromJson(JSON.parse(JSON.stringify(typeToJson(t)))), t)).toBe(true);
    }
    expect(typeFromJsonText(new Uint8Array(Buffer.from('["map","bool"]')))).toEqual({ map: 'bool' });
  });

  test('typeEquals tells types apart', () => {
    expect(typeEquals({ list: 'string' }, { set: 'string' })).toBe(false);
    expect(typeEquals({ list: 'string' }, { list: 'number' })).toBe(false);
    expect(typeEquals({ object: { a: 'string' } }, { object: { a: 'string', b: 'string' } })).toBe(false);
    expect(typeEquals({ object: { a: 'string' } }, { object: { b: 'string' } })).toBe(false);
    expect(typeEquals({ object: { a: 'string' }, optional: ['a'] }, { object: { a: 'string' } })).toBe(false);
    expect(typeEquals({ object: { a: 'string' }, optional: [] }, { object: { a: 'string' } })).toBe(true);
    expect(typeEquals({ tuple: ['string'] }, { tuple: ['string', 'string'] })).toBe(false);
    expect(typeEquals('dynamic', 'string')).toBe(false);
  });

  test('bad type JSON is refused with a clear message', () => {
    const bad: [unknown, RegExp][] = [
      ['strin', /unknown primitive type "strin"/],
      [42, /expected a type name or a \[kind, \.\.\.\] array, got number/],
      [null, /got null/],
      [['list'], /"list" takes 2 elements, got 1/],
      [['list', 'string', 'x'], /"list" takes 2 elements, got 3/],
      [[1, 'string'], /first element of a complex type must be its kind name/],
      [['bag', 'string'], /unknown type kind "bag"/],
      [['object', ['a']], /object attribute types must be a JSON object, got array/],
      [['object', { a: 'string' }, ['b']], /optional attribute "b" is not an attribute/],
      [['object', { a: 'string' }, 'a'], /optional attributes must be an array/],
      [['tuple', 'string'], /tuple element types must be an array/],
      [['object', { a: ['list', 'strng'] }], /at \[1\]\["a"\]\[1\]: unknown primitive type "strng"/],
    ];
    for (const [j, message] of bad) expect(() => typeFromJson(j)).toThrow(message);
    expect(() => typeFromJsonText('["list",')).toThrow(/invalid type JSON/);
    let deep: unknown = 'string';
    for (let i = 0; i < 10000; i++) deep = ['list', deep];
    expect(() => typeFromJson(deep)).toThrow(/nested deeper than 64 levels/);
  });
});

// ------------------------------------------------------------------------------------------------ JSON state

describe('cty JSON (state) encoding', () => {
  test('round trip of a resource object, dynamic as {"value","type"}', () => {
    const v = instance();
    const text = encodeJson(v, instanceType);
    expect(JSON.parse(text).extra).toEqual({ value: [1, 2], type: ['list', 'number'] });
    const back = decodeJson(text, instanceType);
    expect(valueEquals(back, v, instanceType)).toBe(true);
    expect(decodeJson(new Uint8Array(Buffer.from(text)), instanceType)).toEqual(back);
    expect(encodeJson(back, instanceType)).toBe(text);
  });

  test('exact text for small values', () => {
    expect(encodeJson({ b: 1, a: ['x', null] }, { object: { a: { list: 'string' }, b: 'number' } })).toBe('{"a":["x",null],"b":1}');
    expect(encodeJson(new Dynamic('string', 'x'), 'dynamic')).toBe('{"value":"x","type":"string"}');
    expect(encodeJson(new Dynamic('string', null), 'dynamic')).toBe('{"value":null,"type":"string"}');
    expect(encodeJson(null, 'dynamic')).toBe('null');
    expect(encodeJson({ a: true }, 'dynamic')).toBe('{"value":{"a":true},"type":["object",{"a":"bool"}]}');
    expect(encodeJson({}, { object: { a: 'string' } })).toBe('{"a":null}');
  });

  test('unknowns and non-finite numbers cannot be written', () => {
    expect(() => encodeJson({ a: UNKNOWN }, { object: { a: 'string' } })).toThrow('.a: unknown values cannot be written as JSON');
    expect(() => encodeJson(UNKNOWN, 'dynamic')).toThrow('unknown values cannot be written as JSON');
    expect(() => encodeJson(Infinity, 'number')).toThrow('Infinity cannot be written as JSON');
  });

  test('decoding converts primitives as go-cty does and validates shapes', () => {
    expect(decodeJson('"12.5"', 'number')).toBe(12.5);
    expect(decodeJson('"true"', 'bool')).toBe(true);
    expect(decodeJson('"0"', 'bool')).toBe(false);
    expect(decodeJson('7', 'string')).toBe('7');
    expect(decodeJson('false', 'string')).toBe('false');
    expect(() => decodeJson('"yes"', 'bool')).toThrow('(root): expected bool, got string');
    expect(() => decodeJson('"x"', 'number')).toThrow('(root): expected number, got string');
    expect(() => decodeJson('{"a":1,"z":2}', { object: { a: 'number' } })).toThrow('(root): unexpected attribute "z"');
    expect(() => decodeJson('{"t":{"create":[]}}', { object: { t: timeoutsType } })).toThrow('.t.create: expected string, got array');
    expect(() => decodeJson('[1]', { tuple: ['number', 'number'] })).toThrow('expected a tuple of 2 element(s), got 1');
    expect(() => decodeJson('{"value":1}', 'dynamic')).toThrow('a dynamic value needs a "type"');
    expect(() => decodeJson('{"type":"number"}', 'dynamic')).toThrow('a dynamic value needs a "value"');
    expect(() => decodeJson('{"type":"number","value":1,"x":0}', 'dynamic')).toThrow('unexpected key "x" in a dynamic value');
    expect(() => decodeJson('{"type":"numbr","value":1}', 'dynamic')).toThrow(/unknown primitive type "numbr"/);
    expect(() => decodeJson('{', 'string')).toThrow(/invalid JSON/);
    const partial = decodeJson('{"a":"x"}', { object: { a: 'string', b: { list: 'number' } } });
    expect({ ...(partial as object) }).toEqual({ a: 'x', b: null });
    expect(decodeJsonValue({ value: { k: 1 }, type: ['map', 'number'] }, 'dynamic')).toEqual(new Dynamic({ map: 'number' }, Object.assign(Object.create(null), { k: 1 })));
  });

  test('"__proto__" as a map key in JSON is data', () => {
    const back = decodeJson('{"__proto__":"x","a":"y"}', { map: 'string' }) as Record<string, CtyValue>;
    expect(Object.keys(back)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(back)).toBeNull();
    expect(JSON.parse(encodeJson(back, { map: 'string' }))).toEqual(JSON.parse('{"__proto__":"x","a":"y"}'));
  });
});

// ------------------------------------------------------------------------------------------------ comparison

describe('valueEquals and containsUnknown', () => {
  test('sets compare unordered when the type says set; lists and tuples by position', () => {
    expect(valueEquals([1, 2, 3], [3, 1, 2], { set: 'number' })).toBe(true);
    expect(valueEquals([1, 2, 3], [3, 1, 2], { list: 'number' })).toBe(false);
    expect(valueEquals([1, 2, 3], [3, 1, 2])).toBe(false);
    expect(valueEquals([1, 2], [1, 2, 3], { set: 'number' })).toBe(false);
    const blocks: CtyType = { object: { disk: { set: diskType } } };
    const a = {
      disk: [
        { size_mib: 1, label: 'a', tags: ['x', 'y'] },
        { size_mib: 2, label: 'b', tags: [] },
      ],
    };
    const b = {
      disk: [
        { size_mib: 2, label: 'b', tags: [] },
        { size_mib: 1, label: 'a', tags: ['y', 'x'] },
      ],
    };
    expect(valueEquals(a, b, blocks)).toBe(true);
    expect(
      valueEquals(
        a,
        {
          disk: [
            { size_mib: 2, label: 'b', tags: [] },
            { size_mib: 1, label: 'A', tags: ['y', 'x'] },
          ],
        },
        blocks,
      ),
    ).toBe(false);
    expect(valueEquals([1, 'x'], [1, 'x'], { tuple: ['number', 'string'] })).toBe(true);
  });

  test('nulls, unknowns, absent attributes and dynamic values', () => {
    expect(valueEquals(null, null)).toBe(true);
    expect(valueEquals(null, 'x')).toBe(false);
    expect(valueEquals(UNKNOWN, new Unknown())).toBe(true);
    expect(valueEquals(UNKNOWN, null)).toBe(false);
    expect(valueEquals(new Unknown({ notNull: true }), UNKNOWN)).toBe(false);
    expect(valueEquals(new Unknown({ numberLower: [1, true] }), new Unknown({ numberLower: [1, false] }))).toBe(false);
    expect(valueEquals(new Unknown({ lengthLower: 0 }), UNKNOWN)).toBe(true);
    expect(valueEquals({ a: 1 }, { a: 1, b: null }, { object: { a: 'number', b: 'string' } })).toBe(true);
    expect(valueEquals({ a: 1 }, { a: 1, b: null }, { map: 'number' })).toBe(false);
    expect(valueEquals({ a: 1 }, { a: 2 })).toBe(false);
    expect(valueEquals(new Dynamic('string', 'x'), 'x', 'dynamic')).toBe(true);
    expect(valueEquals(new Dynamic('string', 'x'), new Dynamic('string', 'y'))).toBe(false);
    expect(valueEquals(new Dynamic({ list: 'string' }, ['a']), new Dynamic({ set: 'string' }, ['a']))).toBe(false);
    expect(valueEquals(new Dynamic({ set: 'number' }, [1, 2]), new Dynamic({ set: 'number' }, [2, 1]))).toBe(true);
  });

  test('containsUnknown looks everywhere and copes with any depth', () => {
    expect(containsUnknown(null)).toBe(false);
    expect(containsUnknown('x')).toBe(false);
    expect(containsUnknown(UNKNOWN)).toBe(true);
    expect(containsUnknown({ a: [1, { b: new Unknown({ notNull: true }) }] })).toBe(true);
    expect(containsUnknown({ a: [1, { b: 2 }] })).toBe(false);
    expect(containsUnknown(new Dynamic({ list: 'string' }, [UNKNOWN]))).toBe(true);
    let deep: CtyValue = [UNKNOWN];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(containsUnknown(deep)).toBe(true);
    expect(containsUnknown(new Array(200_000).fill(1))).toBe(false);
  });

  test('paths format as attribute, key and index steps', () => {
    expect(formatPath([])).toBe('(root)');
    expect(formatPath([{ attribute: 'disk' }, { index: 0 }, { attribute: 'tags' }, { key: 'a"b' }])).toBe('.disk[0].tags["a\\"b"]');
  });
});
