// The handoff stream's framing (PROTOCOL.md has the full description). Records are `type u8, length u32le,
// payload`; chunk records are batches of entries that say where each 4 KiB chunk of the moving VM comes
// from, followed by the literal chunks, the whole batch optionally one zstd frame. Everything a receiver
// reads is checked against fixed limits before it allocates or writes.

import * as zstdBinding from 'zstd-napi/binding';
import { CloudletError } from '../errors';
import { CHUNK_SIZE } from '../overlay/hash';

export const WIRE_VERSION = 1;

export enum RecordType {
  Hello = 1,
  Layout = 2,
  Batch = 3,
  Tail = 4,
  End = 5,
  Error = 6,
  /** Empty; the source sends it while it waits for the confirmation, so the idle stream does not time out. */
  KeepAlive = 7,
}

/** Which image a chunk entry targets. */
export enum Space {
  Disk = 0,
  Memory = 1,
}

/** Where a chunk's content comes from. */
export enum Source {
  /** The base at the same place (base disk chunk, or base memory page with the same index). */
  Same = 0,
  Zero = 1,
  /** The next literal of the batch. */
  Literal = 2,
  /** Base disk chunk `ref`. */
  BaseDisk = 3,
  /** Base memory page `ref`. */
  BaseMemory = 4,
  /** The stream's literal number `ref` (literals are numbered from 0 in the order they were sent). */
  Earlier = 5,
}

export const ENTRY_BYTES = 12;
export const LIMITS = {
  maxBatchEntries: 4096,
  /** Raw batch: count, entries, literals. */
  maxBatchRaw: 4 + 4096 * (ENTRY_BYTES + CHUNK_SIZE),
  maxJson: 4 << 20,
  maxTail: 64 << 20,
  maxRecord: (64 << 20) + 64,
};

export const CODEC_RAW = 0;
export const CODEC_ZSTD = 1;

export function recordHeader(type: RecordType, length: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = type;
  b.writeUInt32LE(length, 1);
  return b;
}

export function jsonRecord(type: RecordType, value: unknown): Buffer[] {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  return [recordHeader(type, body.length), body];
}

/**
 * Entries and literals accumulated for batch records. A full batch is closed into `ready` at once, so
 * callers that cannot wait (the stream parser's synchronous page callbacks) never overfill one.
 */
export class BatchBuilder {
  readonly entries = Buffer.alloc(4 + LIMITS.maxBatchEntries * ENTRY_BYTES);
  count = 0;
  literals: Buffer[] = [];
  /** Closed raw batches waiting to be sent. */
  readonly ready: Buffer[] = [];

  add(space: Space, source: Source, target: number, ref = 0, literal?: Buffer, at = 0): void {
    const o = 4 + this.count * ENTRY_BYTES;
    this.entries[o] = space;
    this.entries[o + 1] = source;
    this.entries.writeUInt16LE(0, o + 2);
    this.entries.writeUInt32LE(target, o + 4);
    this.entries.writeUInt32LE(ref, o + 8);
    if (source === Source.Literal) this.literals.push(Buffer.from(literal!.subarray(at, at + CHUNK_SIZE)));
    if (++this.count === LIMITS.maxBatchEntries) this.ready.push(this.take());
  }

  /** The raw batch (count, entries, literals), and resets the builder. */
  take(): Buffer {
    this.entries.writeUInt32LE(this.count, 0);
    const raw = Buffer.concat([this.entries.subarray(0, 4 + this.count * ENTRY_BYTES), ...this.literals]);
    this.count = 0;
    this.literals = [];
    return raw;
  }
}

export interface DecodedBatch {
  count: number;
  entries: Buffer;
  literals: Buffer;
}

/** Decodes a batch payload (codec byte, raw length, body) with every count and size checked. */
export function decodeBatch(payload: Buffer, scratch: Buffer): DecodedBatch {
  const bad = (m: string) => new CloudletError('HANDOFF_PROTOCOL', `handoff stream: ${m}`);
  if (payload.length < 5) throw bad('batch record too short');
  const codec = payload[0];
  const rawLen = payload.readUInt32LE(1);
  if (rawLen < 4 || rawLen > LIMITS.maxBatchRaw) throw bad(`batch of ${rawLen} bytes is out of bounds`);
  let raw: Buffer;
  if (codec === CODEC_RAW) {
    if (payload.length - 5 !== rawLen) throw bad('raw batch length does not match its record');
    raw = payload.subarray(5);
  } else if (codec === CODEC_ZSTD) {
    const frame = payload.subarray(5);
    let declared: number | null;
    try {
      declared = zstdBinding.getFrameContentSize(frame);
    } catch (e) {
      throw bad(`batch is not a zstd frame (${(e as Error).message})`);
    }
    if (declared !== rawLen) throw bad(`zstd frame declares ${declared} bytes, the batch says ${rawLen}`);
    let n: number;
    try {
      n = zstdBinding.decompress(scratch.subarray(0, rawLen), frame);
    } catch (e) {
      throw bad(`batch does not decompress: ${(e as Error).message}`);
    }
    if (n !== rawLen) throw bad(`batch decompressed to ${n} bytes, expected ${rawLen}`);
    raw = scratch.subarray(0, rawLen);
  } else throw bad(`unknown batch codec ${codec}`);
  const count = raw.readUInt32LE(0);
  if (count > LIMITS.maxBatchEntries || 4 + count * ENTRY_BYTES > raw.length) throw bad(`batch claims ${count} entries`);
  const entries = raw.subarray(4, 4 + count * ENTRY_BYTES);
  const literals = raw.subarray(4 + count * ENTRY_BYTES);
  let lits = 0;
  for (let i = 0; i < count; i++) if (entries[i * ENTRY_BYTES + 1] === Source.Literal) lits++;
  if (literals.length !== lits * CHUNK_SIZE) throw bad(`batch carries ${literals.length} literal bytes for ${lits} literal entries`);
  return { count, entries, literals };
}
