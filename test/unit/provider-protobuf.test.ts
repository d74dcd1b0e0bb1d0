// Our descriptor-driven proto3 codec (provider/protocol/protobuf.ts) against protobufjs, which reads the same
// .proto files independently: what one encodes the other must decode to the same values, in both directions,
// for the messages Terraform and go-plugin actually exchange. Then hostile input: truncation at every byte,
// huge length prefixes, group and reserved wire types, and nesting bombs must fail with a clear Error.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { repoRoot } from '../../provider/build';
import { GENERATED_TYPES_FILE, protoTypesSource } from '../../provider/protocol/proto-types';
import { encodeMsgpack } from '../../provider/protocol/cty';
import { PROTO_FILES, compileDescriptor, defaultProtoDir } from '../../provider/protocol/descriptor';
import { Descriptor, ProtoCodec } from '../../provider/protocol/protobuf';

type Obj = Record<string, unknown>;

const protoDir = defaultProtoDir();
let descriptor: Descriptor;
let codec: ProtoCodec;
let root: protobuf.Root;

beforeAll(() => {
  root = new protobuf.Root();
  // Sibling imports come from our directory; google/protobuf/* are bundled with protobufjs.
  root.resolvePath = (_origin: string, target: string) => (target.startsWith('google/') ? target : path.join(protoDir, path.basename(target)));
  root.loadSync(
    PROTO_FILES.map((f) => path.join(protoDir, f)),
    { keepCase: true },
  );
  root.resolveAll();
  descriptor = compileDescriptor();
  codec = new ProtoCodec(descriptor);
});

// ------------------------------------------------------------------------------------------- helpers

function pbType(name: string): protobuf.Type {
  return root.lookupType(name);
}

/** proto3 `optional` (a synthetic one-field oneof): absence is kept. */
function isProto3Optional(f: protobuf.Field): boolean {
  return !!f.partOf && (f.options?.proto3_optional === true || (f.partOf.name.startsWith('_') && f.partOf.oneof.length === 1));
}

/** A member of a real oneof (not a proto3 `optional`). */
function isOneofMember(f: protobuf.Field): boolean {
  return !!f.partOf && !isProto3Optional(f);
}

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function toNumber(x: unknown): unknown {
  if (typeof x === 'bigint') return Number(x);
  if (x && typeof x === 'object' && 'low' in x && 'high' in x) {
    const l = x as { low: number; high: number; unsigned: boolean };
    return new protobuf.util.LongBits(l.low >>> 0, l.high >>> 0).toNumber(l.unsigned);
  }
  return x;
}

function scalarDefault(f: protobuf.Field): unknown {
  if (f.resolvedType instanceof protobuf.Enum) return f.resolvedType.valuesById[0] ?? 0;
  switch (f.type) {
    case 'string':
      return '';
    case 'bytes':
      return Buffer.alloc(0);
    case 'bool':
      return false;
    default:
      return 0;
  }
}

function isScalarDefault(f: protobuf.Field, v: unknown): boolean {
  if (f.resolvedType instanceof protobuf.Type) return false;
  if (Buffer.isBuffer(v)) return v.length === 0;
  return v === scalarDefault(f) || v === 0;
}

/** One value of field `f` (an element, for repeated and map fields) in canonical form. */
function canonValue(f: protobuf.Field, x: unknown): unknown {
  const t = f.resolvedType;
  if (t instanceof protobuf.Type) return x === null || x === undefined ? null : canon(t, x as Obj);
  if (t instanceof protobuf.Enum) return typeof x === 'number' ? (t.valuesById[x] ?? x) : x;
  if (f.type === 'bytes') return Buffer.from(x as Uint8Array);
  if (INT64.has(f.type)) return toNumber(x);
  return x;
}

/**
 * The canonical form of a message, worked out from protobufjs' own reflection (independent of our descriptor):
 * every plain field present with its proto3 default when absent (null for messages), enums as names, bytes as
 * Buffer, int64 as number; proto3 `optional` fields present only when set. Members of a real oneof that hold
 * their default are dropped, because protobufjs leaves unset members out while our codec fills them in (a
 * oneof member set to its default value is covered by its own tests below).
 */
function canon(t: protobuf.Type, v: Obj | null | undefined): Obj {
  const src = v ?? {};
  const out: Obj = {};
  for (const f of t.fieldsArray) {
    f.resolve();
    const x = src[f.name];
    if (f.map) {
      const m: Obj = {};
      for (const [k, val] of Object.entries((x ?? {}) as Obj)) m[k] = canonValue(f, val);
      out[f.name] = m;
    } else if (f.repeated) {
      out[f.name] = ((x ?? []) as unknown[]).map((i) => canonValue(f, i));
    } else if (x === undefined || x === null) {
      if (f.partOf) continue;
      out[f.name] = f.resolvedType instanceof protobuf.Type ? null : scalarDefault(f);
    } else {
      const c = canonValue(f, x);
      if (isOneofMember(f) && isScalarDefault(f, c)) continue;
      out[f.name] = c;
    }
  }
  return out;
}

/**
 * Checks the exact shape our decoder promises, field by field: plain fields always present (defaults filled),
 * bytes as Buffer, int64 as number, known enum values as names, absent proto3 `optional` fields absent.
 * Unset oneof members may be absent or hold their default.
 */
