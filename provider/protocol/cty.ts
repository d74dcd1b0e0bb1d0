// cty types and values as Terraform's plugin protocol carries them. Owns the type JSON (schema `type` bytes and
// the type half of dynamic values), the msgpack DynamicValue encoding (what go-cty's cty/msgpack reads and
// writes, refined unknowns included), the JSON encoding Terraform keeps state in (cty/json), and helpers to
// compare values and find unknowns. Decoding treats its input as untrusted and names the failing path.

import { MsgpackError, MsgpackKind, MsgpackReader, MsgpackWriter } from './msgpack';

// ------------------------------------------------------------------------------------------------ types

export type CtyType =
  'string' | 'number' | 'bool' | 'dynamic' | { list: CtyType } | { set: CtyType } | { map: CtyType } | { object: Record<string, CtyType>; optional?: string[] } | { tuple: CtyType[] };

/** What an unknown value is already known to satisfy (go-cty "refinements"); see encodeMsgpack. */
export type Refinements = {
  /** The value will not be null. */
  notNull?: boolean;
  /** Strings: the value will start with this. */
  stringPrefix?: string;
  /** Numbers: [bound, inclusive]. */
  numberLower?: [number, boolean];
  numberUpper?: [number, boolean];
  /** Lists, sets and maps: bounds on the element count (inclusive). */
  lengthLower?: number;
  lengthUpper?: number;
};

/** A value not known until apply. */
export class Unknown {
  constructor(readonly refinements?: Refinements) {}
}

export const UNKNOWN = new Unknown();

export function isUnknown(v: unknown): v is Unknown {
  return v instanceof Unknown;
}

/** A value in a `dynamic`-typed position, with the concrete type it travels with. */
export class Dynamic {
  constructor(
    readonly type: CtyType,
    readonly value: CtyValue,
  ) {}
}

export type CtyValue = null | Unknown | string | number | boolean | CtyValue[] | { [k: string]: CtyValue } | Dynamic;

/** One step of the path to a value inside another; errors carry these so callers can point diagnostics. */
export type CtyPathStep = { attribute: string } | { key: string } | { index: number };

/** A value that does not fit its type (or malformed encoded input), at `path`. */
export class CtyPathError extends Error {
  constructor(
    readonly path: CtyPathStep[],
    readonly reason: string,
  ) {
    super(`${formatPath(path)}: ${reason}`);
    this.name = 'CtyPathError';
  }
}

/** `.timeouts.create`, `.tags["env"]`, `.disk[0]`; `(root)` for the value itself. */
export function formatPath(path: CtyPathStep[]): string {
  if (path.length === 0) return '(root)';
  return path.map((s) => ('attribute' in s ? `.${s.attribute}` : 'key' in s ? `[${JSON.stringify(s.key)}]` : `[${s.index}]`)).join('');
}

type TypeKind = 'string' | 'number' | 'bool' | 'dynamic' | 'list' | 'set' | 'map' | 'object' | 'tuple';

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function kindOf(t: CtyType): TypeKind {
  if (typeof t === 'string') return t;
  if (hasOwn(t, 'list')) return 'list';
  if (hasOwn(t, 'set')) return 'set';
  if (hasOwn(t, 'map')) return 'map';
  if (hasOwn(t, 'object')) return 'object';
  if (hasOwn(t, 'tuple')) return 'tuple';
  throw new Error(`not a cty type: ${JSON.stringify(t)}`);
}

function elementType(t: CtyType): CtyType {
  const c = t as { list?: CtyType; set?: CtyType; map?: CtyType };
  return (c.list ?? c.set ?? c.map)!;
}

