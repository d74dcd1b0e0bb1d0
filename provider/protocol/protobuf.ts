// A small proto3 codec driven by a descriptor compiled from our .proto files at build time
// (descriptor.ts). It exists for start-up time: Terraform starts provider processes often, and parsing the
// .proto text with protobufjs at every start cost about 100 ms of the handshake. Messages are plain objects
// shaped as @grpc/proto-loader would give them (keepCase, enums as names, int64 as numbers, bytes as Buffer,
// proto3 defaults filled in), so handlers do not depend on which codec ran.
//
// Decoding is bounds-checked: a length that runs past the end of the buffer, a truncated varint or an
// unknown wire type is an error, never an over-read.

export type ScalarType = 'double' | 'float' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'sint32' | 'sint64' | 'fixed32' | 'fixed64' | 'sfixed32' | 'sfixed64' | 'bool' | 'string' | 'bytes';

export interface FieldDescriptor {
  name: string;
  id: number;
  /** A scalar type, or the full name of a message or enum. */
  type: string;
  repeated?: boolean;
  /** proto3 `optional`: absence is kept (undefined) instead of a default. */
  optional?: boolean;
  /** For map fields: the key's scalar type (`type` is then the value type). */
  keyType?: ScalarType;
}

export interface Descriptor {
  messages: Record<string, { fields: FieldDescriptor[] }>;
  enums: Record<string, Record<string, number>>;
  services: Record<string, Record<string, { request: string; response: string; serverStream: boolean; clientStream: boolean }>>;
}

type Msg = Record<string, unknown>;

/**
 * A message as the encoder takes it (the generated types in tfplugin6.ts are what the decoder gives): any
 * field may be left out or null (the proto3 default is encoded), and bytes may be any Uint8Array.
 */
export type Outgoing<T> = T extends Buffer ? Uint8Array : T extends (infer U)[] ? Outgoing<U>[] : T extends object ? { [K in keyof T]?: Outgoing<T[K]> | null } : T;

const SCALARS = new Set(['double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64', 'bool', 'string', 'bytes']);

function wireType(t: string, d: Descriptor): number {
  switch (t) {
    case 'double':
    case 'fixed64':
    case 'sfixed64':
      return 1;
    case 'float':
    case 'fixed32':
    case 'sfixed32':
      return 5;
    case 'string':
    case 'bytes':
      return 2;
    default:
      return SCALARS.has(t) || d.enums[t] ? 0 : 2;
  }
}