function expectOurShape(t: protobuf.Type, v: Obj, where = t.fullName): void {
  for (const f of t.fieldsArray) {
    f.resolve();
    const at = `${where}.${f.name}`;
    const x = v[f.name];
    // proto3 `optional` fields, and members of a oneof (which protobufjs and proto-loader also leave out when
    // unset), may be absent; everything else must be there.
    if (f.partOf && x === undefined) {
      expect({ at, present: Object.prototype.hasOwnProperty.call(v, f.name) }).toEqual({ at, present: false });
      continue;
    }
    expect({ at, present: Object.prototype.hasOwnProperty.call(v, f.name) }).toEqual({ at, present: true });
    const each = (item: unknown): void => {
      const rt = f.resolvedType;
      if (rt instanceof protobuf.Type) {
        if (item !== null) expectOurShape(rt, item as Obj, at);
      } else if (rt instanceof protobuf.Enum) {
        expect({ at, kind: typeof item === 'string' || rt.valuesById[item as number] === undefined }).toEqual({ at, kind: true });
      } else if (f.type === 'bytes') {
        expect({ at, buffer: Buffer.isBuffer(item) }).toEqual({ at, buffer: true });
      } else if (f.type === 'string') {
        expect({ at, type: typeof item }).toEqual({ at, type: 'string' });
      } else if (f.type === 'bool') {
        expect({ at, type: typeof item }).toEqual({ at, type: 'boolean' });
      } else {
        expect({ at, type: typeof item }).toEqual({ at, type: 'number' });
      }
    };
    if (f.map) Object.values(x as Obj).forEach(each);
    else if (f.repeated) (x as unknown[]).forEach(each);
    else each(x);
  }
}

/** protobufjs' encoding of a plain value. */
function pbEncode(type: string, v: Obj): Buffer {
  const t = pbType(type);
  const problem = t.verify(t.fromObject(v));
  if (problem) throw new Error(`test value does not fit ${type}: ${problem}`);
  return Buffer.from(t.encode(t.fromObject(v)).finish());
}

/** protobufjs' decoding, as a plain object with int64 as numbers and enums as names. */
function pbDecode(type: string, bytes: Uint8Array): Obj {
  const t = pbType(type);
  return t.toObject(t.decode(bytes), { longs: Number, enums: String });
}