/** Attribute names of an object type in go-cty's order: sorted by UTF-8 bytes (Go's string order). */
function sortedNames(names: string[]): string[] {
  return names.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

/** The type JSON as a JS structure (what `JSON.stringify` turns into the schema's `type` bytes). */
export function typeToJson(t: CtyType): unknown {
  switch (kindOf(t)) {
    case 'string':
    case 'number':
    case 'bool':
    case 'dynamic':
      return t;
    case 'list':
    case 'set':
    case 'map':
      return [kindOf(t), typeToJson(elementType(t))];
    case 'tuple':
      return ['tuple', (t as { tuple: CtyType[] }).tuple.map(typeToJson)];
    case 'object': {
      const o = t as { object: Record<string, CtyType>; optional?: string[] };
      const attributes = Object.create(null) as Record<string, unknown>;
      for (const name of sortedNames(Object.keys(o.object))) attributes[name] = typeToJson(o.object[name]);
      const optional = o.optional ?? [];
      for (const name of optional) if (!hasOwn(o.object, name)) throw new Error(`optional attribute ${JSON.stringify(name)} is not an attribute of the object type`);
      return optional.length > 0 ? ['object', attributes, sortedNames([...new Set(optional)])] : ['object', attributes];
    }
  }
}

/** The type JSON text, byte for byte as go-cty writes it (no spaces, object keys in Go's sorted order). */
export function typeToJsonText(t: CtyType): string {
  // JSON.stringify would list integer-like keys ("1", "10") first whatever their order; Go sorts them as text.
  const write = (j: unknown): string => {
    if (typeof j === 'string') return JSON.stringify(j);
    if (Array.isArray(j)) return `[${j.map(write).join(',')}]`;
    const o = j as Record<string, unknown>;
    return `{${sortedNames(Object.keys(o))
      .map((k) => `${JSON.stringify(k)}:${write(o[k])}`)
      .join(',')}}`;
  };
  return write(typeToJson(t));
}

// Deeper type descriptions are refused instead of risking the stack; real schemas nest a handful of levels.
const MAX_TYPE_DEPTH = 64;

/** Parses type JSON (already parsed from text). Throws an Error naming what is wrong and where. */
export function typeFromJson(j: unknown): CtyType {
  return typeFromJsonAt(j, '', 0);
}

/** Parses type JSON text (a schema's `type` bytes or the type half of a dynamic value). */
export function typeFromJsonText(text: string | Uint8Array): CtyType {
  const s = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch (e) {
    throw new Error(`invalid type JSON: ${(e as Error).message}`);
  }
  return typeFromJson(parsed);
}

function typeFromJsonAt(j: unknown, where: string, depth: number): CtyType {
  const fail = (why: string): never => {
    throw new Error(`invalid type JSON${where ? ` at ${where}` : ''}: ${why}`);
  };
  if (depth > MAX_TYPE_DEPTH) fail(`nested deeper than ${MAX_TYPE_DEPTH} levels`);
  if (typeof j === 'string') {
    if (j === 'string' || j === 'number' || j === 'bool' || j === 'dynamic') return j;
    return fail(`unknown primitive type ${JSON.stringify(j)}`);
  }
  if (!Array.isArray(j)) return fail(`expected a type name or a [kind, ...] array, got ${describeJson(j)}`);
  // Array.isArray narrows to any[]: read the elements as the unknowns they are.
  const parts = j as unknown[];
  const kind = parts[0];
  if (typeof kind !== 'string') return fail('the first element of a complex type must be its kind name');
  const arity = (n: number, m = n) => {
    if (parts.length < n || parts.length > m) fail(`${JSON.stringify(kind)} takes ${n === m ? n : `${n} or ${m}`} elements, got ${parts.length}`);
  };
  switch (kind) {
    case 'list':
    case 'set':
    case 'map': {
      arity(2);
      const inner = typeFromJsonAt(parts[1], `${where}[1]`, depth + 1);
      return kind === 'list' ? { list: inner } : kind === 'set' ? { set: inner } : { map: inner };
    }
    case 'tuple': {
      arity(2);
      if (!Array.isArray(parts[1])) return fail(`tuple element types must be an array, got ${describeJson(parts[1])}`);
      return { tuple: parts[1].map((e: unknown, i: number) => typeFromJsonAt(e, `${where}[1][${i}]`, depth + 1)) };
    }
    case 'object': {
      arity(2, 3);
      const attrs = parts[1];
      if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs)) return fail(`object attribute types must be a JSON object, got ${describeJson(attrs)}`);
      const object = Object.create(null) as Record<string, CtyType>;
      for (const name of Object.keys(attrs)) object[name] = typeFromJsonAt((attrs as Record<string, unknown>)[name], `${where}[1][${JSON.stringify(name)}]`, depth + 1);
      if (parts.length === 2) return { object };
      const optional = parts[2];
      if (!Array.isArray(optional) || !optional.every((n) => typeof n === 'string')) return fail('optional attributes must be an array of attribute names');
      for (const name of optional) if (!hasOwn(object, name)) fail(`optional attribute ${JSON.stringify(name)} is not an attribute of the object`);
      return optional.length > 0 ? { object, optional: [...new Set(optional)] } : { object };
    }
    default:
      return fail(`unknown type kind ${JSON.stringify(kind)}`);
  }
}

function describeJson(j: unknown): string {
  if (j === null) return 'null';
  if (Array.isArray(j)) return 'array';
  return typeof j;
}

export function typeEquals(a: CtyType, b: CtyType): boolean {
  const ka = kindOf(a);
  if (ka !== kindOf(b)) return false;
  switch (ka) {
    case 'string':
    case 'number':
    case 'bool':
    case 'dynamic':
      return true;
    case 'list':
    case 'set':
    case 'map':
      return typeEquals(elementType(a), elementType(b));
    case 'tuple': {
      const ta = (a as { tuple: CtyType[] }).tuple;
      const tb = (b as { tuple: CtyType[] }).tuple;
      return ta.length === tb.length && ta.every((t, i) => typeEquals(t, tb[i]));
    }
    case 'object': {
      const oa = a as { object: Record<string, CtyType>; optional?: string[] };
      const ob = b as { object: Record<string, CtyType>; optional?: string[] };
      const na = Object.keys(oa.object);
      if (na.length !== Object.keys(ob.object).length) return false;
      if (!na.every((n) => hasOwn(ob.object, n) && typeEquals(oa.object[n], ob.object[n]))) return false;
      const optA = new Set(oa.optional ?? []);
      const optB = new Set(ob.optional ?? []);
      return optA.size === optB.size && [...optA].every((n) => optB.has(n));
    }
  }
}

/**
 * The type a plain JS value implies, for values put in a `dynamic` position without a Dynamic wrapper:
 * arrays are tuples and objects are objects (as go-cty infers for literals); null and unknown elements get
 * `dynamic`; a Dynamic supplies its own type.
 */
export function impliedType(v: CtyValue): CtyType {
  return impliedTypeAt(v, []);
}

