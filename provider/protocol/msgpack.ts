// MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md), the wire form of the plugin protocol's
// DynamicValue. Owns a bounds-checked reader and a growable writer (what the cty codec builds on) and generic
// encode/decode of plain JS values. Input is untrusted: every length is checked against the bytes that are
// actually there before anything is read or allocated, so a hostile header cannot make us allocate.

/** A msgpack extension value. `type` is the signed 8-bit extension type (-128..127). */
export class MsgpackExt {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

/** What the generic codec reads and writes. Maps decode to null-prototype objects or `Map` (see DecodeOptions). */
export type MsgpackValue = null | boolean | number | bigint | string | Uint8Array | MsgpackExt | MsgpackValue[] | Map<MsgpackValue, MsgpackValue> | { [key: string]: MsgpackValue };

/** The families of msgpack formats, as `MsgpackReader.peekKind` reports them. */
export type MsgpackKind = 'nil' | 'bool' | 'int' | 'float' | 'str' | 'bin' | 'array' | 'map' | 'ext';

/** Malformed input or an unencodable value. `offset` is where in the input the problem was found. */
export class MsgpackError extends Error {
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {
    super(`msgpack: ${reason} at offset ${offset}`);
    this.name = 'MsgpackError';
  }
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
// As JS numbers: every integral double in [-2^63, 2^63) is an exact int64; 2^63 itself is not.
const TWO_POW_63 = 2 ** 63;

// Payload sizes of the sized integer formats (uint8..uint64, int8..int64).
const INT_PAYLOAD_SIZE = new Map<number, number>([
  [0xcc, 1],
  [0xcd, 2],
  [0xce, 4],
  [0xcf, 8],
  [0xd0, 1],
  [0xd1, 2],
  [0xd2, 4],
  [0xd3, 8],
]);

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error rather than silently becoming U+FFFD; ignoreBOM: a leading U+FEFF is data.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The kind of value a first byte starts, or undefined for 0xc1, which the spec reserves ("never used"). */
export function kindOfByte(b: number): MsgpackKind | undefined {
  if (b <= 0x7f || b >= 0xe0) return 'int';
  if (b <= 0x8f) return 'map';
  if (b <= 0x9f) return 'array';
  if (b <= 0xbf) return 'str';
  switch (b) {
    case 0xc0:
      return 'nil';
    case 0xc2:
    case 0xc3:
      return 'bool';
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return 'bin';
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      return 'ext';
    case 0xca:
    case 0xcb:
      return 'float';
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
      return 'int';
    case 0xd9:
    case 0xda:
    case 0xdb:
      return 'str';
    case 0xdc:
    case 0xdd:
      return 'array';
    case 0xde:
    case 0xdf:
      return 'map';
    default:
      return undefined;
  }
}

function hex(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`;
}

export interface DecodeOptions {
  /**
   * 'auto' (default): a map whose keys are all strings becomes a null-prototype object (so a key like
   * "__proto__" is plain data), any other map a `Map`. 'map': every map becomes a `Map`.
   */
  maps?: 'auto' | 'map';
  /** Deepest nesting of arrays and maps accepted; deeper input is an error rather than a stack overflow. */
  maxDepth?: number;
}

const DEFAULT_MAX_DEPTH = 512;

/** Reads msgpack values from a byte array, one format at a time. Never reads past the end of the input. */
export class MsgpackReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.bytes.length;
  }

  /** Throws unless the whole input has been read: a value followed by garbage is not that value. */
  expectEnd(): void {
    if (this.pos < this.bytes.length) throw new MsgpackError(`${this.bytes.length - this.pos} trailing byte(s) after the value`, this.pos);
  }

  private need(n: number, what: string): void {
    if (n > this.bytes.length - this.pos) {
      throw new MsgpackError(`truncated ${what}: needs ${n} byte(s), ${this.bytes.length - this.pos} left`, this.pos);
    }
  }

  peekByte(): number {
    this.need(1, 'input (expected a value)');
    return this.bytes[this.pos];
  }

  /** The kind of the next value, without consuming it. Throws on end of input and on the reserved byte 0xc1. */
  peekKind(): MsgpackKind {
    const b = this.peekByte();
    const kind = kindOfByte(b);
    if (kind === undefined) throw new MsgpackError(`reserved type byte ${hex(b)}`, this.pos);
    return kind;
  }

  private mismatch(expected: string): MsgpackError {
    const b = this.bytes[this.pos];
    const kind = kindOfByte(b);
    return new MsgpackError(`expected ${expected}, found ${kind ?? 'reserved type byte'} (${hex(b)})`, this.pos);
  }

  /** A big-endian unsigned length field of `size` bytes (1, 2 or 4) belonging to the value that starts at `start`. */
  private lengthField(size: 1 | 2 | 4, what: string, start: number): number {
    if (size > this.bytes.length - this.pos) {
      throw new MsgpackError(`truncated ${what} header: needs ${1 + size} byte(s), ${this.bytes.length - start} left`, start);
    }
    const v = size === 1 ? this.view.getUint8(this.pos) : size === 2 ? this.view.getUint16(this.pos) : this.view.getUint32(this.pos);
    this.pos += size;
    return v;
  }

  readNil(): null {
    if (this.peekByte() !== 0xc0) throw this.mismatch('nil');
    this.pos++;
    return null;
  }

  /** Consumes a nil if one is next; reports whether it did. */
  tryReadNil(): boolean {
    if (this.peekByte() !== 0xc0) return false;
    this.pos++;
    return true;
  }

  readBool(): boolean {
    const b = this.peekByte();
    if (b !== 0xc2 && b !== 0xc3) throw this.mismatch('bool');
    this.pos++;
    return b === 0xc3;
  }

  /** Any integer format. 64-bit values outside the safe-integer range come back as bigint. */
  readInt(): number | bigint {
    const b = this.peekByte();
    if (b <= 0x7f) {
      this.pos++;
      return b;
    }
    if (b >= 0xe0) {
      this.pos++;
      return b - 0x100;
    }
    const size = INT_PAYLOAD_SIZE.get(b);
    if (size === undefined) throw this.mismatch('integer');
    this.need(1 + size, `integer ${hex(b)}`);
    const p = this.pos + 1;
    this.pos += 1 + size;
    switch (b) {
      case 0xcc:
        return this.view.getUint8(p);
      case 0xcd:
        return this.view.getUint16(p);
      case 0xce:
        return this.view.getUint32(p);
      case 0xcf:
        return narrowBigInt(this.view.getBigUint64(p));
      case 0xd0:
        return this.view.getInt8(p);
      case 0xd1:
        return this.view.getInt16(p);
      case 0xd2:
        return this.view.getInt32(p);
      default:
        return narrowBigInt(this.view.getBigInt64(p));
    }
  }

  /** float32 or float64. */
  readFloat(): number {
    const b = this.peekByte();
    if (b === 0xca) {
      this.need(5, 'float32');
      const v = this.view.getFloat32(this.pos + 1);
      this.pos += 5;
      return v;
    }
    if (b === 0xcb) {
      this.need(9, 'float64');
      const v = this.view.getFloat64(this.pos + 1);
      this.pos += 9;
      return v;
    }
    throw this.mismatch('float');
  }

  /** The byte length of the str or bin that starts here, consuming its header; undefined if it is neither. */
  private readStrOrBinHeader(): number | undefined {
    const b = this.peekByte();
    const start = this.pos;
    const what = `${kindOfByte(b)} ${hex(b)}`;
    let length: number;
    if (b >= 0xa0 && b <= 0xbf) {
      this.pos++;
      length = b & 0x1f;
    } else if (b === 0xd9 || b === 0xc4) {
      this.pos++;
      length = this.lengthField(1, what, start);
    } else if (b === 0xda || b === 0xc5) {
      this.pos++;
      length = this.lengthField(2, what, start);
    } else if (b === 0xdb || b === 0xc6) {
      this.pos++;
      length = this.lengthField(4, what, start);
    } else {
      return undefined;
    }
    if (length > this.remaining) {
      throw new MsgpackError(`truncated ${what}: header claims ${length} byte(s), ${this.remaining} left after it`, start);
    }
    return length;
  }

  private take(length: number): Uint8Array {
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  private utf8(bytes: Uint8Array, at: number): string {
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      throw new MsgpackError('invalid UTF-8 in string', at);
    }
  }

  readStr(): string {
    const b = this.peekByte();
    if (!(b >= 0xa0 && b <= 0xbf) && b !== 0xd9 && b !== 0xda && b !== 0xdb) throw this.mismatch('str');
    const start = this.pos;
    const length = this.readStrOrBinHeader()!;
    return this.utf8(this.take(length), start);
  }

  /** The payload of a bin, as a view into the input (not a copy). */
  readBin(): Uint8Array {
    const b = this.peekByte();
    if (b !== 0xc4 && b !== 0xc5 && b !== 0xc6) throw this.mismatch('bin');
    return this.take(this.readStrOrBinHeader()!);
  }

  /** A str or a bin, as bytes (a view into the input); for readers that, like Go's msgpack, treat them alike. */
  readStrOrBinBytes(): Uint8Array {
    const length = this.readStrOrBinHeader();
    if (length === undefined) throw this.mismatch('str or bin');
    return this.take(length);
  }

  /** A str or a bin, as UTF-8 text. */
  readStrOrBinText(): string {
    const start = this.pos;
    return this.utf8(this.readStrOrBinBytes(), start);
  }

  /**
   * The element count of an array, consuming only its header. Each element takes at least one byte, so a
   * count larger than what is left is rejected here: callers may size storage by it.
   */
  readArrayHeader(): number {
    const b = this.peekByte();
    const start = this.pos;
    let count: number;
    if (b >= 0x90 && b <= 0x9f) {
      this.pos++;
      count = b & 0x0f;
    } else if (b === 0xdc || b === 0xdd) {
      this.pos++;
      count = this.lengthField(b === 0xdc ? 2 : 4, `array ${hex(b)}`, start);
    } else {
      throw this.mismatch('array');
    }
    if (count > this.remaining) {
      throw new MsgpackError(`array header claims ${count} element(s) but only ${this.remaining} byte(s) follow`, start);
    }
    return count;
  }

  /** The entry count of a map, consuming only its header; checked like readArrayHeader (two bytes an entry). */
  readMapHeader(): number {
    const b = this.peekByte();
    const start = this.pos;
    let count: number;
    if (b >= 0x80 && b <= 0x8f) {
      this.pos++;
      count = b & 0x0f;
    } else if (b === 0xde || b === 0xdf) {
      this.pos++;
      count = this.lengthField(b === 0xde ? 2 : 4, `map ${hex(b)}`, start);
    } else {
      throw this.mismatch('map');
    }
    if (count * 2 > this.remaining) {
      throw new MsgpackError(`map header claims ${count} entr${count === 1 ? 'y' : 'ies'} but only ${this.remaining} byte(s) follow`, start);
    }
    return count;
  }

  /** The type and payload length of an extension, consuming its header; the payload is known to be there. */
  readExtHeader(): { type: number; length: number } {
    const b = this.peekByte();
    const start = this.pos;
    const what = `ext ${hex(b)}`;
    let length: number;
    const fixed = FIXEXT_LENGTH.get(b);
    if (fixed !== undefined) {
      this.pos++;
      length = fixed;
    } else if (b === 0xc7 || b === 0xc8 || b === 0xc9) {
      this.pos++;
      length = this.lengthField(b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4, what, start);
    } else {
      throw this.mismatch('ext');
    }
    if (this.pos >= this.bytes.length) throw new MsgpackError(`truncated ${what} header: the type byte is missing`, start);
    // The type byte is signed: negative types are reserved by the spec (-1 is the timestamp).
    const type = (this.bytes[this.pos++] << 24) >> 24;
    if (length > this.remaining) {
      throw new MsgpackError(`truncated ${what}: header claims ${length} byte(s), ${this.remaining} left after it`, start);
    }
    return { type, length };
  }

  readExt(): MsgpackExt {
    const { type, length } = this.readExtHeader();
    return new MsgpackExt(type, this.take(length));
  }

  /** Raw bytes (a view into the input). */
  readRaw(length: number): Uint8Array {
    this.need(length, 'raw bytes');
    return this.take(length);
  }

  /**
   * Skips one complete value of any kind. Iterative (a count of values still to skip), so hostile nesting
   * cannot overflow the stack; every value consumes at least one byte, so it always terminates.
   */
  skip(): void {
    let pending = 1;
    while (pending > 0) {
      pending--;
      switch (this.peekKind()) {
        case 'nil':
        case 'bool':
          this.pos++;
          break;
        case 'int':
          this.readInt();
          break;
        case 'float':
          this.readFloat();
          break;
        case 'str':
        case 'bin':
          this.pos += this.readStrOrBinHeader()!;
          break;
        case 'array':
          pending += this.readArrayHeader();
          break;
        case 'map':
          pending += 2 * this.readMapHeader();
          break;
        case 'ext':
          this.pos += this.readExtHeader().length;
          break;
      }
    }
  }

  /** One complete value as plain JS. */
  readValue(options: DecodeOptions = {}): MsgpackValue {
    return this.readValueAt(options.maps ?? 'auto', options.maxDepth ?? DEFAULT_MAX_DEPTH, 0);
  }

  private readValueAt(maps: 'auto' | 'map', maxDepth: number, depth: number): MsgpackValue {
    const kind = this.peekKind();
    switch (kind) {
      case 'nil':
        return this.readNil();
      case 'bool':
        return this.readBool();
      case 'int':
        return this.readInt();
      case 'float':
        return this.readFloat();
      case 'str':
        return this.readStr();
      case 'bin':
        // A copy: decoded values should not alias (and so pin or expose) the rest of the input buffer.
        return this.readBin().slice();
      case 'ext': {
        const ext = this.readExt();
        return new MsgpackExt(ext.type, ext.data.slice());
      }
      case 'array': {
        if (depth >= maxDepth) throw new MsgpackError(`nesting deeper than ${maxDepth}`, this.pos);
        const count = this.readArrayHeader();
        const items: MsgpackValue[] = [];
        for (let i = 0; i < count; i++) items.push(this.readValueAt(maps, maxDepth, depth + 1));
        return items;
      }
      case 'map': {
        if (depth >= maxDepth) throw new MsgpackError(`nesting deeper than ${maxDepth}`, this.pos);
        const count = this.readMapHeader();
        const entries = new Map<MsgpackValue, MsgpackValue>();
        let allStringKeys = true;
        for (let i = 0; i < count; i++) {
          const keyAt = this.pos;
          const key = this.readValueAt(maps, maxDepth, depth + 1);
          // Only primitive keys can be compared; a repeated one would make the map mean two things.
          if (entries.has(key)) throw new MsgpackError(`duplicate map key ${JSON.stringify(typeof key === 'object' ? 'a non-primitive key' : String(key))}`, keyAt);
          if (typeof key !== 'string') allStringKeys = false;
          entries.set(key, this.readValueAt(maps, maxDepth, depth + 1));
        }
        if (maps === 'map' || !allStringKeys) return entries;
        const object = Object.create(null) as { [key: string]: MsgpackValue };
        for (const [key, value] of entries) object[key as string] = value;
        return object;
      }
    }
  }
}

function narrowBigInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Builds msgpack into a buffer that grows as needed. Integers always take their smallest exact format. */
export class MsgpackWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private used = 0;

  get length(): number {
    return this.used;
  }

  private ensure(extra: number): void {
    const wanted = this.used + extra;
    if (wanted <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < wanted) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.used));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.used++] = b;
  }

  private byteU8(b: number, v: number): void {
    this.ensure(2);
    this.buf[this.used++] = b;
    this.buf[this.used++] = v;
  }

  private byteU16(b: number, v: number): void {
    this.ensure(3);
    this.buf[this.used] = b;
    this.view.setUint16(this.used + 1, v);
    this.used += 3;
  }

  private byteU32(b: number, v: number): void {
    this.ensure(5);
    this.buf[this.used] = b;
    this.view.setUint32(this.used + 1, v);
    this.used += 5;
  }

  writeNil(): void {
    this.byte(0xc0);
  }

  writeBool(v: boolean): void {
    this.byte(v ? 0xc3 : 0xc2);
  }

  /**
   * An integer in its smallest format: non-negative values use positive fixint or uint8..uint64, negative ones
   * negative fixint or int8..int64 (what Go's vmihailenco/msgpack does with compact ints, as go-cty uses it).
   */
  writeInt(v: number | bigint): void {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new MsgpackError(`writeInt: ${v} is not an integer`, this.used);
      if (!Number.isSafeInteger(v)) {
        this.writeBigInt(BigInt(v));
        return;
      }
      if (v >= 0) {
        if (v <= 0x7f) this.byte(v);
        else if (v <= 0xff) this.byteU8(0xcc, v);
        else if (v <= 0xffff) this.byteU16(0xcd, v);
        else if (v <= 0xffffffff) this.byteU32(0xce, v);
        else this.writeBigInt(BigInt(v));
      } else {
        if (v >= -32) this.byte(v & 0xff);
        else if (v >= -0x80) this.byteU8(0xd0, v & 0xff);
        else if (v >= -0x8000) this.byteU16(0xd1, v & 0xffff);
        else if (v >= -0x80000000) this.byteU32(0xd2, v >>> 0);
        else this.writeBigInt(BigInt(v));
      }
      return;
    }
    if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
      this.writeInt(Number(v));
      return;
    }
    this.writeBigInt(v);
  }

  private writeBigInt(v: bigint): void {
    if (v > UINT64_MAX || v < INT64_MIN) throw new MsgpackError(`integer ${v} does not fit in 64 bits`, this.used);
    if (v >= 0n && v <= 0xffffffffn) {
      this.writeInt(Number(v));
      return;
    }
    if (v < 0n && v >= -0x80000000n) {
      this.writeInt(Number(v));
      return;
    }
    this.ensure(9);
    if (v >= 0n) {
      this.buf[this.used] = 0xcf;
      this.view.setBigUint64(this.used + 1, v);
    } else {
      this.buf[this.used] = 0xd3;
      this.view.setBigInt64(this.used + 1, v);
    }
    this.used += 9;
  }

  writeFloat32(v: number): void {
    this.ensure(5);
    this.buf[this.used] = 0xca;
    this.view.setFloat32(this.used + 1, v);
    this.used += 5;
  }

  writeFloat64(v: number): void {
    this.ensure(9);
    this.buf[this.used] = 0xcb;
    this.view.setFloat64(this.used + 1, v);
    this.used += 9;
  }

  /**
   * A number as go-cty writes one: an integer format when the value is integral and fits int64 (so -0 becomes
   * 0), otherwise float64. Uses int64 rather than uint64 as the limit because that is the test go-cty applies.
   */
  writeNumber(v: number): void {
    if (Number.isInteger(v) && v >= -TWO_POW_63 && v < TWO_POW_63) this.writeInt(v === 0 ? 0 : v);
    else this.writeFloat64(v);
  }

  writeStr(s: string): void {
    const bytes = utf8Encoder.encode(s);
    const n = bytes.length;
    if (n <= 31) this.byte(0xa0 | n);
    else if (n <= 0xff) this.byteU8(0xd9, n);
    else if (n <= 0xffff) this.byteU16(0xda, n);
    else this.byteU32(0xdb, n);
    this.writeRaw(bytes);
  }

  writeBin(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n <= 0xff) this.byteU8(0xc4, n);
    else if (n <= 0xffff) this.byteU16(0xc5, n);
    else this.byteU32(0xc6, n);
    this.writeRaw(bytes);
  }

  writeArrayHeader(count: number): void {
    checkCount(count, this.used);
    if (count <= 15) this.byte(0x90 | count);
    else if (count <= 0xffff) this.byteU16(0xdc, count);
    else this.byteU32(0xdd, count);
  }

  writeMapHeader(count: number): void {
    checkCount(count, this.used);
    if (count <= 15) this.byte(0x80 | count);
    else if (count <= 0xffff) this.byteU16(0xde, count);
    else this.byteU32(0xdf, count);
  }

  /** An extension header; fixext formats for payloads of exactly 1, 2, 4, 8 or 16 bytes, as the spec prefers. */
  writeExtHeader(type: number, length: number): void {
    if (!Number.isInteger(type) || type < -128 || type > 127) throw new MsgpackError(`extension type ${type} is not a signed 8-bit integer`, this.used);
    checkCount(length, this.used);
    const typeByte = type & 0xff;
    const fixed = FIXEXT_BY_LENGTH.get(length);
    if (fixed !== undefined) this.byteU8(fixed, typeByte);
    else if (length <= 0xff) {
      this.byteU8(0xc7, length);
      this.byte(typeByte);
    } else if (length <= 0xffff) {
      this.byteU16(0xc8, length);
      this.byte(typeByte);
    } else {
      this.byteU32(0xc9, length);
      this.byte(typeByte);
    }
  }

  writeExt(type: number, data: Uint8Array): void {
    this.writeExtHeader(type, data.length);
    this.writeRaw(data);
  }

  /** Bytes copied verbatim: an already-encoded value, or a payload after its header. */
  writeRaw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** A copy of what has been written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.used);
  }
}

const FIXEXT_BY_LENGTH = new Map<number, number>([
  [1, 0xd4],
  [2, 0xd5],
  [4, 0xd6],
  [8, 0xd7],
  [16, 0xd8],
]);
const FIXEXT_LENGTH = new Map<number, number>([...FIXEXT_BY_LENGTH].map(([length, b]) => [b, length]));

function checkCount(count: number, at: number): void {
  if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) throw new MsgpackError(`length ${count} does not fit a 32-bit header`, at);
}

/** Encodes a plain JS value (see MsgpackValue). Plain objects become maps with string keys. */
export function encode(value: MsgpackValue): Uint8Array {
  const writer = new MsgpackWriter();
  writeValue(writer, value, new Set());
  return writer.finish();
}

function writeValue(w: MsgpackWriter, value: MsgpackValue, inProgress: Set<object>): void {
  if (value === null) return w.writeNil();
  switch (typeof value) {
    case 'boolean':
      return w.writeBool(value);
    case 'number':
      // -0 as float64 so it survives the round trip; everything else as writeNumber picks.
      if (Object.is(value, -0)) return w.writeFloat64(value);
      return w.writeNumber(value);
    case 'bigint':
      return w.writeInt(value);
    case 'string':
      return w.writeStr(value);
    case 'object':
      break;
    default:
      throw new MsgpackError(`cannot encode a value of type ${typeof value}`, w.length);
  }
  if (value instanceof Uint8Array) return w.writeBin(value);
  if (value instanceof MsgpackExt) return w.writeExt(value.type, value.data);
  // A cycle would otherwise recurse until the stack runs out.
  if (inProgress.has(value)) throw new MsgpackError('cannot encode a cyclic structure', w.length);
  inProgress.add(value);
  if (Array.isArray(value)) {
    w.writeArrayHeader(value.length);
    for (const item of value) writeValue(w, item, inProgress);
  } else if (value instanceof Map) {
    w.writeMapHeader(value.size);
    for (const [k, v] of value) {
      writeValue(w, k, inProgress);
      writeValue(w, v, inProgress);
    }
  } else {
    const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
    if (proto !== null && proto !== Object.prototype) throw new MsgpackError(`cannot encode an instance of ${proto.constructor?.name ?? 'an unknown class'}`, w.length);
    const keys = Object.keys(value);
    w.writeMapHeader(keys.length);
    for (const k of keys) {
      w.writeStr(k);
      writeValue(w, value[k], inProgress);
    }
  }
  inProgress.delete(value);
}

/** Decodes exactly one value that must span the whole input. */
export function decode(bytes: Uint8Array, options: DecodeOptions = {}): MsgpackValue {
  const reader = new MsgpackReader(bytes);
  const value = reader.readValue(options);
  reader.expectEnd();
  return value;
}