/** (a) ours → protobufjs and (b) protobufjs → ours, both against the canonical form of `value`. */
function crossCheck(type: string, value: Obj): { ours: Buffer; theirs: Buffer; decoded: Obj } {
  const t = pbType(type);
  const expected = canon(t, value);

  const ours = codec.encode(type, value);
  expect(canon(t, pbDecode(type, ours))).toEqual(expected);

  const theirs = pbEncode(type, value);
  const decoded = codec.decode(type, theirs);
  expect(canon(t, decoded)).toEqual(expected);
  expectOurShape(t, decoded);

  // And our own round trip.
  expect(canon(t, codec.decode(type, ours))).toEqual(expected);
  return { ours, theirs, decoded };
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function varint(n: number | bigint): Buffer {
  let b = BigInt(n);
  const out: number[] = [];
  while (b >= 0x80n) {
    out.push(Number(b & 0x7fn) | 0x80);
    b >>= 7n;
  }
  out.push(Number(b));
  return Buffer.from(out);
}

const tag = (id: number, wt: number): Buffer => varint(id * 8 + wt);
const lenField = (id: number, body: Buffer): Buffer => Buffer.concat([tag(id, 2), varint(body.length), body]);

// ------------------------------------------------------------------------------------------- values

function attribute(name: string, type: unknown, extra: Obj = {}): Obj {
  return { name, type: json(type), description: `The ${name}.`, description_kind: 'MARKDOWN', ...extra };
}

/** A provider schema response as our framework builds it, with some of everything the message can hold. */
function schemaResponse(): Obj {
  const timeouts = {
    type_name: 'timeouts',
    nesting: 'SINGLE',
    block: { version: 0, attributes: [attribute('create', 'string', { optional: true })], description: 'Time limits.', description_kind: 'MARKDOWN' },
  };
  return {
    provider: {
      version: 0,
      block: {
        version: 0,
        description: 'The provider.',
        description_kind: 'MARKDOWN',
        attributes: [attribute('endpoint', 'string', { optional: true }), attribute('token', 'string', { optional: true, sensitive: true })],
        block_types: [
          {
            type_name: 'peer',
            nesting: 'LIST',
            min_items: 0,
            max_items: 8,
            block: { version: 0, attributes: [attribute('name', 'string', { required: true })], block_types: [], description: 'A peer.', description_kind: 'PLAIN' },
          },
        ],
      },
    },
    resource_schemas: {
      cloudlet_instance: {
        version: 3,
        block: {
          version: 3,
          description: 'An instance — with ünïcødé.',
          description_kind: 'MARKDOWN',
          deprecated: true,
          attributes: [
            attribute('power_state', 'string', { optional: true, computed: true }),
            attribute('timings', ['map', 'number'], { computed: true }),
            attribute('disks', ['list', ['object', { size: 'number' }]], { computed: true, deprecated: true, write_only: true }),
            {
              name: 'nested',
              type: Buffer.alloc(0),
              nested_type: { nesting: 'LIST', min_items: 2 ** 40, max_items: -(2 ** 40), attributes: [attribute('inner', 'bool', { required: true })] },
              description: '',
              description_kind: 'PLAIN',
              optional: true,
            },
          ],
          block_types: [timeouts, { type_name: 'disk', nesting: 'SET', min_items: 1, max_items: 2 ** 40, block: { version: -1, attributes: [], block_types: [timeouts] } }],
        },
      },
      cloudlet_overlay: { version: 0, block: { version: 0, attributes: [attribute('id', 'string', { computed: true })], description: 'Overlay', description_kind: 'MARKDOWN' } },
      '': {},
    },
    data_source_schemas: { cloudlet_engine: { version: 0, block: { version: 0, attributes: [attribute('version', 'string', { computed: true })] } } },
    diagnostics: [
      { severity: 'WARNING', summary: 'Deprecated', detail: 'Use something else.' },
      { severity: 'ERROR', summary: 'Broken', detail: '', attribute: { steps: [{ attribute_name: 'peer' }, { element_key_int: 3 }, { attribute_name: 'name' }] } },
    ],
    provider_meta: { version: 0, block: null },
    server_capabilities: { plan_destroy: true, get_provider_schema_optional: false, move_resource_state: true },
    functions: {
      parse: {
        parameters: [{ name: 'text', type: json('string'), allow_null_value: true, allow_unknown_values: false, description: 'Text.', description_kind: 'PLAIN' }],
        variadic_parameter: { name: 'rest', type: json('dynamic'), description_kind: 'MARKDOWN' },
        return: { type: json(['list', 'number']) },
        summary: 'Parses.',
        description: 'Parses text.',
        description_kind: 'MARKDOWN',
        deprecation_message: 'Old.',
      },
    },
    ephemeral_resource_schemas: {},
  };
}

function diagnosticWithPath(): Obj {
  return {
    severity: 'ERROR',
    summary: 'Invalid value for endpoint',
    detail: 'expected http://HOST:PORT',
    attribute: {
      steps: [
        { attribute_name: 'peer' },
        { element_key_int: 7 },
        { attribute_name: 'tags' },
        { element_key_string: 'env' },
        { element_key_int: -2 },
        { element_key_int: 2 ** 40 },
        { element_key_string: 'ünï ✓' },
      ],
    },
  };
}

function planRequest(): Obj {
  const type = { object: { name: 'string', size: 'number', tags: { map: 'string' } } } as const;
  return {
    type_name: 'cloudlet_instance',
    prior_state: { msgpack: Buffer.from(encodeMsgpack({ name: 'web', size: 2, tags: { env: 'prod' } }, type)) },
    proposed_new_state: { msgpack: Buffer.from(encodeMsgpack({ name: 'web', size: 4, tags: null }, type)) },
    config: { json: json({ name: 'web', size: 4, tags: null }) },
    prior_private: allBytes,
    client_capabilities: { deferral_allowed: true, write_only_attributes_allowed: false },
  };
}

function planResponse(): Obj {
  return {
    planned_state: { msgpack: Buffer.from(encodeMsgpack({ name: 'web', size: 4 }, { object: { name: 'string', size: 'number' } })), json: json({ a: 1 }) },
    requires_replace: [{ steps: [{ attribute_name: 'name' }] }, { steps: [{ attribute_name: 'disk' }, { element_key_int: 3 }, { attribute_name: 'size' }] }, { steps: [] }],
    planned_private: Buffer.from('{"v":1}'),
    diagnostics: [{ severity: 'WARNING', summary: 'w', detail: 'd', attribute: { steps: [{ element_key_string: 'k' }] } }],
    legacy_type_system: false,
    deferred: { reason: 'ABSENT_PREREQ' },
  };
}

// ------------------------------------------------------------------------------------------- tests

describe('descriptor', () => {
  test('has every message, enum and service protobufjs sees', () => {
    const messages: string[] = [];
    const enums: string[] = [];
    const services: string[] = [];
    const walk = (ns: protobuf.NamespaceBase): void => {
      for (const o of ns.nestedArray) {
        const name = o.fullName.replace(/^\./, '');
        if (o instanceof protobuf.Type) messages.push(name);
        else if (o instanceof protobuf.Enum) enums.push(name);
        else if (o instanceof protobuf.Service) services.push(name);
        if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) walk(o);
      }
    };
    walk(root);
    expect(Object.keys(descriptor.messages).sort()).toEqual(messages.sort());
    expect(Object.keys(descriptor.enums).sort()).toEqual(enums.sort());
    expect(Object.keys(descriptor.services).sort()).toEqual(services.sort());
    expect(messages).toContain('google.protobuf.Timestamp');
    expect(Object.keys(descriptor.services['tfplugin6.Provider'])).toHaveLength(20);
    expect(descriptor.services['plugin.GRPCStdio'].StreamStdio).toEqual({ request: 'google.protobuf.Empty', response: 'plugin.StdioData', serverStream: true, clientStream: false });
  });

  test('marks maps, repeated fields and proto3 optional fields as protobufjs reads them', () => {
    const field = (m: string, f: string) => descriptor.messages[m].fields.find((x) => x.name === f);
    expect(field('tfplugin6.GetProviderSchema.Response', 'resource_schemas')).toEqual({ name: 'resource_schemas', id: 2, type: 'tfplugin6.Schema', keyType: 'string' });
    expect(field('tfplugin6.RawState', 'flatmap')).toEqual({ name: 'flatmap', id: 2, type: 'string', keyType: 'string' });
    expect(field('tfplugin6.PlanResourceChange.Response', 'requires_replace')).toEqual({ name: 'requires_replace', id: 2, type: 'tfplugin6.AttributePath', repeated: true });
    expect(field('tfplugin6.OpenEphemeralResource.Response', 'renew_at')).toEqual({ name: 'renew_at', id: 2, type: 'google.protobuf.Timestamp', optional: true });
    expect(field('tfplugin6.FunctionError', 'function_argument')).toEqual({ name: 'function_argument', id: 2, type: 'int64', optional: true });
    expect(field('tfplugin6.Schema.NestedBlock', 'nesting')?.type).toBe('tfplugin6.Schema.NestedBlock.NestingMode');
    expect(descriptor.enums['tfplugin6.StringKind']).toEqual({ PLAIN: 0, MARKDOWN: 1 });
  });
});