function impliedTypeAt(v: CtyValue, path: CtyPathStep[]): CtyType {
  if (v === null || v instanceof Unknown) return 'dynamic';
  if (v instanceof Dynamic) return v.type;
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'bool';
    case 'object':
      break;
    default:
      throw new CtyPathError(path, `cannot infer a cty type for a JS ${typeof v}`);
  }
  if (Array.isArray(v)) return { tuple: v.map((e, i) => impliedTypeAt(e, [...path, { index: i }])) };
  assertPlainObject(v, path);
  const object = Object.create(null) as Record<string, CtyType>;
  for (const k of Object.keys(v)) object[k] = impliedTypeAt(v[k], [...path, { attribute: k }]);
  return { object };
}

// ------------------------------------------------------------------------------------------------ values, shared

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (v instanceof Unknown) return 'unknown';
  if (v instanceof Dynamic) return 'dynamic value';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

function assertPlainObject(v: object, path: CtyPathStep[]): asserts v is { [k: string]: CtyValue } {
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null;
  if (proto !== null && proto !== Object.prototype) throw new CtyPathError(path, `expected a plain object, got an instance of ${proto.constructor?.name ?? 'a class'}`);
}

/** Attribute names of an object type, in go-cty's wire order. */
function attributeNames(t: CtyType): string[] {
  return sortedNames(Object.keys((t as { object: Record<string, CtyType> }).object));
}

/**
 * Checks the container shape of a non-null, known, non-Dynamic value against a non-dynamic type and
 * returns its kind, so encoders share one set of checks and messages.
 */
function checkShape(value: CtyValue, type: CtyType, path: CtyPathStep[]): TypeKind {
  const kind = kindOf(type);
  const fail = (): never => {
    throw new CtyPathError(path, `expected ${kind}, got ${describeValue(value)}`);
  };
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') fail();
      break;
    case 'number':
      if (typeof value !== 'number') fail();
      if (Number.isNaN(value)) throw new CtyPathError(path, 'NaN is not a cty number');
      break;
    case 'bool':
      if (typeof value !== 'boolean') fail();
      break;
    case 'list':
    case 'set':
    case 'tuple':
      if (!Array.isArray(value)) fail();
      if (kind === 'tuple' && (value as CtyValue[]).length !== (type as { tuple: CtyType[] }).tuple.length) {
        throw new CtyPathError(path, `expected a tuple of ${(type as { tuple: CtyType[] }).tuple.length} element(s), got ${(value as CtyValue[]).length}`);
      }
      break;
    case 'map':
    case 'object':
      if (typeof value !== 'object' || Array.isArray(value) || value === null || value instanceof Unknown || value instanceof Dynamic) fail();
      assertPlainObject(value as object, path);
      if (kind === 'object') {
        const attrs = (type as { object: Record<string, CtyType> }).object;
        for (const k of Object.keys(value as object)) {
          if (!hasOwn(attrs, k)) throw new CtyPathError(path, `unexpected attribute ${JSON.stringify(k)}`);
        }
      }
      break;
    case 'dynamic':
      break;
  }
  return kind;
}

/** An object attribute's value; absent (or undefined) attributes are null. Never reads inherited properties. */
function attributeOf(value: { [k: string]: CtyValue }, name: string): CtyValue {
  return hasOwn(value, name) && value[name] !== undefined ? value[name] : null;
}

// ------------------------------------------------------------------------------------------------ msgpack

/** go-cty's extension type for an unknown with refinements (cty/msgpack/unknown.go). */
const REFINED_UNKNOWN_EXT = 0x0c;
/** Refinement map keys (cty/msgpack/unknown.go). */
const REFINE_NULLNESS = 1;
const REFINE_STRING_PREFIX = 2;
const REFINE_NUMBER_MIN = 3;
const REFINE_NUMBER_MAX = 4;
const REFINE_LENGTH_MIN = 5;
const REFINE_LENGTH_MAX = 6;
/** go-cty refuses refinement payloads larger than this as abusive; we read them as plain unknowns. */
const MAX_REFINEMENT_BYTES = 1024;

// Dynamic values can carry types that contain dynamic values, so nesting is bounded by input size only;
// this keeps hostile input from overflowing the stack.
const MAX_VALUE_DEPTH = 256;

/**
 * Encodes a value of the given type as Terraform's msgpack DynamicValue, as go-cty does:
 * null is nil; an unknown is extension 0 with one zero byte, or extension 12 carrying its refinements; numbers
 * use the smallest integer format when integral and within int64, else float64; objects are maps holding
 * every attribute (sorted by name; absent attributes as nil); a `dynamic` position holds
 * [type JSON as bin, value] unless the value is null or unknown.
 */
export function encodeMsgpack(value: CtyValue, type: CtyType): Uint8Array {
  const w = new MsgpackWriter();
  encodeValue(w, value, type, [], 0);
  return w.finish();
}