class Writer {
  private buf = Buffer.allocUnsafe(256);
  len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  varint(v: number | bigint): void {
    this.room(10);
    if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      while (v >= 0x80) {
        this.buf[this.len++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.buf[this.len++] = v;
      return;
    }
    // Negative numbers travel as 64-bit two's complement: always 10 bytes.
    let b = BigInt.asUintN(64, BigInt(v));
    while (b >= 0x80n) {
      this.buf[this.len++] = Number(b & 0x7fn) | 0x80;
      b >>= 7n;
    }
    this.buf[this.len++] = Number(b);
  }

  tag(id: number, wt: number): void {
    this.varint(id * 8 + wt);
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  fixed32(v: number, float: boolean, signed: boolean): void {
    this.room(4);
    if (float) this.buf.writeFloatLE(v, this.len);
    else if (signed) this.buf.writeInt32LE(v, this.len);
    else this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
  }

  fixed64(v: number, float: boolean, signed: boolean): void {
    this.room(8);
    if (float) this.buf.writeDoubleLE(v, this.len);
    else if (signed) this.buf.writeBigInt64LE(BigInt(Math.trunc(v)), this.len);
    else this.buf.writeBigUInt64LE(BigInt(Math.trunc(v)), this.len);
    this.len += 8;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

export class ProtoCodec {
  constructor(readonly d: Descriptor) {}

  encode(type: string, value: Msg): Buffer {
    const w = new Writer();
    this.writeMessage(w, type, value ?? {});
    return Buffer.from(w.result());
  }

  decode(type: string, bytes: Uint8Array): Msg {
    return this.readMessage(type, bytes, 0, bytes.length, 0);
  }

  private message(type: string): { fields: FieldDescriptor[] } {
    const m = this.d.messages[type];
    if (!m) throw new Error(`protobuf: unknown message type ${type}`);
    return m;
  }

  private writeMessage(w: Writer, type: string, v: Msg): void {
    for (const f of this.message(type).fields) {
      const x = v[f.name];
      if (x === undefined || x === null) continue;
      if (f.keyType) {
        for (const [k, val] of Object.entries(x as Record<string, unknown>)) {
          const entry = new Writer();
          this.writeValue(entry, 1, f.keyType, f.keyType === 'string' ? k : Number(k), true);
          this.writeValue(entry, 2, f.type, val, true);
          w.tag(f.id, 2);
          w.bytes(entry.result());
        }
      } else if (f.repeated) {
        const items = x as unknown[];
        if (items.length === 0) continue;
        if (wireType(f.type, this.d) !== 2) {
          // Packed, as proto3 does by default for scalars.
          const packed = new Writer();
          for (const item of items) this.writeScalarBody(packed, f.type, item);
          w.tag(f.id, 2);
          w.bytes(packed.result());
        } else for (const item of items) this.writeValue(w, f.id, f.type, item, true);
      } else this.writeValue(w, f.id, f.type, x, !!f.optional);
    }
  }

  /** Writes one field value; proto3 leaves default scalars out unless presence matters. */
  private writeValue(w: Writer, id: number, type: string, x: unknown, always: boolean): void {
    if (this.d.messages[type]) {
      const inner = new Writer();
      this.writeMessage(inner, type, x as Msg);
      w.tag(id, 2);
      w.bytes(inner.result());
      return;
    }
    if (!always && isDefault(type, x, this.d)) return;
    w.tag(id, wireType(type, this.d));
    this.writeScalarBody(w, type, x);
  }

  private writeScalarBody(w: Writer, type: string, x: unknown): void {
    const e = this.d.enums[type];
    if (e) {
      const n = typeof x === 'number' ? x : e[String(x)];
      if (n === undefined) throw new Error(`protobuf: ${String(x)} is not a value of ${type}`);
      w.varint(n);
      return;
    }
    switch (type) {
      case 'string':
        w.bytes(Buffer.from(String(x), 'utf8'));
        return;
      case 'bytes':
        w.bytes(x as Uint8Array);
        return;
      case 'bool':
        w.varint(x ? 1 : 0);
        return;
      case 'int32':
      case 'int64':
      case 'uint32':
      case 'uint64':
        w.varint(typeof x === 'bigint' ? x : Number(x));
        return;
      case 'sint32':
      case 'sint64': {
        const n = BigInt(x as number);
        w.varint(n >= 0n ? n * 2n : -n * 2n - 1n);
        return;
      }
      case 'double':
        return w.fixed64(Number(x), true, false);
      case 'fixed64':
        return w.fixed64(Number(x), false, false);
      case 'sfixed64':
        return w.fixed64(Number(x), false, true);
      case 'float':
        return w.fixed32(Number(x), true, false);
      case 'fixed32':
        return w.fixed32(Number(x), false, false);
      case 'sfixed32':
        return w.fixed32(Number(x), false, true);
    }
    throw new Error(`protobuf: unknown type ${type}`);
  }

  private readMessage(type: string, b: Uint8Array, start: number, end: number, depth: number): Msg {
    if (depth > 64) throw new Error('protobuf: messages nested too deeply');
    const m = this.message(type);
    const out: Msg = {};
    const byId = new Map<number, FieldDescriptor>();
    for (const f of m.fields) {
      byId.set(f.id, f);
      if (f.keyType) out[f.name] = {};
      else if (f.repeated) out[f.name] = [];
      else if (!f.optional) out[f.name] = this.defaultOf(f.type);
    }
    const r = new Reader(b, start, end);
    while (r.pos < end) {
      const key = r.varint();
      const id = Math.floor(key / 8);
      const wt = key % 8;
      const f = byId.get(id);
      if (!f) {
        r.skip(wt);
        continue;
      }
      if (f.keyType) {
        if (wt !== 2) throw new Error(`protobuf: map field ${f.name} with wire type ${wt}`);
        const [s, e] = r.delimited();
        const entry = this.readMapEntry(f, b, s, e, depth);
        (out[f.name] as Record<string, unknown>)[String(entry[0])] = entry[1];
      } else if (f.repeated && wt === 2 && wireType(f.type, this.d) !== 2) {
        const [s, e] = r.delimited();
        const inner = new Reader(b, s, e);
        while (inner.pos < e) (out[f.name] as unknown[]).push(this.readScalar(inner, f.type, wireType(f.type, this.d)));
      } else {
        const v = this.readValue(r, f.type, wt, b, depth);
        if (f.repeated) (out[f.name] as unknown[]).push(v);
        else out[f.name] = v;
      }
    }
    return out;
  }

  private readMapEntry(f: FieldDescriptor, b: Uint8Array, start: number, end: number, depth: number): [unknown, unknown] {
    const r = new Reader(b, start, end);
    let k: unknown = this.defaultOf(f.keyType!);
    let v: unknown = this.defaultOf(f.type);
    while (r.pos < end) {
      const key = r.varint();
      const id = Math.floor(key / 8);
      const wt = key % 8;
      if (id === 1) k = this.readValue(r, f.keyType!, wt, b, depth);
      else if (id === 2) v = this.readValue(r, f.type, wt, b, depth);
      else r.skip(wt);
    }
    return [k, v];
  }

  private readValue(r: Reader, type: string, wt: number, b: Uint8Array, depth: number): unknown {
    if (wt !== wireType(type, this.d)) throw new Error(`protobuf: ${type} field with wire type ${wt}`);
    if (this.d.messages[type]) {
      const [s, e] = r.delimited();
      return this.readMessage(type, b, s, e, depth + 1);
    }
    return this.readScalar(r, type, wt);
  }

  private readScalar(r: Reader, type: string, wt: number): unknown {
    const e = this.d.enums[type];
    if (e) {
      const n = r.varint();
      return Object.keys(e).find((k) => e[k] === n) ?? n;
    }
    switch (type) {
      case 'string': {
        const [s, end] = r.delimited();
        return Buffer.from(r.b.buffer, r.b.byteOffset + s, end - s).toString('utf8');
      }
      case 'bytes': {
        const [s, end] = r.delimited();
        return Buffer.from(r.b.subarray(s, end));
      }
      case 'bool':
        return r.varint() !== 0;
      case 'int32':
        return r.signedVarint(32);
      case 'int64':
        return r.signedVarint(64);
      case 'uint32':
      case 'uint64':
        return r.varint();
      case 'sint32':
      case 'sint64': {
        const n = r.varint();
        return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      }
      case 'double':
        return r.fixed(8).readDoubleLE(0);
      case 'float':
        return r.fixed(4).readFloatLE(0);
      case 'fixed32':
        return r.fixed(4).readUInt32LE(0);
      case 'sfixed32':
        return r.fixed(4).readInt32LE(0);
      case 'fixed64':
        return Number(r.fixed(8).readBigUInt64LE(0));
      case 'sfixed64':
        return Number(r.fixed(8).readBigInt64LE(0));
    }
    void wt;
    throw new Error(`protobuf: unknown type ${type}`);
  }

  private defaultOf(type: string): unknown {
    if (this.d.messages[type]) return null;
    const e = this.d.enums[type];
    if (e) return Object.keys(e).find((k) => e[k] === 0) ?? 0;
    switch (type) {
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
}

function isDefault(type: string, x: unknown, d: Descriptor): boolean {
  if (d.enums[type]) return x === 0 || d.enums[type][String(x)] === 0;
  switch (type) {
    case 'string':
      return x === '';
    case 'bytes':
      return (x as Uint8Array).length === 0;
    case 'bool':
      return x === false;
    default:
      return x === 0 || x === 0n;
  }
}

class Reader {
  pos: number;
  constructor(
    readonly b: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const byte = this.b[this.pos++];
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) return result;
      mul *= 128;
    }
    throw new Error('protobuf: varint longer than 10 bytes');
  }

  /** int32/int64 are sent as 64-bit two's complement, so negatives arrive as huge unsigned values. */
  signedVarint(bits: 32 | 64): number {
    const start = this.pos;
    const n = this.varint();
    if (n <= Number.MAX_SAFE_INTEGER) return bits === 32 ? n | 0 : n;
    let v = 0n;
    let shift = 0n;
    for (let p = start; p < this.pos; p++, shift += 7n) v |= BigInt(this.b[p] & 0x7f) << shift;
    return Number(BigInt.asIntN(64, v));
  }

  delimited(): [number, number] {
    const n = this.varint();
    const s = this.pos;
    if (n > this.end - s) throw new Error(`protobuf: a length of ${n} runs past the end of the message`);
    this.pos = s + n;
    return [s, s + n];
  }

  fixed(n: 4 | 8): Buffer {
    if (this.pos + n > this.end) throw new Error('protobuf: truncated fixed-width field');
    const out = Buffer.from(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  skip(wt: number): void {
    if (wt === 0) this.varint();
    else if (wt === 1) this.fixed(8);
    else if (wt === 2) this.delimited();
    else if (wt === 5) this.fixed(4);
    else throw new Error(`protobuf: unsupported wire type ${wt}`);
  }
}