describe('agreement with protobufjs', () => {
  test('GetProviderSchema.Response: nested schemas, map<string, Schema>, enums, int64 extremes', () => {
    const { decoded } = crossCheck('tfplugin6.GetProviderSchema.Response', schemaResponse());
    const inst = (decoded.resource_schemas as Obj).cloudlet_instance as Obj;
    const block = inst.block as Obj;
    expect(block.description_kind).toBe('MARKDOWN');
    expect(((block.block_types as Obj[])[1].block as Obj).version).toBe(-1);
    expect((block.block_types as Obj[]).map((b) => b.nesting)).toEqual(['SINGLE', 'SET']);
    const nested = (block.attributes as Obj[])[3].nested_type as Obj;
    expect(nested).toMatchObject({ nesting: 'LIST', min_items: 2 ** 40, max_items: -(2 ** 40) });
    expect(JSON.parse(String((block.attributes as Obj[])[1].type))).toEqual(['map', 'number']);
    // An empty Schema as a map value, and the empty-string key, survive.
    expect((decoded.resource_schemas as Obj)['']).toEqual({ version: 0, block: null });
    expect(decoded.provider_meta).toEqual({ version: 0, block: null });
    expect(decoded.ephemeral_resource_schemas).toEqual({});
  });

  test('enum values given as numbers encode like names; unknown enum numbers pass through as numbers', () => {
    const byName = codec.encode('tfplugin6.Schema.NestedBlock', { type_name: 'x', nesting: 'LIST' });
    const byNumber = codec.encode('tfplugin6.Schema.NestedBlock', { type_name: 'x', nesting: 2 });
    expect(byNumber).toEqual(byName);
    expect(pbDecode('tfplugin6.Schema.NestedBlock', byName).nesting).toBe('LIST');
    // A value added in a later protocol version than ours.
    const future = Buffer.concat([lenField(1, Buffer.from('x')), tag(3, 0), varint(9)]);
    expect(codec.decode('tfplugin6.Schema.NestedBlock', future).nesting).toBe(9);
    expect(pbDecode('tfplugin6.Schema.NestedBlock', future).nesting).toBe(9);
    expect(() => codec.encode('tfplugin6.Schema.NestedBlock', { nesting: 'SIDEWAYS' })).toThrow(/SIDEWAYS/);
  });

  test('Diagnostic with an AttributePath mixing attribute names, string keys and int keys (oneof)', () => {
    const { ours, decoded } = crossCheck('tfplugin6.Diagnostic', diagnosticWithPath());
    const steps = (decoded.attribute as Obj).steps as Obj[];
    expect(steps).toHaveLength(7);
    expect(steps[1].element_key_int).toBe(7);
    expect(steps[4].element_key_int).toBe(-2);
    expect(steps[5].element_key_int).toBe(2 ** 40);
    expect(steps[6].element_key_string).toBe('ünï ✓');
    // protobufjs sees which member of the oneof each step selects.
    const pb = pbType('tfplugin6.Diagnostic').toObject(pbType('tfplugin6.Diagnostic').decode(ours), { oneofs: true, longs: Number }) as { attribute: { steps: { selector: string }[] } };
    expect(pb.attribute.steps.map((s) => s.selector)).toEqual([
      'attribute_name',
      'element_key_int',
      'attribute_name',
      'element_key_string',
      'element_key_int',
      'element_key_int',
      'element_key_string',
    ]);
  });

  test('a oneof member holding its default value is still encoded (a diagnostic on list element 0)', () => {
    // Diagnostics point at `peer[0].name` as steps [peer, 0, name]; dropping the 0 leaves a step with no selector.
    const ours = codec.encode('tfplugin6.AttributePath', { steps: [{ attribute_name: 'peer' }, { element_key_int: 0 }, { attribute_name: 'name' }, { element_key_string: '' }] });
    const t = pbType('tfplugin6.AttributePath');
    const pb = t.toObject(t.decode(ours), { oneofs: true, longs: Number }) as { steps: Obj[] };
    expect(pb.steps).toEqual([
      { attribute_name: 'peer', selector: 'attribute_name' },
      { element_key_int: 0, selector: 'element_key_int' },
      { attribute_name: 'name', selector: 'attribute_name' },
      { element_key_string: '', selector: 'element_key_string' },
    ]);
  });

  test('our decoder tells which oneof member is set, even when it holds its default value', () => {
    const decodeStep = (step: Obj): Obj => (codec.decode('tfplugin6.AttributePath', pbEncode('tfplugin6.AttributePath', { steps: [step] })).steps as Obj[])[0];
    const index0 = decodeStep({ element_key_int: 0 });
    const emptyName = decodeStep({ attribute_name: '' });
    const emptyKey = decodeStep({ element_key_string: '' });
    // Three different paths on the wire; they must not decode to the same object.
    expect(index0).not.toEqual(emptyName);
    expect(emptyKey).not.toEqual(emptyName);
    expect(index0.element_key_int).toBe(0);
  });

  test('PlanResourceChange.Request and Response: DynamicValue bytes, repeated AttributePath, every byte value', () => {
    const req = crossCheck('tfplugin6.PlanResourceChange.Request', planRequest()).decoded;
    expect(Buffer.isBuffer(req.prior_private)).toBe(true);
    expect(req.prior_private).toEqual(allBytes);
    expect(req.provider_meta).toBeNull();
    expect(((req.config as Obj).msgpack as Buffer).length).toBe(0);
    expect(JSON.parse(String((req.config as Obj).json))).toEqual({ name: 'web', size: 4, tags: null });

    const res = crossCheck('tfplugin6.PlanResourceChange.Response', planResponse()).decoded;
    expect((res.requires_replace as Obj[]).map((p) => (p.steps as Obj[]).length)).toEqual([1, 3, 0]);
    expect(res.deferred).toEqual({ reason: 'ABSENT_PREREQ' });
  });

  test('OpenEphemeralResource.Response: proto3 optional Timestamp and bytes, set and unset', () => {
    const t = 'tfplugin6.OpenEphemeralResource.Response';
    const set = crossCheck(t, { renew_at: { seconds: 1767225600, nanos: 999999999 }, private: Buffer.from('secret'), result: { msgpack: Buffer.from([0xc0]) } });
    expect(set.decoded.renew_at).toEqual({ seconds: 1767225600, nanos: 999999999 });
    expect(set.decoded.private).toEqual(Buffer.from('secret'));

    // Set to their defaults: presence must survive (an empty Timestamp is the epoch, not "no renewal").
    const zero = crossCheck(t, { renew_at: { seconds: 0, nanos: 0 }, private: Buffer.alloc(0) });
    expect(zero.decoded.renew_at).toEqual({ seconds: 0, nanos: 0 });
    expect(Buffer.isBuffer(zero.decoded.private) && zero.decoded.private.length).toBe(0);
    expect(zero.ours.length).toBeGreaterThan(0);
    const pb = pbType(t).toObject(pbType(t).decode(zero.ours));
    expect(Object.keys(pb).sort()).toEqual(['private', 'renew_at']);

    const unset = crossCheck(t, { diagnostics: [{ severity: 'ERROR', summary: 'No such ephemeral resource', detail: '' }] });
    expect(Object.prototype.hasOwnProperty.call(unset.decoded, 'renew_at')).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(unset.decoded, 'private')).toBe(false);
    expect(unset.decoded.result).toBeNull();
    expect(unset.decoded.deferred).toBeNull();

    // A timestamp before the epoch: negative int64 seconds.
    const before = crossCheck(t, { renew_at: { seconds: -(2 ** 40), nanos: 1 } });
    expect(before.decoded.renew_at).toEqual({ seconds: -(2 ** 40), nanos: 1 });
  });

  test('UpgradeResourceState.Request: RawState flatmap map<string,string>, int64 versions -1, -2^40, 2^40', () => {
    const flatmap = { id: 'i-123', 'tags.%': '2', 'tags.env': 'prod', 'tags.empty': '', 'ünï.✓': 'ÿ\u0000z' };
    for (const version of [0, 1, -1, -(2 ** 40), 2 ** 40, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
      const { ours, decoded } = crossCheck('tfplugin6.UpgradeResourceState.Request', { type_name: 'cloudlet_instance', version, raw_state: { json: json({ id: 'i-123' }), flatmap } });
      expect(decoded.version).toBe(version);
      expect((decoded.raw_state as Obj).flatmap).toEqual(flatmap);
      // Negative int64 travel as ten-byte two's complement varints, as every protobuf implementation writes them.
      if (version < 0) {
        const twosComplement = varint(BigInt.asUintN(64, BigInt(version)));
        expect(twosComplement).toHaveLength(10);
        expect(ours.includes(Buffer.concat([tag(2, 0), twosComplement]))).toBe(true);
      }
    }
  });

  test('FunctionError.function_argument: optional int64, unset, zero and negative', () => {
    const t = 'tfplugin6.CallFunction.Response';
    const unset = crossCheck(t, { error: { text: 'no such function' } }).decoded;
    expect(Object.prototype.hasOwnProperty.call(unset.error as Obj, 'function_argument')).toBe(false);
    expect(unset.result).toBeNull();
    for (const n of [0, 3, -1, -(2 ** 40), 2 ** 40]) {
      const d = crossCheck(t, { result: { msgpack: Buffer.from([0xa1, 0x78]) }, error: { text: 'bad', function_argument: n } }).decoded;
      expect((d.error as Obj).function_argument).toBe(n);
    }
  });

  test('health HealthCheckResponse enum and the go-plugin controller messages', () => {
    for (const status of ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN']) {
      expect(crossCheck('grpc.health.v1.HealthCheckResponse', { status }).decoded.status).toBe(status);
    }
    expect(codec.encode('grpc.health.v1.HealthCheckResponse', { status: 'SERVING' })).toEqual(Buffer.from([0x08, 0x01]));
    expect(codec.encode('grpc.health.v1.HealthCheckResponse', { status: 'UNKNOWN' })).toEqual(Buffer.alloc(0));
    expect(crossCheck('grpc.health.v1.HealthCheckRequest', { service: 'plugin' }).decoded).toEqual({ service: 'plugin' });
    expect(crossCheck('plugin.StdioData', { channel: 'STDERR', data: Buffer.from('log line\n') }).decoded).toEqual({ channel: 'STDERR', data: Buffer.from('log line\n') });
    expect(codec.decode('plugin.Empty', Buffer.alloc(0))).toEqual({});
    expect(codec.encode('tfplugin6.StopProvider.Response', { Error: '' })).toEqual(Buffer.alloc(0));
  });

  test('an empty buffer decodes to all proto3 defaults', () => {
    expect(codec.decode('tfplugin6.Schema.Attribute', Buffer.alloc(0))).toEqual({
      name: '',
      type: Buffer.alloc(0),
      nested_type: null,
      description: '',
      required: false,
      optional: false,
      computed: false,
      sensitive: false,
      description_kind: 'PLAIN',
      deprecated: false,
      write_only: false,
    });
    expect(codec.decode('tfplugin6.RawState', Buffer.alloc(0))).toEqual({ json: Buffer.alloc(0), flatmap: {} });
    expect(codec.decode('tfplugin6.GetMetadata.Response', Buffer.alloc(0))).toEqual({
      server_capabilities: null,
      diagnostics: [],
      data_sources: [],
      resources: [],
      functions: [],
      ephemeral_resources: [],
    });
  });

  test('defaults are left out of the encoding, as proto3 requires, and protobufjs agrees byte for byte', () => {
    const v = { name: '', type: Buffer.alloc(0), required: false, description_kind: 'PLAIN', nested_type: null };
    expect(codec.encode('tfplugin6.Schema.Attribute', v)).toEqual(Buffer.alloc(0));
    // Field order and varint forms are the same as protobufjs', so the bytes are too.
    const simple = { severity: 'WARNING', summary: 'héllo', detail: 'x'.repeat(300), attribute: { steps: [{ attribute_name: 'a' }, { element_key_int: 5 }] } };
    expect(codec.encode('tfplugin6.Diagnostic', simple).toString('hex')).toBe(pbEncode('tfplugin6.Diagnostic', simple).toString('hex'));
  });
});