function encodeValue(w: MsgpackWriter, value: CtyValue, type: CtyType, path: CtyPathStep[], depth: number): void {
  if (depth > MAX_VALUE_DEPTH) throw new CtyPathError(path, `nested deeper than ${MAX_VALUE_DEPTH} levels`);
  if (type === 'dynamic') return encodeDynamic(w, value, path, depth);
  if (value instanceof Dynamic) {
    // A Dynamic whose type is the position's type is just that value; any other type is a mismatch.
    if (!typeEquals(value.type, type)) throw new CtyPathError(path, `expected ${typeToJsonText(type)}, got a dynamic value of type ${typeToJsonText(value.type)}`);
    return encodeValue(w, value.value, type, path, depth + 1);
  }
  if (value === null) return w.writeNil();
  if (value instanceof Unknown) return writeUnknown(w, value, type, path);
  const kind = checkShape(value, type, path);
  switch (kind) {
    case 'string':
      return w.writeStr(value as string);
    case 'number':
      return w.writeNumber(value as number);
    case 'bool':
      return w.writeBool(value as boolean);
    case 'list':
    case 'set': {
      const items = value as CtyValue[];
      const et = elementType(type);
      w.writeArrayHeader(items.length);
      items.forEach((item, i) => encodeValue(w, item, et, [...path, { index: i }], depth + 1));
      return;
    }
    case 'tuple': {
      const items = value as CtyValue[];
      const types = (type as { tuple: CtyType[] }).tuple;
      w.writeArrayHeader(items.length);
      items.forEach((item, i) => encodeValue(w, item, types[i], [...path, { index: i }], depth + 1));
      return;
    }
    case 'map': {
      const entries = value as { [k: string]: CtyValue };
      const et = elementType(type);
      const keys = sortedNames(Object.keys(entries));
      w.writeMapHeader(keys.length);
      for (const k of keys) {
        w.writeStr(k);
        encodeValue(w, entries[k], et, [...path, { key: k }], depth + 1);
      }
      return;
    }
    case 'object': {
      const attrs = (type as { object: Record<string, CtyType> }).object;
      const object = value as { [k: string]: CtyValue };
      const names = attributeNames(type);
      w.writeMapHeader(names.length);
      for (const name of names) {
        w.writeStr(name);
        encodeValue(w, attributeOf(object, name), attrs[name], [...path, { attribute: name }], depth + 1);
      }
      return;
    }
    default:
      throw new CtyPathError(path, `cannot encode type ${kind}`);
  }
}

function encodeDynamic(w: MsgpackWriter, value: CtyValue, path: CtyPathStep[], depth: number): void {
  if (value === null) return w.writeNil();
  // go-cty never writes refinements for an unknown of unknown type.
  if (value instanceof Unknown) return writeUnknown(w, UNKNOWN, 'dynamic', path);
  const type = value instanceof Dynamic ? value.type : impliedTypeAt(value, path);
  const inner = value instanceof Dynamic ? value.value : value;
  // A Dynamic that claims type dynamic has no concrete type to record; it is its value.
  if (type === 'dynamic') return encodeDynamic(w, inner, path, depth + 1);
  w.writeArrayHeader(2);
  w.writeBin(Buffer.from(typeToJsonText(type), 'utf8'));
  // Typed nulls and unknowns (Dynamic(t, null)) keep their type here, as go-cty writes them.
  encodeValue(w, inner, type, path, depth + 1);
}

function writeUnknown(w: MsgpackWriter, unknown: Unknown, type: CtyType, path: CtyPathStep[]): void {
  const r = unknown.refinements;
  const body = new MsgpackWriter();
  let entries = 0;
  if (r && type !== 'dynamic') {
    const kind = kindOf(type);
    if (r.notNull) {
      entries++;
      body.writeInt(REFINE_NULLNESS);
      // The wire value is "is null": a not-null refinement is written as false.
      body.writeBool(false);
    }
    if (kind === 'string' && r.stringPrefix) {
      entries++;
      body.writeInt(REFINE_STRING_PREFIX);
      body.writeStr(r.stringPrefix);
    }
    if (kind === 'number') {
      for (const [key, bound] of [
        [REFINE_NUMBER_MIN, r.numberLower],
        [REFINE_NUMBER_MAX, r.numberUpper],
      ] as const) {
        if (!bound) continue;
        const [n, inclusive] = bound;
        if (typeof n !== 'number' || Number.isNaN(n) || typeof inclusive !== 'boolean') throw new CtyPathError(path, 'a number bound refinement must be [number, boolean]');
        entries++;
        body.writeInt(key);
        body.writeArrayHeader(2);
        body.writeNumber(n);
        body.writeBool(inclusive);
      }
    }
    if (kind === 'list' || kind === 'set' || kind === 'map') {
      // go-cty leaves out a lower bound of 0: that is what every collection already satisfies.
      if (r.lengthLower !== undefined && r.lengthLower !== 0) {
        checkLength(r.lengthLower, path);
        entries++;
        body.writeInt(REFINE_LENGTH_MIN);
        body.writeInt(r.lengthLower);
      }
      if (r.lengthUpper !== undefined) {
        checkLength(r.lengthUpper, path);
        entries++;
        body.writeInt(REFINE_LENGTH_MAX);
        body.writeInt(r.lengthUpper);
      }
    }
  }
  if (entries === 0) {
    // The compact "totally unknown" form: fixext1, type 0, one zero byte (an empty payload would be longer).
    w.writeExt(0, ZERO_BYTE);
    return;
  }
  const payload = new MsgpackWriter();
  payload.writeMapHeader(entries);
  payload.writeRaw(body.finish());
  w.writeExt(REFINED_UNKNOWN_EXT, payload.finish());
}

const ZERO_BYTE = new Uint8Array([0]);

function checkLength(n: number, path: CtyPathStep[]): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new CtyPathError(path, `a length bound refinement must be a non-negative integer, got ${n}`);
}

/**
 * Decodes a msgpack DynamicValue against its type, validating as it goes: errors name the path
 * (`.timeouts.create: expected string, got bool`). Any extension is an unknown; extension 12 refinements are
 * read into `Refinements` (a malformed refinement payload gives a plain unknown). Objects may leave attributes
 * out (they become null) but not add ones the type lacks. A `dynamic` position decodes to a Dynamic (or
 * null/unknown). The input must be exactly one value.
 */
