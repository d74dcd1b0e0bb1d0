// The handoff stream's framing (PROTOCOL.md has the full description). Records are `type u8, length u32le,
// payload`; chunk records are batches of entries that say where each 4 KiB chunk of the moving VM comes
// from, followed by the literal chunks, the whole batch optionally one zstd frame. Everything a receiver
// reads is checked against fixed limits before it allocates or writes.

import * as zstdBinding from 'zstd-napi/binding';
import { CloudletError } from '../errors';
import { EntryKind as Source, Space } from '../delta/classifier';
import { CHUNK_SIZE } from '../delta/hash';
import { LiveMigrationStats } from '../vm/live-migration';

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

/**
 * A batch entry's space and source are the delta's (engine/delta/classifier.ts), sent by their numbers: space
 * Disk 0 / Memory 1; source Same 0, Zero 1, Literal 2 (the next literal of the batch), BaseDisk 3, BaseMemory 4,
 * Earlier 5 (the stream's literal number `ref`, literals numbered from 0 in the order they were sent).
 */
export { Space, Source };

export const ENTRY_BYTES = 12;
export const LIMITS = {
  maxBatchEntries: 4096,
  /** Raw batch: count, entries, literals. */
  maxBatchRaw: 4 + 4096 * (ENTRY_BYTES + CHUNK_SIZE),
  maxJson: 4 << 20,
  maxTail: 64 << 20,
  maxRecord: (64 << 20) + 64,
};

export const CODEC_RAW = 0 as const;
export const CODEC_ZSTD = 1 as const;

/** A record header; exported for the tests that forge records (the product sends only the typed records below). */
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

/** The first record: who is handed off, the domain, and the disk layer's shape. */
export interface HandoffHello {
  version: number;
  handoffId: string;
  instance: { id: string; name: string; baseId: string; overlayId?: string; created: string };
  domainXml: string;
  disk: { virtualSize: number; clusterBits: number };
}

/** What the source tells at the end: what it sent and how (the destination reports it and times the pause). */
export interface HandoffEnd {
  bytesSent: number;
  disk: { chunks: number; literal: number; same: number; zero: number; base: number; earlier: number; finalChunks: number };
  memory: { pages: number; literal: number; same: number; zero: number; base: number; earlier: number };
  literalBytes: number;
  compressedBytes: number;
  /** How many batches went out at each zstd level (0: uncompressed). */
  levels: Record<string, number>;
  migration: LiveMigrationStats | null;
  /** Wall-clock ms between QEMU pausing the guest (estimated from its reported downtime) and the END record. */
  pausedToEndMs: number | null;
  /** Of that: ms until QEMU's stream was parsed to its end, and ms the final disk pass took. */
  pausedToMemoryEndMs: number | null;
  finalDiskPassMs: number | null;
  /**
   * The memory check with the guest paused (sender.ts), when it ran: pages it compared, pages it found
   * changed since they were last sent (and sent again), and its ms (within pausedToMemoryEndMs).
   */
  memoryCheck?: { pages: number; resent: number; ms: number } | null;
  pausedAt: number | null;
}

export function helloRecord(h: HandoffHello): Buffer[] {
  return jsonRecord(RecordType.Hello, h);
}

export function endRecord(e: HandoffEnd): Buffer[] {
  return jsonRecord(RecordType.End, e);
}

