// The one delta classifier. An overlay and a handoff stream both describe a VM as its base plus entries, one
// per 4 KiB disk chunk or memory page that differs: "the same as the base here", "zeros", "base disk chunk
// n", "base memory page n", "the same as literal n, sent earlier", or a literal. This module decides which,
// in that order of preference, for the overlay writer (engine/overlay/writer.ts) and the handoff sender
// (engine/handoff/sender.ts) alike; each then encodes the entries its own way (the overlay file's table and
// frames, FORMAT.md; the handoff's batches, PROTOCOL.md). Every fingerprint match is byte-checked.

import { BaseIndex, BaseSpace } from './base-index';
import { ChunkIndex } from './chunk-index';
import { CHUNK_SIZE } from './hash';

/** Which image an entry targets. The numbers are the handoff wire's. */
export enum Space {
  Disk = 0,
  Memory = 1,
}

/**
 * Where a chunk's content comes from. The numbers are those of both encodings (an overlay's table has no
 * `Same` entries: a chunk it does not list is the base's).
 */
export enum EntryKind {
  /** The base at the same place (base disk chunk, or base memory page with the same index). */
  Same = 0,
  /** All zero bytes. */
  Zero = 1,
  /** New bytes: the next literal (literals are numbered from 0 in the order they are classified). */
  Literal = 2,
  /** Base disk chunk `ref`. */
  BaseDisk = 3,
  /** Base memory page `ref` (the flat page space of the base's RAM blocks). */
  BaseMemory = 4,
  /** The same bytes as literal number `ref`. */
  Earlier = 5,
}

/** What the classifier decided for one space. */
export interface EntryCounts {
  scanned: number;
  same: number;
  zero: number;
  literal: number;
  baseDisk: number;
  baseMemory: number;
  earlier: number;
}

/**
 * Where the bytes of literals already classified can be read back (to byte-check a match with one): the
 * overlay writer reads them from the customized images, the handoff sender from a spool of what it sent.
 */
export interface LiteralStore {
  /** Literal `n` has just been classified: its bytes are `data[at..at+4096]`, found at `pos` of `space`'s input. */
  keep(n: number, data: Buffer, at: number, space: Space, pos: number): void;
  /** Reads literal `n`'s 4 KiB into `into`. */
  read(n: number, into: Buffer): void;
}

const emptyCounts = (): EntryCounts => ({ scanned: 0, same: 0, zero: 0, literal: 0, baseDisk: 0, baseMemory: 0, earlier: 0 });

export class DeltaClassifier {
  /** The reference of the entry `classify` last returned (a base chunk or page, or a literal number). */
  ref = 0;
  /** Literals so far. */
  literals = 0;
  readonly disk = emptyCounts();
  readonly memory = emptyCounts();
  private readonly earlier: ChunkIndex;
  private readonly cand = Buffer.alloc(CHUNK_SIZE);

  constructor(
    private readonly base: BaseIndex,
    private readonly store: LiteralStore,
  ) {
    this.earlier = new ChunkIndex(1 << 16);
  }

  /**
   * Classifies one chunk: `data[at..at+4096]` with fingerprint `h`, all zeros if `zero`, equal to the base at
   * its own place if `same` (the caller knows what "its place" means for its space). The reference, where the
   * kind has one, is left in `ref`. A literal is handed to the store with `pos`, its place in the input.
   */
  classify(space: Space, data: Buffer, at: number, h: number, zero: boolean, same: boolean, pos = 0): EntryKind {
    const counts = space === Space.Disk ? this.disk : this.memory;
    counts.scanned++;
    if (same) {
      counts.same++;
      return EntryKind.Same;
    }
    if (zero) {
      counts.zero++;
      return EntryKind.Zero;
    }
    const hit = this.base.find(h, data, at);
    if (hit) {
      this.ref = hit.ref;
      if (hit.space === BaseSpace.Disk) {
        counts.baseDisk++;
        return EntryKind.BaseDisk;
      }
      counts.baseMemory++;
      return EntryKind.BaseMemory;
    }
    const n = this.earlier.get(h);
    if (n >= 0) {
      this.store.read(n, this.cand);
      if (this.cand.compare(data, at, at + CHUNK_SIZE) === 0) {
        this.ref = n;
        counts.earlier++;
        return EntryKind.Earlier;
      }
    }
    this.ref = this.literals;
    this.store.keep(this.literals, data, at, space, pos);
    this.earlier.addIfAbsent(h, this.literals++);
    counts.literal++;
    return EntryKind.Literal;
  }
}