export function decodeMsgpack(bytes: Uint8Array, type: CtyType): CtyValue {
  const decoder = new MsgpackDecoder(new MsgpackReader(bytes));
  try {
    const value = decoder.value(type, 0);
    decoder.reader.expectEnd();
    return value;
  } catch (e) {
    // Reader errors know the offset but not the cty path; the path stack still holds where decoding stopped,
    // because steps are popped only on success.
    if (e instanceof MsgpackError) throw new CtyPathError(decoder.path, e.message);
    throw e;
  }
}

class MsgpackDecoder {
  readonly path: CtyPathStep[] = [];

  constructor(readonly reader: MsgpackReader) {}

  private fail(reason: string): never {
    throw new CtyPathError([...this.path], reason);
  }

  private mismatch(expected: string, got: MsgpackKind): never {
    return this.fail(`expected ${expected}, got ${MSGPACK_KIND_NAMES[got]}`);
  }

  value(type: CtyType, depth: number): CtyValue {
    if (depth > MAX_VALUE_DEPTH) this.fail(`nested deeper than ${MAX_VALUE_DEPTH} levels`);
    const r = this.reader;
    const got = r.peekKind();
    // go-cty treats every extension as an unknown value, whatever the type, before anything else.
    if (got === 'ext') return this.unknown(type);
    if (type === 'dynamic') return this.dynamic(depth);
    if (got === 'nil') return r.readNil();
    const kind = kindOf(type);
    switch (kind) {
      case 'string':
        // Go's msgpack reads str and bin alike as strings, so go-cty accepts either.
        if (got !== 'str' && got !== 'bin') this.mismatch('string', got);
        return r.readStrOrBinText();
      case 'number':
        return this.number(got);
      case 'bool':
        if (got !== 'bool') this.mismatch('bool', got);
        return r.readBool();
      case 'list':
      case 'set': {
        if (got !== 'array') this.mismatch(kind, got);
        const count = r.readArrayHeader();
        const et = elementType(type);
        const items: CtyValue[] = [];
        for (let i = 0; i < count; i++) items.push(this.step({ index: i }, et, depth));
        return items;
      }
      case 'tuple': {
        if (got !== 'array') this.mismatch('tuple', got);
        const types = (type as { tuple: CtyType[] }).tuple;
        const count = r.readArrayHeader();
        if (count !== types.length) this.fail(`expected a tuple of ${types.length} element(s), got ${count}`);
        const items: CtyValue[] = [];
        for (let i = 0; i < count; i++) items.push(this.step({ index: i }, types[i], depth));
        return items;
      }
      case 'map': {
        if (got !== 'map') this.mismatch('map', got);
        const count = r.readMapHeader();
        const et = elementType(type);
        const out = Object.create(null) as { [k: string]: CtyValue };
        for (let i = 0; i < count; i++) {
          const key = this.key('map keys');
          if (hasOwn(out, key)) this.fail(`duplicate map key ${JSON.stringify(key)}`);
          out[key] = this.step({ key }, et, depth);
        }
        return out;
      }
      case 'object': {
        if (got !== 'map') this.mismatch('object', got);
        const attrs = (type as { object: Record<string, CtyType> }).object;
        const count = r.readMapHeader();
        const out = Object.create(null) as { [k: string]: CtyValue };
        for (const name of attributeNames(type)) out[name] = null;
        const seen = new Set<string>();
        for (let i = 0; i < count; i++) {
          const name = this.key('attribute names');
          if (!hasOwn(attrs, name)) this.fail(`unexpected attribute ${JSON.stringify(name)}`);
          if (seen.has(name)) this.fail(`duplicate attribute ${JSON.stringify(name)}`);
          seen.add(name);
          out[name] = this.step({ attribute: name }, attrs[name], depth);
        }
        return out;
      }
      default:
        return this.fail(`cannot decode type ${kind}`);
    }
  }

  private step(step: CtyPathStep, type: CtyType, depth: number): CtyValue {
    this.path.push(step);
    const v = this.value(type, depth + 1);
    this.path.pop();
    return v;
  }

  private key(what: string): string {
    const got = this.reader.peekKind();
    if (got !== 'str' && got !== 'bin') this.fail(`${what} must be strings, got ${MSGPACK_KIND_NAMES[got]}`);
    return this.reader.readStrOrBinText();
  }

  private number(got: MsgpackKind): number {
    const r = this.reader;
    if (got === 'int') return Number(r.readInt()); // beyond 2^53 a JS number is the nearest double
    if (got === 'float') return r.readFloat();
    // go-cty writes numbers that neither int64 nor float64 holds exactly as decimal strings.
    if (got === 'str' || got === 'bin') {
      const text = r.readStrOrBinText();
      const n = parseNumberText(text);
      if (n === undefined) this.fail(`expected number, got string ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)}`);
      return n;
    }
    return this.mismatch('number', got);
  }