describe('unknown fields', () => {
  /** One unknown field of each wire type, with field numbers no message here uses. */
  const unknowns = Buffer.concat([
    tag(15, 0),
    varint(2n ** 63n),
    tag(16, 1),
    Buffer.alloc(8, 0xab),
    lenField(1000, Buffer.from('future field')),
    tag(2 ** 29 - 1, 5),
    Buffer.alloc(4, 0xcd),
    lenField(17, Buffer.alloc(0)),
  ]);

  test('are skipped at the top level, in nested messages and inside map entries', () => {
    const value = schemaResponse();
    const base = codec.encode('tfplugin6.GetProviderSchema.Response', value);
    const expected = codec.decode('tfplugin6.GetProviderSchema.Response', base);

    // Before, between and after the known fields.
    expect(codec.decode('tfplugin6.GetProviderSchema.Response', Buffer.concat([unknowns, base, unknowns]))).toEqual(expected);

    // Inside a map entry (next to key and value) and inside the Schema value of that entry.
    const schema = codec.encode('tfplugin6.Schema', { version: 2, block: { version: 2, description: 'd' } });
    const entry = Buffer.concat([unknowns, lenField(1, Buffer.from('thing')), unknowns, lenField(2, Buffer.concat([unknowns, schema, unknowns]))]);
    const withEntry = Buffer.concat([base, lenField(2, entry)]);
    const got = codec.decode('tfplugin6.GetProviderSchema.Response', withEntry);
    const thing = (got.resource_schemas as Obj).thing as Obj;
    expect(thing.version).toBe(2);
    expect((thing.block as Obj).description).toBe('d');
    expect(canon(pbType('tfplugin6.GetProviderSchema.Response'), got)).toEqual(canon(pbType('tfplugin6.GetProviderSchema.Response'), pbDecode('tfplugin6.GetProviderSchema.Response', withEntry)));
  });

  test('a message protobufjs wrote with fields from a newer protocol decodes to the fields we know', () => {
    const steps = Buffer.concat([lenField(1, Buffer.concat([lenField(1, Buffer.from('name')), unknowns]))]);
    const diag = Buffer.concat([tag(1, 0), varint(1), unknowns, lenField(4, steps), lenField(2, Buffer.from('sum'))]);
    const d = codec.decode('tfplugin6.Diagnostic', diag);
    expect(d.severity).toBe('ERROR');
    expect(d.summary).toBe('sum');
    expect(((d.attribute as Obj).steps as Obj[])[0].attribute_name).toBe('name');
  });
});

