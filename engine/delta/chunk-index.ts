// Hash index from chunk fingerprint to one chunk location, in typed arrays (no per-entry objects, so the
// index costs 8 bytes per slot). Open addressing with linear probing. The first location seen for a
// fingerprint is kept: identical content repeated thousands of times (all-0xff blocks, say) then costs one
// slot instead of a long probe run, and a true 32-bit collision between different chunks (about a dozen
// pairs in a million chunks) only costs a missed dedup, never a wrong one, since matches are byte-checked.

const EMPTY = 0xffffffff;

export class ChunkIndex {
  private keys: Uint32Array;
  private values: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(expectedEntries: number) {
    let cap = 1024;
    while (cap < expectedEntries * 2) cap *= 2;
    this.keys = new Uint32Array(cap);
    this.values = new Uint32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.keys.byteLength + this.values.byteLength;
  }

  /** Records `location` (any u32 except 0xffffffff) for `hash` unless the hash is already present. */
  addIfAbsent(hash: number, location: number): void {
    let i = hash & this.mask;
    for (;;) {
      const v = this.values[i];
      if (v === EMPTY) break;
      if (this.keys[i] === hash) return;
      i = (i + 1) & this.mask;
    }
    this.keys[i] = hash;
    this.values[i] = location;
    if (++this.count * 2 > this.keys.length) this.grow();
  }

  /** The location recorded for `hash`, or -1. */
  get(hash: number): number {
    let i = hash & this.mask;
    for (;;) {
      const v = this.values[i];
      if (v === EMPTY) return -1;
      if (this.keys[i] === hash) return v;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const oldK = this.keys;
    const oldV = this.values;
    const cap = oldK.length * 2;
    this.keys = new Uint32Array(cap);
    this.values = new Uint32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
    this.count = 0;
    for (let i = 0; i < oldK.length; i++) if (oldV[i] !== EMPTY) this.addIfAbsent(oldK[i], oldV[i]);
  }
}