  private dynamic(depth: number): CtyValue {
    const r = this.reader;
    const got = r.peekKind();
    if (got === 'nil') return r.readNil();
    if (got !== 'array') this.mismatch('a dynamic value ([type JSON, value])', got);
    const count = r.readArrayHeader();
    if (count !== 2) this.fail(`a dynamic value must be a 2-element array [type JSON, value], got ${count} element(s)`);
    const typeGot = r.peekKind();
    if (typeGot !== 'bin' && typeGot !== 'str') this.fail(`the type of a dynamic value must be JSON bytes, got ${MSGPACK_KIND_NAMES[typeGot]}`);
    let type: CtyType;
    try {
      type = typeFromJsonText(r.readStrOrBinBytes());
    } catch (e) {
      if (e instanceof MsgpackError) throw e;
      return this.fail((e as Error).message);
    }
    const value = this.value(type, depth + 1);
    // A value recorded as type "dynamic" is itself dynamically encoded; it already is null, unknown or a Dynamic.
    return type === 'dynamic' ? value : new Dynamic(type, value);
  }

  private unknown(type: CtyType): CtyValue {
    const { type: extType, length } = this.reader.readExtHeader();
    const payload = this.reader.readRaw(length);
    if (extType !== REFINED_UNKNOWN_EXT || length <= 1 || length > MAX_REFINEMENT_BYTES || type === 'dynamic') return UNKNOWN;
    return refinedUnknown(payload, type);
  }
}

const MSGPACK_KIND_NAMES: Record<MsgpackKind, string> = {
  nil: 'null',
  bool: 'bool',
  int: 'number (integer)',
  float: 'number (float)',
  str: 'string',
  bin: 'binary',
  array: 'array',
  map: 'map',
  ext: 'unknown',
};

/** A refined unknown from an extension 12 payload; anything malformed or inapplicable gives a plain unknown. */
function refinedUnknown(payload: Uint8Array, type: CtyType): CtyValue {
  const kind = kindOf(type);
  const r = new MsgpackReader(payload);
  const refinements: Refinements = {};
  let definitelyNull = false;
  try {
    const entries = r.readMapHeader();
    for (let i = 0; i < entries; i++) {
      const key = r.readInt();
      switch (key) {
        case REFINE_NULLNESS:
          // "Is null": true would make this a known null (go-cty collapses it so); false means not null.
          if (r.readBool()) definitelyNull = true;
          else refinements.notNull = true;
          break;
        case REFINE_STRING_PREFIX:
          if (kind !== 'string') return UNKNOWN;
          refinements.stringPrefix = r.readStr();
          break;
        case REFINE_NUMBER_MIN:
        case REFINE_NUMBER_MAX: {
          if (kind !== 'number') return UNKNOWN;
          if (r.readArrayHeader() !== 2) return UNKNOWN;
          const bound = readRefinementNumber(r);
          if (bound === undefined) return UNKNOWN;
          const inclusive = r.readBool();
          if (key === REFINE_NUMBER_MIN) refinements.numberLower = [bound, inclusive];
          else refinements.numberUpper = [bound, inclusive];
          break;
        }
        case REFINE_LENGTH_MIN:
        case REFINE_LENGTH_MAX: {
          if (kind !== 'list' && kind !== 'set' && kind !== 'map') return UNKNOWN;
          const n = r.readInt();
          if (typeof n !== 'number' || n < 0) return UNKNOWN;
          if (key === REFINE_LENGTH_MIN) refinements.lengthLower = n;
          else refinements.lengthUpper = n;
          break;
        }
        default:
          // Keys from a newer go-cty: go-cty means to ignore them, so skip the value that goes with one.
          r.skip();
      }
    }
  } catch (e) {
    if (e instanceof MsgpackError) return UNKNOWN;
    throw e;
  }
  // Trailing bytes after the map are ignored on purpose: go-cty reserves them for later use.
  if (definitelyNull) return null;
  return Object.keys(refinements).length > 0 ? new Unknown(refinements) : UNKNOWN;
}

function readRefinementNumber(r: MsgpackReader): number | undefined {
  const kind = r.peekKind();
  if (kind === 'int') return Number(r.readInt());
  if (kind === 'float') return r.readFloat();
  if (kind === 'str' || kind === 'bin') return parseNumberText(r.readStrOrBinText());
  return undefined;
}

// What Go's big.Float parses in base 10, as go-cty's ParseNumberVal uses it: decimal with optional exponent,
// or infinity.
const NUMBER_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INFINITY_TEXT = /^[+-]?inf$/i;