describe('hostile input', () => {
  function expectClearError(fn: () => unknown): Error {
    let thrown: unknown;
    try {
      fn();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toMatch(/^protobuf: /);
    return thrown as Error;
  }

  test.each([
    ['tfplugin6.GetProviderSchema.Response', schemaResponse],
    ['tfplugin6.PlanResourceChange.Request', planRequest],
    ['tfplugin6.PlanResourceChange.Response', planResponse],
    ['tfplugin6.Diagnostic', diagnosticWithPath],
    ['tfplugin6.OpenEphemeralResource.Response', () => ({ renew_at: { seconds: 5, nanos: -1 }, private: Buffer.from('p') })],
  ] as [string, () => Obj][])('%s truncated at every byte: decodes to exactly the complete fields, or throws a clear Error', (type, make) => {
    const full = codec.encode(type, make());
    const t = pbType(type);
    let decodedPrefixes = 0;
    for (let n = 0; n < full.length; n++) {
      const prefix = full.subarray(0, n);
      let ours: Obj | undefined;
      let oursError: unknown;
      try {
        ours = codec.decode(type, prefix);
      } catch (e) {
        oursError = e;
      }
      if (oursError !== undefined) {
        expect(oursError).toBeInstanceOf(Error);
        expect({ n, message: (oursError as Error).message }).toEqual({ n, message: expect.stringMatching(/^protobuf: /) });
        continue;
      }
      decodedPrefixes++;
      // A prefix decodes only when it ends between two complete top-level fields: then it is exactly the
      // encoding of what was decoded (our encoder writes fields in a fixed order), nothing half-read.
      expect({ n, reencoded: codec.encode(type, ours!).toString('hex') }).toEqual({ n, reencoded: prefix.toString('hex') });
      // And protobufjs reads the same values from it.
      expect({ n, ours: canon(t, ours) }).toEqual({ n, ours: canon(t, pbDecode(type, prefix)) });
    }
    expect(decodedPrefixes).toBeGreaterThan(0);
    expect(decodedPrefixes).toBeLessThan(full.length / 4);
  });

  test('a string whose length runs past the end throws (protobufjs would silently cut it short)', () => {
    const cut = Buffer.concat([tag(1, 2), varint(10), Buffer.from('plug')]);
    expect(expectClearError(() => codec.decode('grpc.health.v1.HealthCheckRequest', cut)).message).toMatch(/length of 10 runs past the end/);
    expect(pbDecode('grpc.health.v1.HealthCheckRequest', cut)).toEqual({ service: 'plug' });
    // The same inside a nested message: the outer length is right, the inner string's is not.
    const inner = Buffer.concat([tag(2, 2), varint(50), Buffer.from('summary')]);
    expectClearError(() => codec.decode('tfplugin6.ValidateResourceConfig.Response', lenField(1, inner)));
  });

  test('single-byte corruption anywhere either decodes or throws a clear Error, never anything else', () => {
    const full = codec.encode('tfplugin6.GetProviderSchema.Response', schemaResponse());
    for (let i = 0; i < full.length; i++) {
      for (const b of [0x00, 0x01, 0x07, 0x7f, 0x80, 0xff]) {
        const bad = Buffer.from(full);
        bad[i] = b;
        try {
          codec.decode('tfplugin6.GetProviderSchema.Response', bad);
        } catch (e) {
          expect({ i, b, message: (e as Error).message, isError: e instanceof Error }).toEqual({ i, b, message: expect.stringMatching(/^protobuf: /), isError: true });
        }
      }
    }
  });

  test('a length prefix of 2^31 in a 10-byte buffer throws without allocating', () => {
    // field 1 (bytes msgpack), length 2^31, then 4 bytes.
    const huge = Buffer.concat([tag(1, 2), varint(2 ** 31), Buffer.from([1, 2, 3, 4])]);
    expect(huge).toHaveLength(10);
    const before = process.memoryUsage().arrayBuffers;
    const started = Date.now();
    expect(expectClearError(() => codec.decode('tfplugin6.DynamicValue', huge)).message).toMatch(/2147483648.*past the end/);
    // The same length on a string field, a message field, a map field and an unknown field.
    expectClearError(() => codec.decode('grpc.health.v1.HealthCheckRequest', huge));
    expectClearError(() => codec.decode('tfplugin6.Diagnostic', Buffer.concat([tag(4, 2), varint(2 ** 31), Buffer.alloc(4)])));
    expectClearError(() => codec.decode('tfplugin6.RawState', Buffer.concat([tag(2, 2), varint(2 ** 31), Buffer.alloc(4)])));
    expectClearError(() => codec.decode('plugin.Empty', huge));
    // And the largest length a varint can spell.
    expectClearError(() => codec.decode('tfplugin6.DynamicValue', Buffer.concat([tag(1, 2), varint(2n ** 64n - 1n)])));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  test('truncated and overlong varints throw', () => {
    expect(expectClearError(() => codec.decode('tfplugin6.UpgradeResourceState.Request', Buffer.from([0x10, 0xff, 0xff]))).message).toMatch(/truncated varint/);
    expect(expectClearError(() => codec.decode('tfplugin6.UpgradeResourceState.Request', Buffer.concat([Buffer.from([0x10]), Buffer.alloc(11, 0xff), Buffer.from([0x01])]))).message).toMatch(
      /longer than 10 bytes/,
    );
    // A key that is itself a truncated varint.
    expectClearError(() => codec.decode('plugin.Empty', Buffer.from([0x80])));
    // Fixed-width fields cut short.
    expectClearError(() => codec.decode('plugin.Empty', Buffer.concat([tag(9, 1), Buffer.alloc(7)])));
    expectClearError(() => codec.decode('plugin.Empty', Buffer.concat([tag(9, 5), Buffer.alloc(3)])));
  });

  test.each([3, 4, 6, 7])('wire type %i throws, on an unknown field', (wt) => {
    expect(expectClearError(() => codec.decode('grpc.health.v1.HealthCheckResponse', Buffer.concat([tag(9, wt), Buffer.from([0x00, 0x00])]))).message).toMatch(/wire type/);
  });

  test.each([3, 4, 6, 7])('wire type %i throws, on a known field', (wt) => {
    // Field 1 of HealthCheckResponse is the status enum; a varint follows, so an unchecked decoder would read SERVING.
    expect(expectClearError(() => codec.decode('grpc.health.v1.HealthCheckResponse', Buffer.concat([tag(1, wt), Buffer.from([0x01])]))).message).toMatch(/wire type/);
    // A known string field and a known message field too.
    expectClearError(() => codec.decode('grpc.health.v1.HealthCheckRequest', Buffer.concat([tag(1, wt), Buffer.from([0x01, 0x41])])));
    expectClearError(() => codec.decode('tfplugin6.Diagnostic', Buffer.concat([tag(4, wt), Buffer.from([0x00])])));
  });

  test('a known field arriving with another wire type is not misread as its declared type', () => {
    // HealthCheckRequest.service (a string) sent as a varint 2, followed by an unknown varint field 2. Read as a
    // string it would swallow the next field's bytes ("\x10\x01"); it must throw, or be skipped as go's
    // protobuf does with a mismatched wire type.
    const bytes = Buffer.concat([tag(1, 0), varint(2), tag(2, 0), varint(1)]);
    let got: Obj | undefined;
    try {
      got = codec.decode('grpc.health.v1.HealthCheckRequest', bytes);
    } catch (e) {
      expect((e as Error).message).toMatch(/^protobuf: .*wire type/);
      return;
    }
    expect(got).toEqual({ service: '' });
  });

  /** Schema.Block → NestedBlock → Block → …, `levels` messages below the top-level Block, built inside out. */
  function nestedBlocks(levels: number): Buffer {
    const prefixes: Buffer[] = [];
    let len = 0;
    for (let level = levels; level >= 1; level--) {
      // A NestedBlock (odd levels) sits in Block.block_types (3); a Block (even levels) in NestedBlock.block (2).
      const prefix = Buffer.concat([tag(level % 2 === 1 ? 3 : 2, 2), varint(len)]);
      prefixes.push(prefix);
      len += prefix.length;
    }
    return Buffer.concat(prefixes.reverse());
  }

  test('nesting up to 64 levels decodes; deeper than 64 throws', () => {
    const depthOf = (b: Obj): number => {
      let depth = 0;
      let cur: Obj | null = b;
      for (;;) {
        const next: Obj | null | undefined = depth % 2 === 0 ? ((cur.block_types as Obj[] | undefined) ?? [])[0] : (cur.block as Obj | null);
        if (!next) return depth;
        cur = next;
        depth++;
      }
    };
    const ok = nestedBlocks(64);
    expect(depthOf(codec.decode('tfplugin6.Schema.Block', ok))).toBe(64);
    // protobufjs reads the same structure.
    expect(depthOf(pbDecode('tfplugin6.Schema.Block', ok))).toBe(64);
    expect(expectClearError(() => codec.decode('tfplugin6.Schema.Block', nestedBlocks(65))).message).toMatch(/nested too deeply/);
  });

  test('a nesting bomb 100000 levels deep throws the depth error, not a stack overflow', () => {
    const bomb = nestedBlocks(100000);
    expect(expectClearError(() => codec.decode('tfplugin6.Schema.Block', bomb)).message).toMatch(/nested too deeply/);
    // Also inside a map value: GetProviderSchema.Response.resource_schemas["x"].block → …
    const schema = Buffer.concat([lenField(2, nestedBlocks(200))]);
    const entry = Buffer.concat([lenField(1, Buffer.from('x')), lenField(2, schema)]);
    expect(expectClearError(() => codec.decode('tfplugin6.GetProviderSchema.Response', lenField(2, entry))).message).toMatch(/nested too deeply/);
  });

  test('an unknown message type name is an error, not an empty message', () => {
    expect(() => codec.decode('tfplugin6.NoSuchMessage', Buffer.alloc(0))).toThrow(/unknown message type tfplugin6.NoSuchMessage/);
    expect(() => codec.encode('tfplugin6.NoSuchMessage', {})).toThrow(/unknown message type/);
  });
});

// ------------------------------------------------------------------------------------------- generated types

test('the committed message types (tfplugin6.ts) are what the .proto files generate', () => {
  const committed = fs.readFileSync(path.join(repoRoot(), GENERATED_TYPES_FILE), 'utf8');
  expect(committed === protoTypesSource(descriptor) ? 'fresh' : `${GENERATED_TYPES_FILE} is stale: run npm run generate`).toBe('fresh');
  // The types follow the decoder: a decoded ReadResource request has exactly the fields the interface lists.
  const decoded = codec.decode('tfplugin6.ReadResource.Request', codec.encode('tfplugin6.ReadResource.Request', { type_name: 'x' }));
  const iface = /export interface ReadResource_Request \{([^}]*)\}/.exec(committed)![1];
  const fields = [...iface.matchAll(/^\s+(\w+)\??:/gm)].map((m) => m[1]);
  expect(Object.keys(decoded).sort()).toEqual(fields.sort());
  expect(iface).toMatch(/current_state: DynamicValue \| null;/);
  expect(committed).toMatch(/ReadResource: \{ request: ReadResource_Request; response: ReadResource_Response \};/);
});