function parseJsonRecord(body: Buffer, what: string): Record<string, unknown> {
  if (body.length > LIMITS.maxJson) throw new CloudletError('HANDOFF_PROTOCOL', `handoff stream: ${what} too large`);
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new CloudletError('HANDOFF_PROTOCOL', `handoff stream: the ${what} does not parse`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CloudletError('HANDOFF_PROTOCOL', `handoff stream: the ${what} is not an object`);
  return v as Record<string, unknown>;
}

/** Decodes and checks a hello record: the protocol version, the disk's shape, the instance and its XML. */
export function decodeHello(body: Buffer): HandoffHello {
  const bad = (m: string) => new CloudletError('HANDOFF_PROTOCOL', `handoff stream: ${m}`);
  const h = parseJsonRecord(body, 'hello') as Partial<HandoffHello>;
  if (h.version !== WIRE_VERSION) throw bad(`the source speaks handoff protocol version ${String(h.version)}; this engine speaks ${WIRE_VERSION}`);
  const d = h.disk;
  if (
    !d ||
    !Number.isInteger(d.virtualSize) ||
    d.virtualSize <= 0 ||
    d.virtualSize % CHUNK_SIZE !== 0 ||
    d.virtualSize > 2 ** 46 ||
    !Number.isInteger(d.clusterBits) ||
    d.clusterBits < 12 ||
    d.clusterBits > 21
  )
    throw bad('hello has an invalid disk description');
  const i = h.instance;
  if (typeof h.domainXml !== 'string' || !i || typeof i.id !== 'string' || typeof i.baseId !== 'string' || typeof i.name !== 'string' || typeof h.handoffId !== 'string') {
    throw bad('hello lacks the instance or its domain XML');
  }
  return h as HandoffHello;
}

/** Decodes an end record; the figures are the source's report, checked for type where the destination uses them. */
export function decodeEnd(body: Buffer): HandoffEnd {
  const e = parseJsonRecord(body, 'end record') as Partial<HandoffEnd>;
  if (!Number.isSafeInteger(e.bytesSent) || (e.pausedAt !== null && e.pausedAt !== undefined && typeof e.pausedAt !== 'number')) {
    throw new CloudletError('HANDOFF_PROTOCOL', 'handoff stream: the end record is malformed');
  }
  return { ...e, pausedAt: e.pausedAt ?? null } as HandoffEnd;
}

/** The RAM layout of the moving VM, before any memory entry: its blocks and the save stream's opening bytes. */
export interface HandoffLayout {
  sectionId: number;
  footers: boolean;
  blocks: { id: string; length: number }[];
  /** The source found the same RAM blocks as the base's (memory entries may then say "same"). */
  sameLayoutAsBase: boolean;
  prologue: Buffer;
  ramStart: Buffer;
}

/** Layout: `u32 metaLength, u32 prologueLength, u32 ramStartLength`, the JSON meta, the prologue, the RAM start. */
export function layoutRecord(l: HandoffLayout): Buffer[] {
  const meta = Buffer.from(JSON.stringify({ sectionId: l.sectionId, footers: l.footers, blocks: l.blocks.map((b) => ({ id: b.id, length: b.length })), sameLayoutAsBase: l.sameLayoutAsBase }));
  const lengths = Buffer.alloc(12);
  lengths.writeUInt32LE(meta.length, 0);
  lengths.writeUInt32LE(l.prologue.length, 4);
  lengths.writeUInt32LE(l.ramStart.length, 8);
  return [recordHeader(RecordType.Layout, 12 + meta.length + l.prologue.length + l.ramStart.length), lengths, meta, l.prologue, l.ramStart];
}

/** Decodes and checks a layout record's framing and RAM description (`limits` are the save-file reader's). */
export function decodeLayout(body: Buffer, limits: { maxPrologue: number; maxRamBlocks: number }): HandoffLayout {
  const bad = (m: string) => new CloudletError('HANDOFF_PROTOCOL', `handoff stream: ${m}`);
  if (body.length < 12) throw bad('layout record too short');
  const metaLen = body.readUInt32LE(0);
  const prologueLen = body.readUInt32LE(4);
  const ramStartLen = body.readUInt32LE(8);
  if (12 + metaLen + prologueLen + ramStartLen !== body.length || metaLen > LIMITS.maxJson || prologueLen > limits.maxPrologue || ramStartLen > 1 << 20)
    throw bad('layout record lengths do not add up');
  const meta = parseJsonRecord(body.subarray(12, 12 + metaLen), 'layout') as Partial<HandoffLayout>;
  const blocks = meta.blocks;
  if (!Array.isArray(blocks) || blocks.length === 0 || blocks.length > limits.maxRamBlocks || !Number.isInteger(meta.sectionId) || meta.sectionId! < 0 || meta.sectionId! > 0xffffffff)
    throw bad('layout has an invalid RAM description');
  for (const b of blocks) {
    if (typeof b?.id !== 'string' || b.id.length === 0 || b.id.length > 255 || !Number.isInteger(b.length) || b.length <= 0 || b.length % CHUNK_SIZE !== 0)
      throw bad('layout has an invalid RAM block');
  }
  return {
    sectionId: meta.sectionId!,
    footers: meta.footers === true,
    blocks: blocks.map((b) => ({ id: b.id, length: b.length })),
    sameLayoutAsBase: meta.sameLayoutAsBase === true,
    prologue: Buffer.from(body.subarray(12 + metaLen, 12 + metaLen + prologueLen)),
    ramStart: Buffer.from(body.subarray(12 + metaLen + prologueLen)),
  };
}

/** The device state after the last memory entry: `u8 footers`, then QEMU's bytes. */
export interface HandoffTail {
  footers: boolean;
  bytes: Buffer;
}

export function tailRecord(t: HandoffTail): Buffer[] {
  return [recordHeader(RecordType.Tail, 1 + t.bytes.length), Buffer.from([t.footers ? 1 : 0]), t.bytes];
}

export function decodeTail(body: Buffer): HandoffTail {
  if (body.length < 1 || body.length - 1 > LIMITS.maxTail) throw new CloudletError('HANDOFF_PROTOCOL', 'handoff stream: device state of an invalid size');
  return { footers: body[0] === 1, bytes: Buffer.from(body.subarray(1)) };
}

/** A batch record: `u8 codec, u32 rawLength`, then the batch (raw, or one zstd frame of it). */
export function batchRecord(codec: typeof CODEC_RAW | typeof CODEC_ZSTD, rawLength: number, body: Buffer): Buffer[] {
  const head = Buffer.alloc(5);
  head[0] = codec;
  head.writeUInt32LE(rawLength, 1);
  return [recordHeader(RecordType.Batch, 5 + body.length), head, body];
}

/** The source gave up after the stream started: its error, in band. */
export function errorRecord(e: { code: string; message: string }): Buffer[] {
  return jsonRecord(RecordType.Error, e);
}

export function decodeError(body: Buffer): { code?: string; message?: string } {
  const e = parseJsonRecord(body, 'error record');
  return { code: typeof e.code === 'string' ? e.code : undefined, message: typeof e.message === 'string' ? e.message : undefined };
}

/** Empty; sent while the source waits for the confirmation, so the idle stream does not time out. */
export function keepAliveRecord(): Buffer[] {
  return [recordHeader(RecordType.KeepAlive, 0)];
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