function parseNumberText(text: string): number | undefined {
  if (NUMBER_TEXT.test(text)) return Number(text);
  if (INFINITY_TEXT.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  return undefined;
}

// ------------------------------------------------------------------------------------------------ JSON

/**
 * Encodes a value as the JSON text Terraform keeps in state (go-cty's cty/json): same shapes as the value, a
 * `dynamic` position as {"value": ..., "type": <type JSON>} (null stays null). Unknowns are not allowed.
 */
export function encodeJson(value: CtyValue, type: CtyType): string {
  return JSON.stringify(toJson(value, type, [], 0));
}

function toJson(value: CtyValue, type: CtyType, path: CtyPathStep[], depth: number): unknown {
  if (depth > MAX_VALUE_DEPTH) throw new CtyPathError(path, `nested deeper than ${MAX_VALUE_DEPTH} levels`);
  if (value instanceof Unknown) throw new CtyPathError(path, 'unknown values cannot be written as JSON');
  if (type === 'dynamic') {
    if (value === null) return null;
    const t = value instanceof Dynamic ? value.type : impliedTypeAt(value, path);
    const inner = value instanceof Dynamic ? value.value : value;
    if (t === 'dynamic') return toJson(inner, 'dynamic', path, depth + 1);
    const out = Object.create(null) as Record<string, unknown>;
    out.value = toJson(inner, t, path, depth + 1);
    out.type = typeToJson(t);
    return out;
  }
  if (value instanceof Dynamic) {
    if (!typeEquals(value.type, type)) throw new CtyPathError(path, `expected ${typeToJsonText(type)}, got a dynamic value of type ${typeToJsonText(value.type)}`);
    return toJson(value.value, type, path, depth + 1);
  }
  if (value === null) return null;
  const kind = checkShape(value, type, path);
  switch (kind) {
    case 'string':
    case 'bool':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new CtyPathError(path, `${Number(value)} cannot be written as JSON`);
      return value;
    case 'list':
    case 'set':
      return (value as CtyValue[]).map((item, i) => toJson(item, elementType(type), [...path, { index: i }], depth + 1));
    case 'tuple':
      return (value as CtyValue[]).map((item, i) => toJson(item, (type as { tuple: CtyType[] }).tuple[i], [...path, { index: i }], depth + 1));
    case 'map': {
      const entries = value as { [k: string]: CtyValue };
      const out = Object.create(null) as Record<string, unknown>;
      for (const k of sortedNames(Object.keys(entries))) out[k] = toJson(entries[k], elementType(type), [...path, { key: k }], depth + 1);
      return out;
    }
    case 'object': {
      const attrs = (type as { object: Record<string, CtyType> }).object;
      const object = value as { [k: string]: CtyValue };
      const out = Object.create(null) as Record<string, unknown>;
      for (const name of attributeNames(type)) out[name] = toJson(attributeOf(object, name), attrs[name], [...path, { attribute: name }], depth + 1);
      return out;
    }
    default:
      throw new CtyPathError(path, `cannot encode type ${kind}`);
  }
}

/** Decodes JSON text (or its UTF-8 bytes) as go-cty's cty/json does; see decodeJsonValue. */
export function decodeJson(text: string | Uint8Array, type: CtyType): CtyValue {
  const s = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch (e) {
    throw new CtyPathError([], `invalid JSON: ${(e as Error).message}`);
  }
  return decodeJsonValue(parsed, type);
}

/**
 * Decodes already-parsed JSON against a type. Like go-cty's JSON decoder it converts primitives where cty
 * would (numeric strings to numbers, "true"/"false"/"1"/"0" to bools, numbers and bools to strings), lets
 * objects leave attributes out (null) but not add any, and reads a dynamic position from {"value","type"}.
 */
export function decodeJsonValue(parsed: unknown, type: CtyType): CtyValue {
  return fromJson(parsed, type, [], 0);
}

function fromJson(j: unknown, type: CtyType, path: CtyPathStep[], depth: number): CtyValue {
  if (depth > MAX_VALUE_DEPTH) throw new CtyPathError(path, `nested deeper than ${MAX_VALUE_DEPTH} levels`);
  if (j === null) return null;
  const fail = (expected: string): never => {
    throw new CtyPathError(path, `expected ${expected}, got ${describeJson(j)}`);
  };
  const kind = kindOf(type);
  switch (kind) {
    case 'dynamic': {
      if (typeof j !== 'object' || Array.isArray(j)) return fail('a dynamic value {"value": ..., "type": ...}');
      const o = j as Record<string, unknown>;
      for (const k of Object.keys(o)) if (k !== 'value' && k !== 'type') throw new CtyPathError(path, `unexpected key ${JSON.stringify(k)} in a dynamic value`);
      if (!hasOwn(o, 'type')) throw new CtyPathError(path, 'a dynamic value needs a "type"');
      if (!hasOwn(o, 'value')) throw new CtyPathError(path, 'a dynamic value needs a "value"');
      let t: CtyType;
      try {
        t = typeFromJson(o.type);
      } catch (e) {
        throw new CtyPathError(path, (e as Error).message);
      }
      const v = fromJson(o.value, t, path, depth + 1);
      return t === 'dynamic' ? v : new Dynamic(t, v);
    }
    case 'string':
      if (typeof j === 'string') return j;
      if (typeof j === 'number' || typeof j === 'boolean') return String(j);
      return fail('string');
    case 'number':
      if (typeof j === 'number') return j;
      if (typeof j === 'string') {
        const n = parseNumberText(j);
        if (n !== undefined) return n;
      }
      return fail('number');
    case 'bool':
      if (typeof j === 'boolean') return j;
      if (j === 'true' || j === '1') return true;
      if (j === 'false' || j === '0') return false;
      return fail('bool');
    case 'list':
    case 'set':
      if (!Array.isArray(j)) return fail(kind);
      return j.map((item, i) => fromJson(item, elementType(type), [...path, { index: i }], depth + 1));
    case 'tuple': {
      if (!Array.isArray(j)) return fail('tuple');
      const types = (type as { tuple: CtyType[] }).tuple;
      if (j.length !== types.length) throw new CtyPathError(path, `expected a tuple of ${types.length} element(s), got ${j.length}`);
      return j.map((item, i) => fromJson(item, types[i], [...path, { index: i }], depth + 1));
    }
    case 'map': {
      if (typeof j !== 'object' || Array.isArray(j)) return fail('map');
      const o = j as Record<string, unknown>;
      const out = Object.create(null) as { [k: string]: CtyValue };
      for (const k of Object.keys(o)) out[k] = fromJson(o[k], elementType(type), [...path, { key: k }], depth + 1);
      return out;
    }
    case 'object': {
      if (typeof j !== 'object' || Array.isArray(j)) return fail('object');
      const attrs = (type as { object: Record<string, CtyType> }).object;
      const o = j as Record<string, unknown>;
      for (const k of Object.keys(o)) if (!hasOwn(attrs, k)) throw new CtyPathError(path, `unexpected attribute ${JSON.stringify(k)}`);
      const out = Object.create(null) as { [k: string]: CtyValue };
      for (const name of attributeNames(type)) out[name] = hasOwn(o, name) ? fromJson(o[name], attrs[name], [...path, { attribute: name }], depth + 1) : null;
      return out;
    }
  }
}

// ------------------------------------------------------------------------------------------------ comparison

/**
 * Deep equality of two values. With `type`, set-typed arrays compare as sets (order and repeats do not
 * matter) and everything else by position. Without it there is no telling a set from a list, so every array
 * compares by position. Unknowns equal unknowns with the same refinements; an absent object attribute equals
 * null; a Dynamic equals a plain value of the type it implies.
 */
export function valueEquals(a: CtyValue, b: CtyValue, type?: CtyType): boolean {
  return equalsAt(a, b, type ?? null, 0);
}

function equalsAt(a: CtyValue | undefined, b: CtyValue | undefined, type: CtyType | null, depth: number): boolean {
  if (depth > MAX_VALUE_DEPTH) throw new Error(`valueEquals: nested deeper than ${MAX_VALUE_DEPTH} levels`);
  a = a ?? null;
  b = b ?? null;
  if (a instanceof Dynamic || b instanceof Dynamic) {
    const ta = a instanceof Dynamic ? a.type : a === null || a instanceof Unknown ? null : impliedType(a);
    const tb = b instanceof Dynamic ? b.type : b === null || b instanceof Unknown ? null : impliedType(b);
    if (ta !== null && tb !== null && !typeEquals(ta, tb)) return false;
    return equalsAt(a instanceof Dynamic ? a.value : a, b instanceof Dynamic ? b.value : b, ta ?? tb, depth + 1);
  }
  if (a === null || b === null) return a === b;
  if (a instanceof Unknown || b instanceof Unknown) {
    return a instanceof Unknown && b instanceof Unknown && refinementsEqual(a.refinements ?? {}, b.refinements ?? {});
  }
  if (typeof a !== 'object' || typeof b !== 'object') return a === b;
  const kind = type === null ? null : kindOf(type);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return false;
    const typeAt = (i: number): CtyType | null => (type === null || kind === 'dynamic' ? null : kind === 'tuple' ? ((type as { tuple: CtyType[] }).tuple[i] ?? null) : elementType(type));
    if (kind === 'set') {
      const et = elementType(type!);
      const inOther = (from: CtyValue[], to: CtyValue[]) => from.every((x) => to.some((y) => equalsAt(x, y, et, depth + 1)));
      return inOther(a, b) && inOther(b, a);
    }
    return a.length === b.length && a.every((x, i) => equalsAt(x, b[i], typeAt(i), depth + 1));
  }
  const oa = a;
  const ob = b;
  const own = (o: { [k: string]: CtyValue }, k: string): CtyValue | undefined => (hasOwn(o, k) ? o[k] : undefined);
  if (kind === 'object') {
    const attrs = (type as { object: Record<string, CtyType> }).object;
    const names = new Set([...Object.keys(attrs), ...Object.keys(oa), ...Object.keys(ob)]);
    return [...names].every((n) => equalsAt(own(oa, n), own(ob, n), hasOwn(attrs, n) ? attrs[n] : null, depth + 1));
  }
  const keysA = Object.keys(oa);
  const keysB = Object.keys(ob);
  if (kind === 'map') {
    const et = elementType(type!);
    return keysA.length === keysB.length && keysA.every((k) => hasOwn(ob, k) && equalsAt(oa[k], ob[k], et, depth + 1));
  }
  // No type to say whether this is a map or an object: treat an absent key like a null attribute.
  const names = new Set([...keysA, ...keysB]);
  return [...names].every((n) => equalsAt(own(oa, n), own(ob, n), null, depth + 1));
}

function refinementsEqual(a: Refinements, b: Refinements): boolean {
  const pair = (x?: [number, boolean], y?: [number, boolean]) => (x === undefined || y === undefined ? x === y : x[0] === y[0] && x[1] === y[1]);
  return (
    !!a.notNull === !!b.notNull &&
    (a.stringPrefix ?? '') === (b.stringPrefix ?? '') &&
    pair(a.numberLower, b.numberLower) &&
    pair(a.numberUpper, b.numberUpper) &&
    (a.lengthLower ?? 0) === (b.lengthLower ?? 0) &&
    a.lengthUpper === b.lengthUpper
  );
}

/** Whether an unknown appears anywhere in a value (inside collections, objects and dynamic values too). */
export function containsUnknown(v: CtyValue | undefined): boolean {
  const pending: (CtyValue | undefined)[] = [v];
  // Iterative so that no depth of nesting can overflow the stack.
  while (pending.length > 0) {
    const x = pending.pop();
    if (x === null || x === undefined || typeof x !== 'object') continue;
    if (x instanceof Unknown) return true;
    if (x instanceof Dynamic) pending.push(x.value);
    // One push at a time: spreading a huge array into push() would exceed the argument limit.
    else if (Array.isArray(x)) for (const item of x) pending.push(item);
    else for (const k of Object.keys(x)) pending.push(x[k]);
  }
  return false;
}
